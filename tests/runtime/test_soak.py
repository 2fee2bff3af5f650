"""Soak, with the default failure policy: 10,000 calls from 8 threads on 4 workers, 1% of them
killing their worker. Exactly those calls fail, as WorkerCrashed; the runtime never escalates."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import HERE

from zixir.lang.errors import WorkerCrashed, ZixirError
from zixir.runtime import Runtime

CALLS = 10_000


@pytest.mark.timeout(600)
def test_soak_with_defaults_fails_exactly_the_calls_that_crash(no_leaks):
    rng = random.Random(20240611)
    crashing = set(rng.sample(range(CALLS), CALLS // 100))
    outcomes: dict[int, object] = {}
    # only what a test needs: the library's directory and quiet logs; every policy default
    with Runtime(workers=4, paths=(str(HERE),), log_level="off") as rt:
        router_before = rt.pids()["router"]

        def one(i: int):
            try:
                return i, rt.call_python("faultlib", "maybe_crash", [i, i in crashing])
            except ZixirError as e:
                return i, e

        with ThreadPoolExecutor(8) as pool:
            for i, outcome in pool.map(one, range(CALLS)):
                assert i not in outcomes, f"call {i} completed twice"
                outcomes[i] = outcome
        stats = rt.stats()
        router_after = rt.pids()["router"]
    assert len(outcomes) == CALLS  # none lost
    failed = {i for i, outcome in outcomes.items() if not outcome == i}
    assert failed == crashing
    for i in crashing:
        assert isinstance(outcomes[i], WorkerCrashed), (i, outcomes[i])
    router = stats["router"]
    workers = router["workers"]
    assert workers["restarts"] == workers["charged"] == len(crashing)
    assert workers["escalated"] is None
    assert router["breakers"]["faultlib"]["state"] == "closed"
    assert router["counts"]["calls.ok"] == CALLS - len(crashing)
    assert router["counts"]["errors.WorkerCrashed"] == len(crashing)
    assert router_after == router_before  # the router never restarted
    assert stats["supervisor"]["restarts"] == 0 and stats["supervisor"]["escalated"] is None
