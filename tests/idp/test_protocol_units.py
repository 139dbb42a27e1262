"""Unit tests of the other pure protocol modules: PKCE, client assertions, access and ID tokens,
introspection, revocation, bearer tokens, discovery; and of hashing and keys."""

from __future__ import annotations

import pytest
from joserfc import jwk, jwt

from oidcgate.idp.hashing import Argon2Cost, SecretHasher, VerificationCache
from oidcgate.idp.protocol import rfc6750_bearer, rfc7009_revocation, rfc7523_client_assertion, rfc7636_pkce
from oidcgate.idp.protocol import rfc7662_introspection as introspection
from oidcgate.idp.protocol import rfc8414_discovery as discovery
from oidcgate.idp.protocol import rfc9068_access_token as access_tokens
from oidcgate.idp.protocol.oidc_core import UserProfile, id_token_claims, scoped_claims, token_hash
from oidcgate.idp.protocol.rfc6749_errors import InvalidClient, InvalidGrant, InvalidRequest
from oidcgate.idp.storage import keys
from tests.support.clock import Clock


def test_pkce_rfc7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert rfc7636_pkce.s256(verifier) == challenge
    rfc7636_pkce.verify(verifier, challenge)
    with pytest.raises(InvalidGrant):
        rfc7636_pkce.verify(verifier[:-1] + "l", challenge)
    with pytest.raises(InvalidGrant):
        rfc7636_pkce.verify("short", challenge)
    with pytest.raises(InvalidRequest):
        rfc7636_pkce.verify(None, challenge)
    assert rfc7636_pkce.check_challenge(challenge, "S256") == challenge
    for bad in ((challenge, "plain"), (challenge, None), (None, "S256"), ("too-short", "S256")):
        with pytest.raises(InvalidRequest):
            rfc7636_pkce.check_challenge(*bad)


class TestClientAssertion:
    KEY = jwk.generate_key("EC", "P-256", auto_kid=True)
    NOW = 1_800_000_000
    AUD = "https://idp/oauth2/default/v1/token"

    def assertion(self, **claims: object) -> str:
        payload = {"iss": "c", "sub": "c", "aud": self.AUD, "exp": self.NOW + 60, "jti": "j", **claims}
        return jwt.encode({"alg": "ES256", "kid": self.KEY.kid}, {k: v for k, v in payload.items() if v is not None},
                          self.KEY)

    def verify(self, assertion: str) -> rfc7523_client_assertion.VerifiedAssertion:
        keys = rfc7523_client_assertion.load_client_keys({"keys": [self.KEY.as_dict(private=True)]})
        return rfc7523_client_assertion.verify(assertion, client_id="c", keys=keys, audiences={self.AUD}, now=self.NOW)

    def test_valid(self) -> None:
        assert self.verify(self.assertion(aud=[self.AUD, "x"])) == rfc7523_client_assertion.VerifiedAssertion("j", self.NOW + 60)
        assert rfc7523_client_assertion.unverified_issuer(self.assertion()) == "c"
        assert rfc7523_client_assertion.unverified_issuer("garbage") is None

    @pytest.mark.parametrize("claims", [
        {"iss": "d"}, {"sub": "d"}, {"aud": "https://elsewhere"}, {"exp": None}, {"exp": NOW - 120},
        {"exp": NOW + 7200}, {"nbf": NOW + 600}, {"jti": None},
    ])
    def test_refused(self, claims: dict) -> None:
        with pytest.raises(InvalidClient):
            self.verify(self.assertion(**claims))

    def test_symmetric_algorithms_are_refused(self) -> None:
        secret = jwk.OctKey.generate_key(256)
        token = jwt.encode({"alg": "HS256"}, {"iss": "c", "sub": "c", "aud": self.AUD, "exp": self.NOW + 60,
                                              "jti": "j"}, secret)
        with pytest.raises(InvalidClient):
            rfc7523_client_assertion.verify(token, client_id="c", keys=jwk.KeySet([secret]), audiences={self.AUD},
                                            now=self.NOW)


class TestTokens:
    def test_access_token_round_trip(self) -> None:
        key = keys.generate("RS256")
        claims = access_tokens.access_token_claims(issuer="https://idp/oauth2/default", audience="api://default",
                                                   client_id="c", subject="u", scopes=("a", "b"), jti="j", now=1000,
                                                   lifetime=60, groups=["g"], auth_time=990)
        assert claims == {"iss": "https://idp/oauth2/default", "sub": "u", "aud": "api://default", "iat": 1000,
                          "exp": 1060, "jti": "j", "client_id": "c", "scope": "a b", "auth_time": 990,
                          "groups": ["g"]}
        token = jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "at+jwt"}, claims, key)
        public = jwk.KeySet.import_key_set({"keys": [key.as_dict(private=False)]})
        assert access_tokens.decode(token, public, issuer="https://idp/oauth2/default", now=1059) == claims
        for issuer, now in (("https://other", 1000), ("https://idp/oauth2/default", 1060)):
            with pytest.raises(access_tokens.InvalidAccessToken):
                access_tokens.decode(token, public, issuer=issuer, now=now)
        id_token = jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "JWT"}, claims, key)
        with pytest.raises(access_tokens.InvalidAccessToken, match="typ"):
            access_tokens.decode(id_token, public, issuer="https://idp/oauth2/default", now=1000)
        for garbage in ("", "a.b.c", "e30.e30.e30", token + "x"):
            with pytest.raises(access_tokens.InvalidAccessToken):
                access_tokens.decode(garbage, public, issuer="https://idp/oauth2/default", now=1000)

    def test_id_token_and_scoped_claims(self) -> None:
        user = UserProfile(sub="u1", username="alice", groups=("admins",), name="Alice", email="a@example.com")
        assert scoped_claims(user, ["openid"]) == {"sub": "u1"}
        assert scoped_claims(user, ["openid", "profile", "groups"]) == {
            "sub": "u1", "name": "Alice", "preferred_username": "alice", "groups": ["admins"]}
        claims = id_token_claims(issuer="https://idp", client_id="c", user=user, scopes=["openid", "email"], now=10,
                                 lifetime=5, auth_time=9, access_token="token", nonce=None)
        assert claims["aud"] == "c" and claims["exp"] == 15 and "nonce" not in claims
        assert claims["email"] == "a@example.com" and claims["at_hash"] == token_hash("token")
        # OIDC Core §3.1.3.6 example-style check: at_hash is base64url of the left half of SHA-256.
        assert len(token_hash("token")) == 22


def test_introspection_and_revocation_helpers() -> None:
    assert introspection.hinted_order("refresh_token") == ("refresh_token", "access_token")
    assert introspection.hinted_order("nonsense") == ("access_token", "refresh_token")
    response = introspection.access_token_response({"scope": "a", "sub": "s", "exp": 5, "x": 1}, "alice")
    assert response == {"active": True, "token_type": "Bearer", "scope": "a", "sub": "s", "exp": 5,
                        "username": "alice"}
    refresh = introspection.refresh_token_response(issuer="https://idp", client_id="c", sub="s", username=None,
                                                   scope="a", iat=1, exp=2)
    assert refresh["token_type"] == "refresh_token" and refresh["active"] is True
    assert rfc7009_revocation.check_request("t", "refresh_token") == "t"
    with pytest.raises(rfc7009_revocation.UnsupportedTokenType):
        rfc7009_revocation.check_request("t", "id_token")
    with pytest.raises(InvalidRequest):
        rfc7009_revocation.check_request(None, None)


def test_bearer_extraction() -> None:
    assert rfc6750_bearer.extract_token("Bearer abc", None) == "abc"
    assert rfc6750_bearer.extract_token(None, {"access_token": "abc"}) == "abc"
    with pytest.raises(rfc6750_bearer.MissingToken) as missing:
        rfc6750_bearer.extract_token(None, None)
    assert missing.value.status_code == 401 and "error=" not in missing.value.headers["WWW-Authenticate"]
    with pytest.raises(rfc6750_bearer.InvalidRequest) as both:
        rfc6750_bearer.extract_token("Bearer a", {"access_token": "b"})
    assert 'error="invalid_request"' in both.value.headers["WWW-Authenticate"]


def test_discovery_lists_what_is_supported() -> None:
    oidc = discovery.openid_configuration("https://idp/oauth2/x", {"openid", "b"}, ("client_credentials",), {"ES256"})
    assert oidc["scopes_supported"] == ["b", "openid"] and oidc["id_token_signing_alg_values_supported"] == ["ES256"]
    assert oidc["jwks_uri"] == "https://idp/oauth2/x/v1/keys"
    assert "none" not in oidc["introspection_endpoint_auth_methods_supported"]
    assert oidc["grant_types_supported"] == ["client_credentials"]
    assert discovery.authorization_server_metadata("https://i", set(), ()).keys() < oidc.keys()


def test_hashing_and_verification_cache() -> None:
    hasher = SecretHasher(Argon2Cost(time_cost=1, memory_cost=1024, parallelism=1))
    stored = hasher.hash("s3cret")
    assert stored.startswith("$argon2id$") and "s3cret" not in stored
    assert hasher.verify(stored, "s3cret") and not hasher.verify(stored, "wrong") and not hasher.verify("junk", "x")
    cache = VerificationCache(ttl=60)
    cache.remember("c", "s3cret", stored)
    assert cache.hit("c", "s3cret", stored)
    assert not cache.hit("c", "other", stored) and not cache.hit("d", "s3cret", stored)
    assert not cache.hit("c", "s3cret", hasher.hash("s3cret"))  # a new stored hash misses
    cache.remember("c", "s3cret", stored)
    cache.forget("c")
    assert not cache.hit("c", "s3cret", stored)
    clock = Clock(base=lambda: 0.0)
    expiring = VerificationCache(ttl=30, clock=clock)
    expiring.remember("c", "s", stored)
    clock.advance(29.9)
    assert expiring.hit("c", "s", stored)
    clock.advance(0.1)
    assert not expiring.hit("c", "s", stored)


def test_keys() -> None:
    for alg, kty in (("RS256", "RSA"), ("ES256", "EC")):
        key = keys.generate(alg)
        assert key.alg == alg and key.kid == key.thumbprint() and key.as_dict()["kty"] == kty
    with pytest.raises(ValueError):
        keys.generate("HS256")


def test_ttl_cache_expires_and_evicts() -> None:
    from oidcgate.idp.ttl_cache import ThreadSafeTtlCache

    clock = Clock(base=lambda: 0.0)
    cache: ThreadSafeTtlCache[str, int] = ThreadSafeTtlCache(ttl=1.0, max_entries=2, clock=clock)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (None, 2, 3)
    clock.advance(1.0)
    assert cache.get("b") is None
    cache.put("d", 4)
    cache.discard(lambda key: key == "d")
    assert cache.get("d") is None
    assert ThreadSafeTtlCache[str, int](ttl=0).get("x") is None
