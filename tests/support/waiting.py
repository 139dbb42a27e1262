"""Waiting for a condition, bounded (no fixed sleeps): inside the event loop, or from a test's own thread."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> float:
    """Seconds until `check()` held, letting the loop run in between; fails after `timeout`."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.01)
    return time.monotonic() - start


def wait_until(check: Callable[[], T], timeout: float = 15.0, interval: float = 0.02) -> T:
    """Call `check` until it returns something truthy (a server in another process getting there), and
    return that; AssertionError after `timeout` seconds, with the last value seen."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s: last {value!r}")
        time.sleep(interval)
