"""`oidcgate token decode`: unverified by default and labelled so; verified with --issuer/--jwks."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.plugins.openid_connect.providers import MockProvider
from tests.support import forge
from tests.support.processes import OIDCGATE

pytestmark = pytest.mark.e2e


def decode(*args: str, stdin: str | None = None) -> tuple[int, dict[str, object] | None, str]:
    done = subprocess.run([*OIDCGATE, "token", "decode", *args], input=stdin, capture_output=True, text=True,
                          timeout=60)
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else None, done.stderr


def test_unverified_decode_says_so() -> None:
    token = forge.sign(forge.claims("https://idp.example", exp=2_000_000_000), forge.rsa_key("k1"))
    code, out, err = decode(token)
    assert code == 0 and out is not None
    assert out["verified"] is False and str(out["warning"]).startswith("UNVERIFIED")
    assert out["header"] == {"typ": "JWT", "alg": "RS256", "kid": "k1"}
    assert out["claims"]["iss"] == "https://idp.example"  # type: ignore[index]
    assert out["times"]["exp"] == "2033-05-18T03:33:20+00:00"  # type: ignore[index]
    assert "UNVERIFIED" in err
    assert decode("-", stdin=f"Bearer {token}\n")[1] == out


def test_not_a_jwt_is_exit_2() -> None:
    code, out, err = decode("not-a-token")
    assert code == 2 and out is None and "not a JWT" in err


def test_verified_with_the_issuer_or_the_jwks(mock: MockProvider) -> None:
    token = mock.token()
    code, out, _ = decode(token, "--issuer", mock.issuer)
    assert code == 0 and out is not None
    assert out["verified"] is True and out["verified_with"] == f"{mock.issuer}/jwks"
    assert decode(token, "--jwks", f"{mock.issuer}/jwks")[0] == 0

    code, out, err = decode(forge.tampered(token, scope="admin"), "--issuer", mock.issuer)
    assert code == 1 and "verification FAILED: the token's signature is invalid" in err
    assert out is not None and out["verified"] is False
    expired = forge.sign({"iss": mock.issuer, "exp": int(time.time()) - 60}, mock.signing_key())
    assert "expired" in decode(expired, "--jwks", f"{mock.issuer}/jwks")[2]
    foreign = forge.sign({"iss": "https://elsewhere", "exp": int(time.time()) + 60}, mock.signing_key())
    assert "issuer is not accepted" in decode(foreign, "--issuer", mock.issuer)[2]
    assert "cannot fetch" in decode(token, "--jwks", "http://127.0.0.1:1/jwks")[2]
