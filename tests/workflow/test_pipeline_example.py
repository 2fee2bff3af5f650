"""examples/pipeline.zx: the experiment pipeline gives the value its stand-in models compute,
and killed halfway through a stage then run again it resumes and gives the same value."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

from workflow_helpers import ROOT, zixir

from zixir.workflow.admin import Workflows
from zixir.workflow.storage import StoreKeyValue

EXAMPLE = str(ROOT / "examples" / "pipeline.zx")
sys.path.insert(0, str(ROOT / "examples"))
import pipeline_models as models  # noqa: E402


def expected() -> dict:
    prompts = models.load(200)
    return models.analyse([models.embed(models.generate(p)) for p in prompts])


def checkpoints(store: str, stage: str) -> int:
    if not os.path.exists(store):
        return 0
    try:
        db = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=10)
        try:
            (count,) = db.execute("SELECT count(*) FROM kv WHERE key LIKE ?",
                                  (f"workflow/element/experiment/v1/{stage}/%",)).fetchone()
        finally:
            db.close()
    except sqlite3.OperationalError:  # the store has not created its table yet
        return 0
    return count


def test_the_pipeline_computes_what_its_models_compute(tmp_path):
    models.LATENCY = 0.0
    want = expected()
    result = zixir("run", EXAMPLE, "--json", "--memory", str(tmp_path / "m.sqlite3"),
                   env={"PIPELINE_LATENCY": "0"})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == want


def test_killed_halfway_the_pipeline_resumes_where_it_stopped(tmp_path):
    models.LATENCY = 0.0
    store = str(tmp_path / "m.sqlite3")
    env = {**os.environ, "PIPELINE_LATENCY": "0.05"}
    proc = subprocess.Popen([sys.executable, "-P", "-m", "zixir", "run", EXAMPLE, "--json",
                             "--memory", store], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while checkpoints(store, "generate") < 40:
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "the generate stage made no progress"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    done_before = checkpoints(store, "generate")
    assert 40 <= done_before < 200
    shown = zixir("workflow", "show", "experiment", "v1", "--memory", store).stdout
    assert "status running" in shown and "load      step  done" in shown
    result = zixir("run", EXAMPLE, "--json", "--memory", store, env={"PIPELINE_LATENCY": "0"})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == expected()
    shown = zixir("workflow", "show", "experiment", "v1", "--memory", store).stdout
    assert "status done" in shown and "200/200 elements" in shown
    kv = StoreKeyValue(store)
    try:
        steps = {s["name"]: s for s in Workflows(kv).show("experiment", "v1")["steps"]}
    finally:
        kv.close()
    assert steps["load"]["attempts"] == 1  # committed before the kill: never ran again
    # the second run made exactly one attempt per element without a checkpoint
    assert steps["generate"]["attempts"] == 200 - done_before
