"""Labelled counters for what plugins do besides proxying (calls to identity providers, log entries a
queue dropped): the same mechanism as the request metrics, not a second metric system.

Each worker process counts in plain dicts (an increment is a dict update, no lock, no prometheus_client
object); the worker sends `dump()` with its other counters when the master scrapes, and the master
adds the workers' dumps up and renders them on `/metrics` (plugins.prometheus.exporter). A counter is
declared once, at import, with its help text and label names, which travel in the dump, so the master
renders a counter whether or not it imported the module that declared it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

_DECLARED: dict[str, Counter] = {}


class Counter:
    """A counter family; `inc(*label_values)` adds to one of its series."""

    __slots__ = ("help", "labelnames", "name", "values")

    def __init__(self, name: str, help: str, labelnames: tuple[str, ...],
                 preset: Iterable[tuple[str, ...]] = ()) -> None:
        """`name` is the exposed name (with `_total`); `preset` series are shown at 0 before they count."""
        if name in _DECLARED:
            raise ValueError(f"counter {name} is declared twice")
        self.name, self.help, self.labelnames = name, help, labelnames
        self.values: dict[tuple[str, ...], float] = dict.fromkeys(preset, 0)
        _DECLARED[name] = self

    def inc(self, *labels: str, amount: float = 1) -> None:
        self.values[labels] = self.values.get(labels, 0) + amount

    def get(self, *labels: str) -> float:
        """This process's count (for tests and the bench)."""
        return self.values.get(labels, 0)


def dump() -> list[list[Any]]:
    """This process's counters, JSON-ready: [name, help, labelnames, [[*label values, value], ...]]."""
    return [[c.name, c.help, list(c.labelnames), [[*labels, value] for labels, value in c.values.items()]]
            for c in _DECLARED.values()]


def merge(dumps: Iterable[list[list[Any]]]) -> dict[str, tuple[str, list[str], dict[tuple[str, ...], float]]]:
    """Add up dumps of several processes: name -> (help, labelnames, {label values: sum})."""
    merged: dict[str, tuple[str, list[str], dict[tuple[str, ...], float]]] = {}
    for dump_ in dumps:
        for name, help_, labelnames, series in dump_:
            values = merged.setdefault(name, (help_, labelnames, {}))[2]
            for *labels, value in series:
                key = tuple(labels)
                values[key] = values.get(key, 0) + value
    return merged
