"""Idle, rolling and absolute timeouts; the record's round trip."""

from __future__ import annotations

import secrets
import zlib
from dataclasses import replace

import orjson

from oidcgate.plugins.openid_connect.session.record import MAX_RECORD_BYTES, Session, Timeouts

T0 = 1_000_000.0
SESSION = Session(id="i", issuer="http://idp", client_id="c", created=T0, renewed=T0, seen=T0, access_token="a",
                  expires_at=T0 + 300, id_token="t", refresh_token="r", claims={"sub": "alice"})


def test_each_timeout_ends_the_session_on_its_own() -> None:
    idle, rolling, absolute = Timeouts(900, 0, 0), Timeouts(0, 3600, 0), Timeouts(0, 0, 86400)
    assert not SESSION.expired(idle, T0 + 899) and SESSION.expired(idle, T0 + 900)
    assert not SESSION.touched(T0 + 800).expired(idle, T0 + 1600)
    assert SESSION.expired(rolling, T0 + 3600) and not replace(SESSION, renewed=T0 + 100).expired(rolling, T0 + 3600)
    touched = replace(SESSION, renewed=T0 + 86000, seen=T0 + 86399)
    assert touched.expired(absolute, T0 + 86400)  # whatever happened since
    assert not SESSION.expired(Timeouts(0, 0, 0), T0 + 10 * 86400)


def test_the_idle_clock_is_renewed_at_most_every_tenth_of_the_timeout() -> None:
    timeouts = Timeouts(900, 3600, 86400)
    assert timeouts.touch_interval == 60
    assert not SESSION.touch_due(timeouts, T0 + 59) and SESSION.touch_due(timeouts, T0 + 60)
    assert Timeouts(100, 0, 0).touch_interval == 10 and not SESSION.touch_due(Timeouts(0, 1, 1), T0 + 1e6)


def test_round_trip_and_garbage() -> None:
    assert Session.from_bytes(SESSION.to_bytes()) == SESSION
    for bad in (b"", b"[]", b'{"id": 1}', b"\xff", b'{"nope": true}', zlib.compress(b"[]"), zlib.compress(b"\xff")):
        assert Session.from_bytes(bad) is None


def test_a_record_is_compressed_and_one_written_before_still_opens() -> None:
    token = secrets.token_urlsafe(560)  # as random as a signed JWT's text
    session = replace(SESSION, access_token=token, claims={"sub": "alice", "iss": "http://idp"})
    plain = orjson.dumps({name: getattr(session, name) for name in session.__slots__})
    assert len(session.to_bytes()) < 0.85 * len(plain)
    assert Session.from_bytes(plain) == session  # (a cookie sealed before records were compressed)


def test_a_compressed_record_must_be_one_whole_stream_within_the_bound() -> None:
    whole = SESSION.to_bytes()
    for bad in (whole[:-4], whole + b"x", whole + zlib.compress(b"{}")):
        assert Session.from_bytes(bad) is None
    padded = orjson.dumps({**orjson.loads(zlib.decompress(whole)), "claims": {"pad": "a" * MAX_RECORD_BYTES}})
    assert Session.from_bytes(zlib.compress(padded)) is None  # 1 MiB of "a" is a few KB compressed
