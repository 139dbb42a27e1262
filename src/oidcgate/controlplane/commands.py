"""`oidcgate cp` (start the control plane), `cp migrate`, `cp runtime-script`."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from oidcgate.controlplane.settings import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from oidcgate.controlplane.settings import add_arguments

    parser = subparsers.add_parser(
        "cp", help="the control plane: Admin API, GUI, store, cluster listener",
        description="Runs the control plane (`oidcgate cp` or `oidcgate cp start`). Settings come from "
                    "flags, then OIDCGATE_* environment variables, then defaults. The default embedded "
                    "SQLite database is created and migrated at first start; any other database must be "
                    "migrated with `oidcgate cp migrate` first.")
    add_arguments(parser)
    parser.set_defaults(handler=_start)
    actions = parser.add_subparsers(dest="cp_command", metavar="ACTION")
    for name, handler, help_text in (
        ("start", _start, "run the control plane (the default action)"),
        ("migrate", _migrate, "create or upgrade the database schema"),
        ("runtime-script", _runtime_script, "print a script that starts a data plane against this control plane"),
    ):
        action = actions.add_parser(name, help=help_text)
        add_arguments(action)
        action.set_defaults(handler=handler)


def _settings(args: argparse.Namespace) -> Settings | None:
    from oidcgate.controlplane.settings import Settings, SettingsError

    try:
        return Settings.from_args(args)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def _start(args: argparse.Namespace) -> int:
    import asyncio

    import uvloop

    from oidcgate.controlplane.node import StartupError, run

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # the start-up check is not news
    settings = _settings(args)
    if settings is None:
        return 2
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(run(settings))
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from oidcgate.controlplane import database, migrate

    settings = _settings(args)
    if settings is None:
        return 2
    try:
        url = database.normalize_url(settings.database)
        engine = database.create(url)
        before, after = migrate.upgrade(engine)
    except Exception as exc:  # driver and Alembic errors alike: say what failed, no traceback
        print(f"error: cannot migrate {settings.database}: {exc}", file=sys.stderr)
        return 1
    where = database.display_url(url)
    if before == after:
        print(f"database {where} is up to date (schema {after})")
    else:
        print(f"database {where} migrated from {before or 'empty'} to schema {after}")
    engine.dispose()
    return 0


def _runtime_script(args: argparse.Namespace) -> int:
    from oidcgate.controlplane.node import StartupError, cluster_files, runtime_script_renderer

    settings = _settings(args)
    if settings is None:
        return 2
    try:
        files = cluster_files(settings)
        if files is None:
            raise StartupError(f"no cluster certificate at {settings.cluster_cert}: create one with "
                               f"`oidcgate cluster gen-cert {settings.cluster_cert} {settings.cluster_key}`")
        sys.stdout.write(runtime_script_renderer(settings, *files)())
    except (StartupError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
