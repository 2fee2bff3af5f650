"""Fixtures for end-to-end tests in a real VS Code (code-server + headless Chromium).

`vscode_vsix` is the packaged extension, or a skip that names the missing tool (code-server,
Chromium, playwright); `open_vscode` (codeserver.py) then gives a loaded workbench:

    def test_something(vscode_vsix, tmp_path):
        with open_vscode(tmp_path / "home", workspace, {"zixir.server.path": ZIXIR}, vscode_vsix) as bench:
            bench.open_file("main.zx")
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .codeserver import ROOT, missing_tools

VSIX = ROOT / ".vscode" / "zixir.vsix"


@pytest.fixture(scope="session")
def vscode_vsix() -> Path:
    missing = missing_tools()
    if missing:
        pytest.skip("a real VS Code needs " + ", ".join(missing))
    if not VSIX.exists():
        if shutil.which("npm") is None:
            pytest.skip("npm is not installed, so the extension was not packaged")
        pytest.fail(f"{VSIX} is missing: run `npm ci && npm run ci` in {VSIX.parent}")
    return VSIX


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Keeps each phase's report on the test item (`item.rep_call`), so that a fixture can
    collect screenshots and logs after a failure."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
