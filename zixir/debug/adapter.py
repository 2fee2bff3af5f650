"""The Debug Adapter Protocol requests of `zixir debug`, on top of the `engine`.

    client --request--> DebugAdapter.handle --> response (+ events)
                              |
               launch + configurationDone --> Debugger.run(program) on a deep thread
                              |                    |  stops --> `stopped` event
                              |                    |  print --> `output` events
                              |                    '- ends  --> `output` (value or error),
                              |                                  `exited`, `terminated`
               stackTrace/scopes/variables/evaluate read the current `Stop`

The program runs with real services, as under `zixir run`: Python calls and `memory.*` go
to a `zixir.Runtime` the adapter starts on first use (`DebugServices`) with the same options
(`args` of the launch configuration are `zixir run`'s: `--workers`, `--timeout`, `--allow`,
`--allow-all`, `--memory`). `pmap` runs one element at a time, so breakpoints in the mapped
function are hit in order.
"""

from __future__ import annotations

import argparse
import os
import threading
from collections.abc import Callable
from typing import Any

from ..lang.errors import ZixirError, ZixirSyntaxError
from ..lang.session import Session
from .engine import (
    Breakpoint,
    Debugger,
    Outcome,
    Stop,
    check_condition,
    check_hit_condition,
)
from .lines import BreakpointLines
from .variables import Handles, children, describe, is_container

THREAD_ID = 1
EXIT_INTERRUPTED = 130


class LaunchError(ZixirError):
    """A launch configuration the adapter cannot run (no such program, bad option)."""


class DebugRequestError(ZixirError):
    """A request that cannot be served in the current state (e.g. not stopped)."""


CAPABILITIES: dict[str, Any] = {
    "supportsConfigurationDoneRequest": True,
    "supportsConditionalBreakpoints": True,
    "supportsHitConditionalBreakpoints": True,
    "supportsEvaluateForHovers": True,
    "supportsTerminateRequest": True,
    "supportTerminateDebuggee": True,
    "supportsExceptionInfoRequest": True,
    "supportsDelayedStackTraceLoading": False,
    "exceptionBreakpointFilters": [{
        "filter": "uncaught",
        "label": "Uncaught Errors",
        "description": "Stop where an error no Zixir code handles is raised.",
        "default": True,
    }],
}


class OutputStream:
    """`sys.stdout`/`sys.stderr` of the adapter: what the program prints becomes `output`
    events (fd 1 belongs to the protocol)."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, emit: Callable[[str, str], None], category: str, fd: int) -> None:
        self._emit = emit
        self.category = category
        self._fd = fd
        self.at_line_start = True

    def write(self, text: str) -> int:
        if text:
            self.at_line_start = text.endswith("\n")
            self._emit(self.category, text)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._fd


class _ArgumentError(Exception):
    pass


class _Options(argparse.ArgumentParser):
    def error(self, message: str):  # type: ignore[override]
        raise _ArgumentError(message)


def _options_parser() -> argparse.ArgumentParser:
    parser = _Options(prog="args", add_help=False)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=None)
    parser.add_argument("--allow", action="append", default=[])
    parser.add_argument("--allow-all", action="store_true")
    parser.add_argument("--memory", default=None)
    return parser


class DebugServices:
    """`Services` of the debugged program: a `zixir.Runtime`, started at the first Python
    call or memory operation, closed when the program ends."""

    parallelism = 1

    def __init__(self, options: dict[str, Any]) -> None:
        self._options = options
        self._lock = threading.Lock()
        self._host: Any = None
        self._closed = False

    def _services(self) -> Any:
        with self._lock:
            if self._closed:
                raise LaunchError("the program's runtime was closed")
            if self._host is None:
                from ..runtime.memory import is_url
                from ..runtime.runtime import HostServices, Runtime

                memory = self._options.pop("memory_path")
                if not is_url(memory):  # a postgresql:// URL needs no directory
                    os.makedirs(os.path.dirname(os.path.abspath(memory)), exist_ok=True)
                self._host = HostServices(Runtime(memory_path=memory, **self._options))
            return self._host

    def call_python(self, module: str, function: str, args: list, kwargs: dict) -> Any:
        return self._services().call_python(module, function, args, kwargs)

    def memory_put(self, key: str, value: Any) -> None:
        self._services().memory_put(key, value)

    def memory_get(self, key: str, default: Any = None, *, has_default: bool = False) -> Any:
        return self._services().memory_get(key, default, has_default=has_default)

    def memory_delete(self, key: str) -> bool:
        return self._services().memory_delete(key)

    def memory_keys(self, prefix: str = "") -> list[str]:
        return self._services().memory_keys(prefix)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            host, self._host = self._host, None
        if host is not None:
            host.runtime.close()


class DebugAdapter:
    """One debug session: requests in, responses and events out through `send`."""

    def __init__(self, send: Callable[[dict], None]) -> None:
        self._send = send
        self._seq = 0
        self._seq_lock = threading.Lock()
        self.debugger = Debugger(self.event, self.output)
        self.handles = Handles()
        self.lines = BreakpointLines()
        self.stdout = OutputStream(self.output, "stdout", 1)
        self.stderr = OutputStream(self.output, "stderr", 2)
        self.drain_output: Callable[[], None] = lambda: None
        self.launch: dict[str, Any] | None = None
        self.configured = False
        self.started = False
        self.services: DebugServices | None = None
        self.finished = threading.Event()
        self.should_exit = threading.Event()
        self._bp_ids = 0
        self._program: str | None = None

    # ---- messages ------------------------------------------------------------------------

    def _next_seq(self) -> int:
        with self._seq_lock:
            self._seq += 1
            return self._seq

    def event(self, name: str, body: dict | None = None) -> None:
        message: dict[str, Any] = {"seq": self._next_seq(), "type": "event", "event": name}
        if body is not None:
            message["body"] = body
        self._send(message)

    def output(self, category: str, text: str) -> None:
        self.event("output", {"category": category, "output": text})

    def _respond(self, request: dict, body: dict | None = None, *, success: bool = True,
                 message: str | None = None) -> None:
        response: dict[str, Any] = {"seq": self._next_seq(), "type": "response",
                                    "request_seq": request.get("seq", 0), "success": success,
                                    "command": request.get("command", "")}
        if message is not None:
            response["message"] = message
        if body is not None:
            response["body"] = body
        self._send(response)

    def handle(self, message: dict) -> None:
        if message.get("type") != "request":
            return
        command = message.get("command", "")
        handler = getattr(self, "on_" + str(command), None)
        if handler is None:
            self._respond(message, success=False, message=f"unsupported request: {command}")
            return
        args = message.get("arguments") or {}
        try:
            body = handler(args)
        except Exception as exc:  # noqa: BLE001 - one failed request must not end the session
            text = str(exc) if isinstance(exc, ZixirError) else \
                f"internal error in the debugger: {type(exc).__name__}: {exc}"
            self._respond(message, success=False, message=text)
            return
        self._respond(message, body)
        after = getattr(self, "after_" + str(command), None)
        if after is not None:
            after(args)

    # ---- configuration -------------------------------------------------------------------

    def on_initialize(self, args: dict) -> dict:
        return dict(CAPABILITIES)

    def after_initialize(self, args: dict) -> None:
        self.event("initialized")

    def on_launch(self, args: dict) -> None:
        cwd = args.get("cwd") or None
        if cwd is not None:
            if not os.path.isdir(cwd):
                raise LaunchError(f"cwd is not a directory: {cwd}")
            os.chdir(cwd)
        program = args.get("program")
        if not program or not isinstance(program, str):
            raise LaunchError("the launch configuration needs \"program\": the .zx file to "
                              "debug")
        program = os.path.abspath(program)
        if not os.path.isfile(program):
            raise LaunchError(f"no such file: {program}", filename=program)
        options = self._runtime_options(args.get("args") or [], program)
        self._program = program
        self.services = DebugServices(options)
        self.launch = {"program": program, "stopOnEntry": bool(args.get("stopOnEntry")),
                       "noDebug": bool(args.get("noDebug"))}
        return None

    def after_launch(self, args: dict) -> None:
        self._start_if_ready()

    def _runtime_options(self, extra: Any, program: str) -> dict[str, Any]:
        from ..runtime_bridge import default_memory_path

        if not isinstance(extra, list) or not all(isinstance(a, str) for a in extra):
            raise LaunchError("\"args\" must be a list of strings (options of `zixir run`)")
        try:
            parsed = _options_parser().parse_args(extra)
        except _ArgumentError as exc:
            raise LaunchError(f"\"args\": {exc} (accepted: --workers N, --timeout S, "
                              "--allow MODULE, --allow-all, --memory PATH)") from None
        options: dict[str, Any] = {"memory_path": parsed.memory or default_memory_path(),
                                   "paths": (os.path.dirname(program),)}
        if parsed.workers is not None:
            options["workers"] = parsed.workers
        if parsed.timeout is not None:
            options["call_timeout"] = parsed.timeout
        if parsed.allow:
            options["allow"] = tuple(parsed.allow)
        if parsed.allow_all:
            options["allow_all"] = True
        return options

    def on_setBreakpoints(self, args: dict) -> dict:
        source = args.get("source") or {}
        path = source.get("path")
        requested = args.get("breakpoints")
        if requested is None:
            requested = [{"line": line} for line in args.get("lines") or []]
        results = []
        accepted: list[Breakpoint] = []
        for spec in requested:
            self._bp_ids += 1
            bp_id = self._bp_ids
            line = int(spec.get("line", 0))
            result: dict[str, Any] = {"id": bp_id, "verified": False, "line": line}
            if path:
                result["source"] = {"name": os.path.basename(path), "path": path}
            message = None
            actual = None
            if not path:
                message = "only breakpoints in files on disk are supported"
            else:
                actual, message = self.lines.verify(path, line)
            condition = spec.get("condition") or None
            hit_condition = spec.get("hitCondition") or None
            if actual is not None and condition:
                problem = check_condition(condition)
                if problem:
                    actual, message = None, f"invalid condition: {problem}"
            if actual is not None and hit_condition:
                problem = check_hit_condition(hit_condition)
                if problem:
                    actual, message = None, f"invalid hit count: {problem}"
            if actual is not None:
                result["verified"] = True
                result["line"] = actual
                accepted.append(Breakpoint(bp_id, actual, condition, hit_condition))
            if message:
                result["message"] = message
            results.append(result)
        if path:
            self.debugger.set_breakpoints(path, accepted)
        return {"breakpoints": results}

    def on_setExceptionBreakpoints(self, args: dict) -> dict:
        filters = list(args.get("filters") or [])
        filters += [f.get("filterId") for f in args.get("filterOptions") or []]
        self.debugger.break_on_uncaught = "uncaught" in filters
        return {}

    def on_configurationDone(self, args: dict) -> None:
        self.configured = True
        return None

    def after_configurationDone(self, args: dict) -> None:
        self._start_if_ready()

    def _start_if_ready(self) -> None:
        if self.started or self.launch is None or not self.configured:
            return
        self.started = True
        assert self.services is not None and self._program is not None
        session = Session(services=self.services, filename=self._program)
        future = self.debugger.run(session, self._program,
                                   stop_on_entry=self.launch["stopOnEntry"],
                                   trace=not self.launch["noDebug"])
        future.add_done_callback(self._ended)

    def _ended(self, future: Any) -> None:
        from ..cli import print_result, report_error

        try:
            outcome: Outcome = future.result()
        except BaseException as exc:  # noqa: BLE001 - a bug in the adapter: still reported
            outcome = Outcome(error=ZixirError(f"internal error in the debugger: {exc!r}"))
        if outcome.terminated:
            code = EXIT_INTERRUPTED
        elif outcome.error is not None:
            report_error(outcome.error, self._program)
            code = 2 if isinstance(outcome.error, ZixirSyntaxError) else 1
        else:
            print_result(outcome.value, False, self.stdout.at_line_start)
            code = 0
        if self.services is not None:
            self.services.close()
        self.drain_output()
        self.event("exited", {"exitCode": code})
        self.event("terminated")
        self.finished.set()

    # ---- running -------------------------------------------------------------------------

    def on_threads(self, args: dict) -> dict:
        return {"threads": [{"id": THREAD_ID, "name": "main"}]}

    def _resume(self, mode: str | None) -> None:
        self.handles.clear()
        self.debugger.resume(mode)

    def on_continue(self, args: dict) -> dict:
        self._resume(None)
        return {"allThreadsContinued": True}

    def on_next(self, args: dict) -> None:
        self._resume("next")

    def on_stepIn(self, args: dict) -> None:
        self._resume("in")

    def on_stepOut(self, args: dict) -> None:
        self._resume("out")

    def on_pause(self, args: dict) -> None:
        if self.started and not self.finished.is_set() and self.debugger.stop is None:
            self.debugger.request_pause()

    def on_terminate(self, args: dict) -> None:
        if self.started and not self.finished.is_set():
            self.debugger.terminate()

    def on_disconnect(self, args: dict) -> None:
        if self.started and not self.finished.is_set():
            self.debugger.terminate()
            if not self.finished.wait(5.0) and self.services is not None:
                self.services.close()  # a Python call it waits for fails, and it ends
                self.finished.wait(10.0)
        if self.services is not None:
            self.services.close()

    def after_disconnect(self, args: dict) -> None:
        self.should_exit.set()

    def client_gone(self) -> None:
        """The client closed the input: the same as a disconnect."""
        self.on_disconnect({})
        self.should_exit.set()

    # ---- inspecting ----------------------------------------------------------------------

    def _stopped(self) -> Stop:
        stop = self.debugger.stop
        if stop is None:
            raise DebugRequestError("the program is not stopped")
        return stop

    def on_stackTrace(self, args: dict) -> dict:
        stop = self._stopped()
        start = int(args.get("startFrame") or 0)
        levels = int(args.get("levels") or 0)
        views = stop.frames[start:start + levels] if levels else stop.frames[start:]
        frames = []
        for view in views:
            frame: dict[str, Any] = {"id": view.id, "name": view.name, "line": view.line,
                                     "column": view.column}
            if view.path:
                frame["source"] = {"name": os.path.basename(view.path), "path": view.path}
            frames.append(frame)
        return {"stackFrames": frames, "totalFrames": len(stop.frames)}

    def on_scopes(self, args: dict) -> dict:
        stop = self._stopped()
        view = stop.frame(args.get("frameId"))
        if view is None:
            raise DebugRequestError(f"no frame {args.get('frameId')}")
        return {"scopes": [
            {"name": "Locals", "presentationHint": "locals", "expensive": False,
             "variablesReference": self.handles.add(("scope", view, "locals"))},
            {"name": "Globals", "expensive": False,
             "variablesReference": self.handles.add(("scope", view, "globals"))},
        ]}

    def _variable(self, name: str, value: Any, evaluate_name: str | None) -> dict:
        out = {"name": name, **describe(value), "variablesReference": 0}
        if evaluate_name is not None:
            out["evaluateName"] = evaluate_name
        if is_container(value) and len(value):
            out["variablesReference"] = self.handles.add(("value", value, evaluate_name))
        return out

    def on_variables(self, args: dict) -> dict:
        self._stopped()
        item = self.handles.get(int(args.get("variablesReference") or 0))
        if item is None:
            return {"variables": []}
        if item[0] == "scope":
            _, view, kind = item
            names = self.debugger.scope_variables(view, kind)
            return {"variables": [self._variable(n, v, n) for n, v in names.items()]}
        _, value, evaluate_name = item
        start = int(args.get("start") or 0)
        count = int(args.get("count") or 0) or None
        out = []
        for name, suffix, child in children(value, start, count):
            out.append(self._variable(name, child, evaluate_name + suffix
                                      if evaluate_name is not None else None))
        return {"variables": out}

    def on_evaluate(self, args: dict) -> dict:
        expression = str(args.get("expression") or "").strip()
        if not expression:
            raise DebugRequestError("nothing to evaluate")
        stop = self.debugger.stop
        if stop is None:
            raise DebugRequestError("the program is running: pause it to evaluate")
        view = stop.frame(args.get("frameId"))
        if view is None:
            raise DebugRequestError("no frame to evaluate in")
        value = self.debugger.evaluate(view, expression)
        out = self._variable(expression, value, expression)
        return {"result": out["value"], "type": out["type"],
                "variablesReference": out["variablesReference"],
                **{k: out[k] for k in ("indexedVariables", "namedVariables") if k in out}}

    def on_exceptionInfo(self, args: dict) -> dict:
        stop = self._stopped()
        error = stop.error
        if error is None:
            raise DebugRequestError("the program did not stop on an error")
        kind = type(error).__name__
        details: dict[str, Any] = {"message": error.message, "typeName": kind}
        if error.call_chain:
            details["stackTrace"] = "\n".join(str(f) for f in error.call_chain)
        return {"exceptionId": kind, "description": str(error), "breakMode": "unhandled",
                "details": details}
