"""`oidcgate token decode [TOKEN|-] [--issuer URL] [--jwks URL]`: print a JWT's header and claims as JSON.

Without `--issuer`/`--jwks` nothing is verified and the output says so (`"verified": false` and a
warning). With them, the signature, issuer and times are checked as the openid-connect plugin does;
exit status 1 when that fails, 2 when the input is not a JWT.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any


def register(subparsers: Any) -> None:
    token = subparsers.add_parser("token", help="look at tokens", description="Look at tokens.")
    commands = token.add_subparsers(dest="token_command", metavar="SUBCOMMAND", required=True)
    decode = commands.add_parser(
        "decode", help="print a JWT's header and claims (unverified unless --issuer/--jwks)",
        description="Print a JWT's header and claims as JSON. Without --issuer or --jwks the token is NOT "
                    "verified, and the output says so.")
    decode.add_argument("token", nargs="?", default="-", metavar="TOKEN|-",
                        help="the token, or - (the default) to read it from standard input")
    decode.add_argument("--issuer", metavar="URL", help="verify with the keys of this issuer (or discovery URL)")
    decode.add_argument("--jwks", metavar="URL", help="verify with the keys of this JWKS URL")
    decode.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                        help="for fetching keys (default: 10)")
    decode.set_defaults(handler=_decode)


def _decode(args: argparse.Namespace) -> int:
    from oidcgate.jwt.errors import TokenError
    from oidcgate.tokens import decode

    raw = sys.stdin.read() if args.token == "-" else args.token
    token = decode.clean(raw)
    try:
        unverified = decode.describe(token)
    except TokenError as exc:
        print(f"oidcgate token decode: {exc.description}", file=sys.stderr)
        return 2
    if args.issuer is None and args.jwks is None:
        print(f"warning: {decode.UNVERIFIED}", file=sys.stderr)
        _print(unverified)
        return 0
    try:
        keys = decode.fetch_keys(args.issuer, args.jwks, args.timeout)
        verified = decode.verify(token, keys, args.issuer, time.time())
    except decode.VerificationFailed as exc:
        print(f"oidcgate token decode: verification FAILED: {exc}", file=sys.stderr)
        _print({**unverified, "error": str(exc)})
        return 1
    _print(verified)
    return 0


def _print(document: dict[str, Any]) -> None:
    print(json.dumps(document, indent=2, ensure_ascii=False))
