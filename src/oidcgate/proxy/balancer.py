"""Choosing where a request goes: a fixed host:port, or an upstream's targets by weighted round-robin.

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

import time
from collections.abc import Sequence

from oidcgate.config.entities import Target, Upstream

RETRY_AFTER = 10.0  # seconds an unhealthy target waits before it is tried again (no active interval)


def host_header(host: str, port: int, scheme: str) -> bytes:
    default = 443 if scheme == "https" else 80
    name = f"[{host}]" if ":" in host else host
    return (name if port == default else f"{name}:{port}").encode()


class Peer:
    """One place to send requests to, with its passive health state."""

    __slots__ = ("address", "consecutive_ok", "current", "failures", "healthy", "host", "host_header",
                 "host_line", "log_address", "retry_at", "weight")

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

    def report(self, peer: Peer, kind: str, status: int = 0) -> None:
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
        self.enabled = self.tracks = any(self.thresholds.values())
        self.peers: list[Peer] = []
        for target in targets:
            if target.weight <= 0:  # weight 0 disables a target, as in Kong
                continue
            host, port = target.host_port
            header = upstream.host_header.encode() if upstream.host_header else host_header(host, port, scheme)
            self.peers.append(Peer(host, port, target.weight, header, tls))

    def pick(self, now: float | None = None) -> Peer | None:
        """The next peer, or None when every target is disabled or out of rotation."""
        best: Peer | None = None
        total = 0
        if now is None:
            now = time.monotonic() if self.enabled else 0.0  # (only an enabled balancer has unhealthy peers)
        for peer in self.peers:
            if not peer.healthy and peer.retry_at > now:
                continue
            peer.current += peer.weight
            total += peer.weight
            if best is None or peer.current > best.current:
                best = peer
        if best is not None:
            best.current -= total
        return best

    def report(self, peer: Peer, kind: str, status: int = 0) -> None:
        """Record one outcome: kind is "ok" (a response with `status`), "tcp" or "timeout"."""
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
        """Keep the health of targets that a new snapshot did not change."""
        old = {peer.address: peer for peer in previous.peers}
        for peer in self.peers:
            before = old.get(peer.address)
            if before is not None:
                peer.healthy, peer.retry_at, peer.failures = before.healthy, before.retry_at, dict(before.failures)

    def health(self) -> list[dict[str, object]]:
        """Kong's target health: HEALTHY, UNHEALTHY, or HEALTHCHECKS_OFF when no check is enabled."""
        return [{"target": f"{p.address[0]}:{p.address[1]}", "weight": p.weight,
                 "health": "HEALTHCHECKS_OFF" if not self.enabled else "HEALTHY" if p.healthy else "UNHEALTHY"}
                for p in self.peers]
