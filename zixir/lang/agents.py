"""`agent.start/call/stop/list/status`: the language surface of agents (LANGUAGE.md section 9).

    Zixir program --agent.X(args)--> AgentSurface (per session)
        checks the arguments, converts Zixir values to plain Python
        --> services.agent(op, args) --> the router's agent registry (zixir.runtime.agents)

The surface only checks shapes (a name is a string, args a list, options a map of known
keys); everything about processes, mailboxes and restarts is the runtime's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import builtins as B
from .errors import AgentError
from .values import ZList, from_python, to_python, type_name

START_OPTIONS = ("kwargs", "restart", "checkpoint")


class AgentSurface:
    """The `_zx_agent_*` functions of one session."""

    def __init__(self, services: Any) -> None:
        self.services = services

    def functions(self) -> dict[str, Callable[..., Any]]:
        return {f"_zx_agent_{name}": getattr(self, name) for name in B.AGENT_MEMBERS}

    def _op(self, op: str, args: list) -> Any:
        agent = getattr(self.services, "agent", None)
        if agent is None:
            raise AgentError(f"agent.{op} needs the zixir runtime")
        return from_python(agent(op, args))

    def start(self, *args: Any) -> Any:
        _arity("start", args)
        name, module, cls = (_string("start", what, v)
                             for what, v in zip(("the name", "the module", "the class"), args[:3],
                                                 strict=True))
        start_args = args[3] if len(args) > 3 else ZList([])
        if not isinstance(start_args, list):
            raise AgentError(f"agent.start: args must be a list, got {type_name(start_args)}")
        options = args[4] if len(args) > 4 else {}
        if type(options) is not dict:
            raise AgentError(f"agent.start: options must be a map, got {type_name(options)}")
        for key in options:
            if key not in START_OPTIONS:
                raise AgentError(f"agent.start: unknown option {key} (expected "
                                 f"{', '.join(START_OPTIONS)})")
        kwargs = options.get("kwargs", {})
        if type(kwargs) is not dict:
            raise AgentError(f"agent.start: kwargs must be a map, got {type_name(kwargs)}")
        plain = {k: to_python(v) for k, v in options.items()}
        return self._op("start", [name, module, cls, to_python(start_args), plain])

    def call(self, *args: Any) -> Any:
        _arity("call", args)
        name = _string("call", "the name", args[0])
        method = _string("call", "the method", args[1])
        call_args = args[2] if len(args) > 2 else ZList([])
        if not isinstance(call_args, list):
            raise AgentError(f"agent.call: args must be a list, got {type_name(call_args)}")
        return self._op("call", [name, method, to_python(call_args)])

    def stop(self, *args: Any) -> Any:
        _arity("stop", args)
        return self._op("stop", [_string("stop", "the name", args[0])])

    def status(self, *args: Any) -> Any:
        _arity("status", args)
        return self._op("status", [_string("status", "the name", args[0])])

    def list(self, *args: Any) -> Any:
        _arity("list", args)
        return self._op("list", [])


def _arity(op: str, args: tuple) -> None:
    member = B.AGENT_MEMBERS[op]
    if not member.min_args <= len(args) <= member.max_args:
        expected = (str(member.min_args) if member.min_args == member.max_args
                    else f"{member.min_args} to {member.max_args}")
        raise AgentError(f"agent.{op} expects {expected} arguments, got {len(args)}")


def _string(op: str, what: str, value: Any) -> str:
    if not isinstance(value, str):
        raise AgentError(f"agent.{op}: {what} must be a string, got {type_name(value)}")
    return value
