"""The declarative loader: Kong's kong.yml format, every error at once with its path, refs, hashes."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from oidcgate.config import ConfigError, load, parse_text
from oidcgate.plugins.registry import config_schema


def errors_of(doc: Any) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        load(doc, config_schema)
    return {e.path: e.message for e in caught.value.errors}


def yml(text: str) -> Any:
    return parse_text(textwrap.dedent(text))


# Kong documentation examples that use only what oidcgate supports, verbatim.
KONG_LOAD_BALANCING = """
    _format_version: "3.0"
    services:
    - name: example_service
      host: example_upstream
      protocol: http
      routes:
      - name: example_route
        paths:
        - /mock
    upstreams:
    - name: example_upstream
      targets:
      - target: httpbin.konghq.com:80
        weight: 100
      - target: httpbun.com:80
        weight: 100
"""

KONG_GETTING_STARTED = """
    _format_version: "3.0"
    _transform: true

    services:
    - host: httpbin.konghq.com
      name: example_service
      port: 80
      protocol: http
      routes:
      - name: example_route
        paths:
        - /mock
        strip_path: true

    consumers:
    - username: example-user
      custom_id: example-id
"""

KONG_PLUGINS = """
    _format_version: "3.0"
    services:
    - name: example-service
      url: http://httpbin.konghq.com
      routes:
      - name: example-route
        paths:
        - /anything
        plugins:
        - name: request-transformer
          config:
            add:
              headers:
              - "x-new-header:value"
    plugins:
    - name: correlation-id
      config:
        header_name: Kong-Request-ID
        generator: uuid#counter
        echo_downstream: false
"""


@pytest.mark.parametrize("text", [KONG_LOAD_BALANCING, KONG_GETTING_STARTED, KONG_PLUGINS])
def test_kong_documentation_examples_load_unchanged(text: str) -> None:
    snapshot = load(yml(text), config_schema)
    assert snapshot.services and snapshot.routes
    assert len(snapshot.hash) == 32


def test_load_balancing_example_references() -> None:
    snapshot = load(yml(KONG_LOAD_BALANCING), config_schema)
    (upstream,) = snapshot.upstreams
    assert {t.upstream for t in snapshot.targets} == {upstream.id}
    assert [t.target for t in snapshot.targets] == ["httpbin.konghq.com:80", "httpbun.com:80"]
    assert snapshot.routes[0].service == snapshot.services[0].id


def test_nested_and_flat_documents_are_the_same_snapshot() -> None:
    nested = {"_format_version": "3.0", "services": [
        {"name": "s", "url": "http://up:8080/base", "routes": [{"name": "r", "paths": ["/a"]}],
         "plugins": [{"name": "correlation-id"}]}]}
    flat = {"_format_version": "3.0",
            "services": [{"name": "s", "protocol": "http", "host": "up", "port": 8080, "path": "/base"}],
            "routes": [{"name": "r", "paths": ["/a"], "service": "s"}],
            "plugins": [{"name": "correlation-id", "service": {"name": "s"}}]}
    a, b = load(nested, config_schema), load(flat, config_schema)
    assert a == b
    assert a.hash == b.hash


def test_every_error_at_once_with_its_path() -> None:
    found = errors_of({"_format_version": "3.0", "services": [
        {"name": "ok", "url": "http://up", "routes": [
            {"name": "r1", "paths": ["/fine"]},
            {"name": "r2", "paths": ["no-slash"], "methods": ["get"]},
        ]},
        {"name": "bad port", "host": "up", "port": 70000},
    ], "plugins": [{"name": "no-such-plugin"}, {"name": "correlation-id", "config": {"nope": 1}}],
        "vaults": []})
    assert found["services[0].routes[1].paths[0]"].startswith("should start with: /")
    assert "invalid method" in found["services[0].routes[1].methods[0]"]
    assert "services[1].name" in found and "services[1].port" in found
    assert "not enabled" in found["plugins[0].name"]
    assert found["plugins[1].config.nope"] == "unknown field"
    assert found["vaults"] == "not supported by oidcgate"
    assert len(found) == 7


def test_references_by_name_id_and_object() -> None:
    doc = {"_format_version": "3.0",
           "services": [{"id": "0b7f1d3c-3f43-4b4f-9b0b-6f5a3b2a1c01", "name": "s", "url": "http://up"}],
           "routes": [{"paths": ["/a"], "service": "s"},
                      {"paths": ["/b"], "service": {"id": "0b7f1d3c-3f43-4b4f-9b0b-6f5a3b2a1c01"}},
                      {"paths": ["/c"], "service": {"name": "s"}}],
           "consumers": [{"username": "alice"}],
           "plugins": [{"name": "correlation-id", "consumer": "alice"}]}
    snapshot = load(doc, config_schema)
    assert {r.service for r in snapshot.routes} == {"0b7f1d3c-3f43-4b4f-9b0b-6f5a3b2a1c01"}
    assert snapshot.plugins[0].consumer == snapshot.consumers[0].id


def test_dangling_references_are_errors() -> None:
    found = errors_of({"_format_version": "3.0", "routes": [{"paths": ["/"], "service": "ghost"}],
                       "plugins": [{"name": "correlation-id", "route": "nowhere"}],
                       "targets": [{"target": "a:1", "upstream": "missing"}, {"target": "b:2"}]})
    assert found == {
        "routes[0].service": "no service with id or name 'ghost'",
        "plugins[0].route": "no route with id or name 'nowhere'",
        "targets[0].upstream": "no upstream with id or name 'missing'",
        "targets[1].upstream": "required field missing",
    }


def test_uniqueness() -> None:
    found = errors_of({"_format_version": "3.0",
                       "services": [{"name": "s", "url": "http://a"}, {"name": "s", "url": "http://b"}],
                       "consumers": [{"username": "u"}, {"username": "u", "custom_id": "c"}],
                       "plugins": [{"name": "correlation-id"}, {"name": "correlation-id"}],
                       "upstreams": [{"name": "up", "targets": [{"target": "x:1"}, {"target": "x:1"}]}]})
    assert "duplicate name 's'" in found["services[1].name"]
    assert "duplicate username 'u'" in found["consumers[1].username"]
    assert found["plugins[1].name"] == "plugin 'correlation-id' is already configured on this scope"
    assert "duplicate target" in found["upstreams[0].targets[1].target"]


def test_a_nested_entity_must_not_name_its_parent() -> None:
    found = errors_of({"_format_version": "3.0", "services": [
        {"name": "s", "url": "http://a", "routes": [{"paths": ["/"], "service": "s"}]}]})
    assert found == {"services[0].routes[0].service": "must not be set on a nested entity (it is the parent's)"}


def test_plugin_configs_are_validated_and_defaults_filled() -> None:
    snapshot = load({"_format_version": "3.0", "plugins": [{"name": "correlation-id"}]}, config_schema)
    config = snapshot.plugins[0].config
    assert config["header_name"] == "Kong-Request-ID"  # Kong's default
    found = errors_of({"_format_version": "3.0", "plugins": [{"name": "correlation-id",
                                                              "config": {"generator": "dice"}}]})
    assert list(found) == ["plugins[0].config.generator"]


def test_plugin_configs_are_checked_by_the_schemas_the_caller_hands_in() -> None:
    class Greeting(BaseModel):
        model_config = ConfigDict(extra="forbid")
        text: str = "hello"

    def schemas(name: str) -> type[BaseModel]:
        if name != "greeting":
            raise LookupError(f"plugin '{name}' not enabled; available: greeting")
        return Greeting

    snapshot = load({"_format_version": "3.0", "plugins": [{"name": "greeting"}]}, schemas)
    assert snapshot.plugins[0].config == {"text": "hello"}
    with pytest.raises(ConfigError) as caught:
        load({"_format_version": "3.0", "plugins": [{"name": "correlation-id"}, {"name": "greeting",
                                                                                 "config": {"txt": "hi"}}]}, schemas)
    assert {e.path: e.message for e in caught.value.errors} == {
        "plugins[0].name": "plugin 'correlation-id' not enabled; available: greeting",
        "plugins[1].config.txt": "unknown field"}


def test_format_version_is_required_and_checked() -> None:
    assert errors_of({"services": []}) == {"_format_version": "required field missing"}
    assert "unsupported version" in errors_of({"_format_version": "9.9"})["_format_version"]


def test_service_url_and_target_defaults() -> None:
    snapshot = load({"_format_version": "3.0", "services": [{"name": "s", "url": "https://api.example.com/v1"}],
                     "upstreams": [{"name": "up", "targets": [{"target": "10.0.0.1"}]}]}, config_schema)
    service = snapshot.services[0]
    assert (service.protocol, service.host, service.port, service.path) == ("https", "api.example.com", 443, "/v1")
    assert snapshot.targets[0].target == "10.0.0.1:8000"  # Kong's default target port


def test_hash_is_stable_and_survives_a_round_trip() -> None:
    doc = yml(KONG_PLUGINS)
    first, second = load(doc, config_schema), load(yml(KONG_PLUGINS), config_schema)
    assert first.hash == second.hash
    again = load(first.to_declarative(), config_schema)  # what <prefix>/config.json holds and a CP pushes
    assert again.hash == first.hash
    changed = yml(KONG_PLUGINS.replace("/anything", "/other"))
    assert load(changed, config_schema).hash != first.hash


def test_yaml_syntax_errors_have_a_position() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_text("services: [\n  - {name: x", "kong.yml")
    assert "kong.yml: invalid YAML at line" in str(caught.value)


def test_routes_need_something_to_match() -> None:
    found = errors_of({"_format_version": "3.0", "routes": [{"name": "empty"}]})
    assert "must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'https'" in \
        found["routes[0]"]
    found = errors_of({"_format_version": "3.0", "routes": [{"name": "empty", "protocols": ["http"]}]})
    assert "must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is 'http'" in found["routes[0]"]


@pytest.mark.parametrize(("route", "message"), [
    ({"snis": ["a.test"], "protocols": ["http"]},
     "'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls', 'tls_passthrough', or 'wss'"),
    ({"snis": ["a.test:443"], "protocols": ["https"]}, "invalid SNI 'a.test:443': must not have a port"),
    ({"snis": ["*.*.test"], "protocols": ["https"]}, "only one wildcard must be specified"),
    ({"snis": ["127.0.0.1"], "protocols": ["https"]}, "must not be an IP address"),
    ({"paths": ["/"], "sources": [{"ip": "10.0.0.1"}]}, "cannot set 'sources' when 'protocols' is 'http' or 'https'"),
    ({"paths": ["/"], "destinations": [{"port": 80}]},
     "cannot set 'destinations' when 'protocols' is 'http' or 'https'"),
])
def test_route_fields_a_route_over_http_cannot_honour_are_refused(route: dict[str, Any], message: str) -> None:
    """Kong's http subschema: SNIs need https among the protocols, stream routes' fields are refused;
    a route is never stored with a condition the router would not check."""
    found = errors_of({"_format_version": "3.0", "routes": [{"name": "r", **route}]})
    assert any(message in text for path, text in found.items() if path.startswith("routes[0]")), found


def test_route_snis_are_stored_lower_case_and_need_https_among_the_protocols() -> None:
    doc = load({"_format_version": "3.0", "routes": [{"name": "r", "snis": ["A.Test", "*.Wild.Test"]}]}, config_schema)
    assert doc.routes[0].snis == ["a.test", "*.wild.test"]  # (the default protocols: http and https)


@pytest.mark.parametrize(("upstream", "message"), [
    ({"hash_on": "header"}, "'hash_on_header' is required when 'hash_on' is 'header'"),
    ({"hash_on": "ip", "hash_fallback": "query_arg"},
     "'hash_fallback_query_arg' is required when 'hash_fallback' is 'query_arg'"),
    ({"hash_on": "uri_capture"}, "'hash_on_uri_capture' is required when 'hash_on' is 'uri_capture'"),
    ({"hash_fallback": "ip"}, "'hash_fallback' must be 'none' when 'hash_on' is 'none'"),
    ({"hash_on": "ip", "hash_fallback": "ip"}, "'hash_fallback' must differ from 'hash_on'"),
    ({"hash_on": "header", "hash_on_header": "X-A", "hash_fallback": "header", "hash_fallback_header": "x-a"},
     "'hash_fallback' must differ from 'hash_on'"),
    ({"hash_on": "cookie"}, "'hash_on_cookie' is required when 'hash_on' is 'cookie'"),
    ({"hash_on": "header", "hash_on_header": "X-A", "hash_fallback": "cookie"},
     "'hash_on_cookie' is required when 'hash_fallback' is 'cookie'"),
    ({"hash_on": "cookie", "hash_on_cookie": "affinity", "hash_fallback": "ip"},
     "'hash_fallback' must be 'none' when 'hash_on' is 'cookie'"),
    ({"hash_on": "cookie", "hash_on_cookie": "a;b"}, "String should match pattern"),
    ({"hash_on": "cookie", "hash_on_cookie": "a", "hash_on_cookie_path": "/x; Domain=evil.test"},
     "String should match pattern"),
])
def test_upstream_hash_inputs_are_checked(upstream: dict[str, Any], message: str) -> None:
    """Kong's upstream checks on the hash inputs."""
    found = errors_of({"_format_version": "3.0", "upstreams": [{"name": "pool", **upstream}]})
    assert any(message in text for path, text in found.items() if path.startswith("upstreams[0]")), found


def test_upstream_hash_inputs_that_kong_accepts_load() -> None:
    doc = load({"_format_version": "3.0", "upstreams": [
        {"name": "a", "algorithm": "consistent-hashing", "hash_on": "header", "hash_on_header": "X-A",
         "hash_fallback": "header", "hash_fallback_header": "X-B"},
        {"name": "b", "algorithm": "consistent-hashing", "hash_on": "consumer", "hash_fallback": "ip"},
        {"name": "c", "algorithm": "least-connections"}, {"name": "e", "algorithm": "latency"},
        {"name": "d", "algorithm": "consistent-hashing", "hash_on": "cookie", "hash_on_cookie": "affinity",
         "hash_on_cookie_path": "/app"}]}, config_schema)
    assert [u.algorithm for u in doc.upstreams] == ["consistent-hashing", "consistent-hashing", "least-connections",
                                                    "latency", "consistent-hashing"]
