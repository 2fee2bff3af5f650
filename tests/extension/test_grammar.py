"""The extension's static files agree with the language they describe.

The grammar lists built-ins, engine ops, memory members and keywords by name; these tests read
those lists back out of `zixir.tmLanguage.json` and compare them with the registries the
interpreter, the checker and the language server use, so adding a built-in or an op without
teaching the grammar fails here. The grammar's behaviour token by token is tested by
vscode-tmgrammar-test (`.vscode/test/grammar/`, run by `npm run ci`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from zixir.engine import OPS
from zixir.lang.builtins import BUILTINS
from zixir.lang.lexer import KEYWORDS
from zixir.lsp.registry import MEMORY_MEMBERS

EXTENSION_DIR = Path(__file__).resolve().parents[2] / ".vscode"
GRAMMAR = json.loads((EXTENSION_DIR / "syntaxes" / "zixir.tmLanguage.json").read_text("utf-8"))
CONFIG = json.loads((EXTENSION_DIR / "language-configuration.json").read_text("utf-8"))


def alternatives(regex: str) -> set[str]:
    """The words of the `(a|b|c)` group of a grammar regex."""
    groups = re.findall(r"\(((?:[A-Za-z_]+\|)+[A-Za-z_]+)\)", regex)
    assert groups, regex
    return {word for group in groups for word in group.split("|")}


def patterns(rule: str) -> list[dict]:
    return GRAMMAR["repository"][rule]["patterns"]


def test_builtins_match_the_registry() -> None:
    (rule,) = patterns("builtins")
    assert rule["name"] == "support.function.builtin.zixir"
    assert alternatives(rule["match"]) == set(BUILTINS)


def test_engine_ops_match_the_op_table() -> None:
    (rule,) = patterns("engine-ops")
    assert alternatives(rule["match"]) == set(OPS)


def test_memory_members_match() -> None:
    known = [p for p in patterns("namespaces")
             if p.get("captures", {}).get("3", {}).get("name") == "support.function.memory.zixir"]
    assert len(known) == 1
    assert alternatives(known[0]["match"]) == set(MEMORY_MEMBERS)


def test_every_keyword_has_a_rule() -> None:
    words: set[str] = set()
    for rule in patterns("keywords") + patterns("constants"):
        if re.search(r"\(\w+(\|\w+)*\)", rule["match"]):
            words |= set(re.findall(r"\(([\w|]+)\)", rule["match"])[0].split("|"))
    assert set(KEYWORDS) <= words, set(KEYWORDS) - words


def test_extensions_and_scope() -> None:
    assert set(GRAMMAR["fileTypes"]) == {"zx", "zr", "zixir"}
    assert GRAMMAR["scopeName"] == "source.zixir"


def _indents(line: str) -> bool:
    """Would Enter at the end of `line` indent the next one? (the first matching rule wins)"""
    rule = next((r for r in CONFIG["onEnterRules"]
                 if "afterText" not in r and re.search(r["beforeText"], line)), None)
    by_rule = rule is not None and rule["action"]["indent"] != "none"
    by_pattern = bool(re.search(CONFIG["indentationRules"]["increaseIndentPattern"], line))
    assert by_rule == by_pattern, line  # Enter and auto-indent agree
    return by_rule


def test_enter_indents_after_colon_and_brace() -> None:
    for line in ("if x > 3:", "fn add(a, b) {", "match v:", "let m = {", "for x in xs:  # loop",
                 "while go {"):
        assert _indents(line), line
    for line in ("let x = 1", "# a comment:", "print(x)", "}"):
        assert not _indents(line), line
    decrease = CONFIG["indentationRules"]["decreaseIndentPattern"]
    assert re.search(decrease, "  }") and re.search(decrease, "else:")
    assert not re.search(decrease, "  elsewhere = 1")


def test_comments_brackets_and_auto_closing() -> None:
    assert CONFIG["comments"]["lineComment"] == "#"
    assert {tuple(pair) for pair in CONFIG["brackets"]} == {("{", "}"), ("[", "]"), ("(", ")")}
    opens = {pair["open"] for pair in CONFIG["autoClosingPairs"]}
    assert opens == {"{", "[", "(", '"'}
