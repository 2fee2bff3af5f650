"""Prometheus metrics of a runtime: `Runtime.metrics()` and the HTTP endpoint of `metrics_port`,
checked with prometheus_client's own parser (names, labels, types) and by scraping the port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from zixir import Runtime
from zixir.lang.errors import CallTimeout, PolicyDenied, PythonError, ZixirRuntimeError
from zixir.observe import metrics

pytestmark = pytest.mark.timeout(180)


def families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(fams: dict, family: str, sample: str, **labels) -> float:
    for s in fams[family].samples:
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    raise AssertionError(f"no sample {sample}{labels} in {family}")


@pytest.fixture(scope="module")
def rt():
    with Runtime(workers=1, call_timeout=20, metrics_port=0, progress=False) as runtime:
        yield runtime


def test_calls_failures_retries_and_latency_by_module_function_outcome(rt):
    for x in (1.0, 4.0, 9.0):
        rt.call_python("math", "sqrt", [x])
    with pytest.raises(PythonError):
        rt.call_python("math", "sqrt", [-1.0])
    with pytest.raises(PythonError):  # three attempts: two retries
        rt.call_python("math", "log", [0.0], retries=3)
    with pytest.raises(CallTimeout):
        rt.call_python("time", "sleep", [30], timeout=0.5)
    with pytest.raises(PolicyDenied):
        rt.call_python("subprocess", "run", [["true"]])

    fams = families(rt.metrics())
    assert value(fams, "zixir_python_calls", "zixir_python_calls_total", module="math",
                 function="sqrt", outcome="ok") == 3
    assert value(fams, "zixir_python_calls", "zixir_python_calls_total", module="math",
                 function="sqrt", outcome="error") == 1
    assert value(fams, "zixir_python_calls", "zixir_python_calls_total", module="time",
                 function="sleep", outcome="timeout") == 1
    assert value(fams, "zixir_python_calls", "zixir_python_calls_total", module="subprocess",
                 function="run", outcome="refused") == 1
    assert value(fams, "zixir_python_call_failures", "zixir_python_call_failures_total",
                 module="math", function="sqrt", error="ValueError") == 1
    assert value(fams, "zixir_python_call_failures", "zixir_python_call_failures_total",
                 module="time", function="sleep", error="CallTimeout") == 1
    assert value(fams, "zixir_python_call_failures", "zixir_python_call_failures_total",
                 module="subprocess", function="run", error="PolicyDenied") == 1
    assert value(fams, "zixir_python_call_retries", "zixir_python_call_retries_total",
                 module="math", function="log") == 2

    hist = fams["zixir_python_call_duration_seconds"]
    assert hist.type == "histogram"
    count = value(fams, "zixir_python_call_duration_seconds",
                  "zixir_python_call_duration_seconds_count", module="math", function="sqrt",
                  outcome="ok")
    inf = value(fams, "zixir_python_call_duration_seconds",
                "zixir_python_call_duration_seconds_bucket", module="math", function="sqrt",
                outcome="ok", le="+Inf")
    assert count == inf == 3
    slow = value(fams, "zixir_python_call_duration_seconds",
                 "zixir_python_call_duration_seconds_sum", module="time", function="sleep",
                 outcome="timeout")
    assert slow >= 0.5  # the timed-out call ran its whole timeout

    # workers, restarts, breakers, supervision: read at scrape time (the worker killed at the
    # timeout is replaced in the background: on a loaded machine, scrape until it is back)
    deadline = time.monotonic() + 30
    while ((value(fams, "zixir_workers", "zixir_workers", state="idle") != 1
            or value(fams, "zixir_worker_replacements", "zixir_worker_replacements_total") < 1)
           and time.monotonic() < deadline):
        time.sleep(0.05)
        fams = families(rt.metrics())
    assert value(fams, "zixir_workers", "zixir_workers", state="idle") == 1
    assert value(fams, "zixir_worker_replacements", "zixir_worker_replacements_total") >= 1
    assert value(fams, "zixir_circuit_breaker_state", "zixir_circuit_breaker_state",
                 breaker="math", state="closed") == 1
    assert value(fams, "zixir_circuit_breaker_state", "zixir_circuit_breaker_state",
                 breaker="math", state="open") == 0
    assert value(fams, "zixir_router_up", "zixir_router_up") == 1
    assert value(fams, "zixir_router_restarts", "zixir_router_restarts_total") == 0
    assert value(fams, "zixir_supervisor_escalations", "zixir_supervisor_escalations_total",
                 supervisor="root") == 0

    # the same numbers as plain data (Runtime.stats(); what the dashboard reads)
    calls = rt.stats()["router"]["metrics"]["calls"]
    assert calls["math.sqrt"]["calls"] == 4
    assert calls["math.sqrt"]["outcomes"] == {"ok": 3, "error": 1}
    assert calls["math.sqrt"]["errors"] == {"ValueError": 1}
    assert calls["math.log"]["retries"] == 2
    assert calls["math.sqrt"]["latency_ms"]["n"] == 4


def test_the_http_endpoint_serves_the_same_metrics(rt):
    rt.call_python("math", "floor", [2.5])
    assert rt.metrics_url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(rt.metrics_url, timeout=30) as reply:
        assert reply.status == 200
        assert reply.headers["Content-Type"].startswith("text/plain")
        fams = families(reply.read().decode())
    assert value(fams, "zixir_python_calls", "zixir_python_calls_total", module="math",
                 function="floor", outcome="ok") == 1
    assert value(fams, "zixir_router_up", "zixir_router_up") == 1


def test_every_name_and_label_is_valid_prometheus(rt):
    metrics.RECORDER.rate_wait("llm", 0.2)  # this process's recorder, not the router's
    metrics.RECORDER.step_finished("pipeline", "map", "done", 1.5)
    metrics.RECORDER.agent_call_finished("Counter", "incr", 0.01)
    metrics.RECORDER.set_agents({"running": 2, "failed": 1})
    try:
        local = families(metrics.RECORDER.exposition())
    finally:
        metrics.RECORDER.reset()
    assert value(local, "zixir_rate_limit_wait_seconds", "zixir_rate_limit_wait_seconds_count",
                 module="llm") == 1
    assert value(local, "zixir_workflow_steps", "zixir_workflow_steps_total",
                 workflow="pipeline", kind="map", outcome="done") == 1
    assert value(local, "zixir_agents", "zixir_agents", status="running") == 2
    assert value(local, "zixir_agent_calls", "zixir_agent_calls_total", agent="Counter",
                 method="incr", outcome="ok") == 1
    import re

    name_ok = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
    label_ok = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
    for fams in (local, families(rt.metrics())):
        for fam in fams.values():
            assert name_ok.match(fam.name) and fam.name.startswith("zixir_"), fam.name
            assert fam.documentation, fam.name
            for sample in fam.samples:
                assert all(label_ok.match(k) and not k.startswith("__") for k in sample.labels)


def test_a_port_in_use_is_a_clear_error():
    with Runtime(workers=1, metrics_port=0, progress=False) as first:
        port = int(first.metrics_url.rsplit(":", 1)[1].split("/")[0])
        with pytest.raises(ZixirRuntimeError, match=f"cannot serve metrics on 127.0.0.1:{port}"):
            Runtime(workers=1, metrics_port=port, progress=False)


def test_zixir_run_serves_metrics_while_the_program_runs(tmp_path):
    """`zixir run --metrics-port 0` prints the URL; a scrape during the run sees its calls and
    the workflow steps that finished."""
    (tmp_path / "main.zx").write_text(textwrap.dedent('''
        fn main() {
          workflow.run("scraped", "k", run => workflow.step(run, "first", () => 1))
          for i in 0..5 { python "math" "sqrt" (4.0) }
          python "time" "sleep" (60)
        }
    '''))
    env = {**os.environ, "ZIXIR_MEMORY": str(tmp_path / "memory.db")}
    proc = subprocess.Popen([sys.executable, "-m", "zixir", "run", "--metrics-port", "0",
                             str(tmp_path / "main.zx")], stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True, env=env)
    try:
        line = proc.stderr.readline()
        assert line.startswith("zixir: metrics at http://127.0.0.1:"), line
        url = line.split(" at ", 1)[1].strip()
        deadline = time.monotonic() + 60
        while True:
            with urllib.request.urlopen(url, timeout=30) as reply:
                fams = families(reply.read().decode())
            try:
                if value(fams, "zixir_python_calls", "zixir_python_calls_total",
                         module="math", function="sqrt", outcome="ok") == 5:
                    break
            except (AssertionError, KeyError):
                pass
            assert time.monotonic() < deadline, "the calls never showed in the metrics"
            time.sleep(0.1)
        assert value(fams, "zixir_workflow_steps", "zixir_workflow_steps_total",
                     workflow="scraped", kind="step", outcome="done") == 1
        assert value(fams, "zixir_workers", "zixir_workers", state="busy") == 1
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C: the runtime shuts down
        assert proc.wait(60) == 130
        proc.stderr.close()


def test_a_bad_metrics_port_is_a_usage_error():
    done = subprocess.run([sys.executable, "-m", "zixir", "run", "--metrics-port", "99999",
                           "x.zx"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "a port is 0 to 65535" in done.stderr


def test_an_open_breaker_worker_restarts_and_an_escalation(tmp_path):
    """The failures a user watches for: a breaker that opened, a worker restarted after a crash,
    and the worker supervisor giving up (the root supervisor then replaces the router; the
    router's own counters start again from zero, as Prometheus counters do after a restart)."""
    with Runtime(workers=1, restart_intensity=1, restart_period=60, breaker_fail_max=2,
                 breaker_counts_python_errors=True, progress=False, log_level="off") as rt:
        for _ in range(2):
            with pytest.raises(PythonError):
                rt.call_python("math", "sqrt", [-1.0])
        fams = families(rt.metrics())
        assert value(fams, "zixir_circuit_breaker_state", "zixir_circuit_breaker_state",
                     breaker="math", state="open") == 1
        assert value(fams, "zixir_circuit_breaker_state", "zixir_circuit_breaker_state",
                     breaker="math", state="closed") == 0
        assert value(fams, "zixir_circuit_breaker_failures", "zixir_circuit_breaker_failures",
                     breaker="math") == 2

        def scrape_until(check):
            deadline = time.monotonic() + 60
            while True:
                fams = families(rt.metrics())
                try:
                    if check(fams):
                        return fams
                except (AssertionError, KeyError):  # the router's families: not back yet
                    pass
                assert time.monotonic() < deadline, rt.metrics()
                time.sleep(0.05)

        os.kill(rt.pids()["workers"][0], signal.SIGKILL)  # within the intensity: a restart
        fams = scrape_until(lambda f: value(f, "zixir_worker_restarts",
                                            "zixir_worker_restarts_total") == 1)
        assert value(fams, "zixir_supervisor_escalations", "zixir_supervisor_escalations_total",
                     supervisor="workers") == 0
        deadline = time.monotonic() + 60
        while not rt.pids()["workers"]:  # the replacement is up
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(rt.pids()["workers"][0], signal.SIGKILL)  # past it: the supervisor gives up
        fams = scrape_until(lambda f: value(f, "zixir_supervisor_escalations",
                                            "zixir_supervisor_escalations_total",
                                            supervisor="workers") == 1
                            and value(f, "zixir_router_up", "zixir_router_up") == 1)
        assert value(fams, "zixir_router_restarts", "zixir_router_restarts_total") == 1
        assert value(fams, "zixir_router_up", "zixir_router_up") == 1


def test_workflow_steps_by_kind_and_outcome(rt, tmp_path):
    from zixir.lang.errors import WorkflowWaiting

    program = '''workflow.run("metered", "k", run => {
      let a = workflow.step(run, "fetch", () => 1)
      let b = workflow.map(run, "square", [1, 2, 3], x => x * x)
      workflow.approval(run, "review")
    })'''
    for _ in range(2):  # the second run returns the stored steps and waits again
        with pytest.raises(WorkflowWaiting):
            rt.eval(program, fresh=True)
    with pytest.raises(ZixirRuntimeError):
        rt.eval('workflow.run("metered", "bad", run => workflow.step(run, "boom", '
                '() => raise("no")))', fresh=True)
    fams = families(rt.metrics())

    def steps(kind, outcome):
        return value(fams, "zixir_workflow_steps", "zixir_workflow_steps_total",
                     workflow="metered", kind=kind, outcome=outcome)

    assert steps("step", "done") == 1 and steps("step", "cached") == 1
    assert steps("map", "done") == 1 and steps("map", "cached") == 1
    assert steps("approval", "waiting") == 2
    assert steps("step", "failed") == 1
    assert value(fams, "zixir_workflow_step_duration_seconds",
                 "zixir_workflow_step_duration_seconds_count", workflow="metered", kind="step",
                 outcome="done") == 1
