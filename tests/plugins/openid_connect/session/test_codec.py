"""AES-256-GCM sealing: round trip, and nothing else opens (tampered, other secret, other purpose)."""

from __future__ import annotations

from oidcgate.plugins.openid_connect.session.codec import Sealer


def test_a_sealed_value_opens_only_with_the_same_secret_purpose_and_cookie() -> None:
    sealer = Sealer("s3cret", "session", "session")
    sealed = sealer.seal(b'{"sub": "alice"}')
    assert sealer.open(sealed) == b'{"sub": "alice"}'
    assert "alice" not in sealed and sealer.seal(b"x") != sealer.seal(b"x")  # random nonce
    assert Sealer("other", "session", "session").open(sealed) is None
    assert Sealer("s3cret", "authorization", "session").open(sealed) is None
    assert Sealer("s3cret", "session", "other-cookie").open(sealed) is None


def test_tampered_or_malformed_values_do_not_open() -> None:
    sealer = Sealer("s3cret", "session")
    sealed = sealer.seal(b"payload")
    flipped = sealed[:20] + ("A" if sealed[20] != "A" else "B") + sealed[21:]
    for bad in (flipped, sealed[:-2], "", "!!!", "é" * 40, sealed + "x"):
        assert sealer.open(bad) is None, bad
