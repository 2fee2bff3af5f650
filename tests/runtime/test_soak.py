"""Soak: 10,000 calls across the pool, 1% of them crashing their worker."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

from conftest import make_runtime

from zixir.lang.errors import WorkerCrashed, ZixirError

CALLS = 10_000
BUDGET = 150  # restart intensity for the run: every crash must fit in it


def test_soak_every_call_ends_once_in_a_result_or_a_typed_error(no_leaks):
    rng = random.Random(20240611)
    crashing = set(rng.sample(range(CALLS), CALLS // 100))
    outcomes: dict[int, object] = {}
    with make_runtime(workers=2, restart_intensity=BUDGET, restart_period=600,
                      breaker_fail_max=10_000, log_level="off") as rt:

        def one(i: int):
            try:
                return i, rt.call_python("faultlib", "maybe_crash", [i, i in crashing])
            except ZixirError as e:
                return i, e

        with ThreadPoolExecutor(4) as pool:
            for i, outcome in pool.map(one, range(CALLS)):
                assert i not in outcomes, f"call {i} completed twice"
                outcomes[i] = outcome
        stats = rt.stats()["router"]
    assert len(outcomes) == CALLS  # none lost
    for i, outcome in outcomes.items():
        if i in crashing:
            assert isinstance(outcome, WorkerCrashed), (i, outcome)
        else:
            assert outcome == i, (i, outcome)  # a result, and the right one
    workers = stats["workers"]
    assert workers["restarts"] == len(crashing) <= BUDGET
    assert workers["escalated"] is None
    assert stats["counts"]["calls.ok"] == CALLS - len(crashing)
    assert stats["counts"]["errors.WorkerCrashed"] == len(crashing)
