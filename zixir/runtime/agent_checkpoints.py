"""Agent snapshots on their way to the memory store, off the call path.

    Agents (a call returned with a snapshot)        writer thread
    ----------------------------------------        -------------
    put(name, snapshot) --> latest[name] = value -->  waits INTERVAL (or a flush), then
    delete(name) --------> latest[name] = DELETE -->  memory.put("zixir.agent/NAME", value)
                           (a newer value replaces      / memory.delete(...): one store round
                            one not yet written)        trip per agent per interval, however
                                                        many calls came meanwhile

The registry keeps each agent's last snapshot itself and restores a restarted agent from it,
so a call never waits for the store; the store holds the same snapshot a moment later (at
most INTERVAL after the call, plus the write), for whoever reads the runtime's memory
(`memory.get`, the dashboard) and across a router restart. Writing each snapshot at once
would cost a busy agent a store round trip per call (most of a call's CPU time); the pause
lets the later snapshots of a hot agent replace the earlier ones. `flush` writes at once and
waits until everything queued so far is written.
"""

from __future__ import annotations

import threading
from typing import Any

from .events import NullLog

PREFIX = "zixir.agent/"
#: seconds the writer waits before a write, gathering the snapshots of further calls
INTERVAL = 0.05
_DELETE = object()


def state_key(name: str) -> str:
    """The memory-store key of an agent's last snapshot."""
    return f"{PREFIX}{name}"


class CheckpointWriter:
    def __init__(self, memory: Any, log: Any = None, interval: float = INTERVAL) -> None:
        self.memory = memory
        self.interval = interval
        self._hurry = False  # a flush or close is waiting: no pause before the next write
        self.log = log or NullLog()
        self._cond = threading.Condition()
        self._latest: dict[str, Any] = {}
        self._writing = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self.failures = 0

    def put(self, name: str, snapshot: Any) -> None:
        self._queue(name, snapshot)

    def delete(self, name: str) -> None:
        self._queue(name, _DELETE)

    def _queue(self, name: str, value: Any) -> None:
        with self._cond:
            self._latest[name] = value
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="zixir-agent-checkpoints",
                                                daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def flush(self, timeout: float = 10.0) -> bool:
        with self._cond:
            self._hurry = True
            self._cond.notify_all()
            return self._cond.wait_for(lambda: not self._latest and not self._writing, timeout)

    def close(self, timeout: float = 5.0) -> None:
        self.flush(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._writing = False
                self._cond.notify_all()
                while not self._latest and not self._closed:
                    self._cond.wait()
                if self._closed and not self._latest:
                    return
                self._cond.wait_for(lambda: self._hurry or self._closed, self.interval)
                self._hurry = False
                batch, self._latest = self._latest, {}
                self._writing = True
            for name, value in batch.items():
                try:
                    if value is _DELETE:
                        self.memory.delete(state_key(name))
                    else:
                        self.memory.put(state_key(name), value)
                except Exception as e:  # the store is restarting: the next snapshot is newer
                    self.failures += 1
                    self.log.warning("agent.checkpoint_failed", name=name, error=repr(e))
