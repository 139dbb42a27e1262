"""The schema -> form generator and the form -> JSON parser, on the real plugin and entity schemas."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel, Field, SecretStr

from oidcgate.controlplane.gui.entity_forms import ROUTE_FIELDS, SERVICE_FIELDS, plugin_config_fields
from oidcgate.controlplane.gui.forms import (
    FormField,
    FormValues,
    flatten_errors,
    form_schema,
    initial_values,
    label,
    parse_form,
    place_errors,
    schema_fields,
    submitted_values,
)


class Limits(BaseModel):
    second: int | None = None
    burst: int = 10


class Sample(BaseModel):
    name: str = Field(description="What to call it.")
    mode: Literal["fast", "safe"] = "safe"
    status: Literal[426, 301] = 426
    verbose: bool = False
    tls_verify: bool | None = None
    ratio: float = 0.5
    hosts: list[str] | None = None
    methods: list[Literal["GET", "POST"]] = Field(default_factory=lambda: list[Literal["GET", "POST"]](["GET"]))
    api_key: SecretStr | None = None
    client_secret: list[str] | None = None
    limits: Limits = Field(default_factory=Limits)
    extra: dict[str, list[str]] | None = None


def by_name(fields: list[FormField] | tuple[FormField, ...]) -> dict[str, FormField]:
    return {f.name: f for top in fields for f in top.walk()}


SAMPLE = schema_fields(form_schema(Sample))
FIELDS = by_name(SAMPLE)


@pytest.mark.parametrize(("name", "expected"), [
    ("client_id", "Client ID"), ("upstream_headers_claims", "Upstream Headers Claims"),
    ("jwks_uri", "JWKS URI"), ("cache_ttl", "Cache TTL"), ("ssl_verify", "SSL Verify"),
    ("extra_jwks_uris", "Extra JWKS URIs"), ("snis", "SNIs"), ("https_redirect_status_code",
                                                                "HTTPS Redirect Status Code"),
])
def test_labels_are_kong_style_title_case(name: str, expected: str) -> None:
    assert label(name) == expected


def test_widgets_follow_the_schema_types() -> None:
    widgets = {name: f.widget for name, f in FIELDS.items()}
    assert widgets == {
        "name": "text", "mode": "select", "status": "select", "verbose": "checkbox", "tls_verify": "tristate",
        "ratio": "number", "hosts": "lines", "methods": "checkboxes", "api_key": "password",
        "client_secret": "secrets", "limits": "group", "limits.second": "number", "limits.burst": "number",
        "extra": "json",
    }
    assert FIELDS["name"].required and FIELDS["name"].help == "What to call it."
    assert not FIELDS["mode"].required and FIELDS["mode"].options == ("fast", "safe")
    assert FIELDS["hosts"].nullable and not FIELDS["verbose"].nullable
    assert FIELDS["ratio"].number_type == "number" and FIELDS["limits.burst"].number_type == "integer"


def test_openid_connect_form_has_kong_fields_with_help_and_masked_secrets() -> None:
    fields = by_name(plugin_config_fields("openid-connect"))
    labels = {f.label for f in fields.values()}
    assert {"Issuer", "Client ID", "Client Secret", "Scopes", "Upstream Headers Claims",
            "Upstream Headers Names", "Auth Methods", "Cache TTL"} <= labels
    assert fields["config.issuer"].required and fields["config.issuer"].widget == "text"
    assert fields["config.client_secret"].widget == "secrets"
    assert fields["config.client_id"].widget == "lines"
    assert fields["config.auth_methods"].widget == "checkboxes"
    assert fields["config.hide_credentials"].widget == "checkbox"
    assert fields["config.client_jwk"].widget == "json"
    assert all(f.help for f in fields.values()), "every openid-connect field explains itself"


def test_new_form_shows_defaults_and_never_a_secret() -> None:
    values = initial_values(SAMPLE, None)
    assert values["mode"] == "safe" and values["status"] == "426" and values["methods"] == ["GET"]
    assert values["ratio"] == "0.5" and values["verbose"] is False and values["hosts"] == ""
    stored = {"name": "x", "api_key": "s3cr3t", "client_secret": ["a", "b"], "hosts": ["a.test", "b.test"],
              "extra": {"k": ["v"]}, "tls_verify": False}
    shown = initial_values(SAMPLE, stored)
    assert shown["api_key"] == 1 and shown["client_secret"] == 2  # placeholders to draw, not values
    assert "s3cr3t" not in repr(shown) and "'a'" not in repr(shown["client_secret"])
    assert shown["hosts"] == "a.test\nb.test" and shown["tls_verify"] == "false"
    assert '"k"' in shown["extra"]


def test_parse_converts_to_the_schema_types() -> None:
    form = FormValues([
        ("name", " svc "), ("mode", "fast"), ("status", "301"), ("verbose", "true"), ("tls_verify", "false"),
        ("ratio", "0.25"), ("hosts", "a.test\n\n b.test \n"), ("methods", "POST"), ("methods", "GET"),
        ("api_key", " spaced "), ("limits.second", "5"), ("limits.burst", ""), ("extra", '{"x": ["1"]}'),
    ])
    body = parse_form(SAMPLE, form)
    assert body == {
        "name": "svc", "mode": "fast", "status": 301, "verbose": True, "tls_verify": False, "ratio": 0.25,
        "hosts": ["a.test", "b.test"], "methods": ["GET", "POST"], "api_key": " spaced ",
        "limits": {"second": 5}, "extra": {"x": ["1"]},
    }


BROWSER_EMPTY = FormValues([(name, "") for name in (
    "name", "mode", "status", "verbose", "tls_verify", "ratio", "hosts", "methods", "api_key", "client_secret",
    "limits.second", "limits.burst", "extra")])  # what a browser sends for a form left empty


def test_empty_inputs_mean_default_or_null() -> None:
    body = parse_form(SAMPLE, BROWSER_EMPTY)
    # left out: the schema default applies; nullable: explicit null; unchecked: false; no box ticked: []
    assert body == {"verbose": False, "tls_verify": None, "hosts": None, "methods": [], "api_key": None,
                    "client_secret": None, "limits": {"second": None}, "extra": None}


def test_inputs_missing_from_the_form_are_not_touched() -> None:
    assert parse_form(SAMPLE, FormValues([])) == {"limits": {}}
    assert parse_form(SAMPLE, FormValues([]), {"api_key": "k", "client_secret": ["s"]}) == {
        "api_key": "k", "client_secret": ["s"], "limits": {}}


def test_values_that_do_not_convert_go_to_the_api_as_typed() -> None:
    body = parse_form(SAMPLE, FormValues([("ratio", "lots"), ("mode", "other"), ("limits.burst", "1.5")]))
    assert body["ratio"] == "lots" and body["mode"] == "other" and body["limits"]["burst"] == "1.5"


def test_malformed_json_is_reported_locally() -> None:
    errors: dict[str, str] = {}
    body = parse_form(SAMPLE, FormValues([("extra", "{nope")]), errors=errors)
    assert "extra" not in body
    assert errors["extra"].startswith("invalid JSON")


def test_empty_secret_inputs_keep_stored_secrets() -> None:
    stored = {"api_key": "old", "client_secret": ["one", "two"]}
    kept = parse_form(SAMPLE, FormValues([("client_secret", ""), ("client_secret", ""), ("client_secret", "")]),
                      stored)
    assert kept["api_key"] == "old" and kept["client_secret"] == ["one", "two"]
    changed = parse_form(SAMPLE, FormValues([("api_key", "new"), ("client_secret", ""),
                                             ("client_secret", "TWO"), ("client_secret", "three")]), stored)
    assert changed["api_key"] == "new" and changed["client_secret"] == ["one", "TWO", "three"]
    removed = parse_form(SAMPLE, FormValues([("clear:api_key", "0"), ("client_secret", ""),
                                             ("client_secret", ""), ("clear:client_secret", "0")]), stored)
    assert removed["api_key"] is None and removed["client_secret"] == ["two"]


def test_resubmitted_form_shows_what_was_typed_but_no_secret() -> None:
    form = FormValues([("name", "typed"), ("ratio", "abc"), ("api_key", "typed-secret"), ("verbose", ""),
                       ("verbose", "true")])
    shown = submitted_values(SAMPLE, form, {"api_key": "stored"})
    assert shown["name"] == "typed" and shown["ratio"] == "abc" and shown["verbose"] is True
    assert shown["api_key"] == 1 and "typed-secret" not in repr(shown)


def test_kong_error_fields_land_next_to_their_inputs() -> None:
    oidc = plugin_config_fields("openid-connect")
    flat = flatten_errors({"config": {"issuer": "required field missing",
                                      "scopes": {"1": "'a b' is not a valid scope"},
                                      "upstream_headers_names": "has 0 entries but upstream_headers_claims has 1"},
                           "service": "does not exist", "@entity": ["bad combination"]})
    assert flat["config.scopes.1"] == "'a b' is not a valid scope"
    placed = place_errors(flat, oidc)
    assert placed.by_field["config.issuer"] == "required field missing"
    assert placed.by_field["config.scopes"] == "'a b' is not a valid scope"
    assert "upstream_headers_claims has 1" in placed.by_field["config.upstream_headers_names"]
    assert placed.general == ["service: does not exist", "bad combination"]


def test_an_object_level_error_goes_to_the_fields_it_names() -> None:
    placed = place_errors({"@entity": "must set one of 'methods', 'hosts', 'headers', 'paths'"}, ROUTE_FIELDS)
    assert set(placed.by_field) == {"methods", "hosts", "headers", "paths"}
    assert not placed.general
    unplaced = place_errors({"@entity": "something else entirely"}, SERVICE_FIELDS)
    assert unplaced.general == ["something else entirely"] and not unplaced.by_field


def test_entity_forms_cover_what_admins_edit() -> None:
    service = by_name(SERVICE_FIELDS)
    assert service["host"].required and service["protocol"].options == ("http", "https")
    assert service["port"].default == 80 and service["tls_verify"].widget == "tristate"
    route = by_name(ROUTE_FIELDS)
    assert route["protocols"].widget == "checkboxes" and route["paths"].widget == "lines"
    assert route["headers"].widget == "json" and route["https_redirect_status_code"].options[0] == 426


def test_prefixed_fields_nest_under_their_prefix() -> None:
    fields = schema_fields(form_schema(Sample), prefix="config.", include=("name", "limits"))
    body = parse_form(fields, FormValues([("config.name", "n"), ("config.limits.burst", "3")]))
    assert body == {"config": {"name": "n", "limits": {"burst": 3}}}


def test_the_openid_connect_form_shows_browser_sign_in_fields_with_secrets_masked() -> None:
    fields = {f.name: f for f in plugin_config_fields("openid-connect")}
    assert fields["config.session_secret"].widget == "password"
    assert fields["config.session_storage"].options == ("cookie", "memcache", "memcached", "redis")
    assert fields["config.session_idling_timeout"].default == 900
    assert fields["config.logout_methods"].default == ["POST", "DELETE"]
    redis = {child.name: child for child in fields["config.redis"].children}
    assert redis["config.redis.password"].widget == "password" and "config.redis.prefix" in redis
    assert {"config.redirect_uri", "config.upstream_id_token_header", "config.upstream_user_info_header",
            "config.require_proof_key_for_code_exchange"} <= set(fields)
