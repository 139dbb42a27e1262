"""What every grant of the token endpoint is: a grant type and how it answers (authlib's `BaseGrant`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from oidcgate.idp.storage.store import AuthServer, Client, Store
from oidcgate.idp.tokens import TokenIssuer


class Grant(ABC):
    """One `grant_type` of the token endpoint (RFC 6749 §4.1.3, §4.4, §6 ...), added with
    `Provider.register_grant`. The provider has authenticated the client and checked that it may use
    this grant before `token_response` runs."""

    GRANT_TYPE: ClassVar[str]

    def __init__(self, store: Store, tokens: TokenIssuer) -> None:
        self.store = store
        self.tokens = tokens

    @abstractmethod
    def token_response(self, server: AuthServer, client: Client, params: dict[str, str]) -> dict[str, Any]:
        """The successful token response (RFC 6749 §5.1); raises an `OAuthError` otherwise."""
