"""What a session holds, and until when it lives (lua-resty-session's three timeouts).

- idle (`session_idling_timeout`): ends after that long without a request; the idle clock is renewed
  at most every `touch_interval` seconds (a tenth of the timeout, at most a minute), so a request
  rarely writes the session back, and a session may end up to that much early, never late;
- rolling (`session_rolling_timeout`): ends that long after it was last renewed (at sign-in and at
  every token refresh);
- absolute (`session_absolute_timeout`): ends that long after sign-in, whatever happens.

0 turns a timeout off. Pure data and arithmetic: no I/O.

A record is JSON compressed with zlib (RFC 1950) before it is sealed: it is mostly tokens, and a
browser sends the cookie with every request, so the cookie is a third shorter (1.6 KB to 1.1 KB for
a session holding one 750-byte access token) and a session with an ID token and a refresh token
fits one cookie more often. Compressing before encrypting leaks only the compressed length, to whoever
sees the cookie; what goes in comes from the provider at sign-in and refresh, never from a third
party's request, so a CRIME-style probe (attacker text beside a secret, lengths compared) has no way
in. A record written before compression (plain JSON, starting with `{`) still opens.
"""

from __future__ import annotations

import secrets
import zlib
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from oidcgate.inflate import inflate

UNLIMITED = 365 * 86400.0  # what "no timeout at all" means for a Redis TTL
MAX_TOUCH_INTERVAL = 60.0
MAX_RECORD_BYTES = 1 << 20  # what a compressed record may expand to (it opens only once its seal verified:
# a bound on our own data, in case of a bug, rather than a defence against a forger)


@dataclass(frozen=True, slots=True)
class Timeouts:
    idle: float
    rolling: float
    absolute: float

    @property
    def touch_interval(self) -> float:
        return min(MAX_TOUCH_INTERVAL, self.idle / 10) if self.idle else UNLIMITED


@dataclass(frozen=True, slots=True)
class Session:
    """One signed-in browser: its tokens and claims, bound to the issuer and client that made it."""

    id: str
    issuer: str
    client_id: str
    created: float  # sign-in (absolute timeout)
    renewed: float  # sign-in or last refresh (rolling timeout)
    seen: float  # last renewal of the idle clock
    access_token: str = field(repr=False)
    expires_at: float | None  # of the access token
    id_token: str | None = field(repr=False)
    refresh_token: str | None = field(repr=False)
    claims: dict[str, Any] = field(repr=False)
    userinfo: dict[str, Any] | None = field(default=None, repr=False)
    version: int = 0  # +1 at every refresh (what a worker caches is keyed by id and version)

    def ends_at(self, timeouts: Timeouts) -> float:
        """The first deadline of the three (UNLIMITED from now-ish when all are off)."""
        ends = [self.seen + timeouts.idle if timeouts.idle else None,
                self.renewed + timeouts.rolling if timeouts.rolling else None,
                self.created + timeouts.absolute if timeouts.absolute else None]
        present = [end for end in ends if end is not None]
        return min(present) if present else self.seen + UNLIMITED

    def expired(self, timeouts: Timeouts, now: float) -> bool:
        return now >= self.ends_at(timeouts)

    def touch_due(self, timeouts: Timeouts, now: float) -> bool:
        """Whether this request should renew the idle clock (write the session back)."""
        return bool(timeouts.idle) and now - self.seen >= timeouts.touch_interval

    def touched(self, now: float) -> Session:
        return replace(self, seen=now)

    def to_bytes(self) -> bytes:
        return zlib.compress(orjson.dumps({name: getattr(self, name) for name in self.__slots__}))

    @classmethod
    def from_bytes(cls, data: bytes) -> Session | None:
        """The session, or None when `data` is not one (an older format, a damaged record)."""
        try:
            fields = orjson.loads(data if data[:1] == b"{" else inflate(data, MAX_RECORD_BYTES))
            session = cls(**fields)
        except (ValueError, TypeError):  # (InflateError is a ValueError)
            return None
        numbers = (session.created, session.renewed, session.seen)
        if not all(isinstance(n, int | float) for n in numbers) or not isinstance(session.claims, dict):
            return None
        return session


def new_id() -> str:
    """A fresh session id (256 random bits): issued at every sign-in, so a planted id is worth nothing."""
    return secrets.token_urlsafe(32)
