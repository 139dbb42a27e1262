"""The kong.yml loader: any bytes give a validated snapshot or a ConfigError, never anything else.

Oracle: an accepted document loads again from its own export (`to_declarative`) to a snapshot with the
same hash, so validation neither invents nor drops what it accepted.
"""

from __future__ import annotations

from fuzz.harness import ACCEPTED, REFUSED, Target, WrongAccept

SEEDS = [
    b"""_format_version: "3.0"
services:
- name: httpbin
  url: http://127.0.0.1:9090/anything
  routes:
  - name: r1
    paths: [/a, "~/items/(?<id>\\\\d+)$"]
    hosts: ["*.example.com"]
    methods: [GET, POST]
    strip_path: false
  plugins:
  - name: correlation-id
    config: {header_name: X-Id}
consumers:
- username: alice
  custom_id: a-1
upstreams:
- name: pool
  targets: [{target: "127.0.0.1:9090", weight: 100}]
""",
    b"""{"_format_version": "3.0", "routes": [{"name": "top", "paths": ["/t"], "service": "s"}],
"services": [{"name": "s", "host": "pool", "port": 80, "protocol": "http", "retries": 2}],
"plugins": [{"name": "request-transformer", "route": "top", "config": {"add": {"headers": ["x:1"]}}},
{"name": "openid-connect", "config": {"issuer": "http://127.0.0.1:9000/oauth2/default",
"auth_methods": ["bearer"], "upstream_headers_claims": ["iss"], "upstream_headers_names": ["Issuer_Header"]}}]}""",
    b"a: &a [*a]",
    b"_format_version: '3.0'\nservices: [{name: x, url: 'http://[::1]:1/p'}]",
]


def target() -> Target:
    from oidcgate.config import ConfigError, load, parse_text
    from oidcgate.plugins.registry import config_schema

    def one(data: bytes) -> str:
        try:
            snapshot = load(parse_text(data), config_schema)
        except ConfigError:
            return REFUSED
        again = load(snapshot.to_declarative(), config_schema)
        if again.hash != snapshot.hash or again.counts != snapshot.counts:
            raise WrongAccept(f"an accepted document changed on export and reload: {data[:200]!r}")
        return ACCEPTED

    return Target("declarative", "kong.yml / JSON declarative configuration", SEEDS, one)
