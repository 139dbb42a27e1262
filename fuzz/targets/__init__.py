"""The fuzz targets, by name. Each module exposes `target()`, which sets up what it needs and
returns a `fuzz.harness.Target`; imports happen inside `target()` so that the runner can instrument
the project's modules for coverage before they load."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from fuzz.harness import Target

NAMES = ("request_head", "declarative", "admin_body", "jwt", "basic")


def load(name: str) -> Callable[[], Target]:
    if name not in NAMES:
        raise KeyError(f"unknown fuzz target '{name}'; known: {', '.join(NAMES)}")
    module = importlib.import_module(f"fuzz.targets.{name}")
    factory: Callable[[], Target] = module.target
    return factory
