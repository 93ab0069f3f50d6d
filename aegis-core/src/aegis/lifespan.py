"""A base for objects that are used with ``async with`` and own tasks while they live.

Subclasses write their whole life as one async generator, :meth:`Lifespan.lifespan`:
set up, ``yield``, tear down. Entering the object runs it up to the ``yield``;
leaving it resumes it, throwing in whatever exception ended the block::

    class Service(Lifespan):
        @asynccontextmanager
        async def lifespan(self) -> AsyncIterator[None]:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self.work)
                try:
                    yield
                finally:
                    tg.cancel_scope.cancel()

Why not an ``AsyncExitStack`` kept on the object and fed the block's exception by
hand: when the exception's ``__context__`` chain has a cycle (cancellation
exceptions raised again through nested task groups make one), ``contextlib``'s
exception bookkeeping loops forever and the process hangs on its way out.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Self


class Lifespan:
    """An object whose ``async with`` block runs :meth:`lifespan` around it."""

    _lifespan: AbstractAsyncContextManager[None] | None = None

    def lifespan(self) -> AbstractAsyncContextManager[None]:
        """The object's life: an ``@asynccontextmanager`` generator that yields once."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        if self._lifespan is not None:
            raise RuntimeError(f"{type(self).__name__} is already running")
        lifespan = self.lifespan()
        await lifespan.__aenter__()
        self._lifespan = lifespan
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        lifespan, self._lifespan = self._lifespan, None
        assert lifespan is not None, "__aexit__ without __aenter__"
        return await lifespan.__aexit__(exc_type, exc, tb)
