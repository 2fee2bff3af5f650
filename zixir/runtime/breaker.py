"""Circuit breakers per Python module (or per module.function), on pybreaker's state machine.

    caller thread                      Breakers (one lock per key)         pybreaker
    -------------                      ---------------------------         ---------
    ticket = admit(module, function)   closed: admit                       state, counters,
      | CircuitOpen (retry_after) <--  open, timeout not over: refuse      opened_at, listeners
      |                                open, timeout over: half-open, this
      |                                  call is the one probe
      |                                half-open, probe in flight: refuse
    ... waits for a rate token, a slot, a worker ...
    readmit(ticket, module, function)  still closed: the same ticket; else
      | CircuitOpen <------------------  as admit (a call the circuit opened on while
                                         it waited is not sent; or it is the probe)
    ... the call runs ...
    record(ticket, error|None) ------> replays the outcome through           -> closed / open
                                       breaker.call (instantly)

pybreaker's own `call` holds its lock for the whole call, which would serialize every call of a
module; here the lock covers only the admission and the bookkeeping, so calls run
concurrently and exactly one probe is admitted in half-open however many calls arrive.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from zixir.lang.errors import (
    CallTimeout,
    CircuitOpen,
    ProtocolError,
    PythonError,
    WorkerCrashed,
)

from .events import NullLog


def _import_pybreaker() -> Any:
    """pybreaker imports tornado and redis whenever they are installed (for async calls and
    Redis storage, neither used here), and with them asyncio and ssl: about 10 MiB more in
    every router. They are hidden while it loads, unless something already loaded them."""
    hidden = [name for name in ("tornado", "redis") if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # import fails: ImportError
    try:
        import pybreaker
    finally:
        for name in hidden:
            if sys.modules.get(name, False) is None:
                del sys.modules[name]
    return pybreaker


pybreaker = _import_pybreaker()

_FAULTS = (WorkerCrashed, CallTimeout, ProtocolError)


def error_names(error: BaseException) -> tuple[str, ...]:
    """The names `retries.on` and `breaker.on` match an error by: a Python exception's
    qualified type names and its bases' (sent by the worker); a zixir fault's class names,
    with CallTimeout also a "TimeoutError"."""
    if isinstance(error, PythonError):
        return error.exc_types or (error.exc_type,)
    names = tuple(k.__name__ for k in type(error).__mro__
                  if k not in (object, BaseException, Exception))
    if isinstance(error, CallTimeout):
        names += ("TimeoutError",)
    return names


def matches(names: tuple[str, ...], wanted: tuple[str, ...]) -> bool:
    """Does a type named in `names` match a name in `wanted`? "llm.RateLimited" matches the
    class RateLimited of module llm or of a submodule (llm.errors); "RateLimited" matches that
    class in any module."""
    for name in names:
        module, _, cls = name.rpartition(".")
        for w in wanted:
            if w == name or w == cls:
                return True
            w_module, _, w_cls = w.rpartition(".")
            if w_cls == cls and w_module and (module == w_module
                                              or module.startswith(w_module + ".")):
                return True
    return False


@dataclass(frozen=True, slots=True)
class Ticket:
    key: str
    probe: bool


class _Listener(pybreaker.CircuitBreakerListener):
    def __init__(self, key: str, log: Any, counts: dict) -> None:
        self.key, self.log, self.counts = key, log, counts

    def state_change(self, cb, old_state, new_state) -> None:
        old = old_state.name if old_state is not None else None
        self.counts["transitions"] = self.counts.get("transitions", 0) + 1
        self.log.warning("breaker.state", breaker=self.key, old=old, new=new_state.name)


class _Replay(Exception):
    pass


def _replay(error: BaseException | None) -> None:
    if error is not None:
        raise _Replay(str(error))


class _Breaker:
    def __init__(self, key: str, fail_max: int, reset_timeout: float, log: Any,
                 on: tuple[str, ...] = ()) -> None:
        self.key = key
        self.on = on  # Python exception types that count (names, as in zixir.toml)
        self.lock = threading.Lock()
        self.probe_in_flight = False
        self.clean = True  # closed and no failure counted (read without the lock)
        self.counts: dict[str, int] = {}
        self.ticket = Ticket(key, False)  # the ticket of every call while the circuit is clean
        self.cb = pybreaker.CircuitBreaker(
            fail_max=fail_max, reset_timeout=reset_timeout, name=key,
            listeners=[_Listener(key, log, self.counts)],
        )

    def remaining_open(self) -> float:
        opened_at = self.cb._state_storage.opened_at
        if opened_at is None:
            return 0.0
        elapsed = (datetime.now(UTC) - opened_at).total_seconds()
        return max(0.0, self.cb.reset_timeout - elapsed)


class Breakers:
    def __init__(self, fail_max: int = 5, reset_timeout: float = 30.0, per_function: bool = False,
                 counts_python_errors: bool = False, log: Any = None) -> None:
        self.fail_max = fail_max
        self.reset_timeout = reset_timeout
        self.per_function = per_function
        self.counts_python_errors = counts_python_errors
        self.log = log or NullLog()
        self._breakers: dict[str, _Breaker] = {}
        self._lock = threading.Lock()
        #: called (under the breaker's lock) when a breaker leaves or regains the clean
        #: state; the direct path (direct.py) takes its leases back then
        self.on_change: Any = None

    def _get(self, key: str, settings: Any = None) -> _Breaker:
        """The breaker of `key`, made on first use with the module's `breaker` settings
        (failures, reset_after, on) over the runtime's defaults."""
        b = self._breakers.get(key)
        if b is None:
            with self._lock:
                b = self._breakers.get(key)
                if b is None:
                    fail_max = getattr(settings, "failures", None) or self.fail_max
                    reset = getattr(settings, "reset_after", None) or self.reset_timeout
                    b = self._breakers[key] = _Breaker(key, fail_max, reset, self.log,
                                                       tuple(getattr(settings, "on", ()) or ()))
        return b

    def is_open(self, module: str, function: str) -> bool:
        """The circuit of module.function is open (a retry would be refused)."""
        b = self._breakers.get(self.key(module, function))
        return b is not None and not b.clean and b.cb.current_state == pybreaker.STATE_OPEN

    def key(self, module: str, function: str) -> str:
        return f"{module}.{function}" if self.per_function else module

    def admit(self, module: str, function: str, settings: Any = None) -> Ticket:
        key = f"{module}.{function}" if self.per_function else module
        b = self._breakers.get(key) or self._get(key, settings)
        if b.clean:  # closed with no failure counted: nothing to decide
            return b.ticket
        with b.lock:
            state = b.cb.current_state
            if state == pybreaker.STATE_OPEN:
                remaining = b.remaining_open()
                if remaining > 0:
                    raise CircuitOpen(
                        f"the circuit for {key} is open after repeated failures; "
                        f"next probe in {remaining:.1f} s", retry_after=remaining)
                b.cb.half_open()
                b.clean = False  # it was not clean while open
                state = pybreaker.STATE_HALF_OPEN
                b.probe_in_flight = False
            if state == pybreaker.STATE_HALF_OPEN:
                if b.probe_in_flight:
                    raise CircuitOpen(f"the circuit for {key} is half-open and its probe call "
                                      "is still running", retry_after=0.0)
                b.probe_in_flight = True
                return Ticket(key, True)
            return Ticket(key, False)

    def readmit(self, ticket: Ticket, module: str, function: str, settings: Any = None
                ) -> Ticket:
        """Admit again a call that was admitted, then waited for a rate token, a slot or a
        worker: if its circuit opened meanwhile, it is refused like a new call (CircuitOpen,
        nothing sent to a service the breaker found down) or, once the open time is over,
        becomes the one probe. Returns the ticket the call runs under."""
        if ticket.probe:
            return ticket
        b = self._breakers.get(ticket.key)
        if b is None or b.clean or b.cb.current_state == pybreaker.STATE_CLOSED:
            return ticket
        return self.admit(module, function, settings)

    def counts_as_failure(self, error: BaseException, on: tuple[str, ...] = ()) -> bool:
        if isinstance(error, _FAULTS):
            return True
        if isinstance(error, PythonError):
            return (self.counts_python_errors or error.exc_type == "MemoryError"
                    or bool(on and matches(error_names(error), on)))
        return False

    def record(self, ticket: Ticket, error: BaseException | None) -> None:
        """The outcome of an admitted call."""
        if error is None and not ticket.probe:
            b = self._breakers.get(ticket.key)
            if b is not None and b.clean:
                return
        b = self._breakers.get(ticket.key) or self._get(ticket.key)
        if b.clean and not ticket.probe and (error is None
                                             or not self.counts_as_failure(error, b.on)):
            return
        with b.lock:
            state = b.cb.current_state
            if ticket.probe:
                b.probe_in_flight = False
                if state != pybreaker.STATE_HALF_OPEN:
                    return
            elif state != pybreaker.STATE_CLOSED:
                return  # admitted before the circuit opened: stale
            failure = error if error is not None and self.counts_as_failure(error, b.on) \
                else None
            try:
                b.cb.call(_replay, failure)
            except (_Replay, pybreaker.CircuitBreakerError):
                pass
            was = b.clean
            b.clean = b.cb.current_state == pybreaker.STATE_CLOSED and b.cb.fail_counter == 0
            if b.clean != was and self.on_change is not None:
                self.on_change(b.key)

    def release(self, ticket: Ticket) -> None:
        """An admitted call that never reached a worker (refused by the queue, say)."""
        if ticket.probe:
            b = self._get(ticket.key)
            with b.lock:
                b.probe_in_flight = False

    def state(self, module: str, function: str) -> str:
        b = self._breakers.get(self.key(module, function))
        return b.cb.current_state if b is not None else pybreaker.STATE_CLOSED

    def states(self) -> dict[str, dict]:
        out = {}
        for key, b in list(self._breakers.items()):
            out[key] = {
                "state": b.cb.current_state,
                "failures": b.cb.fail_counter,
                "transitions": b.counts.get("transitions", 0),
                "retry_after": round(b.remaining_open(), 3)
                if b.cb.current_state == pybreaker.STATE_OPEN else 0.0,
            }
        return out
