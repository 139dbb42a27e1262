"""Session cookies and CSRF tokens: signed, bound to the admin token and the session, expiring."""

from __future__ import annotations

import time

from oidcgate.controlplane.gui.security import COOKIE_NAME, SessionCodec


def test_session_round_trips_and_rejects_tampering() -> None:
    codec = SessionCodec("token", secret=b"k" * 32)
    session = codec.issue(authenticated=True)
    cookie = codec.encode(session)
    assert codec.decode(cookie) == session
    body, mac = cookie.split(".")
    forged = codec.encode(codec.issue(authenticated=False)).split(".")[0]
    assert codec.decode(f"{forged}.{mac}") is None  # a login flag cannot be granted without the key
    assert codec.decode(body + "." + mac[:-2] + ("AA" if mac[-2:] != "AA" else "BB")) is None
    for junk in (None, "", "x", "a.b.c", "!!!.???", body):
        assert codec.decode(junk) is None


def test_sessions_die_with_a_new_key_a_new_token_or_age() -> None:
    codec = SessionCodec("token", max_age=60, secret=b"k" * 32)
    cookie = codec.encode(codec.issue(authenticated=True))
    assert SessionCodec("token", secret=b"other" * 8).decode(cookie) is None  # restart: per-process key
    assert SessionCodec("changed", secret=b"k" * 32).decode(cookie) is None
    assert codec.decode(cookie, now=time.time() + 61) is None


def test_csrf_token_is_bound_to_the_session() -> None:
    codec = SessionCodec(None, secret=b"k" * 32)
    first, second = codec.issue(authenticated=False), codec.issue(authenticated=False)
    token = codec.csrf_token(first)
    assert codec.csrf_ok(first, token)
    assert not codec.csrf_ok(second, token)
    assert not codec.csrf_ok(first, None) and not codec.csrf_ok(first, "") and not codec.csrf_ok(first, "ä")


def test_cookie_is_httponly_samesite_strict_and_never_holds_the_token() -> None:
    codec = SessionCodec("very-secret-admin-token", secret=b"k" * 32)
    header = codec.cookie_header(codec.issue(authenticated=True), secure=False).decode()
    assert header.startswith(COOKIE_NAME + "=")
    assert "HttpOnly" in header and "SameSite=Strict" in header and "Secure" not in header
    assert "very-secret" not in header
    assert "Secure" in codec.cookie_header(codec.issue(authenticated=True), secure=True).decode()


def test_admin_token_comparison() -> None:
    codec = SessionCodec("t", secret=b"k" * 32)
    assert codec.check_admin_token("t", "t")
    assert not codec.check_admin_token("t", "T") and not codec.check_admin_token(None, "")
