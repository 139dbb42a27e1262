"""State survives a restart: keys (old tokens verify), clients, users, refresh tokens and revocations;
it is private on disk (the database holds the signing keys)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.idp.helpers import (
    REDIRECT_URI,
    Idp,
    authorize_with_login,
    pkce_pair,
    running_idp,
    token_request,
    verify_jwt,
)
from tests.support.private import loosen, modes, private
from tests.support.processes import free_port

pytestmark = pytest.mark.e2e


def _introspect(idp: Idp, client: dict, token: str) -> dict:
    return dict(httpx.post(idp.endpoint("introspect"), data={"token": token},
                           auth=(client["client_id"], client["client_secret"]), timeout=10).json())


def _user_tokens(idp: Idp, client: dict) -> dict:
    verifier, challenge = pkce_pair()
    query = {"response_type": "code", "client_id": client["client_id"], "redirect_uri": REDIRECT_URI,
             "scope": "openid offline_access", "state": "s", "code_challenge": challenge,
             "code_challenge_method": "S256"}
    with httpx.Client(timeout=10) as browser:
        answer = authorize_with_login(browser, str(httpx.URL(idp.endpoint("authorize"), params=query)), "persistent-pat")
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    response = token_request(idp, {"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                                   "redirect_uri": REDIRECT_URI}, auth=(client["client_id"], client["client_secret"]))
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_state_survives_a_restart(tmp_path: Path) -> None:
    port = free_port()  # the same port after the restart, so the issuer stays the same
    with running_idp(tmp_path, port=port) as idp:
        service, web = idp.cc_client(), idp.web_client()
        idp.create_user("persistent-pat")
        kept = token_request(idp, {"grant_type": "client_credentials"},
                             auth=(service["client_id"], service["client_secret"])).json()["access_token"]
        revoked = token_request(idp, {"grant_type": "client_credentials"},
                                auth=(service["client_id"], service["client_secret"])).json()["access_token"]
        assert httpx.post(idp.endpoint("revoke"), data={"token": revoked},
                          auth=(service["client_id"], service["client_secret"])).status_code == 200
        user_tokens = _user_tokens(idp, web)
        jwks_before = idp.jwks()
        rotated = idp.admin("POST", "/api/v1/keys/rotate")
        assert rotated.status_code == 200

    with running_idp(tmp_path, port=port) as idp:
        jwks = idp.jwks()
        assert {key["kid"] for key in jwks_before["keys"]} < {key["kid"] for key in jwks["keys"]}
        verify_jwt(kept, jwks, iss=idp.issuer())
        assert _introspect(idp, service, kept)["active"] is True
        assert _introspect(idp, service, revoked) == {"active": False}
        # The client still authenticates, and its new tokens use the key rotated in before the restart.
        fresh = token_request(idp, {"grant_type": "client_credentials"},
                              auth=(service["client_id"], service["client_secret"]))
        assert fresh.status_code == 200
        assert verify_jwt(fresh.json()["access_token"], jwks)[0]["kid"] == rotated.json()["kid"]
        # The refresh token still works, and the user can still sign in.
        refreshed = token_request(idp, {"grant_type": "refresh_token", "refresh_token": user_tokens["refresh_token"]},
                                  auth=(web["client_id"], web["client_secret"]))
        assert refreshed.status_code == 200, refreshed.text
        verify_jwt(refreshed.json()["id_token"], jwks, aud=web["client_id"])
        assert _user_tokens(idp, web)["access_token"]


def test_state_is_private_and_a_loose_database_is_tightened_at_start(tmp_path: Path) -> None:
    state = tmp_path / "state"
    db = state / "idp.db"
    wal = [state / f"idp.db-{suffix}" for suffix in ("wal", "shm")]  # WAL mode: there while it runs
    with running_idp(tmp_path, database=f"sqlite:///{db}") as idp:
        idp.cc_client()
        assert modes(state, db, *wal) == private(dirs=(state,), files=(db, *wal))
    loosen(db)
    with running_idp(tmp_path, database=f"sqlite:///{db}") as idp:
        assert idp.jwks()["keys"]
        assert modes(db) == private(files=(db,))
        assert f"{db} was accessible to other users (mode 0644): changed to 0600" in idp.proc.output()
