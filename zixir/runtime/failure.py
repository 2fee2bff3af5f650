"""Failure policy around one Python call: the call policy, circuit breakers, retries.

    WorkerPool.call(module, function, ..., settings)      (settings: the module's table)
      |
      v
    FailurePolicy.run(module, function, attempt, retries, settings)
      route cache (module, function) -> attempts; first call: policy.check --> PolicyDenied
      for each attempt (tenacity; the waits are fibers.sleep):
        breakers.admit (a dict lookup while the circuit is clean) ---------> CircuitOpen
        attempt(readmit) -> result, or a typed fault (the attempt takes its rate token,
          |  slot and worker itself, see pool.py, then calls readmit(): a circuit that
          |  opened while it waited refuses it, or makes it the probe)
          | Overloaded / RestartLimitExceeded before any worker ran it, or CircuitOpen
          |   from readmit: the admission is released, nothing is counted
          | otherwise breakers.record(outcome): crashes, timeouts and protocol errors always
          |   count, Python exceptions named in breaker.on too (a crash caused by a call is
          |   charged here, not to the worker supervisor)
        classify: retried when attempts remain and the fault is retryable: WorkerCrashed
          always; with `retries.on`, a fault whose type or base is named there; without it
          (idempotent calls), any runtime fault
        backoff: exponential (or fixed) with jitter, at most max_wait; at least the
          exception's `retry_after` (beyond max_wait: no retry)
      an open circuit (checked after each failed attempt), a policy refusal or an
      exhausted restart budget stops the retries at once

State: the route cache is owned by `_lock`; breakers keep their own locks (`breaker.py`).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

from zixir.lang import fibers
from zixir.lang.errors import (
    CircuitOpen,
    Overloaded,
    PolicyDenied,
    PythonError,
    RestartLimitExceeded,
    WorkerCrashed,
    ZixirRuntimeError,
)
from zixir.observe import metrics

from .breaker import Breakers, error_names, matches
from .config import RuntimeConfig
from .events import NullLog
from .modules import ModuleSettings
from .stats import Stats

_DEFAULT = ModuleSettings()

_NOT_RETRIED = (CircuitOpen, PolicyDenied, RestartLimitExceeded)
#: faults raised before the call reached a worker: nothing for the breaker to learn
NOT_RUN = (Overloaded, RestartLimitExceeded)


class FailurePolicy:
    def __init__(self, config: RuntimeConfig, log: Any = None, stats: Stats | None = None
                 ) -> None:
        self.config = config
        self.log = log or NullLog()
        self.stats = stats or Stats()
        self.policy = config.policy()
        self.breakers = Breakers(config.breaker_fail_max, config.breaker_reset_timeout,
                                 config.breaker_per_function, config.breaker_counts_python_errors,
                                 self.log)
        self._routes: dict[tuple[str, str], int] = {}  # (module, function) -> attempts
        self.paths: list[str] = []  # directories whose modules are allowed (the pool's list)
        self._lock = threading.Lock()

    def is_idempotent(self, module: str, function: str) -> bool:
        name = f"{module}.{function}"
        return any(name == r or name.startswith(r + ".") for r in self.config.idempotent)

    def run(self, module: str, function: str, attempt: Callable[[Callable[[], None]], Any],
            retries: int | None = None, settings: ModuleSettings | None = None) -> Any:
        with self._lock:
            attempts = self._routes.get((module, function))
        if attempts is None:
            attempts = self._route(module, function)
        settings = settings or _DEFAULT
        if retries is not None:
            attempts = retries
        elif settings.retries.attempts > 1:
            attempts = max(attempts, settings.retries.attempts)
        if attempts <= 1:
            return self._guarded(module, function, attempt, settings)
        return self._retrying(module, function, attempt, attempts, settings)

    def _route(self, module: str, function: str) -> int:
        """Check a function against the policy once; returns its default attempt count."""
        try:
            self.policy.check(module, function, self.paths)
        except PolicyDenied as e:
            self.stats.count("refused.policy")
            self.log.warning("call.refused", module=module, function=function, reason="policy",
                             message=e.message)
            raise
        attempts = self.config.retry_attempts if self.is_idempotent(module, function) else 1
        with self._lock:
            if len(self._routes) < 100_000:
                self._routes[(module, function)] = attempts
        return attempts

    def _guarded(self, module: str, function: str, attempt: Callable[[Callable[[], None]], Any],
                 settings: ModuleSettings = _DEFAULT) -> Any:
        try:
            ticket = self.breakers.admit(module, function, settings.breaker)
        except CircuitOpen as e:
            self.stats.count("refused.circuit_open")
            self.log.info("call.refused", module=module, function=function, reason="circuit",
                          retry_after=e.retry_after)
            raise
        held = [ticket]

        def readmit() -> None:
            held[0] = self.breakers.readmit(held[0], module, function, settings.breaker)

        try:
            result = attempt(readmit)
        except NOT_RUN:
            self.breakers.release(held[0])
            raise
        except NotSent as e:
            self.breakers.release(held[0])
            raise e.error from None
        except CircuitOpen:  # readmit: the circuit opened while the call waited, not sent
            self.breakers.release(held[0])
            self.stats.count("refused.circuit_open")
            raise
        except BaseException as e:
            if getattr(e, "uncounted", False):  # a crash another call's breaker counted
                self.breakers.release(held[0])
            else:
                self.breakers.record(held[0], e)
            raise
        self.breakers.record(held[0], None)
        return result

    @staticmethod
    def retryable(error: BaseException, settings: ModuleSettings) -> bool:
        if not isinstance(error, ZixirRuntimeError) or isinstance(error, _NOT_RETRIED):
            return False
        if isinstance(error, WorkerCrashed):
            return True  # a worker dying with many calls in flight is rarely each one's fault
        on = settings.retries.on
        if on:
            return matches(error_names(error), on)
        return not isinstance(error, Overloaded) or settings.retries.attempts <= 1

    def _backoff(self, settings: ModuleSettings) -> tuple[str, float, float]:
        r = settings.retries
        if r.attempts > 1 or r.on:  # the module's own retry settings
            return r.backoff, r.initial, r.max_wait
        return "exponential", self.config.retry_backoff, self.config.retry_backoff_max

    def _retrying(self, module: str, function: str,
                  attempt: Callable[[Callable[[], None]], Any],
                  attempts: int, settings: ModuleSettings) -> Any:
        import tenacity  # only calls that may retry import it

        kind, initial, max_wait = self._backoff(settings)

        def retry_after(state: tenacity.RetryCallState) -> float | None:
            error = state.outcome.exception() if state.outcome else None
            return error.retry_after if isinstance(error, PythonError) else None

        def wait(state: tenacity.RetryCallState) -> float:
            n = state.attempt_number
            base = initial if kind == "fixed" else initial * 2 ** (n - 1)
            delay = min(base, max_wait) * (0.5 + random.random() / 2)  # jitter
            after = retry_after(state)
            if after:
                delay = max(delay, after * (1.0 + random.random() / 10))
            return delay

        def stop(state: tenacity.RetryCallState) -> bool:
            if state.attempt_number >= attempts:
                return True
            if self.breakers.is_open(module, function):
                return True  # an open circuit ends the retries at once
            after = retry_after(state)
            return after is not None and after > max_wait

        def before_sleep(state: tenacity.RetryCallState) -> None:
            self.stats.count("retries")
            metrics.retry(module, function)
            self.log.info("call.retry", module=module, function=function,
                          attempt=state.attempt_number,
                          error=repr(state.outcome.exception()) if state.outcome else None)

        retrying = tenacity.Retrying(
            stop=stop, wait=wait, sleep=fibers.sleep,
            retry=tenacity.retry_if_exception(lambda e: self.retryable(e, settings)),
            before_sleep=before_sleep, reraise=True,
        )
        return retrying(self._guarded, module, function, attempt, settings)


class NotSent(Exception):
    """Raised by an attempt whose call never reached a worker (its arguments cannot be
    encoded): `error` goes to the caller, the breaker counts nothing."""

    def __init__(self, error: ZixirRuntimeError) -> None:
        super().__init__(error.message)
        self.error = error
