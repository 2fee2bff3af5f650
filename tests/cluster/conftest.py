"""One local Ray cluster for the whole session: a head and a second node, one CPU each, a
small object store, no dashboard. Shut down at the end (its raylets take their workers)."""

from __future__ import annotations

import os

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
OBJECT_STORE = 80 * 1024 * 1024


@pytest.fixture(scope="session")
def ray_cluster():
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'zixir[ray]')")
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "object_store_memory": OBJECT_STORE, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1, object_store_memory=OBJECT_STORE)
        cluster.wait_for_nodes()
        yield cluster
    finally:
        cluster.shutdown()


def node_ids(cluster) -> dict[str, str]:
    """node id -> "head" / "worker" of the cluster's live nodes."""
    ids = {cluster.head_node.node_id: "head"}
    for node in cluster.worker_nodes:
        ids[node.node_id] = "worker"
    return ids
