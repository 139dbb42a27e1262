"""Shared cluster certificates: generated once per session (the link tests need two distinct pairs)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from oidcgate.cluster import certs


@dataclass(frozen=True)
class CertPair:
    cert: str
    key: str


@pytest.fixture(scope="session")
def cluster_cert(tmp_path_factory: pytest.TempPathFactory) -> CertPair:
    folder = tmp_path_factory.mktemp("cluster-cert")
    certs.generate(folder / "cluster.crt", folder / "cluster.key")
    return CertPair(str(folder / "cluster.crt"), str(folder / "cluster.key"))


@pytest.fixture(scope="session")
def other_cert(tmp_path_factory: pytest.TempPathFactory) -> CertPair:
    """A second, unrelated pair: same subject, different key (what an impostor would bring)."""
    folder = tmp_path_factory.mktemp("other-cert")
    certs.generate(folder / "cluster.crt", folder / "cluster.key")
    return CertPair(str(folder / "cluster.crt"), str(folder / "cluster.key"))
