"""C versions of the hottest built-ins (`len`, `get`, `slice`, `concat`, `sqrt`, `abs`) and
of the loop helper, for compiled code (native/fast_builtins.c).

They answer the common argument types without a Python frame and pass every other call to the
Python built-in, so behaviour and errors are the built-ins'. The session puts them in its
namespace in place of the Python functions; the registry (builtins.BUILTINS) keeps the Python
functions, which stay the reference. They build new lists the way `values.adopt` does, so they
are used only where `adopt` is (its layout checks passed). Without the C module, or when those
checks fail, everything stays Python.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import builtins as B
from . import support, values

try:
    from . import _fastpath
except ImportError:  # pragma: no cover - built by setup.py wherever a C compiler exists
    _fastpath = None

#: built-in name -> C version, for the session's namespace (empty when unavailable)
BUILTINS: dict[str, Callable[..., Any]] = {}
#: the loop helper (`support.iterate` when the C module is unavailable)
iterate: Callable[[Any], Any] = support.iterate

if _fastpath is not None and values.adopt is not values._list_copy:
    _fastpath.configure(values.ZList, values.ZRange, B.builtin_len, B.builtin_get,
                        B.builtin_slice, B.builtin_concat, support.iterate, B.builtin_sqrt,
                        B.builtin_abs)
    BUILTINS = {"len": _fastpath.len, "get": _fastpath.get, "slice": _fastpath.slice,
                "concat": _fastpath.concat, "sqrt": _fastpath.sqrt, "abs": _fastpath.abs}
    iterate = _fastpath.iterate
    for _name, _fn in BUILTINS.items():
        B.register_native(_fn, B.BUILTINS[_name])
