"""Header rules for proxying (RFC 9110 §7.6.1 hop-by-hop fields, Kong's X-Forwarded-* semantics).

Header names are classified once, by their lower-cased name, while llhttp reports them (the kinds
memoized by the name as received, see oidcgate.http.fields.Received); everything not in
`REQUEST_SPECIAL` is forwarded byte for byte. Fields the proxy owns (framing, Host,
X-Forwarded-*, X-Real-IP, Via) are regenerated; hop-by-hop fields and `Proxy-*` never cross, nor do
a client's own consumer headers (`X-Consumer-*`, `X-Credential-*`, ...), which only plugins set.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from oidcgate.http.fields import HeaderFields

VIA = b"1.1 oidcgate"
VIA_LINE = b"Via: " + VIA + b"\r\n"

# Header kinds; FORWARD (0) is a plain end-to-end field.
FORWARD = 0
HOST, CONNECTION, DROP, TRANSFER_ENCODING, CONTENT_LENGTH, EXPECT, XFF, XF, VIA_FIELD, UPGRADE = range(1, 11)
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

RESPONSE_OWNED = frozenset(RESPONSE_SPECIAL)  # framing and hop-by-hop: the proxy writes its own

# Kinds by the name as received (any case), memoized: clients repeat their header names, so most
# fields cost one dict lookup instead of lower() + lookup. Bounded, so random names cannot grow it.
REQUEST_KINDS: dict[bytes, int] = {}
RESPONSE_KINDS: dict[bytes, int] = {}


def request_kind(name: bytes) -> int:
    lname = name.lower()
    kind = REQUEST_SPECIAL.get(lname)
    if kind is None:
        kind = DROP if lname.startswith(b"proxy-") else FORWARD
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


def owns_any(names: Iterable[bytes]) -> bool:
    """Whether any of these lower-case names is one the proxy owns (OWNED_BY_PROXY or `proxy-*`)."""
    for name in names:  # noqa: SIM110 (a loop: any() over a generator costs more, per request)
        if name in OWNED_BY_PROXY or name[:6] == b"proxy-":
            return True
    return False


def take_owned(fields: HeaderFields) -> bytes | None:
    """Remove the fields the proxy owns (OWNED_BY_PROXY and `Proxy-*`) from `fields` that plugins edited;
    the last Host value among them (which becomes the upstream Host)."""
    owned = [name for name in fields.names() if name in OWNED_BY_PROXY or name[:6] == b"proxy-"]
    if not owned:
        return None
    hosts = fields.values(b"host")
    fields.remove_all(frozenset(owned))
    return hosts[-1] if hosts else None


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


def forwarded_address(xff: bytes, peer: str, trusted: TrustedIPs) -> str:
    """The client's address behind trusted proxies (Kong's forwarded IP, as nginx's realip module with
    `real_ip_recursive`): walking X-Forwarded-For from the right, the first address that is not itself
    a trusted proxy. An entry that is no address ends the walk: the last trusted hop, `peer` at first,
    is then the client as far as anyone can tell (everything left of it is the client's own say)."""
    address = peer
    for part in reversed(xff.split(b",")):
        candidate = _without_port(part.strip().decode("latin-1"))
        try:
            ipaddress.ip_address(candidate)
        except ValueError:
            break
        address = candidate
        if candidate not in trusted:
            break
    return address


def _without_port(entry: str) -> str:
    """`1.2.3.4:5678` and `[2001:db8::1]:5678` (as some load balancers write them) without the port."""
    if entry.startswith("["):
        return entry[1:].partition("]")[0]
    return entry.partition(":")[0] if entry.count(":") == 1 else entry
