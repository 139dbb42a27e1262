"""Discovery documents, listing exactly what this server supports.

RFC 8414 (https://www.rfc-editor.org/rfc/rfc8414) for `/.well-known/oauth-authorization-server`
and OpenID Connect Discovery 1.0 §3 (https://openid.net/specs/openid-connect-discovery-1_0.html)
for `/.well-known/openid-configuration`.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from oidcgate.idp.protocol.oidc_core import CLAIMS_SUPPORTED
from oidcgate.idp.protocol.rfc7523_client_assertion import ALGORITHMS as ASSERTION_ALGORITHMS

TOKEN_ENDPOINT_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
# Introspection needs a confidential client (RFC 7662 §2.1); public clients may revoke their own tokens.
INTROSPECTION_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")


def endpoints(issuer: str) -> dict[str, str]:
    """Endpoint URLs in Okta's layout under the issuer."""
    return {
        "authorization_endpoint": f"{issuer}/v1/authorize",
        "token_endpoint": f"{issuer}/v1/token",
        "userinfo_endpoint": f"{issuer}/v1/userinfo",
        "jwks_uri": f"{issuer}/v1/keys",
        "introspection_endpoint": f"{issuer}/v1/introspect",
        "revocation_endpoint": f"{issuer}/v1/revoke",
        "end_session_endpoint": f"{issuer}/v1/logout",
    }


def authorization_server_metadata(issuer: str, scopes: Collection[str], grant_types: Collection[str]) -> dict[str, Any]:
    """RFC 8414 §2."""
    return {
        "issuer": issuer,
        **endpoints(issuer),
        "scopes_supported": sorted(scopes),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(grant_types),
        "token_endpoint_auth_methods_supported": list(TOKEN_ENDPOINT_AUTH_METHODS),
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "introspection_endpoint_auth_methods_supported": list(INTROSPECTION_AUTH_METHODS),
        "introspection_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "revocation_endpoint_auth_methods_supported": list(TOKEN_ENDPOINT_AUTH_METHODS),
        "revocation_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,  # RFC 9207
    }


def openid_configuration(issuer: str, scopes: Collection[str], grant_types: Collection[str],
                         signing_algs: Collection[str]) -> dict[str, Any]:
    """OpenID Connect Discovery §3: the RFC 8414 members plus the OpenID Provider ones."""
    return {
        **authorization_server_metadata(issuer, scopes, grant_types),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": sorted(signing_algs),
        "claims_supported": list(CLAIMS_SUPPORTED),
        "prompt_values_supported": ["none", "login", "consent"],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,  # the default is true, so say it
    }
