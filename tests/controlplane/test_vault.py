"""`{vault://env/NAME}` references: syntax checks on the control plane, resolution on the data plane."""

from __future__ import annotations

import json

import pytest

from oidcgate.config import ConfigError
from oidcgate.config.vault import check_references, parse, resolve_references


def test_parse() -> None:
    ref = parse("{vault://env/my-secret}")
    assert (ref.vault, ref.name, ref.key, ref.variable) == ("env", "my-secret", None, "MY_SECRET")
    assert parse("{vault://env/creds/password}").key == "password"
    with pytest.raises(ValueError, match="only 'env'"):
        parse("{vault://hcv/x}")
    with pytest.raises(ValueError, match="invalid vault reference"):
        parse("{vault://env/}")


def test_check_references_reports_paths() -> None:
    config = {"client_secret": ["{vault://env/ok}", "{vault://nope/x}"], "other": "{vault://env"}
    errors = check_references(config, "config")
    assert [e.path for e in errors] == ["config.client_secret[1]", "config.other"]
    assert check_references({"plain": "not a reference", "n": 1}) == []


def test_resolve_replaces_whole_string_references_only() -> None:
    environ = {"OIDC_SECRET": "s3cret", "CREDS": json.dumps({"password": "pw"})}
    value = {"a": ["{vault://env/oidc-secret}", "keep {vault://env/oidc-secret} inline"],
             "b": "{vault://env/creds/password}", "c": 3}
    assert resolve_references(value, environ) == {
        "a": ["s3cret", "keep {vault://env/oidc-secret} inline"], "b": "pw", "c": 3}


def test_resolve_lists_every_failure_without_leaking_values() -> None:
    environ = {"CREDS": "not json", "SET": "secret-value"}
    with pytest.raises(ConfigError) as caught:
        resolve_references({"x": "{vault://env/missing}", "y": ["{vault://env/creds/k}"],
                            "z": "{vault://env/set/k}"}, environ, "plugins[0].config")
    paths = [e.path for e in caught.value.errors]
    assert paths == ["plugins[0].config.x", "plugins[0].config.y[0]", "plugins[0].config.z"]
    assert "MISSING is not set" in str(caught.value)
    assert "secret-value" not in str(caught.value)
