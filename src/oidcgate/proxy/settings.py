"""`oidcgate dp` settings: one dataclass shared by the master and its workers (sent as JSON)."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oidcgate.config.vault import DEFAULT_ENV_PREFIX, EnvVault


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass
class Settings:
    proxy_listen: str = "127.0.0.1:8000, 127.0.0.1:8443 ssl"  # Kong's listen syntax (oidcgate.tls.listen)
    status_listen: str = "127.0.0.1:8100"  # "off" disables
    admin_listen: str = "off"  # DB-less admin API (GET/POST /config, GET /status)
    ssl_cert: str | None = None  # the certificate when no SNI matches (Kong's ssl_cert); default: generated
    ssl_cert_key: str | None = None
    ssl_pairs: list[list[str]] = field(default_factory=list)  # (cert file, key file) in use, set by the master
    workers: int = field(default_factory=cpu_count)
    prefix: str = ".oidcgate-dp"
    config: str | None = None
    access_log: str = "-"  # "-" stdout, a file path, or "off"
    trusted_ips: list[str] = field(default_factory=list)
    client_header_timeout: float = 60.0  # nginx client_header_timeout
    client_body_timeout: float = 60.0  # nginx client_body_timeout (between two reads)
    keepalive_timeout: float = 60.0  # idle client keep-alive connections (Kong's nginx default)
    drain_timeout: float = 10.0  # SIGTERM: how long in-flight requests may take to finish
    max_header_size: int = 32 * 1024  # request line + headers (431 above)
    max_headers: int = 100
    max_config_size: int = 64 * 1024 * 1024
    cp: str | None = None
    cluster_cert: str | None = None
    cluster_key: str | None = None
    cluster_server_name: str | None = None
    analytics_flush_interval: int = 10  # seconds between analytics reports to the control plane; 0: none
    log_level: str = "info"
    vault_env_prefix: str = DEFAULT_ENV_PREFIX  # Kong's vault_env_prefix: `{vault://env/x}` reads <prefix>X

    @property
    def prefix_path(self) -> Path:
        return Path(self.prefix).resolve()

    @property
    def vault(self) -> EnvVault:
        return EnvVault(self.vault_env_prefix)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Settings:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
