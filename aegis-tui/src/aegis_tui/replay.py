"""Reading an earlier run's transcript back as canonical events (to replay it into a tab)."""

from __future__ import annotations

from pathlib import Path

from aegis.events import Event, from_dict
from aegis.session.transcript import read_records


def read_transcript(path: Path) -> list[Event]:
    """The events of the transcript at ``path``, skipping records that are not events.

    A missing file is an empty transcript. This reads a file: call it from a
    worker thread.
    """
    events: list[Event] = []
    for record in read_records(path):
        try:
            events.append(from_dict(record))
        except (ValueError, TypeError, KeyError):
            continue  # a record of a newer aegis, or a damaged one: the rest still shows
    return events
