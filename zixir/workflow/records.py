"""Run and step records and the transitions between their states (pure functions, no I/O).

    run:       running --> done        (f returned; its result is stored)
                       --> failed      (a step or f raised; re-running resumes)
                       --> waiting     (an approval is pending; re-running resumes)
               done is final until `zixir workflow reset`.
    step:      running --> done | failed            (step, map, dag steps)
    approval:  (absent) --> waiting --> approved | rejected      (by a person, from the CLI)
                (absent) ----------> approved | rejected         (decided before it was reached)

Records are plain dicts (stored as msgpack); every transition returns a new dict.
"""

from __future__ import annotations

from typing import Any

from zixir.lang.errors import WorkflowError, ZixirError
from zixir.lang.rescue import error_message, error_type

FINAL_STEP = ("done", "approved")


def error_record(exc: BaseException) -> dict:
    """What a failed step or run keeps of its error: type, message, position, call chain."""
    if isinstance(exc, ZixirError):  # typed as `try/rescue` names it ("RuntimeError", ...)
        return {"type": error_type(exc), "message": error_message(exc), "line": exc.line,
                "column": exc.column,
                "call_chain": [[f.function, f.line, f.column] for f in exc.call_chain]}
    return {"type": type(exc).__name__, "message": str(exc), "line": None, "column": None,
            "call_chain": []}


def run_started(old: dict | None, name: str, key: str, now: float) -> dict:
    old = old or {}
    return {"name": name, "key": key, "status": "running", "started": old.get("started", now),
            "updated": now, "runs": old.get("runs", 0) + 1, "result": None, "error": None,
            "waiting_for": None}


def run_finished(run: dict, result: Any, now: float) -> dict:
    return {**run, "status": "done", "updated": now, "result": result}


def run_failed(run: dict, error: dict, now: float) -> dict:
    return {**run, "status": "failed", "updated": now, "error": error}


def run_waiting(run: dict, step: str, now: float) -> dict:
    return {**run, "status": "waiting", "updated": now, "waiting_for": step}


def step_started(old: dict | None, kind: str, now: float) -> dict:
    old = old or {}
    return {"kind": kind, "status": "running", "started": now, "updated": now,
            "duration": None, "attempts": old.get("attempts", 0), "result": None,
            "error": None}


def step_attempted(step: dict) -> dict:
    return {**step, "attempts": step["attempts"] + 1}


def step_done(step: dict, result: Any, now: float, elements: int | None = None) -> dict:
    done = {**step, "status": "done", "updated": now, "duration": now - step["started"],
            "result": result, "error": None}
    if elements is not None:
        done["elements"] = elements
    return done


def step_failed(step: dict, error: dict, now: float) -> dict:
    return {**step, "status": "failed", "updated": now, "duration": now - step["started"],
            "error": error}


def approval_waiting(old: dict | None, message: str | None, now: float) -> dict:
    if old is not None and old.get("status") in ("approved", "rejected", "waiting"):
        return old
    return {"kind": "approval", "status": "waiting", "started": now, "updated": now,
            "duration": None, "attempts": 0, "result": None, "error": None,
            "message": message, "note": None}


def approval_decided(old: dict | None, step: str, approved: bool, note: str, now: float) -> dict:
    """A person's decision; a step that is not an approval, or one already decided the other
    way, is a `WorkflowError`."""
    status = "approved" if approved else "rejected"
    if old is not None:
        if old.get("kind") != "approval":
            raise WorkflowError(f"Step {step} is not an approval (it is a {old.get('kind')} "
                                f"step)")
        if old.get("status") in ("approved", "rejected") and old["status"] != status:
            raise WorkflowError(f"Step {step} was already {old['status']}")
    base = old or {"kind": "approval", "started": now, "attempts": 0, "message": None}
    return {**base, "status": status, "updated": now, "duration": now - base["started"],
            "note": note, "result": note if approved else None, "error": None}
