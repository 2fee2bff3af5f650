"""Zixir values as the Debug Adapter Protocol shows them.

A value is shown in Zixir literal syntax (`[1, "a", {"k": nil}]`), shortened when long;
lists, ranges and maps get a `variablesReference` so they can be expanded. References are
handed out per stop and forgotten when the program resumes (`Handles.clear`), as the protocol
requires.
"""

from __future__ import annotations

import threading
from typing import Any

from ..lang.values import ZRange, quote, to_literal, type_name

PREVIEW_CHARS = 240


class Handles:
    """`variablesReference` numbers for the values and scopes of the current stop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[int, Any] = {}
        self._next = 1

    def add(self, item: Any) -> int:
        with self._lock:
            ref = self._next
            self._next += 1
            self._items[ref] = item
            return ref

    def get(self, ref: int) -> Any:
        with self._lock:
            return self._items.get(ref)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def is_container(value: Any) -> bool:
    return isinstance(value, (list, dict, ZRange))


def preview(value: Any, limit: int = PREVIEW_CHARS) -> str:
    """Zixir literal syntax, cut with `...` once longer than about `limit` characters."""
    parts: list[str] = []
    budget = [limit]

    def emit(text: str) -> bool:
        parts.append(text)
        budget[0] -= len(text)
        return budget[0] > 0

    def walk(v: Any, depth: int) -> bool:
        t = type(v)
        if t is ZRange or isinstance(v, list):
            if depth > 50:
                return emit("[...]")
            if not emit("["):
                return False
            for i, item in enumerate(v):
                if i and not emit(", "):
                    return False
                if not walk(item, depth + 1):
                    return False
            return emit("]")
        if isinstance(v, dict):
            if depth > 50:
                return emit("{...}")
            if not emit("{"):
                return False
            for i, (k, item) in enumerate(v.items()):
                if (i and not emit(", ")) or not emit(f"{quote(str(k))}: "):
                    return False
                if not walk(item, depth + 1):
                    return False
            return emit("}")
        return emit(to_literal(v))  # a scalar: no nesting to cut

    if not walk(value, 0):
        text = "".join(parts)
        return text[:limit] + "..."
    return "".join(parts)


def children(value: Any, start: int = 0, count: int | None = None) -> list[tuple[str, str, Any]]:
    """(shown name, evaluate suffix, value) of a container's elements, `start`/`count` paged."""
    if isinstance(value, dict):
        items = list(value.items())
        end = len(items) if not count else min(len(items), start + count)
        return [(quote(str(k)), f"[{quote(str(k))}]", v) for k, v in items[start:end]]
    n = len(value)
    end = n if not count else min(n, start + count)
    if isinstance(value, ZRange):
        return [(f"[{i}]", f"[{i}]", value.start + i * value.step) for i in range(start, end)]
    return [(f"[{i}]", f"[{i}]", value[i]) for i in range(start, end)]


def describe(value: Any) -> dict[str, Any]:
    """The protocol fields for a value, without its reference: value, type, counts."""
    out: dict[str, Any] = {"value": preview(value), "type": type_name(value)}
    if isinstance(value, dict):
        out["namedVariables"] = len(value)
    elif is_container(value):
        out["indexedVariables"] = len(value)
    return out
