"""Where the demo's parts listen: Kong's and Okta's default ports, or others, so two demos (or a demo and
the tests) can run side by side."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

HOST = "127.0.0.1"
DEFAULT_PORTS: Mapping[str, int] = {"proxy": 8000, "admin": 8001, "gui": 8002, "cluster": 8005, "status": 8100,
                                    "idp": 9000, "echo": 9090}


@dataclass(frozen=True)
class Addresses:
    """The port of every part (`DEFAULT_PORTS`' names), and the addresses and URLs made of them."""

    ports: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))

    def listen(self, part: str) -> str:
        return f"{HOST}:{self.ports[part]}"

    def url(self, part: str) -> str:
        return f"http://{self.listen(part)}"

    @property
    def issuer(self) -> str:
        return f"{self.url('idp')}/oauth2/default"


def parse_ports(text: str) -> Addresses:
    """`proxy=18000,idp=19000`: the default ports with these replaced (`--ports`, `OIDCGATE_DEMO_PORTS`)."""
    ports = dict(DEFAULT_PORTS)
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        if name not in DEFAULT_PORTS:
            raise ValueError(f"unknown part {name!r} in {item!r}; the parts are {', '.join(DEFAULT_PORTS)}")
        if not value.isdigit() or not 0 < int(value) < 65536:
            raise ValueError(f"{item!r}: the port must be a number from 1 to 65535")
        ports[name] = int(value)
    if len(set(ports.values())) < len(ports):
        raise ValueError(f"two parts on one port: {', '.join(f'{name}={port}' for name, port in ports.items())}")
    return Addresses(ports)
