"""Waiting for a condition in tests: polled, always bounded in time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(check: Callable[[], T], timeout: float = 15.0, interval: float = 0.02) -> T:
    """Call `check` until it returns something truthy, and return that; AssertionError after `timeout`
    seconds (with the last value seen)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s: last {value!r}")
        time.sleep(interval)
