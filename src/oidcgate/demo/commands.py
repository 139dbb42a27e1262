"""`oidcgate demo`: identity provider, echo upstream, control plane and a data plane, wired together."""

from __future__ import annotations

import argparse
import os

from oidcgate.demo.ports import DEFAULT_PORTS, Addresses, parse_ports


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo", help="run the identity provider, echo upstream, control plane and a data plane, configured",
        description="Start every part on loopback, configure the client-credentials story through the "
                    "Admin API and print the curl lines to try. Ctrl-C stops everything.")
    parser.add_argument("--prefix", default=os.environ.get("OIDCGATE_DEMO_PREFIX", ".oidcgate-demo"),
                        help="where all state lives; a second run reuses it (default: %(default)s)")
    parser.add_argument("--ports", type=_ports, default=os.environ.get("OIDCGATE_DEMO_PORTS", ""),
                        metavar="PART=PORT,...",
                        help="move parts off their default ports, e.g. proxy=18000,idp=19000 (parts: "
                             f"{', '.join(f'{name} {port}' for name, port in DEFAULT_PORTS.items())}); "
                             "also OIDCGATE_DEMO_PORTS")
    parser.add_argument("--no-wait", action="store_true",
                        help="configure, print the instructions, run the story once and stop (for tests)")
    parser.set_defaults(handler=_run)


def _ports(text: str) -> Addresses:
    try:
        return parse_ports(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _run(args: argparse.Namespace) -> int:
    from oidcgate.demo.runner import run

    return run(args.prefix, args.ports, wait=not args.no_wait)
