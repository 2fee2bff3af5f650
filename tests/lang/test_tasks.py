"""Tasks in the language (LANGUAGE.md section 9): spawn, await, await_all, pmap(xs, f, n), and
what happens to tasks nobody awaited. The Python calls here go to an in-process stand-in for
the runtime that blocks its thread, as the runtime's sync calls do; the same programs run
through `zixir run` in tests/runtime/test_tasks_run.py."""

from __future__ import annotations

import threading
import time

import pytest

from zixir.lang.errors import TaskTimeout, ZixirRuntimeError
from zixir.lang.session import Session


class SleepyServices:
    """`python "t" "nap" (s)` sleeps s seconds on the calling thread and counts how many
    calls were in flight at once."""

    def __init__(self, parallelism: int = 2) -> None:
        self.parallelism = parallelism
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most = 0
        self.calls = 0

    def call_python(self, module, function, args, kwargs):
        with self.lock:
            self.in_flight += 1
            self.calls += 1
            self.most = max(self.most, self.in_flight)
        try:
            if function == "fail":
                raise ZixirRuntimeError(f"python failed on {args[0]}")
            time.sleep(args[0])
            return args[0]
        finally:
            with self.lock:
                self.in_flight -= 1


def run(source: str, services=None):
    return Session(services=services).eval(source)


def test_many_tasks_wait_for_python_calls_at_once():
    services = SleepyServices()
    start = time.monotonic()
    value = run('let ts = map(0..40, i => spawn(() => python "t" "nap" (0.2)))\n'
                'len(await_all(ts))', services)
    elapsed = time.monotonic() - start
    assert value == 40
    assert services.most >= 20  # the calls overlapped
    assert elapsed < 4.0  # one after the other: 8 s


def test_await_returns_the_value_and_tasks_run_concurrently_with_their_spawner():
    services = SleepyServices()
    source = """
let t = spawn(() => python "t" "nap" (0.3))
let mine = python "t" "nap" (0.3)
[await(t), mine]
"""
    assert run(source, services) == [0.3, 0.3]
    assert services.most == 2  # the task's call and the spawner's were in flight together


def test_await_timeout_raises_a_typed_error_and_the_task_goes_on():
    services = SleepyServices()
    source = """
let t = spawn(() => python "t" "nap" (0.3))
let first = try { await(t, 0.05) } rescue e { [e.type, e.message] }
[first, await(t)]
"""
    assert run(source, services) == [["TaskTimeout", "Task timed out after 0.05 seconds"], 0.3]
    with pytest.raises(TaskTimeout) as info:
        run('let t = spawn(() => python "t" "nap" (0.5))\n\nawait(t, 0)', SleepyServices())
    assert info.value.message == "Task timed out after 0 seconds"
    assert info.value.line == 3


def test_a_task_error_keeps_its_position_and_call_chain():
    source = """fn inner(x) {
  10 / x
}
fn work() { inner(0) }
let t = spawn(work)
await(t)
"""
    with pytest.raises(ZixirRuntimeError) as info:
        run(source)
    err = info.value
    assert err.message == "Division by zero"
    assert (err.line, err.column) == (2, 3)
    assert [f.function for f in err.call_chain] == ["work", "inner"]


def test_task_errors_are_rescuable_and_attempt_keeps_them():
    source = """
let t = spawn(() => raise("Quota", "full"))
let a = try { await(t) } rescue e { [e.type, e.message, e.line] }
let b = attempt(() => await(t))
[a, b.ok, b.error.type]
"""
    assert run(source) == [["Quota", "full", 2], False, "Quota"]
    python_error = run('let t = spawn(() => python "t" "fail" (7))\n'
                       'try { await(t) } rescue e { e.message }', SleepyServices())
    assert python_error == "python failed on 7"


def test_await_all_raises_the_first_failure_by_position_after_all_finished():
    services = SleepyServices()
    source = """
let ts = [spawn(() => python "t" "nap" (0.3)),
          spawn(() => raise("Late", "second")),
          spawn(() => raise("Early", "third"))]
try { await_all(ts) } rescue e { e.type }
"""
    start = time.monotonic()
    assert run(source, services) == "Late"
    assert time.monotonic() - start >= 0.28  # it waited for the slow first task


def test_nested_spawns_and_many_awaiters_of_one_task():
    source = """
fn tree(d) {
  if d == 0 { 1 } else { sum(await_all(map(0..3, i => spawn(() => tree(d - 1))))) }
}
let root = spawn(() => tree(4))
sum(await_all(map(0..50, i => spawn(() => await(root)))))
"""
    assert run(source) == 81 * 50


def test_thousands_of_tasks():
    assert run("sum(await_all(map(0..5000, i => spawn(() => i))))") == sum(range(5000))


def test_the_program_waits_for_tasks_never_awaited():
    services = SleepyServices()
    start = time.monotonic()
    run('for i in 0..4 { spawn(() => python "t" "nap" (0.2)) }\n"done"', services)
    assert services.calls == 4  # all ran before the evaluation returned
    assert time.monotonic() - start >= 0.18
    assert services.in_flight == 0


def test_a_failed_task_nobody_awaited_fails_the_program():
    with pytest.raises(ZixirRuntimeError) as info:
        run('spawn(() => [1][5])\n"the program itself is fine"')
    assert info.value.message.startswith("Index out of range")
    assert info.value.line == 1
    # awaited (and rescued) once: it no longer fails the program
    assert run('let t = spawn(() => 1 / 0)\ntry { await(t) } rescue e { 0 }\n"ok"') == "ok"


def test_when_the_program_fails_its_unfinished_tasks_are_cancelled():
    services = SleepyServices()
    start = time.monotonic()
    with pytest.raises(ZixirRuntimeError, match="stop"):
        run('let t = spawn(() => python "t" "nap" (6.0))\n'
            'python "t" "nap" (0.05)\nraise("stop")', services)
    assert time.monotonic() - start < 4.0  # it did not wait the 6 s call out


def test_a_task_cannot_await_itself():
    with pytest.raises(ZixirRuntimeError, match="a task cannot wait for itself"):
        run("fn me() { await(memo[0]) }\nlet memo = [spawn(() => me())]\nawait(memo[0])")


def test_pmap_bounds_the_elements_in_flight():
    services = SleepyServices(parallelism=2)
    assert run('pmap(0..12, i => python "t" "nap" (0.1), 6)', services) == [0.1] * 12
    assert services.most == 6  # n, not the runtime's parallelism
    services = SleepyServices(parallelism=3)
    run('pmap(0..9, i => python "t" "nap" (0.05))', services)
    assert services.most == 3  # without n: the runtime's parallelism


def test_pmap_n_in_the_thousands():
    services = SleepyServices(parallelism=2)
    start = time.monotonic()
    value = run('len(pmap(0..2000, i => python "t" "nap" (0.2), 2000))', services)
    assert value == 2000
    assert services.most > 100  # far beyond the 2 workers; bounded here by helper threads
    assert time.monotonic() - start < 20


def test_pmap_inside_tasks_and_tasks_inside_pmap():
    assert run("await(spawn(() => pmap(0..5, x => x * x, 2)))") == [0, 1, 4, 9, 16]
    assert run("pmap(0..4, x => await(spawn(() => x + 1)), 2)") == [1, 2, 3, 4]


class ReaderThreadServices:
    """A runtime whose calls wait through fibers (`waits_in_fibers`), as a channel with many
    requests in flight does: each call parks on a Waiter; one reader thread answers them all
    after `delay` seconds."""

    waits_in_fibers = True
    parallelism = 2

    def __init__(self, delay: float) -> None:
        import queue

        from zixir.lang.fibers import Waiter

        self.Waiter = Waiter
        self.delay = delay
        self.requests: queue.SimpleQueue = queue.SimpleQueue()
        self.most_threads = 0
        self.in_flight = 0
        self.most_in_flight = 0
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self) -> None:
        while True:
            due, waiter, value = self.requests.get()
            time.sleep(max(0.0, due - time.monotonic()))
            waiter.set(value)

    def call_python(self, module, function, args, kwargs):
        waiter = self.Waiter()
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        self.most_threads = max(self.most_threads, threading.active_count())
        self.requests.put((time.monotonic() + self.delay, waiter, args[0]))
        try:
            return waiter.wait(30)
        finally:
            self.in_flight -= 1


def test_ten_thousand_calls_in_flight_on_one_thread_when_the_runtime_waits_in_fibers():
    services = ReaderThreadServices(delay=0.5)
    threads_before = threading.active_count()
    start = time.monotonic()
    value = run('sum(pmap(0..10000, i => python "m" "echo" (i), 10000))', services)
    elapsed = time.monotonic() - start
    assert value == sum(range(10000))
    assert services.most_in_flight == 10000  # every call waited at the same time
    assert services.most_threads <= threads_before + 2  # no thread per call
    assert elapsed < 60  # one after the other: 5,000 s
