"""Fan-out against a real HTTP server on 127.0.0.1 (the example's fake model server, started
by the test): rate limits, retries, 429s, 500s, outages and the breaker, crashes, Overloaded.
The client is `model_client.score` (aiohttp, `async def`), called through Zixir programs and
the Runtime API."""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from zixir.lang.errors import CircuitOpen, Overloaded, PythonError

from .fanout_support import expected_score, fan_out

TEXTS = ["hello", "world", "zixir", "evaluation", "queue", "rhythm", "aeiou", "fan out"]


def examples(n: int) -> list[tuple[str, str]]:
    return [(f"ex{i}", TEXTS[i % len(TEXTS)] + str(i)) for i in range(n)]


def score_all(rt, url: str, items, threads: int = 48) -> list:
    return fan_out(lambda item: rt.call_python("model_client", "score", [url, *item]), items,
                   threads)


def test_every_example_scored_exactly_once(runtime, model_server):
    server = model_server(latency=(0.01, 0.05), error_rate=0.15, seed=7)
    rt = runtime(modules={"model_client": {
        "concurrency": 32,
        "retries": {"attempts": 8, "on": ["model_client.ServerError"], "initial": 0.01,
                    "max_wait": 0.5}}})
    items = examples(300)
    results = score_all(rt, server.url, items)
    assert results == [expected_score(text) for _, text in items]
    stats = server.snapshot()
    assert stats["ok"] == 300 and stats["scored_twice"] == []
    assert stats["errors"] > 0  # the random 500s were there, and retried away
    assert stats["max_in_flight"] <= 32
    assert rt.stats()["router"]["counts"]["retries"] >= stats["errors"]


def test_zixir_program_scores_through_the_async_client(runtime, model_server):
    server = model_server(latency=(0.01, 0.03), error_rate=0.1, seed=3)
    rt = runtime(workers=2, modules={"model_client": {
        "retries": {"attempts": 6, "on": ["model_client.ServerError"], "initial": 0.01}}})
    program = f'''
    let url = "{server.url}"
    let texts = {TEXTS!r}
    let scores = pmap(range(len(texts)), i => python "model_client" "score" (url, i, texts[i]))
    {{scores: scores, mean: round(sum(scores) / len(scores), 4)}}
    '''.replace("'", '"')
    result = rt.eval(program)
    scores = [expected_score(t) for t in TEXTS]
    assert result == {"scores": scores, "mean": round(sum(scores) / len(scores), 4)}
    assert server.snapshot()["ok"] == len(TEXTS)


def test_rate_limit_and_retry_after_absorb_429s(runtime, model_server):
    # the server takes 40 requests a second; the client's limiter allows 60: the extra
    # calls get 429 with Retry-After and are retried no earlier than it says
    server = model_server(latency=(0.005, 0.01), rate=40)
    rt = runtime(modules={"model_client": {
        "rate": "60/s",
        "retries": {"attempts": 10, "on": ["model_client.RateLimited"], "initial": 0.01,
                    "max_wait": 2.0}}})
    items = examples(120)
    started = time.monotonic()
    results = score_all(rt, server.url, items)
    elapsed = time.monotonic() - started
    assert results == [expected_score(text) for _, text in items]
    stats = server.snapshot()
    assert stats["rate_limited"] > 0 and stats["ok"] == 120 and stats["scored_twice"] == []
    assert elapsed > 120 / 40 - 1.5  # bounded by the server's limit, not by the workers
    # every retry of a 429 came no earlier than its Retry-After said (the server's clock)
    retried = 0
    for item_id, _ in items:
        answers = server.history[item_id]
        for (at, status, retry_after), (again, _, _) in itertools.pairwise(answers):
            if status == 429:
                retried += 1
                assert again - at >= retry_after - 0.005, (item_id, answers)
    assert retried == stats["rate_limited"]

    # below the server's limit, the limiter alone keeps every request under it: one bucket
    # for both workers and every caller (one per worker would send 50 a second: 429s)
    server2 = model_server(latency=(0.005, 0.01), rate=40)
    rt2 = runtime(modules={"model_client": {"rate": "25/s"}})
    rt2.call_python("asynclib", "pid")  # the workers are up: calls leave as their tokens come
    started = time.monotonic()
    results = score_all(rt2, server2.url, examples(50))
    elapsed = time.monotonic() - started
    assert all(isinstance(r, float) for r in results), results
    assert server2.snapshot()["rate_limited"] == 0
    assert elapsed >= 49 / 25 * 0.9  # spaced evenly: no burst


def test_outage_opens_the_breaker_and_one_probe_closes_it(runtime, model_server):
    server = model_server(latency=(0.005, 0.01))
    rt = runtime(workers=1, modules={"model_client": {
        "retries": {"attempts": 5, "on": ["model_client.ServiceDown",
                                          "model_client.ServerError"], "initial": 0.01},
        "breaker": {"failures": 3, "reset_after": 1.0, "on": ["model_client.ServiceDown"]}}})
    url = server.url
    assert rt.call_python("model_client", "score", [url, "warm", "up"]) == expected_score("up")
    server.outage = True
    before = server.snapshot()["requests"]
    with pytest.raises(PythonError) as info:
        rt.call_python("model_client", "score", [url, "a", "text"])
    assert info.value.exc_type == "ServiceDown"
    # the breaker counted each attempt and stopped the retries once it opened: 3, not 5
    assert server.snapshot()["requests"] - before == 3
    assert rt.stats()["router"]["breakers"]["model_client"]["state"] == "open"
    started = time.monotonic()
    with pytest.raises(CircuitOpen):
        rt.call_python("model_client", "score", [url, "b", "text"])
    assert time.monotonic() - started < 0.5  # fast: nothing was sent
    assert server.snapshot()["requests"] - before == 3
    server.outage = False
    time.sleep(1.1)  # reset_after: the next call is the one probe
    assert rt.call_python("model_client", "score", [url, "c", "text"]) == expected_score("text")
    assert server.snapshot()["requests"] - before == 4
    assert rt.stats()["router"]["breakers"]["model_client"]["state"] == "closed"


def test_calls_waiting_for_a_token_are_not_sent_once_the_outage_opened_the_breaker(
        runtime, model_server):
    """A pmap admitted 100 calls that wait for their rate tokens; the service goes down at
    the 5th request and the breaker opens at the 3rd failure: the calls still waiting are
    refused with CircuitOpen instead of being sent to the dead service, and the workers they
    held are handed back (a sync call runs at once afterwards)."""
    server = model_server(latency=(0.001, 0.002))
    server.outage_after, server.outage_for = 5, 60.0
    rt = runtime(workers=1, call_timeout=5.0, modules={"model_client": {
        "rate": "200/s",
        "breaker": {"failures": 3, "reset_after": 30, "on": ["model_client.ServiceDown"]}}})
    program = f'''
    let outcomes = pmap(0..100, i => attempt(() => python "model_client" "score" ("{server.url}", i, "text")), 100)
    map(outcomes, o => if o.ok then "ok" else o.error.type)
    '''
    outcomes = rt.eval(program)
    assert len(outcomes) == 100 and outcomes.count("ok") == 4, outcomes
    assert outcomes.count("CircuitOpen") >= 90, outcomes
    assert server.snapshot()["unavailable"] <= 10, server.snapshot()  # 3, and any in flight
    started = time.monotonic()
    assert rt.call_python("asynclib", "block", [0.0]) > 0  # no worker left occupied
    assert time.monotonic() - started < 2.0
    assert rt.stats()["router"]["counts"]["refused.circuit_open"] >= 90


def test_killed_worker_loses_no_retryable_call(runtime, model_server):
    server = model_server(latency=(1.0, 1.0))
    rt = runtime(workers=2, modules={"model_client": {
        "retries": {"attempts": 3, "on": ["model_client.ServerError"], "initial": 0.01}}})
    url = server.url
    rt.call_python("model_client", "score", [url, "warm", "up"])
    pids = rt.pids()["workers"]
    items = examples(60)

    killed = threading.Event()

    def kill_when_loaded() -> None:
        deadline = time.monotonic() + 30
        while server.in_flight < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(pids[0], signal.SIGKILL)  # the router spreads async calls: it has its share
        killed.set()

    killer = threading.Thread(target=kill_when_loaded, daemon=True)
    killer.start()
    results = score_all(rt, url, items, threads=60)
    killer.join(5)
    assert killed.is_set()
    assert results == [expected_score(text) for _, text in items]
    counts = rt.stats()["router"]["counts"]
    assert counts["crashes"] == 1 and counts["retries"] >= 1
    assert pids[0] not in rt.pids()["workers"]


def test_zixir_program_loses_nothing_when_a_worker_with_100_calls_is_killed(runtime,
                                                                          model_server):
    """A Zixir program keeps 200 requests in flight on 2 workers (about 100 each); one worker
    is SIGKILLed: each of its calls fails once with WorkerCrashed and is retried on the
    other worker; the program's result is complete and right. (Each request takes 3 s: on a
    loaded machine sending all 200 can take more than a second, and the kill must come while
    about 100 are in flight on the victim.)"""
    server = model_server(latency=(3.0, 3.0))
    rt = runtime(workers=2, modules={"model_client": {
        "retries": {"attempts": 3, "on": ["model_client.ServerError"], "initial": 0.01}}})
    url = server.url
    rt.eval(f'python "model_client" "score" ("{url}", "warm", "up")')
    victim = rt.pids()["workers"][0]
    items = examples(200)
    rt.memory.put("items", [list(item) for item in items])
    program = (f'pmap(memory.get("items"), item => python "model_client" "score" '
               f'("{url}", item[0], item[1]), 200)')
    outcome: list = []
    runner = threading.Thread(target=lambda: outcome.append(rt.eval(program)))
    runner.start()
    deadline = time.monotonic() + 30
    while server.in_flight < 190 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert server.max_in_flight >= 190, f"{server.max_in_flight} requests in flight at most"
    os.kill(victim, signal.SIGKILL)
    runner.join(60)
    assert outcome == [[expected_score(text) for _, text in items]]
    counts = rt.stats()["router"]["counts"]
    assert counts["crashes"] == 1
    assert counts["retries"] >= 60, counts  # the victim's share of the 200, each moved once
    assert victim not in rt.pids()["workers"]


def test_overloaded_when_no_slot_frees_up_in_time(runtime, model_server):
    server = model_server(latency=(1.5, 1.5))
    rt = runtime(modules={"model_client": {"concurrency": 2, "wait_timeout": 0.3}})
    url = server.url
    rt.call_python("model_client", "score", [url, "warm", "up"])
    started = time.monotonic()
    outcomes = score_all(rt, url, examples(6), threads=6)
    waited = time.monotonic() - started
    refused = [o for o in outcomes if isinstance(o, Overloaded)]
    assert len(refused) == 4 and all("wait_timeout" in o.message for o in refused), outcomes
    assert sum(isinstance(o, float) for o in outcomes) == 2
    assert server.snapshot()["ok"] == 3  # the refused calls never reached the server
    assert waited < 5


def test_overloaded_when_the_queue_is_full(runtime, tmp_path):
    rt = runtime(workers=1, max_queue=2)
    pid = rt.call_python("asynclib", "pid")
    gate = str(tmp_path / "gate")
    # one call holds the only worker until the gate opens and two wait for it, however late
    # each arrives: the other two are refused at once
    with ThreadPoolExecutor(5) as pool:
        calls = [pool.submit(rt.call_python, "asynclib", "held", [gate, 30.0])
                 for _ in range(5)]
        deadline = time.monotonic() + 30
        while sum(c.done() for c in calls) < 2:
            assert time.monotonic() < deadline, "no call was refused"
            time.sleep(0.01)
        open(gate, "w").close()
        outcomes = [c.exception() or c.result() for c in calls]
    refused = [o for o in outcomes if isinstance(o, Overloaded)]
    assert len(refused) == 2 and all("max_queue 2" in o.message for o in refused), outcomes
    assert outcomes.count(pid) == 3, outcomes


def test_router_pool_killed_worker_with_100_calls_in_flight(model_server):
    """The router's call path itself (WorkerPool, what a Zixir program's `python` calls run
    through) with 100 calls in flight on one worker when it is SIGKILLed: each fails once and
    is retried on the other worker; none is lost. (The server finishes the requests the dead
    worker had sent, so those examples are scored again by the retry: at least once.)"""
    from zixir.runtime.config import RuntimeConfig
    from zixir.runtime.pool import WorkerPool

    from .fanout_support import EXAMPLE

    server = model_server(latency=(1.0, 1.0))
    pool = WorkerPool(RuntimeConfig(workers=2, paths=(str(EXAMPLE),), log_level="off",
                                    call_timeout=30, modules={"model_client": {
                                        "retries": {"attempts": 3, "initial": 0.01,
                                                    "on": ["model_client.ServerError"]}}}))
    try:
        pool.start()
        url = server.url
        pool.call("model_client", "score", [url, "warm", "up"])
        victim = pool.worker_pids()[0]
        items = examples(200)

        def kill_when_loaded() -> None:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                with pool._lock:
                    loads = {w.handle.pid: len(w.inflight) for w in pool._live.values()}
                if loads.get(victim, 0) >= 100:
                    os.kill(victim, signal.SIGKILL)
                    return
                time.sleep(0.005)

        killer = threading.Thread(target=kill_when_loaded, daemon=True)
        killer.start()
        results = fan_out(lambda item: pool.call("model_client", "score", [url, *item]),
                          items, threads=200)
        killer.join(5)
        assert results == [expected_score(text) for _, text in items]
        assert victim not in pool.worker_pids()
        counts = pool.stats.snapshot()["counts"]
        assert counts["crashes"] == 1 and counts["retries"] >= 100
        assert set(server.successes) >= {item_id for item_id, _ in items}
    finally:
        pool.close()
