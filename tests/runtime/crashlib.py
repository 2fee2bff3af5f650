"""A library that kills the worker running it (a module of its own, so its breaker is too)."""

from __future__ import annotations

import os
import signal


def kill_self():
    os.kill(os.getpid(), signal.SIGKILL)


def maybe_kill(i, crash):
    if crash:
        os.kill(os.getpid(), signal.SIGKILL)
    return i
