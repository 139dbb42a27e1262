"""The token endpoint's grants, one module each (authlib's `grants/` layout).

A grant is added in one place: a `Grant` subclass in its own module, listed in `DEFAULT_GRANTS`. The
provider registers these (`Provider.register_grant`); the token endpoint dispatches on them, discovery
advertises them (`grant_types_supported`) and client registration accepts them.
"""

from __future__ import annotations

from oidcgate.idp.grants.authorization_code import AuthorizationCodeGrant
from oidcgate.idp.grants.base import Grant
from oidcgate.idp.grants.client_credentials import ClientCredentialsGrant
from oidcgate.idp.grants.refresh_token import RefreshTokenGrant

DEFAULT_GRANTS: tuple[type[Grant], ...] = (AuthorizationCodeGrant, ClientCredentialsGrant, RefreshTokenGrant)
GRANT_TYPES: tuple[str, ...] = tuple(grant.GRANT_TYPE for grant in DEFAULT_GRANTS)

__all__ = ["DEFAULT_GRANTS", "GRANT_TYPES", "AuthorizationCodeGrant", "ClientCredentialsGrant", "Grant",
           "RefreshTokenGrant"]
