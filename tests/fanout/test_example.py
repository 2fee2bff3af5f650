"""The evaluation fan-out example runs as its users run it: `python examples/fanout/run.py`
starts its own fake model server, scores the dataset through zixir and reports."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

from .fanout_support import EXAMPLE


def test_evaluation_example_scores_every_example_once_through_an_outage():
    out = subprocess.run([sys.executable, str(EXAMPLE / "run.py"), "--examples", "120"],
                         capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "scored 120 of 120 examples; accuracy 1.0" in text, text
    assert re.search(r"throughput: [\d.]+ examples/s", text), text
    assert "scored twice: 0" in text, text
    transitions = int(re.search(r"breaker model_client: (\d+) transitions, now closed",
                                text).group(1))
    assert transitions >= 2, text  # opened in the outage, closed after it
    assert int(re.search(r"answered 503", text) and
               re.search(r"(\d+) answered 503", text).group(1)) >= 1, text
    assert int(re.search(r"retries: (\d+)", text).group(1)) >= 1, text
    # pmap(examples, f, 64) with async calls: many more requests in flight than workers
    with open(EXAMPLE / "zixir.toml", "rb") as f:
        workers = tomllib.load(f)["runtime"]["workers"]
    peak = int(re.search(r"at most (\d+) at once", text).group(1))
    assert peak > 2 * workers, text
