"""Reusable field types for entity and plugin schemas (Kong's typedefs).

Each type validates once at the edge (Admin API write, file load, snapshot apply) and carries a
description that the Admin API schemas and the GUI forms show.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints
from pydantic.json_schema import JsonDict

_TOKEN_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # RFC 9110 §5.6.2 token
_NAME_RE = re.compile(r"^[A-Za-z0-9.\-_~]+$")  # Kong's `utf8_name` restricted to ASCII
# Underscores allowed, as in Kong: its getting-started guide names an upstream `example_upstream` and
# points a service's host at it (edit by the cp helper, so that guide's curl examples run unchanged).
_HOST_LABEL_RE = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")


def _header_name(value: str) -> str:
    if not _TOKEN_RE.match(value):
        raise ValueError(f"'{value}' is not a valid HTTP header name (RFC 9110 token)")
    return value


def _header_value(value: str) -> str:
    if any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in value):
        raise ValueError("header value must not contain control characters (CR, LF, NUL, ...)")
    return value


def _name(value: str) -> str:
    if not _NAME_RE.match(value):
        raise ValueError("invalid name: use letters, digits, '.', '-', '_' or '~'")
    return value


def validate_hostname(value: str) -> str:
    host = value.rstrip(".")
    if not host or len(host) > 253:
        raise ValueError(f"invalid hostname '{value}'")
    if host.startswith("[") and host.endswith("]"):  # IPv6 literal
        return value
    for label in host.split("."):
        if not _HOST_LABEL_RE.match(label):
            raise ValueError(f"invalid hostname '{value}'")
    return value


def _uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError(f"expected a valid UUID, got '{value}'") from None


# Kong's `referenceable = true`: `Field(json_schema_extra=REFERENCEABLE)` marks a secret field whose
# strings may be `{vault://env/NAME}` references (config.vault resolves those, and refuses them elsewhere).
REFERENCEABLE: JsonDict = {"referenceable": True}

HeaderName = Annotated[str, StringConstraints(min_length=1, max_length=256), AfterValidator(_header_name)]
HeaderValue = Annotated[str, StringConstraints(max_length=8192), AfterValidator(_header_value)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=128), AfterValidator(_name)]
Hostname = Annotated[str, AfterValidator(validate_hostname)]
UUIDStr = Annotated[str, AfterValidator(_uuid)]
Reference = Annotated[str, StringConstraints(min_length=1, max_length=256),
                     Field(description="The id or the name of another entity.")]
Port = Annotated[int, Field(ge=0, le=65535)]
TimeoutMs = Annotated[int, Field(ge=1, le=2**31 - 2, description="Milliseconds.")]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^,\s]+$")]
Tags = Annotated[list[Tag] | None, Field(default=None, description="Free-form labels for filtering.")]
