"""The pieces behind the terminal tests, on their own: progress reports and their throttling,
the host's drawing of them, the --stats table's units, the recorder's bounds."""

from __future__ import annotations

import io

import pytest

from zixir.observe import metrics, progress
from zixir.observe.table import duration, format_stats
from zixir.runtime.protocol import Notification


class Sink:
    def __init__(self) -> None:
        self.sent: list[list] = []

    def notify(self, method: str, params: list) -> bool:
        assert method == "progress"
        self.sent.append(params)
        return True


@pytest.fixture
def sink(monkeypatch):
    monkeypatch.setattr(progress, "ENABLED", True)
    s = Sink()
    progress.open_sink(s)
    yield s
    progress.close_sink(s)


def test_small_fanouts_and_runs_without_a_listener_get_no_bar(monkeypatch):
    monkeypatch.setattr(progress, "ENABLED", True)
    assert progress.track("pmap", 1000) is progress.NO_BAR  # nobody listens
    s = Sink()
    progress.open_sink(s)
    try:
        assert progress.track("pmap", 99) is progress.NO_BAR
        monkeypatch.setattr(progress, "ENABLED", False)
        assert progress.track("pmap", 1000) is progress.NO_BAR
    finally:
        progress.close_sink(s)
    assert s.sent == []


def test_reports_are_throttled_and_the_last_one_is_always_sent(sink, monkeypatch):
    monkeypatch.setattr(progress, "INTERVAL", 3600.0)
    with progress.track("pmap", 500, done=100) as bar:
        for i in range(400):
            bar.advance(ok=i % 100 != 0)
    first, last = sink.sent[0], sink.sent[-1]
    assert first[1:] == ["pmap", 100, 500, 0, False, None]
    assert last[1:6] == ["pmap", 500, 500, 4, True]
    assert last[6] > 0  # items per second, the 100 checkpointed ones left out
    assert len(sink.sent) == 2  # nothing in between within the interval
    bar.close()  # closing twice reports once
    assert len(sink.sent) == 2


def test_no_report_follows_the_end_of_the_request(sink):
    bar = progress.track("pmap", 200)
    progress.close_sink(sink)
    bar.advance()
    bar.close()
    assert len(sink.sent) == 1  # only the opening report


def test_the_host_draws_reports_with_done_total_failures_and_rate():
    from rich.console import Console

    screen = io.StringIO()
    view = progress.ProgressView(console=Console(file=screen, force_terminal=True, width=120))
    view(Notification("progress", [1, "pmap", 0, 300, 0, False]))
    view(Notification("progress", [1, "pmap", 150, 300, 2, False]))
    view(Notification("progress", [1, "pmap", 300, 300, 3, True]))
    view(Notification("other", []))  # not a progress report: ignored
    text = screen.getvalue()
    assert "pmap" in text and "300/300" in text and "3 failed" in text and "/s" in text
    assert view._progress is None  # every bar ended: the display stopped


@pytest.mark.parametrize(("ms", "shown"), [(0.0421, "0.04 ms"), (3.5, "3.5 ms"), (250, "250 ms"),
                                           (1520, "1.52 s"), (185_000, "3 min 5 s"),
                                           (None, "-")])
def test_durations_have_units(ms, shown):
    assert duration(ms) == shown


def test_the_stats_table_of_a_runtime_that_ran_nothing():
    text = format_stats({"host": {}, "router": {"unavailable": "closed"}, "supervisor": {}})
    assert "router: not available (closed)" in text and "Python calls: none" in text


def test_label_sets_are_bounded(monkeypatch):
    monkeypatch.setattr(metrics, "MAX_SERIES", 3)
    r = metrics.Recorder()
    for i in range(10):
        r.call_finished("m", f"f{i}", 0.001)
    assert len(r.calls) == 4  # three, then everything else in "other"
    assert r.calls[("other", "other", "other")].count == 7
    text = r.exposition()
    assert 'function="other"' in text


def test_outcomes_name_what_happened():
    from zixir.lang.errors import CallTimeout, CircuitOpen, PythonError, WorkerCrashed

    assert metrics.outcome_of(None) == "ok"
    assert metrics.outcome_of(CallTimeout("t")) == "timeout"
    assert metrics.outcome_of(WorkerCrashed("c")) == "crash"
    assert metrics.outcome_of(CircuitOpen("o")) == "refused"
    assert metrics.outcome_of(PythonError("ValueError", "v")) == "error"


def test_a_batch_of_calls_records_what_the_calls_one_by_one_record():
    from zixir.lang.errors import PythonError

    one, batch = metrics.Recorder(), metrics.Recorder()
    seconds = [0.0001, 0.003, 0.2, 7.0]
    error = PythonError("boom", exc_type="ValueError")
    for s in seconds:
        one.call_finished("m", "f", s)
        one.call_finished("m", "g", s, error)
    batch.calls_finished("m", "f", seconds)
    batch.calls_finished("m", "g", seconds, error)
    assert batch.snapshot() == one.snapshot()
    assert batch.exposition() == one.exposition()


def test_output_during_bars_is_printed_above_them_by_whole_lines(capsys):
    from rich.console import Console

    screen = io.StringIO()
    view = progress.ProgressView(console=Console(file=screen, force_terminal=True, width=120))
    view(Notification("output", [1, "before any bar\n"]))  # no bar: written as it comes
    view(Notification("progress", [1, "pmap", 0, 300, 0, False]))
    view(Notification("output", [1, "par"]))
    view(Notification("output", [1, "tial\nrest of"]))
    assert "partial" in screen.getvalue() and "rest of" not in screen.getvalue()
    view(Notification("progress", [1, "pmap", 300, 300, 0, True]))
    assert capsys.readouterr().out == "before any bar\nrest of"  # the unfinished line, after
    view(Notification("output", [2, "a log line\n"]))
    assert capsys.readouterr().err == "a log line\n"


def test_the_stats_table_shows_rate_waits_steps_and_agents():
    metrics_ = {"calls": {}, "rate_waits": {"llm": {"waits": 3, "seconds": 0.25}},
                "workflow_steps": [{"workflow": "etl", "kind": "map", "outcome": "done",
                                    "count": 2, "seconds": 1.5}],
                "agents": {"by_status": {"running": 2, "failed": 0}, "restarts": {"lib.A": 1},
                           "calls": [{"agent": "lib.A", "method": "get", "outcome": "ok",
                                      "count": 3, "seconds": 0.003},
                                     {"agent": "lib.A", "method": "get", "outcome": "error",
                                      "count": 1, "seconds": 0.001}]}}
    text = format_stats({"host": {}, "router": {"metrics": metrics_}, "supervisor": {}})
    lines = [line.split() for line in text.splitlines()]
    assert ["llm", "3", "83.3", "ms", "250", "ms"] in lines  # mean wait, summed waits
    assert ["etl", "map", "done", "2", "1.50", "s"] in lines
    agents = next(line for line in text.splitlines() if line.startswith("Agents:"))
    assert agents == "Agents: 2 running, 1 restart"  # statuses with no agent are left out
    assert ["lib.A.get", "4", "1", "1.0", "ms"] in lines


def test_the_rate_and_eta_are_the_routers_even_when_reports_come_in_a_burst():
    from rich.console import Console

    screen = io.StringIO()
    view = progress.ProgressView(console=Console(file=screen, force_terminal=True, width=120))
    view(Notification("progress", [1, "pmap", 0, 600, 0, False, None]))
    view(Notification("progress", [1, "pmap", 300, 600, 0, False, 150.0]))  # at once
    view._progress.refresh()
    import re

    text = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", screen.getvalue())
    assert "150.0/s ETA 0:00:02" in text  # 300 left at 150/s
    view(Notification("progress", [1, "pmap", 600, 600, 0, True, 149.5]))
    assert "149.5/s ETA 0:00:00" in re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", screen.getvalue())


def test_a_pid_an_event_is_about_gets_its_own_key():
    from zixir.runtime.events import _subject_pid

    move = _subject_pid(100)
    assert move(None, "warning", {"event": "call.timeout", "pid": 7, "call": "m.f"}) == {
        "event": "call.timeout", "pid": 100, "call": "m.f", "worker_pid": 7}
    assert move(None, "warning", {"event": "call.timeout", "pid": 8,
                                  "call": "agent a (m.C.f)"})["agent_pid"] == 8
    assert move(None, "warning", {"event": "process.crash", "pid": 9})["child_pid"] == 9
    assert move(None, "warning", {"event": "agent.crash", "pid": 5})["agent_pid"] == 5
    assert move(None, "info", {"event": "breaker.state", "pid": 100}) == {
        "event": "breaker.state", "pid": 100}  # its own pid: nothing to move
