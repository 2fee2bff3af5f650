"""Which Python frames are Zixir's, and what a person debugging them should see.

Compiled Zixir code runs as Python functions whose file name is the generated
`<zixir FILE #N>` of a `CompiledProgram` (see `session._PROGRAMS`); positions in them are
Zixir positions. Everything else on the stack (the session, builtins, the debugger) is
implementation and is not shown. In a Zixir frame, Python names made by `compiler.mangle` are
Zixir variables (`u_x` top level, `s12_x` a block's `x`); `_t12` temporaries, `_l12` lambdas
and `_zx_*` helpers are not. One Zixir name can have several Python names in a frame (each
block's `let x` is a new binding): the one shown is the innermost whose block contains the
frame's position.
"""

from __future__ import annotations

import dis
import re
from dataclasses import dataclass
from typing import Any

from ..lang.compiler import CompiledProgram, demangle
from ..lang.session import _PROGRAMS
from .lines import Pos, SourceIndex, index_of, instruction_pos, is_step_code

_PLAIN = re.compile(r"(u|s\d+)_(.+)\Z", re.S)
_HEX = re.compile(r"w(u|s\d+)_([0-9a-f]+)\Z")
_STORES = frozenset({"STORE_FAST", "STORE_GLOBAL", "STORE_DEREF", "STORE_NAME"})
_EVERYWHERE: Pos = (0, 0)
_NOWHERE: Pos = (1 << 60, 0)


def zixir_name(pyname: str) -> str | None:
    """The Zixir variable behind a Python name, or None for compiler temporaries."""
    m = _PLAIN.match(pyname)
    if m:
        return m.group(2)
    m = _HEX.match(pyname)
    if m:
        try:
            return bytes.fromhex(m.group(2)).decode("utf-8")
        except ValueError:
            return None
    return None


def is_global_name(pyname: str) -> bool:
    """A top-level binding of a program (`u_x`), as opposed to a block's (`s12_x`)."""
    return pyname.startswith(("u_", "wu_"))


def program_of(code: Any) -> CompiledProgram | None:
    filename = code.co_filename
    if not filename.startswith("<zixir "):
        return None
    return _PROGRAMS.get(filename)


def is_zixir_code(code: Any) -> bool:
    """Code a person stops in: a Zixir function or top level, not compiler glue."""
    return is_step_code(code) and program_of(code) is not None


def function_name(code: Any) -> str:
    return demangle(code.co_name)


@dataclass
class FrameView:
    """One Zixir frame of a stopped program, as shown in the call stack."""

    id: int
    frame: Any
    lasti: int
    name: str
    path: str | None
    line: int
    column: int

    @property
    def position(self) -> Pos:
        return (self.line, self.column)


def frame_view(frame_id: int, frame: Any, lasti: int | None = None) -> FrameView:
    code = frame.f_code
    lasti = frame.f_lasti if lasti is None else lasti
    program = program_of(code)
    pos = instruction_pos(code, lasti) or (frame.f_lineno or code.co_firstlineno, 1)
    return FrameView(frame_id, frame, lasti, function_name(code),
                     program.filename if program else None, pos[0], pos[1])


def zixir_stack(frame: Any) -> list[Any]:
    """The Zixir frames from `frame` outwards (innermost first)."""
    out = []
    while frame is not None:
        if is_zixir_code(frame.f_code):
            out.append(frame)
        frame = frame.f_back
    return out


# ---- variables in scope ---------------------------------------------------------------------

class _Bindings:
    """Per code object: where each Zixir binding starts being visible, and until where."""

    def __init__(self, code: Any, index: SourceIndex | None) -> None:
        self.scopes: dict[str, tuple[Pos, Pos]] = {}
        params = set(code.co_varnames[:code.co_argcount])
        for pyname in params | set(code.co_freevars):
            self.scopes[pyname] = (_EVERYWHERE, _NOWHERE)
        for instr in dis.get_instructions(code):
            name = instr.argval
            if instr.opname not in _STORES or not isinstance(name, str):
                continue
            if name in self.scopes or zixir_name(name) is None:
                continue
            positions = instr.positions
            if positions is None or positions.lineno is None:
                continue
            start = (positions.lineno, (positions.col_offset or 0) + 1)
            end = index.block_end(start) if index is not None else None
            self.scopes[name] = (start, end or _NOWHERE)
        # names read but not stored here: globals of enclosing top-level blocks
        for name in code.co_names:
            if name not in self.scopes and zixir_name(name) is not None \
                    and not is_global_name(name):
                self.scopes[name] = (_EVERYWHERE, _NOWHERE)


_bindings_cache: dict[Any, _Bindings] = {}


def _bindings(code: Any) -> _Bindings:
    found = _bindings_cache.get(code)
    if found is None:
        program = program_of(code)
        found = _Bindings(code, index_of(program) if program is not None else None)
        if len(_bindings_cache) > 2048:
            _bindings_cache.clear()
        _bindings_cache[code] = found
    return found


_visible_cache: dict[tuple[Any, Pos], dict[str, list[str]]] = {}


def visible_bindings(code: Any, position: Pos) -> dict[str, list[str]]:
    """Zixir name -> its Python names in scope at `position`, innermost first (an inner one
    may not be bound yet: `let x = x + 1` reads the outer `x`). Top-level bindings (`u_x`)
    are left to `global_variables`."""
    key = (code, position)
    found = _visible_cache.get(key)
    if found is not None:
        return found
    candidates: list[tuple[Pos, str, str]] = []
    for pyname, (start, end) in _bindings(code).scopes.items():
        if not is_global_name(pyname) and start <= position < end:
            name = zixir_name(pyname)
            assert name is not None
            candidates.append((start, name, pyname))
    found = {}
    for _start, name, pyname in sorted(candidates, reverse=True):
        found.setdefault(name, []).append(pyname)
    if len(_visible_cache) > 4096:
        _visible_cache.clear()
    _visible_cache[key] = found
    return found


def local_variables(frame: Any, position: Pos, only: set[str] | None = None) -> dict[str, Any]:
    """The Zixir variables of `frame`'s function visible at `position` (`only` those names):
    name -> value, outermost binding first. At the top level these are the variables of the
    blocks enclosing the position."""
    code = frame.f_code
    visible = visible_bindings(code, position)
    if only is not None:
        visible = {name: pynames for name, pynames in visible.items() if name in only}
        if not visible:
            return {}
    f_locals = frame.f_locals
    f_globals = frame.f_globals
    out: dict[str, Any] = {}
    for name, pynames in reversed(visible.items()):
        for pyname in pynames:
            if pyname in f_locals:
                out[name] = f_locals[pyname]
                break
            if pyname in f_globals and pyname not in code.co_varnames:
                out[name] = f_globals[pyname]
                break
    return out


def global_variables(frame: Any) -> dict[str, Any]:
    """The top-level bindings of the program (or imported file) `frame` belongs to."""
    out: dict[str, Any] = {}
    for pyname, value in list(frame.f_globals.items()):
        if is_global_name(pyname):
            name = zixir_name(pyname)
            if name is not None:
                out[name] = value
    return out
