"""Run and Debug of a Zixir file in a real VS Code (code-server 4.100 in headless Chromium).

The packaged extension's `zixir` debugger, as a person uses it: a breakpoint toggled on a line
of a function called in a loop, F5 with no launch.json (the extension's configuration provider
debugs the active file through `zixir debug`), then what the Run and Debug views show: the
Zixir call stack, the locals in Zixir literal syntax, an evaluation in the Debug Console, a
step, the program's output, the end of the session; and a second program that stops where its
uncaught error is raised, with the error's message. Every assertion reads the workbench.
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from .codeserver import UI_DEADLINE, Workbench, open_vscode, wait_until

pytestmark = pytest.mark.timeout(300)

ZIXIR = Path(sys.executable).with_name("zixir")

FILES = {
    "main.zx": """\
        # Totals with tax, one call per price.
        fn with_tax(price, rates) {
          let tax = price * rates["standard"]
          let parts = [price, tax]
          price + tax
        }

        let rates = {"standard": 2, "reduced": 1}
        for p in [10, 20] {
          println("total", with_tax(p, rates))
        }
        """,
    "fail.zx": """\
        fn lookup(xs, i) {
          xs[i]
        }

        println("looking up")
        lookup([1, 2], 5)
        """,
}
BREAKPOINT_LINE = 4  # `let parts = [price, tax]` in with_tax


@pytest.fixture
def bench(vscode_vsix: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Workbench]:
    assert ZIXIR.exists(), f"{ZIXIR} is missing: install the project into its venv"
    workspace = tmp_path / "debug-demo"
    workspace.mkdir()
    for name, text in FILES.items():
        (workspace / name).write_text(textwrap.dedent(text), encoding="utf-8")
    # code-server is a remote window: a machine-overridable setting in the (local) user
    # settings is dropped once the workbench reloads the configuration, which starting a debug
    # session does; the remote machine's settings are where it belongs
    machine = tmp_path / "home" / "user-data" / "Machine"
    machine.mkdir(parents=True)
    (machine / "settings.json").write_text(json.dumps({"zixir.server.path": str(ZIXIR)}),
                                           encoding="utf-8")
    settings = {"zixir.server.path": str(ZIXIR), "debug.toolBarLocation": "floating"}
    with open_vscode(tmp_path / "home", workspace, settings, vscode_vsix) as opened:
        yield opened
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            shot = tmp_path / "failure.png"
            try:
                opened.page.screenshot(path=str(shot))
            except Exception:
                pass
            print(f"screenshot: {shot}\n{opened.server.extension_host_logs()}")


# --- what the Run and Debug views show ---------------------------------------------------------
def _rows(bench: Workbench, view: str) -> list[str]:
    """The visible rows of a debug view (`.debug-call-stack`, `.debug-variables`, `.repl`)."""
    texts = bench.page.eval_on_selector_all(f"{view} .monaco-list-row",
                                            "rows => rows.map(row => row.innerText)")
    return [" ".join(text.split()) for text in texts]  # one read: rows are re-rendered often


def _frames(bench: Workbench) -> list[str]:
    return [row for row in _rows(bench, ".debug-call-stack") if row]


def _call_stack_text(bench: Workbench) -> str:
    """The Call Stack pane, header (its `Paused on ...` state) and rows."""
    pane = bench.page.locator(".pane", has=bench.page.locator(".debug-call-stack"))
    return " ".join(pane.first.inner_text().split())


GLYPH_LINES = """selector => {
    const editor = document.querySelector('.editor-group-container.active .monaco-editor');
    if (!editor) return [];
    const numbers = [...editor.querySelectorAll('.margin-view-overlays .line-numbers')];
    const lines = new Set();
    for (const glyph of editor.querySelectorAll(selector)) {
        const top = glyph.getBoundingClientRect().top;
        const row = numbers.find(n => Math.abs(n.getBoundingClientRect().top - top) < 4);
        if (row) lines.add(parseInt(row.textContent, 10));
    }
    return [...lines].sort((a, b) => a - b);
}"""


def _stopped_lines(bench: Workbench) -> list[int]:
    """1-based lines of the active editor with the debugger's current-line glyph."""
    return bench.page.evaluate(GLYPH_LINES, '[class*="codicon-debug-"][class*="stackframe"]')


def _breakpoint_lines(bench: Workbench) -> list[int]:
    """1-based lines of the active editor with a breakpoint glyph."""
    return bench.page.evaluate(GLYPH_LINES, '[class*="codicon-debug-breakpoint"]')


def _wait_stopped(bench: Workbench, top: str, line: int) -> list[str]:
    """Wait until the call stack's first frame is TOP at LINE and the editor marks that line."""
    def stopped() -> list[str] | None:
        frames = _frames(bench)
        if frames and re.search(rf"^{re.escape(top)} .* {line}:\d+$", frames[0]) \
                and line in _stopped_lines(bench):
            return frames
        return None
    return wait_until(stopped, UI_DEADLINE * 2, f"a stop in {top} at line {line}")


def _variable(bench: Workbench, name: str) -> str:
    """The VARIABLES row of NAME (`name = value`), waiting for it."""
    def find() -> str | None:
        return next((row for row in _rows(bench, ".debug-variables")
                     if row.startswith(f"{name} = ")), None)
    return wait_until(find, UI_DEADLINE, f"{name} in the Variables view")


def _console(bench: Workbench) -> str:
    return "\n".join(_rows(bench, ".repl"))


def _evaluate(bench: Workbench, expression: str) -> None:
    """Type EXPRESSION into the Debug Console's input and run it."""
    def attempt() -> bool:
        box = bench.page.locator(".repl-input-wrapper .monaco-editor textarea").first
        if not box.is_visible():
            bench.keyboard.press("Control+Shift+Y")
        box.wait_for(state="visible", timeout=UI_DEADLINE * 1000)
        box.focus()
        bench.keyboard.type(expression)
        bench.keyboard.press("Enter")
        return True
    wait_until(attempt, UI_DEADLINE, f"the Debug Console to take {expression!r}", interval=1.0)


def _session_active(bench: Workbench) -> bool:
    return bench.page.locator(".debug-toolbar").is_visible()


def _toggle_breakpoint(bench: Workbench, line: int) -> None:
    def attempt() -> bool:
        bench.go_to(line, 3)
        bench.keyboard.press("F9")
        wait_until(lambda: line in _breakpoint_lines(bench), 10, f"a breakpoint on line {line}")
        return True
    wait_until(attempt, UI_DEADLINE * 2, f"a breakpoint toggled on line {line}", interval=1.0)


def _start_debugging(bench: Workbench) -> None:
    bench.focus_editor()
    bench.keyboard.press("F5")
    wait_until(lambda: _session_active(bench), UI_DEADLINE * 2, "the debug session to start")


def test_breakpoint_stack_variables_console_step_continue(bench: Workbench) -> None:
    bench.open_file("main.zx")
    _toggle_breakpoint(bench, BREAKPOINT_LINE)
    _start_debugging(bench)

    frames = _wait_stopped(bench, "with_tax", BREAKPOINT_LINE)
    assert [row.split(" ")[0] for row in frames] == ["with_tax", "<top"], frames
    assert frames[1].startswith("<top level> main.zx 10:"), frames
    assert "Paused on breakpoint" in _call_stack_text(bench)
    assert not any(".py" in row for row in frames), frames

    assert _variable(bench, "price") == "price = 10"
    assert _variable(bench, "tax") == "tax = 20"
    rates = _variable(bench, "rates")
    assert rates == 'rates = {"standard": 2, "reduced": 1}', rates
    bench.page.locator(".debug-variables .monaco-list-row", has_text="rates =").first.click()
    assert _variable(bench, '"reduced"') == '"reduced" = 1'

    _evaluate(bench, "price + tax * 10")
    wait_until(lambda: "210" in _console(bench).split("\n"), UI_DEADLINE,
               "the Debug Console to show 210 for `price + tax * 10`")

    bench.command("Debug: Step Over")
    _wait_stopped(bench, "with_tax", BREAKPOINT_LINE + 1)
    assert _variable(bench, "parts") == "parts = [10, 20]"

    bench.command("Debug: Continue")  # the loop calls with_tax again: the breakpoint again
    _wait_stopped(bench, "with_tax", BREAKPOINT_LINE)
    wait_until(lambda: _variable(bench, "price") == "price = 20", UI_DEADLINE,
               "the Variables view to show the second call's price")
    bench.command("Debug: Continue")
    wait_until(lambda: not _session_active(bench), UI_DEADLINE * 2, "the debug session to end")
    console = _console(bench)
    assert "total 30" in console and "total 60" in console, console


def test_uncaught_error_stops_where_it_is_raised(bench: Workbench) -> None:
    bench.open_file("fail.zx")
    _start_debugging(bench)
    frames = _wait_stopped(bench, "lookup", 2)
    assert frames[1].startswith("<top level> fail.zx 6:"), frames
    assert "Uncaught error" in _call_stack_text(bench)  # the stop's description
    widget = bench.popup_text(".exception-widget")
    assert "Index out of range: 5 (length 2)" in widget, widget
    bench.command("Debug: Continue")
    wait_until(lambda: not _session_active(bench), UI_DEADLINE * 2, "the debug session to end")
    console = _console(bench)
    assert "looking up" in console and "Index out of range" in console, console
