"""The status API (`--status-listen`) and the DB-less admin API (`--admin-listen`), served by the master.

Status: `GET /status` (Kong's shape: `server` connection counters, `configuration_hash`, plus
workers with the health of their upstream targets, uptime, version), `GET /status/ready` (200 once a configuration is loaded and every worker
is up, else 503) and `GET /metrics` (Prometheus text in Kong's names, summed over workers:
plugins.prometheus.exporter).

Admin (Kong's DB-less endpoints): `GET /config` (`{"config": "<YAML>"}`), `POST /config` (the
document as JSON or YAML, or a form field `config`; `?check_hash=1` answers 304 when nothing
changed; 201 `{"configuration_hash": ...}`, or 400 with every error in Kong's shape) and
`GET /status`. Like Kong's Admin API it has no authentication: keep it on loopback. It answers only
local callers that are not web pages (`oidcgate.admin_guard`): Host must be localhost or an IP
address of this listener, a non-local Origin is refused, and `POST /config` refuses text/plain.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from typing import TYPE_CHECKING, Any, Protocol

import uvicorn
import yaml
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from oidcgate import __version__
from oidcgate.admin_guard import AdminGuard
from oidcgate.config import ConfigError, load, parse_text
from oidcgate.plugins import registry
from oidcgate.plugins.prometheus import exporter
from oidcgate.proxy.intake import ConfigIntake
from oidcgate.proxy.settings import Settings
from oidcgate.proxy.supervisor import Supervisor
from oidcgate.tls.uvicorn import with_tls

if TYPE_CHECKING:
    from oidcgate.cluster.client import ClusterClient


class Node(Protocol):
    """What these APIs read of the data plane's master process."""

    supervisor: Supervisor
    intake: ConfigIntake
    settings: Settings
    started: float
    node_id: str
    cluster_client: ClusterClient | None  # hybrid mode


def _connections(master: Node, reports: list[dict[str, Any]]) -> dict[str, int]:
    """Connection counts summed over the workers (accepted and handled: those that exited too)."""
    summed = dict.fromkeys(exporter.CONNECTION_STATES, 0)
    for report in reports:
        for key in exporter.CONNECTION_STATES:
            summed[key] += report["connections"][key]
    for key, value in master.supervisor.retired_connections.items():
        summed[key] += value
    return summed


def _requests(master: Node, reports: list[dict[str, Any]]) -> int:
    return sum(sum(codes.values()) for codes, *_ in master.supervisor.merged_routes(reports).values())


async def status_document(master: Node) -> dict[str, Any]:
    reports = await master.supervisor.collect()
    server = {f"connections_{key}": n for key, n in sorted(_connections(master, reports).items())}
    server["total_requests"] = _requests(master, reports)
    return {
        "configuration_hash": master.intake.current_hash(),
        "database": {"reachable": True},
        "server": server,
        "workers": [{"pid": r["pid"], "index": r["index"], "rss_bytes": r["rss"], "configuration_hash": r["hash"],
                     "connections_active": r["connections"]["active"],
                     "upstreams": r["upstreams"]}  # passive health is per worker, like Kong's per nginx worker
                    for r in sorted(reports, key=lambda r: r["index"])],
        "workers_expected": master.settings.workers,
        "uptime_seconds": round(time.time() - master.started, 3),
        "version": __version__,
        "node_id": master.node_id,
        "hostname": socket.gethostname(),
    }


def status_app(master: Node) -> Starlette:
    async def status(request: Request) -> Response:
        return JSONResponse(await status_document(master))

    async def ready(request: Request) -> Response:
        if master.intake.snapshot is None:
            return JSONResponse({"message": "no configuration loaded yet"}, status_code=503)
        alive = master.supervisor.alive_count()
        if alive < master.settings.workers:
            return JSONResponse({"message": f"{alive} of {master.settings.workers} workers ready"}, status_code=503)
        return JSONResponse({"message": "ready"})

    async def prometheus(request: Request) -> Response:
        reports = await master.supervisor.collect()
        cluster = master.cluster_client
        scrape = exporter.Scrape(
            reports, master.supervisor.retired_exports, master.node_id, socket.gethostname(), __version__,
            master.intake.current_hash(), time.time() - master.started,
            exporter.upstream_health_on(master.intake.snapshot), _connections(master, reports),
            _requests(master, reports), cluster.connected if cluster is not None else None)
        return Response(exporter.render(scrape), media_type="text/plain; version=0.0.4; charset=utf-8")

    return Starlette(routes=[Route("/status", status), Route("/status/ready", ready), Route("/metrics", prometheus)])


def _invalid(exc: ConfigError) -> JSONResponse:
    """Kong's answer to an invalid declarative configuration, with every error."""
    fields = exc.fields()
    return JSONResponse({
        "code": 14,
        "name": "invalid declarative configuration",
        "message": "declarative config is invalid: " + "; ".join(str(e) for e in exc.errors),
        "fields": fields,
        "flattened_errors": [{"path": e.path, "message": e.message} for e in exc.errors],
    }, status_code=400)


async def _read_limited(request: Request, limit: int) -> bytes | None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def admin_app(master: Node) -> Starlette:
    async def get_config(request: Request) -> Response:
        snapshot = master.intake.snapshot
        if snapshot is None:
            return JSONResponse({"message": "no configuration loaded yet"}, status_code=404)
        text = yaml.safe_dump(snapshot.to_declarative(), sort_keys=False, allow_unicode=True)
        return JSONResponse({"config": text})

    async def post_config(request: Request) -> Response:
        limit = master.settings.max_config_size
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
            try:
                form = await request.form(max_part_size=limit)
            except Exception:
                return JSONResponse({"message": "invalid form body"}, status_code=400)
            field = form.get("config")
            text: bytes | str | None = await field.read() if hasattr(field, "read") else field  # type: ignore[union-attr]
        else:
            text = await _read_limited(request, limit)
            if text is None:
                return JSONResponse({"message": f"configuration larger than {limit} bytes"}, status_code=413)
        if not text:
            return JSONResponse({"message": "expected a declarative configuration (JSON or YAML body, "
                                            "or a form field 'config')"}, status_code=400)
        try:
            doc = parse_text(text, "request body")
            if request.query_params.get("check_hash") == "1":
                snapshot = load(doc, registry.config_schema)
                if snapshot.hash == master.intake.current_hash():
                    return Response(status_code=304)
                configuration_hash = await master.intake.apply_snapshot(snapshot)
            else:
                configuration_hash = await master.intake.apply_document(doc)
        except ConfigError as exc:
            return _invalid(exc)
        return JSONResponse({"configuration_hash": configuration_hash}, status_code=201)

    async def status(request: Request) -> Response:
        return JSONResponse(await status_document(master))

    return Starlette(routes=[Route("/config", get_config, methods=["GET"]),
                             Route("/config", post_config, methods=["POST"]),
                             Route("/status", status)],
                     middleware=[Middleware(AdminGuard, token_required=False)])


class EmbeddedServer(uvicorn.Server):
    """uvicorn inside the master's loop: the master owns the signals, not uvicorn."""

    def capture_signals(self) -> contextlib.AbstractContextManager[None]:  # type: ignore[override]
        return contextlib.nullcontext()


def embedded(app: Starlette, tls: ssl.SSLContext | None = None) -> EmbeddedServer:
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", server_header=False)
    return EmbeddedServer(with_tls(config, tls))

