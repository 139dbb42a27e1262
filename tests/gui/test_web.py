from __future__ import annotations

from oidcgate.controlplane.gui.web import local_path, prose


def test_prose_escapes_then_sets_code_spans() -> None:
    assert str(prose("use `a<b>` or `x`")) == "use <code>a&lt;b&gt;</code> or <code>x</code>"
    assert str(prose("<script>alert(1)</script> `ok`")) == "&lt;script&gt;alert(1)&lt;/script&gt; <code>ok</code>"
    assert str(prose(None)) == ""


def test_local_path_only_allows_same_site_paths() -> None:
    assert local_path("/services/1?x=y", "/") == "/services/1?x=y"
    for hostile in ("//evil.example", "https://evil.example/", "/\\evil.example", "", None, "services"):
        assert local_path(hostile, "/fallback") == "/fallback"
