"""Standard OAuth clients (authlib's httpx OAuth2Client) against a real `oidcgate idp` process; every
issued token is verified independently with authlib.jose against the published JWKS."""

from __future__ import annotations

import secrets
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwk

from tests.idp.helpers import (
    REDIRECT_URI,
    USER_SCOPES,
    Idp,
    OAuth2Client,
    OAuthError,
    PrivateKeyJWT,
    authorize_with_login,
    cli,
    verify_jwt,
)
from tests.support.polling import wait_until

pytestmark = pytest.mark.e2e


def _access_token_checks(idp: Idp, token: str, *, sub: str, client_id: str, scope: str) -> dict:
    header, claims = verify_jwt(token, idp.jwks(), iss=idp.issuer(), aud="api://default", sub=sub,
                                client_id=client_id, scope=scope)
    assert header["typ"] == "at+jwt"
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["jti"]
    return claims


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_client_credentials_with_a_secret(idp: Idp, method: str) -> None:
    client = idp.cc_client(token_endpoint_auth_method=method)
    with OAuth2Client(client["client_id"], client["client_secret"], token_endpoint_auth_method=method,
                      scope="orders:read") as oauth:
        token = oauth.fetch_token(idp.endpoint("token"), grant_type="client_credentials")
    assert token["token_type"] == "Bearer" and token["expires_in"] == 3600 and token["scope"] == "orders:read"
    assert "refresh_token" not in token and "id_token" not in token
    claims = _access_token_checks(idp, token["access_token"], sub=client["client_id"],
                                  client_id=client["client_id"], scope="orders:read")
    assert "groups" not in claims


def test_client_credentials_without_scope_gets_every_granted_scope(idp: Idp) -> None:
    client = idp.cc_client()
    with OAuth2Client(client["client_id"], client["client_secret"]) as oauth:
        token = oauth.fetch_token(idp.endpoint("token"), grant_type="client_credentials")
    assert token["scope"] == "orders:read orders:write"


def test_client_credentials_with_private_key_jwt(idp: Idp) -> None:
    private_key = jwk.generate_key("RSA", 2048, parameters={"alg": "RS256"}, auto_kid=True)
    client = idp.cc_client(token_endpoint_auth_method="private_key_jwt",
                           jwks={"keys": [private_key.as_dict(private=False)]})
    assert client["client_secret"] is None
    token_url = idp.endpoint("token")
    with OAuth2Client(client["client_id"], private_key.as_pem(private=True), token_endpoint_auth_method="private_key_jwt",
                      scope="orders:write") as oauth:
        oauth.register_client_auth_method(PrivateKeyJWT(token_url))
        token = oauth.fetch_token(token_url, grant_type="client_credentials")
        again = oauth.fetch_token(token_url, grant_type="client_credentials")  # a fresh assertion (jti) each time
    for issued in (token, again):
        _access_token_checks(idp, issued["access_token"], sub=client["client_id"], client_id=client["client_id"],
                             scope="orders:write")


def _web_client(client: dict) -> OAuth2Client:
    return OAuth2Client(client["client_id"], client["client_secret"], scope=USER_SCOPES, redirect_uri=REDIRECT_URI,
                        code_challenge_method="S256")


def _web_login(idp: Idp, browser: httpx.Client, username: str, oauth: OAuth2Client) -> tuple[dict, str]:
    """The authorization code flow with PKCE through the login form; returns (token, nonce)."""
    verifier = secrets.token_urlsafe(48)
    nonce = secrets.token_urlsafe(12)
    url, state = oauth.create_authorization_url(idp.endpoint("authorize"), code_verifier=verifier, nonce=nonce)
    answer = authorize_with_login(browser, url, username)
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(REDIRECT_URI + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == [state] and query["iss"] == [idp.issuer()] and query["code"]
    token = oauth.fetch_token(idp.endpoint("token"), authorization_response=location, code_verifier=verifier)
    return token, nonce


def test_authorization_code_with_pkce_through_the_login_form(idp: Idp, browser: httpx.Client) -> None:
    user = idp.create_user("alice", groups=["admins", "users"], name="Alice Liddell", email="alice@example.com")
    client = idp.web_client()
    with _web_client(client) as oauth:
        token, nonce = _web_login(idp, browser, "alice", oauth)
        assert set(token) >= {"access_token", "id_token", "refresh_token", "expires_in", "scope"}
        access = _access_token_checks(idp, token["access_token"], sub=user["id"], client_id=client["client_id"],
                                      scope=USER_SCOPES)
        assert access["groups"] == ["admins", "users"] and access["auth_time"] <= time.time()
        _, id_claims = verify_jwt(token["id_token"], idp.jwks(), iss=idp.issuer(), aud=client["client_id"],
                                       sub=user["id"], nonce=nonce, preferred_username="alice",
                                       email="alice@example.com", groups=["admins", "users"])
        assert id_claims["at_hash"] and id_claims["auth_time"] == access["auth_time"]

        userinfo = oauth.get(idp.endpoint("userinfo"))
        assert userinfo.status_code == 200
        assert userinfo.json() == {"sub": user["id"], "name": "Alice Liddell", "preferred_username": "alice",
                                   "email": "alice@example.com", "email_verified": False,
                                   "groups": ["admins", "users"]}

    # The login session is remembered: a second authorization needs no password.
    with OAuth2Client(client["client_id"], client["client_secret"], scope="openid", redirect_uri=REDIRECT_URI,
                      code_challenge_method="S256") as second:
        url, _ = second.create_authorization_url(idp.endpoint("authorize"), code_verifier=secrets.token_urlsafe(48))
        answer = browser.get(url)
        assert answer.status_code == 302 and "code=" in answer.headers["location"]


def test_refresh_token_rotation_and_reuse_detection(idp: Idp, browser: httpx.Client) -> None:
    idp.create_user("rotating-rita")
    client = idp.web_client()
    with _web_client(client) as oauth:
        first, _ = _web_login(idp, browser, "rotating-rita", oauth)
        second = dict(oauth.refresh_token(idp.endpoint("token"), refresh_token=first["refresh_token"]))
        assert second["refresh_token"] != first["refresh_token"]
        verify_jwt(second["access_token"], idp.jwks(), iss=idp.issuer())
        verify_jwt(second["id_token"], idp.jwks(), aud=client["client_id"])
        third = dict(oauth.refresh_token(idp.endpoint("token"), refresh_token=second["refresh_token"],
                                         scope="openid orders:read"))  # narrowing is allowed
        assert third["scope"] == "openid orders:read"

        with pytest.raises(OAuthError) as reused:
            oauth.refresh_token(idp.endpoint("token"), refresh_token=first["refresh_token"])
        assert reused.value.error == "invalid_grant"
        # Reuse revoked the whole family: the newest refresh token and its access token are dead too.
        with pytest.raises(OAuthError) as newest:
            oauth.refresh_token(idp.endpoint("token"), refresh_token=third["refresh_token"])
        assert newest.value.error == "invalid_grant"
        introspected = oauth.introspect_token(idp.endpoint("introspect"), token=third["access_token"])
        assert introspected.json() == {"active": False}


def test_introspection_and_revocation(idp: Idp, browser: httpx.Client) -> None:
    idp.create_user("ivan")
    web = idp.web_client()
    resource_server = idp.cc_client()
    with _web_client(web) as oauth, OAuth2Client(resource_server["client_id"], resource_server["client_secret"]) as rs:
        token, _ = _web_login(idp, browser, "ivan", oauth)
        active = rs.introspect_token(idp.endpoint("introspect"), token=token["access_token"]).json()
        assert active["active"] is True and active["username"] == "ivan" and active["client_id"] == web["client_id"]
        assert active["scope"] == USER_SCOPES and active["token_type"] == "Bearer"
        assert active["iss"] == idp.issuer() and active["aud"] == "api://default"

        # Refresh tokens are only shown to the client they were issued to.
        mine = oauth.introspect_token(idp.endpoint("introspect"), token=token["refresh_token"],
                                      token_type_hint="refresh_token").json()
        assert mine["active"] is True and mine["client_id"] == web["client_id"]
        assert mine["token_type"] == "refresh_token"  # so that no resource server takes it for an access token
        theirs = rs.introspect_token(idp.endpoint("introspect"), token=token["refresh_token"]).json()
        assert theirs == {"active": False}
        assert rs.introspect_token(idp.endpoint("introspect"), token="not-a-token").json() == {"active": False}

        revoked = oauth.revoke_token(idp.endpoint("revoke"), token=token["access_token"], token_type_hint="access_token")
        assert revoked.status_code == 200
        assert rs.introspect_token(idp.endpoint("introspect"), token=token["access_token"]).json() == {"active": False}
        userinfo = httpx.get(idp.endpoint("userinfo"), headers={"Authorization": f"Bearer {token['access_token']}"})
        assert userinfo.status_code == 401 and 'error="invalid_token"' in userinfo.headers["www-authenticate"]

        assert oauth.revoke_token(idp.endpoint("revoke"), token=token["refresh_token"]).status_code == 200
        with pytest.raises(OAuthError) as refused:
            oauth.refresh_token(idp.endpoint("token"), refresh_token=token["refresh_token"])
        assert refused.value.error == "invalid_grant"
        # RFC 7009 §2.2: an unknown token is "revoked" as well.
        assert oauth.revoke_token(idp.endpoint("revoke"), token="unknown").status_code == 200


def test_tokens_verify_before_and_after_key_rotation(idp: Idp) -> None:
    client = idp.cc_client()

    def issue() -> str:
        with OAuth2Client(client["client_id"], client["client_secret"]) as oauth:
            return str(oauth.fetch_token(idp.endpoint("token"), grant_type="client_credentials")["access_token"])

    before = issue()
    old_kids = {key["kid"] for key in idp.jwks()["keys"]}
    verify_jwt(before, idp.jwks())

    rotated = cli("keys", "rotate", "--json", database=idp.database)  # another process, like an operator would
    assert rotated.returncode == 0, rotated.stderr
    wait_until(lambda: {key["kid"] for key in idp.jwks()["keys"]} != old_kids, interval=0.2,
               what="the rotated key published")
    published = {key["kid"] for key in idp.jwks()["keys"]}
    assert published > old_kids, "the new key is published and the old ones stay"

    after = issue()
    header, _ = verify_jwt(after, idp.jwks())
    assert header["kid"] in published - old_kids
    verify_jwt(before, idp.jwks())  # tokens signed with the old key still verify


def test_es256_authorization_server_with_its_own_audience(idp: Idp) -> None:
    created = idp.admin("POST", "/api/v1/authorizationServers",
                        {"id": "payments", "audience": "api://payments", "signing_alg": "ES256",
                         "access_token_lifetime": 600})
    assert created.status_code == 201, created.text
    metadata = httpx.get(f"{idp.issuer('payments')}/.well-known/openid-configuration").json()
    assert metadata["issuer"] == idp.issuer("payments")
    assert metadata["id_token_signing_alg_values_supported"] == ["ES256"]
    client = idp.cc_client()
    with OAuth2Client(client["client_id"], client["client_secret"]) as oauth:
        token = oauth.fetch_token(idp.endpoint("token", "payments"), grant_type="client_credentials")
    header, claims = verify_jwt(token["access_token"], idp.jwks("payments"), iss=idp.issuer("payments"),
                                aud="api://payments")
    assert header["alg"] == "ES256" and claims["exp"] - claims["iat"] == 600 and token["expires_in"] == 600
    # A token of one server is not active at another.
    with OAuth2Client(client["client_id"], client["client_secret"]) as oauth:
        other = oauth.introspect_token(idp.endpoint("introspect"), token=token["access_token"]).json()
    assert other == {"active": False}

    rotated = idp.admin("POST", "/api/v1/authorizationServers/payments/keys/rotate", {"alg": "RS256"})
    assert rotated.status_code == 200 and rotated.json()["alg"] == "RS256"
    with OAuth2Client(client["client_id"], client["client_secret"]) as oauth:
        after = oauth.fetch_token(idp.endpoint("token", "payments"), grant_type="client_credentials")
    assert verify_jwt(after["access_token"], idp.jwks("payments"))[0]["alg"] == "RS256"
    verify_jwt(token["access_token"], idp.jwks("payments"))
