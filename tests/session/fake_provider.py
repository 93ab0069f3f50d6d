"""An in-process provider whose driver needs no process: it pins the session layer's logic.

The real drivers are tested against real CLIs elsewhere; this one lets the session
tests control timing exactly (a turn ends when the test says so).
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, ClassVar, Self

import anyio

from aegis import hookimpl
from aegis.config.provider_config import ProviderConfig
from aegis.driver import Driver, SessionOptions
from aegis.errors import DriverError
from aegis.events import (
    AssistantMessage,
    Error,
    SessionStarted,
    StopReason,
    TextDelta,
    TurnEnd,
    Usage,
)
from aegis.provider import Provider


class Fake(ProviderConfig):
    harness: ClassVar[str] = "fake"
    fail_start: bool = False


class FakeDriver(Driver):
    """Replies ``reply: <text>``; ``hold`` makes a turn wait until released; ``die`` fails."""

    instances: ClassVar[list[FakeDriver]] = []

    def __init__(self, config: Fake, options: SessionOptions) -> None:
        self.config = config
        self.options = options
        self.prompts: list[str] = []
        self.release = anyio.Event()
        self.exited = False
        self._cancel = anyio.Event()
        FakeDriver.instances.append(self)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.exited = True

    async def start(self) -> SessionStarted:
        if self.config.fail_start:
            raise DriverError("fake CLI refused to start")
        started = SessionStarted(self.options.resume or f"fake-{id(self)}", model="fake-1")
        self.options.emit(started)
        return started

    async def prompt(self, text: str) -> TurnEnd:
        self.prompts.append(text)
        if "hold" in text:
            with anyio.CancelScope() as scope:
                async with anyio.create_task_group() as tg:

                    async def on_cancel() -> None:
                        await self._cancel.wait()
                        scope.cancel()

                    tg.start_soon(on_cancel)
                    await self.release.wait()
                    tg.cancel_scope.cancel()
            if scope.cancelled_caught:
                self._cancel = anyio.Event()
                end = TurnEnd(StopReason.cancelled)
                self.options.emit(end)
                return end
        if "die" in text:
            self.failed = "the fake CLI died"
            self.options.emit(Error(self.failed, fatal=True))
            end = TurnEnd(StopReason.error, error=self.failed)
            self.options.emit(end)
            return end
        reply = f"reply: {text}"
        self.options.emit(TextDelta(reply))
        self.options.emit(AssistantMessage(reply))
        end = TurnEnd(StopReason.end_turn, text=reply, usage=Usage(10, 5, 4, 0, 0.01))
        self.options.emit(end)
        return end

    async def interrupt(self) -> None:
        self._cancel.set()


class FakeProvider(Provider):
    name = "fake"
    config_class = Fake

    def open_driver(self, agent: Any, options: SessionOptions) -> Driver:
        return FakeDriver(agent.provider, options)


class Plugin:
    @hookimpl
    def register_providers(self, register: Any) -> None:
        register(FakeProvider())
