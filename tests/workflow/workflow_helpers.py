"""Helpers for the workflow tests: an in-process memory for sessions without a runtime, and
the `zixir` command in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from zixir.lang.session import Session
from zixir.workflow.storage import DictKeyValue

ROOT = Path(__file__).resolve().parents[2]


class LocalServices:
    """`Services` whose memory is a dict (no Python calls): the language surface, in-process."""

    def __init__(self, parallelism: int = 4) -> None:
        self.parallelism = parallelism
        self.kv = DictKeyValue()

    def call_python(self, module: str, function: str, args: list, kwargs: dict) -> Any:
        raise AssertionError("no Python calls in these tests")

    def memory_put(self, key: str, value: Any, ttl: float | None = None) -> None:
        self.kv.put(key, value)

    def memory_get(self, key: str, default: Any = None, *, has_default: bool = False) -> Any:
        return self.kv.get(key, default)

    def memory_delete(self, key: str) -> bool:
        return self.kv.delete(key)

    def memory_keys(self, prefix: str = "") -> list[str]:
        return [k for k, _ in self.kv.scan(prefix)]

    def memory_scan(self, prefix: str = "") -> list[tuple[str, Any]]:
        return self.kv.scan(prefix)

    def memory_incr(self, key: str, n: Any = 1) -> Any:
        return self.kv.update(key, lambda v: v + n, 0)

    def memory_cas(self, key: str, expected: Any, new: Any) -> bool:
        with self.kv.lock:
            if self.kv.data.get(key) != expected:
                return False
            self.kv.data[key] = new
            return True

    def memory_update(self, key: str, f: Any, default: Any = None) -> Any:
        return self.kv.update(key, f, default)


def session(services: LocalServices | None = None) -> Session:
    return Session(services or LocalServices())


def zixir(*args: str, env: dict | None = None, timeout: float = 180,
          cwd: str | None = None) -> subprocess.CompletedProcess:
    """`python -m zixir ARGS` in a subprocess (its own process group: killable as a whole)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-P", "-m", "zixir", *args], capture_output=True,
                          text=True, timeout=timeout, env=full_env, cwd=cwd)
