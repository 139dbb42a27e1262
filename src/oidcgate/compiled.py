"""The data plane's hot path compiled to C, and the guard against running compiled code that is stale.

`make compiled` compiles the modules the Makefile lists (COMPILED: the proxy's per-request modules and
the header-fields type) with mypyc, the compiler that comes with mypy: the same source, checked by the
same types, as C extensions beside it. They skip the interpreter's dispatch, which is about a quarter
of a request's Python time (bench/results.md). Without them the same source runs interpreted.

Python imports an extension in preference to its source, and mypyc compiles the listed modules into
one shared library, so an extension built from older source would silently run old code. The build
therefore writes a manifest of what it compiled (`sha256sum` of each source), and importing oidcgate
fails while a compiled source no longer matches it: the fix is `make compiled` (or `make
clean-compiled`, to run everything interpreted).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
MANIFEST = PACKAGE / "compiled.manifest"  # written by `make compiled`, git-ignored


class StaleBuild(ImportError):
    """A compiled module's source changed after it was compiled."""


def compiled_sources(manifest: Path = MANIFEST) -> dict[Path, str]:
    """The sources of the current build and their SHA-256 (hex) when built; empty when none was built."""
    try:
        lines = manifest.read_text().splitlines()
    except FileNotFoundError:
        return {}
    sources: dict[Path, str] = {}
    for line in lines:
        digest, _, name = line.partition("  ")
        sources[manifest.parent / name] = digest
    return sources


def verify(manifest: Path = MANIFEST) -> None:
    """Raise StaleBuild when a compiled module's source is not what was compiled."""
    for source, digest in compiled_sources(manifest).items():
        try:
            current = hashlib.sha256(source.read_bytes()).hexdigest()
        except FileNotFoundError:
            current = "(removed)"
        if current != digest:
            raise StaleBuild(f"{source} changed after it was compiled to C: run `make compiled` to rebuild, "
                             "or `make clean-compiled` to run it interpreted")
