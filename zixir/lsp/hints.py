"""Inlay hints: the types the checker inferred where the program does not write them.

    `let total = 1 + 2.5`   shows   `let total: Float = 1 + 2.5`
    `fn f(x) -> Int: x * 2` shows   `fn f(x: Int) -> Int: x * 2`

Only what is known is shown: nothing for a binding whose type is `Any`, nothing where an
annotation is written. The types are the checker's (`Analysis.type_of`), as hover shows them.
"""

from __future__ import annotations

from dataclasses import dataclass

from zixir.lang import ast as A

from .analysis import Analysis


@dataclass(frozen=True, slots=True, order=True)
class TypeHint:
    line: int  # 1-based position just after the name
    column: int
    label: str  # e.g. ": Float"


def type_hints(analysis: Analysis, first_line: int = 1,
               last_line: int = 1 << 30) -> list[TypeHint]:
    if analysis.program is None or analysis.checked is None:
        return []
    out: list[TypeHint] = []
    for node in A.walk(analysis.program):
        if isinstance(node, A.Let) and node.type is None:
            _add(out, analysis, node, node.name_node.end_line, node.name_node.end_column)
        elif isinstance(node, (A.FnDef, A.Lambda)):
            for param in node.params:
                if param.type is None:
                    _add(out, analysis, param, param.line, param.column + len(param.name))
    return sorted(h for h in out if first_line <= h.line <= last_line)


def _add(out: list[TypeHint], analysis: Analysis, node: A.Node, line: int, column: int) -> None:
    definition = analysis.definition_of_node(node)
    if definition is None:
        return
    type_ = analysis.type_of(definition)
    if type_ and type_ != "Any":
        out.append(TypeHint(line, column, f": {type_}"))
