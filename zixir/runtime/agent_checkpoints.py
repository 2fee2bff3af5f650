"""Agent snapshots on their way to the memory store, off the call path.

    Agents (a call returned with a snapshot)        writer thread
    ----------------------------------------        -------------
    put(name, snapshot) --> latest[name] = value -->  memory.put("zixir.agent/NAME", value)
    delete(name) --------> latest[name] = DELETE -->  memory.delete(...)
                           (a newer value replaces      one store round trip per agent and
                            one not yet written)        wake-up, however many calls came

The registry keeps each agent's last snapshot itself and restores a restarted agent from it,
so a call never waits for the store; the store holds the same snapshot a moment later, for
whoever reads the runtime's memory (`memory.get`, the dashboard) and across a router restart.
`flush` waits until everything queued so far is written.
"""

from __future__ import annotations

import threading
from typing import Any

from .events import NullLog

PREFIX = "zixir.agent/"
_DELETE = object()


def state_key(name: str) -> str:
    """The memory-store key of an agent's last snapshot."""
    return f"{PREFIX}{name}"


class CheckpointWriter:
    def __init__(self, memory: Any, log: Any = None) -> None:
        self.memory = memory
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
