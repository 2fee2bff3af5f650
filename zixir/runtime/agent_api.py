"""`Runtime.agents`: the agents of a runtime, from the host program.

    rt.agents.start("counter", "mymod", "Counter", args=(1,), restart="transient",
                    checkpoint=10)                      -> "counter"
    rt.agents.call("counter", "add", 2)                 -> the method's result
    rt.agents.status("counter") / rt.agents.list()      -> {name, class, pid, status, ...}
    rt.agents.stop("counter")                           -> True if it was running

Every operation is one request to the router, which owns the agents (zixir.runtime.agents);
errors are the typed faults of Python calls plus `AgentError` and `AgentDeadlock`.
"""

from __future__ import annotations

from typing import Any


class RuntimeAgents:
    def __init__(self, runtime: Any) -> None:
        self._runtime = runtime

    def _op(self, op: str, args: list) -> Any:
        return self._runtime._request("agent", [op, args])

    def start(self, name: str, module: str, cls: str, args: list | tuple = (),
              kwargs: dict | None = None, restart: str = "permanent",
              checkpoint: str | int = "call") -> str:
        """Start `module.cls(*args, **kwargs)` as the agent `name` in a process of its own.
        `restart`: "permanent", "transient" or "temporary"; `checkpoint`: "call" (snapshot
        after every call), N (every N calls) or "never"."""
        return self._op("start", [name, module, cls, list(args),
                                  {"kwargs": kwargs or {}, "restart": restart,
                                   "checkpoint": checkpoint}])

    def call(self, name: str, method: str, *args: Any, timeout: float | None = None,
             **kwargs: Any) -> Any:
        """`method(*args, **kwargs)` of agent `name`, after the calls that arrived before."""
        return self._op("call", [name, method, list(args), kwargs, timeout])

    def stop(self, name: str) -> bool:
        return self._op("stop", [name])

    def status(self, name: str) -> dict:
        return self._op("status", [name])

    def list(self) -> list[dict]:
        return self._op("list", [])
