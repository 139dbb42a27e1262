"""Unit tests of the pure RFC 6749 modules: parameters, client credentials, scopes, grants, authorization."""

from __future__ import annotations

import base64

import pytest

from oidcgate.idp.protocol import rfc6749_authorization_request as authz
from oidcgate.idp.protocol.rfc6749_errors import (
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from oidcgate.idp.protocol.rfc6749_grants import (
    IssuedCode,
    check_code,
    check_grant_type,
    narrow_scope,
    resolve_scope,
)
from oidcgate.idp.protocol.rfc6749_requests import (
    check_form_content_type,
    extract_client_credentials,
    parse_params,
    parse_scope,
)
from oidcgate.idp.protocol.rfc7636_pkce import s256


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


class TestParams:
    def test_empty_values_count_as_omitted(self) -> None:
        assert parse_params(b"grant_type=client_credentials&scope=") == {"grant_type": "client_credentials"}

    @pytest.mark.parametrize("raw", [b"a=1&a=2", b"a=1&a=", "scope=x&scope=x"])
    def test_a_parameter_twice_is_invalid(self, raw: bytes | str) -> None:
        with pytest.raises(InvalidRequest, match="more than once"):
            parse_params(raw)

    def test_not_utf8_and_too_many(self) -> None:
        with pytest.raises(InvalidRequest, match="UTF-8"):
            parse_params(b"a=%ff")
        with pytest.raises(InvalidRequest, match="too many"):
            parse_params("&".join(f"p{i}=1" for i in range(100)))

    @pytest.mark.parametrize("content_type", [None, "application/json", "multipart/form-data; boundary=x"])
    def test_content_type(self, content_type: str | None) -> None:
        check_form_content_type("application/x-www-form-urlencoded; charset=UTF-8")
        with pytest.raises(InvalidRequest):
            check_form_content_type(content_type)


class TestClientCredentials:
    def test_basic_is_form_urlencoded_first(self) -> None:
        credentials = extract_client_credentials(basic("my%3Aclient", "p%40ss+word"), {})
        assert (credentials.method, credentials.client_id, credentials.secret) == (
            "client_secret_basic", "my:client", "p@ss word")

    def test_post_and_assertion_and_public(self) -> None:
        assert extract_client_credentials(None, {"client_id": "c", "client_secret": "s"}).method == "client_secret_post"
        assertion = extract_client_credentials(None, {
            "client_assertion": "a.b.c",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"})
        assert (assertion.method, assertion.client_id, assertion.assertion) == ("private_key_jwt", None, "a.b.c")
        assert extract_client_credentials(None, {"client_id": "spa"}).method == "none"

    @pytest.mark.parametrize(("authorization", "params", "error"), [
        (None, {}, InvalidClient),
        ("Bearer abc", {}, InvalidClient),
        ("Basic !!!", {}, InvalidClient),
        (basic("c", "s"), {"client_secret": "s", "client_id": "c"}, InvalidRequest),  # two methods
        (basic("c", "s"), {"client_id": "other"}, InvalidClient),
        (None, {"client_secret": "s"}, InvalidRequest),
        (None, {"client_assertion_type": "urn:other", "client_assertion": "x"}, InvalidClient),
    ])
    def test_refused(self, authorization: str | None, params: dict, error: type[Exception]) -> None:
        with pytest.raises(error):
            extract_client_credentials(authorization, params)


class TestScopes:
    def test_parse(self) -> None:
        assert parse_scope(None) is None
        assert parse_scope("a b a") == ("a", "b")
        for bad in ("a  b", " a", 'a"b', "a\\b"):
            with pytest.raises(InvalidScope):
                parse_scope(bad)

    def test_client_credentials(self) -> None:
        granted = ["openid", "orders:read", "orders:write"]
        assert resolve_scope(None, granted, "client_credentials") == ("orders:read", "orders:write")
        assert resolve_scope(("orders:read",), granted, "client_credentials") == ("orders:read",)
        with pytest.raises(InvalidScope, match="openid"):
            resolve_scope(("openid",), granted, "client_credentials")
        with pytest.raises(InvalidScope, match="admin"):
            resolve_scope(("orders:read", "admin"), granted, "client_credentials")
        with pytest.raises(InvalidScope):
            resolve_scope(None, [], "client_credentials")

    def test_refresh_may_narrow_only(self) -> None:
        assert narrow_scope(None, ("a", "b")) == ("a", "b")
        assert narrow_scope(("b",), ("a", "b")) == ("b",)
        with pytest.raises(InvalidScope):
            narrow_scope(("c",), ("a", "b"))


class TestGrants:
    def test_grant_types(self) -> None:
        supported = ("authorization_code", "client_credentials")
        assert check_grant_type("client_credentials", supported, ["client_credentials"]) == "client_credentials"
        with pytest.raises(InvalidRequest):
            check_grant_type(None, supported, [])
        with pytest.raises(UnsupportedGrantType):
            check_grant_type("password", supported, ["client_credentials", "password"])
        with pytest.raises(UnauthorizedClient):
            check_grant_type("authorization_code", supported, ["client_credentials"])

    def test_code(self) -> None:
        code = IssuedCode(client_id="c", redirect_uri="https://app/cb", expires_at=100)
        check_code(code, client_id="c", redirect_uri="https://app/cb", now=99)
        for kwargs in ({"client_id": "d"}, {"now": 100}, {"redirect_uri": "https://app/other"}):
            with pytest.raises(InvalidGrant):
                check_code(code, **{"client_id": "c", "redirect_uri": "https://app/cb", "now": 99, **kwargs})
        with pytest.raises(InvalidRequest):
            check_code(code, client_id="c", redirect_uri=None, now=99)


class TestAuthorizationRequest:
    REGISTERED = {"redirect_uris": ["https://app/cb?x=1"], "grant_types": ["authorization_code"],
                  "granted_scopes": ["openid", "profile"]}
    CHALLENGE = s256("v" * 43)

    def params(self, **overrides: str) -> dict[str, str]:
        return {"client_id": "c", "response_type": "code", "redirect_uri": "https://app/cb?x=1", "scope": "openid",
                "state": "s", "nonce": "n", "code_challenge": self.CHALLENGE, "code_challenge_method": "S256",
                **overrides}

    def test_valid_and_round_trips_through_the_form(self) -> None:
        request = authz.validate(self.params(prompt="login", max_age="30"), **self.REGISTERED)
        assert request.scopes == ("openid",) and request.prompts == {"login"} and request.max_age == 30
        assert authz.validate(request.as_params(), **self.REGISTERED) == request

    def test_unregistered_redirect_uri_is_not_redirectable(self) -> None:
        with pytest.raises(InvalidRequest):
            authz.validate(self.params(redirect_uri="https://app/cb"), **self.REGISTERED)

    @pytest.mark.parametrize(("overrides", "error"), [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "email"}, "invalid_scope"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"prompt": "none login"}, "invalid_request"),
        ({"max_age": "-1"}, "invalid_request"),
        ({"response_mode": "fragment"}, "invalid_request"),
        ({"request_uri": "urn:x"}, "request_uri_not_supported"),
    ])
    def test_redirectable_errors(self, overrides: dict, error: str) -> None:
        with pytest.raises(authz.AuthorizationError) as raised:
            authz.validate(self.params(**overrides), **self.REGISTERED)
        assert raised.value.error.error == error and raised.value.state == "s"
        url = authz.error_url(raised.value, "https://idp/oauth2/default")
        assert url.startswith("https://app/cb?x=1&error=" + error) and "state=s" in url

    def test_unauthorized_client(self) -> None:
        with pytest.raises(authz.AuthorizationError) as raised:
            authz.validate(self.params(), **{**self.REGISTERED, "grant_types": ["client_credentials"]})
        assert raised.value.error.error == "unauthorized_client"
