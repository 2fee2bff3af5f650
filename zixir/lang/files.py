"""The file built-ins (`read_file`, `write_file`, `append_file`, `read_lines`, `list_dir`,
`exists`), confined to the directories a program may use:

    path --resolve (symlinks, `..`)--> absolute real path --under one of the roots?--> open
                                                                   |
                                                                   no --> FileAccessDenied

The roots are the working directory, the directory of the script being run, and the paths the
project configures (`zixir.toml`: `[policy] files = [...]`). Relative paths are taken from the
working directory. Each session has its own `FileAccess`; the registry entries in `builtins`
document the functions and serve sessions that set no roots (working directory only).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from .errors import FileAccessDenied, ZixirRuntimeError
from .values import FALSE, TRUE, Bool, ZList, type_name


class FileAccess:
    """The file built-ins of one session, confined to `roots` plus the working directory."""

    def __init__(self, roots: Iterable[str] = ()) -> None:
        self.roots: list[str] = []
        for root in roots:
            self.allow(root)

    def allow(self, directory: str) -> None:
        real = os.path.realpath(directory)
        if real not in self.roots:
            self.roots.append(real)

    def _roots(self) -> list[str]:
        cwd = os.path.realpath(os.getcwd())
        return [cwd] + [r for r in self.roots if r != cwd]

    def resolve(self, who: str, path: Any) -> str:
        """The real path of `path`, or FileAccessDenied if it lies outside every root."""
        if type(path) is not str:
            raise ZixirRuntimeError(f"{who}: expected a path string, got {type_name(path)}")
        if not path or "\0" in path:
            raise ZixirRuntimeError(f"{who}: invalid path {path!r}")
        real = os.path.realpath(os.path.expanduser(path))
        roots = self._roots()
        for root in roots:
            if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
                return real
        raise FileAccessDenied(
            f"{who}: access to {path!r} is refused: files must be under the working directory, "
            f"the script's directory or a path in zixir.toml [policy] files (allowed: "
            f"{', '.join(roots)})")

    def _io(self, who: str, path: str, action):
        try:
            return action()
        except FileNotFoundError:
            raise ZixirRuntimeError(f"{who}: no such file or directory: {path!r}") from None
        except IsADirectoryError:
            raise ZixirRuntimeError(f"{who}: {path!r} is a directory") from None
        except NotADirectoryError:
            raise ZixirRuntimeError(f"{who}: {path!r} is not a directory") from None
        except PermissionError:
            raise ZixirRuntimeError(f"{who}: permission denied: {path!r}") from None
        except UnicodeDecodeError:
            raise ZixirRuntimeError(f"{who}: {path!r} is not UTF-8 text") from None
        except OSError as e:
            raise ZixirRuntimeError(f"{who}: {path!r}: {e.strerror or e}") from None

    def read_file(self, path: Any) -> str:
        real = self.resolve("read_file", path)

        def read() -> str:
            with open(real, encoding="utf-8", newline="") as f:
                return f.read()

        return self._io("read_file", path, read)

    def read_lines(self, path: Any) -> ZList:
        return ZList(self.read_file_as("read_lines", path).splitlines())

    def read_file_as(self, who: str, path: Any) -> str:
        real = self.resolve(who, path)

        def read() -> str:
            with open(real, encoding="utf-8") as f:
                return f.read()

        return self._io(who, path, read)

    def _write(self, who: str, path: Any, text: Any, mode: str) -> None:
        if type(text) is not str:
            raise ZixirRuntimeError(f"{who}: expected a string to write, got {type_name(text)}")
        real = self.resolve(who, path)

        def write() -> None:
            with open(real, mode, encoding="utf-8", newline="") as f:
                f.write(text)

        self._io(who, path, write)
        return None

    def write_file(self, path: Any, text: Any) -> None:
        return self._write("write_file", path, text, "w")

    def append_file(self, path: Any, text: Any) -> None:
        return self._write("append_file", path, text, "a")

    def list_dir(self, path: Any = ".") -> ZList:
        real = self.resolve("list_dir", path)
        return ZList(sorted(self._io("list_dir", path, lambda: os.listdir(real))))

    def exists(self, path: Any) -> Bool:
        real = self.resolve("exists", path)
        return TRUE if os.path.exists(real) else FALSE

    def functions(self) -> dict[str, Any]:
        """Name -> function, for a session's builtins namespace."""
        return {"read_file": self.read_file, "write_file": self.write_file,
                "append_file": self.append_file, "read_lines": self.read_lines,
                "list_dir": self.list_dir, "exists": self.exists}


for _name in ("read_file", "read_lines", "write_file", "append_file", "list_dir", "exists"):
    getattr(FileAccess, _name).zixir_name = _name  # how errors name the bound methods
