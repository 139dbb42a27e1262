"""The `config` of correlation-id: Kong's fields and defaults."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from oidcgate.config.types import HeaderName
from oidcgate.plugins.base import PluginConfig

Generator = Literal["uuid", "uuid#counter", "tracker"]


class CorrelationIdConfig(PluginConfig):
    header_name: HeaderName = Field(default="Kong-Request-ID", description=(
        "The HTTP header name to use for the correlation ID."))
    generator: Generator = Field(default="uuid#counter", description=(
        "The generator to use for the correlation ID. Accepted values are `uuid`, `uuid#counter`, and "
        "`tracker`: `uuid` is a random UUID per request; `uuid#counter` is a UUID per worker process "
        "followed by `#` and a per-worker counter; `tracker` is `host-port-pid-sequence-milliseconds` "
        "(Kong's nginx connection number and requests-per-connection are not available, so a per-worker "
        "sequence number takes their place)."))
    echo_downstream: bool = Field(default=False, description=(
        "Whether to echo the header back to downstream (the client)."))
