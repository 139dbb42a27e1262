"""The access phase against a third-party provider process (oauth2-mock-server): client credentials, bearer
tokens, every refusal, caching proven by the provider's own request counts and the plugin's counters.

oauth2-mock-server types its access tokens `JWT`, as Okta, Keycloak, Auth0 and Entra ID do, so these routes
set `bearer_token_typ_jwt_allowed` (the default accepts only RFC 9068 `at+jwt`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from oidcgate.config.entities import Consumer
from oidcgate.jwt.verify import unverified_parts
from oidcgate.plugins.openid_connect.client_auth import basic_authorization
from oidcgate.plugins.openid_connect.discovery import MIN_REDISCOVERY_INTERVAL
from oidcgate.plugins.openid_connect.transport import provider_requests
from tests.plugins.openid_connect.harness import Gateway
from tests.plugins.openid_connect.providers import AUDIENCE, MOCK_CLIENTS, MockProvider
from tests.support import forge
from tests.support.clock import Clock

pytestmark = pytest.mark.e2e
MakeGateway = Callable[..., Gateway]
SVC_SECRET = MOCK_CLIENTS["svc"]["secret"]


def config(mock: MockProvider, **extra: Any) -> dict[str, Any]:
    return {"issuer": mock.issuer, "scopes": ["orders:read"], "upstream_headers_claims": ["iss"],
            "upstream_headers_names": ["Issuer_Header"], "bearer_token_typ_jwt_allowed": True, **extra}


def counters() -> dict[str, int]:
    return {name: provider_requests(name) for name in ("discovery", "jwks", "token", "introspection")}


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before[name] for name in before}


async def test_no_credentials_is_a_bare_401(mock: MockProvider, gateway: MakeGateway) -> None:
    result = await gateway(config(mock)).call()
    assert result.status == 401
    assert result.body == {"message": "Unauthorized"}
    assert result.headers == {"WWW-Authenticate": 'Bearer realm="oidcgate"'}  # RFC 6750 §3.1: no error code


async def test_client_credentials_get_a_token_and_the_issuer_header(mock: MockProvider, gateway: MakeGateway) -> None:
    result = await gateway(config(mock)).basic("svc", SVC_SECRET)
    assert result.status == 200
    upstream = result.upstream
    assert upstream.get("Issuer-Header") == mock.issuer
    scheme, _, token = (upstream.get("Authorization") or "").partition(" ")
    assert scheme == "Bearer" and token.count(".") == 2
    identity = result.ctx.identity
    assert identity is not None
    assert (identity.subject, identity.client_id, identity.scopes) == ("svc", "svc", ("orders:read",))
    assert identity.groups == ("admins", "users") and identity.source == "openid-connect:client_credentials"
    assert identity.claims["aud"] == AUDIENCE
    assert result.ctx.credential == {"id": "svc", "issuer": mock.issuer, "method": "client_credentials"}


async def test_a_thousand_requests_cost_one_token_request(mock: MockProvider, gateway: MakeGateway) -> None:
    gw = gateway(config(mock))
    provider_before, plugin_before = mock.counts(), counters()
    tokens = set()
    for _ in range(1000):
        result = await gw.basic("svc", SVC_SECRET)
        assert result.status == 200
        tokens.add(result.upstream.get("Authorization"))
    assert len(tokens) == 1
    provider = delta(provider_before, mock.counts())
    assert provider == {"discovery": 1, "jwks": 1, "token": 1, "introspect": 0}
    assert delta(plugin_before, counters()) == {"discovery": 1, "jwks": 1, "token": 1, "introspection": 0}


async def test_concurrent_first_requests_make_one_token_request(mock: MockProvider, gateway: MakeGateway) -> None:
    gw = gateway(config(mock))
    before = mock.counts()
    results = await asyncio.gather(*(gw.basic("reader", "reader-secret") for _ in range(50)))
    assert [r.status for r in results] == [200] * 50
    assert len({r.upstream.get("Authorization") for r in results}) == 1
    assert delta(before, mock.counts()) == {"discovery": 1, "jwks": 1, "token": 1, "introspect": 0}


async def test_wrong_secret_is_401_and_cached_briefly(mock: MockProvider, gateway: MakeGateway) -> None:
    gw = gateway(config(mock, cache_ttl_neg=60))
    before = mock.counts()
    for _ in range(20):
        result = await gw.basic("svc", "wrong-secret")
        assert result.status == 401
        assert 'error="invalid_token"' in result.description
        assert "wrong-secret" not in str(result.body) + result.description
    assert delta(before, mock.counts())["token"] == 1
    assert (await gw.basic("svc", SVC_SECRET)).status == 200  # the right secret is a different cache key
    assert (await gw.basic("nobody", "x")).status == 401


async def test_scopes_the_client_lacks_are_403(mock: MockProvider, gateway: MakeGateway) -> None:
    result = await gateway(config(mock, scopes=["orders:write"])).basic("reader", "reader-secret")
    assert result.status == 403
    assert 'error="insufficient_scope"' in result.description
    assert result.body == {"message": "Forbidden"}


async def test_client_credentials_in_query_and_body_with_hidden_credentials(mock: MockProvider,
                                                                           gateway: MakeGateway) -> None:
    gw = gateway(config(mock, hide_credentials=True))
    query = await gw.call(query="page=2&client_id=reader&client_secret=reader-secret")
    assert query.status == 200 and query.ctx.service_request.query_string == "page=2"
    body = await gw.call([("Content-Type", "application/x-www-form-urlencoded")], method="POST",
                         body=b"client_id=reader&client_secret=reader-secret&item=1")
    assert body.status == 200 and body.ctx.service_request.body == b"item=1"
    only_header = gateway(config(mock, client_credentials_param_type=["header"]))
    assert (await only_header.call(query="client_id=reader&client_secret=reader-secret")).status == 401


async def test_bearer_token_from_the_provider(mock: MockProvider, gateway: MakeGateway) -> None:
    token = mock.token("svc", "orders:read orders:write")
    gw = gateway(config(mock, scopes_required=["orders:write"]))
    before = mock.counts()
    for _ in range(200):
        result = await gw.bearer(token)
        assert result.status == 200
    assert result.upstream.get("Authorization") == f"Bearer {token}"
    assert result.upstream.get("Issuer-Header") == mock.issuer
    assert result.ctx.identity is not None and result.ctx.identity.source == "openid-connect:bearer"
    assert delta(before, mock.counts()) == {"discovery": 1, "jwks": 1, "token": 0, "introspect": 0}
    assert (await gw.call(query=f"access_token={token}")).status == 200


def provider_signed(mock: MockProvider, typ: str | None = "JWT", **changes: Any) -> str:
    """A token signed with the provider's own key, with claims the provider would never issue (None: no such claim)."""
    payload = {"iss": mock.issuer, "sub": "svc", "client_id": "svc", "aud": AUDIENCE, "scope": "orders:read",
               "iat": int(time.time()), "exp": int(time.time()) + 300, **changes}
    return forge.sign({k: v for k, v in payload.items() if v is not None}, mock.signing_key(), typ=typ)


@pytest.mark.parametrize(("forgery", "status", "description"), [
    ("expired", 401, "the token has expired"),
    ("not-yet-valid", 401, "the token is not valid yet"),
    ("wrong-issuer", 401, "the token's issuer is not accepted"),
    ("wrong-audience", 401, "the token's audience is not accepted"),
    ("missing-scope", 403, "the token lacks the required scopes"),
    ("missing-group", 403, "the token lacks the required groups"),
    ("tampered", 401, "the token's signature is invalid"),
    ("alg-none", 401, "the token's signature algorithm is not accepted"),
    ("hs256-public-key", 401, "the token's signature algorithm is not accepted"),
    ("stranger-key", 401, "the token is signed with an unknown key"),
    ("garbage", 401, "the token is not a well-formed JWT"),
    ("opaque", 401, "the token is not a JWT and introspection is not configured"),
    ("no-exp", 401, "the token has no exp claim"),
    ("id-token", 401, "the token is an ID token, not an access token"),
    ("logout-token", 401, "the token's typ is not at+jwt: it is not an access token"),
])
async def test_refused_tokens(mock: MockProvider, gateway: MakeGateway, forgery: str, status: int,
                              description: str) -> None:
    now = int(time.time())
    provider_key = mock.signing_key()
    public = forge.RSAKey.import_key(dict(provider_key.as_dict(private=False)))
    good = provider_signed(mock, groups=["users"])
    token = {
        "expired": lambda: provider_signed(mock, iat=now - 600, exp=now - 60),
        "not-yet-valid": lambda: provider_signed(mock, nbf=now + 600),
        "wrong-issuer": lambda: provider_signed(mock, iss="http://127.0.0.1:1/evil"),
        "wrong-audience": lambda: provider_signed(mock, aud="api://someone-else"),
        "missing-scope": lambda: provider_signed(mock, scope="orders:write"),
        "missing-group": lambda: provider_signed(mock, groups=["guests"]),
        "tampered": lambda: forge.tampered(good, scope="orders:read admin"),
        "alg-none": lambda: forge.unsigned({"iss": mock.issuer, "scope": "orders:read"}, kid=provider_key.kid),
        "hs256-public-key": lambda: forge.hs256_with_public_key({"iss": mock.issuer}, public),
        "stranger-key": lambda: forge.sign({"iss": mock.issuer, "exp": now + 60}, forge.rsa_key("stranger")),
        "garbage": lambda: "not!base64.at!all.really",
        "opaque": lambda: "an-opaque-token",
        "no-exp": lambda: provider_signed(mock, exp=None),
        "id-token": lambda: provider_signed(mock, nonce="n-0S6_WzA2Mj", at_hash="77QmUPtjPfzWtF2AnpK9RQ"),
        "logout-token": lambda: forge.sign({"iss": mock.issuer, "aud": AUDIENCE, "exp": now + 60}, provider_key,
                                           typ="logout+jwt"),
    }[forgery]()
    gw = gateway(config(mock, audience_required=[AUDIENCE], scopes_required=["orders:read"],
                        groups_required=["users", "admins"]))
    assert (await gw.bearer(good)).status == 200
    result = await gw.bearer(token)
    assert result.status == status
    error = "insufficient_scope" if status == 403 else "invalid_token"
    assert result.description == f'Bearer realm="oidcgate", error="{error}", error_description="{description}"'
    assert result.body == {"message": "Forbidden" if status == 403 else "Unauthorized"}


async def test_only_at_jwt_passes_unless_the_route_allows_jwt(mock: MockProvider, gateway: MakeGateway) -> None:
    """RFC 9068 §4 by default: a token typed JWT, or not typed, is refused until the route allows it."""
    strict = gateway(config(mock, bearer_token_typ_jwt_allowed=False))
    typed_jwt = await strict.bearer(mock.token())  # the provider's own access token, typed JWT
    assert typed_jwt.status == 401
    assert typed_jwt.description == ('Bearer realm="oidcgate", error="invalid_token", '
                                     'error_description="the token\'s typ is JWT where an access token\'s is at+jwt"')
    untyped = await strict.bearer(provider_signed(mock, typ=None))
    assert untyped.status == 401 and "the token has no typ where an access token's is at+jwt" in untyped.description
    assert (await strict.bearer(provider_signed(mock, typ="at+jwt"))).status == 200
    assert (await strict.bearer(provider_signed(mock, typ="application/AT+JWT"))).status == 200
    assert (await strict.basic("svc", SVC_SECRET)).status == 200  # a token the gateway got itself is one

    lenient = gateway(config(mock), env=strict.env)
    assert (await lenient.bearer(mock.token())).status == 200
    assert (await lenient.bearer(provider_signed(mock, typ=None))).status == 200


async def test_leeway_accepts_a_just_expired_token(mock: MockProvider, gateway: MakeGateway) -> None:
    token = provider_signed(mock, exp=int(time.time()) - 5)
    assert (await gateway(config(mock)).bearer(token)).status == 401
    assert (await gateway(config(mock, leeway=60)).bearer(token)).status == 200


async def test_roles_and_nested_claim_paths(mock: MockProvider, gateway: MakeGateway) -> None:
    token = provider_signed(mock, realm_access={"roles": ["auditor", "ops"]})
    gw = gateway(config(mock, roles_claim=["realm_access", "roles"], roles_required=["admin", "ops auditor"]))
    assert (await gw.bearer(token)).status == 200
    assert (await gw.bearer(provider_signed(mock, realm_access={"roles": ["ops"]}))).status == 403


async def test_unknown_kid_refetches_keys_at_most_once_per_rediscovery_lifetime(mock: MockProvider,
                                                                                gateway: MakeGateway) -> None:
    gw = gateway(config(mock, rediscovery_lifetime=0))
    gw.provider.clock = clock = Clock(time.monotonic)
    assert (await gw.bearer(mock.token())).status == 200  # keys loaded
    new_key = mock.rotate()
    clock.advance(MIN_REDISCOVERY_INTERVAL)
    before = mock.counts()
    rotated = forge.sign({"iss": mock.issuer, "aud": AUDIENCE, "exp": int(time.time()) + 60}, new_key)
    assert (await gw.bearer(rotated)).status == 200  # a rediscovery found the new key
    assert delta(before, mock.counts())["jwks"] == 1

    slow = gateway(config(mock), env=gw.env)  # same worker (env), Kong's default rediscovery_lifetime of 30 s
    clock.advance(MIN_REDISCOVERY_INTERVAL)
    before = mock.counts()
    for token in strangers(mock, 20):
        assert (await slow.bearer(token)).status == 401
    assert delta(before, mock.counts())["jwks"] == 0  # (the last refresh was less than 30 s ago)


def strangers(mock: MockProvider, count: int) -> list[str]:
    """Tokens naming `count` different kids the provider does not have."""
    key = forge.rsa_key("stranger")
    return [forge.sign({"iss": mock.issuer, "exp": int(time.time()) + 60}, key, kid=f"random-{index}")
            for index in range(count)]


async def test_rediscovery_lifetime_zero_still_refreshes_keys_at_most_every_few_seconds(
        mock: MockProvider, gateway: MakeGateway) -> None:
    gw = gateway(config(mock, rediscovery_lifetime=0))
    gw.provider.clock = clock = Clock(time.monotonic)
    assert (await gw.bearer(mock.token())).status == 200  # keys loaded
    before = mock.counts()
    for token in strangers(mock, 20):
        assert (await gw.bearer(token)).status == 401
    assert delta(before, mock.counts())["jwks"] == 0  # within the floor of the first load
    clock.advance(MIN_REDISCOVERY_INTERVAL)
    results = await asyncio.gather(*(gw.bearer(token) for token in strangers(mock, 20)))  # concurrent misses
    assert {r.status for r in results} == {401}
    assert delta(before, mock.counts()) == {"discovery": 1, "jwks": 1, "token": 0, "introspect": 0}


async def test_unsafe_claim_values_are_never_forwarded(mock: MockProvider, gateway: MakeGateway) -> None:
    gw = gateway(config(mock, upstream_headers_claims=["name", "org", "groups"],
                        upstream_headers_names=["X-Name", "X-Org", "X-Groups"]))
    refused = await gw.basic("mallory", "mallory-secret")
    assert refused.status == 401
    assert "claim 'name' contains control characters" in refused.description
    encoded = await gw.call([("Authorization", f"Bearer {mock.token('svc')}"), ("X-Groups", "forged")])
    assert encoded.status == 200
    assert encoded.upstream.get_all("X-Groups") == ["admins, users"]
    assert encoded.upstream.get("X-Org") == '{"id":7}'
    assert encoded.upstream.get("X-Name") is None


async def test_upstream_token_header_and_hidden_credentials(mock: MockProvider, gateway: MakeGateway) -> None:
    custom = await gateway(config(mock, upstream_access_token_header="X-Access-Token",
                                  hide_credentials=True)).basic("svc", SVC_SECRET)
    assert custom.status == 200
    assert custom.upstream.get("Authorization") is None
    assert (custom.upstream.get("X-Access-Token") or "").count(".") == 2
    none = await gateway(config(mock, upstream_access_token_header=None)).basic("svc", SVC_SECRET)
    assert (none.upstream.get("Authorization") or "").startswith("Basic ")  # not hidden: the client's own


async def test_consumer_mapping(mock: MockProvider, gateway: MakeGateway) -> None:
    consumers = [Consumer(id="5e0b1e6c-59ad-4a39-b4c6-0b8f9a8d3f10", username="svc"),
                 Consumer(id="0c86b1e4-3a8b-4c5b-9d2e-1f0a7c6b5d40", custom_id="reader")]
    gw = gateway(config(mock, consumer_claim=["client_id"]), consumers=consumers)
    by_username = await gw.basic("svc", SVC_SECRET)
    assert by_username.ctx.consumer is not None and by_username.ctx.consumer.username == "svc"
    by_custom_id = await gw.basic("reader", "reader-secret")
    assert by_custom_id.ctx.consumer is not None and by_custom_id.ctx.consumer.custom_id == "reader"
    only_id = gateway(config(mock, consumer_claim=["client_id"], consumer_by=["id"]), consumers=consumers)
    unmapped = await only_id.basic("svc", SVC_SECRET)
    assert unmapped.status == 403 and "no consumer matches the token" in unmapped.description
    optional = gateway(config(mock, consumer_claim=["client_id"], consumer_by=["id"], consumer_optional=True),
                       consumers=consumers)
    passed = await optional.basic("svc", SVC_SECRET)
    assert passed.status == 200 and passed.ctx.consumer is None and passed.ctx.identity is not None


async def test_custom_error_messages_and_bad_requests(mock: MockProvider, gateway: MakeGateway) -> None:
    gw = gateway(config(mock, unauthorized_error_message="Who are you?", forbidden_error_message="Not you."))
    assert (await gw.call()).body == {"message": "Who are you?"}
    assert (await gateway(config(mock, scopes=["orders:write"], forbidden_error_message="Not you."))
            .basic("reader", "reader-secret")).body == {"message": "Not you."}
    ambiguous = await gw.call([("Authorization", "Bearer a.b.c")], query="access_token=a.b.c")
    assert ambiguous.status == 400 and 'error="invalid_request"' in ambiguous.description
    broken = await gw.call([("Authorization", "Basic %%%")])
    assert broken.status == 400 and broken.body["message"].startswith("Bad Request: ")


TWO_FIELDS = 'Bearer realm="oidcgate", error="invalid_request", error_description="the request has more than one ' \
             'Authorization header"'


@pytest.mark.parametrize("extra", [{}, {"upstream_access_token_header": None}, {"hide_credentials": True}])
async def test_two_authorization_fields_are_an_invalid_request(mock: MockProvider, gateway: MakeGateway,
                                                               extra: dict[str, Any]) -> None:
    """Authorization is a singleton field (RFC 9110 §11.6.2): the gateway would check one while the upstream may
    read the other, so two are refused (RFC 6750 §3.1), before and after the first one was accepted alone."""
    gw = gateway(config(mock, **extra))
    token = mock.token()
    basic = basic_authorization("svc", SVC_SECRET)
    for pair in ([f"Bearer {token}", "Bearer forged.admin.token"], ["Bearer forged.admin.token", f"Bearer {token}"],
                 [f"Bearer {token}", f"Bearer {token}"], [basic, f"Bearer {token}"]):
        for _ in range(2):  # the second time, the single field is known to the reuse cache and the memo
            two = await gw.call([("Authorization", pair[0]), ("X-Other", "1"), ("authorization", pair[1])])
            assert (two.status, two.description) == (400, TWO_FIELDS)
            assert two.body == {"message": "Bad Request: the request has more than one Authorization header"}
            assert (await gw.call([("Authorization", pair[0])])).status in (200, 401)
        assert gw.fast([("Authorization", pair[0]), ("authorization", pair[1])]) is None
    only_query = gateway(config(mock, bearer_token_param_type=["query"], client_credentials_param_type=["query"]))
    unread = await only_query.call([("Authorization", "Basic a"), ("Authorization", "Basic b")],
                                   query=f"access_token={token}")
    assert unread.status == 200  # the plugin does not read that field here: not its to judge


async def test_caches_survive_a_new_configuration(mock: MockProvider, gateway: MakeGateway) -> None:
    """A reload builds new handler instances over the same PluginEnv: no new provider calls."""
    first = gateway(config(mock))
    assert (await first.basic("svc", SVC_SECRET)).status == 200
    before = mock.counts()
    reloaded = gateway(config(mock, hide_credentials=True, scopes_required=["orders:read"]), env=first.env)
    other_route = gateway(config(mock, upstream_headers_claims=None, upstream_headers_names=None), env=first.env)
    for gw in (reloaded, other_route):
        assert (await gw.basic("svc", SVC_SECRET)).status == 200
    assert delta(before, mock.counts()) == {"discovery": 0, "jwks": 0, "token": 0, "introspect": 0}


async def test_repeat_requests_follow_the_token_not_a_stale_result(mock: MockProvider, gateway: MakeGateway) -> None:
    """A repeated Authorization header reuses the first result, but only until the token expires, and each
    request still gets its forged headers removed and its ambiguity refused."""
    gw = gateway(config(mock))
    token = provider_signed(mock, exp=int(time.time()) + 2)
    first = await gw.bearer(token)
    assert first.status == 200
    again = await gw.call([("Authorization", f"Bearer {token}"), ("issuer_header", "forged")])
    assert again.status == 200 and again.upstream.get_all("Issuer-Header") == [mock.issuer]
    assert again.upstream.get("issuer_header") is None
    both = await gw.call([("Authorization", f"Bearer {token}")], query=f"access_token={token}")
    assert both.status == 400
    smuggled = await gw.call([("Authorization", f"Bearer {token}"), ("authorization", "Bearer forged.admin.token")])
    assert smuggled.status == 400
    await asyncio.sleep(max(0.0, unverified_parts(token)[1]["exp"] - time.time()) + 0.1)
    expired = await gw.bearer(token)
    assert expired.status == 401 and "expired" in expired.description
