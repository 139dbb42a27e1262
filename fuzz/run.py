"""Run one fuzz target under atheris (libFuzzer's coverage-guided mutation) for a bounded time.

    python -m fuzz.run TARGET [--runs N] [--seconds S] [--seed K] [--artifacts DIR]
    python -m fuzz.run all --seconds 60      # every target in turn (`make fuzz`)

The run ends after N inputs or S seconds, whichever comes first, and prints one JSON line:
target, inputs tried, accepted, refused, crashes, wrong accepts, seconds. The first crash or wrong
accept ends the run with exit status 1, its input saved under --artifacts and its traceback printed.
The project's modules are instrumented, so inputs that reach new code are kept and mutated further.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

from fuzz.harness import ACCEPTED, REFUSED, Target, WrongAccept
from fuzz.targets import NAMES, load


def _report(target: str, counts: Counter[str], started: float) -> None:
    print(json.dumps({"target": target, "inputs": counts["inputs"], ACCEPTED: counts[ACCEPTED],
                      REFUSED: counts[REFUSED], "crashes": counts["crashes"],
                      "wrong_accepts": counts["wrong_accepts"],
                      "seconds": round(time.monotonic() - started, 1)}), flush=True)


def fuzz_one_target(name: str, runs: int, seconds: float, seed: int, artifacts: Path) -> None:
    """Fuzz `name` in this process; never returns (libFuzzer owns the loop, the harness ends it)."""
    import atheris

    with atheris.instrument_imports(include=["oidcgate"]):
        factory = load(name)
        target: Target = factory()
    counts: Counter[str] = Counter()
    started = time.monotonic()
    deadline = started + seconds

    def finish(status: int) -> None:
        _report(name, counts, started)
        sys.stdout.flush()
        os._exit(status)  # libFuzzer's loop has no way out but the process's end

    def test_one_input(data: bytes) -> None:
        counts["inputs"] += 1
        try:
            counts[target.one(data)] += 1
        except WrongAccept:
            counts["wrong_accepts"] += 1
            _save(artifacts, name, "wrong-accept", data)
            finish(1)
        except Exception:
            counts["crashes"] += 1
            _save(artifacts, name, "crash", data)
            finish(1)
        if counts["inputs"] >= runs or time.monotonic() > deadline:
            finish(0)

    corpus = Path(tempfile.mkdtemp(prefix=f"fuzz-{name}-"))
    for index, seed_input in enumerate(target.seeds):
        (corpus / f"seed-{index}").write_bytes(seed_input)
    atheris.Setup([sys.argv[0], f"-seed={seed}", f"-runs={runs + len(target.seeds) + 1}", "-max_len=8192",
                   "-rss_limit_mb=2048", "-timeout=10", str(corpus)], test_one_input)
    atheris.Fuzz()


def _save(artifacts: Path, name: str, kind: str, data: bytes) -> None:
    artifacts.mkdir(parents=True, exist_ok=True)
    path = artifacts / f"{name}-{kind}-{hashlib.sha256(data).hexdigest()[:16]}"
    path.write_bytes(data)
    traceback.print_exc()
    print(f"{kind}: input saved to {path} ({len(data)} bytes)", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", choices=[*NAMES, "all"])
    parser.add_argument("--runs", type=int, default=1_000_000, help="inputs at most (default: a million)")
    parser.add_argument("--seconds", type=float, default=60.0, help="time at most, per target")
    parser.add_argument("--seed", type=int, default=20261206, help="libFuzzer's random seed")
    parser.add_argument("--artifacts", type=Path, default=Path("fuzz/.artifacts"))
    args = parser.parse_args()
    if args.target != "all":
        fuzz_one_target(args.target, args.runs, args.seconds, args.seed, args.artifacts)
    failed = [name for name in NAMES if subprocess.run(
        [sys.executable, "-m", "fuzz.run", name, "--runs", str(args.runs), "--seconds", str(args.seconds),
         "--seed", str(args.seed), "--artifacts", str(args.artifacts)], check=False).returncode != 0]
    sys.exit(f"fuzz findings in: {', '.join(failed)}" if failed else 0)


if __name__ == "__main__":
    main()
