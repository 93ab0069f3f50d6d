"""The prompt in a session's tab when its agent asks a person to allow a tool call."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import BindingType
from textual.message import Message
from textual.widgets import Static

from aegis.events import PermissionRequest
from aegis_tui.needs_you import NEEDS_YOU, what_it_asks

ANSWER_KEYS: tuple[tuple[str, str, str], ...] = (
    ("y", "allow_once", "allow once"),
    ("a", "allow_session", "allow for the rest of the session"),
    ("n", "deny", "deny, with a reason the agent is told"),
)
"""The prompt's keys: the key, the decision it sends, what it says."""


class ApprovalPrompt(Static, can_focus=True):
    """The oldest request of the active tab's session waiting for a person, and the keys
    that answer it; hidden when there is none. The app sends the answer."""

    DEFAULT_CSS = """
    ApprovalPrompt {
        height: auto;
        max-height: 6;
        padding: 0 1;
        border: round $warning;
        display: none;
    }
    ApprovalPrompt:focus {
        border: round $error;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        *((key, f"answer('{decision}')", label) for key, decision, label in ANSWER_KEYS),
        ("escape", "later", "Later"),
    ]

    class Answered(Message):
        """The person chose ``decision`` for request ``request``."""

        def __init__(self, request: PermissionRequest, decision: str) -> None:
            super().__init__()
            self.request = request
            self.decision = decision

    class Later(Message):
        """The person leaves the request for later (the input box gets the keys again)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__("", **kwargs)  # type: ignore[arg-type]
        self.request: PermissionRequest | None = None
        self.waiting = 0

    def show(self, requests: list[PermissionRequest]) -> bool:
        """Show the oldest of ``requests`` (hidden when there is none); whether it is one
        not shown just before."""
        first = requests[0] if requests else None
        new = first is not None and (self.request is None or first.id != self.request.id)
        self.request, self.waiting = first, len(requests)
        self.display = first is not None
        if first is not None:
            self.update(self._text(first))
        return new

    def _text(self, request: PermissionRequest) -> Text:
        text = Text()
        text.append(f"{NEEDS_YOU} ", "bold black on yellow")
        text.append(" the agent asks to run ", "bold")
        text.append(what_it_asks(request, 400), "bold cyan")
        more = f" · {self.waiting - 1} more waiting" if self.waiting > 1 else ""
        rule = f"rule {request.rule}" if request.rule else ""
        if rule or more:
            text.append(f"\n({rule}{more})".replace("(·", "(").replace("( ", "("), "dim")
        text.append("\n")
        for number, (key, _, label) in enumerate(ANSWER_KEYS):
            text.append(" · " if number else "", "dim")
            text.append(key, "bold")
            text.append(f" {label}")
        text.append("\nesc: later, back to the input box · ctrl+y: back here", "dim")
        return text

    def action_answer(self, decision: str) -> None:
        if self.request is not None:
            self.post_message(self.Answered(self.request, decision))

    def action_later(self) -> None:
        self.post_message(self.Later())
