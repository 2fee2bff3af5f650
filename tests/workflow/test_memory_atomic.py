"""Atomic memory: versions, compare-and-set, increments and expiry in the store (sans-IO), the
client and the language, and concurrent increments that all count."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest
from workflow_helpers import ROOT, zixir

from zixir.lang.checker import check
from zixir.lang.errors import ZixirRuntimeError
from zixir.runtime import protocol as p
from zixir.runtime.memory import Store, open_store, pack_value, unpack_value


@pytest.fixture
def clock():
    return [1000.0]


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, clock):
    """The store's unit tests run on both backends: the same semantics."""
    if request.param == "sqlite":
        s = Store(":memory:", clock=lambda: clock[0])
    else:
        s = open_store(request.getfixturevalue("postgres_url"), clock=lambda: clock[0])
    yield s
    s.close()


def test_versions_count_writes_and_guard_conditional_writes(store):
    assert store.get_versioned("k") == (None, 0)
    assert store.put_if_version("k", pack_value(1), 0) is True
    assert store.put_if_version("k", pack_value(2), 0) is False  # no longer absent
    blob, version = store.get_versioned("k")
    assert (unpack_value(blob), version) == (1, 1)
    store.put("k", pack_value(5))
    assert store.get_versioned("k")[1] == 2
    assert store.put_if_version("k", pack_value(9), 1) is False  # stale version
    assert store.put_if_version("k", pack_value(9), 2) is True
    assert unpack_value(store.get("k")) == 9


def test_cas_compares_encoded_values_and_none_means_absent(store):
    assert store.cas("c", pack_value("x"), pack_value("y")) is False
    assert store.cas("c", None, pack_value("x")) is True
    assert store.cas("c", None, pack_value("z")) is False
    assert store.cas("c", pack_value("x"), pack_value([1, 2])) is True
    assert unpack_value(store.get("c")) == [1, 2]


def test_incr_adds_in_the_store_and_refuses_what_is_not_a_number(store):
    assert store.incr("n", 1) == 1
    assert store.incr("n", 41) == 42
    assert store.incr("f", 0.5) == 0.5
    assert store.incr("n", -2.5) == 39.5
    store.put("s", pack_value("text"))
    with pytest.raises(ValueError, match="not a number"):
        store.incr("s", 1)
    with pytest.raises(ValueError, match="must be a number"):
        store.incr("n", "1")
    store.put("big", pack_value(2**63 - 1))
    with pytest.raises(ValueError, match="overflow"):
        store.incr("big", 2**64)


def test_an_expired_key_reads_as_absent_everywhere(store, clock):
    store.put("t", pack_value("soon"), ttl=5)
    store.put("kept", pack_value("always"))
    assert unpack_value(store.get("t")) == "soon"
    clock[0] += 4.9
    assert store.keys("") == ["kept", "t"]
    clock[0] += 0.2
    assert store.get("t") is None
    assert store.get_versioned("t") == (None, 0)
    assert store.keys("") == ["kept"]
    assert [k for k, _ in store.scan("")] == ["kept"]
    assert store.delete("t") is False
    assert store.cas("t", None, pack_value(1)) is True  # absent again: may be created
    with pytest.raises(ValueError, match="ttl must be a positive number"):
        store.put("t", pack_value(1), ttl=0)


def test_a_repeated_operation_id_returns_the_first_result(store):
    first = store.handle(p.Request(1, "incr", ["n", 5, "op-1"]))
    again = store.handle(p.Request(2, "incr", ["n", 5, "op-1"]))  # a retry after a lost reply
    assert first == again == 5
    assert store.handle(p.Request(3, "incr", ["n", 5, "op-2"])) == 10
    assert store.handle(p.Request(4, "cas", ["c", None, pack_value(1), "op-3"])) is True
    assert store.handle(p.Request(5, "cas", ["c", None, pack_value(1), "op-3"])) is True


@pytest.mark.parametrize("method, params, message", [
    ("incr", [1, 1], "keys are strings"),
    ("cas", ["k", "raw", pack_value(1)], "must be encoded"),
    ("put_if_version", ["k"], "expected 3 to 5 parameters"),
    ("scan", [3], "prefix must be a string"),
    ("nope", ["k"], "unknown memory method"),
])
def test_malformed_requests_are_refused(store, method, params, message):
    with pytest.raises(ValueError, match=message):
        store.handle(p.Request(1, method, params))


def test_a_store_file_of_the_old_layout_gains_the_new_columns(tmp_path):
    path = str(tmp_path / "old.sqlite3")
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE kv (key TEXT PRIMARY KEY, value BLOB NOT NULL)")
    db.execute("INSERT INTO kv VALUES ('k', ?)", (pack_value(3),))
    db.commit()
    db.close()
    store = Store(path)
    assert store.get_versioned("k") == (pack_value(3), 1)
    assert store.incr("k", 1) == 4
    store.close()


def test_the_checker_knows_the_new_memory_operations():
    assert check('memory.incr("k")\nmemory.cas("k", 1, 2)\nmemory.update("k", x => x)\n'
                 'memory.put("k", 1, 10)') == []
    [diag] = check('memory.cas("k", 1)')
    assert diag.message == "memory.cas expects 3 arguments, got 2"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_client_and_language_operations(tmp_path, request, backend):
    from zixir.runtime import Runtime

    location = (str(tmp_path / "m.sqlite3") if backend == "sqlite"
                else request.getfixturevalue("postgres_url"))
    with Runtime(workers=1, memory_path=location, log_level="off") as rt:
        assert rt.memory.incr("hits") == 1
        assert rt.memory.incr("hits", 10) == 11
        assert rt.memory.cas("hits", 11, 20) is True
        assert rt.memory.cas("hits", 11, 30) is False
        assert rt.memory.update("hits", lambda v: v * 2) == 40
        assert rt.memory.update("fresh", lambda v: v + [1], []) == [1]
        rt.memory.put("short", "lived", 0.2)
        assert rt.memory.scan("sho") == [("short", "lived")]
        assert rt.eval('memory.incr("z")') == 1
        assert rt.eval('memory.incr("z", 2.5)') == 3.5
        assert rt.eval('memory.cas("z", 3.5, "s")') is True
        assert rt.eval('memory.cas("z", 3.5, "t")') is False
        assert rt.eval('memory.update("u", xs => append(xs, len(xs)), [])') == [0]
        assert rt.eval('memory.update("u", xs => append(xs, len(xs)))') == [0, 1]
        assert rt.eval('memory.put("t", 1, 0.2)\nmemory.get("t", "absent")') == 1
        rt.eval('let deadline = 0\nwhile memory.get("t", nil) != nil { deadline += 1 }')
        assert rt.eval('memory.get("t", "absent")') == "absent"
        for source, message in [
            ('memory.incr("z")', "not a number"),
            ('memory.incr("n", "1")', "memory.incr: the increment must be a number, got string"),
            ('memory.put("k", 1, -1)', "memory.put: ttl must be a positive number"),
            ('memory.update("k", 5)', "expected a function"),
            ('memory.cas(1, 2, 3)', "memory.cas: key must be a string, got int"),
            ('memory.put("a\\u{0}b", 1)', "memory keys cannot contain the NUL character"),
        ]:
            with pytest.raises(ZixirRuntimeError, match=message) as info:
                rt.eval(source)
            assert info.value.line == 1


INCREMENTS = """
fn bump(i) { {OP} }
for i in 0..200 { bump(i) }
memory.get("counter")
"""
OPS = {"incr": 'memory.incr("counter")',
       "update": 'memory.update("counter", n => n + 1, 0)'}


@pytest.mark.parametrize("op", sorted(OPS))
def test_four_concurrent_programs_of_200_increments_end_at_800(tmp_path, op):
    """Four `zixir run` processes (four runtimes, four store processes on one file)."""
    script = tmp_path / "bump.zx"
    script.write_text(INCREMENTS.replace("{OP}", OPS[op]))
    store = str(tmp_path / "memory.sqlite3")
    procs = [subprocess.Popen([sys.executable, "-P", "-m", "zixir", "run", str(script),
                               "--memory", store, "--workers", "1"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    final = zixir("run", str(_write(tmp_path, "read.zx", 'memory.get("counter")')),
                  "--memory", store)
    assert final.stdout.strip() == "800", final.stderr


@pytest.mark.parametrize("op", sorted(OPS))
def test_four_threads_of_200_increments_in_one_program_end_at_800(tmp_path, op):
    script = _write(tmp_path, "threads.zx", f"""
fn bump_many(t) {{
  for i in 0..200 {{ {OPS[op]} }}
  t
}}
pmap([0, 1, 2, 3], bump_many)
memory.get("counter")
""")
    result = zixir("run", script, "--memory", str(tmp_path / "m.sqlite3"), "--workers", "4",
                   cwd=str(ROOT))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "800"


def _write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)
