"""How the CLI and REPL get an interpreter: on the supervised runtime when it is available,
otherwise in-process with Python calls and `memory.*` reported as unavailable."""

from __future__ import annotations

from typing import Any

from .lang.session import Session


def run_file_for_cli(path: str, *, workers: int | None = None, timeout: float | None = None,
                     allow: list[str] | None = None, allow_all: bool = False,
                     stats: bool = False) -> Any:
    """Run `path` (calling `fn main`) and return its value as a Zixir value."""
    return Session().run_file_value(path)


def repl_session(workers: int | None = None) -> Session:
    return Session()
