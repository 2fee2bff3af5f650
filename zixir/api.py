"""The process-wide default evaluator behind `zixir.eval` and `zixir.run_file`.

Each call evaluates in a fresh interpreter session (so separate `zixir.eval` calls do not share
variables; use `zixir.Runtime` for a persistent session). Python calls and `memory.*` go to the
default runtime, which is started on first use.
"""

from __future__ import annotations

import threading
from typing import Any

from .lang.session import Session

_lock = threading.Lock()


class _FreshSessions:
    """Evaluates every program in a new session sharing the default services."""

    def eval(self, source: str, filename: str | None = None) -> Any:
        return Session(services=_services()).eval(source, filename)

    def run_file(self, path: str) -> Any:
        return Session(services=_services()).run_file(path)


def _services():
    try:
        from .runtime import default_services  # provided by the runtime
    except ImportError:
        return None
    return default_services()


_DEFAULT = _FreshSessions()


def default_session() -> _FreshSessions:
    return _DEFAULT
