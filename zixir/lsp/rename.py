"""Rename that keeps the program's meaning, or refuses.

    occurrences of the name ──replace──> new text ──analyse──> every name resolves as before?
                                                               no new error?   ──> the edits
                                                               otherwise       ──> RenameError

Rather than enumerate the ways a new name can go wrong (it captures a use of another `a`, an
outer `a` captures it, it hides a built-in used in its scope, it clashes with a definition in
the same scope), the renamed text is analysed again and every use of every name in it must still
refer to the same definition as before: the renamed one under its new name, every other one
unchanged. The checker resolves names exactly as the compiler does, so what it agrees with is
what runs.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from zixir.lang import ast as A

from . import registry
from .analysis import LIBRARY_KINDS, Analysis, Span, analyze, member_span
from .features import IDENTIFIER, rename_target


class RenameError(ValueError):
    """A rename that cannot be done; the message is shown to the user."""


def check_name(new_name: str) -> None:
    if not IDENTIFIER.match(new_name) or new_name in registry.keywords():
        raise RenameError(f"'{new_name}' is not a valid Zixir name")
    if new_name in registry.NAMESPACES:
        raise RenameError(f"'{new_name}' always means the {new_name} namespace when called")


@dataclass
class FileEdit:
    """The spans of one file to replace with the new name (path None: the renamed file)."""

    path: str | None
    source: str
    spans: list[Span]


def rename(analysis: Analysis, line: int, column: int, new_name: str,
           others: Callable[[], Iterable[tuple[str, str]]] | None = None) -> list[FileEdit]:
    """The edits of a rename: this file's, then (for a `pub` top-level name) those of the files
    among `others()` ((path, text) pairs) that import it. RenameError when any of them cannot be
    done safely."""
    check_name(new_name)
    target = rename_target(analysis, line, column)
    if target is None:
        raise RenameError("nothing to rename here: only names defined in this file can be "
                          "renamed")
    definition = target[0]
    spans = analysis.occurrences(definition)
    edits = [FileEdit(None, analysis.source, spans)]
    if definition.name == new_name:
        return edits
    _check_meaning_kept(analysis, definition, spans, new_name)
    if (others is not None and definition.toplevel and analysis.path
            and getattr(definition.node, "public", False)):
        edits += _importers(analysis, definition, spans, new_name, others())
    return edits


def _importers(analysis: Analysis, definition, spans: list[Span], new_name: str,
               others: Iterable[tuple[str, str]]) -> list[FileEdit]:
    """The uses of `pub NAME` in the files that import this one: `NAME` after a plain import,
    `m.NAME` after `import "..." as m`."""
    me = _same(analysis.path)
    renamed = _replaced(analysis.source, spans, new_name)
    read = analysis.read_module or _read

    def overlay(path: str) -> str:  # the importers see this file as it will be
        return renamed if _same(path) == me else read(path)

    out = []
    for path, source in others:
        if _same(path) == me or os.path.basename(me) not in source:
            continue
        other = analyze(source, path, analysis.read_module)
        if other.checked is None or other.program is None:
            continue
        base = os.path.dirname(os.path.abspath(path))
        found: list[Span] = []
        for d in other.checked.definitions:
            node = d.node
            if d.kind != "import" or not isinstance(node, A.Import) or \
                    _same(os.path.join(base, node.path)) != me:
                continue
            if node.alias is None and d.name == definition.name:
                uses = [Span.of(n) for n in other.checked.references(d)]
                if uses:
                    try:
                        _check_meaning_kept(other, d, uses, new_name, overlay)
                    except RenameError as error:
                        raise RenameError(f"in {os.path.basename(path)}: {error}") from None
                found += uses
            elif node.alias is not None:
                found += _member_uses(other, d, definition.name)
        if found:
            out.append(FileEdit(path, source, sorted(set(found))))
    return out


def _member_uses(other: Analysis, alias, name: str) -> list[Span]:
    lines = other.source.split("\n")
    out = []
    for node in A.walk(other.program):
        if (isinstance(node, A.Field) and node.name == name and isinstance(node.target, A.Name)
                and other.checked.resolution.get(node.target) is alias):
            span = member_span(lines, Span.of(node), name)
            if span is not None:
                out.append(span)
    return out


def _same(path: str) -> str:
    return os.path.normcase(os.path.normpath(os.path.abspath(path)))


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _replaced(source: str, spans: list[Span], new_name: str) -> str:
    lines = source.split("\n")
    for span in sorted(spans, reverse=True):
        text = lines[span.line - 1]
        lines[span.line - 1] = text[:span.column - 1] + new_name + text[span.end_column - 1:]
    return "\n".join(lines)


def _identity(definition, renamed, moved, new_name: str | None = None):
    """What a definition is, independent of the text around it."""
    if definition.kind in LIBRARY_KINDS or definition.span is None:
        return (definition.kind, definition.name)
    line, column = definition.span[0], definition.span[1]
    name = new_name if definition is renamed and new_name else definition.name
    return (definition.kind, line, moved(line, column), name)


def _check_meaning_kept(analysis: Analysis, definition, spans: list[Span], new_name: str,
                        read_module: Callable[[str], str] | None = None) -> None:
    old_name = definition.name
    delta = len(new_name) - len(old_name)
    starts: dict[int, list[int]] = defaultdict(list)
    for span in spans:
        starts[span.line].append(span.column)

    def moved(line: int, column: int) -> int:
        return column + delta * sum(1 for c in starts[line] if c < column)

    after = analyze(_replaced(analysis.source, spans, new_name), analysis.path,
                    read_module or analysis.read_module)
    if after.checked is None:
        raise RenameError(f"renaming '{old_name}' to '{new_name}' would break the program")

    now: dict[tuple[int, int], object] = {}
    for node, d in after.checked.resolution.items():
        now[(node.line, node.column)] = d

    def identity_after(d):  # positions are the new text's already
        if d.kind in LIBRARY_KINDS or d.span is None:
            return (d.kind, d.name)
        return (d.kind, d.span[0], d.span[1], d.name)

    for node, d in analysis.checked.resolution.items():
        if not isinstance(node, A.Name):
            continue
        expected = _identity(d, definition, moved, new_name)
        found = now.get((node.line, moved(node.line, node.column)))
        if found is None or identity_after(found) != expected:
            raise RenameError(_conflict(old_name, new_name, node, d, definition, found))

    before = sum(1 for diag in analysis.diagnostics if diag.severity == "error")
    errors = [diag for diag in after.diagnostics if diag.severity == "error"]
    if len(errors) > before:
        raise RenameError(f"renaming '{old_name}' to '{new_name}' would make an error: "
                          f"{errors[0].message} (line {errors[0].line})")


def _conflict(old_name: str, new_name: str, node: A.Name, was, renamed, now) -> str:
    where = f"line {node.line}"
    if was is renamed:
        return (f"renaming '{old_name}' to '{new_name}' would capture its use on {where}: "
                f"it would refer to another '{new_name}'")
    if was.kind in ("builtin", "engine"):
        return (f"renaming '{old_name}' to '{new_name}' would hide the built-in '{new_name}' "
                f"used on {where}")
    return (f"renaming '{old_name}' to '{new_name}' would change what '{node.name}' on {where} "
            f"refers to")
