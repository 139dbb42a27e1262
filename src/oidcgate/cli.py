"""The single `oidcgate` entry point.

Each part of the gateway owns its subcommands: `oidcgate.<part>.commands.register(subparsers)` adds
them (`oidcgate.config_commands` for `config`, which needs the plugins as well), and heavy imports
happen only inside the chosen command, so `oidcgate --help` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from oidcgate import __version__

# The modules that register the subcommands (named in the comments), in help order.
COMMAND_MODULES: tuple[str, ...] = (
    "oidcgate.demo.commands",  # demo
    "oidcgate.proxy.commands",  # dp
    "oidcgate.controlplane.commands",  # cp
    "oidcgate.cluster.commands",  # cluster
    "oidcgate.idp.commands",  # idp
    "oidcgate.echo.commands",  # echo
    "oidcgate.config_commands",  # config
    "oidcgate.tokens.commands",  # token
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oidcgate",
        description="An API gateway with first-class OpenID Connect.",
    )
    parser.add_argument("--version", action="version", version=f"oidcgate {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result = args.handler(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
