"""The command lines `oidcgate demo` starts its parts with: a random secret that begins with "-" (one
in 64 of `secrets.token_urlsafe`) must still reach the part, not be taken for an option."""

from __future__ import annotations

from pathlib import Path

import pytest

from oidcgate.cli import build_parser
from oidcgate.demo.runner import idp_command


@pytest.mark.parametrize("token", ["-mhqZoHkClw-UuWUfU1lIw", "--x1YzQ_d4Ka", "plain_token"])
def test_the_identity_providers_admin_token_arrives_whatever_it_begins_with(token: str) -> None:
    args = build_parser().parse_args(idp_command(Path("/tmp/demo"), "127.0.0.1:9000", token))
    assert args.admin_token == token and args.listen == "127.0.0.1:9000"
