"""Brute-force protection against a real provider, from several loopback addresses (127.0.0.2 and 127.0.0.3
stand in for other machines): guesses slow the guesser down, never lock the owner out."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from tests.idp.helpers import (
    REDIRECT_URI,
    Idp,
    authorize_with_login,
    from_address,
    pkce_pair,
    running_idp,
    submit_login,
    token_request,
)

pytestmark = pytest.mark.e2e

THRESHOLD = 5  # the default OIDCGATE_IDP_FAILURE_THRESHOLD
MAX_DELAY = 0.3  # the fast provider's longest slowdown (seconds), so that 20 guesses take a few seconds
CLIENT_CREDENTIALS = {"grant_type": "client_credentials"}
REFUSED = "Too many failed sign-in attempts"


@pytest.fixture(scope="module")
def fast_idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Idp]:
    with running_idp(tmp_path_factory.mktemp("idp-fast"), env={
            "OIDCGATE_IDP_FAILURE_BASE_DELAY": "0.1", "OIDCGATE_IDP_FAILURE_MAX_DELAY": str(MAX_DELAY)}) as running:
        yield running


def test_guessing_a_client_secret_slows_the_guesser_and_never_locks_the_client_out(fast_idp: Idp) -> None:
    victim = fast_idp.cc_client()
    right = (victim["client_id"], victim["client_secret"])
    with httpx.Client(timeout=10) as attacker, from_address("127.0.0.2") as elsewhere:
        answers = [token_request(fast_idp, CLIENT_CREDENTIALS, (victim["client_id"], f"guess-{n}"), via=attacker)
                   for n in range(20)]
        assert {(a.status_code, a.json()["error"]) for a in answers} == {(401, "invalid_client")}
        issued = token_request(fast_idp, CLIENT_CREDENTIALS, right, via=elsewhere)
        assert issued.status_code == 200 and issued.json()["access_token"]
        slowed = ["answered after" in a.json()["error_description"] for a in answers]
        assert slowed == [False] * (THRESHOLD - 1) + [True] * (20 - THRESHOLD + 1)
        assert "answered after" not in token_request(fast_idp, CLIENT_CREDENTIALS, (right[0], "typo"),
                                                     via=elsewhere).json()["error_description"]

        started = time.monotonic()
        guess = token_request(fast_idp, CLIENT_CREDENTIALS, (victim["client_id"], "guess-21"), via=attacker)
        assert guess.status_code == 401 and time.monotonic() - started >= MAX_DELAY  # still slowed
        # Even from the guesser's address (a shared gateway, a NAT) the right secret gets a token.
        assert token_request(fast_idp, CLIENT_CREDENTIALS, right, via=attacker).status_code == 200


def _authorize_url(idp: Idp) -> str:
    _, challenge = pkce_pair()
    return idp.endpoint("authorize") + "?" + urlencode({
        "response_type": "code", "client_id": idp.web_client()["client_id"], "redirect_uri": REDIRECT_URI,
        "scope": "openid", "code_challenge": challenge, "code_challenge_method": "S256"})


def _fail_logins(browser: httpx.Client, url: str, username: str, **headers: str) -> None:
    browser.headers.update(headers)
    for attempt in range(1, THRESHOLD + 1):
        answer = authorize_with_login(browser, url, username, "wrong password")
        expected = "incorrect" if attempt < THRESHOLD else REFUSED
        assert answer.status_code == 400 and expected in answer.text


def _signs_in(browser: httpx.Client, url: str, username: str, **headers: str) -> bool:
    """Whether the right password gets an authorization code (else the page says it is refused)."""
    browser.headers.update(headers)
    answer = submit_login(browser, browser.get(url), username, "correct horse battery")
    assert answer.status_code == 302 or REFUSED in answer.text, answer.text
    return answer.status_code == 302 and "code=" in answer.headers["location"]


def test_wrong_passwords_refuse_that_username_from_that_address_only(idp: Idp) -> None:
    idp.create_user("mallory-target")
    url = _authorize_url(idp)
    with httpx.Client(timeout=10) as attacker, from_address("127.0.0.2") as owner:
        _fail_logins(attacker, url, "mallory-target")
        assert not _signs_in(attacker, url, "mallory-target")  # refused unchecked, even with the password
        # A forged X-Forwarded-For does not buy the guesser a fresh address.
        assert not _signs_in(attacker, url, "mallory-target", **{"X-Forwarded-For": "192.0.2.1"})
        assert _signs_in(owner, url, "mallory-target")  # the owner, elsewhere, is not locked out
        assert not _signs_in(attacker, url, "mallory-target")  # and the guesser still is


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_clients(tmp_path: Path) -> None:
    with running_idp(tmp_path, extra_args=("--forwarded-allow-ips", "127.0.0.3")) as idp, \
            from_address("127.0.0.3") as proxy:
        idp.create_user("alice")
        url = _authorize_url(idp)
        _fail_logins(proxy, url, "alice", **{"X-Forwarded-For": "192.0.2.66"})
        assert not _signs_in(proxy, url, "alice")
        assert _signs_in(proxy, url, "alice", **{"X-Forwarded-For": "192.0.2.7"})
