"""Kong's own curl examples from its documentation, run with curl, unchanged but for the admin port.

Sources: Kong's 5-minute quickstart (example-service, hosts[]=example.com), the getting-started
guide (services and routes, load balancing with example_upstream, consumers) and the
correlation-id plugin page. The control plane is a real `oidcgate cp` process.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.controlplane.cp_process import running_cp

pytestmark = pytest.mark.e2e

# (command exactly as documented, expected HTTP status for `-i` commands, fields expected in the JSON body)
EXAMPLES: list[tuple[str, int | None, dict[str, object]]] = [
    ("curl -i -X POST --url http://localhost:8001/services/ --data 'name=example-service' "
     "--data 'url=http://mockbin.org'", 201, {"name": "example-service", "host": "mockbin.org"}),
    ("curl -i -X POST --url http://localhost:8001/services/example-service/routes --data 'hosts[]=example.com'",
     201, {"hosts": ["example.com"]}),
    ("curl -i -s -X POST http://localhost:8001/services --data name=example_service "
     "--data url='http://httpbin.org'", 201, {"name": "example_service", "host": "httpbin.org"}),
    ("curl -X GET http://localhost:8001/services/example_service", None, {"name": "example_service"}),
    ("curl --request PATCH --url localhost:8001/services/example_service --data retries=6", None, {"retries": 6}),
    ("curl -i -X POST http://localhost:8001/services/example_service/routes --data 'paths[]=/mock' "
     "--data name=example_route", 201, {"name": "example_route", "paths": ["/mock"]}),
    ("curl -X GET http://localhost:8001/services/example_service/routes/example_route", None,
     {"name": "example_route"}),
    ("curl --request PATCH --url localhost:8001/services/example_service/routes/example_route "
     "--data tags=\"tutorial\"", None, {"tags": ["tutorial"]}),
    ("curl -X POST http://localhost:8001/services/example-service/plugins --data \"name=correlation-id\" "
     "--data \"config.header_name=Kong-Request-ID\" --data \"config.generator=uuid#counter\" "
     "--data \"config.echo_downstream=false\"", None,
     {"name": "correlation-id", "config": {"header_name": "Kong-Request-ID", "generator": "uuid#counter",
                                           "echo_downstream": False}}),
    ("curl -i -X POST http://localhost:8001/consumers/ --data username=luka", 201, {"username": "luka"}),
    ("curl -X POST http://localhost:8001/upstreams --data name=example_upstream", None,
     {"name": "example_upstream", "algorithm": "round-robin"}),
    ("curl -X POST http://localhost:8001/upstreams/example_upstream/targets --data target='httpbun.com:80'",
     None, {"target": "httpbun.com:80", "weight": 100}),
    ("curl -X POST http://localhost:8001/upstreams/example_upstream/targets --data target='httpbin.org:80'",
     None, {"target": "httpbin.org:80"}),
    ("curl -X PATCH http://localhost:8001/services/example_service --data host='example_upstream'", None,
     {"host": "example_upstream"}),
]


def run_curl(command: str, port: int) -> tuple[int | None, Any]:
    args = shlex.split(command.replace("localhost:8001", f"localhost:{port}"))
    out = subprocess.run(args, capture_output=True, text=True, timeout=20, check=True).stdout
    status = None
    if out.startswith("HTTP/"):
        head, _, out = out.replace("\r\n", "\n").partition("\n\n")
        status = int(head.split()[1])
    return status, json.loads(out)


def test_kong_documented_curl_examples(tmp_path: Path) -> None:
    with running_cp(tmp_path / "cp") as cp:
        for command, status, expected in EXAMPLES:
            got_status, body = run_curl(command, cp.admin_port)
            if status is not None:
                assert got_status == status, (command, body)
            for key, value in expected.items():
                assert body.get(key) == value, (command, body)
        services = run_curl("curl -X GET http://localhost:8001/services", cp.admin_port)[1]
        assert {s["name"] for s in services["data"]} == {"example-service", "example_service"}
        routes = run_curl("curl http://localhost:8001/routes", cp.admin_port)[1]
        assert len(routes["data"]) == 2
        refused = run_curl("curl -i -X DELETE http://localhost:8001/services/example_service", cp.admin_port)
        assert refused[0] == 400 and refused[1]["name"] == "foreign key violation"
