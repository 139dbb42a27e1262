"""Kong's form decoding (pure): keys, arrays, conflicts, schema typing."""

from __future__ import annotations

import pytest

from oidcgate.controlplane.admin import forms
from oidcgate.controlplane.admin.schemas import entity_json_schema, plugin_json_schema
from oidcgate.controlplane.errors import BadRequest


def typed(items: list[tuple[str, str]], kind: str = "routes", plugin: str | None = None) -> dict[str, object]:
    schema = plugin_json_schema(plugin) if plugin else entity_json_schema(kind)
    return forms.coerce(forms.decode(items), schema, schema.get("$defs", {}))


def test_decode_nested_keys_and_arrays() -> None:
    assert forms.decode([("a.b.c", "1"), ("a.b.d", "2")]) == {"a": {"b": {"c": "1", "d": "2"}}}
    assert forms.decode([("x[]", "1"), ("x[]", "2")]) == {"x": ["1", "2"]}
    assert forms.decode([("x", "1"), ("x", "2"), ("x", "3")]) == {"x": ["1", "2", "3"]}
    assert forms.decode([("x[3]", "c"), ("x[1]", "a")]) == {"x": ["a", "c"]}
    assert forms.decode([("x", "")]) == {"x": None}
    assert forms.decode([("config.headers[]", "a:1")]) == {"config": {"headers": ["a:1"]}}


@pytest.mark.parametrize("items", [
    [("a", "1"), ("a.b", "2")],
    [("a.b", "1"), ("a", "2")],
    [("a[]", "1"), ("a.b", "2")],
    [("a[]b", "1")],
    [("[1]", "x")],
    [("[]", "x")],  # found by the admin_body fuzz target: an IndexError (a 500) before
    [("[][]", "x")],
    [("a[1]", "x"), ("a.b", "y")],
])
def test_decode_conflicts_are_bad_requests(items: list[tuple[str, str]]) -> None:
    with pytest.raises(BadRequest):
        forms.decode(items)


def test_coerce_by_schema() -> None:
    assert typed([("paths", "/a"), ("hosts", "h.test"), ("strip_path", "false")]) == {
        "paths": ["/a"], "hosts": ["h.test"], "strip_path": "false"}
    assert typed([("headers.x-a", "1")]) == {"headers": {"x-a": ["1"]}}
    assert typed([("service.id", "abc")]) == {"service": {"id": "abc"}}
    oidc = typed([("name", "openid-connect"), ("config.scopes", "openid"), ("config.issuer", "http://i")],
                 "plugins", "openid-connect")
    assert oidc["config"] == {"scopes": ["openid"], "issuer": "http://i"}
    upstream = typed([("healthchecks.active.healthy.http_statuses", "200")], "upstreams")
    assert upstream == {"healthchecks": {"active": {"healthy": {"http_statuses": ["200"]}}}}
