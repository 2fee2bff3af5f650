"""Metrics of agents and rate limits, recorded where they happen (the router's agents and
token buckets) and read back through `Runtime.metrics()` with prometheus_client's parser:
agent calls by class, method and outcome with their latency, restarts, the agents gauge by
status, and the seconds Python calls waited for a rate-limit token."""

from __future__ import annotations

import os
import signal
import textwrap
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from zixir import Runtime
from zixir.lang.errors import PythonError

pytestmark = pytest.mark.timeout(120)

AGENTS = textwrap.dedent('''
    import os

    class Tally:
        def __init__(self):
            self.n = 0

        def add(self, k):
            self.n += k
            return self.n

        def boom(self):
            raise ValueError("no")

        def pid(self):
            return os.getpid()
''')


def families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def sample(fams: dict, family: str, name: str, **labels) -> float | None:
    for s in fams[family].samples:
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    return None


def wait_until(check, timeout: float = 30.0):
    end = time.monotonic() + timeout
    while True:
        found = check()
        if found or time.monotonic() > end:
            return found
        time.sleep(0.05)


@pytest.fixture
def rt(tmp_path):
    (tmp_path / "tallylib.py").write_text(AGENTS)
    with Runtime(workers=1, call_timeout=20, progress=False, log_level="off",
                 paths=(str(tmp_path),), modules={"math": {"rate": "20/s"}}) as runtime:
        yield runtime


def test_agent_calls_restarts_and_the_gauge_by_status(rt):
    rt.agents.start("t1", "tallylib", "Tally")
    rt.agents.start("t2", "tallylib", "Tally", restart="temporary")
    for k in (1, 2, 3):
        rt.agents.call("t1", "add", k)
    with pytest.raises(PythonError):
        rt.agents.call("t1", "boom")

    fams = families(rt.metrics())
    labels = {"agent": "tallylib.Tally", "method": "add", "outcome": "ok"}
    assert sample(fams, "zixir_agent_calls", "zixir_agent_calls_total", **labels) == 3
    assert sample(fams, "zixir_agent_calls", "zixir_agent_calls_total", agent="tallylib.Tally",
                  method="boom", outcome="error") == 1
    assert fams["zixir_agent_call_duration_seconds"].type == "histogram"
    assert sample(fams, "zixir_agent_call_duration_seconds",
                  "zixir_agent_call_duration_seconds_count", **labels) == 3
    assert sample(fams, "zixir_agent_call_duration_seconds",
                  "zixir_agent_call_duration_seconds_sum", **labels) > 0
    assert sample(fams, "zixir_agents", "zixir_agents", status="running") == 2
    assert sample(fams, "zixir_agents", "zixir_agents", status="stopped") == 0

    # a crash of a permanent agent is a restart; a temporary agent that dies stays stopped
    os.kill(rt.agents.call("t1", "pid"), signal.SIGKILL)
    os.kill(rt.agents.call("t2", "pid"), signal.SIGKILL)

    def settled():
        f = families(rt.metrics())
        return f if (sample(f, "zixir_agent_restarts", "zixir_agent_restarts_total",
                            agent="tallylib.Tally") == 1
                     and sample(f, "zixir_agents", "zixir_agents", status="running") == 1
                     and sample(f, "zixir_agents", "zixir_agents", status="stopped") == 1) \
            else None

    fams = wait_until(settled)
    assert fams, rt.metrics()
    assert rt.agents.call("t1", "add", 5) == 5  # rebuilt from scratch (no snapshot())
    rt.agents.stop("t1")
    fams = families(rt.metrics())
    assert sample(fams, "zixir_agents", "zixir_agents", status="running") == 0
    assert sample(fams, "zixir_agents", "zixir_agents", status="stopped") == 2


def test_rate_limit_waits_by_module(rt):
    started = time.monotonic()
    for x in range(6):  # 20/s: one call every 50 ms, so five of the six wait
        rt.call_python("math", "sqrt", [float(x)])
    elapsed = time.monotonic() - started
    fams = families(rt.metrics())
    assert fams["zixir_rate_limit_wait_seconds"].type == "histogram"
    waits = sample(fams, "zixir_rate_limit_wait_seconds", "zixir_rate_limit_wait_seconds_count",
                   module="math")
    waited = sample(fams, "zixir_rate_limit_wait_seconds", "zixir_rate_limit_wait_seconds_sum",
                    module="math")
    assert waits is not None and 1 <= waits <= 6
    assert 0.0 < waited <= elapsed
    assert rt.stats()["router"]["metrics"]["rate_waits"]["math"]["waits"] == waits
    # an unlimited module never waits
    rt.call_python("operator", "add", [1, 2])
    assert sample(families(rt.metrics()), "zixir_rate_limit_wait_seconds",
                  "zixir_rate_limit_wait_seconds_count", module="operator") is None
