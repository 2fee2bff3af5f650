"""Tasks (LANGUAGE.md section 9): `spawn`, `await`, `await_all`, `pmap(xs, f, n)`, and the
tasks an evaluation waits for before it ends.

    spawn(f) --fibers.spawn--> Task      await(t) / await(t, s) -> the task's value, or its
       |                                 error (raised where it happened in the task, with
       |                                 the task's call chain), or TaskTimeout after s seconds
       v
    TaskGroup of the running evaluation (per thread: a task runs on the thread that spawned it,
    so the tasks a task spawns join the same group)
       end of the evaluation, it succeeded -> wait for every task; a failed task nobody
                                              awaited fails the evaluation with its error
                                 it failed -> cancel the unfinished tasks, then raise

Tasks are fibers: thousands cost little, and a task waiting for a Python call lets the others
run. A Python call made from a task goes straight to the runtime when the runtime's waits are
fiber-aware (`Services.waits_in_fibers`); otherwise it blocks a helper thread instead of the
task's thread (`fibers.blocking`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from . import fibers
from .errors import TaskTimeout, ZixirRuntimeError
from .values import ZList, function_name, is_number, type_name

_local = threading.local()


class Task:
    """The value `spawn` returns (`type_of` is "task")."""

    __slots__ = ("fiber", "name", "observed")
    zixir_type = "task"

    def __init__(self, fiber: fibers.Fiber, name: str) -> None:
        self.fiber = fiber
        self.name = name
        self.observed = False  # someone asked for its result (await, await_all)

    @property
    def state(self) -> str:
        waiter = self.fiber.waiter
        if not waiter.done:
            return "running"
        return "failed" if waiter.error is not None else "done"

    def __repr__(self) -> str:
        return f"<task {self.name} {self.state}>"


class TaskGroup:
    """The tasks spawned while one evaluation runs, in spawn order."""

    def __init__(self) -> None:
        self.tasks: list[Task] = []

    def finish(self) -> None:
        """Wait for every task (more may be spawned meanwhile); then raise the error of the
        first failed task nobody awaited."""
        i = 0
        while i < len(self.tasks):
            _settle(self.tasks[i].fiber)
            i += 1
        for task in self.tasks:
            error = task.fiber.waiter.error
            if error is not None and not task.observed:
                raise error

    def abandon(self) -> None:
        """The evaluation failed: stop the unfinished tasks where they wait and let them
        unwind (a Python call already sent finishes in its worker; its result is dropped)."""
        for task in self.tasks:
            task.fiber.cancel()
        for task in self.tasks:
            _settle(task.fiber)


def _settle(fiber: fibers.Fiber) -> None:
    try:
        fiber.waiter.wait()
    except fibers.FiberCancelled:
        pass
    except Exception:  # noqa: BLE001 - the task's own error, kept in its waiter
        pass


def run_with_tasks(fn: Callable[..., Any], *args: Any) -> Any:
    """`fn(*args)` as an evaluation that owns the tasks it spawns (nested: the outer one)."""
    if getattr(_local, "group", None) is not None:
        return fn(*args)
    group = _local.group = TaskGroup()
    try:
        try:
            value = fn(*args)
        except BaseException:
            group.abandon()
            raise
        group.finish()
        return value
    finally:
        _local.group = None


def spawn(f: Any) -> Task:
    from .builtins import check_function
    from .session import guarded_call

    check_function("spawn", f, 0)
    task = Task(fibers.spawn(lambda: guarded_call(f, []), "task"), function_name(f))
    group = getattr(_local, "group", None)
    if group is not None:
        group.tasks.append(task)
    return task


def _task(who: str, t: Any) -> Task:
    if type(t) is not Task:
        raise ZixirRuntimeError(f"{who}: expected a task, got {type_name(t)}")
    if fibers.current() is t.fiber:
        raise ZixirRuntimeError(f"{who}: a task cannot wait for itself")
    return t


def _seconds_text(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)


def await_task(t: Any, seconds: Any = None) -> Any:
    task = _task("await", t)
    if seconds is not None and (not is_number(seconds) or seconds < 0):
        raise ZixirRuntimeError(f"await: seconds must be a number of seconds (0 or more), "
                                f"got {type_name(seconds) if not is_number(seconds) else seconds}")
    task.observed = True
    try:
        return task.fiber.waiter.wait(seconds)
    except fibers.WaitTimeout:
        raise TaskTimeout(f"Task timed out after {_seconds_text(seconds)} seconds") from None


def await_all(ts: Any) -> ZList:
    if type(ts) is not ZList and type(ts) is not list:
        raise ZixirRuntimeError(f"await_all: expected a list of tasks, got {type_name(ts)}")
    tasks = [_task("await_all", t) for t in ts]
    for task in tasks:
        task.observed = True
    from zixir.observe import progress

    with progress.track("await_all", len(tasks)) as bar:  # 100+ tasks: a bar on the terminal
        if bar is progress.NO_BAR:
            for task in tasks:
                _settle(task.fiber)
        else:
            _settle_counting(tasks, bar)
    return ZList([task.fiber.waiter.wait() for task in tasks])  # the first error by position


def _settle_counting(tasks: list[Task], bar: Any) -> None:
    """Wait for every task, advancing the bar as each one finishes, in whatever order they
    finish (a task that waits long, say for a retry, does not hold the count back): one
    watcher fiber per task."""
    def watch(task: Task) -> None:
        _settle(task.fiber)
        bar.advance(task.fiber.waiter.error is None)

    watchers = [fibers.spawn(lambda task=task: watch(task), "await_all") for task in tasks]
    try:
        for w in watchers:
            _settle(w)
    except BaseException:
        for w in watchers:  # interrupted: the watchers end with it
            w.cancel()
        for w in watchers:
            _settle(w)
        raise


def pmap(xs: Any, f: Any, n: Any, default_width: int) -> ZList:
    """At most `n` (default: `default_width`) elements in flight, each a fiber: every element
    is attempted, the results keep the order, the first error by position is raised, and no
    call outlives the pmap."""
    from . import builtins as B
    from .session import guarded_call

    B._sequence("pmap", xs)
    B.check_function("pmap", f, 1)
    if n is not None and (type(n) is not int or n < 1):
        raise ZixirRuntimeError(f"pmap: n must be a positive integer, got "
                                f"{n if type(n) is int else type_name(n)}")
    from zixir.observe import progress

    items = list(xs)
    width = max(1, min(n if n is not None else default_width, len(items)))
    bar = progress.track("pmap", len(items))  # drawn by the host for long fan-outs
    if width <= 1:
        with bar:
            out = []
            for x in items:
                out.append(f(x))
                bar.advance()
        return ZList(out)
    results: list[Any] = [None] * len(items)
    errors: list[BaseException | None] = [None] * len(items)
    next_index = iter(range(len(items)))

    def drain() -> None:
        for i in next_index:  # shared: each element goes to exactly one drainer
            try:
                results[i] = guarded_call(f, [items[i]])
            except fibers.FiberCancelled:
                raise
            except BaseException as exc:  # noqa: BLE001 - re-raised below, in order
                errors[i] = exc
            bar.advance(errors[i] is None)

    with bar:
        drainers = [fibers.spawn(drain, "pmap") for _ in range(width)]
        try:
            for d in drainers:
                d.waiter.wait()
        except BaseException:
            for d in drainers:  # interrupted or cancelled: nothing outlives the pmap
                d.cancel()
            for d in drainers:
                _settle(d)
            raise
    for error in errors:
        if error is not None:
            raise error
    return ZList(results)
