"""Progress bars for fan-outs of 100+ items (pmap, workflow.map, ...).

    router (runs the program)                              host (the user's terminal)
    -------------------------                              --------------------------
    bar = track("pmap", len(xs))   (a no-op below MIN_ITEMS items, with progress off, or
    bar.advance(ok) per element     outside a request that came over a dedicated channel)
    bar.close()                    at most every INTERVAL s, and once at the end:
      --> the request's Notifier --"progress" [id, label, done, total, failed, finished,
          (channel.current_notifier)               rate (items/s, measured here)]-->
                                        DedicatedChannel.on_note --> ProgressView: rich
                                        bars on stderr (done/total, failures, rate, ETA)

The host decides whether bars are wanted (`Runtime(progress=...)`, default: its stderr is a
terminal; `zixir run --quiet` turns them off) and tells the router through its configuration,
so a run without bars sends nothing. The router's stderr may not be the user's terminal (an
embedding program), which is why the host draws them.

The program's own output shares that terminal. Once a request has reported a bar, the router
sends what the program writes to stdout and the log lines meant for stderr to the host too
(an "output" note, [fd, text]), in order with the reports, and the host prints them above the
bars: a line never lands in the middle of a bar, and nothing is drawn over it. This happens
only when the router's stdout and stderr are one terminal (`divert_output`); otherwise, and
before the first bar, the router writes them itself.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
import time
from typing import Any

#: set in the router from `RuntimeConfig.progress`
ENABLED = False
#: fan-outs smaller than this show no bar
MIN_ITEMS = 100
#: seconds between two reports of one bar
INTERVAL = 0.1
METHOD = "progress"
OUTPUT = "output"

_lock = threading.Lock()  # the sinks, and every report (a report never follows close_sink)
_sinks: list[Any] = []  # Notifiers of the requests running a program (the last one is used)
_ids = itertools.count(1)
#: set in the router when its stdout and stderr are one terminal (`divert_output`)
DIVERT = False
_diverting: Any = None  # the Notifier that output goes to, from its first bar to its end


def open_sink(notifier: Any) -> None:
    with _lock:
        _sinks.append(notifier)


def close_sink(notifier: Any) -> None:
    global _diverting
    with _lock:
        if notifier in _sinks:
            _sinks.remove(notifier)
        if _diverting is notifier:
            _diverting = None


def _report(params: list) -> None:
    global _diverting
    with _lock:
        if _sinks:
            sink = _sinks[-1]
            if sink.notify(METHOD, params) and DIVERT:
                _diverting = sink


def divert(fd: int, text: str) -> bool:
    """In the router: send text meant for `fd` (1 or 2) to the host, which prints it above its
    bars; False when no bar is up in this request (the caller writes it itself)."""
    if _diverting is None:
        return False
    with _lock:
        sink = _diverting
        return sink is not None and sink.notify(OUTPUT, [fd, text])


class DivertedStdout:
    """The router's stdout while bars may be drawn: text goes to the host once a bar is up."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        if _diverting is not None and text:
            self._stream.flush()  # what was written before goes first
            if divert(1, text):
                return len(text)
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def divert_output(stdout: Any) -> Any:
    """In the router: `stdout` wrapped so that the program's output and the log lines go
    through the host while a bar is up, when stdout and stderr are one terminal; else
    `stdout` itself."""
    global DIVERT
    try:
        one = os.isatty(1) and os.isatty(2) and os.fstat(1).st_rdev == os.fstat(2).st_rdev
    except OSError:
        one = False
    if not (ENABLED and one):
        return stdout
    DIVERT = True
    return DivertedStdout(stdout)


class Tracker:
    """One bar: `advance(ok)` per finished item, `close()` at the end (also on errors)."""

    __slots__ = ("id", "label", "total", "done", "failed", "_last", "_lock", "_closed",
                 "_started", "_done_before")

    def __init__(self, label: str, total: int, done: int = 0) -> None:
        self.id = next(_ids)
        self.label, self.total, self.done, self.failed = label, total, done, 0
        self._lock = threading.Lock()
        self._closed = False
        self._last = self._started = time.monotonic()
        self._done_before = done  # checkpointed items: not part of the rate
        _report([self.id, label, done, total, 0, False, None])

    def _rate(self, now: float) -> float | None:
        """Items per second since the bar opened, measured here: the host may read the
        reports late and in a burst (a busy machine), which must not skew the rate."""
        elapsed = now - self._started
        return (self.done - self._done_before) / elapsed if elapsed > 0 else None

    def advance(self, ok: bool = True) -> None:
        with self._lock:
            if self._closed:
                return  # e.g. a watcher of an await_all that was interrupted
            self.done += 1
            if not ok:
                self.failed += 1
            now = time.monotonic()
            if now - self._last < INTERVAL:
                return
            self._last = now
            params = [self.id, self.label, self.done, self.total, self.failed, False,
                      self._rate(now)]
        _report(params)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            params = [self.id, self.label, self.done, self.total, self.failed, True,
                      self._rate(time.monotonic())]
        _report(params)

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class _NoBar:
    __slots__ = ()

    def advance(self, ok: bool = True) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


NO_BAR = _NoBar()


def track(label: str, total: int, done: int = 0) -> Tracker | _NoBar:
    """A progress bar for `total` items (`done` of them finished already, e.g. checkpointed);
    a no-op unless progress is on, `total` >= MIN_ITEMS and the host is listening."""
    if not ENABLED or total < MIN_ITEMS or not _sinks:
        return NO_BAR
    return Tracker(label, total, done)


# ---- the host: drawing ---------------------------------------------------------------------------


class ProgressView:
    """Draws the router's progress reports as rich progress bars on `stream` (stderr)."""

    def __init__(self, stream: Any = None, console: Any = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.console = console  # a rich Console to draw on instead of one over `stream`
        self._lock = threading.Lock()
        self._progress: Any = None
        self._tasks: dict[int, Any] = {}  # report id -> rich task id
        self._pending: dict[int, str] = {}  # fd -> the start of a line written during bars

    def __call__(self, note: Any) -> None:
        try:
            if note.method == METHOD:
                self.update(*note.params)
            elif note.method == OUTPUT:
                self.write(*note.params)
        except Exception:  # a malformed report or a closed terminal: no bar, no failure
            pass

    def write(self, fd: int, text: str) -> None:
        """The router's output while a bar is up: whole lines above the bars, a partial line
        kept until its end (or until the bars end)."""
        with self._lock:
            if self._progress is None:
                _write(fd, text)
                return
            pending = self._pending.get(fd, "") + str(text)
            lines, newline, rest = pending.rpartition("\n")
            self._pending[fd] = rest
            if newline:
                from rich.text import Text

                self._progress.console.print(Text.from_ansi(lines), soft_wrap=True,
                                             highlight=False, markup=False, emoji=False)

    def update(self, bar_id: int, label: str, done: int, total: int, failed: int,
               finished: bool, rate: float | None = None) -> None:
        with self._lock:
            progress = self._progress
            if progress is None:
                if finished:
                    return  # ended before its first report was drawn
                progress = self._progress = _make_progress(self.stream, self.console)
                progress.start()
            task = self._tasks.get(bar_id)
            if task is None:
                task = self._tasks[bar_id] = progress.add_task(str(label), total=total,
                                                               completed=done, failed=failed,
                                                               rate=rate)
            progress.update(task, completed=done, total=total, failed=failed, rate=rate)
            if finished:
                progress.stop_task(task)
                del self._tasks[bar_id]
                if not self._tasks:
                    self._stop()

    def stop(self) -> None:
        """End the display (the request that reported is over)."""
        with self._lock:
            self._tasks.clear()
            self._stop()

    def _stop(self) -> None:
        if self._progress is not None:
            self._progress.refresh()
            self._progress.stop()
            self._progress = None
        pending, self._pending = self._pending, {}
        for fd, text in pending.items():
            if text:
                _write(fd, text)


def _write(fd: int, text: str) -> None:
    """Text the router sent for its stdout (1) or stderr (2), written by the host."""
    stream = sys.stdout if fd == 1 else sys.stderr
    stream.write(text)
    stream.flush()


def _make_progress(stream: Any, console: Any = None) -> Any:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """Items per second, as the router measured it."""

        def render(self, task: Any) -> Text:
            speed = task.fields.get("rate")
            return Text("-- /s" if speed is None else f"{speed:,.1f}/s", style="progress.data.speed")

    class RemainingColumn(ProgressColumn):
        """The time left at that rate."""

        max_refresh = 0.5

        def render(self, task: Any) -> Text:
            speed = task.fields.get("rate")
            if task.finished:
                return Text("0:00:00", style="progress.remaining")
            if not speed or task.total is None:
                return Text("-:--:--", style="progress.remaining")
            left = int((task.total - task.completed) / speed)
            return Text(f"{left // 3600}:{left // 60 % 60:02d}:{left % 60:02d}",
                        style="progress.remaining")

    class FailedColumn(ProgressColumn):
        """Items that failed (red once there is one)."""

        def render(self, task: Any) -> Text:
            failed = int(task.fields.get("failed") or 0)
            return Text(f"{failed} failed", style="bold red" if failed else "dim")

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        FailedColumn(),
        RateColumn(),
        TextColumn("ETA"),
        RemainingColumn(),
        TimeElapsedColumn(),
        console=console if console is not None else Console(file=stream),
        refresh_per_second=8,
    )
