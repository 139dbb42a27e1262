"""Correlation id generators (Kong's `uuid`, `uuid#counter` and `tracker`).

The per-worker UUID and counter live in the plugin's PluginEnv state, so they survive config
reloads like Kong's `init_worker` values do, and every worker process has its own.
"""

from __future__ import annotations

import itertools
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

from oidcgate.plugins.pdk import Request


class WorkerSequence:
    """A UUID for this worker process plus a request counter (what `uuid#counter` and `tracker` use)."""

    __slots__ = ("_counter", "pid", "worker_uuid")

    def __init__(self) -> None:
        self.worker_uuid = str(uuid.uuid4())
        self.pid = os.getpid()
        self._counter = itertools.count(1)

    def next(self) -> int:
        return next(self._counter)

    @classmethod
    def of(cls, state: dict[str, Any]) -> WorkerSequence:
        """The sequence kept in a plugin state dict; a forked worker (other pid) gets its own."""
        sequence = state.get("sequence")
        if not isinstance(sequence, cls) or sequence.pid != os.getpid():
            sequence = state["sequence"] = cls()
        return sequence


def uuid4(_request: Request, _sequence: WorkerSequence) -> str:
    return str(uuid.uuid4())


def uuid_counter(_request: Request, sequence: WorkerSequence) -> str:
    return f"{sequence.worker_uuid}#{sequence.next()}"


def tracker(request: Request, sequence: WorkerSequence) -> str:
    return f"{request.host}-{request.port}-{sequence.pid}-{sequence.next()}-{int(time.time() * 1000)}"


GENERATORS: dict[str, Callable[[Request, WorkerSequence], str]] = {
    "uuid": uuid4,
    "uuid#counter": uuid_counter,
    "tracker": tracker,
}
