"""The router's limiters and error classification, on their own (no processes)."""

from __future__ import annotations

import threading
import time

import pytest

from zixir.lang.errors import CallTimeout, Overloaded, PythonError, WorkerCrashed
from zixir.runtime.breaker import error_names, matches
from zixir.runtime.failure import FailurePolicy
from zixir.runtime.limits import Slots, TokenBucket
from zixir.runtime.modules import ModulePolicies, Rate


def test_token_bucket_spaces_calls_and_refuses_beyond_the_deadline():
    bucket = TokenBucket(Rate(20, 1.0))  # one call every 50 ms
    started = time.monotonic()
    for _ in range(5):
        bucket.take(started + 10, "m.f")
    assert time.monotonic() - started >= 4 * 0.05 * 0.9
    with pytest.raises(Overloaded, match="rate-limit token"):
        bucket.take(time.monotonic(), "m.f")  # the next token is 50 ms away: refused at once


def test_sends_are_spaced_even_when_their_tokens_were_taken_long_before():
    """Calls that took their tokens in turn, then waited together (for a slot, or for a
    worker busy importing the module), are sent one interval apart, not as a burst."""
    bucket = TokenBucket(Rate(20, 1.0))
    for _ in range(4):
        bucket.take(time.monotonic() + 10, "m.f")
    time.sleep(0.3)  # every token is in the past now
    started = time.monotonic()
    for _ in range(4):
        bucket.pace(time.monotonic() + 10, "m.f")
    assert time.monotonic() - started >= 3 * 0.05 * 0.9
    with pytest.raises(Overloaded, match="could not be sent within its wait_timeout"):
        bucket.pace(time.monotonic(), "m.f")


def waiting(slots: Slots, count: int) -> None:
    deadline = time.monotonic() + 10
    while slots.waiting != count:
        assert time.monotonic() < deadline, f"{count} waiting: not within 10 s"
        time.sleep(0.005)


def test_slots_hand_over_in_order_and_time_out():
    slots = Slots(1, max_waiting=2)
    slots.acquire(time.monotonic() + 1, "m.f")
    order = []

    def wait(name):
        slots.acquire(time.monotonic() + 5, "m.f")
        order.append(name)
        slots.release()

    first = threading.Thread(target=wait, args=("first",))
    first.start()
    waiting(slots, 1)  # each waits before the next arrives: the order is known
    second = threading.Thread(target=wait, args=("second",))
    second.start()
    waiting(slots, 2)
    with pytest.raises(Overloaded, match="max_queue 2"):
        slots.acquire(time.monotonic() + 1, "m.f")
    slots.release()
    first.join(5)
    second.join(5)
    assert order == ["first", "second"] and slots.held == 0
    slots.acquire(time.monotonic() + 1, "m.f")
    with pytest.raises(Overloaded, match="concurrency slot"):
        slots.acquire(time.monotonic() + 0.05, "m.f")
    assert slots.waiting == 0


def python_error(*types, retry_after=None):
    error = PythonError("x", exc_type=types[0].rsplit(".", 1)[-1])
    error.exc_types = types
    error.retry_after = retry_after
    return error


def test_errors_match_by_qualified_name_and_bases():
    limited = python_error("llm.errors.RateLimited", "llm.errors.LLMError", "Exception")
    assert matches(error_names(limited), ("llm.RateLimited",))
    assert matches(error_names(limited), ("RateLimited",))
    assert matches(error_names(limited), ("llm.errors.LLMError",))
    assert not matches(error_names(limited), ("other.RateLimited", "TimeoutError"))
    assert matches(error_names(CallTimeout("slow")), ("TimeoutError",))
    assert matches(error_names(python_error("TimeoutError", "OSError")), ("OSError",))


def test_retry_classification_and_retry_after():
    policies = ModulePolicies({"llm": {"retries": {"attempts": 3, "on": ["llm.RateLimited"],
                                                   "max_wait": 1.0}}})
    settings = policies.settings_for("llm", "complete")
    assert FailurePolicy.retryable(python_error("llm.RateLimited"), settings)
    assert not FailurePolicy.retryable(python_error("ValueError"), settings)
    assert FailurePolicy.retryable(WorkerCrashed("died"), settings)
    assert not FailurePolicy.retryable(Overloaded("busy"), settings)


def test_retry_waits_at_least_retry_after_and_gives_up_beyond_max_wait():
    from zixir.runtime.config import RuntimeConfig

    config = RuntimeConfig(workers=1, allow_all=True, modules={"llm": {"retries": {
        "attempts": 3, "on": ["llm.RateLimited"], "initial": 0.001, "max_wait": 1.0}}})
    failures = FailurePolicy(config)
    settings = config.module_policies().settings_for("llm", "complete")
    calls = []

    def attempt(retry_after):
        def run(readmit):
            calls.append(time.monotonic())
            if len(calls) == 1:
                raise python_error("llm.RateLimited", retry_after=retry_after)
            return "ok"
        return run

    assert failures.run("llm", "complete", attempt(0.3), settings=settings) == "ok"
    assert calls[1] - calls[0] >= 0.3
    calls.clear()
    with pytest.raises(PythonError):  # the server asks for 5 s, max_wait is 1 s: no retry
        failures.run("llm", "complete", attempt(5.0), settings=settings)
    assert len(calls) == 1


def _waits(monkeypatch, retries: dict, error, attempts_made: list | None = None) -> list[float]:
    """The waits between the attempts of one call that always fails with `error`."""
    from zixir.lang import fibers
    from zixir.runtime.config import RuntimeConfig

    waits: list[float] = []
    monkeypatch.setattr(fibers, "sleep", waits.append)
    config = RuntimeConfig(workers=1, allow_all=True, modules={"llm": {"retries": retries}})
    failures = FailurePolicy(config)

    def attempt(readmit):
        if attempts_made is not None:
            attempts_made.append(1)
        raise error

    with pytest.raises(type(error)):
        failures.run("llm", "complete", attempt,
                     settings=config.module_policies().settings_for("llm", "complete"))
    return waits


def test_backoff_is_exponential_with_jitter_and_capped_by_max_wait(monkeypatch):
    retries = {"attempts": 6, "on": ["llm.RateLimited"], "initial": 0.1, "max_wait": 0.5}
    error = python_error("llm.RateLimited")
    made: list = []
    first = _waits(monkeypatch, retries, error, made)
    assert len(made) == 6 and len(first) == 5
    # attempt n waits between half and all of min(initial * 2 ** (n - 1), max_wait)
    for wait, full in zip(first, [0.1, 0.2, 0.4, 0.5, 0.5], strict=True):
        assert full / 2 <= wait <= full, first
    second = _waits(monkeypatch, retries, error)
    assert first != second  # jitter: two calls do not retry in lockstep
    fixed = _waits(monkeypatch, {**retries, "backoff": "fixed"}, error)
    assert all(0.05 <= w <= 0.1 for w in fixed), fixed
    # a retry_after above the backoff sets the wait (plus up to 10% jitter)
    slow = _waits(monkeypatch, {**retries, "attempts": 3},
                  python_error("llm.RateLimited", retry_after=0.3))
    assert len(slow) == 2 and all(0.3 <= w <= 0.33 for w in slow), slow


def test_retries_only_what_on_names_and_a_crash(monkeypatch):
    retries = {"attempts": 4, "on": ["llm.RateLimited"], "initial": 0.01}
    made: list = []
    _waits(monkeypatch, retries, python_error("ValueError", "Exception"), made)
    assert len(made) == 1  # not named: no retry
    made.clear()
    _waits(monkeypatch, retries, python_error("llm.errors.RateLimited", "Exception"), made)
    assert len(made) == 4  # a subclass in a submodule of llm: retried
    made.clear()
    _waits(monkeypatch, retries, WorkerCrashed("died"), made)
    assert len(made) == 4  # a crash is always retried


def test_an_open_breaker_stops_the_retries(monkeypatch):
    from zixir.lang import fibers
    from zixir.runtime.config import RuntimeConfig

    monkeypatch.setattr(fibers, "sleep", lambda s: None)
    config = RuntimeConfig(workers=1, allow_all=True, modules={"llm": {
        "retries": {"attempts": 10, "on": ["llm.Down"]},
        "breaker": {"failures": 3, "reset_after": 60, "on": ["llm.Down"]}}})
    failures = FailurePolicy(config)
    settings = config.module_policies().settings_for("llm", "complete")
    made: list = []

    def attempt(readmit):
        made.append(1)
        raise python_error("llm.Down")

    with pytest.raises(PythonError):
        failures.run("llm", "complete", attempt, settings=settings)
    assert len(made) == 3  # each attempt counted; the third opened the circuit
    from zixir.lang.errors import CircuitOpen

    with pytest.raises(CircuitOpen):
        failures.run("llm", "complete", attempt, settings=settings)
    assert len(made) == 3


@pytest.mark.parametrize("modules, message", [
    ({"llm": {"rate": "fast"}}, "modules.llm.rate: must be a rate such as"),
    ({"llm": {"retries": {"on": "llm.Down"}}}, "modules.llm.retries.on: must be a list"),
    ({"llm": {"breaker": {"failures": 0}}}, "modules.llm.breaker.failures: must be positive"),
    ({"llm": {"concurency": 2}}, "modules.llm.concurency: unknown key (known: concurrency"),
    ({"llm": 5}, "modules.llm: must be a table"),
])
def test_runtime_modules_keyword_is_validated_with_a_typed_error(modules, message):
    from zixir import Runtime
    from zixir.lang.errors import ZixirError
    from zixir.runtime.modules import ModuleSettingsError

    with pytest.raises(ModuleSettingsError) as info:
        Runtime(modules=modules)  # refused before any process starts
    assert isinstance(info.value, ZixirError) and isinstance(info.value, ValueError)
    assert str(info.value).startswith(message), str(info.value)
