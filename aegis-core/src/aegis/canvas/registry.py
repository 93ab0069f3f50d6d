"""The canvases of a project: bound names, section reads and writes, ledger and wake-ups."""

from __future__ import annotations

import builtins
import contextlib
import difflib
import json
import logging
import os
import re
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import anyio

from aegis.canvas import sections as md

if TYPE_CHECKING:
    from aegis.inbox import InboxRouter

log = logging.getLogger("aegis.canvas")

DIRECTORY = "canvases"
BINDINGS = "canvases.json"
PREVIEW_CHARS = 400
"""How much of a change a subscriber's message shows."""
MAX_CANVAS_BYTES = 4 * 1024 * 1024
"""A canvas larger than this is refused (it is a shared note, not a data store)."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class CanvasError(Exception):
    """A canvas cannot do what was asked; the message says why and what would work."""


class UnknownCanvas(CanvasError, LookupError):
    """No canvas has that name."""


@dataclass(frozen=True)
class CanvasInfo:
    """A canvas as lists show it."""

    name: str
    path: str
    sections: list[str]
    subscribers: list[str]
    created_by: str
    created_at: float


@dataclass(frozen=True)
class CanvasChange:
    """One change, as the ledger records it."""

    id: str
    canvas: str
    section: str
    op: Literal["write", "append"]
    by: str
    at: float
    added: int
    removed: int

    def to_dict(self) -> dict[str, Any]:
        """The change as JSON-ready data."""
        return asdict(self)


class CanvasRegistry:
    """Named canvases of one project (bindings in ``.aegis/canvases.json``).

    ``inbox``: where subscribers' messages go (``None``: nobody is told).
    """

    def __init__(
        self, state_dir: Path, project_root: Path, *, inbox: InboxRouter | None = None
    ) -> None:
        self.state_dir = state_dir
        self.directory = state_dir / DIRECTORY
        self.project_root = project_root.resolve()
        self.inbox = inbox
        self._locks: dict[str, anyio.Lock] = {}
        self._bindings_lock = anyio.Lock()
        self._subscribers: dict[str, set[str]] = {}

    # --- bindings -----------------------------------------------------------------------------

    def _bindings(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads((self.state_dir / BINDINGS).read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _save_bindings(self, bindings: dict[str, dict[str, Any]]) -> None:
        _atomic_write(self.state_dir / BINDINGS, json.dumps(bindings, indent=1) + "\n")

    def _path(self, name: str) -> Path:
        binding = self._bindings().get(name)
        if binding is None:
            names = ", ".join(sorted(self._bindings())) or "none"
            raise UnknownCanvas(f"no canvas {name!r} (open: {names}); open it first")
        return Path(binding["path"])

    async def open(self, name: str, *, by: str, path: str | None = None) -> CanvasInfo:
        """Bind ``name`` to a Markdown file (``path`` in the project, default
        ``.aegis/canvases/<name>.md``), created empty if missing. Opening a bound name
        again is fine; binding it to another file is refused."""
        if not _NAME.match(name):
            raise CanvasError(
                f"bad canvas name {name!r}: use letters, digits, '.', '_' and '-' "
                "(at most 64), starting with a letter or digit"
            )
        target = self._resolve(path) if path else self.directory / f"{name}.md"
        async with self._bindings_lock:
            await anyio.to_thread.run_sync(self._bind, name, target, by)
        return await self.info(name)

    def _resolve(self, path: str) -> Path:
        target = Path(path)
        if not target.is_absolute():
            target = self.project_root / target
        target = target.resolve()
        if not target.is_relative_to(self.project_root):
            raise CanvasError(
                f"{path}: a canvas is a file inside the project ({self.project_root})"
            )
        if target.suffix.lower() not in (".md", ".markdown"):
            raise CanvasError(f"{path}: a canvas is a Markdown file (.md)")
        return target

    def _bind(self, name: str, target: Path, by: str) -> None:
        bindings = self._bindings()
        known = bindings.get(name)
        if known is not None and Path(known["path"]) != target:
            raise CanvasError(f"canvas {name!r} is bound to {known['path']} already")
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError), target.open("x", encoding="utf-8"):
                pass
        if known is None:
            bindings[name] = {"path": str(target), "created_by": by, "created_at": time.time()}
            self._save_bindings(bindings)

    async def list(self) -> list[CanvasInfo]:
        """Every canvas, in the order they were opened."""
        names = await anyio.to_thread.run_sync(lambda: list(self._bindings()))
        return [await self.info(name) for name in names]

    async def info(self, name: str) -> CanvasInfo:
        """What is known of canvas ``name``."""
        binding = (await anyio.to_thread.run_sync(self._bindings)).get(name)
        if binding is None:
            self._path(name)  # raises, naming those that exist
        assert binding is not None
        text = await anyio.to_thread.run_sync(_read, Path(binding["path"]))
        return CanvasInfo(
            name=name,
            path=binding["path"],
            sections=[s.title for s in md.parse(text) if s.heading],
            subscribers=sorted(self._subscribers.get(name, ())),
            created_by=binding.get("created_by", ""),
            created_at=binding.get("created_at", 0.0),
        )

    # --- reading and writing ----------------------------------------------------------------------

    async def read(self, name: str, section: str | None = None) -> str:
        """The canvas as it is on disk now, or one section's body (``""``: the preamble)."""
        path = await anyio.to_thread.run_sync(self._path, name)
        text = await anyio.to_thread.run_sync(_read, path)
        if section is None:
            return text
        found = md.find(md.parse(text), section)
        if found is None:
            titles = ", ".join(s.title for s in md.parse(text) if s.heading) or "none"
            raise CanvasError(f"canvas {name} has no section {section!r} (sections: {titles})")
        return found.body.strip("\n")

    async def write(self, name: str, section: str, text: str, *, by: str) -> CanvasChange:
        """Replace section ``section``'s body with ``text`` (the section is added at the end
        when missing), as ``by``."""
        return await self._change(name, section, text, "write", by)

    async def append(self, name: str, section: str, text: str, *, by: str) -> CanvasChange:
        """Add ``text`` at the end of section ``section`` (made when missing), as ``by``."""
        return await self._change(name, section, text, "append", by)

    async def _change(
        self, name: str, section: str, text: str, op: Literal["write", "append"], by: str
    ) -> CanvasChange:
        title = md.title_of(section)
        if "\n" in title:
            raise CanvasError("a section name is one line")
        lock = self._locks.setdefault(name, anyio.Lock())
        # Shielded: a write that has started ends with the file renamed and recorded.
        with anyio.CancelScope(shield=True):
            async with lock:
                path = await anyio.to_thread.run_sync(self._path, name)
                change = await anyio.to_thread.run_sync(
                    self._apply, name, path, title, text, op, by
                )
        await self._tell(change, text)
        return change

    def _apply(
        self, name: str, path: Path, title: str, text: str, op: str, by: str
    ) -> CanvasChange:
        # From the file as it is now: what a person changed since the last write stays.
        sections = md.parse(_read(path))
        found = md.find(sections, title)
        if found is None:
            found = md.Section(title, f"## {title}\n" if title else "", "")
            sections.append(found)
        before = found.body
        last = found is sections[-1]
        if op == "append" and before.strip("\n"):
            content = before.strip("\n") + "\n" + text.strip("\n")
        else:
            content = text
        found.body = md.body_text(content, last=last)
        if not last and sections[-1].body and not sections[-1].body.endswith("\n"):
            sections[-1].body += "\n"
        rendered = md.render(sections)
        if len(rendered.encode()) > MAX_CANVAS_BYTES:
            raise CanvasError(
                f"canvas {name} would grow past {MAX_CANVAS_BYTES // (1024 * 1024)} MiB; "
                "keep large content in files of its own and link them"
            )
        _atomic_write(path, rendered)
        added = removed = 0
        for line in difflib.ndiff(before.splitlines(), found.body.splitlines()):
            if line.startswith("+ "):
                added += 1
            elif line.startswith("- "):
                removed += 1
        change = CanvasChange(
            id=uuid.uuid4().hex,
            canvas=name,
            section=title,
            op="append" if op == "append" else "write",
            by=by,
            at=time.time(),
            added=added,
            removed=removed,
        )
        self.directory.mkdir(parents=True, exist_ok=True)
        with (self.directory / f"{name}.ledger.jsonl").open("a", encoding="utf-8") as file:
            file.write(json.dumps(change.to_dict()) + "\n")
        return change

    async def ledger(self, name: str) -> builtins.list[CanvasChange]:
        """Every recorded change of canvas ``name``, oldest first."""
        await anyio.to_thread.run_sync(self._path, name)
        path = self.directory / f"{name}.ledger.jsonl"
        lines = await anyio.to_thread.run_sync(_read, path)
        changes = []
        for line in lines.splitlines():
            with contextlib.suppress(ValueError, TypeError):
                changes.append(CanvasChange(**json.loads(line)))
        return changes

    # --- subscribers ------------------------------------------------------------------------

    async def subscribe(self, name: str, handle: str) -> None:
        """Tell ``handle`` (through its inbox) of every change others make to ``name``."""
        await anyio.to_thread.run_sync(self._path, name)
        self._subscribers.setdefault(name, set()).add(handle)

    async def unsubscribe(self, name: str, handle: str) -> bool:
        """Stop telling ``handle``; whether it was subscribed."""
        await anyio.to_thread.run_sync(self._path, name)
        subscribers = self._subscribers.get(name, set())
        was = handle in subscribers
        subscribers.discard(handle)
        return was

    async def _tell(self, change: CanvasChange, text: str) -> None:
        if self.inbox is None:
            return
        from aegis.errors import MessageRefused
        from aegis.session.manager import UnknownSession

        preview = text.strip()
        if len(preview) > PREVIEW_CHARS:
            preview = preview[:PREVIEW_CHARS].rstrip() + " [...]"
        where = (
            f"section {change.section!r}" if change.section else "the text before the first heading"
        )
        verb = "wrote" if change.op == "write" else "appended to"
        message = (
            f"Canvas {change.canvas}: {change.by} {verb} {where} (+{change.added} "
            f"-{change.removed} lines):\n\n{preview}\n\n(aegis_canvas_read shows it all.)"
        )
        for handle in sorted(self._subscribers.get(change.canvas, ())):
            if handle == change.by:
                continue
            try:
                await self.inbox.deliver(
                    handle, message, f"canvas:{change.canvas}", key=f"canvas:{change.id}:{handle}"
                )
            except (UnknownSession, MessageRefused) as exc:
                log.warning("canvas %s: %s was not told: %s", change.canvas, handle, exc)
                if isinstance(exc, UnknownSession):
                    self._subscribers[change.canvas].discard(handle)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with temporary.open("w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
