"""The single `oidcgate` entry point: every part registers its subcommands, and a missing part is an error."""

from __future__ import annotations

import argparse

import pytest

from oidcgate import cli
from oidcgate.plugins import registry


def test_every_part_registers_its_subcommands() -> None:
    parser = cli.build_parser()
    commands = next(a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert list(commands) == ["demo", "dp", "cp", "cluster", "idp", "echo", "config", "token"]


def test_a_missing_part_is_an_error_not_a_missing_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "COMMAND_MODULES", (*cli.COMMAND_MODULES, "oidcgate.nowhere.commands"))
    with pytest.raises(ModuleNotFoundError, match=r"oidcgate\.nowhere"):
        cli.build_parser()


def test_a_missing_bundled_plugin_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.BUNDLED, "nowhere", "oidcgate.plugins.nowhere.handler:Handler")
    registry.available.cache_clear()
    try:
        with pytest.raises(ModuleNotFoundError, match=r"oidcgate\.plugins\.nowhere"):
            registry.available()
    finally:
        monkeypatch.undo()
        registry.available.cache_clear()
