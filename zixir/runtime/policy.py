"""Which Python functions a program may call (DESIGN.md section 5): an allow list.

    router: policy.check(module, function, paths)   fails fast, before any worker is used
    worker: policy.check(...) again, then resolve the dotted name with getattr and check
            every module met on the way and the *defining* name of every object met
            (`statistics.sys.exit` meets module `sys`; a re-export of `os.system` is defined
            in `posix`; `numpy.matrix.tofile` is defined as `numpy.ndarray.tofile`)

A name `module.function` is decided in this order:

    1. a `deny` rule of the user covers it ........................ refused (deny wins)
    2. an `allow` rule of the user covers it (`--allow`, zixir.toml) allowed
    3. a carve-out of the default allowance covers it (numpy.load) .. refused
    4. the default allowance covers it (math, statistics, numpy, ...) allowed
    5. its top-level module is a file in the script's directory or a configured path
                                                                      allowed
    6. anything else ................................................ refused

Rules are dotted prefixes (`numpy` covers `numpy.linalg.norm`). Private names (a part starting
with `_`) are refused unless an allow rule names that part itself; dunder names are always
refused. Names are validated as dotted identifiers and looked up with getattr, never
interpolated into code. A deny list was tried first and the standard library walked around it
(`timeit.timeit`, `pydoc.pipepager`, `logging.config.dictConfig` run shell commands), hence
the allow list: a module is callable because someone decided it is harmless, not because
nobody thought of it yet.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from zixir.lang.errors import PolicyDenied

#: Modules (or single functions) callable without any configuration: computation on plain
#: data, nothing that reaches files, processes, the network, the interpreter or native code.
DEFAULT_ALLOW: tuple[str, ...] = (
    # numbers
    "math", "cmath", "statistics", "decimal", "fractions", "numbers", "random",
    # text and data
    "json.dumps", "json.loads", "json.JSONDecodeError", "re", "string.capwords",
    "textwrap", "unicodedata", "difflib", "base64", "binascii", "html.escape",
    "html.unescape", "colorsys", "zlib.crc32", "zlib.adler32", "zlib.compress",
    "zlib.decompress", "hashlib.md5", "hashlib.sha1", "hashlib.sha224", "hashlib.sha256",
    "hashlib.sha384", "hashlib.sha512", "hashlib.blake2b", "hashlib.blake2s",
    "hashlib.sha3_256", "hashlib.sha3_512", "struct.pack", "struct.unpack",
    "struct.calcsize", "keyword.iskeyword", "shlex.quote", "shlex.split",
    "ipaddress.ip_address", "ipaddress.ip_network",
    # collections and iteration
    "itertools", "functools.reduce", "functools.cmp_to_key", "operator", "collections",
    "heapq", "bisect", "copy.copy", "copy.deepcopy", "array.array",
    # time (reading clocks, formatting dates; no sleeping beyond the call timeout matters)
    "datetime", "calendar", "time.time", "time.time_ns", "time.monotonic",
    "time.monotonic_ns", "time.perf_counter", "time.perf_counter_ns", "time.process_time",
    "time.sleep", "time.strftime", "time.gmtime", "time.localtime", "time.mktime",
    # builtins on plain data
    *(f"builtins.{name}" for name in (
        "abs", "all", "any", "ascii", "bin", "bool", "bytes", "chr", "complex", "dict",
        "divmod", "float", "format", "frozenset", "hash", "hex", "int", "len", "list", "max",
        "min", "oct", "ord", "pow", "range", "repr", "reversed", "round", "set", "sorted",
        "str", "sum", "tuple", "ArithmeticError", "ValueError", "TypeError")),
    # computational libraries
    "numpy",
)

#: Parts of the default allowance taken away: entry points that reach files, native code or
#: the import system, or that call back into arbitrary attributes.
DEFAULT_CARVE_OUTS: tuple[str, ...] = (
    "numpy.load", "numpy.save", "numpy.savez", "numpy.savez_compressed", "numpy.savetxt",
    "numpy.loadtxt", "numpy.genfromtxt", "numpy.fromfile", "numpy.fromregex", "numpy.memmap",
    "numpy.ctypeslib", "numpy.lib.format", "numpy.lib.npyio", "numpy.lib._npyio_impl",
    "numpy.lib._datasource", "numpy.lib.DataSource", "numpy.DataSource", "numpy.ndarray.tofile",
    "numpy.ndarray.dump", "numpy.ndarray.dumps", "numpy.ndarray.ctypes", "numpy.rec.fromfile",
    "numpy.recarray.tofile", "numpy.core.records.fromfile", "numpy._core.records.fromfile",
    "numpy.testing", "numpy.test", "numpy._pytesttester", "numpy.distutils", "numpy.f2py",
    "numpy.lookfor", "numpy.lib.utils",
    "numpy.show_config", "numpy.show_runtime", "numpy.info", "numpy.source", "numpy.ma.dump",
    "numpy.ma.load", "numpy.ma.dumps", "numpy.ma.loads", "numpy.ma.core.dump",
    "numpy.ma.core.load", "numpy.matrix.tofile", "numpy.memmap.flush",
    "numpy.random.bit_generator", "numpy.random.mtrand.RandomState.__setstate__",
    "numpy.from_dlpack", "numpy.dtype.__reduce__", "numpy.setbufsize", "numpy.seterrcall",
    "numpy.core._internal", "numpy._core._internal", "numpy.char.chararray.tofile",
    "operator.attrgetter", "operator.methodcaller", "collections.abc",
    "random.Random.__init__", "decimal.setcontext", "decimal.localcontext",
    "statistics.sys", "statistics.random", "functools.partial", "calendar.main",
)

#: C implementations re-exported by a public module: a defining name in the key is checked as
#: the value (`_functools.reduce` is `functools.reduce`), never as an allowed private name.
IMPLEMENTATION_OF: dict[str, str] = {
    "_functools": "functools", "_operator": "operator", "_heapq": "heapq", "_bisect": "bisect",
    "_json": "json", "_collections": "collections", "_collections_abc": "collections.abc",
    "_datetime": "datetime", "_pydatetime": "datetime", "_decimal": "decimal",
    "_pydecimal": "decimal", "_random": "random", "_statistics": "statistics", "_sre": "re",
    "re._compiler": "re", "re._parser": "re", "_struct": "struct", "_string": "string",
    "_hashlib": "hashlib", "_md5": "hashlib", "_sha1": "hashlib", "_sha2": "hashlib",
    "_sha256": "hashlib", "_sha512": "hashlib", "_sha3": "hashlib", "_blake2": "hashlib",
    "json.decoder": "json", "json.encoder": "json", "_heapq_impl": "heapq",
    "_pylong": "decimal", "_strptime": "datetime", "_csv": "csv",
}

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_DOTTED = re.compile(rf"^{_IDENT}(\.{_IDENT})*$")


def _covers(rule: str, name: str) -> bool:
    return name == rule or name.startswith(rule + ".")


def _private_beyond(rule: str, name: str) -> str | None:
    """The first private part of `name` after the parts `rule` names itself."""
    parts = name.split(".")
    for part in parts[rule.count(".") + 1:]:
        if part.startswith("_"):
            return part
    return None


def allow_hint(name: str) -> str:
    return f"allow it with --allow {name} or in zixir.toml: [policy] allow = [\"{name}\"]"


class CallPolicy:
    """The rules of one runtime; `paths` are the directories whose modules are the script's."""

    def __init__(self, allow: Iterable[str] = (), deny: Iterable[str] = (),
                 allow_all: bool = False, defaults: bool = True) -> None:
        self.allow = tuple(allow)
        self.deny = tuple(deny)
        self.allow_all = allow_all
        self.defaults = defaults
        self._checked: set[tuple[str, str]] = set()  # allowed names: rules never change
        for rule in self.allow + self.deny:
            if not _DOTTED.match(rule):
                raise ValueError(f"policy rule {rule!r} is not a dotted name")

    def to_wire(self) -> dict:
        return {"allow": list(self.allow), "deny": list(self.deny), "allow_all": self.allow_all,
                "defaults": self.defaults}

    @classmethod
    def from_wire(cls, d: dict) -> CallPolicy:
        return cls(d.get("allow", ()), d.get("deny", ()), d.get("allow_all", False),
                   d.get("defaults", True))

    # ---- decisions ----------------------------------------------------------------------

    def reason(self, name: str, local: bool = False, implementation: bool = False) -> str | None:
        """Why dotted `name` is refused, or None when it may be called. `local`: its module is
        one of the script's; `implementation`: `name` is a defining name, whose module path
        may be private (numpy._core...) while the names after it may not."""
        for rule in self.deny:
            if _covers(rule, name):
                return f"the deny rule {rule!r} covers it"
        if self.allow_all:
            return None
        for rule in self.allow:
            if _covers(rule, name):
                return None if implementation else self._public(rule, name)
        if self.defaults:
            for rule in DEFAULT_CARVE_OUTS:
                if _covers(rule, name):
                    return f"the default allowance leaves out {rule}"
            for rule in DEFAULT_ALLOW:
                if _covers(rule, name):
                    return None if implementation else self._public(rule, name)
        if local:
            return None if implementation else self._public(name.split(".", 1)[0], name)
        if implementation:
            return "it is not in the allowed list"
        return (f"{name.split('.', 1)[0]} is not a module of the script's directory, and "
                f"{name} is not in the allowed list")

    def _leads_to_allowed(self, module: str) -> bool:
        if any(_covers(rule, module) for rule in self.deny):
            return False
        rules = self.allow + (DEFAULT_ALLOW if self.defaults else ())
        if self.defaults and any(_covers(rule, module) for rule in DEFAULT_CARVE_OUTS):
            return False
        return any(rule.startswith(module + ".") for rule in rules)

    @staticmethod
    def _public(rule: str, name: str) -> str | None:
        part = _private_beyond(rule, name)
        return None if part is None else f"{part!r} is private"

    def check(self, module: str, function: str, paths: Iterable[str] = ()) -> None:
        """Raise PolicyDenied unless `module.function` may be called; `paths` are the
        directories whose modules are allowed (the script's directory and configured ones)."""
        if (module, function) in self._checked:
            return
        if not isinstance(module, str) or not _DOTTED.match(module):
            raise PolicyDenied(f"invalid Python module name {module!r}")
        if not isinstance(function, str) or not _DOTTED.match(function):
            raise PolicyDenied(f"invalid Python function name {function!r}")
        name = f"{module}.{function}"
        if any(part.startswith("__") for part in name.split(".")):
            raise PolicyDenied(f"{name}: dunder names cannot be called")
        local = find_local(module, paths) is not None
        why = self.reason(name, local)
        if why is not None:
            top = module.split(".", 1)[0]
            if not local and not is_installed(top):  # a typo: allowing it would not help
                raise PolicyDenied(f'python "{module}" "{function}": there is no module '
                                   f"{top} in the script's directory, nor installed here (a "
                                   "typo?); if the workers have it (on a cluster), "
                                   f"{allow_hint(name)}")
            raise PolicyDenied(f'python "{module}" "{function}" is not allowed ({why}); '
                               f"{allow_hint(name)}")
        if len(self._checked) < 100_000:
            self._checked.add((module, function))

    def explicitly_allowed(self, name: str) -> bool:
        """`--allow-all` or an allow rule of the user covers `name` (the user trusts it whole,
        so what it re-exports is not checked again)."""
        if any(_covers(rule, name) for rule in self.deny):
            return False
        return self.allow_all or any(_covers(rule, name) and _private_beyond(rule, name) is None
                                     for rule in self.allow)

    def check_met(self, module: str, qualname: str, what: str, local: bool = False) -> None:
        """Refuse a module or object met while resolving `what` (worker side), by its defining
        name: `module` (a C implementation counts as its public module) and `qualname` ("" for
        a module), whose parts must be public unless the module is one of the script's."""
        for impl, public in IMPLEMENTATION_OF.items():
            if _covers(impl, module):
                module = public + module[len(impl):]
                break
        defining = f"{module}.{qualname}" if qualname else module
        why = self.reason(defining, local, implementation=True)
        if why is not None and not qualname and self._leads_to_allowed(module):
            why = None  # a module on the way to an allowed function (`json` for json.dumps)
        if why is None and not local and not self.explicitly_allowed(defining):
            for part in qualname.split(".") if qualname else ():
                if part.startswith("_") and not (part.startswith("__") and part.endswith("__")):
                    why = f"{part!r} is private"
                    break
        if why is not None:
            raise PolicyDenied(f"{what} reaches {defining}, which is not allowed ({why}); "
                               f"{allow_hint(defining)}")


def is_installed(top: str) -> bool:
    """Can the top-level module `top` be found on this interpreter's path (without
    importing it)?"""
    import importlib.util

    try:
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        return False


def find_local(module: str, paths: Iterable[str]) -> str | None:
    """The directory among `paths` that holds the top-level module of `module`, if any."""
    top = module.split(".", 1)[0]
    for path in paths:
        if not path:
            continue
        if os.path.isfile(os.path.join(path, top + ".py")) or \
                os.path.isfile(os.path.join(path, top, "__init__.py")):
            return path
    return None
