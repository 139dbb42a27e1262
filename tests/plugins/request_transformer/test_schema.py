"""request-transformer config: Kong's defaults, and bad entries refused with their path and a precise message."""

from __future__ import annotations

import pytest

from oidcgate.config import ConfigError, load
from oidcgate.plugins import registry
from oidcgate.plugins.request_transformer.handler import RequestTransformerHandler
from oidcgate.plugins.request_transformer.schema import RequestTransformerConfig, split_pair


def load_plugin(config: dict) -> dict:
    doc = {"_format_version": "3.0",
           "services": [{"name": "s", "url": "http://127.0.0.1:9", "routes": [{"name": "r", "paths": ["/"]}]}],
           "plugins": [{"name": "request-transformer", "config": config}]}
    return load(doc, registry.config_schema).plugins[0].config


def errors(config: dict) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        load_plugin(config)
    return {e.path: e.message for e in caught.value.errors}


def test_registered_with_kongs_name_and_priority() -> None:
    handler = registry.get("request-transformer")
    assert handler is RequestTransformerHandler
    assert (handler.NAME, handler.PRIORITY) == ("request-transformer", 801)
    assert handler.phases() == frozenset({"access"})


def test_defaults_are_kongs() -> None:
    empty: dict[str, list[str]] = {"body": [], "headers": [], "querystring": []}
    assert load_plugin({}) == {"http_method": None, "remove": empty, "rename": empty,
                               "replace": {**empty, "uri": None}, "add": empty, "append": empty}


def test_a_full_kong_config_loads() -> None:
    config = {"http_method": "POST",
              "remove": {"headers": ["x-toremove", "x-another-one"], "querystring": ["qs-old-name"],
                         "body": ["formparam-toremove"]},
              "rename": {"headers": ["header-old-name:header-new-name"], "querystring": ["qs-old-name:qs-new-name"],
                         "body": ["param-old:param-new"]},
              "replace": {"headers": ["x-replace:new"], "querystring": ["q:v"], "body": ["b:v"], "uri": "/new/path"},
              "add": {"headers": ["x-new-header:value", "x-another-header:something", "x-empty:"],
                      "querystring": ["new-param:some_value"], "body": ["new-form-param:some_value"]},
              "append": {"headers": ["x-existing-header:some_value"], "querystring": ["q:2"], "body": ["b:2"]}}
    assert load_plugin(config)["add"]["headers"] == ["x-new-header:value", "x-another-header:something", "x-empty:"]


@pytest.mark.parametrize(("config", "path", "message"), [
    ({"http_method": "get"}, "http_method", "invalid value: 'get'; expected an HTTP method in uppercase letters"),
    ({"http_method": "PO ST"}, "http_method", "invalid value: 'PO ST'"),
    ({"add": {"headers": ["no-colon"]}}, "add.headers[0]", "invalid value: 'no-colon'; expected 'header-name:value'"),
    ({"add": {"headers": ["bad header:v"]}}, "add.headers[0]", "'bad header' is not a valid header"),
    ({"append": {"headers": ["x:a\r\nInjected: yes"]}}, "append.headers[0]", "is not a valid header value"),
    ({"replace": {"headers": ["x:$(headers.y)"]}}, "replace.headers[0]", "templates are not supported"),
    ({"remove": {"headers": ["x y"]}}, "remove.headers[0]", "'x y' is not a valid header"),
    ({"rename": {"headers": ["old:new name"]}}, "rename.headers[0]", "'new name' is not a valid header"),
    ({"rename": {"headers": ["old"]}}, "rename.headers[0]", "expected 'old-header-name:new-header-name'"),
    ({"add": {"querystring": ["q"]}}, "add.querystring[0]", "key 'q' has no value"),
    ({"add": {"querystring": ["q:"]}}, "add.querystring[0]", "key 'q' has no value"),
    ({"append": {"body": [":v"]}}, "append.body[0]", "':v' has no key"),
    ({"rename": {"querystring": ["a"]}}, "rename.querystring[0]", "key 'a' has no value"),
    ({"remove": {"querystring": [""]}}, "remove.querystring[0]", "at least 1 character"),
    ({"replace": {"uri": "no-slash"}}, "replace.uri", "'no-slash' is not a path"),
    ({"replace": {"uri": "/a?b=c"}}, "replace.uri", "is not a path"),
    ({"add": {"cookies": []}}, "add.cookies", "unknown field"),
    ({"remove": {"uri": "/x"}}, "remove.uri", "unknown field"),
    ({"add": {"headers": "x:y"}}, "add.headers", "Input should be a valid list"),
])
def test_bad_config_is_refused_with_path_and_message(config: dict, path: str, message: str) -> None:
    found = errors(config)
    assert f"plugins[0].config.{path}" in found, found
    assert message in found[f"plugins[0].config.{path}"]


def test_every_error_is_reported_at_once() -> None:
    found = errors({"http_method": "x", "add": {"headers": ["a b:c", "ok:1", "nocolon"]}})
    assert set(found) == {"plugins[0].config.http_method", "plugins[0].config.add.headers[0]",
                          "plugins[0].config.add.headers[2]"}


def test_split_pair_follows_kongs_pattern() -> None:
    assert split_pair("a:b") == ("a", "b")
    assert split_pair("a::b:c") == ("a", "b:c")  # colons after the name are skipped, later ones kept
    assert split_pair("a") == ("a", "")


def test_config_is_immutable() -> None:
    config = RequestTransformerConfig.model_validate({})
    with pytest.raises(ValueError, match="frozen"):
        config.http_method = "GET"
