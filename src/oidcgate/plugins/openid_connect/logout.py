"""Signing out (Kong's `logout_*` fields): which request is a logout, RFC 7009 revocation of the
session's tokens (https://www.rfc-editor.org/rfc/rfc7009), and RP-initiated logout at the provider
(https://openid.net/specs/openid-connect-rpinitiated-1_0.html) with `id_token_hint` and
`post_logout_redirect_uri`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode

from oidcgate.plugins.openid_connect.client_auth import ClientAuth
from oidcgate.plugins.openid_connect.errors import ProviderUnavailable
from oidcgate.plugins.openid_connect.schema import OpenIDConnectConfig
from oidcgate.plugins.openid_connect.transport import ProviderHTTP
from oidcgate.plugins.pdk import Request

log = logging.getLogger("oidcgate.plugins.openid_connect")
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True, slots=True)
class LogoutRule:
    """A request is a logout when its method is one of `methods` and its path ends with `suffix`, or its
    query holds `query_arg`, or its form body holds `post_arg`."""

    methods: frozenset[str]
    suffix: str | None
    query_arg: str | None
    post_arg: str | None

    @classmethod
    def of(cls, config: OpenIDConnectConfig) -> LogoutRule | None:
        if not (config.logout_uri_suffix or config.logout_query_arg or config.logout_post_arg):
            return None
        return cls(frozenset(config.logout_methods), config.logout_uri_suffix, config.logout_query_arg,
                   config.logout_post_arg)

    async def matches(self, request: Request) -> bool:
        if request.method not in self.methods:
            return False
        if self.suffix is not None and request.path.endswith(self.suffix):
            return True
        if self.query_arg is not None and request.query_string and self.query_arg in request.query:
            return True
        if self.post_arg is not None and request.method == "POST" and (
                request.headers.get("content-type") or "").split(";")[0].strip().lower() == FORM:
            body = (await request.read_body(64 * 1024)).decode("latin-1")
            return self.post_arg in parse_qs(body, keep_blank_values=True)
        return False


def end_session_url(endpoint: str, id_token: str | None, client_id: str, post_logout_redirect_uri: str | None) -> str:
    """Where the browser ends its session at the provider (RP-Initiated Logout §2)."""
    params = [("client_id", client_id)]
    if id_token:
        params.append(("id_token_hint", id_token))
    if post_logout_redirect_uri:
        params.append(("post_logout_redirect_uri", post_logout_redirect_uri))
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(params)}"


async def revoke(http: ProviderHTTP, endpoint: str, client: ClientAuth, token: str, hint: str,
                 timeout: float) -> bool:
    """RFC 7009 §2.1; False (logged, the sign-out goes on) when the provider did not confirm it."""
    data = {"token": token, "token_type_hint": hint}
    headers: dict[str, str] = {}
    client.apply(data, headers, audience=endpoint)
    try:
        status, _ = await http.request("revocation", "POST", endpoint, timeout, data=data, headers=headers,
                                       json_body=False)
    except ProviderUnavailable:
        return False
    if status != 200:
        log.warning("openid-connect: the provider refused to revoke a %s (HTTP %s)", hint, status)
    return status == 200
