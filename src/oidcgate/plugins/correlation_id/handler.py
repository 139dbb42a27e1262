"""correlation-id handler: Kong's access (set the id upstream) and header_filter (echo it) phases.

It runs first of all plugins (PRIORITY 100001), so even a request that an authentication plugin
rejects has an id in the log and, with `echo_downstream`, in the response.
"""

from __future__ import annotations

from typing import ClassVar

from oidcgate import __version__
from oidcgate.plugins.base import Plugin
from oidcgate.plugins.correlation_id.generators import GENERATORS, WorkerSequence
from oidcgate.plugins.correlation_id.schema import CorrelationIdConfig
from oidcgate.plugins.pdk import Context, PluginEnv

SHARED_KEY = "correlation_id"  # ctx.shared and ctx.log_fields key holding this request's id


class CorrelationIdHandler(Plugin[CorrelationIdConfig]):
    NAME: ClassVar[str] = "correlation-id"
    PRIORITY: ClassVar[int] = 100001
    VERSION: ClassVar[str] = __version__
    CONFIG = CorrelationIdConfig

    def __init__(self, config: CorrelationIdConfig, env: PluginEnv, *, instance_id: str | None = None) -> None:
        super().__init__(config, env, instance_id=instance_id)
        self.generate = GENERATORS[config.generator]
        self.state = env.state(self.NAME)

    async def access(self, ctx: Context) -> None:
        """Keep the client's id if it sent one, else generate it and forward it upstream."""
        header = self.config.header_name
        value = ctx.request.headers.get(header)
        if not value:
            value = self.generate(ctx.request, WorkerSequence.of(self.state))
            ctx.service_request.headers.set(header, value)
        ctx.log_fields[SHARED_KEY] = value
        ctx.shared[SHARED_KEY] = value

    async def response(self, ctx: Context) -> None:
        if not self.config.echo_downstream or ctx.response is None:
            return
        value = ctx.shared.get(SHARED_KEY) or ctx.request.headers.get(self.config.header_name)
        if value:
            ctx.response.headers.set(self.config.header_name, value)
