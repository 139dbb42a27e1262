"""request-transformer handler: runs the compiled operations in the access phase, as Kong does."""

from __future__ import annotations

from typing import ClassVar

from oidcgate import __version__
from oidcgate.plugins.base import Plugin
from oidcgate.plugins.pdk import Context, PluginEnv
from oidcgate.plugins.request_transformer.schema import RequestTransformerConfig
from oidcgate.plugins.request_transformer.transform import Plan


class RequestTransformerHandler(Plugin[RequestTransformerConfig]):
    NAME: ClassVar[str] = "request-transformer"
    PRIORITY: ClassVar[int] = 801
    VERSION: ClassVar[str] = __version__
    CONFIG = RequestTransformerConfig

    def __init__(self, config: RequestTransformerConfig, env: PluginEnv, *, instance_id: str | None = None) -> None:
        super().__init__(config, env, instance_id=instance_id)
        self.plan = Plan(config)

    async def access(self, ctx: Context) -> None:
        await self.plan.apply(ctx)
