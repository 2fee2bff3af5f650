"""Types shown on hover: the annotated type of a definition, or one inferred from its value.

Annotations win. Without one, a small bottom-up inference reads literals, operators, calls of
built-ins and engine ops (their registry signatures), calls of user functions (their annotated
or inferred result) and the blocks of `if` and functions. Anything it cannot tell is `Any`;
it never fails and never recurses without bound.
"""

from __future__ import annotations

import re

from zixir.lang import ast as A

from .resolve import Resolution, Span, Symbol

ANY = "Any"
_MAX_DEPTH = 40
_NUMERIC = {"Int", "Float"}


def type_text(node: object) -> str:
    """An annotation as written in Zixir syntax."""
    if isinstance(node, A.TypeName):
        return node.name
    if isinstance(node, A.ListType):
        return f"[{type_text(node.element)}]"
    if isinstance(node, A.MapType):
        return f"{{{type_text(node.value)}}}"
    if isinstance(node, A.FunctionType):
        params = ", ".join(type_text(p) for p in node.params)
        return f"({params}) -> {type_text(node.result)}"
    return ANY


def signature_result(signature: str) -> str:
    """The result type of a registry signature such as `len(x) -> Int` (Any if none)."""
    match = re.search(r"->\s*(.+)$", signature)
    if not match:
        return ANY
    result = match.group(1).strip()
    return {"List": "[Any]", "Map": "{Any}", "Number": "Float"}.get(result, result)


class TypeOracle:
    def __init__(self, resolution: Resolution, builtins: dict, engine_ops: dict) -> None:
        self.resolution = resolution
        self.builtins = builtins
        self.engine_ops = engine_ops
        self._by_span = {ref.span: ref.symbol for ref in resolution.references}
        self._cache: dict[int, str] = {}
        self._active: set[int] = set()

    # ---- symbols ---------------------------------------------------------------------------

    def symbol_type(self, symbol: Symbol) -> str:
        key = id(symbol)
        if key in self._cache:
            return self._cache[key]
        if key in self._active:  # recursive definition: say nothing rather than loop
            return ANY
        self._active.add(key)
        try:
            result = self._symbol_type(symbol)
        finally:
            self._active.discard(key)
        self._cache[key] = result
        return result

    def _symbol_type(self, symbol: Symbol) -> str:
        node = symbol.node
        if isinstance(node, A.Let):
            return type_text(node.type) if node.type is not None else self.infer(node.value)
        if isinstance(node, A.Param):
            return type_text(node.type) if node.type is not None else ANY
        if isinstance(node, (A.FnDef, A.Lambda)):
            return self.function_type(node)
        if isinstance(node, A.TypeAlias):
            return type_text(node.type)
        if isinstance(node, (A.For, A.Comprehension)):  # the loop variable: an element
            return _element(self.infer(node.iterable))
        return ANY

    def function_type(self, node: A.FnDef | A.Lambda) -> str:
        params = ", ".join(type_text(p.type) if p.type is not None else ANY for p in node.params)
        return f"({params}) -> {self.result_type(node)}"

    def result_type(self, node: A.FnDef | A.Lambda) -> str:
        if node.result_type is not None:
            return type_text(node.result_type)
        return self.infer(node.body)

    def signature(self, node: A.FnDef) -> str:
        params = ", ".join(
            f"{p.name}: {type_text(p.type)}" if p.type is not None else p.name
            for p in node.params
        )
        return f"fn {node.name}({params}) -> {self.result_type(node)}"

    # ---- expressions -----------------------------------------------------------------------

    def infer(self, node: object, depth: int = 0) -> str:
        if depth > _MAX_DEPTH or not isinstance(node, A.Node):
            return ANY
        method = getattr(self, "_infer_" + type(node).__name__, None)
        if method is None:
            return ANY
        return method(node, depth + 1)

    def _infer_IntLit(self, node, depth):
        return "Int"

    def _infer_FloatLit(self, node, depth):
        return "Float"

    def _infer_StrLit(self, node, depth):
        return "String"

    def _infer_BoolLit(self, node, depth):
        return "Bool"

    def _infer_NilLit(self, node, depth):
        return "Nil"

    def _infer_ListLit(self, node, depth):
        return f"[{self._join(self.infer(i, depth) for i in node.items)}]"

    def _infer_MapLit(self, node, depth):
        return f"{{{self._join(self.infer(e.value, depth) for e in node.entries)}}}"

    def _infer_Comprehension(self, node, depth):
        return f"[{self.infer(node.element, depth)}]"

    def _infer_Unary(self, node, depth):
        return "Bool" if node.op == "not" else self.infer(node.operand, depth)

    def _infer_Binary(self, node, depth):
        if node.op in ("==", "!=", "<", ">", "<=", ">="):
            return "Bool"
        if node.op == "..":
            return "[Int]"
        left, right = self.infer(node.left, depth), self.infer(node.right, depth)
        if node.op == "+" and "String" in (left, right):
            return "String"
        if node.op == "/" and left in _NUMERIC and right in _NUMERIC:
            return "Float"
        if left in _NUMERIC and right in _NUMERIC:
            return "Int" if left == right == "Int" else "Float"
        return ANY

    def _infer_Logical(self, node, depth):
        return self._join([self.infer(node.left, depth), self.infer(node.right, depth)])

    def _infer_Name(self, node, depth):
        symbol = self._by_span.get(Span.of(node))
        return self.symbol_type(symbol) if symbol is not None else ANY

    def _infer_Call(self, node, depth):
        callee = node.callee
        if isinstance(callee, A.Name):
            symbol = self._by_span.get(Span.of(callee))
            if symbol is not None:
                if isinstance(symbol.node, A.FnDef):
                    return self.result_type(symbol.node)
                return _function_result(self.symbol_type(symbol))
            if callee.name in self.builtins:
                return signature_result(self.builtins[callee.name].signature)
            if callee.name in self.engine_ops:
                return signature_result(self.engine_ops[callee.name].signature)
        if isinstance(callee, A.Lambda):
            return self.result_type(callee)
        return ANY

    def _infer_EngineCall(self, node, depth):
        op = self.engine_ops.get(node.op)
        return signature_result(op.signature) if op is not None else ANY

    def _infer_MemoryCall(self, node, depth):
        return {"keys": "[String]", "put": "Nil", "delete": "Bool"}.get(node.op, ANY)

    def _infer_Lambda(self, node, depth):
        return self.function_type(node)

    def _infer_Index(self, node, depth):
        target = self.infer(node.target, depth)
        if target == "String":
            return "String"
        if target.startswith("[") and target.endswith("]"):
            return target[1:-1]
        if target.startswith("{") and target.endswith("}"):
            return target[1:-1]
        return ANY

    def _infer_Field(self, node, depth):
        if node.name == "length":
            return "Int"
        target = self.infer(node.target, depth)
        return target[1:-1] if target.startswith("{") and target.endswith("}") else ANY

    def _infer_If(self, node, depth):
        then = self.infer(node.then, depth)
        otherwise = self.infer(node.otherwise, depth) if node.otherwise is not None else "Nil"
        return self._join([then, otherwise])

    def _infer_Block(self, node, depth):
        if not node.body:
            return "Nil"
        last = node.body[-1]
        if isinstance(last, A.ExprStmt):
            return self.infer(last.expr, depth)
        if isinstance(last, A.Let):
            return self.infer(last.value, depth) if last.type is None else type_text(last.type)
        return ANY

    @staticmethod
    def _join(types) -> str:
        seen = list(dict.fromkeys(types))
        if not seen:
            return ANY
        if len(seen) == 1:
            return seen[0]
        if set(seen) <= _NUMERIC:
            return "Float"
        return ANY


def _element(collection: str) -> str:
    if collection == "String":
        return "String"
    if collection[:1] == "[" and collection[-1:] == "]":
        return collection[1:-1]
    if collection[:1] == "{" and collection[-1:] == "}":
        return "String"  # iterating a map gives its keys
    return ANY


def _function_result(function_type: str) -> str:
    depth = 0
    for i, ch in enumerate(function_type):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and function_type.startswith("->", i):
            return function_type[i + 2:].strip()
    return ANY
