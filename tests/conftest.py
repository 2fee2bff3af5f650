"""Test-wide setup: `zixir run` and the REPL keep `memory.*` in a file; tests use a private one
instead of the user's (~/.local/share/zixir)."""

from __future__ import annotations

import os
import tempfile

_MEMORY_DIR = tempfile.mkdtemp(prefix="zixir-test-memory-")
os.environ.setdefault("ZIXIR_MEMORY", os.path.join(_MEMORY_DIR, "memory.sqlite3"))

from postgres.fixtures import postgres_server, postgres_url  # noqa: E402, F401 - shared fixtures
