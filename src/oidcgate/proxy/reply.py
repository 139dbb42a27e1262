"""The response head the client gets from an upstream's: its end-to-end fields (Connection's tokens
dropped), then the framing the proxy decides (the upstream's Content-Length, else chunked for HTTP/1.1
or until-close for HTTP/1.0), Via after the upstream's, and Connection."""

from __future__ import annotations

from typing import Protocol

from oidcgate.http.fields import HeaderFields
from oidcgate.proxy.errors import STATUS_LINES, status_line
from oidcgate.proxy.head import RequestHead
from oidcgate.proxy.headers import (
    CONNECTION,
    CONTENT_LENGTH,
    TRANSFER_ENCODING,
    VIA_FIELD,
    VIA_LINE,
    connection_tokens,
    via,
)
from oidcgate.proxy.modes import CHUNK, RAW

_KEEP_OR_CLOSE = (b"keep-alive", b"close", b"Keep-Alive", b"Close")
# The end of a response head: Via, Connection (for HTTP/1.0 clients or when closing), blank line.
_END_KEEP_ALIVE = {True: VIA_LINE + b"\r\n", False: VIA_LINE + b"Connection: keep-alive\r\n\r\n"}
_END_CLOSE = VIA_LINE + b"Connection: close\r\n\r\n"


Aside = list[tuple[int, bytes, bytes]] | None  # the response's fields set aside while parsing it


class Answer(Protocol):
    """The exchange whose response head is written: its request, and how the response goes out."""

    head: RequestHead
    keep_alive: bool
    until_close: bool  # the body ends when the upstream closes
    resp_mode: int  # RAW or CHUNK


def client_head(answer: Answer, status: int, fields: HeaderFields, aside: Aside, draining: bool) -> bytes:
    """The response head for the client (see the module docstring); sets how the body goes out."""
    head = answer.head
    length: bytes | None = None
    chunked = False
    received_via: bytes | None = None
    for kind, _, value in aside or ():  # how the upstream framed it, its Via, its hop-by-hop fields
        if kind == CONTENT_LENGTH:
            length = value
        elif kind == TRANSFER_ENCODING:
            chunked = True
        elif kind == VIA_FIELD:
            received_via = value
        elif kind == CONNECTION and value not in _KEEP_OR_CLOSE:
            fields.remove_all(connection_tokens((value,)))
    parts = [STATUS_LINES.get(status) or status_line(status), *fields.wire]
    if status == 101:
        parts += (via(received_via), b"Connection: Upgrade\r\nUpgrade: ", head.upgrade or b"", b"\r\n\r\n")
        return b"".join(parts)
    if length is not None:
        parts += (b"Content-Length: ", length, b"\r\n")
        if chunked:  # both from the upstream (llhttp refuses it): do not reuse anything
            answer.keep_alive = False
    elif head.method == b"HEAD" or status == 204 or status == 304:
        pass  # no body
    else:
        answer.until_close = not chunked
        if head.http11:
            parts.append(b"Transfer-Encoding: chunked\r\n")
            answer.resp_mode = CHUNK
        else:  # an HTTP/1.0 client: the end of the body is the end of the connection
            answer.resp_mode = RAW
            answer.keep_alive = False
    if answer.keep_alive and not draining:
        parts.append(_END_KEEP_ALIVE[head.http11] if received_via is None else via(received_via) + (
            b"\r\n" if head.http11 else b"Connection: keep-alive\r\n\r\n"))
    else:
        answer.keep_alive = False
        parts.append(_END_CLOSE if received_via is None else via(received_via) + b"Connection: close\r\n\r\n")
    return b"".join(parts)
