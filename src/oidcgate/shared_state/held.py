"""The check that a worker's copy of some state is still the one a recorded decision was made from.

A plugin that decides from a copy kept in this worker (a session opened from its cookie, a session read
from Redis: `NearCache`) tells the engine its decision holds only while the copy does
(`Context.reuse_until(until, still)`); the engine asks on every request it replays, so the check (`Held`,
and for copies of Redis keys the subscription's `Gate`) is an object of this compiled module rather
than Python functions: no interpreted frame per request.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any


class Gate:
    """Whether copies of a subscription's channels may answer now (see subscription.Subscription): the
    channel is `confirmed` by Redis on the live connection, and nothing waits unread: no partial frame
    in its `buffer`, no byte on its socket (`poll`, an epoll of that one socket). One `poll(0)` per
    call: a message that reached the worker is never ignored, even one that arrived after the loop
    last looked."""

    __slots__ = ("buffer", "confirmed", "poll")

    def __init__(self) -> None:
        self.confirmed: set[str] = set()
        self.buffer: bytearray | None = None  # the live connection's, None when there is none
        self.poll: Any = None  # a select.epoll of its socket (None when there is no connection)

    def answering(self, channel: str) -> bool:
        buffer, poll = self.buffer, self.poll
        return channel in self.confirmed and buffer is not None and poll is not None and not buffer \
            and not poll.poll(0)


class Held:
    """Whether `table` still maps `key` to the `(until, value)` entry of this very `value`; with `clock`,
    also before its `until`; with `answering`, also while `answering(channel)` says copies may answer
    (see nearcache: no invalidation waits unread)."""

    __slots__ = ("answering", "channel", "clock", "key", "table", "value")

    def __init__(self, table: dict[Any, tuple[float, Any]], key: Hashable, value: object,
                 clock: Callable[[], float] | None = None, answering: Callable[[str], bool] | None = None,
                 channel: str = "") -> None:
        self.table = table
        self.key = key
        self.value = value
        self.clock = clock
        self.answering = answering
        self.channel = channel

    def __call__(self) -> bool:
        if self.answering is not None and not self.answering(self.channel):
            return False
        entry = self.table.get(self.key)
        if entry is None or entry[1] is not self.value:
            return False
        return self.clock is None or self.clock() < entry[0]
