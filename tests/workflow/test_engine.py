"""The workflow engine, sans I/O: runs, steps, maps, dags and approvals over an in-process
key/value store, with plain Python functions."""

from __future__ import annotations

import threading

import pytest

from zixir.lang.errors import WorkflowError, WorkflowWaiting
from zixir.workflow import records as R
from zixir.workflow import storage as S
from zixir.workflow.admin import Workflows, format_run, format_runs
from zixir.workflow.engine import DagStep, Engine, StepOptions, plan
from zixir.workflow.storage import DictKeyValue


class Boom(Exception):
    pass


@pytest.fixture
def kv():
    return DictKeyValue()


@pytest.fixture
def engine(kv):
    return Engine(kv, parallelism=4)


def counter():
    calls: dict[str, int] = {}
    lock = threading.Lock()

    def hit(name: str) -> None:
        with lock:
            calls[name] = calls.get(name, 0) + 1

    return calls, hit


def test_a_finished_run_returns_its_stored_result_without_running(engine):
    calls, hit = counter()

    def body(run):
        hit("body")
        return run.step("a", lambda: hit("a") or 7) * 2

    assert engine.run("w", "default", body) == 14
    assert engine.run("w", "default", body) == 14
    assert calls == {"body": 1, "a": 1}
    assert engine.run("w", "other", body) == 14  # another key: another run
    assert calls == {"body": 2, "a": 2}


def test_a_failed_run_resumes_without_re_running_completed_steps(engine, kv):
    calls, hit = counter()
    fail = [True]

    def body(run):
        a = run.step("a", lambda: hit("a") or 1)
        b = run.step("b", lambda: hit("b") or (_raise(Boom("flaky")) if fail[0] else 2))
        return a + b

    with pytest.raises(Boom):
        engine.run("w", "default", body)
    record = kv.get(S.run_key("w", "default"))
    assert record["status"] == "failed"
    assert record["error"]["type"] == "Boom" and record["error"]["message"] == "flaky"
    step = kv.get(S.step_key("w", "default", "b"))
    assert step["status"] == "failed" and step["attempts"] == 1
    fail[0] = False
    assert engine.run("w", "default", body) == 3
    assert calls == {"a": 1, "b": 2}
    assert kv.get(S.step_key("w", "default", "b"))["attempts"] == 2  # across both runs
    assert kv.get(S.run_key("w", "default"))["runs"] == 2


def test_a_step_name_used_twice_is_an_error(engine):
    def body(run):
        run.step("a", lambda: 1)
        return run.step("a", lambda: 2)

    with pytest.raises(WorkflowError, match="^Step a already ran in this run$"):
        engine.run("w", "default", body)


def test_retries_are_extra_attempts(engine, kv):
    calls, hit = counter()

    def flaky():
        hit("g")
        if calls["g"] < 3:
            raise Boom(f"attempt {calls['g']}")
        return "ok"

    assert engine.run("w", "k1", lambda run: run.step("s", flaky, StepOptions(retries=2))) == "ok"
    assert kv.get(S.step_key("w", "k1", "s"))["attempts"] == 3
    calls.clear()
    with pytest.raises(Boom, match="attempt 2"):
        engine.run("w", "k2", lambda run: run.step("s", flaky, StepOptions(retries=1)))
    assert kv.get(S.step_key("w", "k2", "s"))["attempts"] == 2


def test_an_attempt_past_its_timeout_fails_the_step(engine, kv):
    release = threading.Event()

    def slow():
        release.wait(30)
        return "late"

    try:
        with pytest.raises(WorkflowError, match="^Step s timed out after 0.2 seconds$"):
            engine.run("w", "default", lambda run: run.step("s", slow, StepOptions(timeout=0.2)))
    finally:
        release.set()
    step = kv.get(S.step_key("w", "default", "s"))
    assert step["status"] == "failed" and step["error"]["type"] == "WorkflowError"
    assert engine.run("w", "x", lambda run: run.step("s", lambda: 5, StepOptions(timeout=30))) == 5


def test_map_checkpoints_every_element_and_resumes_with_the_missing_ones(engine, kv):
    calls, hit = counter()
    broken = {7}

    def square(x):
        hit(str(x))
        if x in broken:
            raise Boom(f"element {x}")
        return x * x

    xs = list(range(20))
    with pytest.raises(Boom, match="element 7"):
        engine.run("w", "default", lambda run: run.map("sq", xs, square))
    assert len(kv.scan(S.elements_prefix("w", "default", "sq"))) == 19
    broken.clear()
    assert engine.run("w", "default", lambda run: run.map("sq", xs, square)) == [
        x * x for x in xs]
    assert calls["7"] == 2 and all(calls[str(x)] == 1 for x in xs if x != 7)


def test_a_changed_element_re_runs_only_that_element(engine, kv):
    calls, hit = counter()

    def body_with(xs):
        def body(run):
            out = run.map("m", xs, lambda x: hit(repr(x)) or {"v": x})
            run.step("after", lambda: _raise(Boom("stop")) if xs[1] == "b" else "end")
            return out

        return body

    with pytest.raises(Boom):
        engine.run("w", "default", body_with(["a", "b", "c"]))
    assert engine.run("w", "default", body_with(["a", "B", "c"])) == [
        {"v": "a"}, {"v": "B"}, {"v": "c"}]
    assert calls == {"'a'": 1, "'b'": 1, "'B'": 1, "'c'": 1}
    keys = [k for k, _ in kv.scan(S.elements_prefix("w", "default", "m"))]
    assert len(keys) == 3  # the stale checkpoint of "b" is gone


def test_map_runs_at_most_concurrency_elements_at_once(engine):
    lock = threading.Lock()
    state = {"now": 0, "most": 0}
    all_in = threading.Barrier(3, timeout=30)

    def element(x):
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        if x < 3:
            all_in.wait()  # the first three are in flight together
        with lock:
            state["now"] -= 1
        return x

    result = engine.run("w", "default", lambda run: run.map(
        "m", list(range(30)), element, StepOptions(concurrency=3)))
    assert result == list(range(30))
    assert state["most"] == 3


def test_dag_runs_steps_after_their_dependencies_and_independent_ones_together(engine):
    both_running = threading.Barrier(2, timeout=30)
    order: list[str] = []

    def step(name, value):
        def fn(deps):
            order.append(name)
            if name in ("left", "right"):
                both_running.wait()  # only passes if left and right run at the same time
            return value(deps)

        return fn

    steps = [
        DagStep("join", ["left", "right"], step("join", lambda d: d["left"] + d["right"])),
        DagStep("left", ["root"], step("left", lambda d: d["root"] + 1)),
        DagStep("right", ["root"], step("right", lambda d: d["root"] * 10)),
        DagStep("root", [], step("root", lambda d: 1)),
    ]
    result = engine.run("w", "default", lambda run: run.dag(steps))
    assert result == {"join": 12, "left": 2, "right": 10, "root": 1}
    assert order[0] == "root" and order[-1] == "join"


@pytest.mark.parametrize("steps, message", [
    ([("a", ["b"]), ("b", ["c"]), ("c", ["a"])], "^Dependency cycle: a -> c -> b -> a$"),
    ([("a", ["a"])], "^Dependency cycle: a -> a$"),
    ([("a", []), ("b", ["a", "ghost"])], "^Step b depends on unknown step ghost$"),
    ([("a", []), ("a", [])], "^Step a appears twice in the dag$"),
])
def test_dag_errors_name_the_problem_before_anything_runs(engine, steps, message):
    calls, hit = counter()
    dag = [DagStep(name, after, lambda deps, name=name: hit(name)) for name, after in steps]
    with pytest.raises(WorkflowError, match=message):
        engine.run("w", "default", lambda run: run.dag(dag))
    assert calls == {}


def test_plan_orders_dependencies_first():
    order = plan([DagStep("c", ["b"], id), DagStep("b", ["a"], id), DagStep("a", [], id)])
    assert order == ["a", "b", "c"]


def test_a_failed_dag_step_starts_nothing_that_depends_on_it(engine):
    calls, hit = counter()
    dag = [DagStep("a", [], lambda d: _raise(Boom("a broke"))),
           DagStep("b", ["a"], lambda d: hit("b"))]
    with pytest.raises(Boom, match="a broke"):
        engine.run("w", "default", lambda run: run.dag(dag))
    assert calls == {}


def test_approval_waits_then_returns_the_note(engine, kv):
    body = lambda run: run.approval("review", "check the numbers") + "!"  # noqa: E731
    with pytest.raises(WorkflowWaiting) as waiting:
        engine.run("deploy", "default", body)
    assert "zixir workflow approve deploy review" in waiting.value.message
    assert kv.get(S.run_key("deploy", "default"))["status"] == "waiting"
    with pytest.raises(WorkflowWaiting):  # still pending
        engine.run("deploy", "default", body)
    Workflows(kv).approve("deploy", "review", "looks good")
    assert engine.run("deploy", "default", body) == "looks good!"
    assert kv.get(S.run_key("deploy", "default"))["status"] == "done"


def test_a_rejection_fails_the_step_with_the_note(engine, kv):
    with pytest.raises(WorkflowWaiting) as waiting:
        engine.run("deploy", "blue", lambda run: run.approval("review"))
    assert "zixir workflow approve deploy review --key blue" in waiting.value.message
    Workflows(kv).reject("deploy", "review", "numbers are off", key="blue")
    with pytest.raises(WorkflowError, match="^Step review was rejected: numbers are off$"):
        engine.run("deploy", "blue", lambda run: run.approval("review"))
    assert kv.get(S.run_key("deploy", "blue"))["status"] == "failed"
    with pytest.raises(WorkflowError, match="already rejected"):
        Workflows(kv).approve("deploy", "review", key="blue")


def test_only_approval_steps_can_be_approved(engine, kv):
    engine.run("w", "default", lambda run: run.step("s", lambda: 1))
    with pytest.raises(WorkflowError, match="^Step s is not an approval"):
        Workflows(kv).approve("w", "s")


def test_admin_lists_shows_and_resets_runs(engine, kv):
    engine.run("w", "default", lambda run: [run.step("a", lambda: 1),
                                           run.map("m", [1, 2], lambda x: x)])
    with pytest.raises(Boom):
        engine.run("w", "k/2", lambda run: run.step("a", lambda: _raise(Boom("bad"))))
    admin = Workflows(kv)
    runs = {(r["name"], r["key"]): r for r in admin.list()}
    assert runs[("w", "default")]["status"] == "done"
    assert runs[("w", "default")]["steps_done"] == 2
    assert runs[("w", "k/2")]["status"] == "failed"
    table = format_runs(admin.list())
    assert table.splitlines()[0].split() == ["NAME", "KEY", "STATUS", "STEPS", "DONE",
                                             "STARTED", "UPDATED"]
    shown = admin.show("w", "k/2")
    assert shown["steps"][0]["error"]["message"] == "bad"
    assert "Boom: bad" in format_run(shown)
    assert "2/2 elements" in format_run(admin.show("w"))
    with pytest.raises(WorkflowError, match="No workflow run nope"):
        admin.show("nope")
    assert admin.reset("w", "k/2") == 1
    assert [r["key"] for r in admin.list()] == ["default"]
    assert admin.reset("w") == 1
    assert kv.scan(S.ROOT) == []


def test_records_transitions():
    run = R.run_started(None, "w", "k", 10.0)
    assert run["status"] == "running" and run["runs"] == 1
    again = R.run_started(R.run_failed(run, {"type": "E"}, 11.0), "w", "k", 12.0)
    assert again["started"] == 10.0 and again["runs"] == 2 and again["error"] is None
    step = R.step_attempted(R.step_started(None, "step", 1.0))
    assert R.step_done(step, 5, 3.0) | {} == {**step, "status": "done", "updated": 3.0,
                                              "duration": 2.0, "result": 5, "error": None}
    waiting = R.approval_waiting(None, "why", 1.0)
    assert R.approval_waiting(waiting, "other", 2.0) is waiting
    approved = R.approval_decided(waiting, "s", True, "ok", 4.0)
    assert approved["status"] == "approved" and approved["result"] == "ok"
    assert R.approval_decided(None, "s", False, "no", 4.0)["status"] == "rejected"


def test_element_keys_survive_any_name():
    key = S.element_key("a/b", "c d", "s/t", 12, "abc")
    prefix = S.elements_prefix("a/b", "c d", "s/t")
    assert key.startswith(prefix) and S.parse_element(key, prefix) == (12, "abc")
    assert S.parse_run(S.run_key("a/b", "%2F")) == ("a/b", "%2F")


def _raise(exc):
    raise exc


def test_a_step_error_is_typed_as_try_rescue_names_it():
    from zixir.lang.errors import RaisedError, ZixirRuntimeError

    assert R.error_record(ZixirRuntimeError("Division by zero"))["type"] == "RuntimeError"
    raised = R.error_record(RaisedError("ServiceDown", "the model server is down"))
    assert (raised["type"], raised["message"]) == ("ServiceDown", "the model server is down")
    assert R.error_record(WorkflowError("x"))["type"] == "WorkflowError"
