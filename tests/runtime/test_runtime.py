"""The Runtime API with the real interpreter: eval in the router, pmap, stats, events."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import make_runtime

from zixir.lang.errors import PolicyDenied, PythonError, ZixirError, ZixirSyntaxError

CASES = [json.loads(line) for line in
         (Path(__file__).parent.parent / "cases.jsonl").read_text(encoding="utf-8").splitlines()
         if line.strip()]
PYTHON_CASES = [c for c in CASES if c.get("needs") == "python"]


@pytest.fixture(scope="module")
def rt():
    with make_runtime(workers=2) as runtime:
        yield runtime


def same(actual, expected) -> bool:
    if isinstance(expected, bool) or expected is None or isinstance(expected, str):
        return type(actual) is type(expected) and actual == expected
    if isinstance(expected, int):
        return type(actual) is int and actual == expected
    if isinstance(expected, float):
        return type(actual) is float and abs(actual - expected) <= 1e-12 * max(1, abs(expected))
    if isinstance(expected, list):
        return isinstance(actual, list) and len(actual) == len(expected) and all(
            same(a, e) for a, e in zip(actual, expected, strict=True))
    if isinstance(expected, dict):
        return isinstance(actual, dict) and actual.keys() == expected.keys() and all(
            same(actual[k], v) for k, v in expected.items())
    raise AssertionError(expected)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", PYTHON_CASES, ids=lambda c: c["id"])
def test_conformance_cases_needing_python_run_in_the_router(rt, case):
    if "expect" in case:
        value = rt.eval(case["source"])
        assert same(value, case["expect"]), value
    else:
        with pytest.raises(ZixirError) as info:
            rt.eval(case["source"])
        assert case["error"].lower() in info.value.message.lower()


def test_variables_persist_across_evals(rt):
    rt.eval("let persisted = 20")
    assert rt.eval("persisted + 1") == 21


def test_errors_reach_the_host_with_class_position_and_call_chain(rt):
    with pytest.raises(PolicyDenied) as info:
        rt.eval('fn g(v) { python "subprocess" "run" (v) }\ng("ls")', filename="prog.zx")
    err = info.value
    assert (err.line, err.filename) == (1, "prog.zx")
    assert [f.function for f in err.call_chain][-1] == "g"
    with pytest.raises(PythonError) as info:
        rt.eval('python "math" "sqrt" (-1.0)')
    assert info.value.exc_type == "ValueError" and info.value.line == 1
    with pytest.raises(ZixirSyntaxError):
        rt.eval("let = 1")


def test_run_file_makes_the_scripts_directory_importable(rt, tmp_path):
    (tmp_path / "helper_mod_zx.py").write_text("def triple(x):\n    return 3 * x\n")
    script = tmp_path / "main.zx"
    script.write_text('fn main() { python "helper_mod_zx" "triple" (14) }\n')
    assert rt.run_file(script) == 42


def test_pmap_runs_python_calls_concurrently_on_different_workers(rt):
    results = rt.eval('pmap([3000000, 3000000], fn(n): python "faultlib" "cpu_work" (n))')
    (pid_a, start_a, end_a, _), (pid_b, start_b, end_b, _) = results
    assert pid_a != pid_b  # two workers
    assert start_a < end_b and start_b < end_a  # their calls overlapped in time


def test_numpy_results_and_print_from_workers(capfd, no_leaks):
    with make_runtime(workers=1) as rt:  # started under capfd: children inherit its fds
        assert rt.eval('python "numpy" "arange" (4)') == [0, 1, 2, 3]
        assert rt.call_python("faultlib", "noisy", ["hi"]) == "hi"
        rt.eval('print("from the router")')
        out, err = capfd.readouterr()
    assert "hi-out" in out and "from the router" in out and "hi-err" in err


def test_host_numpy_arrays_round_trip_through_shared_memory(rt):
    np = pytest.importorskip("numpy")
    arr = np.arange(400_000, dtype=np.float64)  # 3.2 MB: above the shared-memory threshold
    back = rt.call_python("numpy", "multiply", [arr, 2.0])
    assert isinstance(back, np.ndarray) and back.shape == arr.shape
    assert float(back[-1]) == 2.0 * 399_999


def test_stats_report_counts_and_latencies(rt):
    rt.call_python("math", "sqrt", [4.0])  # from the host: the direct path, if a worker is free
    rt.eval('python "math" "sqrt" (9.0)')  # from a program: the router's own call latency
    stats = rt.stats()
    router = stats["router"]
    assert router["counts"]["calls.ok"] >= 1
    assert router["latency_ms"]["call"]["p50"] > 0
    assert router["workers"]["count"] == 2
    assert stats["host"]["latency_ms"]["call_python"]["n"] >= 1
    from zixir.runtime import format_stats

    text = format_stats(stats)  # a table for people: functions and units, no internal names
    assert "math.sqrt" in text and "p99" in text and " ms" in text
    assert "calls.ok" not in text and "None" not in text


def test_memory_is_shared_between_host_and_program(rt):
    rt.memory.put("shared", {"a": [1, 2.5, None, True]})
    assert rt.eval('memory.get("shared")') == {"a": [1, 2.5, None, True]}
    rt.eval('memory.put("from_program", "yes")')
    assert rt.memory.get("from_program") == "yes"
    assert "from_program" in rt.memory.keys("from_")
    assert rt.memory.delete("from_program") is True
    assert rt.memory.get("from_program", "gone") == "gone"


def test_memory_survives_the_runtime_when_a_path_is_given(tmp_path, no_leaks):
    path = tmp_path / "state.db"
    with make_runtime(workers=1, memory_path=str(path)) as rt:
        rt.memory.put("durable", [1, 2])
    with make_runtime(workers=1, memory_path=str(path)) as rt:
        assert rt.memory.get("durable") == [1, 2]


def test_default_runtime_is_shared_and_services_work(no_leaks):
    from zixir.runtime import default_runtime, default_services, shutdown_default_runtime

    try:
        assert default_runtime() is default_runtime()
        services = default_services()
        assert services.call_python("math", "sqrt", [25.0], {}) == 5.0
        services.memory_put("dflt", 1)
        assert services.memory_get("dflt") == 1
    finally:
        shutdown_default_runtime()


def test_large_arrays_both_ways_through_shared_memory(rt):
    import numpy as np

    arr = np.arange(300_000, dtype=np.float64)  # 2.4 MB: above the shared-memory threshold
    for _ in range(3):  # the worker's arena is reused call after call
        doubled = rt.call_python("numpy", "multiply", [arr, 2.0])
        np.testing.assert_array_equal(doubled, arr * 2)
    bigger = np.ones(1_000_000)  # the arena grows
    assert rt.call_python("numpy", "sum", [bigger]) == 1_000_000.0
    assert rt.eval('let a = python "numpy" "ones" (500000)\npython "numpy" "sum" (a)') == 500_000.0
