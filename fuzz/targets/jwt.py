"""JWT access tokens: signature and claims verification with mutated and forged tokens.

The fuzzer's input picks one of a few authentic tokens (RS256, ES256, PS256, with and without `kid`) and
mutates it: raw bytes anywhere; a new header (`alg` among none/HS256/RS256/ES256/junk, any `kid`,
`typ`, `crit`, `jku`); a new payload under the old signature; segments from two tokens spliced; the
classic forgeries (`alg: none`, HS256 keyed with the public key). Then `verify_signature` and
`check_access_token_type` (RFC 9068 `typ`) and `check_claims` (`oidcgate.jwt`) run as the plugin runs them.

Oracle: a token that verifies must carry an authentic signing input (its header and payload
segments exactly as one of the authentic tokens): anything else verifying is a forgery accepted.
"""

from __future__ import annotations

import base64
import json
import time

from fuzz.harness import ACCEPTED, REFUSED, Target, WrongAccept

ISSUER = "https://idp.example/oauth2/default"
ALGS = ("none", "HS256", "RS256", "PS256", "ES256", "ES512", "EdDSA", "", "rs256")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def target() -> Target:
    import atheris
    from joserfc.jwk import RSAKey
    from tests.support import forge

    from oidcgate.jwt.errors import TokenError
    from oidcgate.jwt.verify import (
        ClaimPolicy,
        build_key_ring,
        check_access_token_type,
        check_claims,
        verify_signature,
    )

    rsa, ec = forge.rsa_key("fuzz-rsa"), forge.ec_key("fuzz-ec")
    pss = RSAKey.generate_key(2048, parameters={"kid": "fuzz-ps", "alg": "PS256", "use": "sig"})
    ring = build_key_ring([forge.jwks(rsa, ec, pss)])
    policy = ClaimPolicy(issuers=frozenset({ISSUER}), leeway=0)
    now = time.time()
    payload = forge.claims(ISSUER, exp=int(now) + 3600)
    authentic = [forge.sign(payload, rsa, typ="at+jwt"), forge.sign(payload, ec, typ="at+jwt"),
                 forge.sign(payload, pss, typ="at+jwt"), forge.sign(payload, rsa, kid=None, typ="application/at+jwt")]
    signing_inputs = {token.rsplit(".", 1)[0] for token in authentic}
    forgeries = [forge.unsigned(payload, "fuzz-rsa"), forge.hs256_with_public_key(payload, rsa)]

    def mutate(data: bytes) -> str:
        fdp = atheris.FuzzedDataProvider(data)
        base = authentic[fdp.ConsumeIntInRange(0, len(authentic) - 1)]
        head, body, signature = base.split(".")
        how = fdp.ConsumeIntInRange(0, 5)
        if how == 0:  # raw bytes
            return fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes())
        if how == 1:  # a new header, same payload and signature
            header: dict[str, object] = {"alg": ALGS[fdp.ConsumeIntInRange(0, len(ALGS) - 1)]}
            if fdp.ConsumeBool():
                header["kid"] = fdp.PickValueInList(["fuzz-rsa", "fuzz-ec", "", "../../etc/passwd", 7, None])
            if fdp.ConsumeBool():
                header["typ"] = fdp.PickValueInList(["at+jwt", "JWT", "application/at+jwt", "", 1])
            if fdp.ConsumeBool():
                header[fdp.ConsumeUnicodeNoSurrogates(8)] = fdp.ConsumeUnicodeNoSurrogates(16)
            return f"{_b64(json.dumps(header).encode())}.{body}.{signature}"
        if how == 2:  # a new payload under the old signature
            claims = {**payload, fdp.ConsumeUnicodeNoSurrogates(6): fdp.ConsumeIntInRange(-2**40, 2**40)}
            return f"{head}.{_b64(json.dumps(claims).encode())}.{signature}"
        if how == 3:  # splice segments of two tokens
            other = authentic[fdp.ConsumeIntInRange(0, len(authentic) - 1)].split(".")
            parts = [head, body, signature]
            parts[fdp.ConsumeIntInRange(0, 2)] = other[fdp.ConsumeIntInRange(0, 2)]
            return ".".join(parts)
        # how 4: the classic forgeries, 5: an authentic token; then bytes flipped in them
        token = forgeries[fdp.ConsumeIntInRange(0, len(forgeries) - 1)] if how == 4 else base
        raw = bytearray(token.encode())
        for _ in range(fdp.ConsumeIntInRange(0, 4)):
            raw[fdp.ConsumeIntInRange(0, len(raw) - 1)] = fdp.ConsumeIntInRange(0x21, 0x7E)
        return raw.decode()

    def one(data: bytes) -> str:
        token = mutate(data)
        try:
            verified = verify_signature(token, ring)
            check_access_token_type(verified, generic_allowed=False)
            check_claims(verified.claims, policy, now)
        except TokenError:
            return REFUSED
        if token.rsplit(".", 1)[0] not in signing_inputs:
            raise WrongAccept(f"a token that was never signed verified: {token!r}")
        return ACCEPTED

    seeds = [bytes([index, how]) + b"\x00" * 32 for index in range(4) for how in range(6)]
    return Target("jwt", "JWT signature and claims verification", seeds, one)
