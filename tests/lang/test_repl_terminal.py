"""The REPL on a pseudo-terminal, as a person types into it: Tab completion of the session's
names and of built-ins (the names come from the router, where the session lives)."""

from __future__ import annotations

import pytest
from test_interrupt import ZIXIR, Terminal

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def env(tmp_path):
    import os

    return {**os.environ, "ZIXIR_MEMORY": str(tmp_path / "memory.db"), "HOME": str(tmp_path)}


def test_tab_completes_bound_names_and_built_ins(env):
    term = Terminal([*ZIXIR, "repl", "--workers", "1"], env)
    try:
        term.wait_for("zx>", 90)
        term.type("let my_total = 41\r")
        term.wait_for(r"\n41\r?\n(.|\n)*zx>", 30)
        term.type("my_to\t")  # completed to my_total
        term.wait_for("my_total$", 30)  # the end of the screen: the line being edited
        term.type(" + 1\r")
        term.wait_for(r"\n42\r?\n(.|\n)*zx>", 30)
        term.type("len(fla\t")  # flat_map, a built-in
        term.wait_for("flat_map$", 30)
        term.type("([1], x => [x, x]))\r")
        term.wait_for(r"\n2\r?\n", 30)
    finally:
        assert term.close() == 0
