"""The dashboard server over HTTP, without a browser: what `/api/state` reports for a running
`zixir.Runtime`, the token and origin checks, decisions on approvals, stored history, the
typed errors. The page itself is driven in a real browser by test_dashboard_browser.py."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
import urllib.error
import urllib.request

import pytest

import zixir
from zixir.lang.errors import DashboardError, PythonError, WorkflowWaiting

pytest.importorskip("starlette", reason="the dashboard extra: pip install -e '.[dashboard]'")

APPROVAL = '''
workflow.run("ship", run => {
  let built = workflow.step(run, "build", () => "artifact")
  let note = workflow.approval(run, "review", "check the build")
  built + " shipped: " + note
})
'''


def split(url: str) -> tuple[str, str]:
    """(base URL ending in /, token) of a printed dashboard URL."""
    base, _, token = url.partition("?token=")
    return base, token


def get(url: str, headers: dict | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def post(url: str, body: dict, headers: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as e:
        text = e.read()
        try:
            return e.code, json.loads(text)
        except ValueError:
            return e.code, {"text": text.decode()}


@pytest.fixture(scope="module")
def rt():
    runtime = zixir.Runtime(workers=2, dashboard=True)
    try:
        yield runtime
    finally:
        runtime.close()


def state(rt) -> dict:
    base, token = split(rt.dashboard.url)
    status, body = get(f"{base}api/state?token={token}")
    assert status == 200, body
    return json.loads(body)


def nodes(tree: dict) -> dict[str, dict]:
    found = {tree["name"]: tree}
    for child in tree["children"]:
        found.update(nodes(child))
    return found


def test_state_shows_the_supervision_tree_module_counters_and_breakers(rt, capfd):
    rt.memory.put("started", True)  # the memory store starts on its first use
    assert rt.call_python("math", "sqrt", [16]) == 4.0
    assert rt.call_python("math", "sqrt", [9]) == 3.0
    with pytest.raises(PythonError):
        rt.call_python("math", "sqrt", [-1])
    shown = state(rt)
    assert shown["mode"] == "live"
    tree = nodes(shown["tree"])
    assert list(tree) == ["host", "root supervisor", "memory", "router", "worker supervisor",
                          "template", "worker-0", "worker-1"]
    pids = rt.pids()
    assert tree["host"]["pid"] == os.getpid()
    assert tree["memory"]["pid"] == pids["memory"] and tree["router"]["pid"] == pids["router"]
    assert tree["template"]["pid"] == pids["template"]
    assert {tree["worker-0"]["pid"], tree["worker-1"]["pid"]} == set(pids["workers"])
    for name in ("host", "memory", "router", "template", "worker-0", "worker-1"):
        assert tree[name]["state"] == "running" and tree[name]["rss"] > 1_000_000, name
    assert shown["modules"]["math"]["calls"] == 3
    assert shown["modules"]["math"]["errors"] == 1
    assert 0 < shown["modules"]["math"]["seconds"] < 30
    assert {"key": "math", "state": "closed"}.items() <= shown["breakers"][0].items()
    assert shown["agents"] is None or isinstance(shown["agents"], list)


def test_the_tree_counts_a_killed_workers_restart(rt):
    tree = nodes(rt.supervision_tree())
    victim = tree["worker-1"]
    os.kill(victim["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 60
    while True:
        now = nodes(rt.supervision_tree())["worker-1"]
        if now["restarts"] == victim["restarts"] + 1 and now["pid"] not in (None, victim["pid"]):
            break
        assert time.monotonic() < deadline, now
        time.sleep(0.05)
    assert nodes(state(rt)["tree"])["worker supervisor"]["restarts"] >= 1


def test_the_tree_counts_a_router_restart(rt):
    before = nodes(state(rt)["tree"])["router"]
    os.kill(before["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 60
    while True:
        router = nodes(state(rt)["tree"])["router"]
        if router["restarts"] == before["restarts"] + 1 and router["pid"]:
            break
        assert time.monotonic() < deadline, router
        time.sleep(0.05)
    assert router["pid"] != before["pid"] and router["state"] == "running"
    assert rt.call_python("math", "sqrt", [4]) == 2.0  # the new router serves calls


def test_every_request_needs_the_token(rt):
    base, token = split(rt.dashboard.url)
    for path in ("", "api/state", "api/events", "static/dashboard.js",
                 "static/vendor/uplot/uPlot.iife.min.js"):
        status, body = get(base + path)
        assert status == 401 and b"token is required" in body, path
        status, body = get(f"{base}{path}?token=not-{token}")
        assert status == 403 and b"wrong dashboard token" in body, path
    status, page = get(rt.dashboard.url)
    assert status == 200 and token.encode() in page and b"cdn" not in page.lower()
    status, script = get(f"{base}static/vendor/uplot/uPlot.iife.min.js?token={token}")
    assert status == 200 and b"uPlot" in script
    assert get(f"{base}api/state", {"X-Zixir-Token": token})[0] == 200


def test_the_page_forbids_framing_and_outside_scripts(rt):
    request = urllib.request.Request(rt.dashboard.url)
    with urllib.request.urlopen(request, timeout=30) as reply:
        policy = reply.headers["content-security-policy"]
        assert reply.headers["referrer-policy"] == "no-referrer"
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy


def test_a_decision_needs_the_token_header_and_the_pages_origin(rt):
    with pytest.raises(WorkflowWaiting):
        rt.eval(APPROVAL, fresh=True)
    base, token = split(rt.dashboard.url)
    origin = base.rstrip("/")
    decision = {"workflow": "ship", "step": "review", "decision": "approve", "note": "lgtm"}
    url = f"{base}api/decision"
    assert post(f"{url}?token={token}", decision, {"Origin": origin})[0] == 403  # no header
    assert post(url, decision, {"X-Zixir-Token": "x" + token})[0] == 403
    status, body = post(url, decision, {"X-Zixir-Token": token,
                                        "Origin": "http://evil.example"})
    assert status == 403 and "origin" in body["error"].lower()
    assert post(url, decision, {"X-Zixir-Token": token})[0] == 403  # no Origin at all
    good = {"X-Zixir-Token": token, "Origin": origin}
    status, body = post(url, {**decision, "step": "build"}, good)
    assert status == 409 and body["error"] == ("Step build of workflow ship is not waiting "
                                               "for an approval")
    status, body = post(url, {**decision, "decision": "run"}, good)
    assert status == 400
    assert state(rt)["approvals"] == [{"workflow": "ship", "key": "default", "step": "review",
                                       "message": "check the build"}]
    status, body = post(url, decision, good)
    assert status == 200 and body["status"] == "approved", body
    assert rt.eval(APPROVAL, fresh=True) == "artifact shipped: lgtm"
    runs = state(rt)["workflows"]
    assert runs[0]["name"] == "ship" and runs[0]["status"] == "done" and not state(rt)["approvals"]
    assert [s["status"] for s in runs[0]["steps"]] == ["done", "approved"]


def test_no_endpoint_accepts_what_it_does_not_serve(rt):
    base, token = split(rt.dashboard.url)
    assert get(f"{base}api/decision?token={token}")[0] == 405
    status, _ = post(f"{base}api/state?token={token}", {}, {"X-Zixir-Token": token})
    assert status == 405
    assert get(f"{base}api/sql?token={token}")[0] == 404
    assert get(f"{base}static/../source.py?token={token}")[0] == 404


def test_stored_history_without_a_program(tmp_path):
    from zixir.dashboard import serve_store

    store = str(tmp_path / "m.sqlite3")
    with zixir.Runtime(workers=1, memory_path=store) as runtime, pytest.raises(WorkflowWaiting):
        runtime.eval(APPROVAL)
    server = serve_store(store)
    try:
        base, token = split(server.url)
        shown = json.loads(get(f"{base}api/state?token={token}")[1])
        assert shown["mode"] == "store" and shown["tree"] is None
        assert shown["approvals"][0]["step"] == "review"
        status, body = post(f"{base}api/decision",
                            {"workflow": "ship", "step": "review", "decision": "reject",
                             "note": "not today"},
                            {"X-Zixir-Token": token, "Origin": base.rstrip("/")})
        assert status == 200 and body["status"] == "rejected"
    finally:
        server.close()
    with zixir.Runtime(workers=1, memory_path=store) as runtime:
        assert runtime.workflows.show("ship")["steps"][1]["note"] == "not today"


def test_close_ends_the_live_streams_and_frees_the_port():
    runtime = zixir.Runtime(workers=1, dashboard=True)
    base, token = split(runtime.dashboard.url)
    stream = urllib.request.urlopen(f"{base}api/events?token={token}", timeout=30)
    first = stream.readline()
    assert first.startswith(b"data: ") and json.loads(first[6:])["mode"] == "live"
    started = time.monotonic()
    runtime.close()
    assert time.monotonic() - started < 15
    stream.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", runtime.dashboard.port), timeout=5).close()


def test_a_taken_port_is_a_dashboard_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(DashboardError, match=f"cannot listen on 127.0.0.1:{port}"):
            zixir.Runtime(workers=1, dashboard=port)


def test_missing_packages_say_how_to_install_them(monkeypatch):
    from zixir.dashboard import DashboardServer

    monkeypatch.setitem(sys.modules, "uvicorn", None)
    with pytest.raises(DashboardError, match=r"pip install 'zixir\[dashboard\]'"):
        DashboardServer(source=None)


def test_agents_are_listed_with_their_memory_when_the_runtime_has_them():
    from zixir.dashboard.source import agents_of

    class Agents:
        def __init__(self, rows):
            self.rows = rows

        def list(self):
            if isinstance(self.rows, Exception):
                raise self.rows
            return self.rows

    class WithAgents:
        def __init__(self, rows):
            self.agents = Agents(rows)

    assert agents_of(object()) is None  # a runtime without the agents API
    rows = agents_of(WithAgents([{"name": "cache", "class": "lib.Cache", "pid": os.getpid(),
                                  "status": "running", "restarts": 1, "calls": 7,
                                  "last_error": None}]))
    assert rows[0]["name"] == "cache" and rows[0]["restarts"] == 1 and rows[0]["rss"] > 1_000_000
    failed = agents_of(WithAgents(RuntimeError("router gone")))
    assert failed == [{"name": "?", "status": "unavailable", "last_error": "router gone"}]


def test_the_static_files_are_package_data():
    """Every file the page loads is covered by pyproject's package-data (so it is in the
    wheel), and the vendored chart library keeps its license."""
    import fnmatch
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["zixir.dashboard"]
    package = root / "zixir" / "dashboard"
    files = [f.relative_to(package).as_posix() for f in (package / "static").rglob("*")
             if f.is_file()]
    assert "static/vendor/uplot/LICENSE" in files and "static/index.html" in files
    for name in files:
        assert any(fnmatch.fnmatch(name, p) and name.count("/") == p.count("/")
                   for p in patterns), name


def test_the_commands_print_the_url_and_report_problems(tmp_path):
    import subprocess

    def zixir_cli(*args):
        return subprocess.run([sys.executable, "-P", "-m", "zixir", *args], capture_output=True,
                              text=True, timeout=120, cwd=tmp_path)

    (tmp_path / "one.zx").write_text('python "math" "sqrt" (16)')
    ran = zixir_cli("run", "--workers", "1", "--dashboard", "one.zx")  # the script, not a port
    assert ran.returncode == 0 and ran.stdout.strip() == "4.0", ran.stderr
    assert "zixir: dashboard of this program at http://127.0.0.1:" in ran.stderr
    assert "?token=" in ran.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        refused = zixir_cli("run", f"--dashboard={port}", "--workers", "1", "one.zx")
        spaced = zixir_cli("run", "--dashboard", str(port), "--workers", "1", "one.zx")
    assert refused.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in refused.stderr
    assert spaced.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in spaced.stderr
    missing = zixir_cli("dashboard", "--memory", str(tmp_path / "none.sqlite3"))
    assert missing.returncode == 1 and "no memory store at" in missing.stderr


def test_an_open_breaker_shows_as_open():
    from zixir.lang.errors import CircuitOpen

    with zixir.Runtime(workers=1, dashboard=True, breaker_fail_max=2,
                       breaker_counts_python_errors=True, breaker_reset_timeout=60) as runtime:
        for _ in range(2):
            with pytest.raises(PythonError):
                runtime.call_python("math", "sqrt", [-1])
        with pytest.raises(CircuitOpen):
            runtime.call_python("math", "sqrt", [4])
        shown = state(runtime)
    breaker = shown["breakers"][0]
    assert breaker["key"] == "math" and breaker["state"] == "open"
    assert 0 < breaker["retry_after"] <= 60
    assert shown["modules"]["math"] == {**shown["modules"]["math"], "calls": 3, "errors": 3}


AGENT_CLASS = '''
import os


class Cache:
    def __init__(self):
        self.items = {}

    def put(self, key, value):
        self.items[key] = value
        return len(self.items)

    def pid(self):
        return os.getpid()
'''


def test_a_real_agent_shows_in_the_state_with_its_pid_status_and_restarts(tmp_path):
    (tmp_path / "cachelib.py").write_text(AGENT_CLASS)
    with zixir.Runtime(workers=1, dashboard=True, paths=(str(tmp_path),)) as runtime:
        assert runtime.agents.start("cache", "cachelib", "Cache") == "cache"
        assert runtime.agents.call("cache", "put", "a", 1) == 1
        pid = runtime.agents.call("cache", "pid")
        shown = state(runtime)
        rows = {a["name"]: a for a in shown["agents"]}
        row = rows["cache"]
        assert row["class"] == "cachelib.Cache" and row["status"] == "running"
        assert row["pid"] == pid and pid in runtime.pids()["agents"]
        assert row["restarts"] == 0 and row["calls"] == 2 and row["last_error"] is None
        assert row["rss"] > 1_000_000
        assert "router" in nodes(shown["tree"])  # the page hangs the agents under it

        os.kill(pid, signal.SIGKILL)  # supervised: restarted, and the page sees it
        deadline = time.monotonic() + 60
        while True:
            row = {a["name"]: a for a in state(runtime)["agents"]}["cache"]
            if row["restarts"] == 1 and row["status"] == "running" and row["pid"] not in (
                    None, pid):
                break
            assert time.monotonic() < deadline, row
            time.sleep(0.05)
        assert row["last_error"] and "SIGKILL" in row["last_error"]

        assert runtime.agents.stop("cache") is True
        row = {a["name"]: a for a in state(runtime)["agents"]}["cache"]
        assert row["status"] == "stopped" and row["pid"] is None and "rss" not in row
