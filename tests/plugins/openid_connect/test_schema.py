"""The plugin's config schema, through the declarative loader: Kong's defaults, every error at its path."""

from __future__ import annotations

from typing import Any

import pytest

from oidcgate.config import declarative
from oidcgate.config.errors import ConfigError
from oidcgate.plugins import registry
from oidcgate.plugins.openid_connect.handler import OpenIDConnectHandler
from oidcgate.plugins.openid_connect.schema import OpenIDConnectConfig

ISSUER = "http://127.0.0.1:9000/oauth2/default"


def load(config: dict[str, Any]) -> dict[str, Any]:
    doc = {"_format_version": "3.0",
           "services": [{"name": "echo", "url": "http://127.0.0.1:9090",
                         "routes": [{"name": "r", "paths": ["/"],
                                     "plugins": [{"name": "openid-connect", "config": config}]}]}]}
    return dict(declarative.load(doc, registry.config_schema).plugins[0].config)


def errors(config: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        load(config)
    prefix = "services[0].routes[0].plugins[0].config."
    return {e.path.removeprefix(prefix): e.message for e in caught.value.errors}


def test_registered_with_kongs_name_and_priority() -> None:
    handler = registry.get("openid-connect")
    assert handler is OpenIDConnectHandler
    assert (handler.NAME, handler.PRIORITY, handler.phases()) == ("openid-connect", 1050, frozenset({"access"}))


def test_kong_defaults_are_filled_in() -> None:
    config = load({"issuer": ISSUER})
    assert config["auth_methods"] == ["client_credentials", "bearer", "introspection"]
    assert config["scopes"] == ["openid"]
    assert config["client_credentials_param_type"] == config["bearer_token_param_type"] == ["header", "query", "body"]
    assert config["audience_claim"] == ["aud"] and config["scopes_claim"] == ["scope"]
    assert config["groups_claim"] == ["groups"] and config["roles_claim"] == ["roles"]
    assert config["upstream_access_token_header"] == "authorization:bearer"
    assert config["consumer_by"] == ["username", "custom_id"]
    assert (config["cache_ttl"], config["rediscovery_lifetime"], config["timeout"]) == (3600, 30, 10000)
    assert config["ssl_verify"] is True and config["hide_credentials"] is False
    assert (config["unauthorized_error_message"], config["forbidden_error_message"]) == ("Unauthorized", "Forbidden")
    assert load(config) == config  # a snapshot's filled-in config validates again unchanged (DP re-apply)


def test_issuer_or_discovery_url() -> None:
    plain = OpenIDConnectConfig(issuer=ISSUER + "/")
    assert plain.discovery_url == ISSUER + "/.well-known/openid-configuration"
    assert plain.issuer_url == ISSUER
    doc = OpenIDConnectConfig(issuer=ISSUER + "/.well-known/openid-configuration")
    assert doc.discovery_url == ISSUER + "/.well-known/openid-configuration" and doc.issuer_url == ISSUER


def test_every_error_is_reported_at_its_field() -> None:
    found = errors({"issuer": "ftp://idp", "scopes": ["ok", "bad scope"], "leeway": -1,
                    "bearer_token_param_type": ["cookie"], "upstream_headers_names": ["Bad Header"],
                    "audience_required": [" "], "extra_jwks_uris": ["http://"], "timeout": 0})
    assert set(found) == {"issuer", "scopes[1]", "leeway", "bearer_token_param_type[0]",
                          "upstream_headers_names[0]", "audience_required[0]", "extra_jwks_uris[0]", "timeout"}
    assert "not an http(s) URL" in found["issuer"]
    assert "RFC 9110 token" in found["upstream_headers_names[0]"]
    assert "not a valid scope" in found["scopes[1]"]


def test_missing_issuer() -> None:
    assert errors({}) == {"issuer": "required field missing"}


def test_header_arrays_must_pair_up() -> None:
    found = errors({"issuer": ISSUER, "upstream_headers_claims": ["iss", "sub"],
                    "upstream_headers_names": ["Issuer_Header"]})
    assert found == {"upstream_headers_names": "has 1 entries but upstream_headers_claims has 2; they must pair up"}
    found = errors({"issuer": ISSUER, "upstream_headers_claims": ["iss", "sub"],
                    "upstream_headers_names": ["X_Who", "x-who"]})
    assert "names the same header twice" in found["upstream_headers_names"]


@pytest.mark.parametrize("name", ["Host", "content-length", "Transfer-Encoding", "Connection", "X-Forwarded-For",
                                  "x_forwarded_host", "Via", "X-Real-IP", "Proxy-User"])
def test_framing_and_proxy_headers_cannot_carry_claims(name: str) -> None:
    found = errors({"issuer": ISSUER, "upstream_headers_claims": ["sub"], "upstream_headers_names": [name]})
    assert "managed by the proxy" in found["upstream_headers_names[0]"]


@pytest.mark.parametrize(("value", "message"), [
    ("authorization:basic", "only ':bearer'"),
    ("bad header:bearer", "RFC 9110 token"),
    ("a:b:c", "not of the form"),
    ("content-length", "managed by the proxy"),
])
def test_upstream_access_token_header_form(value: str, message: str) -> None:
    assert message in errors({"issuer": ISSUER, "upstream_access_token_header": value})["upstream_access_token_header"]


def test_not_yet_supported_kong_values_say_so() -> None:
    found = errors({"issuer": ISSUER, "auth_methods": ["bearer", "password", "userinfo"],
                    "client_auth": ["tls_client_auth"], "client_id": ["gw"], "client_secret": ["s"],
                    "session_storage": "memcache"})
    assert found["auth_methods"].startswith("not supported yet: password, userinfo")
    assert found["session_storage"].startswith("not supported yet: memcache")
    assert found["client_auth"].startswith("not supported yet: tls_client_auth")
    unknown = errors({"issuer": ISSUER, "auth_methods": ["magic"]})
    assert "auth_methods[0]" in unknown and "password" in unknown["auth_methods[0]"]


def test_own_client_arrays_line_up_and_secrets_are_not_echoed() -> None:
    found = errors({"issuer": ISSUER, "client_id": ["a", "b"], "client_secret": ["top-secret-value"]})
    assert found == {"client_secret": "entry 1 is missing for client_id[1]"}
    found = errors({"issuer": ISSUER, "client_id": ["a"], "client_auth": ["private_key_jwt", "client_secret_post"]})
    assert set(found) == {"client_auth", "client_jwk"}
    found = errors({"issuer": ISSUER, "client_id": ["a"], "client_auth": ["private_key_jwt"],
                    "client_jwk": [{"kty": "RSA", "n": "AQAB", "e": "AQAB", "d": "secret-material"}]})
    assert set(found) == {"client_jwk"} and "secret-material" not in str(found)


def test_private_key_jwt_needs_a_private_asymmetric_key() -> None:
    from tests.support.forge import rsa_key

    key = rsa_key("gw")
    ok = load({"issuer": ISSUER, "client_id": ["gw"], "client_auth": ["private_key_jwt"],
               "client_jwk": [dict(key.as_dict(private=True))]})
    assert ok["client_auth"] == ["private_key_jwt"]
    public = errors({"issuer": ISSUER, "client_id": ["gw"], "client_auth": ["private_key_jwt"],
                     "client_jwk": [dict(key.as_dict(private=False))]})
    assert public == {"client_jwk": "entry 0: must be a private key"}


def test_consumer_optional_needs_a_consumer_claim() -> None:
    assert errors({"issuer": ISSUER, "consumer_optional": True}) == {"consumer_optional": "requires consumer_claim"}
    assert errors({"issuer": ISSUER, "consumer_groups_optional": True}) == {
        "consumer_groups_optional": "requires consumer_groups_claim"}


def test_introspecting_jwts_and_the_cluster_cache_need_their_credentials() -> None:
    assert errors({"issuer": ISSUER, "introspect_jwt_tokens": True, "cluster_cache_strategy": "redis"}) == {
        "client_id": "is required by introspect_jwt_tokens (the plugin's own client calls the introspection "
                     "endpoint)",
        "session_secret": "is required by cluster_cache_strategy redis: every data plane must derive the same "
                          "cache keys from it"}
    config = load({"issuer": ISSUER, "client_id": ["gw"], "client_secret": ["s"], "introspect_jwt_tokens": True,
                   "cluster_cache_strategy": "redis", "session_secret": "x" * 32,
                   "cluster_cache_redis": {"database": 9, "prefix": "gw-a"}})
    assert config["cluster_cache_redis"]["port"] == 6379 and config["cluster_cache_redis"]["prefix"] == "gw-a"
    assert errors({"issuer": ISSUER, "cluster_cache_strategy": "memcached"})["cluster_cache_strategy"].startswith(
        "Input should be 'off' or 'redis'")
    assert set(errors({"issuer": ISSUER, "cluster_cache_redis": {"prefix": "a b", "sentinel_master": "m"}})) == {
        "cluster_cache_redis.prefix", "cluster_cache_redis.sentinel_master"}


def test_the_new_kong_fields_and_their_defaults() -> None:
    config = load({"issuer": ISSUER})
    assert (config["introspect_jwt_tokens"], config["introspection_check_active"], config["cache_introspection"]) == (
        False, True, True)
    assert config["credential_claim"] == ["sub"] and config["by_username_ignore_case"] is False
    assert config["anonymous"] is None and config["claims_forbidden"] is None
    assert config["consumer_groups_claim"] is None and config["consumer_groups_optional"] is False
    assert config["cluster_cache_strategy"] == "off"
    assert set(errors({"issuer": ISSUER, "anonymous": "", "claims_forbidden": [""], "credential_claim": []})) == {
        "anonymous", "claims_forbidden[0]", "credential_claim"}


def test_json_schema_for_forms() -> None:
    schema = OpenIDConnectConfig.model_json_schema()
    assert schema["required"] == ["issuer"]
    assert "Issuer-Header" in schema["properties"]["upstream_headers_names"]["description"]


def test_field_errors_and_rules_between_fields_are_reported_together() -> None:
    found = errors({"timeout": 0, "upstream_headers_claims": ["iss", "sub"],
                    "upstream_headers_names": ["Issuer_Header"], "consumer_optional": True})
    assert found["issuer"] == "required field missing"
    assert "greater than or equal to 1" in found["timeout"]
    assert "has 1 entries but upstream_headers_claims has 2" in found["upstream_headers_names"]
    assert found["consumer_optional"] == "requires consumer_claim"


def test_a_rule_is_not_judged_on_a_field_that_failed_by_itself() -> None:
    found = errors({"issuer": ISSUER, "upstream_headers_claims": "iss", "upstream_headers_names": ["A", "B"]})
    assert set(found) == {"upstream_headers_claims"}  # no pairing error built on a default
