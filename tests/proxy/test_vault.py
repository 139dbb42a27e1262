"""`{vault://env/NAME}` secrets on a real data plane: resolved from `<vault_env_prefix>NAME` in secret fields
only, never written resolved, and refused anywhere else before any request can carry them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.idp.helpers import running_idp, token_request
from tests.proxy.conftest import StartDP
from tests.proxy.helpers import DataPlane
from tests.support.processes import free_port

pytestmark = pytest.mark.e2e
LEAKED = "aws-secret-value"
# What a config author would like to read: a secret whose `name:value` shape a query argument accepts.
ENVIRONMENT = {"LEAK": f"x-leaked:{LEAKED}", "OIDCGATE_VAULT_LEAK": f"x-leaked:{LEAKED}",
               "AWS_SECRET_ACCESS_KEY": LEAKED}


def _document(upstream: str, *plugins: dict[str, Any]) -> dict[str, Any]:
    return {"_format_version": "3.0", "services": [{"name": "echo", "url": upstream, "routes": [
        {"name": "r", "paths": ["/r"], "plugins": list(plugins)}]}]}


def _oidc(issuer: str, client_secret: str = "{vault://env/gateway/secret}") -> dict[str, Any]:
    """The plugin introspects bearer tokens with its own client: every credential is a reference."""
    return {"name": "openid-connect", "config": {
        "issuer": issuer, "auth_methods": ["introspection"],
        "client_id": ["{vault://env/gateway-id}", "{vault://env/backup-id}"],
        "client_secret": [client_secret, "{vault://env/backup-secret}"]}}


def _post(dp: DataPlane, document: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"http://127.0.0.1:{dp.admin_port}/config", json=document, timeout=10)


def test_references_in_secret_fields_authenticate_the_plugin_and_stay_references_on_disk(
        tmp_path: Path, dataplane: StartDP, echo_port: int) -> None:
    with running_idp(tmp_path) as idp:
        gateway, caller = idp.cc_client(), idp.cc_client()
        token = token_request(idp, {"grant_type": "client_credentials", "scope": "orders:read"},
                              auth=(caller["client_id"], caller["client_secret"])).json()["access_token"]
        environment = {"OIDCGATE_VAULT_GATEWAY_ID": gateway["client_id"],
                       "OIDCGATE_VAULT_GATEWAY": json.dumps({"secret": gateway["client_secret"]}),
                       "OIDCGATE_VAULT_BACKUP_ID": "backup", "OIDCGATE_VAULT_BACKUP_SECRET": "backup-secret"}
        dp = dataplane(None, admin=True, env=environment)
        upstream = f"http://127.0.0.1:{echo_port}/anything"
        applied = _post(dp, _document(upstream, _oidc(idp.issuer())))
        assert applied.status_code == 201, applied.text
        bearer = {"Authorization": f"Bearer {token}"}
        # 200 means the provider accepted the resolved client id and secret at its introspection endpoint.
        assert httpx.get(dp.url + "/r", headers=bearer, timeout=10).status_code == 200
        persisted = (dp.prefix / "config.json").read_text()
        assert "{vault://env/gateway/secret}" in persisted and gateway["client_secret"] not in persisted

        # A variable this node lacks: refused with its path and the variable's full name; the old config stays.
        refused = _post(dp, _document(upstream, _oidc(idp.issuer(), "{vault://env/missing}")))
        assert refused.status_code == 400, refused.text
        assert "plugins[0].config.client_secret[0]" in refused.text
        assert "OIDCGATE_VAULT_MISSING is not set" in refused.text
        assert json.loads((dp.prefix / "config.json").read_text()) == json.loads(persisted)
        assert httpx.get(dp.url + "/r", headers=bearer, timeout=10).status_code == 200
        assert gateway["client_secret"] not in dp.proc.output()


def test_a_reference_outside_a_secret_field_is_refused_before_it_reaches_the_upstream(
        dataplane: StartDP, echo_port: int) -> None:
    dp = dataplane(None, admin=True, env=ENVIRONMENT)
    upstream = f"http://127.0.0.1:{echo_port}/anything"
    assert _post(dp, _document(upstream)).status_code == 201
    exfiltrate = {"name": "request-transformer", "config": {"add": {"querystring": ["{vault://env/leak}"]}}}
    refused = _post(dp, _document(upstream, exfiltrate))
    assert refused.status_code == 400, refused.text
    assert "plugins[0].config.add.querystring[0]" in refused.text
    assert "vault references are only allowed in secret fields" in refused.text
    echoed = httpx.get(dp.url + "/r", timeout=10)
    assert echoed.status_code == 200 and LEAKED not in echoed.text


def test_a_variable_outside_the_prefix_is_never_read(dataplane: StartDP) -> None:
    dp = dataplane(None, admin=True, args=("--vault-env-prefix", "acme_"),
                   env={**ENVIRONMENT, "ACME_GATEWAY_SECRET": "gateway-secret"})
    issuer = "http://127.0.0.1:9/oauth2/default"
    secrets = {"name": "openid-connect", "config": {"issuer": issuer, "client_id": ["gateway"],
                                                    "client_secret": ["{vault://env/gateway-secret}"]}}
    assert _post(dp, _document("http://127.0.0.1:9", secrets)).status_code == 201
    secrets["config"]["client_secret"] = ["{vault://env/aws-secret-access-key}"]
    refused = _post(dp, _document("http://127.0.0.1:9", secrets))
    assert refused.status_code == 400, refused.text
    assert "ACME_AWS_SECRET_ACCESS_KEY is not set (the env vault reads ACME_<NAME>)" in refused.text
    assert LEAKED not in refused.text


def _start(tmp_path: Path, document: dict[str, Any] | None, *args: str) -> subprocess.CompletedProcess[str]:
    """`oidcgate dp` expected to refuse to start: its exit and output."""
    config = ("--config", str(tmp_path / "kong.json")) if document is not None else ()
    if document is not None:
        (tmp_path / "kong.json").write_text(json.dumps(document))
    return subprocess.run([sys.executable, "-m", "oidcgate.cli", "dp", *config, "--prefix", str(tmp_path / "dp"),
                           "--proxy-listen", f"127.0.0.1:{free_port()}", "--status-listen", "off", *args],
                          capture_output=True, text=True, timeout=30, check=False,
                          env={**os.environ, **ENVIRONMENT})


def test_bad_references_and_prefixes_stop_the_data_plane_at_start(tmp_path: Path) -> None:
    unresolvable = _start(tmp_path, _document("http://127.0.0.1:9", _oidc("http://127.0.0.1:9/oauth2/default")))
    assert unresolvable.returncode == 1, unresolvable.stdout + unresolvable.stderr
    assert "plugins[0].config.client_id[0]" in unresolvable.stderr
    assert "OIDCGATE_VAULT_GATEWAY_ID is not set" in unresolvable.stderr

    # The message of every 401 would carry the secret to any client.
    misplaced = _start(tmp_path, _document("http://127.0.0.1:9", {"name": "openid-connect", "config": {
        "issuer": "http://127.0.0.1:9/oauth2/default", "unauthorized_error_message": "{vault://env/leak}"}}))
    assert misplaced.returncode == 1, misplaced.stdout + misplaced.stderr
    assert ("plugins[0].config.unauthorized_error_message: vault references are only allowed in secret fields "
            "(only client_id, client_secret, scopes, cluster_cache_redis.username, cluster_cache_redis.password, "
            "session_secret, redis.username, redis.password do)") in misplaced.stderr

    for prefix in ("", "1X", "A-B"):
        bad_prefix = _start(tmp_path, None, "--vault-env-prefix", prefix)
        assert bad_prefix.returncode == 2 and "--vault-env-prefix: invalid vault env prefix" in bad_prefix.stderr
