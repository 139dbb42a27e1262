"""Request bodies: consumed as they stream in, kept only when small enough to echo.

Every body is measured (`length`) and hashed (`sha256`) on the fly; the first `ECHO_LIMIT` bytes
are kept so small bodies can be echoed as httpbin does (`data`, `json`, `form`). A larger body is
not kept at all: the echo reports only its length and digest, so a 1 GiB upload costs no memory.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import parse_qsl

import orjson

ECHO_LIMIT = 1 << 20  # bodies up to 1 MiB are echoed; larger ones are only measured and hashed


class BodySink:
    """Accumulates a request body: its length, its SHA-256 and (while small) its bytes."""

    __slots__ = ("_digest", "_kept", "length")

    def __init__(self) -> None:
        self.length = 0
        self._digest = hashlib.sha256()
        self._kept: bytearray | None = bytearray()

    def feed(self, chunk: bytes) -> None:
        self.length += len(chunk)
        self._digest.update(chunk)
        if self._kept is not None:
            if self.length > ECHO_LIMIT:
                self._kept = None  # too large to echo: from now on only measured
            else:
                self._kept += chunk

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    @property
    def kept(self) -> bytes | None:
        """The whole body if it was small enough to keep, else None."""
        return bytes(self._kept) if self._kept is not None else None


def multi_dict(pairs: list[tuple[str, str]]) -> dict[str, str | list[str]]:
    """httpbin's shape for repeated keys: a single value stays a string, repeats become a list."""
    out: dict[str, str | list[str]] = {}
    for key, value in pairs:
        current = out.get(key)
        if current is None:
            out[key] = value
        elif isinstance(current, list):
            current.append(value)
        else:
            out[key] = [current, value]
    return out


def describe(body: BodySink, content_type: str) -> dict[str, Any]:
    """The body part of an echo: httpbin's `data`/`json`/`form` plus `body_length`/`body_sha256`.

    A body too large to keep has `data` null (see the module docstring). Multipart bodies are not
    parsed: they appear as text in `data`.
    """
    kept = body.kept
    data: str | None = None
    parsed_json: Any = None
    form: dict[str, str | list[str]] = {}
    media_type = content_type.partition(";")[0].strip().lower()
    if kept is not None:
        if media_type == "application/x-www-form-urlencoded":
            form = multi_dict(parse_qsl(kept.decode("latin-1"), keep_blank_values=True))
            data = ""
        else:
            try:
                data = kept.decode("utf-8")
            except UnicodeDecodeError:
                data = "data:application/octet-stream;base64," + base64.b64encode(kept).decode("ascii")
            if media_type == "application/json" or media_type.endswith("+json"):
                try:
                    parsed_json = orjson.loads(kept)
                except orjson.JSONDecodeError:
                    parsed_json = None
    return {"data": data, "json": parsed_json, "form": form,
            "body_length": body.length, "body_sha256": body.sha256}
