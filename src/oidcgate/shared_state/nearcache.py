"""A worker's copies of some keys of a Keyspace, so a hot key costs a dict probe instead of a round trip.

A copy is used only when it cannot be stale by more than what is documented:
- every writer of the keyspace announces its changes on the keyspace's channel in the same round trip
  as the write (`Keyspace.set/delete(..., announce=True)`), so the message is in every subscribed
  worker's socket before the writer answers its own request; the worker's subscription drops the copy
  when it reads the message, and no copy is used while a byte is unread (`Subscription.answering`);
- no copy is kept or used while the subscription is not live (not connected yet, lost, reconnecting),
  and a loss drops every copy: a lost message can never extend anything;
- a read from Redis that raced a message or a loss is not kept (`ticket`);
- whatever happens, a copy is used for at most `max_stale` seconds (MAX_STALE) after it was read.

A key changed behind the gateway's back (a hand-made DEL without a PUBLISH) is seen within `max_stale`.

This module stays interpreted: subscriptions hold their listeners weakly, and a class mypyc compiles
does not clear the weak references to an instance when it dies. What runs on every request is the
compiled check `held` returns (see held.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from oidcgate.shared_state.client import Keyspace
from oidcgate.shared_state.held import Held
from oidcgate.shared_state.subscription import Subscription, subscription

V = TypeVar("V")

MAX_STALE = 2.0  # seconds a copy may answer after it was read, whatever the subscription says
MAX_ENTRIES = 10_000


class NearCache(Generic[V]):
    """Copies of `keyspace`'s keys in this worker, invalidated through its channel (see the module doc)."""

    def __init__(self, keyspace: Keyspace, max_stale: float = MAX_STALE, max_entries: int = MAX_ENTRIES) -> None:
        self.channel = keyspace.channel
        self.config = keyspace.config
        self.max_stale = max_stale
        self.max_entries = max_entries
        self._copies: dict[str, tuple[float, V]] = {}  # name → (used until, value), oldest first
        self._changes = 0  # messages and losses seen: a read that spans one is not kept
        self._subscription: Subscription | None = None

    @property
    def live(self) -> bool:
        """Whether copies may be kept and used now (the subscription is up and confirmed)."""
        return self._subscription is not None and self._subscription.live(self.channel)

    def get(self, name: str, now: float) -> V | None:
        found = self._subscription
        if found is None or not found.answering(self.channel):
            return None
        entry = self._copies.get(name)
        if entry is None:
            return None
        if now >= entry[0]:
            del self._copies[name]
            return None
        return entry[1]

    def held(self, name: str, value: V, clock: Callable[[], float]) -> Callable[[], bool]:
        """A check of whether `get(name, clock())` would answer `value` itself, cheap enough for every
        request (see Held); never true without a subscription."""
        found = self._subscription
        if found is None:
            return never
        return Held(self._copies, name, value, clock, found.gate.answering, self.channel)

    def ticket(self) -> int | None:
        """Taken before reading from Redis, given back to `put`; None when what is read may not be kept.
        The first call starts this worker's subscription."""
        if self._subscription is None:
            self._subscription = subscription(self.config)
            self._subscription.join(self.channel, self)
        return self._changes if self.live else None

    def put(self, name: str, value: V, until: float, now: float, ticket: int | None) -> None:
        """Keep `value` until `until` (at most `max_stale` from now), unless anything happened since `ticket`."""
        if ticket is None or ticket != self._changes or not self.live:
            return
        until = min(until, now + self.max_stale)
        if until <= now:
            return
        self._copies.pop(name, None)
        if len(self._copies) >= self.max_entries:
            del self._copies[next(iter(self._copies))]
        self._copies[name] = (until, value)

    def discard(self, name: str) -> None:
        self._copies.pop(name, None)

    # ---- the subscription's listener ------------------------------------------------------------------

    def changed(self, message: bytes) -> None:
        self._changes += 1
        self._copies.pop(message.decode("utf-8", "replace"), None)

    def lost(self) -> None:
        self._changes += 1
        self._copies.clear()


def never() -> bool:
    return False
