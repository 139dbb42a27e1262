"""`oidcgate cluster gen-cert` and the TLS contexts built from its output."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from oidcgate.cli import main
from oidcgate.cluster import certs, tls
from tests.cluster.conftest import CertPair


def _load(folder: Path, cert: str = "cluster.crt", key: str = "cluster.key") -> tuple[x509.Certificate, object]:
    return (x509.load_pem_x509_certificate((folder / cert).read_bytes()),
            serialization.load_pem_private_key((folder / key).read_bytes(), password=None))


def test_gen_cert_writes_a_kong_style_pair(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["cluster", "gen-cert"]) == 0
    assert "wrote cluster certificate cluster.crt and key cluster.key" in capsys.readouterr().out
    cert, key = _load(tmp_path)
    assert stat.S_IMODE((tmp_path / "cluster.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "cluster.crt").stat().st_mode) == 0o600
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp384r1"
    assert cert.public_key() == key.public_key()
    assert cert.subject == cert.issuer
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == certs.COMMON_NAME
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and not constraints.value.ca
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usages) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert 1095 <= lifetime.days <= 1096


def test_gen_cert_flags_rsa_and_days(tmp_path: Path) -> None:
    cert_path, key_path = tmp_path / "sub" / "dp.pem", tmp_path / "sub" / "dp-key.pem"
    assert main(["cluster", "gen-cert", "--cert", str(cert_path), "--key", str(key_path),
                 "--days", "30", "--key-type", "rsa"]) == 0
    cert, key = _load(tmp_path / "sub", "dp.pem", "dp-key.pem")
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 3072
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 30


def test_gen_cert_accepts_kongs_positional_form(tmp_path: Path) -> None:
    assert main(["cluster", "gen-cert", str(tmp_path / "a.crt"), str(tmp_path / "a.key")]) == 0
    assert (tmp_path / "a.crt").exists() and (tmp_path / "a.key").exists()


def test_gen_cert_refuses_to_overwrite_without_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["cluster", "gen-cert", "--cert", str(tmp_path / "c.crt"), "--key", str(tmp_path / "c.key")]
    assert main(args) == 0
    before = (tmp_path / "c.key").read_bytes()
    capsys.readouterr()
    assert main(args) == 1
    assert "already exists (use --force to overwrite)" in capsys.readouterr().err
    assert (tmp_path / "c.key").read_bytes() == before
    assert main([*args, "--force"]) == 0
    assert (tmp_path / "c.key").read_bytes() != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.crt", "c.key"]  # no temporary files left


@pytest.mark.parametrize("args", [["--days", "0"], ["x.crt", "--cert", "y.crt"]])
def test_gen_cert_bad_arguments(tmp_path: Path, args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["cluster", "gen-cert", *args]) == 2
    assert list(tmp_path.iterdir()) == []


def test_gen_cert_runs_as_a_command(tmp_path: Path) -> None:
    """The real console entry point, with a umask that would otherwise widen the modes: a missing
    directory is created 0700, the pair 0600."""
    folder = tmp_path / "state" / "cluster"
    result = subprocess.run([sys.executable, "-m", "oidcgate.cli", "cluster", "gen-cert", str(folder / "cluster.crt"),
                             str(folder / "cluster.key")], cwd=tmp_path, capture_output=True, text=True,
                            timeout=60, preexec_fn=lambda: os.umask(0))
    assert result.returncode == 0, result.stderr
    for directory in (folder, folder.parent):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    for name in ("cluster.key", "cluster.crt"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name


def test_tls_contexts_refuse_unusable_files(tmp_path: Path, cluster_cert: CertPair, other_cert: CertPair) -> None:
    with pytest.raises(tls.ClusterCertificateError, match="cannot read"):
        tls.server_context(str(tmp_path / "missing.crt"), cluster_cert.key)
    with pytest.raises(tls.ClusterCertificateError, match="invalid cluster certificate"):
        tls.client_context(cluster_cert.cert, other_cert.key)  # key does not match the certificate
    (tmp_path / "junk.crt").write_text("not a certificate")
    with pytest.raises(tls.ClusterCertificateError, match="invalid cluster certificate"):
        tls.client_context(str(tmp_path / "junk.crt"), cluster_cert.key)
