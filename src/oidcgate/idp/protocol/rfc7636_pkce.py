"""Proof Key for Code Exchange, S256 only: RFC 7636, https://www.rfc-editor.org/rfc/rfc7636

`plain` is refused, as the OAuth 2.0 Security BCP (RFC 9700 §2.1.1) recommends, and PKCE is required for
every authorization code request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from oidcgate.idp.protocol.rfc6749_errors import InvalidGrant, InvalidRequest

SUPPORTED_METHODS = ("S256",)
# §4.1: code_verifier = 43*128unreserved; an S256 challenge is a 43-character base64url string.
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_S256_CHALLENGE = re.compile(r"^[A-Za-z0-9\-_]{43}$")


def s256(verifier: str) -> str:
    """§4.2: BASE64URL-ENCODE(SHA256(ASCII(code_verifier))) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def check_challenge(challenge: str | None, method: str | None) -> str:
    """Validate the authorization request's challenge (§4.3, §4.4.1); returns it."""
    if challenge is None:
        raise InvalidRequest("code_challenge is required (PKCE with S256)")
    # §4.3: an absent method means "plain", which is refused like an explicit one.
    if method != "S256":
        raise InvalidRequest("code_challenge_method must be S256; plain is not supported")
    if not _S256_CHALLENGE.match(challenge):
        raise InvalidRequest("code_challenge is not a base64url-encoded SHA-256 digest")
    return challenge


def verify(verifier: str | None, challenge: str) -> None:
    """§4.6: the token request's verifier must hash to the stored challenge, else invalid_grant."""
    if verifier is None:
        raise InvalidRequest("code_verifier is required")
    if not _VERIFIER.match(verifier) or not hmac.compare_digest(s256(verifier), challenge):
        raise InvalidGrant("code_verifier does not match the code_challenge")
