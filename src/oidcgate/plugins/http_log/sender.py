"""What http-log sends: Kong's body (one JSON object for a batch size of 1, else a JSON array of entries)
and the name of the queue that sends it."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import orjson

from oidcgate.plugins import log_serializer
from oidcgate.plugins.http_log.schema import HttpLogConfig
from oidcgate.plugins.http_sink import HttpSink, public_url


def queue_name(config: HttpLogConfig) -> str:
    """Instances that send the same way share a queue: the public URL and a digest of everything else
    that decides what is sent and how (credentials included, so they are not in the name)."""
    sending = orjson.dumps([config.http_endpoint, config.method, config.content_type, config.timeout,
                            config.keepalive, config.headers, config.custom_fields, config.queue.max_batch_size],
                           option=orjson.OPT_SORT_KEYS)
    return f"{public_url(config.http_endpoint)}#{hashlib.sha256(sending).hexdigest()[:12]}"


def sink(config: HttpLogConfig) -> HttpSink:
    custom_fields, single = config.custom_fields, config.queue.max_batch_size == 1

    def body(batch: list[Any]) -> bytes:
        entries = [orjson.dumps(log_serializer.entry(finished, custom_fields)) for finished in batch]
        return entries[0] if single else b"[" + b",".join(entries) + b"]"

    return HttpSink(config.http_endpoint, config.method, {**(config.headers or {}), "Content-Type": config.content_type},
                    httpx.Timeout(config.timeout / 1000), config.keepalive / 1000, body)
