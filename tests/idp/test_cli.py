"""`oidcgate idp ...` management commands, against the same database a server uses."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.idp.helpers import cli, running_idp, token_request

pytestmark = pytest.mark.e2e


def test_client_and_user_lifecycle(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'cli.db'}"
    created = cli("client", "create", "--name", "orders", "--grant-types", "client_credentials",
                  "--scopes", "orders:read orders:write", database=database)
    assert created.returncode == 0, created.stderr
    lines = dict(line.split(": ", 1) for line in created.stdout.splitlines())
    assert lines["client_id"].startswith("0oa") and len(lines["client_secret"]) >= 40

    as_json = cli("client", "create", "--name", "web", "--grant-types", "authorization_code,refresh_token",
                  "--scopes", "openid,offline_access", "--redirect-uri", "http://127.0.0.1:9/cb",
                  "--auth-method", "client_secret_post", "--third-party", "--json", database=database)
    web = json.loads(as_json.stdout)
    assert web["grant_types"] == ["authorization_code", "refresh_token"] and web["first_party"] is False
    assert web["token_endpoint_auth_method"] == "client_secret_post" and web["client_secret"]

    listed = json.loads(cli("client", "list", "--json", database=database).stdout)
    assert {client["client_id"] for client in listed} == {lines["client_id"], web["client_id"]}
    assert all("client_secret" not in client and "secret_hash" not in client for client in listed)

    user = cli("user", "create", "--username", "alice", "--groups", "admins,users", "--json", database=database,
               stdin="s3cret-password\n")  # the password from stdin, as a script would pass it
    assert user.returncode == 0, user.stderr
    assert json.loads(user.stdout)["groups"] == ["admins", "users"]
    assert cli("user", "create", "--username", "alice", "--password", "another-password",
               database=database).returncode == 1  # exists
    users = json.loads(cli("user", "list", "--json", database=database).stdout)
    assert [u["username"] for u in users] == ["alice"] and "password_hash" not in users[0]

    assert cli("scope", "create", "reports:read", "--description", "Read reports", database=database).returncode == 0
    scopes = json.loads(cli("scope", "list", "--json", database=database).stdout)
    assert {"orders:read", "orders:write", "reports:read"} <= {scope["name"] for scope in scopes}

    assert cli("user", "delete", "alice", database=database).returncode == 0
    assert cli("client", "delete", web["client_id"], database=database).returncode == 0
    missing = cli("client", "delete", web["client_id"], database=database)
    assert missing.returncode == 1 and "no client" in missing.stderr


def test_private_key_jwt_client_from_a_pem_file(tmp_path: Path) -> None:
    from joserfc import jwk

    key = jwk.generate_key("EC", "P-256")
    (tmp_path / "client.pem").write_bytes(key.as_pem(private=False))
    created = cli("client", "create", "--name", "signer", "--grant-types", "client_credentials", "--scopes", "a",
                  "--auth-method", "private_key_jwt", "--jwks-file", str(tmp_path / "client.pem"), "--json",
                  database=f"sqlite:///{tmp_path / 'x.db'}")
    client = json.loads(created.stdout)
    assert client["client_secret"] is None
    assert client["jwks"]["keys"][0]["x"] == key.as_dict()["x"] and "d" not in client["jwks"]["keys"][0]


def test_invalid_input_reports_every_problem(tmp_path: Path) -> None:
    result = cli("client", "create", "--name", "x", "--grant-types", "authorization_code,password",
                 "--scopes", "ok bad\\scope", database=f"sqlite:///{tmp_path / 'x.db'}")
    assert result.returncode == 1
    assert "grant_types" in result.stderr and "scopes" in result.stderr and "Traceback" not in result.stderr


def test_default_database_under_the_prefix_and_env_flags(tmp_path: Path) -> None:
    assert cli("scope", "create", "a:b", cwd=tmp_path).returncode == 0
    assert (tmp_path / ".oidcgate-idp" / "idp.db").exists()
    assert cli("scope", "create", "c:d", "--prefix", str(tmp_path / "elsewhere")).returncode == 0
    assert (tmp_path / "elsewhere" / "idp.db").exists()
    from_env = cli("scope", "list", "--json", env={"OIDCGATE_IDP_DATABASE": f"sqlite:///{tmp_path / 'elsewhere' / 'idp.db'}"})
    assert [scope["name"] for scope in json.loads(from_env.stdout)] == ["c:d"]


def test_servers_keys_and_a_running_provider(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'idp.db'}"
    assert cli("server", "create", "partners", "--audience", "api://partners", "--access-token-lifetime", "300",
               database=database).returncode == 0
    servers = json.loads(cli("server", "list", "--json", database=database).stdout)
    assert [(s["id"], s["audience"]) for s in servers] == [("default", "api://default"), ("partners", "api://partners")]
    updated = cli("server", "update", "partners", "--access-token-lifetime", "120", "--json", database=database)
    assert json.loads(updated.stdout)["access_token_lifetime"] == 120
    rotated = json.loads(cli("keys", "rotate", "--server", "partners", "--alg", "ES256", "--json",
                             database=database).stdout)
    keys = json.loads(cli("keys", "list", "--server", "partners", "--json", database=database).stdout)
    assert [key["alg"] for key in keys] == ["RS256", "ES256"] and keys[-1]["kid"] == rotated["kid"]
    assert keys[0]["publish_until"] >= keys[0]["retired_at"] + 120

    client = json.loads(cli("client", "create", "--name", "svc", "--grant-types", "client_credentials",
                            "--scopes", "a", "--json", database=database).stdout)
    with running_idp(tmp_path, database=database) as idp:
        answer = token_request(idp, {"grant_type": "client_credentials"}, server="partners",
                               auth=(client["client_id"], client["client_secret"]))
        assert answer.status_code == 200 and answer.json()["expires_in"] == 120
        assert {key["alg"] for key in idp.jwks("partners")["keys"]} == {"RS256", "ES256"}
        assert httpx.get(idp.endpoint("keys", "nowhere")).status_code == 404


def test_serve_refuses_an_issuer_url_with_a_path_to_a_server(tmp_path: Path) -> None:
    result = cli("--issuer-url", "https://login.example.com/oauth2/default", database=f"sqlite:///{tmp_path / 'x.db'}")
    assert result.returncode == 2 and "base URL" in result.stderr
