"""The master <-> worker control channel: length-prefixed frames over an inherited socketpair.

A frame is a 4-byte big-endian length, a 1-byte kind and a payload. The master sends the snapshot
pickled (both ends are the same program, and the socket is private to them), so a worker does not
validate the whole document again; everything else is JSON.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import orjson

CONFIG = b"C"  # master -> worker: pickled Snapshot (empty payload: no configuration)
STATS = b"S"  # master -> worker: report counters; worker -> master: the report (JSON)
DRAIN = b"D"  # master -> worker: stop accepting, finish in-flight requests, exit
APPLIED = b"A"  # worker -> master: {"hash": ..., "error": null | "..."} after CONFIG
READY = b"R"  # worker -> master: listening

_HEADER = struct.Struct(">IB")
MAX_FRAME = 1 << 30


class ChannelClosed(ConnectionError):
    pass


async def read_frame(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    try:
        header = await reader.readexactly(_HEADER.size)
        length, kind = _HEADER.unpack(header)
        if length > MAX_FRAME:
            raise ChannelClosed(f"frame of {length} bytes")
        payload = await reader.readexactly(length)
    except (asyncio.IncompleteReadError, ConnectionError) as exc:
        raise ChannelClosed(str(exc)) from None
    return bytes((kind,)), payload


def write_frame(writer: asyncio.StreamWriter, kind: bytes, payload: bytes = b"") -> None:
    writer.write(_HEADER.pack(len(payload), kind[0]) + payload)


def write_json(writer: asyncio.StreamWriter, kind: bytes, value: Any) -> None:
    write_frame(writer, kind, orjson.dumps(value))
