"""Admission: a parsed request head checked and turned into a `RequestHead`, or `Refused`. No I/O.

llhttp runs in strict mode, so the smuggling vectors are refused by the parser itself: Content-Length
together with Transfer-Encoding, duplicate or non-numeric Content-Length, a Transfer-Encoding whose
last coding is not `chunked`, bad chunk sizes, bare CR or LF, obs-fold, invalid header names and
values, HTTP/0.9. This stage adds what llhttp does not check, in this order: sizes (414, 431),
versions other than 1.0/1.1 (505), CONNECT/TRACE (405), absolute-form targets (their authority
replaces Host; userinfo is 400), Host (RFC 9112 §3.2: exactly one, well-formed; 400), a fragment
(400), the path (normalized, see paths; a broken escape is 400), Transfer-Encoding in HTTP/1.0 (400)
or with a coding before `chunked` (501; a final coding other than chunked: 400) and Expect (417).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Protocol

from oidcgate.http.fields import HeaderFields, Received
from oidcgate.proxy import errors
from oidcgate.proxy.headers import (
    CONNECTION,
    CONTENT_LENGTH,
    EXPECT,
    HOST,
    TRANSFER_ENCODING,
    UPGRADE,
    VIA_FIELD,
    XF,
    XFF,
    connection_tokens,
)
from oidcgate.proxy.modes import CHUNKED, LENGTH, NO_BODY
from oidcgate.proxy.paths import InvalidPath, normalize

_HOST_RE = re.compile(rb"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]+)(?::[0-9]{0,5})?")
_ABSOLUTE_RE = re.compile(rb"(?i)https?://(?P<authority>[^/?#]*)(?P<rest>[/?].*|)", re.DOTALL)
_REFUSED_METHODS = frozenset({b"CONNECT", b"TRACE"})  # no tunnels; TRACE would echo credentials (XST)
SEEN_SIZE = 4096
_NO_HOST = (b"", b"")  # an HTTP/1.0 request without Host
Aside = Sequence[tuple[int, bytes, bytes]]  # (kind, name, value) of the fields set aside while parsing


class Refused(Exception):
    """A request the proxy will not process: answered with `status` and `message`, then the connection closes."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message


class Parser(Protocol):
    """What admission reads of httptools' request parser."""

    def get_method(self) -> bytes: ...

    def get_http_version(self) -> str: ...

    def should_keep_alive(self) -> bool: ...

    def should_upgrade(self) -> bool: ...


class RequestHead:
    """What the client asked for, checked: the request line, Host, the end-to-end fields (forwarded as
    they are) and what the proxy handles itself (framing, X-Forwarded-*, Via, Expect, Upgrade)."""

    # Rare, so defaults here rather than in __init__.
    body_mode = NO_BODY
    content_length = 0
    expect_continue = False
    upgrade: bytes | None = None
    xff: bytes | None = None  # the X-Forwarded-For values received, joined
    xf: dict[bytes, bytes] | None = None  # the other X-Forwarded-* received, by lower-case name
    via: bytes | None = None  # the Via values received, joined
    aside: Aside = ()  # the fields the proxy handles itself, as received (see route_headers)

    def __init__(self, method: bytes, raw_path: bytes, path: bytes, query: bytes, host: bytes, host_name: bytes,
                 fields: HeaderFields, http11: bool, keep_alive: bool) -> None:
        self.method = method
        self.raw_path = raw_path  # as received (X-Forwarded-Path)
        self.path = path  # normalized: what routing and the upstream see
        self.query = query  # with its "?", b"" when there is none
        self.host = host  # lower-case, with its port
        self.host_name = host_name  # without the port
        self.fields = fields
        self.http11 = http11
        self.keep_alive = keep_alive

    @classmethod
    def empty(cls, method: bytes = b"") -> RequestHead:
        """The head of a request refused before it was understood."""
        return cls(method, b"", b"", b"", b"", b"", HeaderFields(), True, False)

    @property
    def has_body(self) -> bool:
        return self.body_mode != NO_BODY

    def route_headers(self) -> dict[bytes, list[bytes]]:
        """Lower-case name -> values, what routes with `headers` match on (X-Forwarded-* and Via too)."""
        headers: dict[bytes, list[bytes]] = {}
        for name, value in self.fields.items():
            headers.setdefault(name.lower(), []).append(value)
        for kind, name, value in self.aside:
            if kind in (XF, XFF, VIA_FIELD):
                headers.setdefault(name.lower(), []).append(value)
        return headers


def check_size(url: bytes, received: Received, max_head: int, max_headers: int) -> None:
    """Refuse a head over the limits (414, 431); only called when the input read exceeds them."""
    if len(url) > max_head:
        raise Refused(414, errors.URI_TOO_LONG)
    if len(url) + received.size() > max_head or len(received) > max_headers:
        raise Refused(431, errors.HEADERS_TOO_LARGE)


class Seen:
    """What admission worked out for the Host values and request targets it saw (clients repeat them):
    each a dict lookup the next time. Bounded: a table is emptied when it reaches SEEN_SIZE."""

    __slots__ = ("hosts", "targets")

    def __init__(self) -> None:
        self.hosts: dict[bytes, tuple[bytes, bytes]] = {}  # Host -> (lower-case with port, without port)
        self.targets: dict[bytes, tuple[bytes, bytes, bytes]] = {}  # target -> (raw path, path, query)

    def host(self, host: bytes) -> tuple[bytes, bytes]:
        """(lower-case host[:port], host without port) of a valid Host; 400 otherwise."""
        if not _HOST_RE.fullmatch(host):
            raise Refused(400, errors.BAD_REQUEST)
        lower = host.lower()
        colon = lower.rfind(b":")
        parsed = (lower, lower[:colon] if colon > lower.rfind(b"]") else lower)
        _remember(self.hosts, host, parsed)
        return parsed

    def target(self, url: bytes) -> tuple[bytes, bytes, bytes]:
        """(path as received, normalized path, query with its "?") of an origin-form target; 400 for a
        fragment or a broken escape. (Single bytes are looked for as ints, `63 in url`: bytes.find costs
        five times as much.)"""
        if 35 in url:  # "#": a fragment has no business in a request
            raise Refused(400, errors.BAD_REQUEST)
        raw_path, query = url, b""
        if 63 in url:  # "?"
            at = url.find(b"?")
            raw_path, query = url[:at], url[at:]
        path = raw_path
        if 37 in path or (46 in path and path.find(b"/.") >= 0) or path.find(b"//") >= 0:  # %, /. or //
            try:
                path = normalize(raw_path)
            except InvalidPath:
                raise Refused(400, errors.BAD_REQUEST) from None
        target = (raw_path, path, query)
        _remember(self.targets, url, target)
        return target


def _remember(table: dict[bytes, Any], key: bytes, value: Any) -> None:
    if len(table) >= SEEN_SIZE:
        table.clear()
    table[key] = value


def admit(parser: Parser, url: bytes, received: Received, seen: Seen, draining: bool) -> RequestHead:
    """The checked head of the request `parser` just parsed (see the module docstring); raises Refused."""
    aside = received.aside
    received.aside = None
    host, host_count, connection = None, 0, False
    for kind, _, value in aside or ():
        if kind == HOST:
            host = value
            host_count += 1
        elif kind == CONNECTION:
            connection = True
    keep_alive = parser.should_keep_alive()
    # llhttp keeps 1.0 alive only with a Connection header: a kept-alive request without one is 1.1.
    http11 = (keep_alive and not connection) or _http11(parser)
    method = parser.get_method()
    if method in _REFUSED_METHODS:
        raise Refused(405, errors.NOT_ALLOWED)
    if not url or url[0] != 47:  # not "/": absolute-form
        host, url = _absolute_form(url)
    if host_count != 1 and (http11 or host_count > 1):
        raise Refused(400, errors.BAD_REQUEST)
    host_name = _NO_HOST if host is None else seen.hosts.get(host) or seen.host(host)
    raw_path, path, query = seen.targets.get(url) or seen.target(url)
    head = RequestHead(method, raw_path, path, query, host_name[0], host_name[1], received.take(), http11,
                       keep_alive and not draining)
    if aside is not None and len(aside) != host_count:
        _special(head, aside, parser.should_upgrade())
    return head


def _http11(parser: Parser) -> bool:
    """HTTP/1.1 (True) or 1.0 (False); 505 for any other version."""
    version = parser.get_http_version()
    if version not in ("1.1", "1.0"):
        raise Refused(505, errors.VERSION)
    return version == "1.1"


def _absolute_form(url: bytes) -> tuple[bytes, bytes]:
    """RFC 9112 §3.2.2: an absolute-form target's authority replaces Host; (authority, origin-form)."""
    absolute = _ABSOLUTE_RE.fullmatch(url)
    if absolute is None or b"@" in absolute["authority"]:
        raise Refused(400, errors.BAD_REQUEST)
    rest: bytes = absolute["rest"] or b"/"
    return absolute["authority"], (b"/" + rest if rest[:1] == b"?" else rest)


def _special(head: RequestHead, aside: Aside, upgrading: bool) -> None:
    """Framing, X-Forwarded-*, Via, Expect, Upgrade and Connection of `head` (see the module docstring)."""
    head.aside = aside
    tokens: list[bytes] = []
    for kind, name, value in aside:
        if kind == CONTENT_LENGTH:
            head.content_length = int(value)  # llhttp checked it: digits, once
            if head.content_length:
                head.body_mode = LENGTH
        elif kind == TRANSFER_ENCODING:
            _chunked(head, value)
        elif kind == XFF:
            head.xff = value if head.xff is None else head.xff + b", " + value
        elif kind == XF:
            if head.xf is None:
                head.xf = {}
            head.xf[name.lower()] = value
        elif kind == VIA_FIELD:
            head.via = value if head.via is None else head.via + b", " + value
        elif kind == CONNECTION:
            tokens.append(value)
        elif kind == EXPECT:
            if value.lower() != b"100-continue":
                raise Refused(417, "Expectation Failed")
            head.expect_continue = head.http11
        elif kind == UPGRADE and upgrading:
            head.upgrade = value
            head.keep_alive = False  # unless the upstream switches, the connection ends
    if tokens:
        head.fields.remove_all(connection_tokens(tokens))


def _chunked(head: RequestHead, value: bytes) -> None:
    if not head.http11:  # RFC 9112 §6.1: faulty framing from an HTTP/1.0 client
        raise Refused(400, errors.BAD_REQUEST)
    codings = value.lower().replace(b" ", b"").replace(b"\t", b"")
    if codings != b"chunked":
        if not codings.endswith(b",chunked"):  # RFC 9112 §6.3: length unknown -> 400
            raise Refused(400, errors.BAD_REQUEST)
        raise Refused(501, errors.UNKNOWN_CODING)  # e.g. gzip: we would forward it garbled
    head.body_mode = CHUNKED
