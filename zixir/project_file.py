"""`zixir.toml`: the project's settings, found like pyproject.toml (the script's directory,
then its parents). Only the `[policy]` table is read here:

    [policy]
    allow = ["mytools", "uuid.uuid4"]   # on top of the default allowance
    deny = ["numpy.linalg"]              # takes part of an allowance away; wins over allow
    files = ["data", "/srv/shared"]      # directories the file built-ins may use as well

A file that is not valid TOML, an unknown key of `[policy]` or a bad value is a
`ProjectFileError` naming the file and line. Other tables belong to other parts of zixir
and are left alone.
"""

from __future__ import annotations

import os
import re

from zixir.lang.errors import ZixirError

FILENAME = "zixir.toml"
_POLICY_KEYS = ("allow", "deny")
_OTHER_POLICY_KEYS = ("files",)
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class ProjectFileError(ZixirError):
    """zixir.toml cannot be used as it is."""


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


def policy_rules(path: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(allow, deny) of the file's [policy] table (empty when it has none)."""
    text, policy = _policy_table(path)
    rules = []
    for key in _POLICY_KEYS:
        value = policy.get(key, [])
        if not isinstance(value, list) or not all(
                isinstance(v, str) and _DOTTED.match(v) for v in value):
            raise ProjectFileError(f"[policy] {key} must be a list of dotted names such as "
                                   f"\"numpy\" or \"uuid.uuid4\"", _line_of(text, key), 1,
                                   filename=path)
        rules.append(tuple(value))
    return rules[0], rules[1]


def policy_files(path: str) -> tuple[str, ...]:
    """The directories of `[policy] files`, absolute (relative ones from the file's directory)."""
    text, policy = _policy_table(path)
    value = policy.get("files", [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ProjectFileError("[policy] files must be a list of directory paths",
                               _line_of(text, "files"), 1, filename=path)
    base = os.path.dirname(os.path.abspath(path))
    return tuple(os.path.normpath(os.path.join(base, os.path.expanduser(v))) for v in value)


def _policy_table(path: str) -> tuple[str, dict]:
    import tomllib

    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        line = re.search(r"line (\d+)", str(e))
        raise ProjectFileError(f"{FILENAME} is not valid TOML: {e}",
                               int(line.group(1)) if line else None, 1, filename=path) from None
    policy = data.get("policy", {})
    if not isinstance(policy, dict):
        raise ProjectFileError("[policy] must be a table", _line_of(text, "policy"), 1,
                               filename=path)
    for key in policy:
        if key not in _POLICY_KEYS + _OTHER_POLICY_KEYS:
            raise ProjectFileError(f"unknown key {key!r} in [policy] (known: allow, deny, files)",
                                   _line_of(text, key), 1, filename=path)
    return text, policy


def _line_of(text: str, key: str) -> int | None:
    for number, line in enumerate(text.splitlines(), 1):
        if re.match(rf"\s*\[?{re.escape(key)}\b", line):
            return number
    return None
