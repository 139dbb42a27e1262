"""`oidcgate dp`: the data plane. Every flag has an `OIDCGATE_<FLAG>` environment variable."""

from __future__ import annotations

import argparse
import os
import sys

DEFAULT_WORKERS = "auto"  # one per CPU the process may use, like Kong's nginx_worker_processes


def _env(name: str, default: str | None) -> str | None:
    return os.environ.get(f"OIDCGATE_{name.upper()}", default)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "dp", help="run the data plane (the proxy)",
        description="Run the data plane: a reverse proxy driven by a Kong-format declarative configuration "
                    "(--config), a DB-less admin API (--admin-listen) or a control plane (--cp). "
                    "Every flag can also be set as OIDCGATE_<FLAG>, e.g. OIDCGATE_PROXY_LISTEN.")
    add = parser.add_argument
    add("--config", default=_env("config", None), help="kong.yml to load (reloaded on SIGHUP and on change)")
    add("--proxy-listen", default=_env("proxy_listen", "127.0.0.1:8000, 127.0.0.1:8443 ssl"),
        help="comma-separated 'HOST:PORT [ssl]' addresses, as Kong's proxy_listen (default %(default)s)")
    add("--status-listen", default=_env("status_listen", "127.0.0.1:8100"),
        help="'HOST:PORT [ssl]' addresses for /status and /metrics, or 'off' (default %(default)s)")
    add("--admin-listen", default=_env("admin_listen", "off"),
        help="'HOST:PORT [ssl]' addresses for the DB-less admin API (GET/POST /config), or 'off' "
             "(default %(default)s)")
    add("--ssl-cert", default=_env("ssl_cert", None),
        help="certificate (PEM) for TLS listeners when no SNI matches (default: generated into the prefix)")
    add("--ssl-cert-key", default=_env("ssl_cert_key", None), help="the private key of --ssl-cert (PEM)")
    add("--lua-ssl-trusted-certificate", default=_env("lua_ssl_trusted_certificate", None),
        help="CA bundle (PEM) plugins trust for identity providers, added to the system store (Kong's name)")
    add("--workers", default=_env("workers", DEFAULT_WORKERS),
        help="worker processes, or 'auto' for one per CPU (default %(default)s)")
    add("--prefix", default=_env("prefix", ".oidcgate-dp"),
        help="directory for the last good configuration and the node id (default %(default)s)")
    add("--access-log", default=_env("access_log", "-"), help="'-' (stdout), a file, or 'off' (default %(default)s)")
    add("--trusted-ips", default=_env("trusted_ips", ""),
        help="comma-separated CIDRs whose X-Forwarded-* headers are trusted (Kong's trusted_ips)")
    add("--drain-timeout", type=float, default=float(_env("drain_timeout", "10") or 10),
        help="seconds in-flight requests get on SIGTERM (default %(default)s)")
    add("--client-header-timeout", type=float, default=float(_env("client_header_timeout", "60") or 60),
        help="seconds a client has to send a request head (default %(default)s)")
    add("--client-body-timeout", type=float, default=float(_env("client_body_timeout", "60") or 60),
        help="longest silence while a client sends a body or reads a response (default %(default)s)")
    add("--keepalive-timeout", type=float, default=float(_env("keepalive_timeout", "60") or 60),
        help="seconds an idle client connection stays open (default %(default)s)")
    add("--max-header-size", type=int, default=int(_env("max_header_size", "32768") or 32768),
        help="request line + headers, in bytes; 431 above (default %(default)s)")
    add("--cp", default=_env("cp", None), help="control plane HOST:PORT (hybrid mode)")
    add("--cluster-cert", default=_env("cluster_cert", None), help="cluster certificate (PEM)")
    add("--cluster-key", default=_env("cluster_key", None), help="cluster private key (PEM)")
    add("--cluster-server-name", default=_env("cluster_server_name", None),
        help="name the control plane's certificate must carry (default: the cluster certificate's)")
    add("--analytics-flush-interval", default=_env("analytics_flush_interval", "10"),
        help="seconds between the analytics reports sent to the control plane, a divisor of 60, or 0 for "
             "none (Kong's analytics_flush_interval; default %(default)s)")
    add("--log-level", default=_env("log_level", "info"), choices=["debug", "info", "warning", "error"])
    add("--vault-env-prefix", default=_env("vault_env_prefix", None),
        help="Kong's vault_env_prefix: {vault://env/name} in a secret field reads <prefix>NAME, and nothing "
             "else of the environment (default OIDCGATE_VAULT_)")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    import logging

    import uvloop

    from oidcgate.config.vault import DEFAULT_ENV_PREFIX, env_prefix
    from oidcgate.proxy.master import Master
    from oidcgate.proxy.settings import Settings, cpu_count
    from oidcgate.tls.listen import parse_listen

    try:
        workers = cpu_count() if str(args.workers) == "auto" else int(args.workers)
        if workers < 1:
            raise ValueError
    except ValueError:
        print(f"oidcgate dp: --workers must be a positive number or 'auto', not '{args.workers}'", file=sys.stderr)
        return 2
    for name in ("proxy_listen", "status_listen", "admin_listen"):
        value = getattr(args, name)
        if value != "off" or name == "proxy_listen":
            try:
                parse_listen(value)
            except ValueError as exc:
                print(f"oidcgate dp: --{name.replace('_', '-')}: {exc}", file=sys.stderr)
                return 2
    try:
        vault_env_prefix = env_prefix(DEFAULT_ENV_PREFIX if args.vault_env_prefix is None else args.vault_env_prefix)
    except ValueError as exc:
        print(f"oidcgate dp: --vault-env-prefix: {exc}", file=sys.stderr)
        return 2
    from oidcgate.proxy.analytics import INTERVALS

    interval = args.analytics_flush_interval
    if not (interval.isdigit() and int(interval) in (0, *INTERVALS)):
        print(f"oidcgate dp: --analytics-flush-interval must be 0 or divide 60 ({', '.join(map(str, INTERVALS))}), "
              f"not '{interval}'", file=sys.stderr)
        return 2
    if args.cp and not (args.cluster_cert and args.cluster_key):
        print("oidcgate dp: --cp needs --cluster-cert and --cluster-key", file=sys.stderr)
        return 2
    settings = Settings(
        proxy_listen=args.proxy_listen, status_listen=args.status_listen, admin_listen=args.admin_listen,
        workers=workers, prefix=args.prefix, config=args.config, access_log=args.access_log,
        trusted_ips=[c for c in args.trusted_ips.split(",") if c.strip()], drain_timeout=args.drain_timeout,
        client_header_timeout=args.client_header_timeout, client_body_timeout=args.client_body_timeout,
        keepalive_timeout=args.keepalive_timeout, max_header_size=args.max_header_size, cp=args.cp,
        cluster_cert=args.cluster_cert, cluster_key=args.cluster_key,
        cluster_server_name=args.cluster_server_name, analytics_flush_interval=int(interval),
        log_level=args.log_level, vault_env_prefix=vault_env_prefix,
        ssl_cert=args.ssl_cert, ssl_cert_key=args.ssl_cert_key)
    if args.lua_ssl_trusted_certificate:  # workers inherit the environment; plugins read it (oidcgate.tls.trust)
        os.environ["OIDCGATE_LUA_SSL_TRUSTED_CERTIFICATE"] = args.lua_ssl_trusted_certificate
    logging.basicConfig(level=settings.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s master %(levelname)s %(name)s: %(message)s")
    return int(uvloop.run(Master(settings).run()))
