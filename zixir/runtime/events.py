"""Structured events: one line per event, from every process of a runtime.

    host / router / store / worker  --event(name, **fields)-->  structlog  --one line-->
                                                                 stderr, or the log file
                                                                 (O_APPEND: lines never mix)
    the line: JSON (a log file, stderr that is not a terminal, `log_format="json"`,
    `zixir run --log-json`), or for people on a terminal structlog's console rendering
    (`10:02:03 [warning] call.timeout  process=router pid=4200 call=time.sleep timeout=1.0
    worker_pid=4242`): `pid` is always the writing process's, another process an event is
    about has its own key (worker_pid, agent_pid, router_pid, child_pid)

Each process builds its own logger with `structlog.wrap_logger`, so the global structlog
configuration of a program that embeds zixir is never touched. Events and their levels:
process.start/exit (info), process.crash, process.restart, supervisor.escalate,
breaker.state, call.timeout, call.refused by the policy (warning), call.refused while a
circuit is open or the queue is full (info: one per refused call, the breaker.state warning
already said why); for agents (zixir.runtime.agents)
agent.start, agent.stop, agent.exit (info), agent.crash, agent.restart (warning),
agent.failed (error).
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

# logging's level numbers (this module does not import logging: most processes never log)
_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50, "off": 100}
_WARNING, _CRITICAL = 30, 50
#: in the router: `progress.divert`, which sends a line to the host while a bar is up
_DIVERT: Any = None


class _LineWriter:
    """A structlog logger that writes whole lines with one write(2) each."""

    def __init__(self, path: str | None) -> None:
        self._path = path
        self._fd: int | None = None
        self._lock = threading.Lock()

    def msg(self, message: str) -> None:
        data = (message + "\n").encode()
        with self._lock:
            try:
                if self._path is None:
                    if _DIVERT is not None and _DIVERT(2, message + "\n"):
                        return  # a progress bar is up: the host prints the line above it
                    sys.stderr.flush()
                    os.write(2, data)
                else:
                    if self._fd is None:
                        self._fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT,
                                           0o644)
                    os.write(self._fd, data)
            except OSError:
                pass

    log = debug = info = warn = warning = error = critical = exception = msg


def make_logger(process: str, level: str = "warning", path: str | None = None,
                log_format: str = "auto") -> Any:
    """A structlog logger for one process of the runtime, built at its first event (importing
    structlog costs tens of milliseconds of every process's start, and most runs log
    nothing). `log_format`: "json", "console", or "auto" (console on a terminal)."""
    levelno = _LEVELS.get(str(level).lower(), _WARNING)
    if levelno > _CRITICAL:
        return NullLog()
    return _LazyLog(process, levelno, path, os.getpid(), log_format)


def renders_json(path: str | None, log_format: str = "auto") -> bool:
    """JSON lines, or lines for people? A file always gets JSON; "auto" picks the console
    rendering only when stderr is a terminal."""
    if log_format == "json" or path is not None:
        return True
    if log_format == "console":
        return False
    try:
        return not os.isatty(2)
    except OSError:
        return True


#: the level of each logging method (structlog's names); an event below the logger's level
#: is dropped without building the logger
_METHOD_LEVELS = {"debug": 10, "info": 20, "msg": 20, "warning": 30, "warn": 30, "error": 40,
                  "exception": 40, "critical": 50, "fatal": 50}


def _drop(*args: Any, **kwargs: Any) -> None:
    return None


class _LazyLog:
    def __init__(self, process: str, levelno: int, path: str | None, pid: int,
                 log_format: str = "auto") -> None:
        self._args = (process, levelno, path, pid, log_format)
        self._logger: Any = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        if _METHOD_LEVELS.get(name, _CRITICAL) < self._args[1]:
            return _drop  # filtered out: no need to build the logger for it
        logger = self._logger
        if logger is None:
            with self._lock:
                if self._logger is None:
                    self._logger = _build(*self._args)
                logger = self._logger
        return getattr(logger, name)


#: what the `pid` an event names is (a worker, an agent, ...), by the event's first word: the
#: line's own `pid` is the process that wrote it
_SUBJECT_PIDS = {"agent": "agent_pid", "router": "router_pid", "process": "child_pid",
                 "worker": "worker_pid", "call": "worker_pid"}


def _subject_pid(own: int) -> Any:
    """A structlog processor: an event's `pid=` that is another process's (the worker that
    timed out, the child that crashed) moves to `worker_pid`, `agent_pid`, ...; `pid` stays
    the pid of the process writing the line, as `process` names it."""

    def move(logger: Any, method: str, event_dict: dict) -> dict:
        pid = event_dict.get("pid")
        if pid is not None and pid != own:
            key = _SUBJECT_PIDS.get(str(event_dict.get("event", "")).split(".", 1)[0],
                                    "subject_pid")
            if key == "worker_pid" and str(event_dict.get("call", "")).startswith("agent "):
                key = "agent_pid"
            event_dict[key] = pid
            event_dict["pid"] = own
        return event_dict

    return move


def _build(process: str, levelno: int, path: str | None, pid: int,
           log_format: str = "auto") -> Any:
    import structlog

    if renders_json(path, log_format):
        processors = [
            _subject_pid(pid),
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(default=repr),
        ]
    else:
        processors = [
            _subject_pid(pid),
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="%H:%M:%S", utc=False),
            structlog.dev.ConsoleRenderer(colors=_colors(),
                                          sort_keys=False),
        ]
    return structlog.wrap_logger(
        _LineWriter(path),
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(levelno),
        context_class=dict,
        cache_logger_on_first_use=False,
    ).bind(process=process, pid=pid)


def _colors() -> bool:
    """Colours on a terminal, unless NO_COLOR is set (no-color.org)."""
    return not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


class NullLog:
    """A logger that drops everything (components used without a runtime)."""

    def __getattr__(self, name: str) -> Any:
        return lambda *a, **k: None
