"""Header rules for proxying (RFC 9110 §7.6.1 hop-by-hop fields, Kong's X-Forwarded-* semantics).

Request headers are classified once, by their lower-cased name, while llhttp reports them; everything
not in `REQUEST_SPECIAL` is forwarded byte for byte. Fields the proxy owns (framing, Host,
X-Forwarded-*, X-Real-IP, Via) are regenerated; hop-by-hop fields and `Proxy-*` never cross, nor do
a client's own consumer headers (`X-Consumer-*`, `X-Credential-*`, ...), which only plugins set.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

VIA = b"1.1 oidcgate"
VIA_LINE = b"Via: " + VIA + b"\r\n"

# Header kinds; FORWARD (0) is a plain end-to-end field.
FORWARD = 0
HOST, CONNECTION, DROP, TRANSFER_ENCODING, CONTENT_LENGTH, EXPECT, XFF, XF, VIA_FIELD, UPGRADE = range(1, 11)
AUTHORIZATION = 11  # forwarded like FORWARD; its place is noted for plugins' shortcuts
MEMO_SIZE = 4096

REQUEST_SPECIAL: dict[bytes, int] = {
    b"host": HOST,
    b"connection": CONNECTION,
    b"keep-alive": DROP,
    b"proxy-connection": DROP,
    b"proxy-authorization": DROP,
    b"te": DROP,
    b"trailer": DROP,
    b"x-real-ip": DROP,
    b"transfer-encoding": TRANSFER_ENCODING,
    b"content-length": CONTENT_LENGTH,
    b"expect": EXPECT,
    b"x-forwarded-for": XFF,
    b"x-forwarded-proto": XF,
    b"x-forwarded-host": XF,
    b"x-forwarded-port": XF,
    b"x-forwarded-path": XF,
    b"x-forwarded-prefix": XF,
    b"via": VIA_FIELD,
    b"upgrade": UPGRADE,
}

# Kong's identity headers: only the gateway says who a request is, so the client's own copies are dropped
# while the head is parsed (routes without plugins included); plugins then set them (see ctx.authenticate).
CONSUMER_HEADERS = frozenset({
    b"x-consumer-id", b"x-consumer-custom-id", b"x-consumer-username", b"x-credential-identifier",
    b"x-credential-username", b"x-anonymous-consumer", b"x-consumer-groups", b"x-authenticated-groups",
})
REQUEST_SPECIAL.update(dict.fromkeys(CONSUMER_HEADERS, DROP))

# Response header kinds: these are dropped or rewritten; the rest is forwarded as is.
RESPONSE_SPECIAL: dict[bytes, int] = {
    b"connection": CONNECTION,
    b"keep-alive": DROP,
    b"proxy-connection": DROP,
    b"te": DROP,
    b"trailer": DROP,
    b"upgrade": UPGRADE,
    b"transfer-encoding": TRANSFER_ENCODING,
    b"content-length": CONTENT_LENGTH,
    b"via": VIA_FIELD,
}

# Kinds by the name as received (any case), memoized: clients repeat their header names, so most
# fields cost one dict lookup instead of lower() + lookup. Bounded, so random names cannot grow it.
REQUEST_KINDS: dict[bytes, int] = {}
RESPONSE_KINDS: dict[bytes, int] = {}


def request_kind(name: bytes) -> int:
    lname = name.lower()
    kind = REQUEST_SPECIAL.get(lname)
    if kind is None:
        kind = DROP if lname.startswith(b"proxy-") else AUTHORIZATION if lname == b"authorization" else FORWARD
    if len(REQUEST_KINDS) < MEMO_SIZE:
        REQUEST_KINDS[name] = kind
    return kind


def response_kind(name: bytes) -> int:
    kind = RESPONSE_SPECIAL.get(name.lower(), FORWARD)
    if len(RESPONSE_KINDS) < MEMO_SIZE:
        RESPONSE_KINDS[name] = kind
    return kind


# Names a plugin-edited request must not carry upstream (the proxy writes its own), besides `proxy-*`.
# The consumer headers are not among them: plugins set those.
OWNED_BY_PROXY = frozenset(REQUEST_SPECIAL) - CONSUMER_HEADERS

_CONNECTION_OPTIONS = frozenset({b"close", b"keep-alive", b"upgrade"})


def connection_tokens(values: Iterable[bytes]) -> frozenset[bytes]:
    """Field names listed in Connection (besides close/keep-alive/upgrade): hop-by-hop too (RFC 9110 §7.6.1)."""
    tokens = {t.strip().lower() for v in values for t in v.split(b",")}
    return frozenset(t for t in tokens if t and t not in _CONNECTION_OPTIONS)


def drop_named(flat: list[bytes], names: frozenset[bytes]) -> list[bytes]:
    """Remove fields by name from a flat [name, b": ", value, b"\\r\\n", ...] list."""
    out: list[bytes] = []
    for i in range(0, len(flat), 4):
        if flat[i].lower() not in names:
            out += flat[i:i + 4]
    return out


def owns_any(names: Iterable[bytes]) -> bool:
    """Whether any of these lower-case names is one the proxy owns (OWNED_BY_PROXY or `proxy-*`)."""
    for name in names:  # noqa: SIM110 (a loop: any() over a generator costs more, per request)
        if name in OWNED_BY_PROXY or name[:6] == b"proxy-":
            return True
    return False


def drop_owned(flat: list[bytes]) -> tuple[list[bytes], bytes | None]:
    """`flat` without the fields the proxy owns (OWNED_BY_PROXY and `Proxy-*`), and the last Host value."""
    out: list[bytes] = []
    host = None
    for i in range(0, len(flat), 4):
        name = flat[i].lower()
        if name not in OWNED_BY_PROXY and not name.startswith(b"proxy-"):
            out += flat[i:i + 4]
        elif name == b"host":
            host = flat[i + 2]
    return out, host


def via(received: bytes | None) -> bytes:
    """Our Via line, after the hops the message already went through (RFC 9110 §7.6.3)."""
    return b"Via: " + received + b", " + VIA + b"\r\n" if received else VIA_LINE


class TrustedIPs:
    """Kong's `trusted_ips`: clients whose X-Forwarded-* headers are believed (none by default)."""

    def __init__(self, cidrs: Iterable[str]) -> None:
        self.networks = [ipaddress.ip_network(c.strip(), strict=False) for c in cidrs if c.strip()]

    def __contains__(self, ip: str) -> bool:
        if not self.networks:
            return False
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in network for network in self.networks)
