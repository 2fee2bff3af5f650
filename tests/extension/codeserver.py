"""A real VS Code for end-to-end tests: code-server with the packaged extension, driven by a
headless Chromium through playwright.

    zixir.vsix --install-extension--> private extensions dir
    settings.json (zixir.server.path / zixir.pythonPath) --> private user data dir
    code-server 127.0.0.1:<free port> --auth none  <--http/ws--  Chromium (playwright)  <-- Workbench

`CodeServer` owns the server process, `Workbench` the page and the UI gestures tests need
(command palette, quick open, go to line, the Problems and Output panels, the status bar). Each
gesture waits for the element it acts on with a deadline, never for a fixed time. code-server
comes from `tools/install-code-server.sh` (a cache directory keyed by its version) and Chromium
from Debian; `missing_tools()` says which of them is absent.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CODE_SERVER_VERSION = "4.100.3"
ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_FLAGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--disable-dev-shm-usage",
]
START_DEADLINE = 90.0  # s: code-server up, workbench loaded, extension active
UI_DEADLINE = 30.0  # s: one UI reaction (a popup, a panel, a diagnostic)


def code_server_binary() -> Path | None:
    explicit = os.environ.get("ZIXIR_CODE_SERVER")
    if explicit:
        return Path(explicit) if Path(explicit).exists() else None
    cache = Path(os.environ.get("ZIXIR_CACHE")
                 or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "zixir")
    cached = cache / f"code-server-{CODE_SERVER_VERSION}" / "node_modules" / ".bin" / "code-server"
    if cached.exists():
        return cached
    found = shutil.which("code-server")
    return Path(found) if found else None


def chromium_binary() -> Path | None:
    for candidate in (os.environ.get("ZIXIR_CHROMIUM"), "/usr/bin/chromium",
                      shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return Path(candidate)
    return None


def missing_tools() -> list[str]:
    """What an end-to-end test needs and this machine lacks, as reasons for a skip."""
    missing = []
    if code_server_binary() is None:
        missing.append(f"code-server {CODE_SERVER_VERSION} (bash tools/install-code-server.sh)")
    if chromium_binary() is None:
        missing.append("chromium (apt-get install chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("the playwright package (pip install -e '.[test]')")
    return missing


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], Any], deadline: float, what: str,
               interval: float = 0.2) -> Any:
    """Poll `predicate` until it returns something truthy; fail naming `what` at the deadline."""
    end = time.monotonic() + deadline
    last_error: Exception | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as error:  # the UI is mid-change: try again
            last_error = error
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline:.0f} s waiting for {what}"
                                 + (f" (last error: {last_error})" if last_error else ""))
        time.sleep(interval)


class CodeServer:
    """One code-server process with private user data and extensions directories."""

    def __init__(self, home: Path, binary: Path | None = None) -> None:
        self.binary = binary or code_server_binary()
        assert self.binary is not None, "code-server is not installed"
        self.home = home
        self.user_data = home / "user-data"
        self.extensions = home / "extensions"
        self.log_path = home / "code-server.log"
        self.port = 0
        self.process: subprocess.Popen | None = None
        for directory in (self.user_data / "User", self.extensions, home / "config", home / "data"):
            directory.mkdir(parents=True, exist_ok=True)

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        # Nothing from the project's venv on PATH: the extension must find zixir through its
        # settings alone.
        venv_bin = str(ROOT / ".venv" / "bin")
        env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                      if p and Path(p) != Path(venv_bin))
        env.pop("VIRTUAL_ENV", None)
        env["XDG_CONFIG_HOME"] = str(self.home / "config")
        env["XDG_DATA_HOME"] = str(self.home / "data")
        return env

    def install_extension(self, vsix: Path) -> None:
        result = subprocess.run(
            [str(self.binary), "--install-extension", str(vsix),
             "--extensions-dir", str(self.extensions), "--user-data-dir", str(self.user_data)],
            env=self._env(), capture_output=True, text=True, timeout=START_DEADLINE)
        assert result.returncode == 0, f"--install-extension failed:\n{result.stdout}{result.stderr}"
        assert list(self.extensions.glob("zixir.zixir-*")), result.stdout + result.stderr

    def write_settings(self, settings: dict[str, Any]) -> None:
        base = {
            "workbench.startupEditor": "none",
            "workbench.tips.enabled": False,
            "workbench.enableExperiments": False,
            "security.workspace.trust.enabled": False,
            "telemetry.telemetryLevel": "off",
            "extensions.autoCheckUpdates": False,
            "extensions.autoUpdate": False,
            "update.mode": "none",
            "git.enabled": False,
            "editor.minimap.enabled": False,
            "window.restoreWindows": "none",
            "files.hotExit": "off",
            "files.autoSave": "off",
            "editor.hover.delay": 200,
            "chat.commandCenter.enabled": False,
            "workbench.colorTheme": "Default Dark Modern",
        }
        base.update(settings)
        (self.user_data / "User" / "settings.json").write_text(json.dumps(base, indent=2))

    def start(self) -> str:
        self.port = free_port()
        log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [str(self.binary), "--bind-addr", f"127.0.0.1:{self.port}", "--auth", "none",
             "--user-data-dir", str(self.user_data), "--extensions-dir", str(self.extensions),
             "--disable-telemetry", "--disable-update-check", "--disable-workspace-trust",
             "--disable-getting-started-override", "--ignore-last-opened"],
            env=self._env(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        log.close()
        wait_until(self._healthy, START_DEADLINE, f"code-server on port {self.port}")
        return self.url

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _healthy(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"code-server exited:\n{self.log()}")
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=5) as response:
                return response.status == 200
        except OSError:
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def extension_host_logs(self) -> str:
        """What the extension host and the Zixir output channels logged (for failure reports)."""
        parts = []
        for path in sorted((self.user_data / "logs").rglob("*.log")):
            if "exthost" in str(path) or "Zixir" in path.name or "zixir" in path.name:
                parts.append(f"--- {path.relative_to(self.user_data)}\n"
                             + path.read_text(errors="replace")[-4000:])
        return "\n".join(parts)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, 15)
            self.process.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.process.pid, 9)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=15)


class Workbench:
    """The VS Code workbench in a Chromium page, and the gestures a person makes in it."""

    def __init__(self, page: Any, server: CodeServer) -> None:
        self.page = page
        self.server = server
        self.keyboard = page.keyboard

    # --- loading -------------------------------------------------------------------------
    def open_folder(self, url: str, folder: Path) -> None:
        self.page.goto(f"{url}/?folder={folder}", wait_until="domcontentloaded")
        self.page.wait_for_selector(".monaco-workbench .part.editor", timeout=START_DEADLINE * 1000)
        self.page.wait_for_selector(".explorer-folders-view .monaco-list-row",
                                    timeout=START_DEADLINE * 1000)

    # --- quick input ---------------------------------------------------------------------
    def _quick_input(self) -> Any:
        widget = self.page.locator(".quick-input-widget")
        widget.wait_for(state="visible", timeout=UI_DEADLINE * 1000)
        return widget

    def _close_quick_input(self) -> None:
        widget = self.page.locator(".quick-input-widget")
        if widget.is_visible():
            self.keyboard.press("Escape")
            widget.wait_for(state="hidden", timeout=UI_DEADLINE * 1000)

    def command(self, label: str) -> None:
        """Run a command from the command palette by its exact label (`Zixir: Run File`)."""
        def attempt() -> bool:
            self._close_quick_input()
            self.keyboard.press("F1")
            widget = self._quick_input()
            box = widget.locator("input.input")
            box.fill(">" + label)
            row = widget.locator(".monaco-list-row", has=self.page.locator(
                ".label-name", has_text=re.compile(rf"^{re.escape(label)}$")))
            row.first.wait_for(state="visible", timeout=10_000)
            row.first.click()
            # the palette closes, or (Tasks: Run Task...) shows the command's own picker
            wait_until(lambda: not widget.is_visible() or box.input_value() != ">" + label,
                       10, f"the command palette to take {label!r}")
            return True
        wait_until(attempt, UI_DEADLINE * 2, f"the command palette to run {label!r}", interval=1.0)

    def open_file(self, name: str) -> None:
        """Quick Open (Ctrl+P) a workspace file and wait until its editor is active."""
        def attempt() -> bool:
            self._close_quick_input()
            self.keyboard.press("Control+P")
            widget = self._quick_input()
            widget.locator("input.input").fill(name)
            # Enter opens the focused row. Until the picker has applied the filter, the list is
            # the unfiltered editor history, which may hold NAME too but focuses the active
            # editor: so wait for NAME's row to be the focused one, not merely shown.
            row = widget.locator(".monaco-list-row.focused", has=self.page.locator(
                ".label-name", has_text=re.compile(rf"^{re.escape(name)}$")))
            row.first.wait_for(state="visible", timeout=10_000)
            self.keyboard.press("Enter")
            self.page.locator(f'.tab.active[data-resource-name="{name}"]').wait_for(
                state="visible", timeout=10_000)
            return True
        wait_until(attempt, UI_DEADLINE * 2, f"{name} to open", interval=1.0)
        self.focus_editor()

    def focus_editor(self) -> None:
        self.page.locator(".editor-group-container.active .monaco-editor textarea").first.focus()

    def go_to(self, line: int, column: int) -> None:
        """Put the cursor at LINE:COLUMN (1-based) with Go to Line/Column (Ctrl+G)."""
        def attempt() -> bool:
            self._close_quick_input()
            self.focus_editor()
            self.keyboard.press("Control+G")
            widget = self._quick_input()
            widget.locator("input.input").fill(f":{line}:{column}")
            widget.get_by_text(f"Go to line {line}").first.wait_for(state="visible",
                                                                    timeout=10_000)
            self.keyboard.press("Enter")
            widget.wait_for(state="hidden", timeout=10_000)
            return self.cursor() == (line, column)
        wait_until(attempt, UI_DEADLINE, f"the cursor at {line}:{column}", interval=0.5)

    def cursor(self) -> tuple[int, int] | None:
        """The active editor's cursor (line, column) as the status bar shows it."""
        item = self.page.locator("#status\\.editor\\.selection")
        if not item.is_visible():
            return None
        match = re.search(r"Ln (\d+), Col (\d+)", item.inner_text())
        return (int(match.group(1)), int(match.group(2))) if match else None

    def active_file(self) -> str | None:
        tab = self.page.locator(".editor-group-container.active .tab.active")
        return tab.get_attribute("data-resource-name") if tab.count() else None

    # --- panels and popups ---------------------------------------------------------------
    def problems(self) -> list[str]:
        """The Problems panel's rows as text (message, source, `[Ln L, Col C]`)."""
        panel = self.page.locator(".markers-panel")
        if not panel.is_visible():
            self.command("View: Focus Problems (Errors, Warnings, Infos)")
            panel.wait_for(state="visible", timeout=UI_DEADLINE * 1000)
        return [" ".join(row.inner_text().split())
                for row in panel.locator(".monaco-list-row").all()]

    def output_channel(self, name: str) -> str:
        """The text of the Output panel when it shows channel NAME ("" otherwise)."""
        chooser = self.page.locator(".part.panel select")
        shown = [c.evaluate("s => s.selectedIndex < 0 ? '' : s.options[s.selectedIndex].text")
                 for c in chooser.all() if c.is_visible()]
        if name not in shown:
            return ""
        text = self.page.locator(".part.panel .monaco-editor .view-lines").first.inner_text()
        return text.replace("\xa0", " ")  # the editor renders spaces as no-break spaces

    def editor_text(self) -> str:
        """The visible text of the active editor (short files: all of it)."""
        text = self.page.locator(
            ".editor-group-container.active .monaco-editor .view-lines").first.inner_text()
        return text.replace("\xa0", " ")

    def popup_text(self, selector: str) -> str:
        widget = self.page.locator(selector).first
        widget.wait_for(state="visible", timeout=UI_DEADLINE * 1000)
        return " ".join(widget.inner_text().split())

    def status_item(self, pattern: str) -> str:
        """The text of the first status-bar item matching the regular expression PATTERN."""
        items = self.page.locator(".part.statusbar .statusbar-item", has_text=re.compile(pattern))
        return " ".join(items.first.inner_text().split()) if items.count() else ""

    def dirty(self) -> bool:
        return bool(self.page.locator(".editor-group-container.active .tab.active.dirty").count())

    def squiggle_lines(self, kind: str = "error") -> list[int]:
        """1-based lines of the active editor that show a squiggle of KIND."""
        return self.page.evaluate(
            """kind => {
                const editor = document.querySelector('.editor-group-container.active .monaco-editor');
                if (!editor) return [];
                const lineHeight = parseFloat(getComputedStyle(
                    editor.querySelector('.view-lines .view-line')).height);
                const scrolled = editor.querySelector('.view-lines').getBoundingClientRect().top;
                const lines = new Set();
                for (const mark of editor.querySelectorAll('.squiggly-' + kind)) {
                    const top = mark.getBoundingClientRect().top - scrolled;
                    lines.add(Math.round(top / lineHeight) + 1);
                }
                return [...lines].sort((a, b) => a - b);
            }""", kind)

    def scroll_to_top(self) -> None:
        """Scroll the active editor to its first line (the cursor stays where it is)."""
        editor = self.page.locator(
            ".editor-group-container.active .monaco-editor .overflow-guard").first
        box = editor.bounding_box()
        self.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)

        def at_top() -> bool:  # a wheel event scrolls a few lines at most
            self.page.mouse.wheel(0, -2000)
            return self.page.evaluate(
                """() => parseFloat(document.querySelector(
                    '.editor-group-container.active .monaco-editor .lines-content').style.top) >= 0""")
        wait_until(at_top, UI_DEADLINE, "the editor scrolled to its first line", interval=0.3)

    def save(self) -> None:
        """Save the active editor once it has changes (File: Save, Ctrl+S)."""
        wait_until(self.dirty, UI_DEADLINE, "the active editor to have unsaved changes")
        self.focus_editor()
        self.keyboard.press("Control+S")
        wait_until(lambda: not self.dirty(), UI_DEADLINE, "the active editor to be saved")


@contextmanager
def open_vscode(home: Path, workspace: Path, settings: dict[str, Any], vsix: Path,
                viewport: tuple[int, int] = (1280, 800)) -> Iterator[Workbench]:
    """code-server with VSIX installed and SETTINGS, a Chromium page on WORKSPACE; the
    workbench is loaded when this yields, and everything is stopped after."""
    from playwright.sync_api import sync_playwright

    server = CodeServer(home)
    server.install_extension(vsix)
    server.write_settings(settings)
    server.start()
    try:
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=str(chromium_binary()),
                                             args=CHROMIUM_FLAGS, headless=True)
            try:
                page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
                page.set_default_timeout(UI_DEADLINE * 1000)
                bench = Workbench(page, server)
                bench.open_folder(server.url, workspace)
                yield bench
            finally:
                browser.close()
    finally:
        server.stop()
