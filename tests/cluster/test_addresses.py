"""Cluster addresses and options, checked before anything starts (no Ray needed)."""

from __future__ import annotations

import pytest

from zixir.lang.errors import ClusterUnavailable
from zixir.runtime import cluster
from zixir.runtime.config import RuntimeConfig


@pytest.mark.parametrize("address", ["auto", "ray://head:10001", "10.0.0.5:6379",
                                     "ray://[::1]:10001", " node-1.example:6379 "])
def test_accepted_addresses(address):
    assert cluster.parse_address(address) == address.strip()


@pytest.mark.parametrize("address", ["", "head", "ray://head", "head:0", "head:99999",
                                     "http://head:80", "ray://head:port", 6379])
def test_malformed_addresses_name_themselves(address):
    with pytest.raises(ClusterUnavailable, match="malformed cluster address|must be a string"):
        cluster.parse_address(address)


def test_auto_uses_ray_address_then_the_local_cluster_file(monkeypatch, tmp_path):
    monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")
    assert cluster.resolve_auto() == "ray://head:10001"
    monkeypatch.delenv("RAY_ADDRESS")
    current = tmp_path / "ray_current_cluster"
    monkeypatch.setattr(cluster, "RAY_CURRENT_CLUSTER", str(current))
    with pytest.raises(ClusterUnavailable, match="--cluster auto found no Ray cluster") as info:
        cluster.resolve_auto()
    assert info.value.address == "auto"
    current.write_text("192.0.2.7:6379\n")
    assert cluster.resolve_auto() == "192.0.2.7:6379"


def test_a_cluster_runtime_routes_every_call_and_checks_its_options():
    config = RuntimeConfig(cluster="ray://head:10001", workers=4, cluster_cpus=0.25)
    assert config.direct is False  # no worker pipes to lend to host threads
    assert RuntimeConfig().cluster is None and RuntimeConfig().direct is True
    with pytest.raises(ValueError, match="cluster_cpus"):
        RuntimeConfig(cluster="auto", cluster_cpus=-1)
    with pytest.raises(ClusterUnavailable):
        RuntimeConfig(cluster="head")


def test_zixir_toml_cluster_keys(tmp_path):
    from zixir import project_file

    path = tmp_path / "zixir.toml"
    path.write_text('[runtime]\ncluster = "ray://head:10001"\ncluster_cpus = 0.5\n')
    options = project_file.load(str(path)).options
    assert options["cluster"] == "ray://head:10001" and options["cluster_cpus"] == 0.5
    path.write_text('[runtime]\nworkers = 2\ncluster = "head"\n')
    with pytest.raises(project_file.ProjectFileError) as info:
        project_file.load(str(path))
    assert info.value.line == 3 and "cluster" in info.value.message
    path.write_text('[runtime]\ncluster_cpus = -1\n')
    with pytest.raises(project_file.ProjectFileError, match="cluster_cpus"):
        project_file.load(str(path))
