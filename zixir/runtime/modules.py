"""Per-module call settings: the `[modules.NAME]` tables of zixir.toml, `Runtime(modules=...)`.

    zixir.toml / Runtime(modules={"llm": {...}, "llm.complete": {...}})
      -> normalize(raw)       validated plain dicts (JSON-safe: they travel in RuntimeConfig)
      -> ModulePolicies       settings_for("llm", "complete"): the "llm" table, then the
                              "llm.complete" table's keys on top (the most specific key wins)
      -> ModuleSettings       what the router enforces around one call, in this order:
                              policy -> breaker -> rate token -> concurrency slot -> worker
                              -> on failure: classify -> retry with backoff

Keys (WORKLOADS.md section 1): concurrency, rate, timeout, wait_timeout, threads, retries,
breaker. A bad key or value raises `ModuleSettingsError(key, message)`; the zixir.toml reader
turns it into an error naming the file and line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from zixir.lang.errors import ZixirError

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*$")
_PER = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0,
        "h": 3600.0, "hour": 3600.0}

KEYS = ("concurrency", "rate", "timeout", "wait_timeout", "threads", "retries", "breaker")
RETRY_KEYS = ("attempts", "on", "backoff", "max_wait", "initial")
BREAKER_KEYS = ("failures", "reset_after", "on")


class ModuleSettingsError(ZixirError, ValueError):
    """A `[modules.*]` key or value that cannot be used (`Runtime(modules=...)`); `key` is its
    dotted path, `message` what is wrong with it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


@dataclass(frozen=True)
class Rate:
    """A token bucket's refill: `count` tokens per `per` seconds (burst: `count`)."""

    count: float
    per: float

    @property
    def per_second(self) -> float:
        return self.count / self.per

    @classmethod
    def parse(cls, text: str | int | float, key: str = "rate") -> Rate:
        if isinstance(text, bool):
            raise ModuleSettingsError(key, "must be a rate such as \"50/s\" or \"3000/min\"")
        if (isinstance(text, list | tuple) and len(text) == 2  # already normalized
                and all(isinstance(v, int | float) and v > 0 for v in text)):
            return cls(float(text[0]), float(text[1]))
        if isinstance(text, int | float):
            if text <= 0:
                raise ModuleSettingsError(key, "must be positive")
            return cls(float(text), 1.0)
        m = _RATE.match(text) if isinstance(text, str) else None
        if not m or float(m.group(1)) <= 0:
            raise ModuleSettingsError(key, "must be a rate such as \"50/s\", \"3000/min\" or "
                                           "\"100/h\"")
        return cls(float(m.group(1)), _PER[m.group(2)])


@dataclass(frozen=True)
class RetrySettings:
    attempts: int = 1  # 1: no retry
    on: tuple[str, ...] = ()  # exception types by name ("TimeoutError", "llm.RateLimited")
    backoff: str = "exponential"  # or "fixed"
    initial: float = 0.05  # first wait in seconds; doubles (exponential), with jitter
    max_wait: float = 30.0  # longest single wait


@dataclass(frozen=True)
class BreakerSettings:
    failures: int | None = None  # None: the runtime's breaker_fail_max
    reset_after: float | None = None  # None: the runtime's breaker_reset_timeout
    on: tuple[str, ...] = ()  # Python exception types that count (crashes, timeouts always do)


@dataclass(frozen=True)
class ModuleSettings:
    concurrency: int | None = None  # calls in flight across all workers; None: unbounded
    rate: Rate | None = None
    timeout: float | None = None  # running time; None: the runtime's call_timeout
    wait_timeout: float | None = None  # None: the timeout
    threads: int = 0
    retries: RetrySettings = field(default_factory=RetrySettings)
    breaker: BreakerSettings = field(default_factory=BreakerSettings)

    @property
    def is_default(self) -> bool:
        return self == _DEFAULT


_DEFAULT = ModuleSettings()


def _positive_number(key: str, value: Any, integer: bool = False, zero: bool = False) -> Any:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise ModuleSettingsError(key, f"must be {'an integer' if integer else 'a number'}")
    if value < 0 or (value == 0 and not zero):
        raise ModuleSettingsError(key, "must be positive" if not zero else "must not be negative")
    return value


def _names(key: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and _NAME.match(v)
                                              for v in value):
        raise ModuleSettingsError(key, "must be a list of exception type names such as "
                                       "\"TimeoutError\" or \"llm.RateLimited\"")
    return list(value)


def normalize_table(name: str, table: Any) -> dict:
    """One validated `[modules.NAME]` table as a plain dict (raises ModuleSettingsError)."""
    where = f"modules.{name}"
    if not _NAME.match(name):
        raise ModuleSettingsError(where, "must be a module or module.function name")
    if not isinstance(table, dict):
        raise ModuleSettingsError(where, "must be a table")
    out: dict[str, Any] = {}
    for key, value in table.items():
        k = f"{where}.{key}"
        if key == "concurrency":
            out[key] = _positive_number(k, value, integer=True)
        elif key == "rate":
            rate = Rate.parse(value, k)
            out[key] = [rate.count, rate.per]
        elif key in ("timeout", "wait_timeout"):
            out[key] = float(_positive_number(k, value))
        elif key == "threads":
            out[key] = _positive_number(k, value, integer=True, zero=True)
        elif key == "retries":
            out[key] = _normalize_sub(k, value, RETRY_KEYS)
        elif key == "breaker":
            out[key] = _normalize_sub(k, value, BREAKER_KEYS)
        else:
            raise ModuleSettingsError(k, f"unknown key (known: {', '.join(KEYS)})")
    return out


def _normalize_sub(where: str, value: Any, keys: tuple[str, ...]) -> dict:
    if not isinstance(value, dict):
        raise ModuleSettingsError(where, "must be a table")
    out: dict[str, Any] = {}
    for key, v in value.items():
        k = f"{where}.{key}"
        if key not in keys:
            raise ModuleSettingsError(k, f"unknown key (known: {', '.join(keys)})")
        if key == "on":
            out[key] = _names(k, v)
        elif key in ("attempts", "failures"):
            out[key] = _positive_number(k, v, integer=True)
        elif key == "backoff":
            if v not in ("exponential", "fixed"):
                raise ModuleSettingsError(k, "must be \"exponential\" or \"fixed\"")
            out[key] = v
        else:  # max_wait, initial, reset_after
            out[key] = float(_positive_number(k, v, zero=key == "initial"))
    return out


def normalize(modules: Any) -> dict[str, dict]:
    """Validate `{name: table}`; returns plain, JSON-safe dicts."""
    if modules is None:
        return {}
    if not isinstance(modules, dict):
        raise ModuleSettingsError("modules", "must be a table of module names")
    return {name: normalize_table(name, table) for name, table in modules.items()}


def _settings(table: dict) -> ModuleSettings:
    retries = table.get("retries", {})
    breaker = table.get("breaker", {})
    rate = table.get("rate")
    return ModuleSettings(
        concurrency=table.get("concurrency"),
        rate=Rate(*rate) if rate else None,
        timeout=table.get("timeout"),
        wait_timeout=table.get("wait_timeout"),
        threads=table.get("threads", 0),
        retries=RetrySettings(**{k: tuple(v) if k == "on" else v for k, v in retries.items()}),
        breaker=BreakerSettings(**{k: tuple(v) if k == "on" else v for k, v in breaker.items()}),
    )


class ModulePolicies:
    """Settings by module and module.function; lookups are cached (the tables are fixed)."""

    def __init__(self, modules: dict[str, dict] | None = None) -> None:
        self.tables = normalize(modules or {})
        self._cache: dict[tuple[str, str], ModuleSettings] = {}

    def __bool__(self) -> bool:
        return bool(self.tables)

    def settings_for(self, module: str, function: str) -> ModuleSettings:
        key = (module, function)
        found = self._cache.get(key)
        if found is None:
            merged: dict[str, Any] = {}
            # a parent package's table applies to its submodules ("llm" covers "llm.client")
            parts = module.split(".")
            for i in range(1, len(parts) + 1):
                merged.update(self.tables.get(".".join(parts[:i]), {}))
            merged.update(self.tables.get(f"{module}.{function}", {}))
            found = _settings(merged) if merged else _DEFAULT
            if len(self._cache) < 100_000:
                self._cache[key] = found
        return found
