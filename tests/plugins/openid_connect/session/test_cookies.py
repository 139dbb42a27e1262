"""Cookie parsing, attributes, and chunking above 4,000 bytes (reassembled; stale chunks expired)."""

from __future__ import annotations

from oidcgate.plugins.openid_connect.session.cookies import CHUNK_BYTES, CookieSpec, parse

SPEC = CookieSpec("session", "/", None, "Lax", True, None)


def as_jar(set_cookies: list[str]) -> dict[str, str]:
    """What a browser would send back: the cookies not expired."""
    return {h.split("=", 1)[0]: h.split("=", 1)[1].split(";")[0] for h in set_cookies if "Max-Age=0" not in h}


def test_attributes_follow_the_config_and_the_scheme() -> None:
    [plain] = SPEC.write("abc", 60, https=False, present={})
    assert plain == "session=abc; Path=/; Max-Age=60; SameSite=Lax; HttpOnly"
    [secure] = CookieSpec("s", "/app", "example.test", "Strict", False, None).write("v", 5, True, {})
    assert secure == "s=v; Path=/app; Max-Age=5; Domain=example.test; SameSite=Strict; Secure"
    [none] = CookieSpec("s", "/", None, "None", True, False).write("v", 5, False, {})
    assert "Secure" in none  # browsers refuse SameSite=None without it


def test_a_6_kb_value_is_split_and_reassembled() -> None:
    value = "x" * 6000
    headers = SPEC.write(value, 60, False, {})
    assert [h.split("=")[0] for h in headers] == ["session", "session_2"]
    assert all(len(h) < 4096 for h in headers)
    assert SPEC.read(as_jar(headers)) == value
    assert SPEC.read({"session": as_jar(headers)["session"]}) is None  # a chunk missing: no session


def test_a_shorter_value_expires_the_chunks_the_browser_still_has() -> None:
    jar = as_jar(SPEC.write("y" * (2 * CHUNK_BYTES + 10), 60, False, {}))
    assert set(jar) == {"session", "session_2", "session_3"}
    rewritten = SPEC.write("short", 60, False, jar)
    assert [h.split("=")[0] for h in rewritten if "Max-Age=0" in h] == ["session_2", "session_3"]
    cleared = SPEC.clear(jar, False)
    assert {h.split("=")[0] for h in cleared} == {"session", "session_2", "session_3"}


def test_parse_and_hostile_chunk_counts() -> None:
    assert parse(["a=1; session=v", "session=w; b=\"2\""]) == {"a": "1", "session": "v", "b": "2"}
    for first in ("99.abc", "x.abc", "1.abc", "\xb2.abc", "9" * 5000 + ".abc"):
        assert SPEC.read({"session": first, "session_2": "z"}) is None
    strangers = {"session_\xb2": "a", "session_" + "9" * 5000: "b", "session_2": "c"}
    assert [h.split("=")[0] for h in SPEC.clear(strangers, False)] == ["session", "session_2"]
