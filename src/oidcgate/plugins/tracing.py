"""Spans for what plugins do deep inside a request (a call to an identity provider), without passing a
trace through every function: the tracing plugin makes the current span known, an HTTP client asks.

`CURRENT` holds (recorder, span id) while a traced plugin phase runs, and only then: `Within` sets it
around each synchronous stretch of the phase's coroutine and restores it before the coroutine suspends,
so the value never leaks into other requests served by the same event-loop callback, whether the
coroutine runs inline (the data plane drives phases eagerly) or continues in a task.

An HTTP client wraps a call in `client_span(method, url)`: a span of Kong's name `kong.internal.request`
when a traced phase made the call, nothing otherwise (a context-variable read).
"""

from __future__ import annotations

from collections.abc import Coroutine, Generator, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit


class Span(Protocol):
    status_code: int | None  # the HTTP status the call got

    def end(self, failed: bool) -> None: ...


class Recorder(Protocol):
    def client(self, name: str, parent: bytes, attributes: dict[str, Any]) -> Span:
        """A client span started now, child of `parent`."""


CURRENT: ContextVar[tuple[Recorder, bytes] | None] = ContextVar("oidcgate_current_span", default=None)


class Within:
    """Await `coro` with CURRENT set to (recorder, span id) whenever it runs, and only then."""

    __slots__ = ("coro", "current")

    def __init__(self, coro: Coroutine[Any, Any, Any], recorder: Recorder, span_id: bytes) -> None:
        self.coro, self.current = coro, (recorder, span_id)

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, sent, thrown = self.coro, None, None
        while True:
            token = CURRENT.set(self.current)
            try:
                waiting = coro.send(sent) if thrown is None else coro.throw(thrown)
            except StopIteration as stop:
                return stop.value
            finally:
                CURRENT.reset(token)  # (the same synchronous stretch: the same context)
            try:
                sent, thrown = (yield waiting), None
            except BaseException as exc:  # cancellation and the awaited futures' errors go to the coroutine
                sent, thrown = None, exc


class _Untraced:
    status_code: int | None = None

    def end(self, failed: bool) -> None:
        pass


@contextmanager
def client_span(method: str, url: str) -> Iterator[Span]:
    """A `kong.internal.request` span around an HTTP call made by a traced phase; set `status_code` on
    the yielded span. The URL is recorded without user information, query or fragment."""
    current = CURRENT.get()
    if current is None:
        yield _Untraced()
        return
    recorder, parent = current
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port else "")
    span = recorder.client("kong.internal.request", parent, {
        "http.method": method, "http.url": urlunsplit((parts.scheme, netloc, parts.path, "", "")),
        "http.flavor": "1.1"})
    try:
        yield span
    except BaseException:
        span.end(failed=True)
        raise
    span.end(failed=span.status_code is None or span.status_code >= 500)
