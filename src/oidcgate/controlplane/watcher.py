"""Change signalling between control-plane nodes: poll the config version, react when it moves.

Every write bumps `config_version` in its own transaction, so a node that sees the number change
knows some node (maybe another one on the same PostgreSQL) committed a change, and pushes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger("oidcgate.controlplane.watcher")

POLL_SECONDS = 0.2


async def watch(version: Callable[[], Awaitable[int]], on_change: Callable[[int], Awaitable[None]],
                interval: float = POLL_SECONDS) -> None:
    """Run until cancelled: call `on_change(new_version)` each time `version()` returns a new value."""
    last: int | None = None
    warned_at = 0.0
    while True:
        try:
            current = await version()
            if current != last:
                if last is not None:
                    await on_change(current)
                last = current
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a database blip must not stop the watcher; say so once a minute
            if time.monotonic() - warned_at > 60:
                log.warning("config version check failed: %s", exc)
                warned_at = time.monotonic()
        await asyncio.sleep(interval)
