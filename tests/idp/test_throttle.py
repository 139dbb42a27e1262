"""Brute-force throttling with an injected clock: the throttle itself, then how client authentication
and password checks use it (keyed by name and source address; the right client secret always works)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from oidcgate.idp import service
from oidcgate.idp.hashing import Argon2Cost
from oidcgate.idp.protocol.rfc6749_errors import InvalidClient
from oidcgate.idp.provider import MAX_HOLD, Provider, SlowedInvalidClient
from oidcgate.idp.settings import Settings
from oidcgate.idp.sign_in import SignIn
from oidcgate.idp.throttle import FailureThrottle
from tests.support.clock import Clock

A, B = ("user", "a", "192.0.2.1"), ("user", "a", "192.0.2.2")
GUESSER, OWNER = "192.0.2.66", "198.51.100.7"


def test_throttle_doubles_and_isolates() -> None:
    clock = Clock(base=lambda: 0.0)
    throttle = FailureThrottle(threshold=3, base_delay=1.0, max_delay=4.0, clock=clock)
    for _ in range(2):
        throttle.failed(A)
    assert throttle.retry_after(A) is None and throttle.delay(A) == 0.0
    throttle.failed(A)
    assert throttle.retry_after(A) == 1 and throttle.retry_after(B) is None  # same name, other address
    throttle.failed(A)
    assert throttle.delay(A) == 2.0
    for _ in range(10):
        throttle.failed(A)
    assert throttle.retry_after(A) == 4  # capped
    clock.advance(3.5)
    assert throttle.delay(A) == 0.5 and throttle.retry_after(A) == 1
    clock.advance(1.0)
    assert throttle.retry_after(A) is None
    throttle.succeeded(A)
    throttle.failed(A)
    assert throttle.retry_after(A) is None  # a success reset the count


def test_bounded_throttle_state() -> None:
    throttle = FailureThrottle(threshold=1, max_entries=3)
    keys = [("user", name, "192.0.2.1") for name in "abcd"]
    for key in keys:
        throttle.failed(key)
    assert throttle.retry_after(keys[0]) is None and throttle.retry_after(keys[3]) is not None


@pytest.fixture
def clock() -> Clock:
    return Clock(base=lambda: 0.0)


@pytest.fixture
def provider(tmp_path: Path, clock: Clock) -> Provider:
    """A provider on its own SQLite store whose throttle runs on `clock`."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'idp.db'}",
                        argon2=Argon2Cost(time_cost=1, memory_cost=1024, parallelism=1))
    provider = Provider(settings, service.open_store(settings.database_url))
    provider.throttle = FailureThrottle(clock=clock)  # the defaults: 5 failures, 1 s doubling to 300 s
    return provider


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def test_a_guessed_client_still_gets_its_token_and_only_the_guessers_failures_are_held(provider: Provider) -> None:
    created = service.create_client(provider.store, service.ClientSpec(
        name="svc", grant_types=["client_credentials"], scopes=["orders:read"]), provider.hasher)
    assert created.client_secret is not None

    def token(secret: str, source: str) -> dict[str, object]:
        return provider.token("default", {"grant_type": "client_credentials"}, _basic(created.client_id, secret),
                              source)

    holds = []
    for n in range(20):
        with pytest.raises(InvalidClient) as refused:
            token(f"guess-{n}", GUESSER)
        holds.append(refused.value.hold if isinstance(refused.value, SlowedInvalidClient) else 0.0)
    assert holds == [0.0] * 4 + [1.0, 2.0, 4.0, 8.0] + [MAX_HOLD] * 12  # doubling, the hold capped

    assert token(created.client_secret, OWNER)["access_token"]
    with pytest.raises(InvalidClient) as typo:
        token("typo", OWNER)
    assert not isinstance(typo.value, SlowedInvalidClient)  # the owner's address has its own count
    with pytest.raises(SlowedInvalidClient):
        token("guess-20", GUESSER)  # the guesser is still slowed
    assert token(created.client_secret, GUESSER)["access_token"]  # and even there the right secret works
    with pytest.raises(InvalidClient) as after_success:
        token("typo", GUESSER)
    assert not isinstance(after_success.value, SlowedInvalidClient)  # a success resets that address's count


def test_failed_logins_refuse_a_username_from_that_address_only(provider: Provider, clock: Clock) -> None:
    service.create_user(provider.store, service.UserSpec(username="alice", password="correct horse"),
                        provider.hasher)
    sign_in = SignIn(provider)
    for _ in range(5):
        assert sign_in.check_password("alice", "wrong", GUESSER) is None
    assert sign_in.check_password("alice", "correct horse", GUESSER) is None  # refused unchecked
    assert sign_in.retry_after("alice", GUESSER) == 1
    signed_in = sign_in.check_password("alice", "correct horse", OWNER)
    assert signed_in is not None and signed_in.username == "alice"
    assert sign_in.retry_after("alice", OWNER) is None and sign_in.retry_after("bob", GUESSER) is None
    assert sign_in.check_password("alice", "correct horse", GUESSER) is None  # the guesser still waits
    clock.advance(1.5)
    assert sign_in.check_password("alice", "correct horse", GUESSER) is not None
