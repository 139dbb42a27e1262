"""The guard in front of every admin listener: the control plane's Admin API and GUI, and the data
plane's DB-less admin API (`--admin-listen`).

Without an admin token, reaching the port is the only credential, and a web page the operator
visits can reach a loopback port too: by a "simple" cross-site request (a form post, or `fetch`
with a text/plain body: no CORS preflight, so it runs although the page cannot read the answer),
or by DNS rebinding (the attacker's name resolves to 127.0.0.1, so the page is same-origin with
the API and can read `GET /config`). A browser always says which: Host carries the name the page
used, and a cross-site request carries Origin (and Sec-Fetch-Site). So, without a token:

- Host must be `localhost` or an IP literal this listener answers on: any loopback address, or the
  address the connection arrived at (a data plane admin bound to 10.0.0.5, or to 0.0.0.0 and
  reached at 10.0.0.5, answers to `Host: 10.0.0.5`). DNS cannot rebind an IP literal, so such a
  Host is always this server; a DNS name other than localhost could be anyone's. Otherwise 421
  Misdirected Request (RFC 9110 §15.5.20): this server is not an authority for that name, which
  is exactly the case, and a client that reached it by mistake learns to retry elsewhere; 403
  would claim the caller lacks a right when it has the wrong server.
- Origin, when sent, must name such a host (any port: another local tool may drive the API), and
  Sec-Fetch-Site must not be `cross-site`; else 403. curl and scripts send neither. Origin `null`
  (sandboxed frames, data: and file: pages) is refused.

With a token the token is the credential: a page cannot add Kong-Admin-Token to a cross-site
request without a preflight these APIs never grant, so Host and Origin are not checked (the API may
sit behind a load balancer under any name).

Always: `POST /config` refuses `text/plain` (415). It is the one body type that carries a raw
document and that a page may send cross-site without a preflight; YAML goes as application/yaml,
JSON as application/json, and `curl -F config=@kong.yml` as a form.
"""

from __future__ import annotations

import ipaddress
import logging
import re

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("oidcgate.admin_guard")

LOCAL_NAME = "localhost"
CONFIG_PATH = "/config"
REFUSED_CONFIG_TYPE = "text/plain"
_AUTHORITY_RE = re.compile(r"(?:\[(?P<v6>[0-9a-f:.]+)\]|(?P<name>[a-z0-9._-]+))(?::[0-9]{1,5})?")
_ORIGIN_RE = re.compile(r"https?://(?P<authority>[^/?#]*)")


def authority_host(authority: str) -> str | None:
    """The host of `host[:port]` or `[v6][:port]`, lower-cased, brackets dropped; None when malformed
    (userinfo, paths and other junk never pass)."""
    match = _AUTHORITY_RE.fullmatch(authority.strip().lower())
    return (match["v6"] or match["name"]) if match else None


def is_local_host(host: str | None, server_address: str | None) -> bool:
    """`localhost`, a loopback address, or the address this connection arrived at (`server_address`)."""
    if host is None:
        return False
    if host == LOCAL_NAME:
        return True
    try:
        address = _unmapped(ipaddress.ip_address(host))
    except ValueError:
        return False
    if address.is_loopback:
        return True
    try:
        return server_address is not None and address == _unmapped(ipaddress.ip_address(server_address))
    except ValueError:
        return False


def _unmapped(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """10.0.0.5 as a dual-stack socket reports it (::ffff:10.0.0.5) compares equal to 10.0.0.5."""
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return mapped or address


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def refusal(scope: Scope, *, token_required: bool) -> tuple[int, str] | None:
    """Why this request must not reach the app (status, message), or None to let it through."""
    if scope["method"] == "POST" and scope["path"].rstrip("/") == CONFIG_PATH:
        kind = (_header(scope, b"content-type") or "").split(";", 1)[0].strip().lower()
        if kind == REFUSED_CONFIG_TYPE:
            return 415, ("Content-Type 'text/plain' is not accepted for /config: send application/yaml, "
                         "application/json, or a form field 'config'")
    if token_required:
        return None
    server = scope.get("server")
    server_address = server[0] if server else None
    host = _header(scope, b"host") or ""
    if not is_local_host(authority_host(host), server_address):
        return 421, (f"Host '{host}' is not served here: without an admin token only localhost and this "
                     "listener's IP addresses are (protection against DNS rebinding)")
    origin = _header(scope, b"origin")
    if origin is not None:
        match = _ORIGIN_RE.fullmatch(origin.strip().lower())
        if not (match and is_local_host(authority_host(match["authority"]), server_address)):
            return 403, f"cross-site request refused: Origin '{origin}' is not local"
    if (_header(scope, b"sec-fetch-site") or "").strip().lower() == "cross-site":
        return 403, "cross-site request refused (Sec-Fetch-Site: cross-site)"
    return None


class AdminGuard:
    """ASGI middleware applying `refusal` to every HTTP request; refusals answer Kong's `{"message": ...}`."""

    def __init__(self, app: ASGIApp, *, token_required: bool) -> None:
        self.app = app
        self.token_required = token_required

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refused = refusal(scope, token_required=self.token_required)
            if refused is not None:
                status, message = refused
                log.warning("refused %s %s: %s", scope["method"], scope["path"], message)
                await JSONResponse({"message": message}, status)(scope, receive, send)
                return
        await self.app(scope, receive, send)
