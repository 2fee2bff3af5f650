"""Metrics of a run, recorded where the events happen and exposed as Prometheus text.

    router process                                         (one RECORDER per process)
      pool.call ---------- call_finished(module, function, outcome, seconds, error) --+
      failure (retries) -- retry(module, function, error) ---------------------------+
      rate limits -------- rate_wait(module, seconds) -------------------------------+--> Recorder
      workflow engine ---- step_finished(workflow, kind, outcome, seconds) ----------+   one lock,
      agents ------------- agent_call_finished(...), agent_restarted(...), ----------+   plain
                           set_agents({status: count})                                   counters
                                                                                          |
      Router "metrics" request --> exposition(): the Recorder's families, plus gauges read
                                   at scrape time (workers, breakers) from `sources`
      Router "stats" request ----> snapshot(): the same numbers as plain data
    host
      Runtime.metrics() / --metrics-port: HostCollector yields the host's own families
      (router and memory-store restarts) and the router's text, parsed back into families

Recording is a dict lookup and a few additions under one lock: prometheus_client is imported
only when the text is made (a scrape), never on the call path. Histograms use fixed buckets
in seconds; a short window of recent samples per function gives p50/p90/p99 for snapshots.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

#: upper bounds (seconds) of every latency histogram; +Inf is implied
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
           10.0, 30.0, 60.0, 120.0)
#: recent samples kept per (module, function) for the quantiles of `snapshot()`
WINDOW = 512
#: distinct label sets kept per metric (a program calling a million distinct functions
#: must not grow the router without bound); later ones are folded into "other"
MAX_SERIES = 5000

OK = "ok"


def outcome_of(error: BaseException | None) -> str:
    """The `outcome` label of a finished call: ok, error (the function raised), timeout, crash
    (the worker died), refused (never ran: policy, open circuit, overload, no workers)."""
    if error is None:
        return OK
    name = type(error).__name__
    if name == "CallTimeout":
        return "timeout"
    if name == "WorkerCrashed":
        return "crash"
    if name in ("PolicyDenied", "CircuitOpen", "Overloaded", "RestartLimitExceeded"):
        return "refused"
    return "error"


class _Series:
    """Count, sum and bucket counts of one histogram label set."""

    __slots__ = ("count", "total", "buckets")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.buckets = [0] * (len(BUCKETS) + 1)

    def add(self, seconds: float) -> None:
        self.count += 1
        self.total += seconds
        self.buckets[bisect_left(BUCKETS, seconds)] += 1


class Recorder:
    """Every metric of one process; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: dict[tuple[str, str, str], _Series] = {}
        self.failures: dict[tuple[str, str, str], int] = {}
        self.retries: dict[tuple[str, str], int] = {}
        self.recent: dict[tuple[str, str], deque[float]] = {}
        self.rate_waits: dict[str, _Series] = {}
        self.steps: dict[tuple[str, str, str], _Series] = {}
        self.agent_calls: dict[tuple[str, str, str], _Series] = {}
        self.agent_restarts: dict[str, int] = {}
        self.agents: dict[str, int] = {}
        #: name -> callable returning plain data read at scrape time ("workers", "breakers")
        self.sources: dict[str, Callable[[], Any]] = {}

    # ---- recording (any thread) -------------------------------------------------------------

    def call_finished(self, module: str, function: str, seconds: float,
                      error: BaseException | None = None) -> None:
        outcome = outcome_of(error)
        with self._lock:
            _series(self.calls, (module, function, outcome)).add(seconds)
            self._recent(module, function).append(seconds)
            if error is not None:
                self._failed(module, function, error, 1)

    def calls_finished(self, module: str, function: str, seconds: list[float],
                       error: BaseException | None = None) -> None:
        """`call_finished` for several calls of one function with one outcome, under one
        lock acquisition (the direct path's batches)."""
        outcome = outcome_of(error)
        with self._lock:
            series = _series(self.calls, (module, function, outcome))
            buckets = series.buckets
            for value in seconds:
                buckets[bisect_left(BUCKETS, value)] += 1
            series.count += len(seconds)
            series.total += sum(seconds)
            self._recent(module, function).extend(seconds)
            if error is not None:
                self._failed(module, function, error, len(seconds))

    def _recent(self, module: str, function: str) -> deque:
        """The window of recent latencies of a function (under `_lock`); past MAX_SERIES
        functions, one shared "other" window."""
        pair = (module, function)
        recent = self.recent.get(pair)
        if recent is None:
            if len(self.recent) >= MAX_SERIES:
                pair = ("other", "other")
            recent = self.recent.setdefault(pair, deque(maxlen=WINDOW))
        return recent

    def _failed(self, module: str, function: str, error: BaseException, n: int) -> None:
        """Count `n` failures (under `_lock`): a Python exception by its own type, else the
        fault's."""
        fkey = _bounded(self.failures, (module, function, getattr(
            error, "exc_type", None) or type(error).__name__))
        self.failures[fkey] = self.failures.get(fkey, 0) + n

    def retry(self, module: str, function: str) -> None:
        with self._lock:
            key = _bounded(self.retries, (module, function))
            self.retries[key] = self.retries.get(key, 0) + 1

    def rate_wait(self, module: str, seconds: float) -> None:
        with self._lock:
            _series(self.rate_waits, module).add(seconds)

    def step_finished(self, workflow: str, kind: str, outcome: str, seconds: float) -> None:
        with self._lock:
            _series(self.steps, (workflow, kind, outcome)).add(seconds)

    def agent_call_finished(self, agent: str, method: str, seconds: float,
                            error: BaseException | str | None = None) -> None:
        outcome = error if isinstance(error, str) else outcome_of(error)
        with self._lock:
            _series(self.agent_calls, (agent, method, outcome)).add(seconds)

    def agent_restarted(self, agent: str) -> None:
        with self._lock:
            key = _bounded(self.agent_restarts, agent)
            self.agent_restarts[key] = self.agent_restarts.get(key, 0) + 1

    def set_agents(self, counts: Mapping[str, int]) -> None:
        """The agents gauge: how many agents are in each status now (running, restarting,
        failed, stopped); replaces the previous counts."""
        with self._lock:
            self.agents = {str(k): int(v) for k, v in counts.items()}

    def add_source(self, name: str, read: Callable[[], Any]) -> None:
        """Plain data read at scrape time: "workers" (the pool's snapshot), "breakers"
        (breaker states), "supervisor" ({"restarts", "escalated"})."""
        self.sources[name] = read

    def reset(self) -> None:
        with self._lock:
            for table in (self.calls, self.failures, self.retries, self.recent,
                          self.rate_waits, self.steps, self.agent_calls, self.agent_restarts):
                table.clear()
            self.agents = {}

    # ---- reading ---------------------------------------------------------------------------

    def snapshot(self) -> dict:
        """Plain data (msgpack-able): per "module.function" its calls, outcomes, failures by
        error type, retries and latency quantiles (ms); rate waits per module; workflow steps;
        agents."""
        with self._lock:
            calls = {k: (v.count, v.total) for k, v in self.calls.items()}
            failures = dict(self.failures)
            retries = dict(self.retries)
            recent = {k: sorted(v) for k, v in self.recent.items()}
            waits = {k: (v.count, v.total) for k, v in self.rate_waits.items()}
            steps = {k: (v.count, v.total) for k, v in self.steps.items()}
            agent_calls = {k: (v.count, v.total) for k, v in self.agent_calls.items()}
            agents = dict(self.agents)
            agent_restarts = dict(self.agent_restarts)
        functions: dict[str, dict] = {}

        def entry(module: str, function: str) -> dict:
            name = f"{module}.{function}"
            found = functions.get(name)
            if found is None:
                found = functions[name] = {"module": module, "function": function, "calls": 0,
                                           "outcomes": {}, "errors": {}, "retries": 0,
                                           "seconds": 0.0}
            return found

        for (module, function, outcome), (count, total) in calls.items():
            e = entry(module, function)
            e["calls"] += count
            e["seconds"] += total
            e["outcomes"][outcome] = count
        for (module, function, error), count in failures.items():
            entry(module, function)["errors"][error] = count
        for (module, function), count in retries.items():
            entry(module, function)["retries"] = count
        for (module, function), samples in recent.items():
            if samples and f"{module}.{function}" in functions:
                functions[f"{module}.{function}"]["latency_ms"] = _quantiles(samples)
        return {
            "calls": functions,
            "rate_waits": {m: {"waits": c, "seconds": round(t, 6)} for m, (c, t) in waits.items()},
            "workflow_steps": [{"workflow": w, "kind": k, "outcome": o, "count": c,
                                "seconds": round(t, 6)} for (w, k, o), (c, t) in steps.items()],
            "agents": {"by_status": agents, "restarts": agent_restarts,
                       "calls": [{"agent": a, "method": m, "outcome": o, "count": c,
                                  "seconds": round(t, 6)}
                                 for (a, m, o), (c, t) in agent_calls.items()]},
        }

    def families(self) -> list:
        """The metric families (prometheus_client objects) of this process."""
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        with self._lock:
            calls = {k: _copy(v) for k, v in self.calls.items()}
            failures = dict(self.failures)
            retries = dict(self.retries)
            waits = {k: _copy(v) for k, v in self.rate_waits.items()}
            steps = {k: _copy(v) for k, v in self.steps.items()}
            agent_calls = {k: _copy(v) for k, v in self.agent_calls.items()}
            agent_restarts = dict(self.agent_restarts)
            agents = dict(self.agents)
            sources = dict(self.sources)
        out: list = []

        count = CounterMetricFamily("zixir_python_calls", "Python calls finished, by outcome "
                                    "(ok, error, timeout, crash, refused)",
                                    labels=["module", "function", "outcome"])
        duration = HistogramMetricFamily("zixir_python_call_duration_seconds",
                                         "Time from a Python call's start to its result or "
                                         "error, retries included",
                                         labels=["module", "function", "outcome"])
        for labels, s in sorted(calls.items()):
            count.add_metric(list(labels), s.count)
            duration.add_metric(list(labels), _buckets(s), s.total)
        out += [count, duration]

        failed = CounterMetricFamily("zixir_python_call_failures", "Python calls that failed, "
                                     "by error type", labels=["module", "function", "error"])
        for labels, n in sorted(failures.items()):
            failed.add_metric(list(labels), n)
        retried = CounterMetricFamily("zixir_python_call_retries", "Retried attempts of "
                                      "Python calls", labels=["module", "function"])
        for labels, n in sorted(retries.items()):
            retried.add_metric(list(labels), n)
        waited = HistogramMetricFamily("zixir_rate_limit_wait_seconds", "Time Python calls "
                                       "waited for a rate-limit token", labels=["module"])
        for module, s in sorted(waits.items()):
            waited.add_metric([module], _buckets(s), s.total)
        out += [failed, retried, waited]

        step_count = CounterMetricFamily("zixir_workflow_steps", "Workflow steps finished, by "
                                         "kind (step, map, approval) and outcome (done, "
                                         "cached, failed, waiting)",
                                         labels=["workflow", "kind", "outcome"])
        step_time = HistogramMetricFamily("zixir_workflow_step_duration_seconds",
                                          "Running time of workflow steps",
                                          labels=["workflow", "kind", "outcome"])
        for labels, s in sorted(steps.items()):
            step_count.add_metric(list(labels), s.count)
            step_time.add_metric(list(labels), _buckets(s), s.total)
        out += [step_count, step_time]

        agent_gauge = GaugeMetricFamily("zixir_agents", "Agents by status",
                                        labels=["status"])
        for status, n in sorted(agents.items()):
            agent_gauge.add_metric([status], n)
        agent_count = CounterMetricFamily("zixir_agent_calls", "Agent method calls finished",
                                          labels=["agent", "method", "outcome"])
        agent_time = HistogramMetricFamily("zixir_agent_call_duration_seconds",
                                           "Time of agent method calls",
                                           labels=["agent", "method", "outcome"])
        for labels, s in sorted(agent_calls.items()):
            agent_count.add_metric(list(labels), s.count)
            agent_time.add_metric(list(labels), _buckets(s), s.total)
        agent_restart = CounterMetricFamily("zixir_agent_restarts", "Agent processes "
                                            "restarted", labels=["agent"])
        for agent, n in sorted(agent_restarts.items()):
            agent_restart.add_metric([agent], n)
        out += [agent_gauge, agent_count, agent_time, agent_restart]

        out += _source_families(sources)
        return out

    def exposition(self) -> str:
        """This process's metrics in the Prometheus text format."""
        return exposition(self.families())


def _bounded(table: dict, key: Any) -> Any:
    """Under the lock: `key`, or the shared overflow key ("other") once `table` is full."""
    if key in table or len(table) < MAX_SERIES:
        return key
    return ("other",) * len(key) if isinstance(key, tuple) else "other"


def _series(table: dict, key: Any) -> _Series:
    """Under the lock: the histogram of `key` (or of the overflow key), made on first use."""
    found = table.get(key)
    if found is None:
        key = _bounded(table, key)
        found = table.get(key)
        if found is None:
            found = table[key] = _Series()
    return found


def _copy(s: _Series) -> _Series:
    c = _Series()
    c.count, c.total, c.buckets = s.count, s.total, list(s.buckets)
    return c


def _buckets(s: _Series) -> list[tuple[str, int]]:
    """Cumulative buckets as prometheus_client wants them: [(le, count), ..., ("+Inf", n)]."""
    out, running = [], 0
    for bound, n in zip(BUCKETS, s.buckets, strict=False):
        running += n
        out.append((_le(bound), running))
    out.append(("+Inf", s.count))
    return out


def _le(bound: float) -> str:
    return repr(float(bound))


def _quantiles(samples: list[float]) -> dict:
    n = len(samples)

    def q(f: float) -> float:
        return round(samples[min(n - 1, int(f * n))] * 1000, 3)

    return {"n": n, "p50": q(0.5), "p90": q(0.9), "p99": q(0.99),
            "max": round(samples[-1] * 1000, 3)}


_BREAKER_STATES = ("closed", "open", "half-open")


def _source_families(sources: dict[str, Callable[[], Any]]) -> list:
    """Gauges and counters read at scrape time from the pool and the breakers."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    out: list = []
    read = {}
    for name, fn in sources.items():
        try:
            read[name] = fn()
        except Exception:  # a source that fails leaves its metrics out of this scrape
            read[name] = None
    workers = read.get("workers")
    if isinstance(workers, dict):
        live = int(workers.get("count") or 0)
        idle = int(workers.get("idle") or 0)
        gauge = GaugeMetricFamily("zixir_workers", "Python worker processes, by state",
                                  labels=["state"])
        gauge.add_metric(["busy"], max(0, live - idle))
        gauge.add_metric(["idle"], idle)
        out.append(gauge)
        out.append(GaugeMetricFamily("zixir_worker_queue", "Python calls waiting for a free "
                                     "worker", value=int(workers.get("queued") or 0)))
        out.append(CounterMetricFamily("zixir_worker_restarts", "Worker processes restarted "
                                       "after a crash", value=int(workers.get("restarts") or 0)))
        out.append(CounterMetricFamily("zixir_worker_replacements", "Worker processes "
                                       "replaced on purpose (timeout, recycling)",
                                       value=int(workers.get("replacements") or 0)))
    breakers = read.get("breakers")
    if isinstance(breakers, dict):
        state = GaugeMetricFamily("zixir_circuit_breaker_state", "1 for the state each "
                                  "circuit breaker is in", labels=["breaker", "state"])
        failures = GaugeMetricFamily("zixir_circuit_breaker_failures", "Consecutive failures "
                                     "counted by each circuit breaker", labels=["breaker"])
        for key, b in sorted(breakers.items()):
            current = str(b.get("state", "closed")).replace("_", "-")
            for s in _BREAKER_STATES:
                state.add_metric([key, s], 1.0 if current == s else 0.0)
            failures.add_metric([key], float(b.get("failures") or 0))
        out += [state, failures]
    return out


def exposition(families: Iterable) -> str:
    """Metric families as Prometheus text (prometheus_client's own writer)."""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(list(families)))
    return generate_latest(registry).decode()


class _Fixed:
    """A collector that yields a fixed list of families."""

    def __init__(self, families: list) -> None:
        self._families = families

    def collect(self) -> Iterable:
        return iter(self._families)


def parse(text: str) -> list:
    """Prometheus text back into families (prometheus_client's parser)."""
    from prometheus_client.parser import text_string_to_metric_families

    return list(text_string_to_metric_families(text))


# ---- the process's recorder, and the hooks called where events happen --------------------------

RECORDER = Recorder()


def call_finished(module: str, function: str, seconds: float,
                  error: BaseException | None = None) -> None:
    """A Python call ended (its result, or `error`), `seconds` after it started."""
    RECORDER.call_finished(module, function, seconds, error)


def calls_finished(module: str, function: str, seconds: list[float],
                   error: BaseException | None = None) -> None:
    """Several calls of one function ended with the same outcome (`error`, or a result)."""
    RECORDER.calls_finished(module, function, seconds, error)


def retry(module: str, function: str) -> None:
    """A Python call failed and is about to be tried again."""
    RECORDER.retry(module, function)


def rate_wait(module: str, seconds: float) -> None:
    """A Python call of `module` waited `seconds` for a rate-limit token."""
    RECORDER.rate_wait(module, seconds)


def step_finished(workflow: str, kind: str, outcome: str, seconds: float) -> None:
    """A workflow step ended: kind "step" or "map"; outcome done, cached, failed, waiting."""
    RECORDER.step_finished(workflow, kind, outcome, seconds)


def agent_call_finished(agent: str, method: str, seconds: float,
                        error: BaseException | str | None = None) -> None:
    """A call to an agent (by class or name) ended; `error` as for calls, or an outcome."""
    RECORDER.agent_call_finished(agent, method, seconds, error)


def agent_restarted(agent: str) -> None:
    RECORDER.agent_restarted(agent)


def set_agents(counts: Mapping[str, int]) -> None:
    """Set the `zixir_agents{status}` gauge: {"running": 3, "failed": 1, ...}."""
    RECORDER.set_agents(counts)


def snapshot() -> dict:
    return RECORDER.snapshot()
