"""Kong's listen syntax: `--proxy-listen "127.0.0.1:8000, 127.0.0.1:8443 ssl"`.

A listen value is a comma-separated list of `HOST:PORT [flag ...]`. `ssl` makes the address
terminate TLS. Kong's other flags (`http2`, `proxy_protocol`, `reuseport`, `backlog=N`, ...) are
refused by name rather than ignored, so nobody believes they are on.
"""

from __future__ import annotations

from dataclasses import dataclass

SUPPORTED_FLAGS = frozenset({"ssl"})


@dataclass(frozen=True, slots=True)
class ListenAddress:
    host: str
    port: int
    ssl: bool = False

    @property
    def scheme(self) -> str:
        return "https" if self.ssl else "http"

    @property
    def authority(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def with_port(self, port: int) -> ListenAddress:
        return ListenAddress(self.host, port, self.ssl)

    def __str__(self) -> str:
        return self.authority + (" ssl" if self.ssl else "")


def parse_address(value: str) -> tuple[str, int]:
    """`127.0.0.1:8000`, `[::1]:8000` or `:8000` (loopback) -> (host, port)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"invalid listen address '{value}': expected HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)


def parse_listen(value: str) -> list[ListenAddress]:
    """Every address of a listen value; ValueError names the part that is wrong."""
    addresses = []
    for part in value.split(","):
        words = part.split()
        if not words:
            raise ValueError(f"invalid listen value '{value}': empty address")
        host, port = parse_address(words[0])
        flags = words[1:]
        for flag in flags:
            if flag not in SUPPORTED_FLAGS:
                raise ValueError(f"listen flag '{flag}' in '{part.strip()}' is not supported "
                                 f"(supported: {', '.join(sorted(SUPPORTED_FLAGS))})")
        addresses.append(ListenAddress(host, port, "ssl" in flags))
    return addresses


def format_listen(addresses: list[ListenAddress]) -> str:
    return ", ".join(str(a) for a in addresses)
