"""Traces across processes: `zixir run` with the standard OTEL_* variables exports its spans to a
real OTLP/HTTP endpoint (a collector stub on 127.0.0.1); the span a library makes in a worker
is a child of the call's span made in the router."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed")
pytest.importorskip("opentelemetry.exporter.otlp.proto.http",
                    reason="the OTLP/HTTP exporter is not installed")

from zixir.observe import tracing  # noqa: E402

from .collector import Collector  # noqa: E402

LIBRARY = textwrap.dedent('''
    from opentelemetry import trace

    tracer = trace.get_tracer("tracedlib")

    def work(x):
        with tracer.start_as_current_span("tracedlib.inner") as span:
            span.set_attribute("x", x)
            return x * 2

    def fail(x):
        raise ValueError("no")
''')

PROGRAM = textwrap.dedent('''
    fn main() {
      let a = python "tracedlib" "work" (21)
      let b = workflow.run("traced", "k1", run => workflow.step(run, "double", () => python "tracedlib" "work" (a)))
      let c = attempt(() => python "tracedlib" "fail" (1)).ok
      let d = workflow.run("traced", "k2", run => workflow.map(run, "many", [1, 2, 3], x => python "tracedlib" "work" (x)))
      [a, b, c, d]
    }
''')


def zixir_run(tmp_path, env_extra, *args):
    env = {**os.environ, **env_extra, "ZIXIR_MEMORY": str(tmp_path / "memory.db")}
    return subprocess.run([sys.executable, "-m", "zixir", "run", *args, str(tmp_path / "main.zx")],
                          capture_output=True, text=True, timeout=120, env=env)


@pytest.fixture
def program(tmp_path):
    (tmp_path / "tracedlib.py").write_text(LIBRARY)
    (tmp_path / "main.zx").write_text(PROGRAM)
    return tmp_path


def test_spans_of_a_run_nest_across_router_and_worker(program):
    with Collector() as collector:
        done = zixir_run(program, {"OTEL_TRACES_EXPORTER": "otlp",
                                   "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
                                   "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                                   "OTEL_BSP_SCHEDULE_DELAY": "50",
                                   "OTEL_SERVICE_NAME": "zixir-test"}, "--json")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "[42, 84, false, [2, 4, 6]]"
        spans = collector.wait_for({"zixir.run": 1, "python tracedlib.work": 5,
                                    "tracedlib.inner": 5, "workflow.step double": 1,
                                    "workflow.step many": 1, "python tracedlib.fail": 1})
    by_id = {s["span_id"]: s for s in spans}
    run = next(s for s in spans if s["name"] == "zixir.run")
    assert run["parent_id"] == ""
    assert run["attributes"]["zixir.file"].endswith("main.zx")
    assert run["resource"]["service.name"] == "zixir-test"
    assert run["resource"]["zixir.process"] == "router"
    assert {s["trace_id"] for s in spans} == {run["trace_id"]}  # one trace for the run

    calls = [s for s in spans if s["name"] == "python tracedlib.work"]
    assert len(calls) == 5
    first = next(c for c in calls if by_id[c["parent_id"]]["name"] == "zixir.run")
    assert first["attributes"]["zixir.module"] == "tracedlib"
    assert first["attributes"]["zixir.function"] == "work"
    assert first["attributes"]["zixir.outcome"] == "ok"
    assert first["attributes"]["zixir.attempts"] == 1
    assert "attempt" in first["events"]

    inner = [s for s in spans if s["name"] == "tracedlib.inner"]
    assert len(inner) == 5
    for span in inner:  # made by library code in the worker, nested under the call
        parent = by_id[span["parent_id"]]
        assert parent["name"] == "python tracedlib.work"
        assert span["resource"]["zixir.process"] == "worker"
        assert span["resource"]["process.pid"] == parent["attributes"]["zixir.worker.pid"]
        assert span["resource"]["process.pid"] != run["resource"]["process.pid"]

    step = next(s for s in spans if s["name"] == "workflow.step double")
    assert by_id[step["parent_id"]]["name"] == "zixir.run"
    assert step["attributes"]["zixir.workflow"] == "traced"
    assert step["attributes"]["zixir.outcome"] == "done"
    assert sum(c["parent_id"] == step["span_id"] for c in calls) == 1

    # the elements of a map run on other threads: their calls still nest under the step
    many = next(s for s in spans if s["name"] == "workflow.step many")
    assert many["attributes"]["zixir.workflow.kind"] == "map"
    assert sum(c["parent_id"] == many["span_id"] for c in calls) == 3

    failed = next(s for s in spans if s["name"] == "python tracedlib.fail")
    assert failed["attributes"]["zixir.outcome"] == "error"
    assert failed["status"] == 2  # STATUS_CODE_ERROR


def test_nothing_is_traced_unless_configured(program):
    with Collector() as collector:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env["ZIXIR_MEMORY"] = str(program / "memory.db")
        done = subprocess.run([sys.executable, "-m", "zixir", "run", str(program / "main.zx")],
                              capture_output=True, text=True, timeout=120, env=env)
        assert done.returncode == 0, done.stderr
        assert collector.spans == []
    assert not tracing.configured({})
    assert not tracing.configured({"OTEL_TRACES_EXPORTER": "none"})
    assert not tracing.configured({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x",
                                   "OTEL_SDK_DISABLED": "true"})
    assert tracing.configured({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"})
    assert tracing.configured({"OTEL_TRACES_EXPORTER": "console"})


def test_an_unknown_exporter_is_reported_and_the_program_still_runs(program):
    done = zixir_run(program, {"OTEL_TRACES_EXPORTER": "nosuchexporter"})
    assert done.returncode == 0, done.stderr
    assert "traces are off: no trace exporter named 'nosuchexporter'" in done.stderr


def test_an_embedding_programs_span_is_the_parent_of_the_run(monkeypatch):
    """The host's active span (the embedding program's own SDK, here with the in-memory
    exporter) travels with `rt.eval`; the router's spans join that trace."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from zixir import Runtime

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    app = provider.get_tracer("app")
    with Collector() as collector:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint)
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
        with Runtime(workers=1, progress=False) as rt:
            with app.start_as_current_span("handle request"):
                assert rt.eval('python "math" "sqrt" (16.0)') == 4.0
            assert rt.eval("1 + 1") == 2  # outside any span: a trace of its own
        spans = collector.wait_for({"zixir.eval": 2, "python math.sqrt": 1})
    (mine,) = memory.get_finished_spans()
    evals = [s for s in spans if s["name"] == "zixir.eval"]
    child = next(s for s in evals if s["parent_id"])
    assert child["parent_id"] == format(mine.context.span_id, "016x")
    assert child["trace_id"] == format(mine.context.trace_id, "032x")
    alone = next(s for s in evals if not s["parent_id"])
    assert alone["trace_id"] != child["trace_id"]
    call = next(s for s in spans if s["name"] == "python math.sqrt")
    assert call["parent_id"] == child["span_id"]


FANOUT_LIBRARY = textwrap.dedent('''
    import time

    from opentelemetry import trace

    tracer = trace.get_tracer("fanlib")

    def slow(x):
        with tracer.start_as_current_span("fanlib.inner") as span:
            span.set_attribute("x", x)
            time.sleep(0.02)
            return x

    class Tally:
        def __init__(self):
            self.n = 0

        def add(self, k):
            self.n += k
            return self.n
''')

FANOUT = textwrap.dedent('''
    fn main() {
      let xs = pmap(0..50, x => python "fanlib" "slow" (x), 50)
      let name = agent.start("tally", "fanlib", "Tally")
      let a = agent.call(name, "add", [2])
      let b = agent.call(name, "add", [3])
      [len(xs), a, b]
    }
''')


def test_concurrent_calls_in_fibers_and_agent_calls_have_their_own_spans(tmp_path):
    """pmap(xs, f, 50) runs its calls in fibers, many per thread: each call still gets one
    span of its own (one attempt, its own worker's pid, the worker's span nested under it),
    every one a child of the run; an agent call gets a span of its own too."""
    (tmp_path / "fanlib.py").write_text(FANOUT_LIBRARY)
    (tmp_path / "main.zx").write_text(FANOUT)
    with Collector() as collector:
        done = zixir_run(tmp_path, {"OTEL_TRACES_EXPORTER": "otlp",
                                    "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
                                    "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                                    "OTEL_BSP_SCHEDULE_DELAY": "50"}, "--json", "--workers", "4")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "[50, 2, 5]"
        spans = collector.wait_for({"zixir.run": 1, "python fanlib.slow": 50,
                                    "fanlib.inner": 50, "agent fanlib.Tally.add": 2})
    by_id = {s["span_id"]: s for s in spans}
    run = next(s for s in spans if s["name"] == "zixir.run")
    calls = [s for s in spans if s["name"] == "python fanlib.slow"]
    assert len(calls) == 50
    worker_pids = set()
    for call in calls:
        assert call["parent_id"] == run["span_id"]
        assert call["attributes"]["zixir.attempts"] == 1
        assert call["attributes"]["zixir.attempt"] == 1
        assert call["attributes"]["zixir.outcome"] == "ok"
        assert call["events"] == ["attempt"]
        worker_pids.add(call["attributes"]["zixir.worker.pid"])
    assert 1 <= len(worker_pids) <= 4
    inner = [s for s in spans if s["name"] == "fanlib.inner"]
    assert len({s["parent_id"] for s in inner}) == 50  # one worker span under each call
    for span in inner:
        parent = by_id[span["parent_id"]]
        assert parent["name"] == "python fanlib.slow"
        assert parent["attributes"]["zixir.worker.pid"] == span["resource"]["process.pid"]
        assert span["attributes"]["x"] in range(50)

    agent_calls = [s for s in spans if s["name"] == "agent fanlib.Tally.add"]
    assert len(agent_calls) == 2
    for call in agent_calls:
        assert call["parent_id"] == run["span_id"]
        assert call["attributes"]["zixir.agent"] == "tally"
        assert call["attributes"]["zixir.agent.class"] == "fanlib.Tally"
        assert call["attributes"]["zixir.method"] == "add"
        assert call["attributes"]["zixir.outcome"] == "ok"
        assert call["attributes"]["zixir.agent.pid"] not in worker_pids
