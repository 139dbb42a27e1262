"""Protocol upgrades (WebSocket and friends): after the upstream's 101, bytes are relayed both ways.

Both transports get a `TunnelEnd` protocol (transport.set_protocol), so the HTTP parsers are out of
the way. Back-pressure as everywhere else: when one side's write buffer is full, the other side
stops reading; a half-close is passed on; a close or an error closes both sides.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class TunnelEnd(asyncio.Protocol):
    __slots__ = ("on_close", "peer", "transport")

    def __init__(self, transport: asyncio.Transport, peer: asyncio.Transport,
                 on_close: Callable[[TunnelEnd], None]) -> None:
        self.transport = transport
        self.peer = peer
        self.on_close = on_close

    def data_received(self, data: bytes) -> None:
        self.peer.write(data)

    def eof_received(self) -> bool:
        if self.peer.can_write_eof() and not self.peer.is_closing():
            self.peer.write_eof()
        return True  # keep our side open for the peer's remaining bytes

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.peer.is_closing():
            self.peer.close() if exc is None else self.peer.abort()
        self.on_close(self)

    def pause_writing(self) -> None:
        self.peer.pause_reading()

    def resume_writing(self) -> None:
        self.peer.resume_reading()

    def close(self) -> None:
        self.transport.close()


def splice(client: asyncio.Transport, upstream: asyncio.Transport, early: bytes,
           on_close: Callable[[TunnelEnd], None]) -> tuple[TunnelEnd, TunnelEnd]:
    """Connect two transports; `early` are client bytes that arrived before the upstream's 101."""
    client_end = TunnelEnd(client, upstream, on_close)
    upstream_end = TunnelEnd(upstream, client, on_close)
    client.set_protocol(client_end)
    upstream.set_protocol(upstream_end)
    if early:
        upstream.write(early)
    client.resume_reading()
    upstream.resume_reading()
    return client_end, upstream_end
