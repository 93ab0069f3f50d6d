"""Reading a session's transcript in a test while its runtime still runs.

The session manager writes transcripts on a thread of its own, shortly after the
events come (:class:`aegis.session.transcript.TranscriptWriter`); a test that reads
one right after a turn would race that thread. These read once everything so far
is written.
"""

from __future__ import annotations

from typing import Any

from aegis.session.manager import SessionManager
from aegis.session.transcript import read_records


async def records(sessions: SessionManager, handle: str) -> list[dict[str, Any]]:
    """The records of ``handle``'s transcript, every event so far written."""
    await sessions.flush_transcripts()
    return list(read_records(sessions.transcript_path(handle)))


async def text(sessions: SessionManager, handle: str) -> str:
    """The text of ``handle``'s transcript (empty if it has none), every event so far written."""
    await sessions.flush_transcripts()
    path = sessions.transcript_path(handle)
    return path.read_text() if path.exists() else ""
