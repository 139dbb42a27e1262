"""Many idle client connections held open from one process, and what they cost a server process.

`hold()` opens plain blocking loopback sockets in batches; with a request, each sends it once and reads
its answer (a keep-alive connection that has served a request), without one they never send a byte.
Connecting is paced: before each batch the server must have accepted all but `MAX_AHEAD` of the
connections opened so far, so its listen backlog never overflows (an overflow drops the handshake's
last ACK or the SYN, and the connect or the first request waits a second or more for a retry).
`still_open()` tells, without blocking, how many the server has not closed. `rss()`, `open_fds()`,
`accepted()` and `alive()` read a process's /proc entries. Every wait is bounded in time.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import select
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from tests.support.polling import wait_until

BATCH = 50
# Connections opened but not yet accepted before the next batch: BATCH + MAX_AHEAD stays under the listen
# backlog (the proxy's is 100: uvloop's create_server re-listens its socket with its default backlog).
MAX_AHEAD = 25
_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)


def raise_fd_limit(needed: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit (children inherit it); fail below `needed`."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise RuntimeError(f"RLIMIT_NOFILE is {hard}: {needed} file descriptors are needed")
    return hard


def _status_field(pid: int, name: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(name + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {name} in /proc/{pid}/status")


def rss(pid: int) -> int:
    """The resident set of `pid` in bytes (VmRSS)."""
    return _status_field(pid, "VmRSS")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def accepted(pid: int, port: int) -> int:
    """How many TCP connections to local `port` process `pid` has accepted and holds (its sockets with
    that local port, the listening one excepted): /proc/PID/fd matched with /proc/net/tcp."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):  # (closed meanwhile)
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    local = f":{port:04X}"
    count = 0
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            if fields[1].endswith(local) and fields[3] != "0A" and fields[9] in inodes:  # 0A: LISTEN
                count += 1
    return count


def alive(pid: int) -> bool:
    """`pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def read_response(sock: socket.socket) -> int:
    """Read one response with a Content-Length (or none: an empty body) and return its status code."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a response head: {data[:200]!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    found = _LENGTH.search(head)
    length = int(found.group(1)) if found else 0
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed in the middle of a response body")
        body += chunk
    return int(head.split(b" ", 2)[1])


@dataclass
class Held:
    """Connections held open; `statuses` counts the answers to the one request each sent."""

    sockets: list[socket.socket] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    seconds: float = 0.0  # how long opening them took

    def still_open(self) -> int:
        """How many the server has neither closed nor written to (a poll that does not wait)."""
        poller = select.poll()
        for sock in self.sockets:
            poller.register(sock, select.POLLIN | select.POLLRDHUP)
        return len(self.sockets) - len(poller.poll(0))

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()
        self.sockets.clear()


@contextlib.contextmanager
def hold(port: int, count: int, request: bytes | None, accepted: Callable[[], int],
         timeout: float = 120.0) -> Iterator[Held]:
    """Open `count` connections to 127.0.0.1:`port`, each sending `request` once (if any) and reading its
    answer; they stay open, idle, until the block ends. `accepted()` is how many the server holds so far
    (e.g. its open file descriptors minus those it had before)."""
    held = Held()
    started = time.monotonic()
    deadline = started + timeout
    try:
        while len(held.sockets) < count:
            opened = len(held.sockets)
            wait_until(lambda opened=opened: opened - accepted() <= MAX_AHEAD,
                       timeout=max(deadline - time.monotonic(), 0.1), interval=0.005,
                       what=f"the server accepting ({opened} connections opened)")
            group = [socket.create_connection(("127.0.0.1", port), timeout=10)
                     for _ in range(min(BATCH, count - opened))]
            held.sockets += group
            if request is not None:
                for sock in group:  # one at a time: the server's upstream side does not grow meanwhile
                    sock.sendall(request)
                    held.statuses[read_response(sock)] += 1
        held.seconds = time.monotonic() - started
        yield held
    finally:
        held.close()
