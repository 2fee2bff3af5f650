"""`workflow.*` in Zixir programs: values, options, errors, checker and formatter, on a session
whose memory is in-process."""

from __future__ import annotations

import re

import pytest
from workflow_helpers import LocalServices, session

from zixir.lang.checker import check
from zixir.lang.errors import WorkflowError, WorkflowWaiting, ZixirRuntimeError, ZixirSyntaxError
from zixir.lang.formatter import format_source
from zixir.workflow.admin import Workflows

PIPELINE = """
fn pipeline(run) {
  let base = workflow.step(run, "base", () => memory.incr("calls.base") * 0 + 10)
  let squares = workflow.map(run, "squares", INPUT, x => {
    memory.incr("calls.squares")
    x * x + base
  }, {concurrency: 2})
  let stats = workflow.dag(run, [
    {name: "total", run: deps => sum(squares)},
    {name: "count", run: deps => len(squares)},
    {name: "mean", after: ["total", "count"], run: deps => deps["total"] / deps["count"]},
  ])
  if memory.get("fail", false) { 1 / 0 }
  {squares: squares, mean: stats["mean"]}
}
workflow.run("pipe", pipeline)
"""


def run(services, inputs="[1, 2, 3]", source=PIPELINE):
    return session(services).eval(source.replace("INPUT", inputs))


def test_a_pipeline_returns_zixir_values_and_runs_each_step_once():
    services = LocalServices()
    first = run(services)
    assert first == {"squares": [11, 14, 19], "mean": 44 / 3}
    assert run(services) == first
    assert services.kv.get("calls.base") == 1 and services.kv.get("calls.squares") == 3


def test_a_changed_element_re_runs_only_that_element():
    services = LocalServices()
    services.kv.put("fail", True)
    with pytest.raises(Exception, match="Division by zero"):
        run(services)
    services.kv.put("fail", False)
    assert run(services, "[1, 5, 3]")["squares"] == [11, 35, 19]
    assert services.kv.get("calls.squares") == 4 and services.kv.get("calls.base") == 1


def test_key_argument_and_run_handle():
    services = LocalServices()
    assert session(services).eval(
        'workflow.run("w", "k1", run => [run["workflow"], run["key"], type_of(run["run"])])'
    ) == ["w", "k1", "int"]
    assert {(r["name"], r["key"]) for r in Workflows(services.kv).list()} == {("w", "k1")}


def test_retries_and_timeout_options():
    services = LocalServices()
    value = session(services).eval("""
workflow.run("r", run => workflow.step(run, "flaky", () => {
  if memory.incr("tries") < 3 { 1 / 0 }
  "ok"
}, {retries: 2}))
""")
    assert value == "ok" and services.kv.get("tries") == 3
    with pytest.raises(WorkflowError, match="Step spin timed out after 0.3 seconds") as info:
        session(services).eval(
            'workflow.run("t", run => workflow.step(run, "spin", () => { while true { } }, '
            '{timeout: 0.3}))')
    assert info.value.line == 1


@pytest.mark.parametrize("source, message", [
    ('workflow.run("w", run => workflow.step(run, "s", () => 1, {tries: 2}))',
     "workflow.step: unknown option tries (expected retries, timeout)"),
    ('workflow.run("w", run => workflow.step(run, "s", () => 1, {retries: -1}))',
     "retries must be a non-negative integer"),
    ('workflow.run("w", run => workflow.map(run, "s", [1], x => x, {concurrency: 0}))',
     "concurrency must be a positive integer"),
    ('workflow.run("w", run => workflow.step(run, "s", x => 1))', "passes 0"),
    ('workflow.run("w", 5)', "expected a function"),
    ('workflow.run(1, run => 1)', "workflow.run: the name must be a non-empty string, got int"),
    ('workflow.step({}, "s", () => 1)', "expected the run given to the function of workflow.run"),
    ('let r = workflow.run("w", run => run)\nworkflow.step(r, "s", () => 1)',
     "the run w has already ended"),
    ('workflow.run("w", run => workflow.step(run, "s", () => x => x))', "cannot be stored"),
    ('workflow.run("w", run => workflow.dag(run, [{name: "a"}]))', "step a needs a run function"),
    ('workflow.run("w", run => workflow.dag(run, [{name: "a", run: d => 1, extra: 1}]))',
     "unknown field extra"),
    ('workflow.run("w", run => workflow.dag(run, [{name: "a", after: ["b"], run: d => 1}]))',
     "Step a depends on unknown step b"),
    ('workflow.run("w", run => workflow.dag(run, [{name: "a", after: ["b"], run: d => 1}, '
     '{name: "b", after: ["a"], run: d => 1}]))', "Dependency cycle: "),
    ('workflow.run("w", run => { workflow.step(run, "s", () => 1)\n'
     'workflow.approval(run, "s") })', "Step s already ran in this run"),
])
def test_misuse_is_a_positioned_workflow_error(source, message):
    with pytest.raises(ZixirRuntimeError, match=re.escape(message)) as info:
        session().eval(source)
    assert info.value.line is not None


def test_approval_from_a_program():
    services = LocalServices()
    source = 'workflow.run("ship", run => workflow.approval(run, "review", "look at it"))'
    with pytest.raises(WorkflowWaiting, match="zixir workflow approve ship review"):
        session(services).eval(source)
    Workflows(services.kv).approve("ship", "review", "fine by me")
    assert session(services).eval(source) == "fine by me"


def test_workflow_stays_a_usable_name():
    assert session().eval("let workflow = 1\nworkflow + 1") == 2


def test_the_checker_knows_the_members_and_their_arity():
    assert check('workflow.run("w", run => workflow.step(run, "s", () => 1))') == []
    [diag] = check('workflow.run("w")')
    assert diag.message == "workflow.run expects 2 to 3 arguments, got 1"
    with pytest.raises(ZixirSyntaxError, match="Unknown workflow operation 'stpe'"):
        session().eval('workflow.stpe(1)')
    [diag] = check('workflow.stpe(1)')
    assert "Unknown workflow operation 'stpe'" in diag.message


def test_the_formatter_keeps_workflow_calls():
    source = 'workflow.run("w", run => workflow.step(run, "s", () => 1, {retries: 2}))\n'
    assert format_source(source) == source


def test_the_registry_documents_every_member():
    from zixir.lang.builtins import WORKFLOW_MEMBERS

    assert set(WORKFLOW_MEMBERS) == {"run", "step", "map", "dag", "approval"}
    assert all(m.signature.startswith(f"workflow.{m.name}(") and m.doc
               for m in WORKFLOW_MEMBERS.values())
