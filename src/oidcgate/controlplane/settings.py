"""`oidcgate cp` settings: flags, then OIDCGATE_* environment variables, then defaults (Kong's ports)."""

from __future__ import annotations

import argparse
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from oidcgate.cluster.protocol import parse_address
from oidcgate.tls.listen import parse_listen

DEFAULT_PREFIX = "./.oidcgate-cp"
DEFAULT_TTL_MINUTES = 1500  # Kong Vitals' vitals_ttl_minutes: 25 hours, so the one-day window stays full
DEFAULTS = {
    "admin_listen": "127.0.0.1:8001",
    "gui_listen": "127.0.0.1:8002",
    "cluster_listen": "127.0.0.1:8005",
}
OPTIONS: tuple[tuple[str, str], ...] = (
    ("--database", "sqlite:///PREFIX/oidcgate.db (default) or postgresql://USER@HOST:PORT/DB"),
    ("--prefix", f"state directory (default {DEFAULT_PREFIX})"),
    ("--admin-listen", f"Admin API address, 'HOST:PORT [ssl]' (default {DEFAULTS['admin_listen']})"),
    ("--admin-ssl-cert", "Admin API certificate (PEM) for an ssl listener (default: generated into the prefix)"),
    ("--admin-ssl-cert-key", "private key of --admin-ssl-cert (PEM)"),
    ("--gui-listen", f"GUI address, or 'off' (default {DEFAULTS['gui_listen']})"),
    ("--cluster-listen", f"address data planes connect to (default {DEFAULTS['cluster_listen']})"),
    ("--cluster-cert", "cluster certificate (default PREFIX/cluster.crt; hybrid mode is on when it exists)"),
    ("--cluster-key", "cluster private key (default PREFIX/cluster.key)"),
    ("--admin-token", "require this token in Kong-Admin-Token (prefer OIDCGATE_ADMIN_TOKEN: flags show in ps)"),
    ("--analytics-ttl-minutes", f"minutes the analytics minute rollups are kept (Kong Vitals' vitals_ttl_minutes; "
                                f"default {DEFAULT_TTL_MINUTES}, at least 1440 for a full day)"),
)


class SettingsError(ValueError):
    pass


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options, on `cp` and on each action (SUPPRESS: an action's parser must not reset them)."""
    for flag, help_text in OPTIONS:
        env = "OIDCGATE_" + flag.removeprefix("--").replace("-", "_").upper()
        parser.add_argument(flag, default=argparse.SUPPRESS, help=f"{help_text}; env {env}")


def _option(args: argparse.Namespace, name: str) -> str | None:
    value = getattr(args, name, None)
    return value if value is not None else os.environ.get(f"OIDCGATE_{name.upper()}") or None


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Settings:
    prefix: Path
    database: str
    database_is_default: bool
    admin_listen: tuple[str, int]
    admin_ssl: bool
    admin_ssl_cert: str | None
    admin_ssl_cert_key: str | None
    gui_listen: tuple[str, int] | None
    cluster_listen: str
    cluster_cert: Path
    cluster_key: Path
    cluster_files_given: bool
    admin_token: str | None
    analytics_ttl_minutes: int = DEFAULT_TTL_MINUTES

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Settings:
        prefix = Path(_option(args, "prefix") or DEFAULT_PREFIX)
        database = _option(args, "database")
        gui = _option(args, "gui_listen") or DEFAULTS["gui_listen"]
        cert, key = _option(args, "cluster_cert"), _option(args, "cluster_key")
        try:
            admin_value = _option(args, "admin_listen") or DEFAULTS["admin_listen"]
            admin_ssl = admin_value.rstrip().endswith(" ssl")
            parse_listen(admin_value)  # refuses Kong flags oidcgate does not have (http2, ...) by name
            admin = parse_address(admin_value.rstrip().removesuffix(" ssl").strip(), 8001)
            ssl_cert, ssl_key = _option(args, "admin_ssl_cert"), _option(args, "admin_ssl_cert_key")
            if bool(ssl_cert) != bool(ssl_key):
                raise ValueError("--admin-ssl-cert and --admin-ssl-cert-key go together")
            gui_listen = None if gui.lower() == "off" else parse_address(gui, 8002)
            cluster_listen = _option(args, "cluster_listen") or DEFAULTS["cluster_listen"]
            parse_address(cluster_listen)
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        ttl = _option(args, "analytics_ttl_minutes") or str(DEFAULT_TTL_MINUTES)
        if not ttl.isdigit() or int(ttl) < 1:
            raise SettingsError(f"--analytics-ttl-minutes must be a positive number of minutes, not '{ttl}'")
        return cls(
            prefix=prefix,
            database=database or f"sqlite:///{(prefix / 'oidcgate.db').absolute()}",
            database_is_default=database is None,
            admin_listen=admin,
            admin_ssl=admin_ssl,
            admin_ssl_cert=ssl_cert,
            admin_ssl_cert_key=ssl_key,
            gui_listen=gui_listen,
            cluster_listen=cluster_listen,
            cluster_cert=Path(cert) if cert else prefix / "cluster.crt",
            cluster_key=Path(key) if key else prefix / "cluster.key",
            cluster_files_given=bool(cert or key),
            admin_token=_option(args, "admin_token"),
            analytics_ttl_minutes=int(ttl),
        )

    def check_exposure(self) -> None:
        """Refuse to expose the Admin API (or the GUI, which drives it) beyond loopback without a token."""
        for what, listen in (("admin", self.admin_listen), ("GUI", self.gui_listen)):
            if listen is not None and not is_loopback(listen[0]) and not self.admin_token:
                raise SettingsError(
                    f"refusing to serve the {what} listener on non-loopback address {listen[0]}:{listen[1]} "
                    "without an admin token: set OIDCGATE_ADMIN_TOKEN (or --admin-token), or listen on 127.0.0.1")
