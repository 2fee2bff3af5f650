"""One local Ray cluster for the whole session: a head (with a Ray client server, for
`ray://` addresses) and a second node, one CPU each, a small object store, no dashboard. Shut down at the end (its raylets take their workers)."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
OBJECT_STORE = 80 * 1024 * 1024


@pytest.fixture(scope="session")
def ray_cluster():
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'zixir[ray]')")
    from ray.cluster_utils import Cluster

    # Ray's sessions (logs, sockets) in a directory of the session's own, removed at the end;
    # short, for the unix socket paths inside it
    temp_dir = tempfile.mkdtemp(prefix="zxray-")
    client_port = free_port()
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "object_store_memory": OBJECT_STORE, "include_dashboard": False,
        "ray_client_server_port": client_port, "temp_dir": temp_dir})
    cluster.client_port = client_port
    cluster.temp_dir = temp_dir
    try:
        cluster.add_node(num_cpus=1, object_store_memory=OBJECT_STORE, temp_dir=temp_dir)
        cluster.wait_for_nodes()
        yield cluster
    finally:
        cluster.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def client_address(cluster) -> str:
    """The head's Ray client address (`ray://HOST:PORT`)."""
    return f"ray://127.0.0.1:{cluster.client_port}"


def node_ids(cluster) -> dict[str, str]:
    """node id -> "head" / "worker" of the cluster's live nodes."""
    ids = {cluster.head_node.node_id: "head"}
    for node in cluster.worker_nodes:
        ids[node.node_id] = "worker"
    return ids
