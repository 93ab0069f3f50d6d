"""A notification from the daemon rings the TUI's bell and shows a toast; the daemon lists it."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.notifications import Notification

from tests.tui.helpers import make_app, ready, until, write_project

pytestmark = pytest.mark.anyio


async def test_a_workflow_that_ends_rings_the_bell_and_says_how_it_ended(tmp_path: Path) -> None:
    app = make_app(write_project(tmp_path))
    async with app.run_test(size=(100, 30)) as pilot:
        await app.wait_ready()
        await until(pilot, ready(app, "alpha"))
        assert app.bells == 0
        await app.daemon.run_workflow("wait_for", {"seconds": "0"})

        # Textual keeps the toasts it shows here (it has no public list of them); a toast
        # is added there once its message is handled, a moment after the bell.
        def toasts() -> list[Notification]:
            return [n for n in app._notifications if "workflow wait_for" in str(n.message)]

        await until(pilot, lambda: app.bells == 1 and len(toasts()) == 1)
        [toast] = toasts()
        assert str(toast.message).startswith("workflow wait_for ok")
        assert toast.severity == "information"
        # The daemon lists what it sent, numbered: a follower that reconnects after it
        # gets nothing again.
        [(seq, sent)] = await app.daemon.notifications()
        assert (sent.kind, sent.outcome, sent.project) == ("workflow_finished", "ok", str(tmp_path))
        assert await app.daemon.notifications(after=seq) == []
