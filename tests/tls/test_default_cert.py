"""The generated default certificate: private files from the first byte, reused later, a loose key tightened."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from oidcgate.tls import default_cert
from oidcgate.tls.pem import key_type, load_certificate
from tests.support.private import loosen, modes, private


def test_generated_private_then_reused_and_a_loose_key_tightened(tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    prefix = tmp_path / "prefix"
    pairs = default_cert.ensure(prefix)
    files = tuple(Path(name) for pair in pairs for name in pair)
    assert modes(prefix, prefix / "ssl", *files) == private((prefix, prefix / "ssl"), files)
    assert [key_type(load_certificate(Path(cert).read_text())) for cert, _ in pairs] == ["ECDSA", "RSA"]

    before = {path: path.read_bytes() for path in files}
    loosen(Path(pairs[0][1]))
    with caplog.at_level(logging.WARNING, logger="oidcgate.private_files"):
        assert default_cert.ensure(prefix) == pairs
    assert {path: path.read_bytes() for path in files} == before  # the same certificate, not a new one
    assert modes(*files) == private(files=files)
    assert "was accessible to other users" in caplog.text
