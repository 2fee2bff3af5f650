"""The language server learns `workflow.*` from the language's registry: completion, hover and
signature help."""

from __future__ import annotations

from zixir.lsp import features
from zixir.lsp.analysis import analyze


def test_completion_after_workflow_dot_lists_every_member():
    source = "workflow."
    items = features.completions(analyze(source), 1, len(source) + 1)
    assert {i.label for i in items} == {"run", "step", "map", "dag", "approval"}
    step = next(i for i in items if i.label == "step")
    assert step.detail.startswith("workflow.step(run, name: String, g, options?)")


def test_hover_on_a_workflow_member_shows_its_signature():
    source = 'workflow.run("w", run => workflow.step(run, "s", () => 1))'
    info = features.hover(analyze(source), 1, source.index("step") + 2)
    assert info is not None and info.code.startswith("workflow.step(")
    assert "once per run" in info.doc


def test_signature_help_inside_a_workflow_call():
    source = 'workflow.map(run, "s", '
    info = features.signature_help(analyze(source), 1, len(source) + 1)
    assert info is not None and info.label.startswith("workflow.map(")
    assert info.active == 2
