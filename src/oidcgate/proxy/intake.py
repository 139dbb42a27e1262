"""ConfigIntake: the one way a configuration reaches the workers (file, POST /config, control plane).

Validate with `oidcgate.config.load` (off the event loop: a large file takes a moment), write the
snapshot atomically to `<prefix>/config.json` (the last good configuration, used at the next start
when nothing else is available), then have every worker swap it in. Applies are serialized; an
identical configuration (same hash) is not applied twice.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from oidcgate.config import EMPTY, ConfigError, FieldError, Snapshot, load, load_file
from oidcgate.config.vault import EnvVault
from oidcgate.plugins import registry
from oidcgate.private_files import write_private

log = logging.getLogger("oidcgate.proxy.intake")


class ConfigIntake:
    def __init__(self, prefix: Path, vault: EnvVault,
                 broadcast: Callable[[bytes], Awaitable[list[str]]] | None = None) -> None:
        self.path = prefix / "config.json"
        self.vault = vault
        self.broadcast = broadcast
        self.snapshot: Snapshot | None = None
        self.payload = b""  # the pickled snapshot workers get
        self.lock = asyncio.Lock()
        self.applied = 0

    def current_hash(self) -> str:
        return self.snapshot.hash if self.snapshot is not None else EMPTY.hash

    def set_initial(self, snapshot: Snapshot) -> None:
        """The configuration the workers start with (before any of them runs)."""
        check_secrets(snapshot, self.vault)
        self.snapshot = snapshot
        self.payload = pickle.dumps(snapshot, protocol=pickle.HIGHEST_PROTOCOL)

    def load_persisted(self) -> Snapshot | None:
        """The last good configuration from a previous run, if it is there and still valid."""
        if not self.path.exists():
            return None
        try:
            return load_file(self.path, registry.config_schema)
        except ConfigError as exc:
            log.warning("ignoring %s: %s", self.path, exc)
            return None

    async def apply_document(self, doc: Any) -> str:
        """Validate, persist and apply a declarative document; returns its hash (raises ConfigError)."""
        snapshot = await asyncio.to_thread(load, doc, registry.config_schema)
        return await self.apply_snapshot(snapshot)

    async def apply_snapshot(self, snapshot: Snapshot) -> str:
        check_secrets(snapshot, self.vault)
        async with self.lock:
            if self.snapshot is not None and snapshot.hash == self.snapshot.hash:
                return snapshot.hash
            payload = pickle.dumps(snapshot, protocol=pickle.HIGHEST_PROTOCOL)
            await asyncio.to_thread(self._persist, snapshot)
            self.snapshot, self.payload = snapshot, payload
            if self.broadcast is not None:
                errors = await self.broadcast(payload)
                if errors:
                    raise ConfigError([FieldError("", f"a worker could not apply the configuration: {e}")
                                       for e in errors])
            self.applied += 1
            log.info("configuration %s applied (%s)", snapshot.hash,
                     ", ".join(f"{n} {k}" for k, n in snapshot.counts.items() if n) or "empty")
            return snapshot.hash

    def _persist(self, snapshot: Snapshot) -> None:
        """Written as received, vault references unresolved, and private anyway: the plain secrets of
        plugin configurations are in it."""
        write_private(self.path, orjson.dumps(snapshot.to_declarative(), option=orjson.OPT_INDENT_2))


def check_secrets(snapshot: Snapshot, vault: EnvVault) -> None:
    """Refuse a snapshot whose `{vault://env/...}` references this node cannot resolve (or whose resolved
    certificate key does not match), every one with its path, before any worker sees it (workers resolve
    them again when they build their plugins and TLS contexts)."""
    errors: list[FieldError] = []
    for index, plugin in enumerate(snapshot.plugins):
        try:
            vault.resolve(registry.get(plugin.name).CONFIG, plugin.config, f"plugins[{index}].config")
        except ConfigError as exc:
            errors.extend(exc.errors)
    for index, certificate in enumerate(snapshot.certificates):  # a resolved key must also match
        try:
            certificate.pairs(vault, f"certificates[{index}]")
        except ConfigError as exc:
            errors.extend(exc.errors)
    if errors:
        raise ConfigError(errors)
