"""What the language offers by name, read from the language's own registries.

Built-ins come from `zixir.lang.builtins.BUILTINS`, engine ops from `zixir.engine.OPS`,
keywords from the lexer: completion and hover read them here so that a new
built-in or op shows up in the editor without touching the server. The memory namespace has no
registry of its own; its members are described below, after LANGUAGE.md section 6.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

log = logging.getLogger("zixir.lsp")


#: `NAME.op(...)` always means one of these namespaces (LANGUAGE.md, names), even where a
#: variable of the same name is in scope
NAMESPACES = ("engine", "memory", "agent", "workflow")


@dataclass(frozen=True)
class MemoryMember:
    name: str
    signature: str
    doc: str


MEMORY_MEMBERS: dict[str, MemoryMember] = {
    m.name: m
    for m in (
        MemoryMember("put", "memory.put(key: String, value, ttl?: Float) -> Nil",
                     "Store value under key in the durable store shared by every program; "
                     "with ttl (seconds) the key reads as absent once it has expired."),
        MemoryMember("get", "memory.get(key: String, default?) -> Any",
                     "The value stored under key; default (nil if not given) when there is none."),
        MemoryMember("delete", "memory.delete(key: String) -> Bool",
                     "Remove key from the durable store; true when it was there."),
        MemoryMember("keys", "memory.keys(prefix: String = \"\") -> [String]",
                     "The keys of the durable store that start with prefix."),
        MemoryMember("incr", "memory.incr(key: String, n = 1) -> Int",
                     "Add n to the number under key (absent: 0) atomically; the new value."),
        MemoryMember("cas", "memory.cas(key: String, expected, new) -> Bool",
                     "Set key to new if its value is expected (nil: absent); whether it did."),
        MemoryMember("update", "memory.update(key: String, f, default?) -> Any",
                     "Set key to f(current value, or default) atomically (f runs again on a "
                     "conflict); the new value."),
    )
}


@functools.cache
def workflow_members() -> dict:
    """name -> Member of the `workflow` namespace (signature, doc, arity)."""
    try:
        from zixir.lang.builtins import WORKFLOW_MEMBERS
    except Exception:
        log.exception("cannot load the workflow members")
        return {}
    return dict(WORKFLOW_MEMBERS)


@functools.cache
def agent_members() -> dict:
    """name -> Member of the `agent` namespace (signature, doc, arity)."""
    try:
        from zixir.lang.builtins import AGENT_MEMBERS
    except Exception:
        log.exception("cannot load the agent members")
        return {}
    return dict(AGENT_MEMBERS)


def namespace_members(namespace: str) -> dict:
    """The members of `memory`, `workflow` or `agent` (empty for anything else)."""
    if namespace == "memory":
        return MEMORY_MEMBERS
    if namespace == "agent":
        return agent_members()
    return workflow_members() if namespace == "workflow" else {}


@functools.cache
def builtins() -> dict:
    """name -> Builtin (signature, doc, arity)."""
    try:
        from zixir.lang.builtins import BUILTINS
    except Exception:
        log.exception("cannot load the built-ins registry")
        return {}
    return dict(BUILTINS)


@functools.cache
def engine_ops() -> dict:
    """name -> EngineOp (signature, doc, arity)."""
    try:
        from zixir.engine import OPS
    except Exception:
        log.exception("cannot load the engine op table")
        return {}
    return dict(OPS)


@functools.cache
def keywords() -> tuple[str, ...]:
    from zixir.lang.lexer import KEYWORDS

    return tuple(sorted(KEYWORDS))
