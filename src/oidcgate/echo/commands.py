"""`oidcgate echo`: the httpbin-like upstream (see oidcgate.echo.endpoints for its paths)."""

from __future__ import annotations

import argparse
import os
import sys


def _workers(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 64:
        raise argparse.ArgumentTypeError(f"expected a number of workers from 1 to 64, got '{text}'")
    return int(text)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "echo", help="run the httpbin-like echo upstream",
        description="An httpbin-like upstream: /get /post /put /patch /delete /anything[/...] /headers "
                    "/status/{code} /delay/{seconds} /bytes/{n} /stream-bytes/{n}.")
    parser.add_argument("--listen", default=os.environ.get("OIDCGATE_ECHO_LISTEN", "127.0.0.1:9090"),
                        help="HOST:PORT to listen on (env OIDCGATE_ECHO_LISTEN; default %(default)s)")
    parser.add_argument("--workers", type=_workers, default=os.environ.get("OIDCGATE_ECHO_WORKERS", "1"),
                        help="worker processes sharing the port (env OIDCGATE_ECHO_WORKERS; default 1)")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from oidcgate.echo.server import parse_listen, serve

    try:
        host, port = parse_listen(args.listen)
    except ValueError as exc:
        print(f"oidcgate echo: --listen: {exc}", file=sys.stderr)
        return 2
    return serve(host, port, args.workers)
