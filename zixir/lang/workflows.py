"""`workflow.run/step/map/dag/approval`: the language surface of durable workflows.

    Zixir program --workflow.X(args)--> WorkflowSurface (per session)
        checks arguments, turns Zixir functions into plain callables and values into plain
        Python --> zixir.workflow.engine.Engine --> the memory store (through the session's
        services: the router's or the host's MemoryClient)

A run is handed to the program as a map `{workflow: NAME, key: KEY, run: ID}`; the surface
keeps the live run behind each id, so `workflow.step(run, ...)` finds it (a run map that
outlived its run is an error).
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable
from typing import Any

from . import builtins as B
from .errors import WorkflowError
from .values import ZList, from_python, is_number, to_python, type_name


class ServicesKeyValue:
    """The engine's `KeyValue` over a session's services (`memory_*`)."""

    def __init__(self, services: Any) -> None:
        self.services = services

    def get(self, key: str, default: Any = None) -> Any:
        return self.services.memory_get(key, default, has_default=True)

    def put(self, key: str, value: Any) -> None:
        self.services.memory_put(key, value)

    def delete(self, key: str) -> bool:
        return self.services.memory_delete(key)

    def scan(self, prefix: str = "") -> list[tuple[str, Any]]:
        return self.services.memory_scan(prefix)

    def update(self, key: str, f: Callable[[Any], Any], default: Any = None) -> Any:
        return self.services.memory_update(key, f, default)


class WorkflowSurface:
    """The `_zx_workflow_*` functions of one session."""

    def __init__(self, services: Any, call: Callable[[Any, list], Any]) -> None:
        self.services = services
        self.call = call  # guarded_call: a Zixir function's errors leave positioned
        self._engine: Any = None
        self._runs: dict[int, Any] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def functions(self) -> dict[str, Callable[..., Any]]:
        return {f"_zx_workflow_{name}": getattr(self, name) for name in B.WORKFLOW_MEMBERS}

    @property
    def engine(self) -> Any:
        if self._engine is None:
            from zixir.workflow.engine import Engine

            self._engine = Engine(ServicesKeyValue(self.services),
                                  parallelism=int(getattr(self.services, "parallelism", 1) or 1),
                                  approve_hint=_memory_hint())
        return self._engine

    # ---- the members -----------------------------------------------------------------------

    def run(self, *args: Any) -> Any:
        _arity("run", args)
        if len(args) == 3:
            name, key, f = args
        else:
            (name, f), key = args, "default"
        B.check_function("workflow.run", f, 1)
        run_id = next(self._ids)

        def body(run: Any) -> Any:
            with self._lock:
                self._runs[run_id] = run
            try:
                handle = {"workflow": name, "key": key, "run": run_id}
                return _plain("workflow.run", f"the result of workflow {name}",
                              self.call(f, [handle]))
            finally:
                with self._lock:
                    self._runs.pop(run_id, None)

        return from_python(self.engine.run(name, key, body))

    def step(self, *args: Any) -> Any:
        _arity("step", args)
        run, step, g, *options = args
        live = self._live("step", run)
        B.check_function("workflow.step", g, 0)
        opts = _options("step", options[0] if options else None, ("retries", "timeout"))
        result = live.step(step, self._thunk(g, [], f"step {step}"), opts)
        return from_python(result)

    def map(self, *args: Any) -> ZList:
        _arity("map", args)
        run, step, xs, g, *options = args
        live = self._live("map", run)
        B._sequence("workflow.map", xs)
        B.check_function("workflow.map", g, 1)
        opts = _options("map", options[0] if options else None,
                        ("retries", "timeout", "concurrency"))
        items = [to_python(x) for x in xs]

        def element(x: Any) -> Any:
            value = self.call(g, [from_python(x)])
            return _plain("workflow.map", f"an element's result in step {step}", value)

        return ZList([from_python(v) for v in live.map(step, items, element, opts)])

    def dag(self, *args: Any) -> dict:
        from zixir.workflow.engine import DagStep

        _arity("dag", args)
        run, steps = args
        live = self._live("dag", run)
        B._sequence("workflow.dag", steps)
        parsed = []
        for i, entry in enumerate(steps):
            if type(entry) is not dict:
                raise WorkflowError(f"workflow.dag: step {i} must be a map "
                                    f"{{name, after, run}}, got {type_name(entry)}")
            unknown = set(entry) - {"name", "after", "run", "retries", "timeout"}
            if unknown:
                raise WorkflowError(f"workflow.dag: step {i} has unknown field "
                                    f"{sorted(unknown)[0]} (expected name, after, run, "
                                    f"retries, timeout)")
            name = entry.get("name")
            if type(name) is not str or not name:
                raise WorkflowError(f"workflow.dag: step {i} needs a name (a string)")
            after = entry.get("after", ZList([]))
            if not isinstance(after, list) or any(type(a) is not str for a in after):
                raise WorkflowError(f"workflow.dag: after of step {name} must be a list of "
                                    f"step names")
            fn = entry.get("run")
            if fn is None:
                raise WorkflowError(f"workflow.dag: step {name} needs a run function")
            B.check_function(f"workflow.dag (step {name})", fn, 1)
            opts = _options("dag", {k: v for k, v in entry.items() if k in ("retries", "timeout")},
                            ("retries", "timeout"))
            parsed.append(DagStep(name, list(after), self._dag_fn(fn, name), opts.retries,
                                  opts.timeout))
        return from_python(live.dag(parsed))

    def approval(self, *args: Any) -> Any:
        _arity("approval", args)
        run, step, *message = args
        live = self._live("approval", run)
        text = message[0] if message else None
        if text is not None and type(text) is not str:
            raise WorkflowError(f"workflow.approval: the message must be a string, got "
                                f"{type_name(text)}")
        return from_python(live.approval(step, text))

    # ---- helpers ---------------------------------------------------------------------------

    def _live(self, op: str, run: Any) -> Any:
        run_id = run.get("run") if type(run) is dict else None
        with self._lock:
            live = self._runs.get(run_id) if type(run_id) is int else None
        if live is None:
            if type(run) is dict and "workflow" in run:
                raise WorkflowError(f"workflow.{op}: the run {run.get('workflow')} has "
                                    f"already ended")
            raise WorkflowError(f"workflow.{op}: expected the run given to the function of "
                                f"workflow.run, got {type_name(run)}")
        return live

    def _thunk(self, g: Any, args: list, what: str) -> Callable[[], Any]:
        return lambda: _plain("workflow", f"the result of {what}", self.call(g, args))

    def _dag_fn(self, fn: Any, name: str) -> Callable[[dict], Any]:
        return lambda deps: _plain("workflow.dag", f"the result of step {name}",
                                   self.call(fn, [from_python(deps)]))


def _arity(op: str, args: tuple) -> None:
    member = B.WORKFLOW_MEMBERS[op]
    if not member.min_args <= len(args) <= member.max_args:
        raise WorkflowError(f"workflow.{op} expects {member.min_args} to {member.max_args} "
                            f"arguments, got {len(args)}")


def _options(op: str, options: Any, allowed: tuple[str, ...]) -> Any:
    from zixir.workflow.engine import StepOptions

    if options is None:
        return StepOptions()
    if type(options) is not dict:
        raise WorkflowError(f"workflow.{op}: options must be a map, got {type_name(options)}")
    for name in options:
        if name not in allowed:
            raise WorkflowError(f"workflow.{op}: unknown option {name} (expected "
                                f"{', '.join(allowed)})")
    retries = options.get("retries", 0)
    if type(retries) is not int or retries < 0:
        raise WorkflowError(f"workflow.{op}: retries must be a non-negative integer")
    timeout = options.get("timeout")
    if timeout is not None and (not is_number(timeout) or timeout <= 0):
        raise WorkflowError(f"workflow.{op}: timeout must be a positive number of seconds")
    concurrency = options.get("concurrency")
    if concurrency is not None and (type(concurrency) is not int or concurrency < 1):
        raise WorkflowError(f"workflow.{op}: concurrency must be a positive integer")
    return StepOptions(retries, None if timeout is None else float(timeout), concurrency)


def _plain(op: str, what: str, value: Any) -> Any:
    """A Zixir value as the plain value that is stored; functions cannot be."""
    try:
        plain = to_python(value)
        from zixir.runtime.memory import pack_value

        pack_value(plain)
    except (TypeError, ValueError, OverflowError) as exc:
        raise WorkflowError(f"{op}: {what} cannot be stored ({type_name(value)}: {exc})") \
            from None
    return plain


def _memory_hint() -> str:
    """`--memory PATH` for the commands printed by a waiting run, unless the store is the one
    `zixir workflow` uses by default."""
    path = os.environ.get("ZIXIR_MEMORY_PATH")
    if not path:
        return ""
    from zixir.runtime.memory import describe, is_url
    from zixir.runtime_bridge import default_memory_path

    default = default_memory_path()
    if path == default or (not is_url(path) and not is_url(default)
                           and os.path.abspath(path) == os.path.abspath(default)):
        return ""
    import shlex

    return f" --memory {shlex.quote(describe(path))}"  # a URL's password is not printed
