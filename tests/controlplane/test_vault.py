"""`{vault://env/NAME}` references: allowed only in fields marked referenceable, checked wherever a plugin
config is validated (Admin API, kong.yml), resolved on the data plane from `<vault_env_prefix>NAME` only."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from oidcgate.config import ConfigError, load
from oidcgate.config.vault import EnvVault, check_references, env_prefix, parse, referenceable_fields
from oidcgate.plugins.openid_connect.schema import OpenIDConnectConfig
from oidcgate.plugins.registry import config_schema
from oidcgate.plugins.request_transformer.schema import RequestTransformerConfig

ISSUER = "http://127.0.0.1:9/oauth2/default"
ENVIRON = {"OIDCGATE_VAULT_OIDC_SECRET": "s3cret", "OIDCGATE_VAULT_CREDS": json.dumps({"password": "pw"}),
           "OIDCGATE_VAULT_SCOPE": "orders:read", "AWS_SECRET_ACCESS_KEY": "aws-value"}


def test_parse_and_variable_names() -> None:
    ref = parse("{vault://env/my-secret}")
    assert (ref.vault, ref.name, ref.key) == ("env", "my-secret", None)
    assert EnvVault().variable(ref) == "OIDCGATE_VAULT_MY_SECRET"
    assert EnvVault("ACME_").variable(ref) == "ACME_MY_SECRET"
    assert parse("{vault://env/creds/password}").key == "password"
    with pytest.raises(ValueError, match="only 'env'"):
        parse("{vault://hcv/x}")
    with pytest.raises(ValueError, match="invalid vault reference"):
        parse("{vault://env/}")


def test_env_prefix_is_checked_and_never_empty() -> None:
    assert env_prefix("acme_secrets_") == "ACME_SECRETS_"
    for bad in ("", "_X", "9X", "A-B", "A B", "A\nB"):
        with pytest.raises(ValueError, match="invalid vault env prefix"):
            env_prefix(bad)


def test_the_referenceable_fields_are_kongs() -> None:
    assert referenceable_fields(OpenIDConnectConfig) == [
        "client_id", "client_secret", "scopes", "cluster_cache_redis.username", "cluster_cache_redis.password",
        "session_secret", "redis.username", "redis.password"]
    assert referenceable_fields(RequestTransformerConfig) == []


def test_check_references_refuses_misplaced_and_malformed_ones_with_their_paths() -> None:
    config = {"issuer": ISSUER, "client_secret": ["{vault://env/ok}", "{vault://nope/x}"],
              "scopes": ["{vault://env/scope}"], "unauthorized_error_message": "{vault://env/aws-secret-access-key}",
              "forbidden_error_message": "keep {vault://env/x} inline: not a reference"}
    errors = check_references(OpenIDConnectConfig, config, "config")
    assert [(e.path, e.message) for e in errors] == [
        ("config.client_secret[1]", "unknown vault 'nope' in '{vault://nope/x}': only 'env' is supported"),
        ("config.unauthorized_error_message", "vault references are only allowed in secret fields "
                                              "(only client_id, client_secret, scopes, cluster_cache_redis.username, "
                                              "cluster_cache_redis.password, session_secret, redis.username, "
                                              "redis.password do)")]
    nested = {"add": {"querystring": ["{vault://env/leak}"], "headers": ["X-A:b"]}}
    assert [(e.path, e.message) for e in check_references(RequestTransformerConfig, nested)] == [
        ("add.querystring[0]", "vault references are only allowed in secret fields "
                               "(none of this plugin's fields do)")]
    assert check_references(OpenIDConnectConfig, None) == []


def test_resolve_reads_prefixed_variables_in_secret_fields_only() -> None:
    config = {"issuer": ISSUER, "client_id": ["a", "b"],
              "client_secret": ["{vault://env/oidc-secret}", "{vault://env/creds/password}"],
              "scopes": ["{vault://env/scope}", "orders:write"], "cache_ttl": 3,
              "cluster_cache_redis": {"host": "127.0.0.1", "password": "{vault://env/creds/password}"}}
    assert EnvVault(environ=ENVIRON).resolve(OpenIDConnectConfig, config) == {
        **config, "client_secret": ["s3cret", "pw"], "scopes": ["orders:read", "orders:write"],
        "cluster_cache_redis": {"host": "127.0.0.1", "password": "pw"}}


def test_resolve_lists_every_failure_without_leaking_values() -> None:
    environ = {**ENVIRON, "OIDCGATE_VAULT_NOT_JSON": "secret-value"}
    config = {"client_secret": ["{vault://env/missing}", "{vault://env/not-json/k}", "{vault://env/creds/k}",
                                "{vault://env/aws-secret-access-key}"],
              "unauthorized_error_message": "{vault://env/oidc-secret}"}
    with pytest.raises(ConfigError) as caught:
        EnvVault(environ=environ).resolve(OpenIDConnectConfig, config, "plugins[0].config")
    assert [(e.path, e.message) for e in caught.value.errors] == [
        ("plugins[0].config.client_secret[0]", "vault reference: environment variable OIDCGATE_VAULT_MISSING is "
                                               "not set (the env vault reads OIDCGATE_VAULT_<NAME>)"),
        ("plugins[0].config.client_secret[1]", "vault reference: OIDCGATE_VAULT_NOT_JSON is not a JSON object "
                                               "(key 'k' wanted)"),
        ("plugins[0].config.client_secret[2]", "vault reference: OIDCGATE_VAULT_CREDS has no key 'k'"),
        # AWS_SECRET_ACCESS_KEY is set, but outside the prefix: never read.
        ("plugins[0].config.client_secret[3]", "vault reference: environment variable "
                                               "OIDCGATE_VAULT_AWS_SECRET_ACCESS_KEY is not set (the env vault "
                                               "reads OIDCGATE_VAULT_<NAME>)"),
        ("plugins[0].config.unauthorized_error_message", "vault references are only allowed in secret fields "
                                                         "(only client_id, client_secret, scopes, "
                                                         "cluster_cache_redis.username, cluster_cache_redis.password, "
                                                         "session_secret, redis.username, redis.password do)")]
    assert not any(value in str(caught.value) for value in ("secret-value", "s3cret", "aws-value"))


def _kong_yml(plugin: dict[str, Any]) -> dict[str, Any]:
    return {"_format_version": "3.0", "services": [{"name": "s", "url": "http://127.0.0.1:9", "routes": [
        {"name": "r", "paths": ["/r"], "plugins": [plugin]}]}]}


def test_kong_yml_validation_refuses_a_misplaced_reference() -> None:
    leak = {"name": "request-transformer", "config": {"append": {"body": ["{vault://env/leak}"]}}}
    with pytest.raises(ConfigError) as caught:
        load(_kong_yml(leak), config_schema)
    assert [str(e) for e in caught.value.errors] == [
        "services[0].routes[0].plugins[0].config.append.body[0]: vault references are only allowed in secret "
        "fields (none of this plugin's fields do)"]
    secret = {"name": "openid-connect", "config": {"issuer": ISSUER, "client_id": ["c"],
                                                   "client_secret": ["{vault://env/oidc-secret}"]}}
    assert load(_kong_yml(secret), config_schema).plugins[0].config["client_secret"] == ["{vault://env/oidc-secret}"]


async def test_the_admin_api_refuses_misplaced_references_and_keeps_the_others(admin: httpx.AsyncClient) -> None:
    leak = {"name": "request-transformer", "config": {"add": {"headers": ["X-Ok:1"], "querystring": [
        "{vault://env/leak}"]}}}
    for path in ("/plugins", "/schemas/plugins/validate"):
        refused = await admin.post(path, json=leak)
        assert refused.status_code == 400, refused.text
        assert refused.json()["fields"] == {"config": {"add": {"querystring": {
            "0": "vault references are only allowed in secret fields (none of this plugin's fields do)"}}}}
    refused = await admin.post("/config", json=_kong_yml(leak))
    assert refused.status_code == 400 and "vault references are only allowed" in refused.text
    assert (await admin.get("/plugins")).json()["data"] == []

    stored = await admin.post("/plugins", json={"name": "openid-connect", "config": {
        "issuer": ISSUER, "client_id": ["{vault://env/id}"], "client_secret": ["{vault://env/oidc-secret}"]}})
    assert stored.status_code == 201, stored.text
    assert stored.json()["config"]["client_secret"] == ["{vault://env/oidc-secret}"]

    schema = (await admin.get("/schemas/plugins/openid-connect")).json()
    config = {name: spec for entry in schema["fields"] for name, spec in entry.items()}["config"]
    fields = {name: spec for entry in config["fields"] for name, spec in entry.items()}
    assert [name for name, spec in fields.items() if spec.get("elements", spec).get("referenceable")] == [
        "client_id", "client_secret", "scopes", "session_secret"]  # redis' own fields are nested
