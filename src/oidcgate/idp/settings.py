"""Settings of one identity-provider process, from flags or `OIDCGATE_IDP_*` environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from oidcgate.idp.hashing import Argon2Cost

ENV_PREFIX = "OIDCGATE_IDP_"
DEFAULT_PREFIX = "./.oidcgate-idp"
# Tuning settings read only from the environment (OIDCGATE_IDP_<NAME>), e.g. a low argon2 cost in tests.
TUNING = ("secret_cache_ttl", "failure_threshold", "failure_base_delay", "failure_max_delay", "session_lifetime")
ARGON2 = ("time_cost", "memory_cost", "parallelism")
DEFAULT_SERVER_ID = "default"


def default_database_url(prefix: str | Path = DEFAULT_PREFIX) -> str:
    """`sqlite:///<prefix>/idp.db`; the directory is created when the store opens."""
    return f"sqlite:///{Path(prefix) / 'idp.db'}"


@dataclass(frozen=True)
class Settings:
    database_url: str
    host: str = "127.0.0.1"
    port: int = 9000
    issuer_url: str | None = None  # the public base URL when behind a proxy, e.g. https://login.example.com
    admin_token: str | None = None  # enables /api/v1 with `Authorization: SSWS <token>`
    # Reverse proxies (comma-separated addresses, uvicorn's syntax) whose X-Forwarded-For names the client;
    # None trusts none: throttling is keyed by source address, which a client must not choose.
    forwarded_allow_ips: str | None = None
    tls_cert: str | None = None  # serve HTTPS with this certificate (PEM) and key
    tls_key: str | None = None
    argon2: Argon2Cost = field(default_factory=Argon2Cost)
    secret_cache_ttl: float = 30.0  # seconds a verified client secret skips argon2 (0 disables)
    failure_threshold: int = 5  # failures of one client id or username from one address before it is slowed
    failure_base_delay: float = 1.0  # first refusal period (s), doubled for every further failure
    failure_max_delay: float = 300.0
    session_lifetime: int = 8 * 3600  # the login session cookie (s)

    def __post_init__(self) -> None:
        if self.issuer_url is not None and "/oauth2/" in self.issuer_url + "/":
            raise ValueError("--issuer-url is the base URL; issuers are <issuer-url>/oauth2/<server-id>")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("--tls-cert and --tls-key go together")

    @property
    def base_url(self) -> str:
        if self.issuer_url:
            return self.issuer_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else "[::1]" if self.host == "::" else self.host
        host = f"[{host}]" if ":" in host and not host.startswith("[") else host
        return f"{'https' if self.tls_cert else 'http'}://{host}:{self.port}"

    def issuer(self, server_id: str) -> str:
        return f"{self.base_url}/oauth2/{server_id}"


def env(name: str, environ: Mapping[str, str] = os.environ) -> str | None:
    """The value of `OIDCGATE_IDP_<NAME>`, if set and not empty."""
    return environ.get(ENV_PREFIX + name.upper()) or None


def argon2_cost(environ: Mapping[str, str] = os.environ) -> Argon2Cost:
    """Argon2 parameters from OIDCGATE_IDP_ARGON2_TIME_COST / _MEMORY_COST / _PARALLELISM."""
    values = {name: int(value) for name in ARGON2 if (value := env(f"argon2_{name}", environ)) is not None}
    return Argon2Cost(**values)


def tuned(settings: Settings, environ: Mapping[str, str] = os.environ) -> Settings:
    """`settings` with the tuning values found in the environment."""
    types = {item.name: item.type for item in fields(Settings)}
    values: dict[str, Any] = {}  # int or float, as the field says
    for name in TUNING:
        value = env(name, environ)
        if value is not None:
            values[name] = int(value) if types[name] in (int, "int") else float(value)
    return replace(settings, **values, argon2=argon2_cost(environ))
