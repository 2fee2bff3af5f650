"""Workflow steps as the observers see them: one metric sample and one span per step.

    engine: with observed_step(workflow, key, step, kind) as obs:
                stored result? obs.cached(); return it
                ... run the step ...
            --> metrics.step_finished(workflow, kind, outcome, seconds)
                kind: step, map, approval
                outcome: done, cached, failed, waiting (an approval is pending)
            --> span "workflow.step STEP" (workflow, key, step, kind, outcome)
"""

from __future__ import annotations

import time
from typing import Any

from . import metrics, tracing


class observed_step:
    __slots__ = ("workflow", "key", "step", "kind", "outcome", "started", "span")

    def __init__(self, workflow: str, key: str, step: str, kind: str) -> None:
        self.workflow, self.key, self.step, self.kind = workflow, key, step, kind
        self.outcome: str | None = None
        self.started = 0.0
        self.span: Any = None

    def cached(self) -> None:
        """The step's stored result is returned: nothing runs."""
        self.outcome = "cached"

    def __enter__(self) -> observed_step:
        self.started = time.perf_counter()
        if tracing.ENABLED:
            self.span = tracing.span(f"workflow.step {self.step}", {
                "zixir.workflow": self.workflow, "zixir.workflow.key": self.key,
                "zixir.workflow.step": self.step, "zixir.workflow.kind": self.kind})
            self.span.__enter__()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc is None:
            outcome = self.outcome or "done"
        elif type(exc).__name__ == "WorkflowWaiting":
            outcome = "waiting"
            exc_type = exc = tb = None  # waiting for a person is not an error of the span
        else:
            outcome = "failed"
        metrics.step_finished(self.workflow, self.kind, outcome,
                              time.perf_counter() - self.started)
        if self.span is not None:
            self.span.set("zixir.outcome", outcome)
            self.span.__exit__(exc_type, exc, tb)
