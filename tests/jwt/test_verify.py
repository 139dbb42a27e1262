"""JWT verification: signatures against a key ring with an algorithm allow-list, and the registered claims."""

from __future__ import annotations

import json
import time

import pytest

from oidcgate.jwt.errors import TokenError, UnknownKey
from oidcgate.jwt.verify import (
    ClaimPolicy,
    build_key_ring,
    check_access_token_type,
    check_claims,
    looks_like_jwt,
    unverified_parts,
    verify_signature,
)
from tests.support import forge

ISSUER = "https://idp.example/oauth2/default"


@pytest.fixture(scope="module")
def rsa() -> forge.RSAKey:
    return forge.rsa_key("rsa-1")


@pytest.fixture(scope="module")
def ec() -> forge.ECKey:
    return forge.ec_key("ec-1")


def test_rs256_and_es256_tokens_verify(rsa: forge.RSAKey, ec: forge.ECKey) -> None:
    ring = build_key_ring([forge.jwks(rsa, ec)], ["RS256", "ES256"])
    for key in (rsa, ec):
        payload = forge.claims(ISSUER, sub=f"signed-by-{key.kid}")
        assert verify_signature(forge.sign(payload, key), ring).claims == payload


def test_unsigned_token_is_refused_even_with_a_known_kid(rsa: forge.RSAKey) -> None:
    ring = build_key_ring([forge.jwks(rsa)], ["RS256", "none"])  # a provider advertising "none" changes nothing
    assert "none" not in ring.algorithms
    with pytest.raises(TokenError, match="algorithm is not accepted"):
        verify_signature(forge.unsigned(forge.claims(ISSUER), kid="rsa-1"), ring)


def test_hs256_keyed_with_the_public_key_is_refused(rsa: forge.RSAKey) -> None:
    ring = build_key_ring([forge.jwks(rsa)], ["RS256", "HS256"])
    assert ring.algorithms == {"RS256"}
    with pytest.raises(TokenError, match="algorithm is not accepted"):
        verify_signature(forge.hs256_with_public_key(forge.claims(ISSUER), rsa), ring)


def test_tampered_payload_fails_the_signature(rsa: forge.RSAKey) -> None:
    ring = build_key_ring([forge.jwks(rsa)])
    token = forge.sign(forge.claims(ISSUER), rsa)
    with pytest.raises(TokenError, match="signature is invalid"):
        verify_signature(forge.tampered(token, scope="admin"), ring)


def test_token_signed_by_a_stranger_with_a_known_kid_fails(rsa: forge.RSAKey) -> None:
    ring = build_key_ring([forge.jwks(rsa)])
    impostor = forge.rsa_key("rsa-1")
    with pytest.raises(TokenError, match="signature is invalid"):
        verify_signature(forge.sign(forge.claims(ISSUER), impostor), ring)


def test_unknown_kid_raises_unknown_key(rsa: forge.RSAKey) -> None:
    ring = build_key_ring([forge.jwks(rsa)])
    with pytest.raises(UnknownKey):
        verify_signature(forge.sign(forge.claims(ISSUER), forge.rsa_key("rotated-2")), ring)


def test_algorithm_must_fit_the_key_type(rsa: forge.RSAKey, ec: forge.ECKey) -> None:
    """An ES256 token naming the RSA key's kid is refused, though ES256 is allowed for the EC key."""
    ring = build_key_ring([forge.jwks(rsa, ec)])
    token = forge.sign(forge.claims(ISSUER), ec, kid="rsa-1")
    with pytest.raises(TokenError, match="signature is invalid"):
        verify_signature(token, ring)


def test_key_alg_parameter_narrows_the_algorithms(rsa: forge.RSAKey) -> None:
    """The JWK says RS256: a PS256 signature by the same key is refused."""
    ring = build_key_ring([forge.jwks(rsa)], ["RS256", "PS256"])
    same_key_any_alg = forge.load_private({k: v for k, v in rsa.as_dict(private=True).items() if k != "alg"})
    token = forge.sign(forge.claims(ISSUER), same_key_any_alg, alg="PS256")
    with pytest.raises(TokenError, match="signature is invalid"):
        verify_signature(token, ring)
    assert verify_signature(forge.sign(forge.claims(ISSUER), same_key_any_alg, alg="RS256"), ring)


def test_allow_list_follows_the_provider_when_it_advertises(rsa: forge.RSAKey) -> None:
    bare = forge.load_private({k: v for k, v in rsa.as_dict(private=True).items() if k != "alg"})
    ring = build_key_ring([forge.jwks(bare)], ["RS256"])
    assert ring.algorithms == {"RS256"}
    with pytest.raises(TokenError, match="algorithm is not accepted"):
        verify_signature(forge.sign(forge.claims(ISSUER), bare, alg="RS512"), ring)
    derived = build_key_ring([forge.jwks(bare)])  # nothing advertised or declared: the key type decides
    assert verify_signature(forge.sign(forge.claims(ISSUER), bare, alg="RS512"), derived).claims["iss"] == ISSUER


def test_encryption_and_symmetric_keys_are_not_used_for_signatures(rsa: forge.RSAKey) -> None:
    enc = {**dict(rsa.as_dict(private=False)), "use": "enc", "kid": "enc-1"}
    oct_key = {"kty": "oct", "k": forge.b64(b"secret" * 6), "kid": "oct-1", "alg": "HS256"}
    ring = build_key_ring([{"keys": [enc, oct_key, {"kty": "nonsense"}, "garbage"]}])
    assert len(ring) == 0 and not ring.algorithms


def test_token_without_kid_tries_the_compatible_keys(rsa: forge.RSAKey, ec: forge.ECKey) -> None:
    ring = build_key_ring([forge.jwks(rsa, ec)])
    payload = forge.claims(ISSUER)
    token = forge.sign(payload, ec, kid=None)
    assert "kid" not in unverified_parts(token)[0]
    assert verify_signature(token, ring).claims == payload


@pytest.mark.parametrize("token", ["", "abc", "a.b", "a.b.c", "e30.e30.", "W10.e30.sig", "e30.W10.sig"])
def test_malformed_tokens_are_invalid_not_errors(rsa: forge.RSAKey, token: str) -> None:
    ring = build_key_ring([forge.jwks(rsa)])
    with pytest.raises(TokenError):
        verify_signature(token, ring)


def test_looks_like_jwt() -> None:
    assert looks_like_jwt("a.b.c") and not looks_like_jwt("opaque-token") and not looks_like_jwt("a.b.c.d.e")


# Claims.

POLICY = ClaimPolicy(frozenset({ISSUER}), leeway=0)


def test_valid_claims_pass() -> None:
    check_claims(forge.claims(ISSUER), POLICY, time.time())
    check_claims(forge.claims(ISSUER + "/"), POLICY, time.time())  # a trailing slash is the same issuer


@pytest.mark.parametrize(("changes", "message"), [
    ({"iss": "https://evil.example"}, "issuer"),
    ({"iss": None}, "issuer"),
    ({"exp": 1000}, "expired"),
    ({"exp": "never"}, "not a number"),
    ({"exp": None}, "the token has no exp claim"),
    ({"nbf": 4_000_000_000}, "not valid yet"),
    ({"iat": 4_000_000_000}, "in the future"),
])
def test_bad_claims_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(TokenError, match=message):
        check_claims({**forge.claims(ISSUER), **changes}, POLICY, time.time())


def test_leeway_applies_to_exp_nbf_and_iat() -> None:
    now = 1_000_000.0
    lenient = ClaimPolicy(frozenset({ISSUER}), leeway=30)
    check_claims({"iss": ISSUER, "exp": now - 10, "nbf": now + 10, "iat": now + 10}, lenient, now)
    with pytest.raises(TokenError, match="expired"):
        check_claims({"iss": ISSUER, "exp": now - 31}, lenient, now)
    with pytest.raises(TokenError, match="expired"):
        check_claims({"iss": ISSUER, "exp": now}, POLICY, now)


def test_audience_requirement_and_or() -> None:
    # audience_required ["api://a api://b", "api://c"]: both of the first two, or the third
    audience = (frozenset({"api://a", "api://b"}), frozenset({"api://c"}))
    policy = ClaimPolicy(frozenset({ISSUER}), audience=audience)
    now = time.time()
    check_claims({**forge.claims(ISSUER), "aud": ["api://a", "api://b"]}, policy, now)
    check_claims({**forge.claims(ISSUER), "aud": "api://c"}, policy, now)
    for aud in (["api://a"], "api://default", None):
        with pytest.raises(TokenError, match="audience"):
            check_claims({**forge.claims(ISSUER), "aud": aud}, policy, now)


def test_introspection_results_may_omit_iss_and_exp_but_not_carry_a_foreign_or_past_one() -> None:
    now = time.time()
    check_claims({"active": True}, POLICY, now, introspected=True)
    with pytest.raises(TokenError, match="issuer"):
        check_claims({"active": True, "iss": "https://evil.example"}, POLICY, now, introspected=True)
    with pytest.raises(TokenError, match="expired"):
        check_claims({"active": True, "exp": now - 1}, POLICY, now, introspected=True)


# The access token's type (RFC 9068 §2.1, §4).

ID_TOKEN = {"aud": "web-app", "nonce": "n-0S6_WzA2Mj"}


@pytest.mark.parametrize(("typ", "extra", "generic_allowed", "refusal"), [
    ("at+jwt", {}, False, None),
    ("AT+JWT", {}, False, None),  # media types are case-insensitive
    ("application/at+jwt", {}, False, None),
    ("at+jwt", ID_TOKEN, False, None),  # typed by its issuer: the claims are not second-guessed
    ("JWT", {}, False, "the token's typ is JWT where an access token's is at+jwt"),
    (None, {}, False, "the token has no typ where an access token's is at+jwt"),
    ("JWT", {}, True, None),
    ("jwt", {}, True, None),
    ("application/jwt", {}, True, None),
    (None, {}, True, None),
    ("JWT", ID_TOKEN, True, "the token is an ID token, not an access token"),
    (None, {"at_hash": "77QmUPtjPfzWtF2AnpK9RQ"}, True, "the token is an ID token, not an access token"),
    ("JWT", {"c_hash": "LDktKdoQak3Pk0cnXxCltA"}, True, "the token is an ID token, not an access token"),
    ("JWT", {"typ": "ID"}, True, "the token is an ID token, not an access token"),  # Keycloak's marker
    ("JWT", {"typ": "Bearer"}, True, None),  # Keycloak's access tokens
    ("logout+jwt", {}, True, "the token's typ is not at+jwt: it is not an access token"),
    ("dpop+jwt", {}, False, "the token's typ is not at+jwt: it is not an access token"),
])
def test_only_access_tokens_pass_as_bearer_tokens(rsa: forge.RSAKey, typ: str | None, extra: dict[str, str],
                                                  generic_allowed: bool, refusal: str | None) -> None:
    ring = build_key_ring([forge.jwks(rsa)])
    verified = verify_signature(forge.sign({**forge.claims(ISSUER), **extra}, rsa, typ=typ), ring)
    assert verified.typ == typ
    if refusal is None:
        check_access_token_type(verified, generic_allowed)
    else:
        with pytest.raises(TokenError) as refused:
            check_access_token_type(verified, generic_allowed)
        assert refused.value.description == refusal


def test_a_typ_that_is_not_a_string_is_refused(rsa: forge.RSAKey) -> None:
    header = forge.b64(json.dumps({"alg": "RS256", "kid": "rsa-1", "typ": ["at+jwt"]}).encode())
    token = f"{header}.{forge.b64(json.dumps(forge.claims(ISSUER)).encode())}.{forge.b64(b'unchecked')}"
    with pytest.raises(TokenError, match="typ is not a string"):
        verify_signature(token, build_key_ring([forge.jwks(rsa)]))
