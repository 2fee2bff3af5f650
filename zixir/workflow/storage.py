"""Where workflow state lives in the memory store, and the key/value interface it needs.

    workflow/run/NAME/KEY                      the run record (status, result, error, times)
    workflow/step/NAME/KEY/STEP                a step record (status, result, attempts, error)
    workflow/element/NAME/KEY/STEP/INDEX/HASH  a `map` element's result (its checkpoint)

Names, keys and step names are percent-encoded, so a `/` inside one never splits it. Values
are plain Python (None/bool/int/float/str/list/dict) stored as msgpack by the store's client.

`KeyValue` is all the engine and the admin commands need; three implementations:
`MemoryClient` (a running runtime's store, `rt.memory`), `StoreKeyValue` (a store file or
PostgreSQL URL opened directly, for `zixir workflow ...` without a runtime) and `DictKeyValue` (tests).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import quote, unquote

ROOT = "workflow/"
RUNS = ROOT + "run/"
STEPS = ROOT + "step/"
ELEMENTS = ROOT + "element/"


class KeyValue(Protocol):
    def get(self, key: str, default: Any = None) -> Any: ...

    def put(self, key: str, value: Any) -> None: ...

    def delete(self, key: str) -> bool: ...

    def scan(self, prefix: str = "") -> list[tuple[str, Any]]: ...

    def update(self, key: str, f: Callable[[Any], Any], default: Any = None) -> Any: ...


def _part(text: str) -> str:
    return quote(text, safe="")


def run_key(name: str, key: str) -> str:
    return f"{RUNS}{_part(name)}/{_part(key)}"


def steps_prefix(name: str, key: str) -> str:
    return f"{STEPS}{_part(name)}/{_part(key)}/"


def step_key(name: str, key: str, step: str) -> str:
    return steps_prefix(name, key) + _part(step)


def elements_prefix(name: str, key: str, step: str | None = None) -> str:
    base = f"{ELEMENTS}{_part(name)}/{_part(key)}/"
    return base if step is None else base + _part(step) + "/"


def element_key(name: str, key: str, step: str, index: int, digest: str) -> str:
    return f"{elements_prefix(name, key, step)}{index:09d}/{digest}"


def parse_element(stored_key: str, prefix: str) -> tuple[int, str]:
    """(index, hash) of an element key under `prefix`."""
    index, _, digest = stored_key[len(prefix):].partition("/")
    return int(index), digest


def parse_run(stored_key: str) -> tuple[str, str]:
    """(name, key) of a run record's key."""
    name, _, key = stored_key[len(RUNS):].partition("/")
    return unquote(name), unquote(key)


def parse_step(stored_key: str, prefix: str) -> str:
    return unquote(stored_key[len(prefix):])


def digest(value: Any) -> str:
    """A short hash of a plain value: what identifies a `map` element besides its index."""
    from zixir.runtime.memory import pack_value

    return hashlib.sha256(pack_value(value)).hexdigest()[:20]


class DictKeyValue:
    """An in-process `KeyValue` (tests, and the engine's own unit tests)."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.lock = threading.Lock()

    def get(self, key: str, default: Any = None) -> Any:
        with self.lock:
            return self.data.get(key, default)

    def put(self, key: str, value: Any) -> None:
        with self.lock:
            self.data[key] = value

    def delete(self, key: str) -> bool:
        with self.lock:
            return self.data.pop(key, None) is not None

    def scan(self, prefix: str = "") -> list[tuple[str, Any]]:
        with self.lock:
            return sorted((k, v) for k, v in self.data.items() if k.startswith(prefix))

    def update(self, key: str, f: Callable[[Any], Any], default: Any = None) -> Any:
        with self.lock:
            value = f(self.data.get(key, default))
            self.data[key] = value
            return value


class StoreKeyValue:
    """A store opened directly (the `zixir workflow` commands need no runtime): a SQLite file
    or a PostgreSQL URL. Both serialise conflicting writers, so this is safe beside a running
    program using the same store."""

    def __init__(self, path: str) -> None:
        from zixir.runtime.memory import open_store

        self.store = open_store(path)

    def close(self) -> None:
        self.store.release()  # no checkpoint: a running store may be using the file

    def get(self, key: str, default: Any = None) -> Any:
        from zixir.runtime.memory import unpack_value

        blob = self.store.get(key)
        return default if blob is None else unpack_value(blob)

    def put(self, key: str, value: Any) -> None:
        from zixir.runtime.memory import pack_value

        self.store.put(key, pack_value(value))

    def delete(self, key: str) -> bool:
        return self.store.delete(key)

    def scan(self, prefix: str = "") -> list[tuple[str, Any]]:
        from zixir.runtime.memory import unpack_value

        return [(k, unpack_value(b)) for k, b in self.store.scan(prefix)]

    def update(self, key: str, f: Callable[[Any], Any], default: Any = None) -> Any:
        from zixir.runtime.memory import pack_value, unpack_value

        while True:
            blob, version = self.store.get_versioned(key)
            value = f(default if blob is None else unpack_value(blob))
            if self.store.put_if_version(key, pack_value(value), version):
                return value
