"""Running a coroutine in the caller's stack up to its first real wait.

Most plugin phases never wait (a cached token is a dict lookup), and a Task per request costs more
than the plugins themselves; Python 3.12's eager tasks do the same, this is for 3.11. Only a
coroutine that really waits becomes a Task, which then drives it from where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Generator
from typing import Any

Spawn = Callable[[Coroutine[Any, Any, Any]], Any]  # starts a Task and keeps a reference (WorkerState.spawn)


def run_eagerly(coro: Coroutine[Any, Any, Any], spawn: Spawn) -> Any:
    """Run `coro` now; None if it finished, else what `spawn` returned for the rest of it (a Task, whose
    result is the coroutine's).

    The coroutine should handle its own exceptions: one raised before its first wait propagates here.
    """
    try:
        waiting = coro.send(None)
    except StopIteration:
        return None
    return spawn(_Resumed(coro, waiting).drive())


class _Resumed:
    """A suspended coroutine handed to a Task: yields what it was waiting on, then drives it."""

    __slots__ = ("coro", "waiting")

    def __init__(self, coro: Coroutine[Any, Any, Any], waiting: Any) -> None:
        self.coro, self.waiting = coro, waiting

    async def drive(self) -> Any:
        return await self

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, waiting = self.coro, self.waiting
        while True:
            try:
                sent = yield waiting
            except BaseException as exc:  # cancellation and the futures' exceptions go to the coroutine
                try:
                    waiting = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    waiting = coro.send(sent)
                except StopIteration as stop:
                    return stop.value
