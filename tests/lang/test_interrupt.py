"""Ctrl-C during a long Python call, the way a person at a terminal presses it.

The REPL runs on a pseudo-terminal that is its controlling terminal, so the `\\x03` typed into
it becomes SIGINT for the foreground process group, exactly as in a real terminal. The call
must stop at once: its worker is killed and replaced, "interrupted" is printed, and the next
input (another Python call included) answers within seconds, not when the 30 s sleep would
have ended. `zixir run` given SIGINT exits with status 130 and leaves no process behind.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import subprocess
import sys
import termios
import time

import pytest

pytestmark = pytest.mark.timeout(180)

ZIXIR = [sys.executable, "-m", "zixir"]
ANSI = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]")
SLEEP = 30  # seconds the interrupted call would take; every answer must come well before


def descendants(pid: int) -> set[int]:
    """Live (not zombie) processes below `pid`, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry))
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.add(child)
            stack.append(child)
    return found


def sleeping_in_a_call(pid: int) -> set[int]:
    """Processes below `pid` sleeping in the kernel's nanosleep: workers running `time.sleep`
    (idle workers wait on a pipe, the router on futexes)."""
    found = set()
    for child in descendants(pid):
        try:
            with open(f"/proc/{child}/wchan") as f:
                if "nanosleep" in f.read():
                    found.add(child)
        except OSError:
            pass
    return found


def wait_until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.05)
    return found


def alive(pids: set[int]) -> set[int]:
    live = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                    live.add(pid)
        except OSError:
            pass
    return live


class Terminal:
    """A command on a pseudo-terminal that is its controlling terminal."""

    def __init__(self, args: list[str], env: dict) -> None:
        self.master, slave = pty.openpty()

        def take_terminal() -> None:
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave,
                                     env={**env, "TERM": "xterm-256color",
                                          "PROMPT_TOOLKIT_NO_CPR": "1"},
                                     preexec_fn=take_terminal)
        os.close(slave)
        self.screen = ""

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def wait_for(self, pattern: str, timeout: float) -> float:
        """Seconds until `pattern` (a regex over the screen without escape codes) shows."""
        start = time.monotonic()
        raw = b""
        while time.monotonic() - start < timeout:
            if re.search(pattern, ANSI.sub("", self.screen)):
                return time.monotonic() - start
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    raw += os.read(self.master, 65536)
                except OSError:
                    break
                self.screen += raw.decode(errors="ignore")
                raw = b""
        raise AssertionError(f"{pattern!r} not shown within {timeout} s; screen:\n{self.screen}")

    def close(self) -> int:
        try:
            self.type(":quit\r")
            return self.proc.wait(30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            os.close(self.master)


@pytest.fixture
def env(tmp_path):
    return {**os.environ, "ZIXIR_MEMORY": str(tmp_path / "memory.db"), "HOME": str(tmp_path)}


def template_started(pid: int) -> set[int]:
    """The worker template below `pid` (started with the pool, by the first Python call)."""
    found = set()
    for child in descendants(pid):
        try:
            with open(f"/proc/{child}/cmdline", "rb") as f:
                if b"python_workers.forkserver" in f.read():
                    found.add(child)
        except OSError:
            pass
    return found


@pytest.mark.parametrize("call,running", [
    (f'python "time" "sleep" ({SLEEP})', 1),
    (f'pmap([{SLEEP}, {SLEEP}], s => python "time" "sleep" (s))', 2),
    (f'python "time" "sleep" ({SLEEP})', 0),
], ids=["call", "pmap", "while-the-pool-starts"])
def test_ctrl_c_in_the_repl_stops_a_long_python_call_at_once(env, call, running):
    term = Terminal([*ZIXIR, "repl", "--workers", "2"], env)
    try:
        term.wait_for("zx>", 90)
        term.type(call + "\r")
        if running:  # pressed while the call runs in its worker(s)
            sleepers = wait_until(lambda: len(sleeping_in_a_call(term.proc.pid)) >= running
                                  and sleeping_in_a_call(term.proc.pid), 60,
                                  "the call running in a worker")
        else:  # pressed while the pool starts (the first call starts it): nothing is split
            wait_until(lambda: template_started(term.proc.pid), 60, "the worker template")
        term.type("\x03")
        assert term.wait_for("interrupted", 10) < 10
        took = time.monotonic()
        term.type('python "math" "sqrt" (16.0) + 1230\r')
        term.wait_for(r"1234\.0", SLEEP - 5)
        took = time.monotonic() - took
        assert took < SLEEP / 2, f"the next input waited {took:.1f} s"
        term.type("1 + 1\r")
        term.wait_for(r"\n2\r?\n", 10)
        if running:
            assert not alive(sleepers), "the worker running the call was not replaced"
        assert not sleeping_in_a_call(term.proc.pid), "the interrupted call still runs"
        status = term.close()
    finally:
        if term.proc.poll() is None:
            term.close()
    assert status == 0, term.screen
    shown = ANSI.sub("", term.screen)
    assert "call.timeout" not in shown and '{"' not in shown, shown  # no log line, raw or not
    assert "did not return within" not in shown
    assert not alive(descendants(term.proc.pid))


@pytest.mark.parametrize("whom", ["process group", "zixir"])
def test_sigint_during_a_long_call_ends_zixir_run_with_130(tmp_path, env, whom):
    path = tmp_path / "long.zx"
    path.write_text(f'fn main() {{\n  println("start")\n  python "time" "sleep" ({SLEEP})\n'
                    '  "done"\n}\n')
    proc = subprocess.Popen([*ZIXIR, "run", str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    try:
        assert proc.stdout.readline() == "start\n"
        time.sleep(1)  # the call is running in a worker
        family = descendants(proc.pid)
        assert family, "no router or worker processes"
        started = time.monotonic()
        if whom == "process group":  # what a terminal's Ctrl-C does
            os.killpg(proc.pid, signal.SIGINT)
        else:
            os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=SLEEP - 5)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert took < SLEEP / 2
    assert "zixir: interrupted" in err
    assert "Traceback" not in err and "done" not in out
    deadline = time.monotonic() + 10
    while alive(family) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(family), "processes left behind"
