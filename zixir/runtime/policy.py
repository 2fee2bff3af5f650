"""Which Python functions a program may call (DESIGN.md section 5).

    router: policy.check(module, function)      fails fast, before any worker is used
    worker: policy.check(...) again, then every module object met while resolving the dotted
            function name and the defining module of the final callable (so `logging.os.system`
            or a re-export of `os.system` is refused too)

Rules are dotted prefixes. The most specific matching rule wins; `allow` beats `deny` at equal
length, so `--allow os` re-opens `os` and `deny=["numpy.load"]` closes one function. Names are
validated as dotted identifiers, and parts starting with `__` are refused: names are looked up
with getattr, never interpolated into code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from zixir.lang.errors import PolicyDenied

DEFAULT_DENY: tuple[str, ...] = (
    "os", "posix", "nt", "subprocess", "shutil", "sys", "importlib", "ctypes", "_ctypes",
    "socket", "_socket", "ssl", "pickle", "_pickle", "marshal", "shelve", "dill", "cloudpickle",
    "multiprocessing", "_posixsubprocess", "pty", "fcntl", "resource", "signal", "mmap",
    "code", "codeop", "runpy", "pdb", "bdb", "gc", "inspect", "imp", "zipimport", "pkgutil",
    "threading", "_thread", "asyncio", "selectors", "select", "tempfile", "pathlib", "glob",
    "io", "_io", "webbrowser", "http", "urllib", "ftplib", "smtplib", "telnetlib",
    "builtins.eval", "builtins.exec", "builtins.compile", "builtins.open",
    "builtins.__import__", "builtins.input", "builtins.breakpoint", "builtins.exit",
    "builtins.quit", "builtins.help", "builtins.globals", "builtins.locals", "builtins.vars",
    "builtins.getattr", "builtins.setattr", "builtins.delattr", "builtins.memoryview",
    "numpy.load", "numpy.save", "numpy.savez", "numpy.savez_compressed", "numpy.savetxt",
    "numpy.loadtxt", "numpy.genfromtxt", "numpy.fromfile", "numpy.memmap", "numpy.ctypeslib",
)

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_DOTTED = re.compile(rf"^{_IDENT}(\.{_IDENT})*$")


class CallPolicy:
    def __init__(self, allow: Iterable[str] = (), deny: Iterable[str] = (),
                 allow_all: bool = False, defaults: bool = True) -> None:
        self.allow = tuple(allow)
        self.deny = tuple(deny) + (DEFAULT_DENY if defaults and not allow_all else ())
        self.allow_all = allow_all
        self._decisions: dict[str, str | None] = {}
        self._checked: set[tuple[str, str]] = set()  # rules never change: cache per name
        for rule in self.allow + self.deny:
            if not _DOTTED.match(rule):
                raise ValueError(f"policy rule {rule!r} is not a dotted name")

    def to_wire(self) -> dict:
        return {"allow": list(self.allow), "deny": list(self.deny), "allow_all": self.allow_all}

    @classmethod
    def from_wire(cls, d: dict) -> CallPolicy:
        return cls(d.get("allow", ()), d.get("deny", ()), d.get("allow_all", False),
                   defaults=False)

    def explicitly_allowed(self, name: str) -> bool:
        """An allow rule (not merely the absence of a deny rule) covers `name`."""
        if self.allow_all:
            return True
        return any(name == r or name.startswith(r + ".") for r in self.allow) and \
            self.decision(name) is None

    def decision(self, name: str) -> str | None:
        """The deny rule that refuses dotted `name`, or None when it is allowed."""
        try:
            return self._decisions[name]
        except KeyError:
            pass
        rule = self._decide(name)
        if len(self._decisions) < 100_000:
            self._decisions[name] = rule
        return rule

    def _decide(self, name: str) -> str | None:
        best_len, best_rule, best_is_allow = -1, None, True
        for rules, is_allow in ((self.deny, False), (self.allow, True)):
            for rule in rules:
                if name == rule or name.startswith(rule + "."):
                    if len(rule) > best_len or (len(rule) == best_len and is_allow):
                        best_len, best_rule, best_is_allow = len(rule), rule, is_allow
        if best_rule is None or best_is_allow:
            return None
        return best_rule

    def check(self, module: str, function: str) -> None:
        """Raise PolicyDenied unless `module.function` may be called."""
        if (module, function) in self._checked:
            return
        self._check(module, function)
        if len(self._checked) < 100_000:
            self._checked.add((module, function))

    def _check(self, module: str, function: str) -> None:
        if not isinstance(module, str) or not _DOTTED.match(module):
            raise PolicyDenied(f"invalid Python module name {module!r}")
        if not isinstance(function, str) or not _DOTTED.match(function):
            raise PolicyDenied(f"invalid Python function name {function!r}")
        if any(part.startswith("__") for part in f"{module}.{function}".split(".")):
            raise PolicyDenied(f"{module}.{function}: dunder names cannot be called")
        if self.allow_all and not self.deny:
            return
        rule = self.decision(f"{module}.{function}")
        if rule is not None:
            raise PolicyDenied(
                f"calling {module}.{function} is denied by the call policy (rule {rule!r}); "
                f"allow it with --allow {rule} or allow=[{rule!r}]"
            )

    def check_name(self, dotted: str, what: str) -> None:
        """Refuse a module or callable met while resolving a call (worker side)."""
        rule = self.decision(dotted)
        if rule is not None:
            raise PolicyDenied(f"{what} reaches {dotted}, which the call policy denies "
                               f"(rule {rule!r})")
