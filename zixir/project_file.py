"""`zixir.toml`: the project's settings (WORKLOADS.md section 1), found like pyproject.toml (the
script's directory, then its parents) or named with `--config FILE` / `Runtime(config=PATH)`.

    [runtime]               RuntimeConfig options: workers, call_timeout, breakers, limits ...
    [policy]                allow, deny, allow_all, files
    [modules.llm]           per-module call settings, validated by zixir.runtime.modules
    [modules."llm.complete"]

    text --tomllib--> data --validate (RUNTIME_KEYS, policy, modules.normalize_table)--> options
      |                                   | any problem
      +--locate_keys (positions)--------> ProjectFileError naming FILE, LINE, COLUMN and key

tomllib does not keep positions, so `locate_keys` scans the text once more (it is valid TOML
by then) and records where every key is written, inline tables included: an error points at
the exact key. Options combine as: explicit (command line, Runtime keywords) > file > defaults;
`allow`, `deny` and the `[modules]` tables add up instead, per key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from zixir.lang.errors import ZixirError

FILENAME = "zixir.toml"
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?\s*$")
_UNITS = {None: 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}
LOG_LEVELS = ("debug", "info", "warning", "error", "critical", "off")


class ProjectFileError(ZixirError):
    """zixir.toml cannot be used as it is (the CLI prints it and exits with status 2)."""


# ---- the keys of [runtime] ---------------------------------------------------------------------

class _Bad(ValueError):
    """A value of the wrong kind; the message says what was expected."""


def _integer(low: int) -> Callable[[Any, str], int]:
    def check(v: Any, base: str) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise _Bad(f"must be an integer of at least {low}")
        return v
    return check


def _seconds(zero: bool = False) -> Callable[[Any, str], float]:
    def check(v: Any, base: str) -> float:
        if isinstance(v, bool) or not isinstance(v, int | float) or v < 0 or (v == 0 and not zero):
            raise _Bad("must be a number of seconds" + (" (0 or more)" if zero else
                                                        " greater than 0"))
        return float(v)
    return check


def _optional(check: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
    """`check`, or "auto" for the default that depends on the machine (None)."""
    def wrapped(v: Any, base: str) -> Any:
        if v == "auto":
            return None
        try:
            return check(v, base)
        except _Bad as e:
            raise _Bad(f"{e} (or \"auto\")") from None
    return wrapped


def _bool(v: Any, base: str) -> bool:
    if not isinstance(v, bool):
        raise _Bad("must be true or false")
    return v


def _fraction(v: Any, base: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 1:
        raise _Bad("must be a number between 0 and 1")
    return float(v)


def _size(v: Any, base: str) -> int:
    """Bytes: an integer, or a string such as "512MB", "4GiB" (0: unlimited / off)."""
    if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
        return v
    m = _SIZE.match(v) if isinstance(v, str) else None
    if not m:
        raise _Bad("must be a size in bytes: an integer or a string such as \"512MB\" or "
                   "\"4GiB\"")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def _names(v: Any, base: str) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(x, str) and _DOTTED.match(x) for x in v):
        raise _Bad("must be a list of dotted names such as \"numpy\" or \"uuid.uuid4\"")
    return tuple(v)


def _path(v: Any, base: str) -> str:
    if not isinstance(v, str) or not v:
        raise _Bad("must be a path (relative paths start at the directory of zixir.toml)")
    return os.path.normpath(os.path.join(base, os.path.expanduser(v)))


def _store(v: Any, base: str) -> str:
    """A memory store: a file (relative to zixir.toml) or a postgresql:// URL, kept as is."""
    if isinstance(v, str) and v.startswith(("postgresql://", "postgres://")):
        return v
    if not isinstance(v, str) or not v:
        raise _Bad("must be a path (relative paths start at the directory of zixir.toml) or "
                   "a postgresql:// URL")
    return _path(v, base)


def _paths(v: Any, base: str) -> tuple[str, ...]:
    if not isinstance(v, list):
        raise _Bad("must be a list of paths (relative paths start at the directory of "
                   "zixir.toml)")
    return tuple(_path(p, base) for p in v)


def _choice(*choices: str) -> Callable[[Any, str], str]:
    def check(v: Any, base: str) -> str:
        if v not in choices:
            raise _Bad(f"must be one of {', '.join(choices)}")
        return v
    return check


def _choice_text(v: Any, base: str) -> str:
    if not isinstance(v, str) or not v:
        raise _Bad("must be a host name or address")
    return v


def _cluster(v: Any, base: str) -> str:
    from .lang.errors import ClusterUnavailable
    from .runtime.cluster import parse_address

    try:
        return parse_address(v)
    except ClusterUnavailable:
        raise _Bad("must be \"auto\", \"ray://HOST:PORT\" (Ray client) or \"HOST:PORT\" "
                   "(the cluster's GCS address)") from None


def _cpus(v: Any, base: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
        raise _Bad("must be a number of CPUs >= 0 (fractions allowed)")
    return float(v)


def _port(v: Any, base: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 65535:
        raise _Bad("must be a TCP port (0: any free port)")
    return v


def _log_level(v: Any, base: str) -> str:
    if v not in LOG_LEVELS:
        raise _Bad(f"must be one of {', '.join(LOG_LEVELS)}")
    return v


@dataclass(frozen=True)
class Key:
    check: Callable[[Any, str], Any]
    doc: str  # what it is and its default (the README's table says the same)


#: `[runtime]` key -> RuntimeConfig field of the same name
RUNTIME_KEYS: dict[str, Key] = {
    "workers": Key(_integer(1), "sync worker processes (default: the number of CPUs)"),
    "call_timeout": Key(_seconds(), "seconds a Python call may run (default 30)"),
    "max_queue": Key(_integer(0), "calls that may wait for a worker before Overloaded (1024)"),
    "restart_intensity": Key(_optional(_integer(0)),
                             "worker restarts allowed per restart_period (\"auto\": 3 per "
                             "worker and the template)"),
    "restart_period": Key(_seconds(), "seconds of the worker restart window (5)"),
    "root_intensity": Key(_integer(0), "router / store restarts per root_period (3)"),
    "root_period": Key(_seconds(), "seconds of the root restart window (5)"),
    "shutdown_grace": Key(_seconds(zero=True), "seconds a child gets to stop (1)"),
    "breaker_fail_max": Key(_integer(1), "failures that open a module's breaker (5)"),
    "breaker_reset_timeout": Key(_seconds(), "seconds an open breaker waits for a probe (30)"),
    "breaker_per_function": Key(_bool, "one breaker per module.function (false)"),
    "breaker_counts_python_errors": Key(_bool, "Python exceptions count as failures (false)"),
    "idempotent": Key(_names, "modules / functions whose calls may be retried ([])"),
    "retry_attempts": Key(_integer(1), "attempts of an idempotent call (3)"),
    "retry_backoff": Key(_seconds(zero=True), "first wait between attempts, doubling (0.05)"),
    "retry_backoff_max": Key(_seconds(zero=True), "longest wait between attempts (2)"),
    "recycle_calls": Key(_integer(0), "replace a worker after this many calls (0: never)"),
    "recycle_rss": Key(_size, "replace a worker above this resident size (0: never)"),
    "rlimit_as": Key(_optional(_size), "address space per worker (\"auto\": memory_fraction "
                                       "of RAM; 0: unlimited)"),
    "memory_fraction": Key(_fraction, "share of RAM for rlimit_as \"auto\" (0.5)"),
    "rlimit_cpu": Key(_optional(_seconds()), "CPU seconds per call (\"auto\": the timeout on "
                                             "every core + 2)"),
    "rlimit_fsize": Key(_size, "largest file a worker may write (16GiB)"),
    "rlimit_nofile": Key(_integer(16), "open files per worker (4096)"),
    "confine_writes": Key(_bool, "workers write only under the working directory, the temp "
                                 "directory and write_paths (true)"),
    "write_paths": Key(_paths, "more directories workers may write to ([])"),
    "confine_network": Key(_bool, "workers may not open TCP connections (false)"),
    "max_frame": Key(_size, "largest message between processes (64MiB)"),
    "shm_threshold": Key(_size, "arrays above this go through shared memory (1MiB)"),
    "preload": Key(_names, "modules imported by the worker template ([\"numpy\"])"),
    "prewarm": Key(_bool, "start the workers with the runtime, not at the first call (false)"),
    "spin": Key(_seconds(zero=True), "seconds a waiting caller polls before it blocks "
                                     "(0.00003)"),
    "paths": Key(_paths, "directories added to the workers' sys.path ([])"),
    "cluster": Key(_cluster, "run the Python workers on this Ray cluster: \"auto\", "
                             "\"ray://HOST:PORT\" or \"HOST:PORT\" (default: this machine)"),
    "cluster_cpus": Key(_cpus, "CPUs each worker actor reserves on the cluster (1)"),
    "memory_path": Key(_store, "file of the memory store, or a postgresql:// URL (default: "
                               "$ZIXIR_MEMORY, else ~/.local/share/zixir/memory.sqlite3 for "
                               "zixir run)"),
    "log_level": Key(_log_level, "debug, info, warning, error, critical or off (warning)"),
    "log_file": Key(_path, "write the runtime's logs to this file (default: stderr)"),
    "log_format": Key(_choice("auto", "console", "json"),
                      "auto (lines on a terminal, JSON otherwise), console or json"),
    "progress": Key(_optional(_bool), "progress bars of long fan-outs (\"auto\": when stderr "
                                      "is a terminal)"),
    "metrics_port": Key(_port, "serve Prometheus metrics on this port (0: any free one; "
                               "default: not served)"),
    "metrics_host": Key(_choice_text, "address the metrics server listens on (127.0.0.1)"),
}
POLICY_KEYS: dict[str, Key] = {
    "allow": Key(_names, "modules / functions allowed beyond the default allowance"),
    "deny": Key(_names, "modules / functions refused, even if allowed (deny wins)"),
    "allow_all": Key(_bool, "allow every Python call (trusted code only; deny still applies)"),
    "files": Key(_paths, "directories the file built-ins may use besides the working and the "
                         "script's directory ([])"),
}
#: `[policy]` keys whose RuntimeConfig field has another name
POLICY_FIELDS = {"files": "file_paths"}
TABLES = ("runtime", "policy", "modules")


@dataclass
class ProjectFile:
    """A validated zixir.toml: RuntimeConfig options (`options`) and where each came from."""

    path: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def allow(self) -> tuple[str, ...]:
        return self.options.get("allow", ())

    @property
    def deny(self) -> tuple[str, ...]:
        return self.options.get("deny", ())


# ---- finding and reading -----------------------------------------------------------------------

def find(start: str) -> str | None:
    """The nearest zixir.toml in `start` or one of its parents."""
    directory = os.path.abspath(start)
    while True:
        candidate = os.path.join(directory, FILENAME)
        if os.path.isfile(candidate):
            return candidate
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def for_script(script: str | None, config: str | None = None) -> ProjectFile | None:
    """The file a command uses: `config` when given (it must exist), else the nearest one to
    the script's directory (the current directory without a script)."""
    if config:
        if not os.path.isfile(config):
            raise ProjectFileError(f"--config: no such file: {config}", filename=config)
        return load(config)
    start = os.path.dirname(os.path.abspath(script)) if script else os.getcwd()
    found = find(start)
    return load(found) if found else None


def load(path: str) -> ProjectFile:
    """Read and validate a zixir.toml (raises ProjectFileError)."""
    import tomllib

    path = os.path.abspath(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ProjectFileError(f"{FILENAME} is not valid UTF-8: {e.reason}", 1, 1,
                               filename=path) from None
    except OSError as e:
        raise ProjectFileError(f"cannot read {path}: {e.strerror}", filename=path) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(e))
        if m:
            line, column = int(m.group(1)), int(m.group(2))
        else:  # "at end of document": the last line
            lines = text.splitlines() or [""]
            line, column = len(lines), len(lines[-1]) + 1
        message = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", str(e))
        raise ProjectFileError(f"{FILENAME} is not valid TOML: {message}", line, column,
                               filename=path) from None
    return _Validator(path, text).run(data)


def policy_rules(path: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(allow, deny) of the file's [policy] table (empty when it has none)."""
    found = load(path)
    return found.allow, found.deny


def combine(file: ProjectFile | None, explicit: dict[str, Any]) -> dict[str, Any]:
    """RuntimeConfig options: explicit ones (None: not given) over the file's; `allow` and
    `deny` add up, and `modules` tables merge key by key (explicit keys win)."""
    options = dict(file.options) if file is not None else {}
    for key, value in explicit.items():
        if value is None:
            continue
        if key in ("allow", "deny"):
            value = (value,) if isinstance(value, str) else tuple(value)
            options[key] = tuple(options.get(key, ())) + tuple(
                v for v in value if v not in options.get(key, ()))
        elif key == "modules" and isinstance(value, dict):
            merged = {name: dict(table) for name, table in options.get("modules", {}).items()}
            for name, table in value.items():
                if isinstance(table, dict) and isinstance(merged.get(name), dict):
                    merged[name].update(table)
                else:  # new, or not a table: the runtime's validation says what is wrong
                    merged[name] = table
            options["modules"] = merged
        else:
            options[key] = value
    return options


# ---- validation -------------------------------------------------------------------------------

class _Validator:
    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text
        self.base = os.path.dirname(path)
        self._positions: dict[tuple, tuple[int, int]] | None = None

    def error(self, where: tuple, message: str) -> ProjectFileError:
        if self._positions is None:
            self._positions = locate_keys(self.text)
        line, column, end = 1, 1, 2
        for n in range(len(where), 0, -1):  # the key, else the nearest enclosing table
            if where[:n] in self._positions:
                line, column, end = self._positions[where[:n]]
                break
        return ProjectFileError(message, line, column, filename=self.path, end_line=line,
                                end_column=end)

    def run(self, data: dict) -> ProjectFile:
        options: dict[str, Any] = {}
        for table, value in data.items():
            if table not in TABLES:
                raise self.error((table,), f"unknown table [{table}] (known: "
                                           f"{', '.join(TABLES)})")
            if not isinstance(value, dict):
                raise self.error((table,), f"[{table}] must be a table")
        for key, value in data.get("runtime", {}).items():
            options[key] = self.check("runtime", RUNTIME_KEYS, key, value)
        for key, value in data.get("policy", {}).items():
            options[POLICY_FIELDS.get(key, key)] = self.check("policy", POLICY_KEYS, key, value)
        modules = self.modules(data.get("modules", {}))
        if modules:
            options["modules"] = modules
        return ProjectFile(self.path, options)

    def check(self, table: str, keys: dict[str, Key], key: str, value: Any) -> Any:
        spec = keys.get(key)
        if spec is None:
            close = [k for k in keys if _similar(k, key)]
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise self.error((table, key), f"unknown key {key!r} in [{table}]{hint} (known: "
                                           f"{', '.join(keys)})")
        try:
            return spec.check(value, self.base)
        except _Bad as e:
            raise self.error((table, key), f"[{table}] {key}: {e}") from None

    def modules(self, tables: dict) -> dict[str, dict]:
        from zixir.runtime.modules import ModuleSettingsError, normalize_table

        out: dict[str, dict] = {}
        for name, table in tables.items():
            try:
                out[name] = normalize_table(name, table)
            except ModuleSettingsError as e:
                rest = e.key[len(f"modules.{name}"):].lstrip(".")
                where = ("modules", name, *(rest.split(".") if rest else ()))
                message = f"[modules.{_toml_key(name)}] {rest + ': ' if rest else ''}{e.message}"
                if isinstance(table, dict) and rest in table and isinstance(table[rest], dict):
                    message += (f" (settings of one function go in their own table: "
                                f"[modules.\"{name}.{rest}\"])")
                raise self.error(where, message) from None
        return out


def _toml_key(name: str) -> str:
    return name if re.match(r"^[A-Za-z0-9_-]+$", name) else f'"{name}"'


def _similar(a: str, b: str) -> bool:
    import difflib

    return difflib.SequenceMatcher(None, a, b).ratio() > 0.75


# ---- where each key is written -------------------------------------------------------------------

def locate_keys(text: str) -> dict[tuple, tuple[int, int, int]]:
    """(line, column, end column) of every key path of a valid TOML text: table headers, keys, dotted keys
    and the keys of inline tables (arrays of tables: by index)."""
    return _Locator(text).run()


class _Locator:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.found: dict[tuple, tuple[int, int, int]] = {}
        self.end = 0  # where the last key path read ends
        self.arrays: dict[tuple, int] = {}
        self._line_starts = [0] + [m.end() for m in re.finditer(r"\n", text)]

    def pos(self, i: int) -> tuple[int, int]:
        import bisect

        line = bisect.bisect_right(self._line_starts, i)
        return line, i - self._line_starts[line - 1] + 1

    def record(self, path: tuple, at: int, end: int | None = None) -> None:
        line, column = self.pos(at)
        stop = self.pos(end)[1] if end is not None and self.pos(end)[0] == line else column + 1
        self.found.setdefault(path, (line, column, stop))

    def peek(self, n: int = 1) -> str:
        return self.s[self.i:self.i + n]

    def skip_space(self, newlines: bool = False) -> None:
        s = self.s
        while self.i < len(s):
            c = s[self.i]
            if c in " \t\r" or (newlines and c == "\n"):
                self.i += 1
            elif c == "#":
                while self.i < len(s) and s[self.i] != "\n":
                    self.i += 1
            else:
                return

    def run(self) -> dict[tuple, tuple[int, int, int]]:
        table: tuple = ()
        while True:
            self.skip_space(newlines=True)
            if self.i >= len(self.s):
                return self.found
            if self.peek(2) == "[[":
                self.i += 2
                start, path = self.key_path()
                index = self.arrays.get(path, -1) + 1
                self.arrays[path] = index
                self.record(path, start, self.end)
                table = path + (index,)
                self.record(table, start, self.end)
                self.i = self.s.index("]]", self.i) + 2
            elif self.peek() == "[":
                self.i += 1
                start, path = self.key_path()
                self.record(path, start, self.end)
                table = path
                self.i = self.s.index("]", self.i) + 1
            else:
                self.key_value(table)

    def key_value(self, table: tuple) -> None:
        start, path = self.key_path()
        full = table + path
        for n in range(len(table) + 1, len(full) + 1):
            self.record(full[:n], start, self.end)
        self.skip_space()
        self.i += 1  # '='
        self.skip_space()
        self.value(full)

    def key_path(self) -> tuple[int, tuple[str, ...]]:
        self.skip_space()
        start = self.i
        parts = []
        while True:
            self.skip_space()
            parts.append(self.key_part())
            self.end = self.i
            self.skip_space()
            if self.peek() != ".":
                return start, tuple(parts)
            self.i += 1

    def key_part(self) -> str:
        s = self.s
        c = s[self.i]
        if c in "\"'":
            raw = self.string()
            import tomllib

            return tomllib.loads(f"k = {raw}")["k"]
        j = self.i
        while j < len(s) and (s[j].isalnum() or s[j] in "_-"):
            j += 1
        part, self.i = s[self.i:j], j
        return part

    def string(self) -> str:
        s, start = self.s, self.i
        for quote in ('"""', "'''"):
            if s.startswith(quote, self.i):
                end = self.i + 3
                while True:
                    end = s.index(quote, end)
                    if quote == '"""' and _escaped(s, end):
                        end += 1
                        continue
                    while s.startswith(quote[0], end + 3):  # up to two quotes may end it
                        end += 1
                    self.i = end + 3
                    return s[start:self.i]
        quote = s[self.i]
        j = self.i + 1
        while s[j] != quote or (quote == '"' and _escaped(s, j)):
            j += 1
        self.i = j + 1
        return s[start:self.i]

    def value(self, path: tuple) -> None:
        c = self.peek()
        if c in "\"'":
            self.string()
        elif c == "{":
            self.i += 1
            while True:
                self.skip_space()
                if self.peek() == "}":
                    self.i += 1
                    return
                start, key = self.key_path()
                full = path + key
                for n in range(len(path) + 1, len(full) + 1):
                    self.record(full[:n], start, self.end)
                self.skip_space()
                self.i += 1  # '='
                self.skip_space()
                self.value(full)
                self.skip_space()
                if self.peek() == ",":
                    self.i += 1
        elif c == "[":
            self.i += 1
            index = 0
            while True:
                self.skip_space(newlines=True)
                if self.peek() == "]":
                    self.i += 1
                    return
                self.record(path + (index,), self.i)
                self.value(path + (index,))
                index += 1
                self.skip_space(newlines=True)
                if self.peek() == ",":
                    self.i += 1
        else:  # number, bool, date: up to the next delimiter
            while self.i < len(self.s) and self.s[self.i] not in ",]}\n#":
                self.i += 1


def _escaped(s: str, i: int) -> bool:
    backslashes = 0
    while i - 1 - backslashes >= 0 and s[i - 1 - backslashes] == "\\":
        backslashes += 1
    return backslashes % 2 == 1
