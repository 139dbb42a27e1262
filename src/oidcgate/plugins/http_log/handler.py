"""http-log handler: queue each finished request, send the queue's batches to the collector.

An observer (plugins.observer): a request only puts its Finished on the worker's queue for this
collector; the entries are serialized (plugins.log_serializer) and sent by the queue's sender task, in
batches, with Kong's retries (plugins.queue). A slow or dead collector therefore never delays a
request; what it costs is entries waiting, or dropped and counted once the queue's bounds are reached.
"""

from __future__ import annotations

from typing import ClassVar

from oidcgate import __version__
from oidcgate.plugins.http_log.schema import HttpLogConfig
from oidcgate.plugins.http_log.sender import queue_name, sink
from oidcgate.plugins.log_serializer import Finished
from oidcgate.plugins.observer import Observer
from oidcgate.plugins.pdk import PluginEnv
from oidcgate.plugins.queue import shared_queue


class HttpLogHandler(Observer[HttpLogConfig]):
    NAME: ClassVar[str] = "http-log"
    PRIORITY: ClassVar[int] = 12
    VERSION: ClassVar[str] = __version__
    CONFIG = HttpLogConfig

    def __init__(self, config: HttpLogConfig, env: PluginEnv, *, instance_id: str | None = None) -> None:
        super().__init__(config, env, instance_id=instance_id)
        self.queue = shared_queue(env, self.NAME, queue_name(config), config.queue, lambda: sink(config))

    def observe(self, entry: Finished) -> None:
        self.queue.put(entry)
