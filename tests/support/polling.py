"""Waiting in tests for something to happen: poll a condition, bounded in time, instead of a fixed sleep.

`wait_until` blocks (threads, processes); `wait_until_async` yields to the event loop and also takes a
check that is a coroutine function. Both return the seconds waited, so a test can bound them too.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable


class _Deadline:
    def __init__(self, timeout: float, what: str) -> None:
        self.started = time.monotonic()
        self.timeout = timeout
        self.what = what

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def check(self) -> None:
        if self.elapsed() > self.timeout:
            raise AssertionError(f"{self.what} not met within {self.timeout}s")


def wait_until(check: Callable[[], object], timeout: float = 10.0, interval: float = 0.01,
               what: str = "condition") -> float:
    """Seconds until `check()` returned something true; AssertionError after `timeout` seconds."""
    deadline = _Deadline(timeout, what)
    while not check():
        deadline.check()
        time.sleep(interval)
    return deadline.elapsed()


async def wait_until_async(check: Callable[[], object | Awaitable[object]], timeout: float = 10.0,
                           interval: float = 0.01, what: str = "condition") -> float:
    """`wait_until` for the event loop: `check` may be a coroutine function."""
    deadline = _Deadline(timeout, what)
    while not await _result(check()):
        deadline.check()
        await asyncio.sleep(interval)
    return deadline.elapsed()


async def _result(value: object | Awaitable[object]) -> object:
    return await value if inspect.isawaitable(value) else value
