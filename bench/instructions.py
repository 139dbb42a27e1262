"""CPU instructions per request, per stage, for each route of `bench.hotpath`: deterministic where
requests/s on a shared machine are not.

The process re-runs itself under `valgrind --tool=callgrind` with collection off, builds a tiny helper
that issues callgrind's client requests (callgrind.h: toggle collection, zero, dump), and for each
route and stage (see bench.hotpath: `request`, `response`) runs REQUESTS requests with collection on
during that stage only, then dumps. REQUESTS is a multiple of the access log's and the metrics' batch
sizes, and both are settled before each count, so their batched work is counted exactly once per
batch. The cost of toggling itself (an empty window) is subtracted. PYTHONHASHSEED is fixed, so two
runs of the same code give the same figures to within a few instructions.

    python -m bench.instructions                 # every route, a markdown table on stdout
    python -m bench.instructions plain bearer    # some routes
    python -m bench.instructions --keep DIR bearer   # and keep the dumps (callgrind_annotate --inclusive=yes)
Needs valgrind (with its headers, callgrind.h) and a C compiler.
"""

from __future__ import annotations

import ctypes
import gc
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REQUESTS = 1024
ROUTES = ("plain", "plain+token", "plain+basic", "noop", "bearer", "cc", "session-cookie", "session-redis", "oidc",
          "acl", "rl-local", "rl-redis")  # (bench.hotpath's, in its order)
STAGES = ("request", "response")
HELPER = r"""
#include <valgrind/callgrind.h>
void cg_toggle(void) { CALLGRIND_TOGGLE_COLLECT; }
void cg_zero(void) { CALLGRIND_ZERO_STATS; }
void cg_dump(const char *what) { CALLGRIND_DUMP_STATS_AT(what); }
int cg_running(void) { return RUNNING_ON_VALGRIND; }
"""
_DESC = re.compile(r"^desc: Trigger: Client Request: (.*)$", re.MULTILINE)
_TOTAL = re.compile(r"^(?:summary|totals):\s*(\d+)", re.MULTILINE)


def helper(directory: Path) -> ctypes.CDLL:
    source, library = directory / "cgtoggle.c", directory / "libcgtoggle.so"
    source.write_text(HELPER)
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    return ctypes.CDLL(str(library))


def inside(routes: list[str], out: Path) -> None:
    """The measuring part, under callgrind (collection off until toggled)."""
    from bench.hotpath import worker

    cg = helper(out)
    if not cg.cg_running():
        raise RuntimeError("not running under valgrind")
    with worker() as bench:
        subject, loop = bench.subject, bench.loop
        state = subject.state
        cg.cg_zero()
        for _ in range(REQUESTS):
            cg.cg_toggle()
            cg.cg_toggle()
        cg.cg_dump(b"overhead")
        for name in routes or ROUTES:
            for stage in STAGES:
                request = bench.request(name)
                loop.run_until_complete(subject.many(request, 8))
                state.settle()
                gc.collect()
                cg.cg_zero()
                loop.run_until_complete(subject.many(request, REQUESTS, stage, cg.cg_toggle))
                cg.cg_dump(f"{name} {stage}".encode())


def read_dumps(out: Path) -> dict[str, int]:
    found: dict[str, int] = {}
    for path in out.glob("cg.*"):
        text = path.read_text(errors="replace")
        desc, total = _DESC.search(text), _TOTAL.search(text)
        if desc is not None and total is not None:
            found[desc.group(1)] = int(total.group(1))
    return found


def table(found: dict[str, int]) -> str:
    overhead = found.pop("overhead", 0)
    per: dict[str, dict[str, float]] = {}
    for label, total in sorted(found.items(), key=lambda item: ROUTES.index(item[0].rsplit(" ", 1)[0])):
        route, stage = label.rsplit(" ", 1)
        per.setdefault(route, {})[stage] = (total - overhead) / REQUESTS
    lines = ["| route | request stage | response stage | total |", "|---|---:|---:|---:|"]
    for route, stages in per.items():
        cells = [f"{stages.get(stage, 0) / 1000:,.1f}k" for stage in STAGES]
        lines.append(f"| {route} | {' | '.join(cells)} | {sum(stages.values()) / 1000:,.1f}k |")
    return "\n".join(lines)


def main() -> int:
    if sys.argv[1:2] == ["--inside"]:
        inside(sys.argv[3:], Path(sys.argv[2]))
        return 0
    routes = sys.argv[1:]
    keep = None
    if routes[:1] == ["--keep"]:
        keep, routes = Path(routes[1]), routes[2:]
        keep.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="instructions-") as tmp:
        out = keep or Path(tmp)
        command = ["valgrind", "--tool=callgrind", "--collect-atstart=no", f"--callgrind-out-file={out}/cg.%p",
                   sys.executable, "-m", "bench.instructions", "--inside", str(out), *routes]
        done = subprocess.run(command, env={**os.environ, "PYTHONHASHSEED": "0"}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, check=False)
        if done.returncode != 0:
            print(done.stderr[-3000:], file=sys.stderr)
            return 1
        print(table(read_dumps(out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
