"""Writing entries to the log file: one append per batch, the file kept open (unless `reopen`).

The entries of the requests that finished since the last write are serialized together and written
with one O_APPEND write, so lines of several workers never interleave and a request costs no system
call. A file that cannot be opened or written is retried by the queue, then its entries are dropped
and counted (plugins.queue), and the proxy goes on.
"""

from __future__ import annotations

import os
from typing import Any

import orjson

from oidcgate.plugins import log_serializer
from oidcgate.plugins.file_log.schema import FileLogConfig

MODE = 0o640


class Writer:
    """One file's writer in one worker (shared by the instances that write it the same way)."""

    def __init__(self, config: FileLogConfig) -> None:
        self.path = config.path
        self.reopen = config.reopen
        self.custom_fields = config.custom_fields
        self.fd = -1

    async def send(self, batch: list[Any]) -> None:
        data = b"".join([orjson.dumps(log_serializer.entry(finished, self.custom_fields),
                                      option=orjson.OPT_APPEND_NEWLINE) for finished in batch])
        if self.fd < 0:
            self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, MODE)
        try:
            while data:
                data = data[os.write(self.fd, data):]
        finally:
            if self.reopen:
                await self.aclose()

    async def aclose(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
