"""Two PostgreSQL stores (two hosts' store processes) racing on the same keys: conditional
writes on absent keys (no row to lock yet) and on present ones stay exact; and a store whose
server stays away."""

from __future__ import annotations

import threading

import pytest

from zixir.runtime import memory_postgres
from zixir.runtime import protocol as p
from zixir.runtime.memory import StoreLost, open_store, pack_value, unpack_value

KEYS = 40


def race(url: str, work) -> list[list]:
    """Run `work(store, key)` for every key on two stores at once; each store's results."""
    stores = [open_store(url) for _ in range(2)]
    barrier = threading.Barrier(2)
    results: list[list] = [[], []]

    def run(i: int) -> None:
        barrier.wait()
        for k in range(KEYS):
            results[i].append(work(stores[i], f"key{k}"))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for store in stores:
        store.close()
    return results


def test_increments_of_absent_and_present_keys_all_count(postgres_url):
    race(postgres_url, lambda store, key: store.incr(key, 1))
    race(postgres_url, lambda store, key: store.incr(key, 10))
    store = open_store(postgres_url)
    assert [unpack_value(store.get(f"key{k}")) for k in range(KEYS)] == [22] * KEYS
    assert [store.get_versioned(f"key{k}")[1] for k in range(KEYS)] == [4] * KEYS
    store.close()


def test_exactly_one_creator_wins_each_absent_key(postgres_url):
    created = race(postgres_url, lambda store, key: store.cas(key, None, pack_value(key)))
    assert [a + b for a, b in zip(*created, strict=True)] == [1] * KEYS
    first = race(postgres_url, lambda store, key: store.put_if_version(key + "v", b"\x01", 0))
    assert [a + b for a, b in zip(*first, strict=True)] == [1] * KEYS
    again = race(postgres_url, lambda store, key: store.put_if_version(key + "v", b"\x02", 1))
    assert [a + b for a, b in zip(*again, strict=True)] == [1] * KEYS


def test_a_server_gone_for_longer_than_the_patience_is_store_lost(postgres_server,
                                                                  monkeypatch):
    """The store process then exits (memory.main), and its supervisor starts another."""
    store = open_store(postgres_server.url())
    store.put("k", b"\x01")
    monkeypatch.setattr(memory_postgres, "RECONNECT_PATIENCE", 0.5)
    postgres_server.halt()
    try:
        with pytest.raises(StoreLost, match="cannot reach the memory store at postgresql://"):
            store.handle(p.Request(1, "get", ["k"]))
    finally:
        postgres_server.start()
    store.handle(p.Request(2, "put", ["k", b"\x02"]))  # the server is back: a fresh connection
    assert store.get("k") == b"\x02"
    store.close()
