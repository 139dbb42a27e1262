"""When the provider is down or slow: cached keys and tokens keep working, nothing cached is a 502 (never a
401 that blames the client), a slow provider is bounded by `timeout`, and the plugin recovers by itself."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from oidcgate.plugins.openid_connect.discovery import RETRY_AFTER
from tests.plugins.openid_connect.harness import Gateway
from tests.plugins.openid_connect.providers import AUDIENCE, MOCK_CLIENTS, MockProvider
from tests.support import forge

pytestmark = pytest.mark.e2e
MakeGateway = Callable[..., Gateway]


def signed(mock: MockProvider) -> str:
    """A token as the provider would sign it (its key, its issuer), made while the provider is down."""
    return forge.sign({"iss": mock.issuer, "sub": "svc", "aud": AUDIENCE, "scope": "orders:read",
                       "exp": int(time.time()) + 300}, mock.signing_key())


async def test_outage_and_recovery(mock: MockProvider, gateway: MakeGateway,
                                   caplog: pytest.LogCaptureFixture) -> None:
    warm = gateway({"issuer": mock.issuer, "scopes": ["orders:read"], "bearer_token_typ_jwt_allowed": True})
    assert (await warm.basic("svc", MOCK_CLIENTS["svc"]["secret"])).status == 200
    mock.stop()
    try:
        cached_client = await warm.basic("svc", MOCK_CLIENTS["svc"]["secret"])
        assert cached_client.status == 200  # the cached token
        assert (await warm.bearer(signed(mock))).status == 200  # a new token, checked with the cached keys

        new_client = await warm.basic("reader", MOCK_CLIENTS["reader"]["secret"])
        assert new_client.status == 502
        assert new_client.body == {"message": "Bad Gateway: the identity provider could not be reached (token)"}
        assert "WWW-Authenticate" not in (new_client.headers or {})
        assert f"token request to {mock.issuer}/token failed: could not be reached" in caplog.text
        assert MOCK_CLIENTS["reader"]["secret"] not in caplog.text

        cold = gateway({"issuer": mock.issuer, "bearer_token_typ_jwt_allowed": True})
        for _ in range(3):  # nothing cached: 502, and a dead provider is not retried on every request
            result = await cold.bearer(signed(mock))
            assert result.status == 502
            assert result.body == {"message": "Bad Gateway: the identity provider could not be reached (discovery)"}
    finally:
        mock.start()
    await asyncio.sleep(RETRY_AFTER)
    assert (await cold.bearer(signed(mock))).status == 200
    assert (await warm.basic("reader", MOCK_CLIENTS["reader"]["secret"])).status == 200


async def test_a_slow_provider_is_bounded_by_timeout(mock: MockProvider, gateway: MakeGateway,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    mock.delay(3000)
    try:
        gw = gateway({"issuer": mock.issuer, "timeout": 300})
        started = time.monotonic()
        results = await asyncio.gather(*(gw.bearer(signed(mock)) for _ in range(10)))
        elapsed = time.monotonic() - started
    finally:
        mock.delay(0)
    assert elapsed < 2.5  # well under the provider's 3 s: the timeout ended the wait (with room for a busy machine)
    assert {r.status for r in results} == {502}
    assert results[0].body == {"message": "Bad Gateway: the identity provider did not answer within 0.3 s (discovery)"}
    failures = [r for r in caplog.records if "did not answer within 0.3 s" in r.getMessage()]
    assert len(failures) == 1  # ten requests, one flight, one call, one log line


@pytest.mark.parametrize("access_token", ["caf\u00e9-token", "token\r\nX-Injected: yes", "tab\there", "\u2603"])
async def test_a_token_that_is_not_rfc6749_text_is_the_providers_fault(mock: MockProvider, gateway: MakeGateway,
                                                                     access_token: str) -> None:
    """RFC 6749 A.12: an access token is printable ASCII (VSCHAR). Anything else from the provider is a 502
    naming the provider, never a 500 or a header split upstream, and nothing of it is cached."""
    gw = gateway({"issuer": mock.issuer, "scopes": ["orders:read"]})
    with mock.issuing(access_token):
        result = await gw.basic("svc", MOCK_CLIENTS["svc"]["secret"])
    assert (result.status, result.body) == (
        502, {"message": "Bad Gateway: the identity provider's access_token is not printable ASCII (RFC 6749 A.12)"})
    assert (await gw.basic("svc", MOCK_CLIENTS["svc"]["secret"])).status == 200  # a good token afterwards
