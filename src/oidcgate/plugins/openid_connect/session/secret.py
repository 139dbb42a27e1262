"""The session secret of a node configured without `session_secret`: generated once, kept in the node's
prefix (`<prefix>/openid-connect-session-secret`, mode 0600), so every worker of that node and its
restarts share it. Another node has another one, so this is for a single node only: a cluster sets
`session_secret` (for instance `{vault://env/SESSION_SECRET}`)."""

from __future__ import annotations

import contextlib
import os
import secrets
from typing import Any

from oidcgate.plugins.pdk import PluginEnv

FILE_NAME = "openid-connect-session-secret"


def node_secret(env: PluginEnv, state: dict[str, Any]) -> str:
    """This node's generated secret (this process's own when the node has no prefix, as in unit tests)."""
    secret = state.get("generated_session_secret")
    if secret is None:
        secret = state["generated_session_secret"] = _from_prefix(env) if env.prefix else secrets.token_urlsafe(32)
    return str(secret)


def _from_prefix(env: PluginEnv) -> str:
    """Write a new secret to a file of our own, then link it into place: the link either creates the
    whole file or fails because another worker's is there, so nobody ever reads a half-written one."""
    assert env.prefix is not None
    path = env.prefix / FILE_NAME
    if not path.exists():
        env.prefix.mkdir(parents=True, exist_ok=True)
        mine = env.prefix / f".{FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(mine, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32))
        try:
            with contextlib.suppress(FileExistsError):
                os.link(mine, path)
        finally:
            mine.unlink()
    return path.read_text().strip()
