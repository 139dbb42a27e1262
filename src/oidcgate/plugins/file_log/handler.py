"""file-log handler: append each finished request's entry to a file, as a JSON line.

An observer (plugins.observer): a request only queues its Finished; the worker writes the entries in
batches (writer.py) through the same queue as http-log (plugins.queue: bounded, drops counted), with
settings of its own since Kong's file-log has no `queue` field.
"""

from __future__ import annotations

import hashlib
from typing import ClassVar

import orjson

from oidcgate import __version__
from oidcgate.plugins.file_log.schema import FileLogConfig
from oidcgate.plugins.file_log.writer import Writer
from oidcgate.plugins.log_serializer import Finished
from oidcgate.plugins.observer import Observer
from oidcgate.plugins.pdk import PluginEnv
from oidcgate.plugins.queue import QueueConfig, shared_queue

# Whatever has finished when the writer runs (the next turn of the event loop) goes in one write.
QUEUE = QueueConfig(max_batch_size=1000, max_coalescing_delay=0, max_entries=10000, max_retry_time=10,
                    initial_retry_delay=0.1, max_retry_delay=1)


class FileLogHandler(Observer[FileLogConfig]):
    NAME: ClassVar[str] = "file-log"
    PRIORITY: ClassVar[int] = 9
    VERSION: ClassVar[str] = __version__
    CONFIG = FileLogConfig

    def __init__(self, config: FileLogConfig, env: PluginEnv, *, instance_id: str | None = None) -> None:
        super().__init__(config, env, instance_id=instance_id)
        writing = orjson.dumps([config.reopen, config.custom_fields], option=orjson.OPT_SORT_KEYS)
        name = f"{config.path}#{hashlib.sha256(writing).hexdigest()[:12]}"  # (instances writing alike share it)
        self.queue = shared_queue(env, self.NAME, name, QUEUE, lambda: Writer(config))

    def observe(self, entry: Finished) -> None:
        self.queue.put(entry)
