"""Linear `xs = append(xs, x)` and `m = put(m, k, v)` without giving up immutable values.

The compiler rewrites those two statement shapes (a variable updated with the built-in applied
to itself) into `append_owned(append, xs, x, xs)` / `put_owned(put, m, k, v, m)`. The C module
`_owned` (native/owned_update.c) mutates the collection in place only when its reference count
shows that the variable is its sole holder, so no alias, closure, container, loop or caller can
ever see the change; otherwise it calls the copying built-in. Everything else about the call
(evaluation order, errors, a rebound `append`) is the built-in's.

The reference count a sole holder gives depends on how CPython passes arguments, so it is
measured here, with the exact call shape the compiler emits, for a local, a global and a
captured variable; if the three disagree or an alias is not visible, the fast path stays off.
Without the C module (no compiler at install time) both functions just call the built-in.
"""

from __future__ import annotations

from typing import Any

from .builtins import builtin_append, builtin_put
from .values import ZList

try:
    from . import _owned
except ImportError:  # pragma: no cover - built by setup.py wherever a C compiler exists
    _owned = None


def _append_copying(fn: Any, xs: Any, x: Any, again: Any) -> Any:
    return fn(xs, x)


def _put_copying(fn: Any, m: Any, k: Any, v: Any, again: Any) -> Any:
    return fn(m, k, v)


def _measure(refs: Any) -> int:
    """The reference count of a value held by exactly one variable, in the emitted call shape;
    -1 when the shapes disagree (then in-place updates stay off)."""
    namespace: dict[str, Any] = {"ZList": ZList, "refs": refs}
    exec(
        "def local():\n"
        "    xs = ZList()\n"
        "    return refs(None, xs, None, xs)\n"
        "def aliased():\n"
        "    xs = ZList()\n"
        "    ys = xs\n"
        "    return refs(None, xs, None, xs), ys\n"
        "def captured():\n"
        "    xs = ZList()\n"
        "    def inner():\n"
        "        return xs\n"
        "    return refs(None, xs, None, xs)\n"
        "def outer():\n"
        "    xs = ZList()\n"
        "    def inner():\n"
        "        nonlocal xs\n"
        "        return refs(None, xs, None, xs)\n"
        "    return inner()\n"
        "gxs = ZList()\n"
        "def from_global():\n"
        "    return refs(None, gxs, None, gxs)\n",
        namespace)
    counts = [namespace[name]() for name in ("local", "captured", "outer", "from_global")]
    for _ in range(10):  # again once the code is specialised
        counts += [namespace[name]() for name in ("local", "captured", "outer", "from_global")]
    alias = namespace["aliased"]()[0]
    if len(set(counts)) != 1 or alias != counts[0] + 1:
        return -1
    return counts[0]


if _owned is not None:
    EXPECTED_REFS = _measure(_owned.refs)
    _owned.configure(ZList, builtin_append, builtin_put, EXPECTED_REFS)
    append_owned = _owned.append_owned
    put_owned = _owned.put_owned
else:  # pragma: no cover
    EXPECTED_REFS = -1
    append_owned = _append_copying
    put_owned = _put_copying

#: whether the in-place path is on in this interpreter (tests and benchmarks report it)
ENABLED = EXPECTED_REFS > 0
