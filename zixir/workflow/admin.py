"""Reading and changing stored workflows: `zixir workflow ...` and `rt.workflows`.

    Workflows(kv).list()                       every run: name, key, status, steps done, times
    Workflows(kv).show(name, key)              one run and its steps
    Workflows(kv).approve/reject(name, step)   a person's decision on an approval step
    Workflows(kv).reset(name, key=None)        forget a run (every run of name without key)

`kv` is any `storage.KeyValue`: `rt.memory` of a running runtime, or a store file opened
directly by the CLI. `format_runs` and `format_run` render the CLI's tables.
"""

from __future__ import annotations

import time
from typing import Any

from zixir.lang.errors import WorkflowError

from . import records as R
from . import storage as S
from .engine import DEFAULT_KEY


class Workflows:
    def __init__(self, kv: S.KeyValue, clock: Any = time.time) -> None:
        self.kv = kv
        self.clock = clock

    def list(self) -> list[dict]:
        """Every stored run, by name then key."""
        done: dict[tuple[str, str], int] = {}
        counted: dict[tuple[str, str], int] = {}
        for stored_key, record in self.kv.scan(S.STEPS):
            name, key = _owner(stored_key)
            counted[(name, key)] = counted.get((name, key), 0) + 1
            if record.get("status") in R.FINAL_STEP:
                done[(name, key)] = done.get((name, key), 0) + 1
        runs = []
        for stored_key, record in self.kv.scan(S.RUNS):
            name, key = S.parse_run(stored_key)
            runs.append({"name": name, "key": key, "status": record.get("status"),
                         "steps_done": done.get((name, key), 0),
                         "steps": counted.get((name, key), 0),
                         "started": record.get("started"), "updated": record.get("updated"),
                         "waiting_for": record.get("waiting_for")})
        return runs

    def show(self, name: str, key: str = DEFAULT_KEY) -> dict:
        """The run record with its steps (in the order they started); unknown: WorkflowError."""
        run = self.kv.get(S.run_key(name, key))
        prefix = S.steps_prefix(name, key)
        steps = []
        for stored_key, record in self.kv.scan(prefix):
            steps.append({"name": S.parse_step(stored_key, prefix), **record})
        if run is None and not steps:
            raise WorkflowError(f"No workflow run {_describe(name, key)}")
        steps.sort(key=lambda s: (s.get("started") or 0, s["name"]))
        for step in steps:
            if step.get("kind") == "map":
                step["elements_done"] = len(self.kv.scan(S.elements_prefix(name, key,
                                                                           step["name"])))
        return {**(run or {"name": name, "key": key, "status": "unknown"}), "steps": steps}

    def approve(self, name: str, step: str, note: str = "", key: str = DEFAULT_KEY) -> dict:
        return self._decide(name, step, True, note, key)

    def reject(self, name: str, step: str, note: str = "", key: str = DEFAULT_KEY) -> dict:
        return self._decide(name, step, False, note, key)

    def _decide(self, name: str, step: str, approved: bool, note: str, key: str) -> dict:
        if not isinstance(note, str):
            raise WorkflowError("the note must be a string")
        now = self.clock()
        return self.kv.update(S.step_key(name, key, step),
                              lambda old: R.approval_decided(old, step, approved, note, now))

    def reset(self, name: str, key: str | None = None) -> int:
        """Forget the run (every run of `name` when `key` is None): its record, steps and
        checkpoints. How many runs were forgotten."""
        if key is None:
            keys = [k for n, k in (S.parse_run(s) for s, _ in self.kv.scan(S.RUNS)) if n == name]
            keys += [k for (n, k) in {_owner(s) for s, _ in self.kv.scan(S.STEPS)}
                     if n == name and k not in keys]
        else:
            keys = [key]
        forgotten = 0
        for k in keys:
            found = self.kv.delete(S.run_key(name, k))
            for prefix in (S.steps_prefix(name, k), S.elements_prefix(name, k)):
                for stored_key, _ in self.kv.scan(prefix):
                    found = self.kv.delete(stored_key) or found
            forgotten += bool(found)
        return forgotten


def _owner(step_key: str) -> tuple[str, str]:
    from urllib.parse import unquote

    name, key, _ = step_key[len(S.STEPS):].split("/", 2)
    return unquote(name), unquote(key)


def _describe(name: str, key: str) -> str:
    return name if key == DEFAULT_KEY else f"{name} (key {key})"


# ---- rendering -----------------------------------------------------------------------------


def _when(t: float | None) -> str:
    return "-" if t is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def _duration(d: float | None) -> str:
    if d is None:
        return "-"
    return f"{d * 1000:.0f} ms" if d < 1 else f"{d:.1f} s"


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def format_runs(runs: list[dict]) -> str:
    if not runs:
        return "no workflow runs"
    rows = [[r["name"], r["key"], r["status"] or "-", f"{r['steps_done']}/{r['steps']}",
             _when(r["started"]), _when(r["updated"])] for r in runs]
    return _table(["NAME", "KEY", "STATUS", "STEPS DONE", "STARTED", "UPDATED"], rows)


def format_run(run: dict) -> str:
    head = [f"workflow {run['name']}  key {run['key']}  status {run.get('status')}",
            f"started {_when(run.get('started'))}  updated {_when(run.get('updated'))}"]
    if run.get("waiting_for"):
        head.append(f"waiting for an approval of step {run['waiting_for']}")
    if run.get("status") == "failed" and run.get("error"):
        head.append(f"error: {_error_text(run['error'])}")
    rows = []
    for s in run["steps"]:
        detail = ""
        if s.get("error"):
            detail = _error_text(s["error"])
        elif s.get("kind") == "approval":
            detail = s.get("note") or s.get("message") or ""
        elif s.get("kind") == "map":
            detail = f"{s.get('elements_done', 0)}/{s.get('elements', '?')} elements"
        rows.append([s["name"], s.get("kind") or "-", s.get("status") or "-",
                     _duration(s.get("duration")), str(s.get("attempts", 0)), detail])
    table = _table(["STEP", "KIND", "STATUS", "DURATION", "ATTEMPTS", "ERROR / NOTE"], rows) \
        if rows else "no steps yet"
    return "\n".join(head) + "\n\n" + table


def _error_text(error: dict) -> str:
    text = f"{error.get('type')}: {error.get('message')}"
    if error.get("line"):
        text += f" (line {error['line']}, column {error.get('column')})"
    chain = error.get("call_chain") or []
    if chain:
        text += " in " + " <- ".join(f"{f[0]}:{f[1]}" for f in reversed(chain))
    return text
