"""Structured events: one JSON line per event, from every process of a runtime.

    host / router / store / worker  --event(name, **fields)-->  structlog  --JSON line-->
                                                                 stderr, or the log file
                                                                 (O_APPEND: lines never mix)

Each process builds its own logger with `structlog.wrap_logger`, so the global structlog
configuration of a program that embeds zixir is never touched. Events and their levels:
process.start/exit (info), process.crash, process.restart, supervisor.escalate,
breaker.state, call.timeout, call.refused (warning); for agents (zixir.runtime.agents)
agent.start, agent.stop, agent.exit (info), agent.crash, agent.restart (warning),
agent.failed (error).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Any

_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50, "off": 100}


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


def make_logger(process: str, level: str = "warning", path: str | None = None) -> Any:
    """A structlog logger for one process of the runtime, built at its first event (importing
    structlog costs tens of milliseconds of every process's start, and most runs log
    nothing)."""
    levelno = _LEVELS.get(str(level).lower(), logging.WARNING)
    if levelno > logging.CRITICAL:
        return NullLog()
    return _LazyLog(process, levelno, path, os.getpid())


class _LazyLog:
    def __init__(self, process: str, levelno: int, path: str | None, pid: int) -> None:
        self._args = (process, levelno, path, pid)
        self._logger: Any = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        logger = self._logger
        if logger is None:
            with self._lock:
                if self._logger is None:
                    self._logger = _build(*self._args)
                logger = self._logger
        return getattr(logger, name)


def _build(process: str, levelno: int, path: str | None, pid: int) -> Any:
    import structlog

    return structlog.wrap_logger(
        _LineWriter(path),
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(default=repr),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(levelno),
        context_class=dict,
        cache_logger_on_first_use=False,
    ).bind(process=process, pid=pid)


class NullLog:
    """A logger that drops everything (components used without a runtime)."""

    def __getattr__(self, name: str) -> Any:
        return lambda *a, **k: None
