"""What a notification says: :class:`Notification`, the body every channel delivers."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

NotificationKind = Literal[
    "approval_needed",
    "question_asked",
    "task_failed",
    "workflow_finished",
    "session_failed",
    "budget_reached",
    "test",
]
"""Why a person is told something: the events aegis notifies about (``test``: sent by
``aegis notifications --test``, to check the channels)."""

NOTIFICATION_VERSION = 1
"""The version of the notification's JSON shape (a webhook body carries it)."""


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _new_id() -> str:
    return secrets.token_hex(8)


class Notification(BaseModel):
    """One thing a person should know about now: a question waits, a task failed, ...

    ``title`` is one short line (a desktop notification's summary); ``body`` says more.
    The optional ids say what it is about, so that a receiver can link to it or answer
    it (``aegis answer QUESTION_ID TEXT``). ``id`` is unique per notification: a
    webhook receiver uses it to drop a delivery it already had (retries may repeat one).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: NotificationKind
    title: str
    body: str = ""
    project: str = ""
    """The project's root folder; the notifier fills it in when left empty."""
    at: str = Field(default_factory=_now_iso)
    """When it happened: ISO 8601, UTC."""
    id: str = Field(default_factory=_new_id)
    session: str | None = None
    """The handle of the session it is about."""
    task_id: str | None = None
    run_id: str | None = None
    approval_id: str | None = None
    question_id: str | None = None
    outcome: str | None = None
    """How what ended ended: ``ok``, ``failed``, ``crashed``, ``cancelled`` (a workflow
    run), ``failed`` or ``cancelled`` (a task)."""

    def payload(self) -> dict[str, object]:
        """The JSON body a webhook receives: this notification and the shape's ``version``."""
        return {"version": NOTIFICATION_VERSION, **self.model_dump(mode="json")}

    @classmethod
    def from_payload(cls, payload: dict[str, object]) -> Notification:
        """The notification a :meth:`payload` holds."""
        return cls.model_validate({k: v for k, v in payload.items() if k != "version"})
