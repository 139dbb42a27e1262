"""What the Admin API needs besides the store: who this node is and what it was started with."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from oidcgate.controlplane.store import Store


@dataclass
class AdminContext:
    store: Store
    node_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    hostname: str = field(default_factory=socket.gethostname)
    # Shown in `GET /` under "configuration" (never secrets): listeners, database, prefix, ...
    configuration: dict[str, Any] = field(default_factory=dict)
    # Renders `oidcgate cp runtime-script`; None when hybrid mode is off (no cluster certificate).
    runtime_script: Callable[[], str] | None = None
    started_at: float = field(default_factory=time.time)
