"""Brute-force protection: repeated failures slow down one client id (or username), not the others."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import httpx
import pytest

from tests.idp.helpers import REDIRECT_URI, Idp, authorize_with_login, pkce_pair, submit_login, token_request

pytestmark = pytest.mark.e2e

THRESHOLD = 5  # the default OIDCGATE_IDP_FAILURE_THRESHOLD


def test_wrong_secrets_slow_down_that_client_only(idp: Idp) -> None:
    a, b = idp.cc_client(), idp.cc_client()
    for _ in range(THRESHOLD):
        answer = token_request(idp, {"grant_type": "client_credentials"}, auth=(a["client_id"], "guess"))
        assert answer.status_code == 401

    # Now even the right secret is refused for a while, without being checked.
    blocked = token_request(idp, {"grant_type": "client_credentials"}, auth=(a["client_id"], a["client_secret"]))
    assert blocked.status_code == 401 and blocked.json()["error"] == "invalid_client"
    retry_after = int(blocked.headers["retry-after"])
    assert 1 <= retry_after <= 2
    assert "access_token" not in blocked.json()

    started = time.monotonic()
    other = token_request(idp, {"grant_type": "client_credentials"}, auth=(b["client_id"], b["client_secret"]))
    assert other.status_code == 200 and time.monotonic() - started < 1.0

    # Each further failure doubles the wait.
    time.sleep(retry_after + 0.1)
    token_request(idp, {"grant_type": "client_credentials"}, auth=(a["client_id"], "guess"))
    longer = token_request(idp, {"grant_type": "client_credentials"}, auth=(a["client_id"], a["client_secret"]))
    assert longer.status_code == 401 and int(longer.headers["retry-after"]) >= 2

    time.sleep(int(longer.headers["retry-after"]) + 0.1)
    recovered = token_request(idp, {"grant_type": "client_credentials"}, auth=(a["client_id"], a["client_secret"]))
    assert recovered.status_code == 200, recovered.text


def test_wrong_passwords_slow_down_that_username_only(idp: Idp) -> None:
    idp.create_user("mallory-target")
    idp.create_user("bystander")
    client = idp.web_client()
    _, challenge = pkce_pair()
    url = idp.endpoint("authorize") + "?" + urlencode({
        "response_type": "code", "client_id": client["client_id"], "redirect_uri": REDIRECT_URI, "scope": "openid",
        "code_challenge": challenge, "code_challenge_method": "S256"})
    with httpx.Client(timeout=10) as attacker:
        for attempt in range(1, THRESHOLD + 1):
            answer = authorize_with_login(attacker, url, "mallory-target", "wrong password")
            expected = "incorrect" if attempt < THRESHOLD else "Too many failed sign-in attempts"
            assert answer.status_code == 400 and expected in answer.text
        page = attacker.get(url)
        answer = submit_login(attacker, page, "mallory-target", "correct horse battery")
        assert answer.status_code == 400 and "Too many failed sign-in attempts" in answer.text
    with httpx.Client(timeout=10) as someone_else:
        answer = authorize_with_login(someone_else, url, "bystander")
        assert answer.status_code == 302 and "code=" in answer.headers["location"]
