"""The dashboard in a real browser (Debian's Chromium driven by playwright), as a user meets it:
`zixir run --dashboard` on a program that keeps calling Python, and `zixir dashboard --memory`
on a store whose workflow waits for an approval.

    zixir run --dashboard live.zx (one program for the module) --stderr--> URL with token
        chromium --page--> tree, charts, breakers, approvals; kill -9 a worker: the page's
        restart count changes without a reload
    zixir run ship.zx -> exit 3;  zixir dashboard --memory m.sqlite3;  Approve on the page;
        zixir run ship.zx -> exit 0

The page's screenshot (docs/dashboard.png in the README) is taken by
`test_the_page_renders_the_tree_and_charts`; set ZIXIR_UPDATE_SCREENSHOTS=1 to write it there.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the dashboard extra: pip install -e '.[dashboard]'")

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_FLAGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update",
                  "--no-first-run"]
URL = re.compile(r"dashboard of .* at (http://\S+)")
DEADLINE = 60_000  # ms: one change to appear on the page (the machine may be loaded)

LIBRARY = '''
import os
import time


def step(n):
    time.sleep(0.01)
    if os.path.exists(os.environ["DASH_STOP"]):
        return False
    if n % 5 == 0:
        raise ValueError("every fifth call fails")
    return True


def build(name):
    return name + " built"


class Tally:
    def __init__(self):
        self.n = 0

    def add(self, k):
        self.n += k
        return self.n
'''

# keeps calling Python until the stop file appears; a crash or an error is rescued so that a
# killed worker does not end it
LIVE = '''
fn main() {
  try {
    workflow.run("release", run => {
      let built = workflow.step(run, "build", () => python "dashlib" "build" ("app"))
      workflow.approval(run, "review", "check the build")
    })
  } rescue e { nil }
  let tally = agent.start("tally", "dashlib", "Tally")
  agent.call(tally, "add", [1])
  let n = 0
  let go = true
  while go {
    go = try { python "dashlib" "step" (n) } rescue e { true }
    let root = python "math" "sqrt" (n)
    n += 1
  }
  n
}
'''

SHIP = '''
workflow.run("ship", run => {
  let built = workflow.step(run, "build", () => python "dashlib" "build" ("artifact"))
  let note = workflow.approval(run, "review", "check the build")
  built + " shipped: " + note
})
'''


def chromium_binary() -> str | None:
    for candidate in (os.environ.get("ZIXIR_CHROMIUM"), "/usr/bin/chromium",
                      shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def zixir(*args: str) -> list[str]:
    # -X faulthandler: a process that hangs is stopped with SIGABRT and shows where it was
    return [sys.executable, "-X", "faulthandler", "-P", "-m", "zixir", *args]


class Served:
    """A `zixir` command that prints a dashboard URL: started, its URL read from stderr, the
    rest of stderr drained by a thread (kept for failure messages), stopped by `stop()`."""

    def __init__(self, argv: list[str], cwd: Path, env: dict) -> None:
        self.process = subprocess.Popen(argv, cwd=cwd, env={**os.environ, **env},
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, start_new_session=True)
        self.lines: list[str] = []
        for line in self.process.stderr:
            self.lines.append(line)
            found = URL.search(line)
            if found:
                self.url = found.group(1)
                break
        else:
            self.process.wait(30)
            raise AssertionError("no dashboard URL printed:\n" + "".join(self.lines))
        self._drain = threading.Thread(target=lambda: self.lines.extend(self.process.stderr),
                                       daemon=True)
        self._drain.start()
        self.base = self.url.split("?")[0]

    def stop(self, sig: int = signal.SIGINT) -> tuple[int, str]:
        """Stop the command with `sig`; its exit status and stdout. A command that does not
        exit within 60 s is aborted (faulthandler writes its threads' stacks to stderr, kept
        in `lines`); a process it left holding the output pipes is killed and said so."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.lines.append(f"[test] no exit within 60 s of signal {sig}: SIGABRT\n")
            self.process.send_signal(signal.SIGABRT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        try:
            out, _ = self.process.communicate(timeout=10)
        except subprocess.TimeoutExpired:  # it exited, but a process it started lives on
            self.lines.append("[test] a child process kept the output open: killed\n")
            os.killpg(self.process.pid, signal.SIGKILL)
            out, _ = self.process.communicate()
        self._drain.join(10)
        return self.process.returncode, out


@pytest.fixture(scope="module")
def browser():
    chromium = chromium_binary()
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    sync_playwright = pytest.importorskip(
        "playwright.sync_api", reason="the playwright package (pip install -e '.[test]')"
    ).sync_playwright
    with sync_playwright() as driver:
        instance = driver.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """One `zixir run --dashboard` program shared by the tests of this module."""
    work = tmp_path_factory.mktemp("live")
    (work / "dashlib.py").write_text(LIBRARY)
    (work / "live.zx").write_text(LIVE)
    stop = work / "stop"
    served = Served(zixir("run", "--workers", "2", "--memory", str(work / "m.sqlite3"),
                          "--dashboard", "live.zx"), work, {"DASH_STOP": str(stop)})
    try:
        yield served
    finally:
        stop.touch()  # the program ends on its own
        try:
            served.process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(served.process.pid, signal.SIGKILL)
        served.stop()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    tab = context.new_page()
    tab.set_default_timeout(DEADLINE)
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.errors = errors
    try:
        yield tab
    finally:
        context.close()


def test_the_page_renders_the_tree_and_charts(live, page, tmp_path):
    page.goto(live.url)
    for name in ("host", "root supervisor", "memory", "router", "worker supervisor",
                 "template", "worker-0", "worker-1"):
        node = page.locator(f'[data-node="{name}"]')
        node.first.wait_for()
        assert node.first.get_attribute("data-state") == "running", name
    for name in ("host", "memory", "router", "template", "worker-0", "worker-1"):
        assert int(page.locator(f'[data-node="{name}"]').first.get_attribute("data-pid")) > 1
    assert "RSS" in page.locator('[data-node="worker-0"] .rss').first.inner_text()
    agent = page.locator('[data-node="agent supervisor"] [data-node="agent tally"]')
    agent.wait_for()  # a real agent, under the router's agent supervisor
    assert agent.get_attribute("data-state") == "running"
    assert int(agent.get_attribute("data-pid")) > 1
    assert "dashlib.Tally" in page.locator('#agents tr[data-agent="tally"]').inner_text()
    # three charts with a series for each module and several points, drawn on canvases
    page.wait_for_function("""() => ['chart-rate', 'chart-latency', 'chart-errors'].every(id => {
        const c = document.getElementById(id);
        return Number(c.dataset.points) >= 5 && Number(c.dataset.series) >= 2
               && c.querySelector('canvas') !== null; })""")
    assert {"dashlib", "math"} <= set(re.findall(r"\w+", page.locator("#chart-rate").inner_text()))
    row = page.locator('#modules tr[data-module="dashlib"]')
    assert int(row.locator(".calls").inner_text()) > 10
    assert int(row.locator(".errors").inner_text()) >= 1
    assert "closed" in page.locator('#breakers tr[data-breaker="dashlib"]').inner_text()
    page.locator('#approvals .approval[data-workflow="release"]').wait_for()
    assert "check the build" in page.locator("#approvals").inner_text()
    assert "waiting" in page.locator('#workflows .run[data-workflow="release"]').inner_text()
    assert page.errors == []
    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("ZIXIR_UPDATE_SCREENSHOTS"):
        shutil.copy(shot, ROOT / "docs" / "dashboard.png")


def test_the_restart_count_changes_live_when_a_worker_is_killed(live, page):
    page.goto(live.url)
    worker = page.locator('[data-node="worker-0"]').first
    worker.wait_for()
    page.evaluate("() => { window.notReloaded = true; }")
    pid = int(worker.get_attribute("data-pid"))
    before = int(worker.locator(".restarts").first.get_attribute("data-restarts"))
    os.kill(pid, signal.SIGKILL)
    page.wait_for_function(
        """([pid, before]) => {
            const node = document.querySelector('[data-node="worker-0"]');
            const restarts = Number(node.querySelector('.restarts').dataset.restarts);
            return restarts === before + 1 && node.dataset.pid !== '' && Number(node.dataset.pid) !== pid;
        }""", arg=[pid, before])
    assert page.evaluate("() => window.notReloaded") is True
    assert live.process.poll() is None, "".join(live.lines)  # the program goes on


def test_a_request_without_the_token_is_refused(live, page):
    refused = page.goto(live.base)
    assert refused.status == 401
    assert "token is required" in page.content()
    wrong = page.goto(live.base + "?token=guess")
    assert wrong.status == 403
    assert page.locator('[data-node="host"]').count() == 0


def test_an_approval_on_the_page_lets_the_rerun_finish(browser, page, tmp_path):
    (tmp_path / "dashlib.py").write_text(LIBRARY)
    (tmp_path / "ship.zx").write_text(SHIP)
    store = str(tmp_path / "m.sqlite3")
    env = {**os.environ, "DASH_STOP": str(tmp_path / "stop")}
    waiting = subprocess.run(zixir("run", "ship.zx", "--memory", store), cwd=tmp_path,
                             env=env, capture_output=True, text=True, timeout=120)
    assert waiting.returncode == 3, waiting.stderr
    served = Served(zixir("dashboard", "--memory", store), tmp_path, {})
    try:
        page.goto(served.url)
        approval = page.locator('#approvals .approval[data-workflow="ship"][data-step="review"]')
        approval.wait_for()
        assert "check the build" in approval.inner_text()
        approval.locator("input").fill("looks good")
        approval.get_by_role("button", name="Approve").click()
        page.wait_for_function("() => document.getElementById('decided').textContent"
                               " === 'ship review: approved; run the program again to continue'")
        # the stored history follows: the approval is no longer pending
        page.locator('#approvals .approval[data-workflow="ship"]').wait_for(state="detached")
        assert "approved" in page.locator('#workflows .run[data-workflow="ship"]').inner_text()
    finally:
        code, _ = served.stop()
    assert code == 0, "".join(served.lines)
    done = subprocess.run(zixir("run", "ship.zx", "--memory", store), cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == '"artifact built shipped: looks good"'


class AgentsSource:
    """A state with an agent that failed for good (hard to reach on purpose in a test), as
    `RuntimeSource` builds it."""

    mode = "live"

    def state(self) -> dict:
        import time

        def node(name, pid, children=()):
            return {"name": name, "state": "running", "pid": pid, "restarts": 0, "rss": 1 << 24,
                    "children": list(children)}

        tree = node("host", 10, [node("root supervisor", None, [node("router", 11)])])
        return {"mode": "live", "time": time.time(), "tree": tree, "modules": {},
                "breakers": [], "workflows": [], "approvals": [],
                "agents": [{"name": "cache", "class": "lib.Cache", "pid": 12,
                            "status": "running", "restarts": 2, "calls": 5, "rss": 1 << 24,
                            "last_error": None},
                           {"name": "ranker", "class": "lib.Ranker", "pid": None,
                            "status": "failed", "restarts": 4, "calls": 0,
                            "last_error": "RestartLimitExceeded"}]}

    def close(self) -> None:
        pass


def test_agents_appear_in_the_tree_and_their_table(page):
    from zixir.dashboard import DashboardServer

    server = DashboardServer(AgentsSource())
    try:
        page.goto(server.url)
        cache = page.locator('[data-node="agent cache"]')
        cache.wait_for()
        assert cache.get_attribute("data-pid") == "12"
        assert cache.locator(".restarts").first.get_attribute("data-restarts") == "2"
        ranker = page.locator('[data-node="agent ranker"]')
        assert ranker.get_attribute("data-state") == "failed"
        row = page.locator('#agents tr[data-agent="ranker"]').inner_text()
        assert "lib.Ranker" in row and "failed" in row and "RestartLimitExceeded" in row
        assert page.errors == []
    finally:
        server.close()
