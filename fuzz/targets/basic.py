"""`Authorization: Basic` credentials (RFC 6749 §2.3.1): parsed or refused with InvalidRequest.

Oracle: whatever is accepted has a non-empty client id and secret, and encoding them again the
RFC's way and parsing that gives the same pair (nothing is lost or invented by the parser).
"""

from __future__ import annotations

import base64

from fuzz.harness import ACCEPTED, REFUSED, Target, WrongAccept


def target() -> Target:
    from oidcgate.plugins.openid_connect.client_auth import basic_authorization
    from oidcgate.plugins.openid_connect.credentials import parse_basic
    from oidcgate.plugins.openid_connect.errors import OIDCError

    def one(data: bytes) -> str:
        value = data.decode("latin-1")  # a header value is latin-1 bytes on the wire
        try:
            parsed = parse_basic(value)
        except OIDCError:
            return REFUSED
        if not parsed.client_id or not parsed.client_secret:
            raise WrongAccept(f"empty client id or secret accepted from {value!r}")
        again = parse_basic(basic_authorization(parsed.client_id, parsed.client_secret).split(" ", 1)[1])
        if (again.client_id, again.client_secret) != (parsed.client_id, parsed.client_secret):
            raise WrongAccept(f"credentials changed on a round trip: {value!r}")
        return ACCEPTED

    seeds = [base64.b64encode(b"client:secret"), base64.b64encode(b"a%3Ab:c%2Bd"), b"bm9jb2xvbg==",
             base64.b64encode("ü:é".encode()), b"", b"===", base64.b64encode(b":secret")]
    return Target("basic", "Authorization: Basic credentials", seeds, one)
