"""The plugin contract: a handler class per plugin, configured once per snapshot.

Like Kong's `handler.lua` + `schema.lua`: a plugin folder holds `schema.py` (a `PluginConfig`
subclass) and `handler.py` (a `Plugin` subclass naming it). The data plane instantiates the handler
once per plugin entity when a snapshot is compiled, so per-request code never parses config.
Only the phase methods a handler overrides are called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, cast

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from oidcgate.plugins.pdk import Context, MemoInputs, PluginEnv

PHASES: tuple[str, ...] = ("rewrite", "access", "response", "log")


class PluginConfig(BaseModel):
    """Base of every plugin's `config` schema: immutable, unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


ConfigT = TypeVar("ConfigT", bound=PluginConfig)


class Plugin(Generic[ConfigT]):
    """Base handler. Higher PRIORITY runs first (Kong's bands: auth ~1000-2000, limits ~900, transforms ~800).

    Phases, each `async def phase(self, ctx: Context) -> None`:
      - rewrite: after the route matched, before any access handler;
      - access: authenticate/authorize; may end the request with `ctx.exit(...)`;
      - response: upstream status and headers are known, nothing sent to the client yet;
      - log: after the response was sent; never delays the client.
    """

    NAME: ClassVar[str]
    PRIORITY: ClassVar[int]
    VERSION: ClassVar[str]
    CONFIG: ClassVar[type[PluginConfig]]

    def __init__(self, config: ConfigT, env: PluginEnv, *, instance_id: str | None = None) -> None:
        self.config = config
        self.env = env
        self.instance_id = instance_id

    @classmethod
    def validate_config(cls, data: dict[str, Any]) -> ConfigT:
        """Validate raw `config` (raises pydantic.ValidationError listing every error)."""
        return cast(ConfigT, cls.CONFIG.model_validate(data))  # CONFIG is ConfigT's class; a ClassVar cannot say so

    @classmethod
    def phases(cls) -> frozenset[str]:
        """The phases this handler implements (overrides), so the pipeline skips the rest."""
        return frozenset(p for p in PHASES if getattr(cls, p) is not getattr(Plugin, p))

    def memo_inputs(self) -> MemoInputs | None:
        """Optional: the request inputs this instance's access decision depends on, and nothing else.

        For a plugin whose decision repeats (an authentication plugin and a token it has seen). The
        engine then records what the plugin's `access` did to the upstream request (header edits by name,
        `ctx.authenticate`) whenever it called `ctx.reuse_until`, and for the next request with the same
        inputs replays that instead of calling `access`: the same decision as the full path, by
        construction, as long as the plugin read nothing it did not declare. Called once per instance.
        """
        return None

    async def rewrite(self, ctx: Context) -> None:
        """Rewrite phase; see the class docstring."""

    async def access(self, ctx: Context) -> None:
        """Access phase; see the class docstring."""

    async def response(self, ctx: Context) -> None:
        """Response phase; see the class docstring."""

    async def log(self, ctx: Context) -> None:
        """Log phase; see the class docstring."""

    async def close(self) -> None:
        """Called when a newer snapshot replaced this instance and no request uses it any more."""
