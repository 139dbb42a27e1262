"""Run the echo server: one uvloop worker, or N forked workers sharing the port with SO_REUSEPORT.

With SO_REUSEPORT the kernel spreads new connections over the workers' own listening sockets,
so there is no shared accept lock. The master only forwards SIGTERM/SIGINT to the workers and
exits when they have; if a worker dies, the others are stopped too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys

from oidcgate.echo.http import EchoProtocol

IDLE_TIMEOUT = 60.0  # seconds a keep-alive connection may sit idle
SWEEP_INTERVAL = 5.0


def parse_listen(text: str) -> tuple[str, int]:
    """'127.0.0.1:9090' or '[::1]:9090' -> (host, port); ValueError with a clear message otherwise."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"expected HOST:PORT, got '{text}'")
    return host.strip("[]"), int(port_text)


def _listening_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def serve(host: str, port: int, workers: int) -> int:
    """Serve until SIGTERM/SIGINT; returns the process exit code."""
    try:  # fail early and clearly if anything (even another SO_REUSEPORT echo) holds the port
        _listening_socket(host, port, reuse_port=False).close()
    except OSError as exc:
        print(f"oidcgate echo: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        return 1
    if workers == 1:
        return _run_worker(host, port, announce=True)
    children = []
    for index in range(workers):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            code = 1
            try:
                code = _run_worker(host, port, announce=index == 0)
            finally:
                os._exit(code)
        children.append(pid)
    return _supervise(children)


def _supervise(children: list[int]) -> int:
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = 0
    while children:
        pid, status = os.wait()
        children.remove(pid)
        if not stopping:  # a worker died on its own: take the others down, report failure
            code = 1
            stop(signal.SIGTERM, None)
        elif os.waitstatus_to_exitcode(status) not in (0, -signal.SIGTERM):
            code = 1
    return code


def _run_worker(host: str, port: int, *, announce: bool) -> int:
    import uvloop

    try:
        uvloop.run(_serve(host, port, announce))
    except OSError as exc:
        print(f"oidcgate echo: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        return 1
    return 0


async def _serve(host: str, port: int, announce: bool) -> None:
    loop = asyncio.get_running_loop()
    sock = _listening_socket(host, port, reuse_port=True)
    connections: set[EchoProtocol] = set()
    name = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    server = await loop.create_server(lambda: EchoProtocol(name, connections), sock=sock, backlog=1024)
    stopped = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    if announce:
        print(f"oidcgate echo listening on http://{name}", flush=True)
    sweeper = asyncio.create_task(_sweep_idle(connections))
    try:
        await stopped.wait()
    finally:
        sweeper.cancel()
        server.close()
        for connection in list(connections):
            connection.close_if_idle(float("inf"))
        await server.wait_closed()


async def _sweep_idle(connections: set[EchoProtocol]) -> None:
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(SWEEP_INTERVAL)
        idle_before = loop.time() - IDLE_TIMEOUT
        for connection in list(connections):
            connection.close_if_idle(idle_before)
