"""`zixir debug` end to end: a DAP client drives the real adapter process on real programs."""

from __future__ import annotations

import os
import select
import textwrap

import pytest
from dap_client import DapClient


def write(tmp_path, name: str, source: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source).lstrip("\n"), encoding="utf-8")
    return str(path)


@pytest.fixture
def dap():
    clients: list[DapClient] = []

    def make(cwd: str | None = None) -> DapClient:
        client = DapClient(cwd)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


PROGRAM = """
let g = 10
fn add(a, b) {
  let s = a + b

  s * 2
}

let xs = [1, 2, 3]
let total = 0
for x in xs {
  total = total + add(x, g)
}
println("total", total)
total
"""


def test_initialize_declares_capabilities(dap, tmp_path):
    client = dap()
    caps = client.request("initialize", {"adapterID": "zixir"})
    for capability in ("supportsConfigurationDoneRequest", "supportsConditionalBreakpoints",
                       "supportsHitConditionalBreakpoints", "supportsEvaluateForHovers",
                       "supportsTerminateRequest", "supportsExceptionInfoRequest"):
        assert caps[capability] is True, capability
    assert [f["filter"] for f in caps["exceptionBreakpointFilters"]] == ["uncaught"]
    client.event("initialized")


def test_run_to_end_prints_output_and_value_and_exits_zero(dap, tmp_path):
    program = write(tmp_path, "main.zx", PROGRAM)
    client = dap()
    client.start(program)
    assert client.finish() == 0
    assert client.output("stdout") == "total 72\n72\n"
    assert client.close() == 0


def test_breakpoints_are_verified_moved_or_rejected(dap, tmp_path):
    program = write(tmp_path, "main.zx", PROGRAM)
    client = dap()
    client.start(program, {program: [3, 4, 6, 7, 40]})
    results = client.verified[program]
    assert [(b["verified"], b["line"]) for b in results[:4]] == [
        (True, 3),   # `let s = a + b`
        (True, 5),   # the blank line moves to `s * 2`
        (True, 8),   # `}` moves to the next line with code
        (True, 8)]   # the blank line before `let xs`
    assert results[4]["verified"] is False
    assert "no Zixir code at or after line 40" in results[4]["message"]
    body = client.stopped("breakpoint")
    assert body["hitBreakpointIds"] == [results[2]["id"]]
    assert client.request("threads")["threads"] == [{"id": 1, "name": "main"}]
    assert client.top() == ("<top level>", 8)
    client.request("continue", {"threadId": 1})
    client.stopped("breakpoint")
    name, line = client.top()
    assert (name, line) == ("add", 3)
    frames = client.frames()
    assert [(f["name"], f["line"], f["source"]["path"]) for f in frames] == [
        ("add", 3, program), ("<top level>", 11, program)]
    assert frames[1]["column"] == 19  # the call `add(x, g)`
    client.request("continue", {"threadId": 1})
    client.stopped("breakpoint")
    assert client.top() == ("add", 5)
    # clearing the breakpoints lets the program run to its end
    client.request("setBreakpoints", {"source": {"path": program}, "breakpoints": []})
    client.request("continue", {"threadId": 1})
    assert client.finish() == 0


def test_breakpoint_in_an_imported_file(dap, tmp_path):
    lib = write(tmp_path, "lib.zx", """
        pub fn twice(n) {
          let doubled = n * 2
          doubled
        }
    """)
    program = write(tmp_path, "main.zx", """
        import "lib.zx"
        let r = twice(21)
        r
    """)
    client = dap()
    client.start(program, {lib: [2]})
    assert client.verified[lib][0]["verified"] is True
    client.stopped("breakpoint")
    frames = client.frames()
    assert [(f["name"], f["line"], f["source"]["path"]) for f in frames] == [
        ("twice", 2, lib), ("<top level>", 2, program)]
    assert client.scope(frames[0]["id"])["n"]["value"] == "21"
    client.request("continue", {"threadId": 1})
    assert client.finish() == 0
    assert client.output("stdout") == "42\n"


def test_breakpoint_on_a_fn_line_stops_in_its_body(dap, tmp_path):
    program = write(tmp_path, "main.zx", PROGRAM)
    client = dap()
    client.start(program, {program: [2]})
    assert client.verified[program][0]["line"] == 3
    client.stopped("breakpoint")
    assert client.top() == ("add", 3)


def test_conditional_breakpoint_and_hit_count(dap, tmp_path):
    program = write(tmp_path, "main.zx", PROGRAM)
    client = dap()
    client.start(program, {program: [{"line": 11, "condition": "x == 2 and total > 0"},
                                     {"line": 3, "hitCondition": ">= 3"}]})
    client.stopped("breakpoint")
    frame = client.frames()[0]
    assert frame["line"] == 11
    assert client.scope(frame["id"])["x"]["value"] == "2"
    client.request("continue", {"threadId": 1})
    client.stopped("breakpoint")
    frame = client.frames()[0]
    assert (frame["name"], frame["line"]) == ("add", 3)
    assert client.scope(frame["id"])["a"]["value"] == "3"  # the third call
    client.request("continue", {"threadId": 1})
    assert client.finish() == 0


def test_invalid_conditions_are_reported_not_fatal(dap, tmp_path):
    program = write(tmp_path, "main.zx", PROGRAM)
    client = dap()
    client.start(program, {program: [{"line": 11, "condition": "x == == 2"},
                                     {"line": 3, "hitCondition": "lots"},
                                     {"line": 5, "condition": "missing_name > 1"}]})
    bad_syntax, bad_hits, fails_at_run_time = client.verified[program]
    assert bad_syntax["verified"] is False and "invalid condition" in bad_syntax["message"]
    assert bad_hits["verified"] is False and "hit count" in bad_hits["message"]
    assert fails_at_run_time["verified"] is True
    # a condition that fails when evaluated stops there and says why
    client.stopped("breakpoint")
    assert client.top() == ("add", 5)
    assert "Undefined variable: missing_name" in client.output("stderr")
    client.request("setBreakpoints", {"source": {"path": program}, "breakpoints": []})
    client.request("continue", {"threadId": 1})
    assert client.finish() == 0


STEPS = """
fn inner(n) {
  let m = n + 1
  m * 10
}
fn outer(n) {
  let a = inner(n)
  let b = a + 1
  b
}
let r = outer(1)
let done = r + 1
done
"""


def test_step_into_over_and_out_across_functions(dap, tmp_path):
    program = write(tmp_path, "main.zx", STEPS)
    client = dap()
    client.start(program, {program: [10]})
    client.stopped("breakpoint")
    assert client.top() == ("<top level>", 10)
    client.step("stepIn")
    assert client.top() == ("outer", 6)
    client.step("stepIn")
    assert client.top() == ("inner", 2)
    assert [f["name"] for f in client.frames()] == ["inner", "outer", "<top level>"]
    client.step("next")
    assert client.top() == ("inner", 3)
    client.step("stepOut")
    assert client.top() == ("outer", 7)
    frame = client.frames()[0]
    assert client.scope(frame["id"])["a"]["value"] == "20"
    client.step("next")
    assert client.top() == ("outer", 8)
    client.step("next")  # returns from outer: the next statement of the caller
    assert client.top() == ("<top level>", 11)
    client.step("next")
    assert client.top() == ("<top level>", 12)
    client.request("continue", {"threadId": 1})
    assert client.finish() == 0
    assert client.output("stdout") == "22\n"


def test_step_over_a_call_does_not_stop_inside_it(dap, tmp_path):
    program = write(tmp_path, "main.zx", STEPS)
    client = dap()
    client.start(program, stop_on_entry=True)
    client.stopped("entry")
    assert client.top() == ("<top level>", 10)
    client.step("next")
    assert client.top() == ("<top level>", 11)
    frame = client.frames()[0]
    assert client.scope(frame["id"], "Globals")["r"]["value"] == "21"


def wait_for_output(client: DapClient, text: str) -> None:
    client.wait_output(text)


def test_pause_a_long_loop_and_terminate(dap, tmp_path):
    program = write(tmp_path, "main.zx", """
        let i = 0
        println("looping")
        while true {
          i += 1
        }
    """)
    client = dap()
    client.start(program)
    wait_for_output(client, "looping\n")
    running = client.failing("evaluate", {"expression": "i", "context": "watch"})
    assert running["message"] == "the program is running: pause it to evaluate"
    client.request("pause", {"threadId": 1})
    client.stopped("pause")
    name, line = client.top()
    assert name == "<top level>" and line in (3, 4)
    frame = client.frames()[0]
    first = int(client.scope(frame["id"], "Globals")["i"]["value"])
    client.step("next")
    frame = client.frames()[0]
    assert int(client.evaluate("i", frame["id"])["result"]) >= first
    client.request("terminate")
    assert client.finish() != 0
    assert client.close() == 0


def test_pause_inside_deep_calls_shows_zixir_frames_only(dap, tmp_path):
    program = write(tmp_path, "main.zx", """
        fn spin(n) {
          let k = 0
          println("spinning")
          while true {
            k += n
          }
        }
        fn down(n) {
          if n == 0 { spin(1) } else { down(n - 1) }
        }
        down(3)
    """)
    client = dap()
    client.start(program)
    wait_for_output(client, "spinning\n")
    client.request("pause", {"threadId": 1})
    client.stopped("pause")
    names = [f["name"] for f in client.frames()]
    assert names == ["spin", "down", "down", "down", "down", "<top level>"]


NESTED = """
fn show(data) {
  let first = data["items"][0]
  first
}
let data = {"items": [[1, 2], {"k": "v", "n": nil}], "flag": true, "ratio": 0.5}
show(data)
"""


def test_variables_of_nested_lists_and_maps(dap, tmp_path):
    program = write(tmp_path, "main.zx", NESTED)
    client = dap()
    client.start(program, {program: [3]})
    client.stopped("breakpoint")
    frame = client.frames()[0]
    local = client.scope(frame["id"])
    data = local["data"]
    assert data["value"] == '{"items": [[1, 2], {"k": "v", "n": nil}], "flag": true, ' \
                           '"ratio": 0.5}'
    assert data["type"] == "map" and data["namedVariables"] == 3
    entries = client.children(data["variablesReference"])
    assert list(entries) == ['"items"', '"flag"', '"ratio"']
    assert entries['"flag"']["value"] == "true" and entries['"flag"']["variablesReference"] == 0
    items = entries['"items"']
    assert items["type"] == "list" and items["indexedVariables"] == 2
    assert items["evaluateName"] == 'data["items"]'
    elements = client.children(items["variablesReference"])
    assert elements["[0]"]["value"] == "[1, 2]"
    inner = client.children(elements["[1]"]["variablesReference"])
    assert inner['"k"']["value"] == '"v"' and inner['"n"']["value"] == "nil"
    # paging of a list's elements
    page = client.children(elements["[0]"]["variablesReference"], start=1, count=1)
    assert list(page) == ["[1]"] and page["[1]"]["value"] == "2"
    # a watch of an evaluateName gives the same value
    assert client.evaluate(inner['"k"']["evaluateName"], frame["id"])["result"] == '"v"'
    # no compiler temporaries or helpers among the names
    globals_ = client.scope(frame["id"], "Globals")
    assert set(globals_) == {"show", "data"}
    assert globals_["show"]["value"] == "<fn show>"


def test_evaluate_in_a_chosen_frame(dap, tmp_path):
    program = write(tmp_path, "main.zx", STEPS)
    client = dap()
    client.start(program, {program: [3]})
    client.stopped("breakpoint")
    inner, outer, top = client.frames()
    assert client.evaluate("m * 2 + n", inner["id"])["result"] == "5"
    assert client.evaluate("n", outer["id"], "hover")["result"] == "1"
    assert client.evaluate("[n, \"x\", {\"k\": n}]", outer["id"], "repl")["result"] == \
        '[1, "x", {"k": 1}]'
    assert client.evaluate("inner(5)", top["id"])["result"] == "60"
    failed = client.failing("evaluate", {"expression": "m + nope", "frameId": inner["id"],
                                         "context": "watch"})
    assert "Undefined variable: nope" in failed["message"]
    failed = client.failing("evaluate", {"expression": "m +", "frameId": inner["id"]})
    assert failed["message"]
    # the program goes on unharmed
    client.request("continue", {"threadId": 1})
    assert client.finish() == 0


def test_shadowed_names_show_the_binding_in_scope(dap, tmp_path):
    program = write(tmp_path, "main.zx", """
        fn f(x) {
          let y = 1
          if x > 0 {
            let y = 2
            println(y)
          }
          y
        }
        f(5)
    """)
    client = dap()
    client.start(program, {program: [5, 7]})
    client.stopped("breakpoint")
    frame = client.frames()[0]
    assert client.scope(frame["id"])["y"]["value"] == "2"
    client.request("continue", {"threadId": 1})
    client.stopped("breakpoint")
    frame = client.frames()[0]
    assert frame["line"] == 7
    assert client.scope(frame["id"])["y"]["value"] == "1"
    assert client.evaluate("y", frame["id"])["result"] == "1"


def test_uncaught_error_stops_at_its_position(dap, tmp_path):
    program = write(tmp_path, "main.zx", """
        fn risky(xs, i) {
          let v = xs[i]
          v
        }
        println("before")
        risky([1, 2], 5)
    """)
    client = dap()
    client.start(program, exceptions=["uncaught"])
    body = client.stopped("exception")
    assert "Index out of range" in body["text"]
    frames = client.frames()
    assert [(f["name"], f["line"], f["column"]) for f in frames] == [
        ("risky", 2, 11), ("<top level>", 6, 1)]
    local = client.scope(frames[0]["id"])
    assert local["xs"]["value"] == "[1, 2]" and local["i"]["value"] == "5"
    assert client.evaluate("len(xs)", frames[0]["id"])["result"] == "2"
    info = client.request("exceptionInfo", {"threadId": 1})
    assert info["exceptionId"] == "ZixirRuntimeError"
    assert info["breakMode"] == "unhandled"
    assert info["details"]["message"].startswith("Index out of range")
    assert info["details"]["typeName"] == "ZixirRuntimeError"
    client.request("continue", {"threadId": 1})
    assert client.finish() == 1
    assert client.output("stdout") == "before\n"
    assert "main.zx:2:11: error: Index out of range" in client.output("stderr")


def test_uncaught_errors_do_not_stop_without_the_filter(dap, tmp_path):
    program = write(tmp_path, "main.zx", "let x = 1 / 0\n")
    client = dap()
    client.start(program, exceptions=[])
    assert client.finish() == 1
    assert "main.zx:1:9: error: Division by zero" in client.output("stderr")
    assert not [e for e in client.events if e["event"] == "stopped"]


def test_output_arrives_before_the_stop(dap, tmp_path):
    program = write(tmp_path, "main.zx", """
        print("a", 1)
        println(" b")
        let x = 2
        println("after")
    """)
    client = dap()
    client.start(program, {program: [3]})
    client.stopped("breakpoint")
    assert client.output("stdout") == "a 1 b\n"
    client.request("continue", {"threadId": 1})
    assert client.finish() == 0
    assert client.output("stdout") == "a 1 b\nafter\n"


def test_syntax_error_is_reported_then_terminated(dap, tmp_path):
    program = write(tmp_path, "main.zx", "let x = (1 +\nprintln(x)\n")
    client = dap()
    client.start(program, {program: [2]})
    assert client.verified[program][0]["verified"] is False
    assert client.finish() == 2
    err = client.output("stderr")
    assert "main.zx:" in err and "error:" in err
    assert client.close() == 0


def test_launch_errors_are_responses(dap, tmp_path):
    client = dap()
    client.request("initialize", {"adapterID": "zixir"})
    missing = client.failing("launch", {"program": str(tmp_path / "nope.zx")})
    assert "no such file" in missing["message"]
    write(tmp_path, "main.zx", "1\n")
    bad = client.failing("launch", {"program": str(tmp_path / "main.zx"),
                                    "args": ["--frobnicate"]})
    assert "--frobnicate" in bad["message"]
    assert client.failing("stackTrace", {"threadId": 1})["message"] == \
        "the program is not stopped"
    assert client.failing("attach", {})["message"] == "unsupported request: attach"


def test_relative_program_and_cwd(dap, tmp_path):
    sub = tmp_path / "proj"
    sub.mkdir()
    write(sub, "main.zx", 'println("hi")\n')
    client = dap()
    client.start("main.zx", cwd=str(sub))
    assert client.finish() == 0
    assert client.output("stdout") == "hi\n"


def test_python_calls_and_memory_use_the_runtime(dap, tmp_path):
    write(tmp_path, "helper.py", "def twice(x):\n    print('from worker', flush=True)\n"
                                 "    return x * 2\n")
    program = write(tmp_path, "main.zx", """
        let root = python "math" "sqrt" (16.0)
        let t = python "helper" "twice" (21)
        memory.put("debug-test", [root, t])
        memory.get("debug-test")
    """)
    client = dap()
    client.start(program, {program: [3]}, args=["--memory", str(tmp_path / "mem.db")])
    client.stopped("breakpoint")
    frame = client.frames()[0]
    assert client.scope(frame["id"], "Globals")["root"]["value"] == "4.0"
    client.request("continue", {"threadId": 1})
    assert client.finish() == 0
    assert "[4.0, 42]\n" in client.output("stdout")
    assert "from worker" in client.output()


def test_deep_recursion_runs_under_the_debugger(dap, tmp_path):
    program = write(tmp_path, "main.zx", """
        fn depth(n) {
          if n == 0 { 0 } else { 1 + depth(n - 1) }
        }
        let d = depth(50000)
        d
    """)
    client = dap()
    client.start(program, {program: [5]})
    client.stopped("breakpoint")
    frame = client.frames()[0]
    assert client.scope(frame["id"], "Globals")["d"]["value"] == "50000"
    client.request("continue", {"threadId": 1})
    assert client.finish() == 0


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _disconnect_and_check_cleanup(client: DapClient) -> None:
    pids = _descendants(client.proc.pid)
    assert pids, "the runtime should have started processes"
    pidfds = []
    for pid in pids:
        try:
            pidfds.append(os.pidfd_open(pid))
        except ProcessLookupError:
            pass
    client.request("disconnect", {"terminateDebuggee": True})
    assert client.proc.wait(timeout=60) == 0
    for fd in pidfds:
        ready, _, _ = select.select([fd], [], [], 60)
        os.close(fd)
        assert ready, "a process of the debugged program outlived the adapter"


def test_disconnect_during_a_run_leaves_no_process(dap, tmp_path):
    program = write(tmp_path, "main.zx", """
        let n = python "math" "sqrt" (4.0)
        let i = 0
        while true {
          i += 1
        }
    """)
    client = dap()
    client.start(program, {program: [3]})
    client.stopped("breakpoint")  # the runtime's processes are up by now
    client.request("setBreakpoints", {"source": {"path": program}, "breakpoints": []})
    client.request("continue", {"threadId": 1})
    _disconnect_and_check_cleanup(client)


def test_disconnect_during_a_long_python_call_leaves_no_process(dap, tmp_path):
    write(tmp_path, "slow.py", """
        import time
        def wait():
            print("in worker", flush=True)
            time.sleep(600)
    """)
    program = write(tmp_path, "main.zx", """
        python "slow" "wait" ()
    """)
    client = dap()
    client.start(program)
    wait_for_output(client, "in worker\n")  # the worker is running the call
    _disconnect_and_check_cleanup(client)


def test_frames_through_builtins_lambdas_and_comprehensions(dap, tmp_path):
    program = write(tmp_path, "main.zx", """
        fn scale(x) {
          let y = x * 3
          y
        }
        let viaMap = map([1, 2], x => scale(x))
        let viaComp = [scale(v) for v in [5]]
        viaComp
    """)
    client = dap()
    client.start(program, {program: [2]})
    client.stopped("breakpoint")
    assert [(f["name"], f["line"]) for f in client.frames()] == [
        ("scale", 2), ("<lambda>", 5), ("<top level>", 5)]
    client.request("continue", {"threadId": 1})
    client.stopped("breakpoint")
    client.request("continue", {"threadId": 1})
    client.stopped("breakpoint")
    frames = client.frames()
    assert [(f["name"], f["line"]) for f in frames] == [("scale", 2), ("<top level>", 6)]
    assert client.scope(frames[0]["id"])["x"]["value"] == "5"
    client.request("continue", {"threadId": 1})
    assert client.finish() == 0
    assert client.output("stdout") == "[15]\n"


def test_main_is_called_and_error_in_an_imported_file(dap, tmp_path):
    write(tmp_path, "lib.zx", """
        pub fn check(n) {
          if n > 2 { n + "x" * nil } else { n }
        }
    """)
    program = write(tmp_path, "main.zx", """
        import "lib.zx"
        fn main() {
          let a = check(1)
          check(a + 5)
        }
    """)
    client = dap()
    client.start(program, stop_on_entry=True, exceptions=["uncaught"])
    client.stopped("entry")
    assert client.top() == ("<top level>", 1)
    client.request("continue", {"threadId": 1})
    client.stopped("exception")
    frames = client.frames()
    assert [(f["name"], f["line"], f["source"]["name"]) for f in frames] == [
        ("check", 2, "lib.zx"), ("main", 4, "main.zx")]
    assert frames[0]["column"] == 18  # `"x" * nil`
    assert client.scope(frames[0]["id"])["n"]["value"] == "6"
    assert client.scope(frames[1]["id"])["a"]["value"] == "1"
    client.request("continue", {"threadId": 1})
    assert client.finish() == 1
    assert "lib.zx:2:18: error: " in client.output("stderr")


def test_no_debug_runs_without_stopping(dap, tmp_path):
    program = write(tmp_path, "main.zx", PROGRAM)
    client = dap()
    client.start(program, {program: [3]}, noDebug=True)
    assert client.finish() == 0
    assert not [e for e in client.events if e["event"] == "stopped"]


def test_breakpoint_set_while_running_is_hit(dap, tmp_path):
    program = write(tmp_path, "main.zx", """
        let i = 0
        println("looping")
        while true {
          i += 1
        }
    """)
    client = dap()
    client.start(program)
    wait_for_output(client, "looping\n")
    body = client.request("setBreakpoints", {"source": {"path": program},
                                             "breakpoints": [{"line": 4}]})
    assert body["breakpoints"][0]["verified"] is True
    client.stopped("breakpoint")
    assert client.top() == ("<top level>", 4)


def test_disconnect_while_stopped_ends_the_program_and_the_adapter(dap, tmp_path):
    program = write(tmp_path, "main.zx", PROGRAM)
    client = dap()
    client.start(program, {program: [3]})
    client.stopped("breakpoint")
    assert client.close() == 0
    assert client.output("stdout") == ""


def test_tasks_under_the_debugger_stop_at_breakpoints_and_are_waited_for(dap, tmp_path):
    program = write(tmp_path, "main.zx", """
        fn work(n) {
          let doubled = n * 2
          doubled
        }
        let t = spawn(() => work(21))
        spawn(() => println("never awaited"))
        await(t)
    """)
    client = dap()
    client.start(program, {program: [3]})
    client.stopped("breakpoint")
    assert client.top() == ("work", 3)
    assert client.scope(client.frames()[0]["id"])["n"]["value"] == "21"
    client.request("continue", {"threadId": 1})
    assert client.finish() == 0
    assert client.output("stdout") == "never awaited\n42\n"
