"""Why a token is refused, as plain exceptions: each caller decides what a refusal looks like (the
plugin answers 401 `invalid_token`, the CLI prints it and exits non-zero)."""

from __future__ import annotations


class TokenError(Exception):
    """A token that does not verify; `description` is a fixed text, safe to show (never token data)."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class UnknownKey(TokenError):
    """No key of the ring matches the token's `kid`: worth one key refresh before refusing."""
