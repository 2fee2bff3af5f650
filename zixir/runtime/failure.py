"""Failure policy around one Python call: the call policy, circuit breakers, retries.

    WorkerPool.call(module, function, ...)
      |
      v
    FailurePolicy.run(module, function, attempt, retries)
      route cache (module, function) -> attempts; first call: policy.check --> PolicyDenied
      for each attempt (tenacity: exponential backoff with jitter; idempotent calls only):
        breakers.admit (a dict lookup while the circuit is clean) ---------> CircuitOpen
        attempt() -> result, or a typed fault
          | Overloaded / RestartLimitExceeded before any worker ran it: the admission is
          |   released, nothing is counted
          | otherwise breakers.record(outcome): crashes, timeouts and protocol errors always
          |   count (a crash caused by a call is charged here, not to the worker supervisor)
      an open circuit, a policy refusal or an exhausted restart budget stops the retries

State: the route cache is owned by `_lock`; breakers keep their own locks (`breaker.py`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from zixir.lang.errors import (
    CircuitOpen,
    Overloaded,
    PolicyDenied,
    RestartLimitExceeded,
    ZixirRuntimeError,
)
from zixir.observe import metrics

from .breaker import Breakers
from .config import RuntimeConfig
from .events import NullLog
from .stats import Stats

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

    def run(self, module: str, function: str, attempt: Callable[[], Any],
            retries: int | None = None) -> Any:
        with self._lock:
            attempts = self._routes.get((module, function))
        if attempts is None:
            attempts = self._route(module, function)
        if retries is not None:
            attempts = retries
        if attempts <= 1:
            return self._guarded(module, function, attempt)
        return self._retrying(module, function, attempt, attempts)

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

    def _guarded(self, module: str, function: str, attempt: Callable[[], Any]) -> Any:
        try:
            ticket = self.breakers.admit(module, function)
        except CircuitOpen as e:
            self.stats.count("refused.circuit_open")
            self.log.info("call.refused", module=module, function=function, reason="circuit",
                          retry_after=e.retry_after)
            raise
        try:
            result = attempt()
        except NOT_RUN:
            self.breakers.release(ticket)
            raise
        except NotSent as e:
            self.breakers.release(ticket)
            raise e.error from None
        except BaseException as e:
            self.breakers.record(ticket, e)
            raise
        self.breakers.record(ticket, None)
        return result

    def _retrying(self, module: str, function: str, attempt: Callable[[], Any],
                  attempts: int) -> Any:
        import tenacity  # only idempotent calls retry: most processes never import it

        def before_sleep(state: tenacity.RetryCallState) -> None:
            self.stats.count("retries")
            metrics.retry(module, function)
            self.log.info("call.retry", module=module, function=function,
                          attempt=state.attempt_number,
                          error=repr(state.outcome.exception()) if state.outcome else None)

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(attempts),
            wait=tenacity.wait_exponential_jitter(initial=self.config.retry_backoff,
                                                  max=self.config.retry_backoff_max),
            retry=tenacity.retry_if_exception(
                lambda e: isinstance(e, ZixirRuntimeError) and not isinstance(e, _NOT_RETRIED)),
            before_sleep=before_sleep,
            reraise=True,
        )
        return retrying(self._guarded, module, function, attempt)


class NotSent(Exception):
    """Raised by an attempt whose call never reached a worker (its arguments cannot be
    encoded): `error` goes to the caller, the breaker counts nothing."""

    def __init__(self, error: ZixirRuntimeError) -> None:
        super().__init__(error.message)
        self.error = error
