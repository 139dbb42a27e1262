"""A clock a test moves forward, so expiry and interval tests need not sleep."""

from __future__ import annotations

import time
from collections.abc import Callable


class Clock:
    """`base()` plus the seconds the test advanced it by; called like `time.time` or `time.monotonic`.

    Real time keeps flowing underneath, so code that also waits on real time (timeouts) still works.
    `listeners` are called after each advance (a provider process that mints tokens on this clock).
    """

    def __init__(self, base: Callable[[], float] = time.time) -> None:
        self.base = base
        self.offset = 0.0
        self.listeners: list[Callable[[], None]] = []

    def __call__(self) -> float:
        return self.base() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds
        for listener in self.listeners:
            listener()
