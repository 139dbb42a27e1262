"""The request head the upstream gets.

The path is Kong's upstream path (the route's `strip_path` and `path_handling` over the service path,
or what a plugin set), the Host the peer's (or the client's with `preserve_host`, or a plugin's), then
the client's end-to-end fields as received (or as plugins left them), then the fields the proxy owns:
X-Forwarded-For and X-Real-IP, X-Forwarded-Proto/-Host/-Port/-Path/-Prefix (the client's own believed
only from `trusted_ips`, as Kong), Via, Upgrade, and the body's framing.
"""

from __future__ import annotations

import re
from typing import Protocol

from oidcgate.http.fields import HeaderFields
from oidcgate.proxy.balancer import Peer
from oidcgate.proxy.head import RequestHead
from oidcgate.proxy.headers import VIA_LINE, via
from oidcgate.proxy.modes import LENGTH, NO_BODY
from oidcgate.proxy.paths import join_v0, join_v1
from oidcgate.proxy.router import Matcher
from oidcgate.proxy.runtime import RouteRuntime

_PROTO_HOST = ((b"X-Forwarded-Proto", 0), (b"X-Forwarded-Host", 1), (b"X-Forwarded-Port", 2),
               (b"X-Forwarded-Path", 3))


class Client(Protocol):
    """What the head takes from the client connection (computed once per connection)."""

    ip: bytes
    trusted: bool
    forwarded: bytes  # X-Forwarded-For, X-Real-IP, -Proto, -Port lines and "X-Forwarded-Host: " (a client's
    #                   that sent none)

    @property
    def scheme(self) -> bytes:
        """Of the listener."""

    @property
    def port(self) -> bytes:
        """Of the listener."""


class Outgoing(Protocol):
    """The request being forwarded: what the client sent and what plugins changed."""

    head: RequestHead
    route: RouteRuntime
    matcher: Matcher[RouteRuntime] | None  # (set: only routed requests are forwarded)
    found: re.Match[bytes] | None
    peer: Peer | None  # (set: chosen before the head is written)
    method: bytes
    query: bytes
    fields: HeaderFields
    upstream_path: bytes | None
    upstream_host: bytes | None
    body_mode: int
    content_length: int

    @property
    def conn(self) -> Client: ...


REWRITES = 4096  # upstream paths remembered per route
_END = VIA_LINE + b"\r\n"  # the end of most heads: our Via, no Upgrade, no body


def rewrite(route: RouteRuntime, matcher: Matcher[RouteRuntime], found: re.Match[bytes] | None,
            path: bytes) -> tuple[bytes, bytes]:
    """Kong's upstream path for a request path matched by `matcher`, and the X-Forwarded-Prefix line for
    what the route stripped (b"" when none); remembered per route (clients repeat their paths)."""
    if route.root_v0 and (matcher.prefix == b"/" or not route.strip):
        upstream = path  # a service without path and a route on "/" (or not stripping): as is
    else:
        postfix = matcher.postfix_of(path, found)
        if postfix is None:
            postfix = path[1:]
        service = route.service
        assert service is not None  # (only routes with a service are forwarded)
        upstream = (join_v1 if route.v1 else join_v0)(service.base, route.strip, postfix, path)
    prefix = matcher.prefix_of(path, found) if route.strip else None
    line = b"X-Forwarded-Prefix: " + prefix + b"\r\n" if prefix and prefix != b"/" else b""
    rewrites = route.rewrites
    if len(rewrites) >= REWRITES:
        rewrites.clear()
    rewrites[path] = upstream, line
    return upstream, line


def request_head(out: Outgoing) -> bytes:
    """The upstream request head (see the module docstring)."""
    head, route, client = out.head, out.route, out.conn
    rewritten = route.rewrites.get(head.path)
    if rewritten is None:
        matcher = out.matcher
        assert matcher is not None
        rewritten = rewrite(route, matcher, out.found, head.path)
    path = out.upstream_path or rewritten[0]
    if route.logged:
        out.upstream_path = path  # (a log plugin's upstream_uri; a retry sends the same path)
    if out.upstream_host is not None:
        host_line = b" HTTP/1.1\r\nHost: " + out.upstream_host + b"\r\n"
    elif route.preserve_host:
        host_line = b" HTTP/1.1\r\nHost: " + head.host + b"\r\n"
    else:
        peer = out.peer
        assert peer is not None
        host_line = peer.host_line
    xf = head.xf if client.trusted else None
    if head.xff is None and xf is None:
        parts = [out.method, b" ", path, out.query, host_line, *out.fields.wire, client.forwarded, head.host_name,
                 b"\r\nX-Forwarded-Path: ", head.raw_path, b"\r\n", rewritten[1]]
    else:
        parts = [out.method, b" ", path, out.query, host_line, *out.fields.wire]
        _forwarded_for(parts, client, head, xf, rewritten[1])
    if head.via is None and head.upgrade is None and out.body_mode == NO_BODY:
        parts.append(_END)
    else:
        _end(parts, out, head)
    return b"".join(parts)


def _end(parts: list[bytes], out: Outgoing, head: RequestHead) -> None:
    """Via after the hops the request went through, Upgrade, and the body's framing."""
    parts.append(via(head.via) if head.via else VIA_LINE)
    if head.upgrade is not None:
        parts += (b"Connection: Upgrade\r\nUpgrade: ", head.upgrade, b"\r\n")
    mode = out.body_mode
    if mode == NO_BODY:
        parts.append(b"\r\n")
    elif mode == LENGTH:
        parts.append(b"Content-Length: %d\r\n\r\n" % out.content_length)
    else:
        parts.append(b"Transfer-Encoding: chunked\r\n\r\n")


def _forwarded_for(parts: list[bytes], client: Client, head: RequestHead, xf: dict[bytes, bytes] | None,
                   prefix_line: bytes) -> None:
    """X-Forwarded-* when the client sent X-Forwarded-For, or is trusted (Kong's trusted_ips): the trusted
    client's own -Proto, -Host, -Port, -Path and -Prefix are kept."""
    ip = client.ip
    parts += (b"X-Forwarded-For: ", head.xff + b", " + ip if head.xff else ip, b"\r\nX-Real-IP: ", ip, b"\r\n")
    ours = (client.scheme, head.host_name, client.port, head.raw_path)
    for name, index in _PROTO_HOST:
        value = ours[index] if xf is None else xf.get(name.lower(), ours[index])
        parts += (name, b": ", value, b"\r\n")
    prefix = xf.get(b"x-forwarded-prefix") if xf is not None else None
    if not prefix:
        parts.append(prefix_line)
    elif prefix != b"/":
        parts += (b"X-Forwarded-Prefix: ", prefix, b"\r\n")
