"""Running a Zixir program under the debugger: breakpoints, stepping, pause, stops.

    adapter thread                               program thread (a deep-stack thread)
    --------------                               ------------------------------------
    set_breakpoints / resume / pause ----------> tracer: sys.settrace on this thread
                                                   'call'  -> trace this Zixir frame?
                                                   'line'  -> stop point? breakpoint? step?
                                                   'return'-> a step target returned
                                                 stop: snapshot the Zixir frames, send
    stackTrace / scopes / variables <-- reads --   `stopped`, then serve commands:
    evaluate -----------------------> "call" ----->   run an evaluation here (deep stack,
                                                      tracing off), reply by a Future
    continue / next / stepIn / stepOut -> "resume" ->  set the step and return

Only frames of Zixir code get line tracing, and only while it is needed: when their file has
breakpoints, or a step into or a pause is pending. Otherwise the program runs with just the
'call' hook, so deep recursion keeps working and loops keep most of their speed. Stepping is
in Zixir terms: a step stops at the next *stop point* (a statement entered, see `lines`),
`next` in the same Zixir function, `stepOut` in its Zixir caller.

An uncaught error stops the program post mortem: the Python traceback still holds the frames,
so the stop shows the Zixir stack and variables where the error happened, with the
positioned `ZixirError` the session's error translation made of it.
"""

from __future__ import annotations

import os
import queue
import re
import sys
import threading
import types
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from ..lang import builtins as B
from ..lang.compiler import mangle
from ..lang.deep import EXECUTOR, interrupt
from ..lang.errors import ZixirError, ZixirRuntimeError
from ..lang.parser import parse
from ..lang.session import _PROGRAMS, _PROGRAMS_LOCK, Session, localize, read_source
from ..lang.tasks import run_with_tasks
from ..lang.values import is_truthy
from .frames import (
    FrameView,
    frame_view,
    global_variables,
    is_zixir_code,
    local_variables,
    program_of,
    zixir_name,
    zixir_stack,
)
from .lines import Pos, code_objects, index_of, instruction_pos, instruction_span


class Terminated(BaseException):
    """Raised in the program thread to stop the program (terminate or disconnect)."""


def path_key(path: str) -> str:
    return os.path.normcase(os.path.realpath(path))


# ---- breakpoints ----------------------------------------------------------------------------

_HIT = re.compile(r"\s*(>=|<=|==|>|<|%)?\s*(\d+)\s*\Z")


@dataclass
class Breakpoint:
    id: int
    line: int
    condition: str | None = None
    hit_condition: str | None = None
    hits: int = 0

    def hit_matches(self) -> bool:
        if not self.hit_condition:
            return True
        m = _HIT.match(self.hit_condition)
        assert m is not None  # checked by `check_hit_condition`
        op, n = m.group(1) or ">=", int(m.group(2))
        count = self.hits
        return {">=": count >= n, "<=": count <= n, "==": count == n, ">": count > n,
                "<": count < n, "%": n > 0 and count % n == 0}[op]


def check_condition(text: str) -> str | None:
    """None if `text` parses as a Zixir expression, else the syntax error's message."""
    try:
        parse(text, "<condition>")
    except ZixirError as exc:
        return exc.message
    return None


def check_hit_condition(text: str) -> str | None:
    if _HIT.match(text):
        return None
    return "a hit count is a number, optionally after >, >=, <, <=, == or % (e.g. '>= 3')"


# ---- stops ---------------------------------------------------------------------------------

@dataclass
class Stop:
    """The program as it is while stopped."""

    reason: str
    frames: list[FrameView]
    error: ZixirError | None = None
    description: str | None = None
    hit_breakpoints: list[int] = field(default_factory=list)

    def frame(self, frame_id: int | None) -> FrameView | None:
        if frame_id is None:
            return self.frames[0] if self.frames else None
        for view in self.frames:
            if view.id == frame_id:
                return view
        return None


@dataclass
class Outcome:
    """How the program ended: its value, its error, or stopped by the debugger."""

    value: Any = None
    error: ZixirError | None = None
    terminated: bool = False


class _CodeInfo:
    __slots__ = ("path", "index", "stmts", "lines", "version", "has_breakpoint")

    def __init__(self, code: Any, path: str | None, index: Any) -> None:
        self.path = path
        self.index = index
        self.stmts: dict[int, tuple | None] = {}  # lasti -> statement at that instruction
        self.lines = frozenset(line for _, _, line in code.co_lines() if line is not None)
        self.version = -1  # of the breakpoints `has_breakpoint` was computed for
        self.has_breakpoint = False

    def statement(self, code: Any, lasti: int) -> tuple | None:
        try:
            return self.stmts[lasti]
        except KeyError:
            span = instruction_span(code, lasti)
            stmt = self.index.statement_at(*span) if (span and self.index is not None) else None
            self.stmts[lasti] = stmt
            return stmt


class _FrameTracer:
    """The local trace function of one Zixir frame: finds its stop points.

    A line event is a stop point when its instruction lies in a statement starting on that
    line, unless that statement was already entered (it, or one enclosing it, goes on after a
    sub-expression on another line or a call) and no backward jump (a loop) happened since."""

    __slots__ = ("debugger", "info", "last_stmt", "last_lasti")

    def __init__(self, debugger: Debugger, info: _CodeInfo, frame: Any | None = None) -> None:
        self.debugger = debugger
        self.info = info
        self.last_stmt = None
        self.last_lasti = -1
        if frame is not None:  # attached to a running frame: its statement is under way
            self.last_lasti = frame.f_lasti
            self.last_stmt = info.statement(frame.f_code, frame.f_lasti)

    def __call__(self, frame: Any, event: str, arg: Any) -> Any:
        if event == "line":
            lasti = frame.f_lasti
            stmt = self.info.statement(frame.f_code, lasti)
            forward = lasti > self.last_lasti
            self.last_lasti = lasti
            if stmt is None or stmt[0][0] != frame.f_lineno:
                return self
            last = self.last_stmt
            if forward and last is not None and stmt[0] <= last[0] and last[1] <= stmt[1]:
                return self  # the same statement, or glue of one enclosing it, goes on
            self.last_stmt = stmt
            self.debugger._stop_point(frame, self.info, stmt)
        elif event == "return":
            self.debugger._returned(frame)
        return self


class Debugger:
    """Runs one program under tracing and stops it where the client asks."""

    def __init__(self, send_event: Callable[[str, dict], None],
                 write_output: Callable[[str, str], None]) -> None:
        self.send_event = send_event
        self.write_output = write_output
        self.break_on_uncaught = True
        self.stop: Stop | None = None
        self._breakpoints: dict[str, dict[int, Breakpoint]] = {}
        self._bp_version = 0
        self._lock = threading.RLock()
        self._commands: queue.SimpleQueue = queue.SimpleQueue()
        self._infos: dict[Any, _CodeInfo | None] = {}
        self._thread: int | None = None
        self._mode: str | None = None  # 'entry', 'in', 'next', 'out'
        self._target: Any = None  # the frame a 'next'/'out' step is about
        self._after_return = False  # the target is the caller of the frame the step began in
        self._pause = False
        self._terminating = False
        self._frame_ids = 0

    # ---- configuration (adapter thread) -------------------------------------------------

    def set_breakpoints(self, path: str, breakpoints: list[Breakpoint]) -> None:
        with self._lock:
            table = {}
            for bp in breakpoints:
                table.setdefault(bp.line, bp)
            key = path_key(path)
            if table:
                self._breakpoints[key] = table
            else:
                self._breakpoints.pop(key, None)
            self._bp_version += 1
        if table:
            self._attach_running_frames(self._has_breakpoint)

    def request_pause(self) -> None:
        self._pause = True
        self._attach_running_frames(lambda info: True)

    def _attach_running_frames(self, wanted: Callable[[_CodeInfo], bool]) -> None:
        """Give frames already running on the program thread a tracer (they started when
        none was needed)."""
        ident = self._thread
        if ident is None or self.stop is not None:
            return
        frame = sys._current_frames().get(ident)
        self._attach(frame, wanted)

    def _attach(self, frame: Any, wanted: Callable[[_CodeInfo], bool]) -> None:
        while frame is not None:
            if frame.f_trace is None:
                info = self._info(frame.f_code)
                if info is not None and wanted(info):
                    frame.f_trace = _FrameTracer(self, info, frame)
            frame = frame.f_back

    # ---- commands to a stopped program (adapter thread) --------------------------------

    def resume(self, mode: str | None = None) -> bool:
        if self.stop is None:
            return False
        self._commands.put(("resume", mode))
        return True

    def terminate(self) -> None:
        """Stop the program: at once if stopped, else at its next Zixir call or line."""
        self._terminating = True
        if self.stop is not None:
            self._commands.put(("terminate", None))
        elif self._thread is not None:
            interrupt(self._thread)  # loops without calls or traced lines get it too

    def call_in_program(self, fn: Callable[[], Any], timeout: float = 30.0) -> Any:
        """Run `fn` on the stopped program's thread (its deep stack) and return its result."""
        future: Future = Future()
        self._commands.put(("call", (fn, future)))
        try:
            return future.result(timeout)
        except TimeoutError:
            if self._thread is not None and not future.done():
                interrupt(self._thread)
                try:
                    return future.result(5.0)
                except BaseException:  # noqa: BLE001 - the interrupt
                    pass
            raise ZixirRuntimeError(f"evaluation did not finish within {timeout:g} s") from None

    # ---- running (program thread) --------------------------------------------------------

    def run(self, session: Session, path: str, *, stop_on_entry: bool = False,
            trace: bool = True) -> Future:
        """Start the program on a deep-stack thread; the Future gets its `Outcome`."""
        self._mode = "entry" if stop_on_entry else None
        return EXECUTOR.submit(self._run, session, path, trace)

    def _run(self, session: Session, path: str, trace: bool) -> Outcome:
        self._thread = threading.get_ident()
        if trace:
            sys.settrace(self._call_hook)
        try:
            # like `zixir run`: the program ends once the tasks it spawned have
            return Outcome(value=run_with_tasks(self._run_program, session, path))
        except ZixirError as exc:  # syntax errors too: they are reported the same way
            return Outcome(error=exc)
        except (Terminated, KeyboardInterrupt):
            return Outcome(terminated=True)
        finally:
            sys.settrace(None)
            self._thread = None

    def _run_program(self, session: Session, path: str) -> Any:
        compiled = session.compile(read_source(path), path)
        namespace = session.namespace
        exec(compiled.code, namespace)
        toplevel = namespace.pop(compiled.function_name)
        value = self._guarded(toplevel)
        main = namespace.get(mangle("main"))
        if main is not None and callable(main) and B.arity(main) == (0, 0):
            value = self._guarded(main)
        return value

    def _guarded(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except (Terminated, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001 - every error becomes a positioned ZixirError
            if self._terminating:
                raise Terminated() from None
            tb = exc.__traceback__
            error = localize(exc)
            if self.break_on_uncaught:
                sys.settrace(None)
                self._stop_post_mortem(tb, error)
            del tb
            raise error from None

    def _info(self, code: Any) -> _CodeInfo | None:
        try:
            return self._infos[code]
        except KeyError:
            info = None
            if is_zixir_code(code):
                program = program_of(code)
                assert program is not None
                info = _CodeInfo(code, path_key(program.filename) if program.filename
                                 else None, index_of(program))
            self._infos[code] = info
            return info

    def _call_hook(self, frame: Any, event: str, arg: Any) -> Any:
        if self._terminating:
            raise Terminated()
        if not frame.f_code.co_filename.startswith("<zixir "):
            return None
        info = self._info(frame.f_code)
        if info is None:
            return None
        if self._mode in ("in", "entry") or self._pause or self._has_breakpoint(info):
            return _FrameTracer(self, info)
        return None

    def _has_breakpoint(self, info: _CodeInfo) -> bool:
        """Does this code object have a line with a breakpoint? (Only such frames need line
        events: the rest of a file with breakpoints runs at full speed.)"""
        if info.version != self._bp_version:
            bps = self._breakpoints.get(info.path) if info.path else None
            info.has_breakpoint = bool(bps) and not info.lines.isdisjoint(bps)
            info.version = self._bp_version
        return info.has_breakpoint

    def _stop_point(self, frame: Any, info: _CodeInfo, stmt: tuple) -> None:
        if self._terminating:
            raise Terminated()
        reason = None
        hit: list[int] = []
        bps = self._breakpoints.get(info.path) if info.path else None
        if bps:
            bp = bps.get(frame.f_lineno)
            if bp is not None and self._breakpoint_stops(bp, frame):
                reason = "breakpoint"
                hit.append(bp.id)
        if reason is None:
            mode = self._mode
            if self._pause:
                reason = "pause"
            elif mode == "entry":
                reason = "entry"
            elif mode == "in":
                reason = "step"
            elif mode == "next" and frame is self._target:
                reason = "step"
            elif mode == "out" and frame is self._target and self._after_return:
                reason = "step"
        if reason is not None:
            self._stop_at(frame, reason, hit, (stmt[0][0], stmt[0][1]))

    def _returned(self, frame: Any) -> None:
        if frame is self._target:
            caller = zixir_stack(frame.f_back)
            self._target = caller[0] if caller else None
            self._after_return = True
            if self._target is None:
                self._mode = None

    def _breakpoint_stops(self, bp: Breakpoint, frame: Any) -> bool:
        if bp.condition:
            try:
                value = self._evaluate_in(frame, bp.condition,
                                          instruction_pos(frame.f_code, frame.f_lasti))
            except Terminated:
                raise
            except BaseException as exc:  # noqa: BLE001 - reported, and the program stops
                message = exc.message if isinstance(exc, ZixirError) else str(exc)
                self.write_output("stderr", f"breakpoint condition `{bp.condition}` at line "
                                            f"{bp.line} failed: {message}\n")
                return True
            if not is_truthy(value):
                return False
        bp.hits += 1
        return bp.hit_matches()

    # ---- stopping (program thread) ---------------------------------------------------------

    def _stop_at(self, frame: Any, reason: str, hit: list[int], stmt_pos: Pos) -> None:
        frames = zixir_stack(frame)
        views = [frame_view(self._new_frame_id(), f) for f in frames]
        if views:  # the top frame is shown at its statement, not at a sub-expression
            views[0].line, views[0].column = stmt_pos
        self._serve(Stop(reason, views, hit_breakpoints=hit))

    def _stop_post_mortem(self, tb: Any, error: ZixirError) -> None:
        entries = []
        while tb is not None:
            if is_zixir_code(tb.tb_frame.f_code):
                entries.append((tb.tb_frame, tb.tb_lasti))
            tb = tb.tb_next
        entries.reverse()
        views = [frame_view(self._new_frame_id(), f, lasti) for f, lasti in entries]
        if views and error.line is not None:
            top = views[0]
            if error.filename is None or (top.path and path_key(top.path)
                                          == path_key(error.filename)):
                top.line, top.column = error.line, error.column or 1
        self._serve(Stop("exception", views, error=error, description=error.message))

    def _new_frame_id(self) -> int:
        self._frame_ids += 1
        return self._frame_ids

    def _serve(self, stop: Stop) -> None:
        """Stopped: announce it, then run the adapter's commands until told to go on."""
        self._pause = False
        with self._lock:
            self.stop = stop
        body: dict[str, Any] = {"reason": stop.reason, "threadId": 1,
                                "allThreadsStopped": True}
        if stop.description:
            body["description"] = "Uncaught error" if stop.reason == "exception" else \
                stop.description
            body["text"] = stop.description
        if stop.hit_breakpoints:
            body["hitBreakpointIds"] = stop.hit_breakpoints
        self.send_event("stopped", body)
        try:
            while True:
                command, arg = self._commands.get()
                if command == "call":
                    fn, future = arg
                    if future.set_running_or_notify_cancel():
                        try:
                            future.set_result(fn())
                        except BaseException as exc:  # noqa: BLE001 - to the waiting adapter
                            future.set_exception(exc)
                    continue
                if command == "terminate":
                    raise Terminated()
                self._begin_step(arg, stop)
                return
        finally:
            with self._lock:
                self.stop = None

    def _begin_step(self, mode: str | None, stop: Stop) -> None:
        self._mode = mode
        self._after_return = False
        self._target = stop.frames[0].frame if stop.frames else None
        if mode is not None and stop.reason != "exception" and self._target is not None:
            # every Zixir frame on the stack must report its lines and returns now
            self._attach(self._target, lambda info: True)

    # ---- evaluation (program thread) -------------------------------------------------------

    def evaluate(self, view: FrameView, expression: str) -> Any:
        """Evaluate a Zixir expression in a frame of the stopped program."""
        return self.call_in_program(lambda: self._evaluate_in(view.frame, expression,
                                                              view.position))

    def _evaluate_in(self, frame: Any, expression: str, position: Pos | None) -> Any:
        code, names = _compiled_expression(expression)
        namespace = dict(frame.f_globals)
        for name, value in local_variables(frame, position or (frame.f_lineno, 1),
                                           names).items():
            namespace[mangle(name)] = value
        try:
            return types.FunctionType(code, namespace)()
        except Exception as exc:  # noqa: BLE001 - as in the session: a positioned ZixirError
            raise localize(exc) from None

    def scope_variables(self, view: FrameView, kind: str) -> dict[str, Any]:
        if kind == "locals":
            return local_variables(view.frame, view.position)
        return global_variables(view.frame)


_EVAL_SESSION = Session()  # compiles expressions typed by the person debugging
_EXPRESSIONS: dict[str, Any] = {}
_MAX_EXPRESSIONS = 256


def _compiled_expression(expression: str) -> Any:
    """The code of the function evaluating `expression`, compiled once per text: a condition
    is evaluated at every pass over its line."""
    found = _EXPRESSIONS.get(expression)
    if found is None:
        compiled = _EVAL_SESSION.compile(expression, "<evaluate>")
        code = next(c for c in compiled.code.co_consts
                    if getattr(c, "co_name", None) == compiled.function_name)
        names = set()  # the Zixir names it reads, in it or in the functions it defines
        for each in code_objects(code):
            names.update(n for n in each.co_names + each.co_freevars if zixir_name(n))
        names = {zixir_name(n) for n in names}
        if len(_EXPRESSIONS) >= _MAX_EXPRESSIONS:  # evaluations are many (every hover)
            oldest = next(iter(_EXPRESSIONS))
            with _PROGRAMS_LOCK:
                _PROGRAMS.pop(_EXPRESSIONS.pop(oldest)[0], None)
        # the compiled program stays referenced here: `_PROGRAMS` only holds it weakly
        found = _EXPRESSIONS[expression] = (compiled.gen_filename, code, names, compiled)
    return found[1], found[2]
