"""What the dashboard shows, gathered in one place (the only module that reads the runtime).

    RuntimeSource(rt)   rt.supervision_tree() -------> tree (pids, restarts, RSS)
                        rt.stats()["router"] --------> per-module counters, breakers
                        rt.agents.list() ------------> agents (when the runtime has agents)
                        rt.workflows (memory store) -> workflow runs, steps, approvals
    StoreSource(path)   a store opened directly -----> workflow runs, steps, approvals only
                        (a file or a postgresql:// URL)

    state() -> {"mode", "time", "tree", "modules", "breakers", "agents", "workflows",
                "approvals"}   (plain JSON-able values)

Module counters are cumulative (`calls`, `errors`, `seconds` per module since the router
started: `router.ModuleCounters`); the page turns successive states into rates and mean
latencies. Approvals are
decided through `zixir.workflow.admin.Workflows`, the same code as `zixir workflow approve`.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

from zixir.runtime.memory import describe
from zixir.runtime.process import rss_bytes
from zixir.workflow.admin import Workflows

#: the most recent runs shown with their steps
MAX_RUNS = 25
#: step fields the page shows (results can be large and are not shown)
STEP_FIELDS = ("name", "kind", "status", "duration", "attempts", "started", "message", "note",
               "elements", "elements_done")


class RuntimeSource:
    """A running `zixir.Runtime`: processes, calls, breakers, agents and workflows."""

    mode = "live"

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    def state(self) -> dict:
        rt = self.runtime
        router = rt.stats().get("router") or {}
        return {
            "mode": self.mode, "time": time.time(),
            "tree": rt.supervision_tree(),
            "modules": module_counters(router.get("modules") or {}),
            "breakers": [{"key": key, **b} for key, b in sorted(
                (router.get("breakers") or {}).items())],
            "agents": agents_of(rt),
            **workflow_state(rt.workflows),
        }

    def decide(self, name: str, key: str, step: str, approved: bool, note: str) -> dict:
        return decide(self.runtime.workflows, name, key, step, approved, note)

    def close(self) -> None:
        pass


class StoreSource:
    """A memory store (file or URL) without a running program: stored workflow history only."""

    mode = "store"

    def __init__(self, path: str) -> None:
        from zixir.workflow.storage import StoreKeyValue

        self.path = path
        self._kv = StoreKeyValue(path)
        self._lock = threading.Lock()  # one SQLite connection, used by the server's threads

    def state(self) -> dict:
        with self._lock:
            workflows = workflow_state(Workflows(self._kv))
        return {"mode": self.mode, "time": time.time(), "store": describe(self.path), "tree": None,
                "modules": {}, "breakers": [], "agents": None, **workflows}

    def decide(self, name: str, key: str, step: str, approved: bool, note: str) -> dict:
        with self._lock:
            return decide(Workflows(self._kv), name, key, step, approved, note)

    def close(self) -> None:
        with self._lock:
            self._kv.close()


def module_counters(modules: dict[str, dict]) -> dict[str, dict]:
    """The router's per-module counters ({M: {"calls", "errors", "seconds"}}), by name."""
    return {m: {"calls": c.get("calls", 0), "errors": c.get("errors", 0),
                "seconds": c.get("seconds", 0.0)} for m, c in sorted(modules.items())}


def agents_of(runtime: Any) -> list[dict] | None:
    """The runtime's agents (`rt.agents.list()`: name, class, pid, status, restarts, calls,
    last_error), each with its RSS; None when this runtime has no agents API."""
    agents = getattr(runtime, "agents", None)
    listing = getattr(agents, "list", None)
    if not callable(listing):
        return None
    try:
        rows = listing()
    except Exception as e:  # the page says why instead of failing
        return [{"name": "?", "status": "unavailable", "last_error": str(e)}]
    out = []
    for row in rows or []:
        if dataclasses.is_dataclass(row) and not isinstance(row, type):
            row = dataclasses.asdict(row)
        elif not isinstance(row, dict):
            row = {k: getattr(row, k) for k in dir(row) if not k.startswith("_")
                   and not callable(getattr(row, k))}
        row = {k: plain(v) for k, v in row.items()}
        if isinstance(row.get("pid"), int) and "rss" not in row:
            row["rss"] = rss_bytes(row["pid"])
        out.append(row)
    return out


def workflow_state(workflows: Workflows) -> dict:
    runs = sorted(workflows.list(), key=lambda r: r.get("updated") or 0, reverse=True)
    shown, approvals = [], []
    for run in runs[:MAX_RUNS]:
        try:
            detail = workflows.show(run["name"], run["key"])
        except Exception:
            detail = {"steps": []}
        steps = [{f: plain(s.get(f)) for f in STEP_FIELDS if s.get(f) is not None}
                 | ({"error": error_text(s["error"])} if s.get("error") else {})
                 for s in detail.get("steps", [])]
        shown.append({**{k: plain(v) for k, v in run.items() if k != "steps"},
                      "steps_total": run.get("steps"), "steps": steps,
                      "error": error_text(detail.get("error")) if detail.get("error") else None})
        for step in steps:
            if step.get("kind") == "approval" and step.get("status") == "waiting":
                approvals.append({"workflow": run["name"], "key": run["key"],
                                  "step": step["name"], "message": step.get("message") or ""})
    return {"workflows": shown, "approvals": approvals}


def decide(workflows: Workflows, name: str, key: str, step: str, approved: bool,
           note: str) -> dict:
    """Approve or reject a waiting approval step (a WorkflowError when it is not one: the
    page decides only what it shows as pending, unlike `zixir workflow approve`)."""
    from zixir.lang.errors import WorkflowError

    steps = {s["name"]: s for s in workflows.show(name, key)["steps"]}
    found = steps.get(step)
    if found is None or found.get("kind") != "approval" or found.get("status") != "waiting":
        raise WorkflowError(f"Step {step} of workflow {name} is not waiting for an approval")
    decision = workflows.approve if approved else workflows.reject
    record = decision(name, step, note, key)
    return {"workflow": name, "key": key, "step": step, "status": record.get("status")}


def error_text(error: Any) -> str:
    if isinstance(error, dict):
        return f"{error.get('type')}: {error.get('message')}"
    return str(error)


def plain(value: Any) -> Any:
    """A JSON-able copy: stored values are plain already; anything else becomes its text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return str(value)
