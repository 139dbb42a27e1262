"""Choosing where a request goes: a fixed host:port, or one of an upstream's targets by its `algorithm`:

- `round-robin`: smooth weighted round-robin (nginx's);
- `consistent-hashing`: the request's `hash_on` value (else its `hash_fallback` value, else round-robin)
  picks the target by weighted rendezvous hashing: the same value goes to the same target while it is
  healthy, and a target added or taken out moves only the values that go to it (Kong uses a ring of
  `slots` entries for the same property; the field is accepted and not needed here). Hashing on a
  cookie gives a client without it a new random value, set by the response (`Set-Cookie`, Kong's);
- `least-connections`: the target with the fewest requests under way in this worker for its weight
  (ties taken in turn);
- `latency`: the target with the lowest response time for its weight, Kong's EWMA: each response head
  moves a target's average by the time since its last one (decay DECAY seconds), and a target not
  heard from decays towards 0, so it is tried again; a target never measured counts as the average of
  the others (ties taken in turn).

A retry never goes back to a target this request already tried while another one is available.

Passive health checks (Kong's circuit breaker): a target that fails
`healthchecks.passive.unhealthy.{tcp_failures,timeouts,http_failures}` times in a row (0 disables
a counter, as in Kong) is taken out of rotation. Kong keeps it out until an active check or an admin
re-enables it; oidcgate has no active checks, so it re-admits the target after
`healthchecks.active.unhealthy.interval` seconds (or `RETRY_AFTER` when that is 0): the target then
gets its share of traffic again and one success (status not in the unhealthy list, or
`healthy.successes` successes in a row when set) makes it healthy, while one more failure takes it
out for another interval.
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Callable, Collection, Sequence
from typing import Protocol
from urllib.parse import parse_qs

from oidcgate.config.entities import Consumer, Target, Upstream
from oidcgate.http import cookies
from oidcgate.http.fields import HeaderFields

RETRY_AFTER = 10.0  # seconds an unhealthy target waits before it is tried again (no active interval)
DECAY = 10.0  # seconds: the latency average's time constant (Kong's DECAY_TIME)
_UNIT = 4294967297.0  # 2**32 + 1: a crc32 as a number in (0, 1)


class Balanced(Protocol):
    """What consistent hashing reads of a request (the exchange)."""

    @property
    def client_fields(self) -> HeaderFields: ...

    def target_parts(self) -> tuple[bytes, bytes]:
        """The normalized path and the query (with its "?", or b"")."""

    def forwarded_ip(self) -> str: ...

    def attached_consumer(self) -> Consumer | None: ...

    def uri_captures(self) -> dict[str, str]: ...

    def affinity_cookie(self, name: str, path: str) -> str:
        """A new value for the balancer's cookie, the same for every try of the request; its response
        sets it."""


Reader = Callable[[Balanced], bytes | None]


def hash_reader(kind: str, name: str | None, cookie_path: str = "/") -> Reader | None:
    """What Kong's `hash_on`/`hash_fallback` of this kind hashes (None for "none"): the consumer's id, the
    client's address (as Kong's forwarded IP), every value of a header or a query argument, the path, a
    named capture of the route's regex path, or a cookie (made up when the client has none). A request
    without it gives None (the next input is used)."""
    def consumer(request: Balanced) -> bytes | None:
        found = request.attached_consumer()
        return found.id.encode() if found is not None and found.id else None

    def ip(request: Balanced) -> bytes | None:
        return request.forwarded_ip().encode()

    def path(request: Balanced) -> bytes | None:
        return request.target_parts()[0]

    def header(request: Balanced) -> bytes | None:
        return b"".join(request.client_fields.values(lower)) or None

    def query_arg(request: Balanced) -> bytes | None:
        query = request.target_parts()[1]
        if not query:
            return None
        # latin-1 both ways: percent-escapes decode to the bytes they stand for, whatever they are
        found = parse_qs(query[1:].decode("latin-1"), keep_blank_values=True, encoding="latin-1").get(name or "")
        return "".join(found).encode("latin-1") if found else None

    def uri_capture(request: Balanced) -> bytes | None:
        value = request.uri_captures().get(name or "")
        return value.encode("latin-1") if value else None

    def cookie(request: Balanced) -> bytes | None:
        sent = [value.decode("latin-1") for value in request.client_fields.values(b"cookie")]
        value = cookies.parse(sent).get(name or "") or request.affinity_cookie(name or "", cookie_path)
        return value.encode("latin-1")

    lower = (name or "").lower().encode()
    readers: dict[str, Reader] = {"consumer": consumer, "ip": ip, "path": path, "header": header,
                                  "query_arg": query_arg, "uri_capture": uri_capture, "cookie": cookie}
    return readers.get(kind)


def _input_name(upstream: Upstream, which: str) -> str | None:
    """The header, query argument, capture or cookie that `which` ("hash_on", "hash_fallback") names."""
    kind = getattr(upstream, which)
    name: str | None = upstream.hash_on_cookie if kind == "cookie" else getattr(upstream, f"{which}_{kind}", None)
    return name


def host_header(host: str, port: int, scheme: str) -> bytes:
    default = 443 if scheme == "https" else 80
    name = f"[{host}]" if ":" in host else host
    return (name if port == default else f"{name}:{port}").encode()


class Peer:
    """One place to send requests to, with its passive health state."""

    __slots__ = ("active", "address", "consecutive_ok", "counting", "current", "ewma", "failures", "healthy",
                 "host", "host_header", "host_line", "log_address", "retry_at", "seed", "touched", "weight")

    def __init__(self, host: str, port: int, weight: int, host_header: bytes, tls: str) -> None:
        self.host = host
        self.address = (host, port, tls)  # the pool key: tls is the TLS setting's key ("" for plain HTTP)
        self.weight = weight
        self.host_header = host_header
        self.host_line = b" HTTP/1.1\r\nHost: " + host_header + b"\r\n"  # the end of a request line, and Host
        self.log_address = b'"%s:%d"' % (host.encode(), port)  # for the access log
        self.current = 0
        self.healthy = True
        self.retry_at = 0.0
        self.failures = {"tcp": 0, "timeout": 0, "http": 0}
        self.consecutive_ok = 0
        self.counting = False  # whether requests under way are counted (least-connections)
        self.active = 0  # requests under way, when counting
        self.seed = zlib.crc32(b"%s:%d" % (host.encode(), port))  # (its rendezvous hashes)
        self.ewma = 0.0  # latency: its response time's moving average, in seconds
        self.touched = 0.0  # latency: when that was last moved (monotonic; 0: never measured)

    def _kept(self, now: float) -> float:
        """How much of the moving average still counts at `now` (1 right after it moved, towards 0 after)."""
        return math.exp(-max(now - self.touched, 0.0) / DECAY)

    def latency(self, now: float) -> float:
        """The moving average as of `now`: decayed towards 0 since it was last moved (Kong's score)."""
        return self.ewma * self._kept(now)

    def measured(self, seconds: float, now: float) -> None:
        """One response head `seconds` after the request went out (Kong's afterBalance)."""
        kept = self._kept(now)
        self.ewma = self.ewma * kept + seconds * (1.0 - kept)
        self.touched = now

    def __repr__(self) -> str:
        return f"Peer({self.address[0]}:{self.address[1]}, healthy={self.healthy})"


class Fixed:
    """A service whose host is not an upstream name: always the same peer, no health tracking."""

    __slots__ = ("peer",)
    tracks = False  # no passive health: report() is never called

    def __init__(self, host: str, port: int, scheme: str, tls: str = "") -> None:
        self.peer = Peer(host, port, 1, host_header(host, port, scheme), tls)

    def pick(self) -> Peer | None:
        return self.peer

    def choose(self, request: Balanced, tried: Collection[Peer] = ()) -> Peer | None:
        return self.peer

    def report(self, peer: Peer, kind: str, status: int = 0, seconds: float = 0.0) -> None:
        """Fixed peers are never taken out of rotation."""


class Balancer:
    """Smooth weighted round-robin (nginx's algorithm) over an upstream's targets, skipping unhealthy ones."""

    def __init__(self, upstream: Upstream, targets: Sequence[Target], scheme: str, tls: str = "") -> None:
        self.name = upstream.name
        self.tls = tls
        checks = upstream.healthchecks
        unhealthy = checks.passive.unhealthy
        self.thresholds = {"tcp": unhealthy.tcp_failures, "timeout": unhealthy.timeouts,
                           "http": unhealthy.http_failures}
        self.unhealthy_statuses = frozenset(unhealthy.http_statuses)
        self.healthy_statuses = frozenset(checks.passive.healthy.http_statuses)
        self.successes_needed = max(1, checks.passive.healthy.successes)
        self.retry_after = checks.active.unhealthy.interval or RETRY_AFTER
        self.enabled = any(self.thresholds.values())
        self.latency = upstream.algorithm == "latency"
        self.tracks = self.enabled or self.latency  # (report() is called for every response)
        self.peers: list[Peer] = []
        for target in targets:
            if target.weight <= 0:  # weight 0 disables a target, as in Kong
                continue
            host, port = target.host_port
            header = upstream.host_header.encode() if upstream.host_header else host_header(host, port, scheme)
            self.peers.append(Peer(host, port, target.weight, header, tls))
        readers = [hash_reader(getattr(upstream, which), _input_name(upstream, which), upstream.hash_on_cookie_path)
                   for which in ("hash_on", "hash_fallback")] if upstream.algorithm == "consistent-hashing" else []
        self.readers = tuple(reader for reader in readers if reader is not None)
        self.least = upstream.algorithm == "least-connections"
        self.turn = 0  # least-connections and latency: where the next scan starts, so that ties take turns
        for peer in self.peers:
            peer.counting = self.least

    def choose(self, request: Balanced, tried: Collection[Peer] = ()) -> Peer | None:
        """The peer for this try of `request` (see the module docstring), or None when every target is
        disabled or out of rotation."""
        for read in self.readers:
            value = read(request)
            if value is not None:
                return self._by_hash(value, tried)
        if self.least:
            return self._lowest(tried, lambda peer: (peer.active + 1) / peer.weight)
        if self.latency:
            return self._fastest(tried)
        return self.pick(tried=tried)

    def _available(self, tried: Collection[Peer]) -> list[Peer]:
        """The peers in rotation, without those already tried unless that leaves none."""
        now = time.monotonic() if self.enabled else 0.0  # (only an enabled balancer has unhealthy peers)
        live = [peer for peer in self.peers if peer.healthy or peer.retry_at <= now]
        untried = [peer for peer in live if peer not in tried] if tried else live
        return untried or live

    def _by_hash(self, value: bytes, tried: Collection[Peer]) -> Peer | None:
        """Weighted rendezvous hashing: the peer whose weight / -ln(hash(value, peer)) is highest."""
        best: Peer | None = None
        best_score = -1.0
        for peer in self._available(tried):
            score = peer.weight / -math.log((zlib.crc32(value, peer.seed) + 1) / _UNIT)
            if score > best_score:
                best, best_score = peer, score
        return best

    def _fastest(self, tried: Collection[Peer]) -> Peer | None:
        now = time.monotonic()
        known = {peer: peer.latency(now) for peer in self.peers if peer.touched}
        start = sum(known.values()) / len(known) if known else 0.0  # (Kong's slow start: the average)
        return self._lowest(tried, lambda peer: known.get(peer, start) / peer.weight)

    def _lowest(self, tried: Collection[Peer], score: Callable[[Peer], float]) -> Peer | None:
        """The available peer with the lowest score; ties taken in turn."""
        available = self._available(tried)
        if not available:
            return None
        self.turn = (self.turn + 1) % len(available)
        return min(available[self.turn:] + available[:self.turn], key=score)

    def pick(self, tried: Collection[Peer] = ()) -> Peer | None:
        """The next peer by smooth weighted round-robin (passing over `tried` ones while others are in
        rotation), or None when every target is disabled or out of rotation."""
        best: Peer | None = None
        total = 0
        for peer in self._available(tried):
            peer.current += peer.weight
            total += peer.weight
            if best is None or peer.current > best.current:
                best = peer
        if best is not None:
            best.current -= total
        return best

    def report(self, peer: Peer, kind: str, status: int = 0, seconds: float = 0.0) -> None:
        """Record one outcome: kind is "ok" (a response head with `status`, `seconds` after the request
        went out), "tcp" or "timeout"."""
        if self.latency and kind == "ok":
            peer.measured(seconds, time.monotonic())
        if not self.enabled:
            return
        if kind == "ok":
            if status in self.unhealthy_statuses:
                kind = "http"
            elif status in self.healthy_statuses or peer.healthy:
                peer.failures["tcp"] = peer.failures["timeout"] = peer.failures["http"] = 0
                if not peer.healthy:
                    peer.consecutive_ok += 1
                    if peer.consecutive_ok >= self.successes_needed:
                        peer.healthy = True
                return
            else:
                return
        peer.consecutive_ok = 0
        peer.failures[kind] += 1
        threshold = self.thresholds[kind]
        if not peer.healthy or (threshold and peer.failures[kind] >= threshold):
            peer.healthy = False
            peer.retry_at = time.monotonic() + self.retry_after

    def inherit(self, previous: Balancer) -> None:
        """Keep the health and latency of targets that a new snapshot did not change."""
        old = {peer.address: peer for peer in previous.peers}
        for peer in self.peers:
            before = old.get(peer.address)
            if before is not None:
                peer.healthy, peer.retry_at, peer.failures = before.healthy, before.retry_at, dict(before.failures)
                peer.ewma, peer.touched = before.ewma, before.touched

    def health(self) -> list[dict[str, object]]:
        """Kong's target health: HEALTHY, UNHEALTHY, or HEALTHCHECKS_OFF when no check is enabled."""
        return [{"target": f"{p.address[0]}:{p.address[1]}", "weight": p.weight,
                 "health": "HEALTHCHECKS_OFF" if not self.enabled else "HEALTHY" if p.healthy else "UNHEALTHY"}
                for p in self.peers]
