"""An interpreter session: compiles and runs Zixir source, keeps bindings between evaluations,
and turns every failure into a positioned `ZixirError`.

    source --parse--> Program --compile--> Python code --run on a deep thread--> value
                                                 |
                          Python exception <-----+  (TypeError, ZeroDivisionError, NameError...)
                                 |
                 localize(): traceback -> instruction positions -> Zixir node -> ZixirError

Positions come for free: compiled code carries Zixir spans, so the instruction that raised tells
which Zixir expression failed, and the traceback's frames give the Zixir call chain.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import weakref
from collections.abc import Callable
from typing import Any

from . import ast as A
from . import builtins as B
from . import fastpath, fibers, owned, support, tasks
from .agents import AgentSurface
from .compiler import (
    COMPARISONS,
    CompiledProgram,
    CompilerState,
    SpanInfo,
    compile_program,
    demangle,
    mangle,
    span_key,
)
from .deep import RECURSION_LIMIT, run_deep
from .errors import Frame, ZixirError, ZixirRuntimeError, ZixirSyntaxError
from .files import FileAccess
from .parser import parse
from .services import Services, Unavailable
from .tasks import run_with_tasks
from .values import (
    FALSE,
    TRUE,
    ZList,
    adopt,
    from_python,
    is_number,
    to_python,
    to_text,
    type_name,
)
from .workflows import WorkflowSurface

# every live compiled program, by its generated file name (how frames are recognised as
# Zixir's; the names are unique in the process). Weak: a session holds its programs that
# defined functions, which may run later; a program of plain top-level code is dropped once
# it has run, so a long REPL session does not accumulate every line it ever ran.
_PROGRAMS: weakref.WeakValueDictionary[str, CompiledProgram] = weakref.WeakValueDictionary()
_PROGRAMS_LOCK = threading.Lock()


class Session:
    """Bindings persist across `eval`s; each session has its own namespace and services."""

    def __init__(self, services: Services | None = None, filename: str | None = None) -> None:
        self.services: Services = services if services is not None else Unavailable()
        self.filename = filename
        self.state = CompilerState(exports_of=self._exports_of)
        self.files = FileAccess()
        self.script_args: list[str] = []
        self.builtins = self._make_builtins()
        self.workflows = WorkflowSurface(self.services, guarded_call)
        self.agents = AgentSurface(self.services)
        self.namespace = self._new_namespace()
        self._modules: dict[str, dict[str, Any]] = {}  # absolute path -> exported values
        self._loading: list[str] = []
        self._export_cache: dict[str, tuple[float, list[str], A.Program]] = {}
        #: programs whose functions may still run (the only strong references to them)
        self._programs: list[CompiledProgram] = []

    # ---- public API --------------------------------------------------------------------------

    # every evaluation ends once the tasks it spawned have (tasks.run_with_tasks)

    def eval(self, source: str, filename: str | None = None) -> Any:
        """Evaluate `source`; the value as plain Python (None/bool/int/float/str/list/dict)."""
        return run_deep(run_with_tasks, self._evaluate, source, filename or self.filename, True)

    def names(self) -> list[str]:
        """The names bound at the top level of this session (for completion), sorted."""
        return sorted({demangle(k) for k in list(self.namespace) if k.startswith("u_")})

    def eval_value(self, source: str, filename: str | None = None) -> Any:
        """Evaluate `source`; the value as a Zixir value (for printing in Zixir syntax)."""
        return run_deep(run_with_tasks, self._evaluate, source, filename or self.filename, False)

    def run_file(self, path: str, call_main: bool = True, args: list[str] | None = None,
                 source: str | None = None) -> Any:
        """Run a file; `args` are what its `args()` returns (the command line's rest). With
        `source`, that is the program's text and `path` only its name (`<stdin>`)."""
        if args is not None:
            self.script_args = [str(a) for a in args]
        return run_deep(run_with_tasks, self._run_file, path, call_main, True, source)

    def allow_files(self, paths: list[str] | tuple[str, ...]) -> None:
        """Let the file built-ins use these directories too (zixir.toml `[policy] files`)."""
        for path in paths:
            self.files.allow(path)

    def run_file_value(self, path: str, call_main: bool = True) -> Any:
        return run_deep(run_with_tasks, self._run_file, path, call_main, False)

    def _evaluate(self, source: str, filename: str | None, convert: bool) -> Any:
        # parsing and compiling recurse as deep as the program nests: they run on the deep
        # thread too, like the program itself
        compiled = self.compile(source, filename)
        value = self.execute(compiled, self.namespace)
        return to_python_checked(value) if convert else value

    def _run_file(self, path: str, call_main: bool, convert: bool,
                  source: str | None = None) -> Any:
        if source is None:
            self.files.allow(os.path.dirname(os.path.abspath(path)))
            source = read_source(path)
        value = self._evaluate(source, path, False)
        if call_main:
            main = self.namespace.get(mangle("main"))
            if main is not None and callable(main) and B.arity(main) == (0, 0):
                value = guarded_call(main, [])
        return to_python_checked(value) if convert else value

    def call(self, fn: Any, args: list[Any]) -> Any:
        """Call a Zixir function value from Python (arguments already Zixir values)."""
        return run_deep(run_with_tasks, guarded_call, fn, args)

    def compile(self, source: str, filename: str | None) -> CompiledProgram:
        program = parse(source, filename)
        compiled = compile_program(program, self.state, filename)
        compiled.source = source  # type: ignore[attr-defined]
        with _PROGRAMS_LOCK:
            _PROGRAMS[compiled.gen_filename] = compiled
        if _defines_functions(program):
            self._programs.append(compiled)
        return compiled

    def execute(self, compiled: CompiledProgram, namespace: dict[str, Any]) -> Any:
        exec(compiled.code, namespace)
        toplevel = namespace.pop(compiled.function_name)
        return run_deep(guarded_call, toplevel, [])

    # ---- namespace -------------------------------------------------------------------------

    def _make_builtins(self) -> dict[str, Any]:
        from .. import engine

        names: dict[str, Any] = {}
        for op in engine.OPS:
            names[mangle(op)] = _engine_function(op)
        for name, entry in B.BUILTINS.items():
            names[mangle(name)] = fastpath.BUILTINS.get(name, entry.fn)
        names[mangle("pmap")] = self._pmap
        for name, fn in self.files.functions().items():
            names[mangle(name)] = fn

        def args() -> ZList:
            return ZList(self.script_args)

        args.zixir_name = "args"  # type: ignore[attr-defined]
        names[mangle("args")] = args
        return names

    def _new_namespace(self) -> dict[str, Any]:
        from .. import engine
        from . import rescue

        run, zrange, zlist = engine.run, support.ZRange, ZList

        def engine_call(op: str, *args: Any) -> Any:
            for a in args:  # as in `_engine_function`: the common case inline
                if type(a) is zrange:
                    return _engine_result(run(op, *[_engine_arg(a) for a in args]))
            n = len(args)
            value = (run(op, args[0]) if n == 1 else run(op, args[0], args[1]) if n == 2
                     else run(op, *args))
            t = type(value)
            if t is list:
                return zlist(value)
            if t is bool:
                return TRUE if value else FALSE
            return value

        def engine_bool(value: Any) -> Any:
            return TRUE if value is True else FALSE if value is False else value

        def engine_fn(op: str) -> Any:
            engine.lookup(op)  # unknown op: the engine's error
            return self.builtins[mangle(op)]

        return {
            "__builtins__": self.builtins,
            "__name__": "zixir",
            "_zx_T": TRUE,
            "_zx_F": FALSE,
            "_zx_List": ZList,
            "_zx_adopt": adopt,
            "_zx_TypeError": TypeError,
            "_zx_type": type,
            "_zx_len": len,
            "_zx_str": str,
            "_zx_dict": dict,
            "_zx_add": support.add,
            "_zx_pow": support.power,
            "_zx_text": to_text,
            "_zx_append_owned": owned.append_owned,
            "_zx_put_owned": owned.put_owned,
            "_zx_check_mul": support.check_mul,
            "_zx_check_mod": support.check_mod,
            "_zx_iter": fastpath.iterate,
            "_zx_while_cond": support.while_condition,
            "_zx_field": support.field,
            "_zx_is_list": support.is_list,
            "_zx_is_number": is_number,
            "_zx_rest": support.rest_of,
            "_zx_no_match": support.no_match,
            "_zx_range": support.make_range,
            "_zx_engine": engine_call,
            "_zx_engine_run": _ZIXIR_ENGINE_RUN,
            "_zx_engine_bool": engine_bool,
            "_zx_engine_fn": engine_fn,
            "_zx_python": self._python_call,
            "_zx_memory_put": self._memory_put,
            "_zx_memory_get": self._memory_get,
            "_zx_memory_delete": self._memory_delete,
            "_zx_memory_keys": self._memory_keys,
            "_zx_memory_incr": self._memory_incr,
            "_zx_memory_cas": self._memory_cas,
            "_zx_memory_update": self._memory_update,
            "_zx_import": self._import,
            "_zx_Rescuable": rescue.RESCUABLE,
            "_zx_caught": rescue.caught,
            "_zx_error_map": rescue.error_map,
            **self.workflows.functions(),
            **self.agents.functions(),
        }

    # ---- services ----------------------------------------------------------------------------

    def _python_call(self, module: str, function: str, args: list, kwargs: dict) -> Any:
        args = [to_python(a) for a in args]
        kwargs = {k: to_python(v) for k, v in kwargs.items()}
        if getattr(self.services, "waits_in_fibers", False):  # parks just the calling task
            return from_python(self.services.call_python(module, function, args, kwargs))
        # a runtime whose waits block the thread: the call blocks a helper thread instead,
        # so the other tasks of this thread go on (no helper outside tasks and pmap)
        return from_python(fibers.blocking(self.services.call_python, module, function, args,
                                           kwargs))

    def _memory_put(self, *args: Any) -> None:
        key, value, *ttl = _memory_args("put", args, 2, 3)
        if ttl and ttl[0] is not None:
            if not is_number(ttl[0]) or ttl[0] <= 0:
                raise ZixirRuntimeError(f"memory.put: ttl must be a positive number of seconds, "
                                        f"got {type_name(ttl[0])}")
            self.services.memory_put(key, to_python(value), ttl=ttl[0])
        else:
            self.services.memory_put(key, to_python(value))
        return None

    def _memory_incr(self, *args: Any) -> Any:
        key, *n = _memory_args("incr", args, 1, 2)
        step = n[0] if n else 1
        if not is_number(step):
            raise ZixirRuntimeError(f"memory.incr: the increment must be a number, got "
                                    f"{type_name(step)}")
        return self.services.memory_incr(key, step)

    def _memory_cas(self, *args: Any) -> Any:
        key, expected, new = _memory_args("cas", args, 3, 3)
        return TRUE if self.services.memory_cas(key, to_python(expected), to_python(new)) \
            else FALSE

    def _memory_update(self, *args: Any) -> Any:
        """Read-modify-write: `f` runs here, again whenever another writer got in between."""
        key, f, *default = _memory_args("update", args, 2, 3)
        B.check_function("memory.update", f, 1)

        def apply(current: Any) -> Any:
            return to_python(f(from_python(current)))

        start = to_python(default[0]) if default else None
        return from_python(self.services.memory_update(key, apply, start))

    def _memory_get(self, *args: Any) -> Any:
        key, *default = _memory_args("get", args, 1, 2)
        if default:
            return from_python(self.services.memory_get(key, to_python(default[0]),
                                                        has_default=True))
        return from_python(self.services.memory_get(key))

    def _memory_delete(self, *args: Any) -> Any:
        (key,) = _memory_args("delete", args, 1, 1)
        return TRUE if self.services.memory_delete(key) else FALSE

    def _memory_keys(self, *args: Any) -> ZList:
        prefix = _memory_args("keys", args, 0, 1)
        return ZList(self.services.memory_keys(prefix[0] if prefix else ""))

    def _pmap(self, xs: Any, f: Any, n: Any = None) -> ZList:
        """`tasks.pmap`, as wide as the runtime's parallelism unless `n` says otherwise."""
        width = int(getattr(self.services, "parallelism", 1) or 1)
        try:
            return tasks.pmap(xs, f, n, width)
        except ZixirError as error:
            if error.call_chain:
                # an element that ran in a task of its own: its chain starts at `f`; the
                # calls that led to this pmap come first
                outer = outer_chain(sys._getframe())
                if list(error.call_chain[:len(outer)]) != outer:
                    error.call_chain = tuple(trim_chain(outer + list(error.call_chain)))
            raise

    # ---- imports -------------------------------------------------------------------------------

    def _exports_of(self, path: str, node: A.Import) -> list[str]:
        program = self._parse_module(path, node)
        return [s.name for s in program.body if isinstance(s, (A.Let, A.FnDef)) and s.public]

    def _parse_module(self, path: str, node: A.Node) -> A.Program:
        try:
            mtime = os.stat(path).st_mtime
        except OSError:
            raise ZixirSyntaxError(f"import: cannot find {path}", node.line, node.column,
                                   end_line=node.end_line, end_column=node.end_column) from None
        cached = self._export_cache.get(path)
        if cached and cached[0] == mtime:
            return cached[2]
        program = parse(read_source(path), path)
        exports = [s.name for s in program.body if isinstance(s, (A.Let, A.FnDef)) and s.public]
        self._export_cache[path] = (mtime, exports, program)
        return program

    def _import(self, path: str) -> dict[str, Any]:
        if path in self._modules:
            return self._modules[path]
        if path in self._loading:
            cycle = " -> ".join(os.path.basename(p) for p in self._loading + [path])
            raise ZixirRuntimeError(f"import cycle: {cycle}")
        self._loading.append(path)
        try:
            source = read_source(path)
            compiled = self.compile(source, path)
            namespace = self._new_namespace()
            exec(compiled.code, namespace)
            namespace.pop(compiled.function_name)()
            exports = {}
            program_exports = self._export_cache.get(path)
            names = program_exports[1] if program_exports else compiled.toplevel_names
            for name in names:
                exports[name] = namespace.get(mangle(name))
        finally:
            self._loading.pop()
        self._modules[path] = exports
        return exports


def _engine_function(op: str) -> Callable[..., Any]:
    from .. import engine

    run = engine.run
    zrange, zlist, true, false = support.ZRange, ZList, TRUE, FALSE

    def run_op(*args: Any) -> Any:
        # the common case inline (no range argument; a list, number or bool back): engine
        # calls from Zixir cost little more than the front end's own
        for a in args:
            if type(a) is zrange:
                return _engine_result(run(op, *[_engine_arg(a) for a in args]))
        # positional calls: the native front end takes the vectorcall path, `*args` would not
        n = len(args)
        value = (run(op, args[0]) if n == 1 else run(op, args[0], args[1]) if n == 2
                 else run(op, *args))
        t = type(value)
        if t is list:
            return zlist(value)
        if t is bool:
            return true if value else false
        return value

    run_op.zixir_name = op  # type: ignore[attr-defined]
    run_op.__name__ = op
    return run_op


def _engine_fallback(op: str, *args: Any) -> Any:
    """Engine calls the native front end declines: ranges become lists, then the engine's own
    path (which validates and words every error)."""
    from .. import engine

    for a in args:
        if type(a) is support.ZRange:
            return engine.run(op, *[_engine_arg(a) for a in args])
    return engine.run(op, *args)


def _zixir_front_end() -> Callable[..., Any]:
    """`run(op, *args)` for compiled `engine.OP(...)` calls: the engine's native front end
    (kernels reached without a Python frame, for the active backend), with a fallback that
    also takes Zixir ranges; results are converted by the compiled code."""
    from ..engine import backends

    try:
        from ..engine._listread import active_front_end
    except ImportError:
        return _engine_fallback
    return active_front_end(_engine_fallback, vars(backends), "_active")


_ZIXIR_ENGINE_RUN = _zixir_front_end()


def _engine_result(value: Any) -> Any:
    """Engine results are numbers, booleans or flat lists of floats: convert without a walk."""
    t = type(value)
    if t is list:
        return ZList(value)
    if t is bool:
        return TRUE if value else FALSE
    return value


def _engine_arg(value: Any) -> Any:
    # Zixir booleans stay opaque (the engine rejects them as numbers); ranges become lists
    if type(value) is support.ZRange:
        return list(value)
    return value


def _memory_args(op: str, args: tuple, low: int, high: int) -> list[Any]:
    if not low <= len(args) <= high:
        expected = str(low) if low == high else f"{low} to {high}"
        raise ZixirRuntimeError(f"memory.{op} expects {expected} arguments, got {len(args)}")
    if args and type(args[0]) is not str:
        raise ZixirRuntimeError(f"memory.{op}: key must be a string, got {type_name(args[0])}")
    return list(args)


def _defines_functions(program: A.Program) -> bool:
    """Does running `program` make functions that may be called after it has finished?"""
    return any(isinstance(node, (A.FnDef, A.Lambda, A.Import)) for node in A.walk(program))


def to_python_checked(value: Any) -> Any:
    """`to_python`, with a clear error for values too large to become Python lists."""
    try:
        return to_python(value)
    except (OverflowError, MemoryError):
        raise ZixirRuntimeError("value too large to convert (a huge range?)") from None


def read_source(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        raise ZixirRuntimeError(f"file not found: {path}", filename=path) from None
    except UnicodeDecodeError as exc:
        raise ZixirSyntaxError(f"file is not valid UTF-8: {exc.reason}", 1, 1,
                               filename=path) from None
    except OSError as exc:
        raise ZixirRuntimeError(f"cannot read {path}: {exc.strerror}", filename=path) from None


def call_function(fn: Any, args: list[Any]) -> Any:
    """Call a Zixir function from Python outside a session's evaluation."""
    if not callable(fn):
        raise ZixirRuntimeError(f"Not a function: {type_name(fn)}")
    low, high = B.arity(fn)
    if len(args) < low or (high is not None and len(args) > high):
        raise ZixirRuntimeError(_arity_message(_callable_name(fn), low, high, len(args)))

    return run_deep(guarded_call, fn, args)


def guarded_call(fn: Callable[..., Any], args: list[Any]) -> Any:
    """Call compiled Zixir code; whatever it raises leaves as a positioned `ZixirError`."""
    try:
        return fn(*args)
    except ZixirError as exc:
        raise localize(exc) from None
    except (RecursionError, MemoryError, ArithmeticError, LookupError, TypeError,
            ValueError, AttributeError, NameError) as exc:
        raise localize(exc) from None


# ---- error translation ------------------------------------------------------------------------

_positions_cache: dict[Any, list] = {}


def code_positions(code: Any) -> list:
    """`code.co_positions()` as a list, cached per code object (errors and the debugger)."""
    positions = _positions_cache.get(code)
    if positions is None:
        positions = list(code.co_positions())
        if len(_positions_cache) > 4096:
            _positions_cache.clear()
        _positions_cache[code] = positions
    return positions


def _position(code: Any, lasti: int) -> tuple[int, int, int, int] | None:
    positions = code_positions(code)
    index = lasti // 2
    if 0 <= index < len(positions):
        line, end_line, col, end_col = positions[index]
        if line is not None and col is not None:
            return (line, col, end_line or line, end_col if end_col is not None else col + 1)
    return None


def localize(exc: BaseException, outer: list[Frame] | None = None) -> ZixirError:
    """The `ZixirError` a user sees for `exc`, positioned at the Zixir code that raised it.

    `outer`: the Zixir calls around the frame that caught `exc` (a `try`), outermost first."""
    frames: list[tuple[Any, int, CompiledProgram]] = []
    tb = exc.__traceback__
    innermost_is_zixir = False
    while tb is not None:
        code = tb.tb_frame.f_code
        program = _PROGRAMS.get(code.co_filename)
        if program is not None:
            frames.append((tb, tb.tb_lasti, program))
            innermost_is_zixir = True
        else:
            innermost_is_zixir = False
        tb = tb.tb_next
    chain: list[Frame] = list(outer or ())
    for tb_entry, lasti, frame_program in frames:
        pos = _position(tb_entry.tb_frame.f_code, lasti)
        if pos:
            chain.append(Frame(demangle(tb_entry.tb_frame.f_code.co_name), pos[0], pos[1] + 1,
                               frame_program.filename))
    if isinstance(exc, ZixirError):
        err = exc
    else:
        info = frame = program = None
        if frames:
            tb_entry, lasti, program = frames[-1]
            frame = tb_entry.tb_frame
            pos = _position(frame.f_code, lasti)
            info = program.spans.get(pos) if pos else None
        err = _translate(exc, info, frame, program, innermost_is_zixir)
        err.__cause__ = exc if not isinstance(exc, (RecursionError, NameError)) else None
    if frames and not err.has_position:
        tb_entry, lasti, program = frames[-1]
        pos = _position(tb_entry.tb_frame.f_code, lasti)
        info = program.spans.get(pos) if pos else None
        node = info.node if info is not None else None
        if isinstance(node, (A.EngineCall, A.EngineRef)) and err.message.startswith(
                "unknown engine op"):  # at the op's name, where `zixir check` puts it
            column = node.column + len("engine.")
            err.at(node.line, column, node.line, column + len(node.op), program.filename)
        elif pos:
            err.at(pos[0], pos[1] + 1, pos[2], pos[3] + 1, program.filename)
    if err.filename is None and frames:
        err.filename = frames[-1][2].filename
    if chain and not err.call_chain:
        err.call_chain = tuple(trim_chain(chain))
    err.__traceback__ = None
    return err


def outer_chain(frame: Any) -> list[Frame]:
    """The Zixir calls that led to `frame` (not itself), outermost first: where an error
    caught in `frame` would have gone on to."""
    chain: list[Frame] = []
    current = frame.f_back if frame is not None else None
    while current is not None:
        code = current.f_code
        program = _PROGRAMS.get(code.co_filename)
        if program is not None:
            pos = _position(code, current.f_lasti)
            if pos:
                chain.append(Frame(demangle(code.co_name), pos[0], pos[1] + 1,
                                   program.filename))
        current = current.f_back
    chain.reverse()
    return chain


CHAIN_HEAD, CHAIN_TAIL, CHAIN_RUN = 20, 30, 8


def trim_chain(chain: list[Frame]) -> list[Frame]:
    """A call chain a person can read: runs of the same call (runaway recursion) collapse to
    one frame plus a marker, and a still-long chain keeps its outermost and innermost calls.
    Markers are frames with line 0 whose function text says what was left out."""
    collapsed: list[Frame] = []
    i = 0
    while i < len(chain):
        j = i
        while j + 1 < len(chain) and chain[j + 1] == chain[i]:
            j += 1
        if j - i < CHAIN_RUN:
            collapsed.extend(chain[i:j + 1])
        else:
            collapsed.append(chain[i])
            collapsed.append(Frame(f"... the call above repeated {j - i:,} more times ...",
                                   0, 0))
        i = j + 1
    if len(collapsed) <= CHAIN_HEAD + CHAIN_TAIL + 1:
        return collapsed
    omitted = len(collapsed) - CHAIN_HEAD - CHAIN_TAIL
    marker = Frame(f"... {omitted:,} more calls ...", 0, 0)
    return collapsed[:CHAIN_HEAD] + [marker] + collapsed[-CHAIN_TAIL:]


def _arity_message(name: str, low: int, high: int | None, got: int) -> str:
    if high == low:
        expected = str(low)
    elif high is None:
        expected = f"at least {low}"
    else:
        expected = f"{low} to {high}"
    return f"Function {name} expects {expected} arguments, got {got}"


def _callable_name(fn: Any) -> str:
    name = getattr(fn, "zixir_name", None)
    if name:
        return name
    return demangle(getattr(fn, "__name__", "function"))


def _peek(frame: Any, program: CompiledProgram | None, node: A.Node) -> tuple[bool, Any]:
    """The current value of a simple operand (a name or a literal), if it can be known."""
    if isinstance(node, (A.IntLit, A.FloatLit, A.StrLit)):
        return True, node.value
    if isinstance(node, A.BoolLit):
        return True, TRUE if node.value else FALSE
    if isinstance(node, A.NilLit):
        return True, None
    if isinstance(node, A.Name) and frame is not None and program is not None:
        info = program.spans.get(span_key(node))
        pyname = info.pyname if info else None
        if pyname:
            return _peek_name(frame, pyname)
    return False, None


def _peek_name(frame: Any, pyname: str) -> tuple[bool, Any]:
    """The value of a Python name as `frame` sees it (locals, then globals, then builtins).
    From 3.13 `f_locals` is a mapping proxy rather than a dict: only `in` and `[]` are used."""
    for scope in (frame.f_locals, frame.f_globals, frame.f_globals.get("__builtins__")):
        if scope is not None and hasattr(scope, "__getitem__"):
            try:
                return True, scope[pyname]
            except (KeyError, NameError):  # a local not bound yet reads as missing
                continue
    return False, None


def _operand(frame: Any, info: SpanInfo | None, i: int, node: A.Node,
             program: CompiledProgram | None) -> tuple[bool, Any]:
    """The value of operand `i` of the failed call or index, if it can be known."""
    known, value = _peek(frame, program, node)
    if known or frame is None or info is None or len(info.operands) <= i:
        return known, value
    pyname = info.operands[i]
    return _peek_name(frame, pyname) if pyname else (False, None)


_LITERAL_TYPES = {A.ListLit: "list", A.Comprehension: "list", A.MapLit: "map",
                  A.Lambda: "function"}

def _operand_type(frame: Any, program: CompiledProgram | None, node: A.Node,
                  info: SpanInfo | None = None, i: int = 0) -> str | None:
    literal = _LITERAL_TYPES.get(type(node))
    if literal:
        return literal
    if (isinstance(node, A.Binary) and node.op in COMPARISONS) or (
            isinstance(node, A.Unary) and node.op == "not"):
        return "bool"
    known, value = _operand(frame, info, i, node, program)
    return type_name(value) if known else None


#: Python's names of the value types, in TypeError messages, as Zixir names them
_PY_TYPE_NAMES = {"str": "string", "int": "int", "float": "float", "ZList": "list",
                  "list": "list", "dict": "map", "NoneType": "nil", "Bool": "bool",
                  "ZRange": "range", "function": "function", "method": "function",
                  "builtin_function_or_method": "function"}
_PY_OPERANDS = re.compile(r"(?:unsupported operand type\(s\) for [^:]+:|not supported between "
                          r"instances of) '(\w+)' and '(\w+)'")


def _operand_types(frame: Any, program: CompiledProgram | None, node: A.Binary,
                   info: SpanInfo | None = None, exc: BaseException | None = None) -> str:
    """`: left OP right` from the operands' values: the compiler names every operand of an
    operator that can fail on a type. One value cannot be read back: a comprehension's own
    variable on Python 3.12+, where comprehensions run inline and the variable's outer
    binding is restored as the error leaves them; only then are the types taken from
    CPython's message, and if its wording ever changes the message just names no types."""
    left = _operand_type(frame, program, node.left, info, 0)
    right = _operand_type(frame, program, node.right, info, 1)
    if not (left and right) and exc is not None:
        found = _PY_OPERANDS.search(str(exc))
        if found:
            left = left or _PY_TYPE_NAMES.get(found.group(1))
            right = right or _PY_TYPE_NAMES.get(found.group(2))
    if left and right:
        return f": {left} {node.op} {right}"
    return f" '{node.op}'"


def _translate(exc: BaseException, info: SpanInfo | None, frame: Any,
               program: CompiledProgram | None, raised_here: bool) -> ZixirError:
    node = info.node if info else None
    if isinstance(exc, NameError):
        name = demangle(getattr(exc, "name", None) or "?")
        if info and info.role == "callee":
            return ZixirRuntimeError(f"Undefined function: {name}")
        return ZixirRuntimeError(f"Undefined variable: {name}")
    if isinstance(exc, ZeroDivisionError):
        return ZixirRuntimeError("Division by zero")
    if isinstance(exc, RecursionError):
        return ZixirRuntimeError(
            f"Stack overflow: recursion deeper than about {RECURSION_LIMIT:,} calls")
    if isinstance(exc, MemoryError):
        return ZixirRuntimeError("Out of memory")
    if isinstance(exc, OverflowError):
        # worded from the node and operand types, never from CPython's text (which varies)
        where = _operand_types(frame, program, node, info) if isinstance(node, A.Binary) else ""
        return ZixirRuntimeError(f"Number too large for a float{where}")
    if isinstance(node, A.Call) and isinstance(exc, TypeError) and raised_here:
        return _call_error(exc, node, info, frame, program)
    if isinstance(node, A.Binary):
        return ZixirRuntimeError(
            f"Invalid binary operation{_operand_types(frame, program, node, info, exc)}")
    if isinstance(node, A.Unary):
        known, value = _peek(frame, program, node.operand)
        detail = f": {node.op}{type_name(value)}" if known else ""
        return ZixirRuntimeError(f"Invalid unary operation{detail}")
    if isinstance(node, A.Index):
        return _index_error(exc, node, info, frame, program)
    if isinstance(exc, TypeError):
        return ZixirRuntimeError(f"Invalid operation: {exc}")
    return ZixirRuntimeError(f"Internal error: {type(exc).__name__}: {exc}")


def _call_error(exc: TypeError, node: A.Call, info: SpanInfo | None, frame: Any,
                program: CompiledProgram | None) -> ZixirError:
    """A TypeError raised by the call instruction itself: the callee is not a function, or it
    does not take this many arguments. Told apart by the callee's value, never by CPython's
    message text, which changes between versions."""
    callee = node.callee
    name = callee.name if isinstance(callee, (A.Name, A.Field)) else None
    known, fn = _operand(frame, info, 0, callee, program)
    if known and not callable(fn):
        target = f" ({name})" if name else ""
        return ZixirRuntimeError(f"Not a function: {type_name(fn)}{target}")
    got = len(node.args)
    if known:
        low, high = B.arity(fn)
        if got < low or (high is not None and got > high):
            return ZixirRuntimeError(_arity_message(name or _callable_name(fn), low, high, got))
    return ZixirRuntimeError(f"Invalid call of {name or 'a function'}: {exc}")


def _index_error(exc: BaseException, node: A.Index, info: SpanInfo | None, frame: Any,
                 program: CompiledProgram | None) -> ZixirError:
    """What went wrong in `target[index]`, from the exception's type and the operands' values."""
    known_t, target = _operand(frame, info, 0, node.target, program)
    known_i, index = _operand(frame, info, 1, node.index, program)
    if isinstance(exc, KeyError):
        key = exc.args[0] if exc.args else index
        shown = f'"{key}"' if isinstance(key, str) else repr(key)
        return ZixirRuntimeError(f"Key not found: {shown}")
    if isinstance(exc, IndexError):
        detail = ""
        if known_i and known_t:
            detail = f": {index} (length {len(target)})"
        elif known_i:
            detail = f": {index}"
        return ZixirRuntimeError(f"Index out of range{detail}")
    target_type = type_name(target) if known_t else _operand_type(frame, program, node.target)
    index_type = type_name(index) if known_i else None
    if target_type in ("list", "range", "string"):
        kind = "String" if target_type == "string" else "List"
        return ZixirRuntimeError(f"{kind} index must be an integer, got {index_type or '?'}")
    if target_type == "map":
        return ZixirRuntimeError(f"Map key must be a string, got {index_type or 'a non-string'}")
    if target_type:
        return ZixirRuntimeError(f"Cannot index {target_type}")
    return ZixirRuntimeError(f"Invalid index operation: {exc}")
