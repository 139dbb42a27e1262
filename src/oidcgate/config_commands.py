"""`oidcgate config validate FILE`: check a kong.yml without starting anything.

Outside `oidcgate.config` because it hands the loader the installed plugins' schemas, and `config`
sits below `plugins`.
"""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("config", help="work with declarative configuration files")
    sub = parser.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    validate = sub.add_parser("validate", help="validate a kong.yml and report every error")
    validate.add_argument("file")
    validate.set_defaults(handler=_validate)


def _validate(args: argparse.Namespace) -> int:
    from oidcgate.config import ConfigError, load_file
    from oidcgate.plugins import registry

    try:
        snapshot = load_file(args.file, registry.config_schema)
    except ConfigError as exc:
        print(f"{args.file}: invalid configuration ({len(exc.errors)} error(s)):", file=sys.stderr)
        for error in exc.errors:
            print(f"  {error}", file=sys.stderr)
        return 1
    counts = ", ".join(f"{n} {kind}" for kind, n in snapshot.counts.items() if n)
    print(f"{args.file}: valid ({counts or 'empty'}); hash {snapshot.hash}")
    return 0
