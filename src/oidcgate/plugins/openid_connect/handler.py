"""The openid-connect plugin's handler (Kong's `handler.lua`): authenticate in `access`, then shape
the upstream request.

The work lives beside it: `flows` (bearer, introspection, client credentials), `discovery`, `cache`,
`credentials`, `verify`, `authorization`, `headers`, `errors`. Per-process state (providers, their
caches, the HTTP client) sits in `PluginEnv.state("openid-connect")`, so it survives new
configurations; everything derived from this instance's config is computed here, once.
"""

from __future__ import annotations

from typing import Any

from oidcgate.plugins.base import Plugin
from oidcgate.plugins.openid_connect import credentials
from oidcgate.plugins.openid_connect.authorization import claim_at, claim_values
from oidcgate.plugins.openid_connect.discovery import provider_for
from oidcgate.plugins.openid_connect.errors import InsufficientScope, InvalidToken, OIDCError, to_exit
from oidcgate.plugins.openid_connect.flows import Authenticator, Outcome
from oidcgate.plugins.openid_connect.headers import ClaimHeaders, UnsafeClaimValue
from oidcgate.plugins.openid_connect.schema import OpenIDConnectConfig
from oidcgate.plugins.openid_connect.transport import http_client
from oidcgate.plugins.pdk import Context, Identity, PluginEnv

NAME = "openid-connect"


class OpenIDConnectHandler(Plugin[OpenIDConnectConfig]):
    NAME = NAME
    PRIORITY = 1050  # Kong's: after correlation-id/tracing, before the other authentication plugins
    VERSION = "0.1.0"
    CONFIG = OpenIDConnectConfig

    def __init__(self, config: OpenIDConnectConfig, env: PluginEnv, *, instance_id: str | None = None) -> None:
        super().__init__(config, env, instance_id=instance_id)
        state = env.state(NAME)
        http = http_client(env, state, config.ssl_verify)
        provider = provider_for(state, config.discovery_url, config.extra_jwks_uris or (), http, config.ssl_verify)
        self.flows = Authenticator(config, provider)
        self.claim_headers = ClaimHeaders(config.upstream_headers_claims or (), config.upstream_headers_names or ())
        self.token_header: str | None = None
        self.token_prefix = ""
        if config.upstream_access_token_header:
            name, _, scheme = config.upstream_access_token_header.partition(":")
            self.token_header, self.token_prefix = name, ("Bearer " if scheme else "")
        self.consumer_path = tuple(config.consumer_claim) if config.consumer_claim else None
        self.scopes_path = tuple(config.scopes_claim)
        self.groups_path = tuple(config.groups_claim)

    async def access(self, ctx: Context) -> None:
        config = self.config
        try:
            outcome = await self.flows.authenticate(ctx.request)
            claim_headers = self.claim_headers.values(outcome.claims) if self.claim_headers else ()
            consumer = self._consumer(ctx, outcome.claims)
        except UnsafeClaimValue as exc:
            raise to_exit(InvalidToken(f"{exc}: it cannot be sent upstream"), config.unauthorized_error_message,
                          config.forbidden_error_message) from None
        except OIDCError as exc:
            raise to_exit(exc, config.unauthorized_error_message, config.forbidden_error_message) from None
        request = ctx.request
        if config.hide_credentials:
            credentials.hide(request, outcome.credentials)
        if self.claim_headers:
            self.claim_headers.strip(request.headers)
            for name, value in claim_headers:
                request.headers.add(name, value)
        if self.token_header is not None:
            request.headers.set(self.token_header, self.token_prefix + outcome.token)
        ctx.authenticate(consumer, self._credential(outcome), self._identity(outcome))

    def _consumer(self, ctx: Context, claims: dict[str, Any]) -> Any:
        """The consumer named by `consumer_claim` (Kong's consumer mapping), or None if not configured."""
        if self.consumer_path is None:
            return None
        value = claim_at(claims, self.consumer_path)
        if isinstance(value, str) and value:
            for field in self.config.consumer_by:
                consumer = ctx.consumers.find(field, value)
                if consumer is not None:
                    return consumer
        if self.config.consumer_optional:
            return None
        raise InsufficientScope("no consumer matches the token")

    @staticmethod
    def _credential(outcome: Outcome) -> dict[str, Any]:
        claims = outcome.claims
        return {"id": claims.get("sub") or claims.get("client_id"), "issuer": claims.get("iss"),
                "method": outcome.method}

    def _identity(self, outcome: Outcome) -> Identity:
        claims = outcome.claims
        client_id = claims.get("client_id") or claims.get("azp") or claims.get("cid")
        if client_id is None and isinstance(outcome.credentials, credentials.ClientCredentials):
            client_id = outcome.credentials.client_id
        subject = claims.get("sub")
        return Identity(
            subject=subject if isinstance(subject, str) else None,
            client_id=client_id if isinstance(client_id, str) else None,
            scopes=tuple(sorted(claim_values(claim_at(claims, self.scopes_path)))),
            groups=tuple(sorted(claim_values(claim_at(claims, self.groups_path)))),
            claims=dict(claims),
            source=f"{NAME}:{outcome.method}",
        )
