"""What the language offers by name, read from the language's own registries.

Built-ins come from `zixir.lang.builtins.BUILTINS`, engine ops from `zixir.engine.OPS`,
keywords from the lexer: completion and hover read them here so that a new
built-in or op shows up in the editor without touching the server. The memory namespace has no
registry of its own; its four members are described below, after LANGUAGE.md section 6.
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
        MemoryMember("put", "memory.put(key: String, value) -> Nil",
                     "Store value under key in the durable store shared by every program."),
        MemoryMember("get", "memory.get(key: String, default?) -> Any",
                     "The value stored under key; default (or an error) when there is none."),
        MemoryMember("delete", "memory.delete(key: String) -> Bool",
                     "Remove key from the durable store; true when it was there."),
        MemoryMember("keys", "memory.keys(prefix: String = \"\") -> [String]",
                     "The keys of the durable store that start with prefix."),
    )
}


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
