"""Durable execution: runs and steps whose results are committed to the store as they finish.

    Engine.run(name, key, body) ---- run record done? --yes--> its stored result, nothing runs
        |  no: record "running", body(run)
        v
    run.step(s, g)      step record done? -> stored result;  else g() (retries, timeout)
                        -> step record "done" + result committed -> return the result
    run.map(s, xs, g)   one checkpoint per element (index + hash of the element): only the
                        elements without one run, `concurrency` at a time
    run.dag(steps)      plan (cycle / unknown dependency: error before anything runs), then
                        each step as run.step once its dependencies are done, in parallel
    run.approval(s)     approved -> the note; rejected -> error; else the run ends "waiting"

A step's result is committed before the step returns: a crash after the commit never re-runs
it, a crash before re-runs it (side effects are at least once). The engine works on plain
Python values and callables; `zixir.lang.workflows` adapts Zixir functions and values to it.
Zixir code runs on deep-stack threads (`submit`), for timeouts and parallel elements.
"""

from __future__ import annotations

import concurrent.futures as cf
import shlex
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from zixir.lang.errors import WorkflowError, WorkflowWaiting
from zixir.observe import progress
from zixir.observe.steps import observed_step

from . import records as R
from . import storage as S
from .storage import KeyValue

DEFAULT_KEY = "default"
RETRY_BACKOFF = (0.05, 2.0)  # first pause between attempts, longest pause (seconds)


@dataclass
class DagStep:
    name: str
    after: list[str]
    fn: Callable[[dict], Any]  # deps (name -> result) -> result
    retries: int = 0
    timeout: float | None = None


@dataclass
class StepOptions:
    retries: int = 0
    timeout: float | None = None
    concurrency: int | None = None


def plan(steps: list[DagStep]) -> list[str]:
    """The steps in an order that respects `after`; a duplicate name, an unknown dependency or
    a cycle is a `WorkflowError` naming it."""
    by_name: dict[str, DagStep] = {}
    for s in steps:
        if s.name in by_name:
            raise WorkflowError(f"Step {s.name} appears twice in the dag")
        by_name[s.name] = s
    for s in steps:
        for dep in s.after:
            if dep not in by_name:
                raise WorkflowError(f"Step {s.name} depends on unknown step {dep}")
    order: list[str] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: placed

    for root in by_name:
        if state.get(root):
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        path: list[str] = [root]
        state[root] = 1
        while stack:
            name, i = stack[-1]
            deps = by_name[name].after
            if i < len(deps):
                stack[-1] = (name, i + 1)
                dep = deps[i]
                if state.get(dep) == 1:
                    cycle = path[path.index(dep):] + [dep]
                    raise WorkflowError(f"Dependency cycle: {' -> '.join(reversed(cycle))}")
                if not state.get(dep):
                    state[dep] = 1
                    stack.append((dep, 0))
                    path.append(dep)
            else:
                stack.pop()
                path.pop()
                state[name] = 2
                order.append(name)
    return order


class Engine:
    """Runs durable workflows over a `KeyValue` store."""

    def __init__(self, kv: KeyValue, *, clock: Callable[[], float] = time.time,
                 submit: Callable[..., cf.Future] | None = None, parallelism: int = 4,
                 interrupt: Callable[[int], None] | None = None,
                 approve_hint: str = "") -> None:
        from zixir.lang.deep import EXECUTOR
        from zixir.lang.deep import interrupt as interrupt_thread

        self.kv = kv
        self.clock = clock
        self.submit = submit or EXECUTOR.submit
        self.parallelism = max(1, parallelism)
        self.interrupt = interrupt or interrupt_thread
        self.approve_hint = approve_hint  # e.g. " --memory PATH" for the printed commands

    def run(self, name: str, key: str, body: Callable[[Run], Any]) -> Any:
        _check_name("workflow.run", "name", name)
        _check_name("workflow.run", "key", key)
        record_key = S.run_key(name, key)
        old = self.kv.get(record_key)
        if old is not None and old.get("status") == "done":
            return old["result"]
        record = R.run_started(old, name, key, self.clock())
        self.kv.put(record_key, record)
        run = Run(self, name, key)
        try:
            result = body(run)
        except WorkflowWaiting:
            self.kv.put(record_key, R.run_waiting(record, run.waiting_for or "", self.clock()))
            raise
        except Exception as exc:
            self.kv.put(record_key, R.run_failed(record, R.error_record(exc), self.clock()))
            raise
        finally:
            run.ended = True
        self.kv.put(record_key, R.run_finished(record, result, self.clock()))
        return result

    def call(self, g: Callable[[], Any], timeout: float | None, step: str) -> Any:
        """`g()`, on another thread when there is a timeout; an attempt past its timeout is
        abandoned (interrupted as soon as it runs Zixir code again)."""
        if timeout is None:
            return g()
        lock = threading.Lock()
        state: dict[str, Any] = {"done": False}

        def attempt() -> Any:
            state["thread"] = threading.get_ident()
            try:
                return g()
            finally:
                with lock:
                    state["done"] = True

        future = self.submit(attempt)
        try:
            return future.result(timeout)
        except cf.TimeoutError:
            with lock:
                if not state["done"] and "thread" in state:
                    self.interrupt(state["thread"])
            raise WorkflowError(f"Step {step} timed out after {timeout:g} seconds") from None


class Run:
    """One execution of a run: the steps it has used (a name may be used once)."""

    def __init__(self, engine: Engine, name: str, key: str) -> None:
        self.engine = engine
        self.kv = engine.kv
        self.name = name
        self.key = key
        self.used: set[str] = set()
        self.lock = threading.Lock()
        self.ended = False
        self.waiting_for: str | None = None

    def _claim(self, op: str, step: str) -> None:
        _check_name(f"workflow.{op}", "step name", step)
        if self.ended:
            raise WorkflowError(f"workflow.{op}: the run {self.name} has already ended")
        with self.lock:
            if step in self.used:
                raise WorkflowError(f"Step {step} already ran in this run")
            self.used.add(step)

    def _attempts(self, g: Callable[[], Any], options: StepOptions, step: str,
                  count: Callable[[], None]) -> Any:
        attempts = 1 + max(0, options.retries)
        pause = RETRY_BACKOFF[0]
        for attempt in range(attempts):
            count()
            try:
                return self.engine.call(g, options.timeout, step)
            except WorkflowWaiting:
                raise
            except Exception:
                if attempt == attempts - 1:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, RETRY_BACKOFF[1])
        raise AssertionError("unreachable")

    # ---- steps -----------------------------------------------------------------------------

    def step(self, step: str, g: Callable[[], Any], options: StepOptions | None = None) -> Any:
        self._claim("step", step)
        return self._durable(step, g, options or StepOptions())

    def _durable(self, step: str, g: Callable[[], Any], options: StepOptions) -> Any:
        with observed_step(self.name, self.key, step, "step") as observed:
            return self._durable_step(step, g, options, observed)

    def _durable_step(self, step: str, g: Callable[[], Any], options: StepOptions,
                      observed: observed_step) -> Any:
        record_key = S.step_key(self.name, self.key, step)
        old = self.kv.get(record_key)
        if old is not None and old.get("status") in R.FINAL_STEP:
            observed.cached()
            return old["result"]
        record = R.step_started(old, "step", self.engine.clock())
        self.kv.put(record_key, record)
        attempts = [record["attempts"]]

        def count() -> None:
            attempts[0] += 1

        try:
            value = self._attempts(g, options, step, count)
        except Exception as exc:
            failed = R.step_failed({**record, "attempts": attempts[0]}, R.error_record(exc),
                                   self.engine.clock())
            self.kv.put(record_key, failed)
            raise
        self.kv.put(record_key, R.step_done({**record, "attempts": attempts[0]}, value,
                                            self.engine.clock()))
        return value

    def map(self, step: str, xs: list, g: Callable[[Any], Any],
            options: StepOptions | None = None) -> list:
        """`g` over `xs`, `concurrency` at a time; each element's result is committed as it
        completes, and only elements without a checkpoint for the same index and hash run."""
        self._claim("map", step)
        with observed_step(self.name, self.key, step, "map") as observed:
            return self._map(step, xs, g, options or StepOptions(), observed)

    def _map(self, step: str, xs: list, g: Callable[[Any], Any], options: StepOptions,
             observed: observed_step) -> list:
        record_key = S.step_key(self.name, self.key, step)
        prefix = S.elements_prefix(self.name, self.key, step)
        digests = [S.digest(x) for x in xs]
        results: list[Any] = [None] * len(xs)
        have = [False] * len(xs)
        stale = []
        for stored_key, value in self.kv.scan(prefix):
            index, digest = S.parse_element(stored_key, prefix)
            if index < len(xs) and digests[index] == digest:
                results[index], have[index] = value["value"], True
            else:
                stale.append(stored_key)
        old = self.kv.get(record_key)
        todo = [i for i in range(len(xs)) if not have[i]]
        if not todo and not stale and old is not None and old.get("status") == "done":
            observed.cached()
            return results
        record = {**R.step_started(old, "map", self.engine.clock()), "elements": len(xs)}
        self.kv.put(record_key, record)
        attempts = [record["attempts"]]
        errors: list[BaseException | None] = [None] * len(xs)
        lock = threading.Lock()
        queue = iter(todo)

        def count() -> None:
            with lock:
                attempts[0] += 1

        def drain() -> None:
            while True:
                with lock:
                    i = next(queue, None)
                if i is None:
                    return
                try:
                    value = self._attempts(lambda i=i: g(xs[i]), options, step, count)
                    self.kv.put(S.element_key(self.name, self.key, step, i, digests[i]),
                                {"value": value})
                    results[i] = value
                except Exception as exc:  # noqa: BLE001 - raised below, first by position
                    errors[i] = exc
                bar.advance(errors[i] is None)

        width = max(1, min(options.concurrency or self.engine.parallelism, len(todo) or 1))
        with progress.track(f"{self.name}: {step}", len(xs), len(xs) - len(todo)) as bar:
            if width == 1:
                drain()
            else:
                for future in [self.engine.submit(drain) for _ in range(width)]:
                    future.result()  # no element outlives the step
        for stored_key in stale:
            self.kv.delete(stored_key)
        record = {**record, "attempts": attempts[0]}
        for error in errors:
            if error is not None:
                self.kv.put(record_key, R.step_failed(record, R.error_record(error),
                                                      self.engine.clock()))
                raise error
        self.kv.put(record_key, R.step_done(record, None, self.engine.clock(),
                                            elements=len(xs)))
        return results

    def dag(self, steps: list[DagStep]) -> dict:
        """Every step once its dependencies are done, independent ones in parallel; the map of
        every step's result. The first failure (in start order) is raised once the steps
        already started have finished; no new step starts after it."""
        plan(steps)
        for s in steps:
            self._claim("dag", s.name)
        by_name = {s.name: s for s in steps}
        results: dict[str, Any] = {}
        pending = [s.name for s in steps]
        running: dict[cf.Future, str] = {}
        failure: BaseException | None = None
        while True:
            if failure is None:
                for name in [n for n in pending if all(d in results for d in by_name[n].after)]:
                    pending.remove(name)
                    s = by_name[name]
                    deps = {d: results[d] for d in s.after}
                    options = StepOptions(retries=s.retries, timeout=s.timeout)
                    running[self.engine.submit(self._durable, name,
                                               lambda s=s, deps=deps: s.fn(deps),
                                               options)] = name
            if not running:
                break
            finished, _ = cf.wait(list(running), return_when=cf.FIRST_COMPLETED)
            for future in finished:
                name = running.pop(future)
                try:
                    results[name] = future.result()
                except BaseException as exc:  # noqa: BLE001 - the first one is raised below
                    failure = failure or exc
        if failure is not None:
            raise failure
        return {s.name: results[s.name] for s in steps}

    def approval(self, step: str, message: str | None = None) -> Any:
        self._claim("approval", step)
        with observed_step(self.name, self.key, step, "approval"):
            return self._approval(step, message)

    def _approval(self, step: str, message: str | None) -> Any:
        record_key = S.step_key(self.name, self.key, step)
        now = self.engine.clock()
        record = self.kv.update(record_key, lambda old: R.approval_waiting(old, message, now))
        status = record.get("status")
        if status in R.FINAL_STEP:
            return record.get("result")
        if status == "rejected":
            raise WorkflowError(f"Step {step} was rejected: {record.get('note') or '(no note)'}")
        self.waiting_for = step
        raise WorkflowWaiting(waiting_message(self.name, self.key, step, message,
                                              self.engine.approve_hint))


def waiting_message(name: str, key: str, step: str, message: str | None, hint: str) -> str:
    where = f"workflow {name}" + ("" if key == DEFAULT_KEY else f" (key {key})")
    key_option = "" if key == DEFAULT_KEY else f" --key {shlex.quote(key)}"
    args = f"{shlex.quote(name)} {shlex.quote(step)}{key_option}{hint}"
    lines = [f"{where} is waiting for an approval of step {step}"
             + (f": {message}" if message else ""),
             f"  approve: zixir workflow approve {args}",
             f"  reject:  zixir workflow reject {args} --note REASON",
             "then run the program again to continue"]
    return "\n".join(lines)


def _check_name(op: str, what: str, value: Any) -> None:
    if not isinstance(value, str) or not value:
        from zixir.lang.values import type_name

        shown = "an empty string" if value == "" else type_name(value)
        raise WorkflowError(f"{op}: the {what} must be a non-empty string, got {shown}")
