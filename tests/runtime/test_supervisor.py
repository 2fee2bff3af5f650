"""The OTP supervisor on real processes: strategies, restart types, intensity, shutdown."""

from __future__ import annotations

import os
import signal

import pytest
from conftest import pid_alive, wait_for

from zixir.runtime.process import ProcessHandle, spawn
from zixir.runtime.supervisor import ChildSpec, Restart, Strategy, Supervisor, SupervisorFailed

SH = "/bin/sh"


class Family:
    """Children that are `sh` processes exiting with the code written to their stdin."""

    def __init__(self):
        self.controls: dict[str, int] = {}
        self.started: list[str] = []
        self.exits: list[tuple[str, object, str]] = []

    def spec(self, name, restart=Restart.PERMANENT, script='read x; exit "$x"', grace=2.0):
        def start() -> ProcessHandle:
            r, w = os.pipe2(os.O_CLOEXEC)
            try:
                handle = spawn([SH, "-c", script], {0: r}, dict(os.environ), name)
            finally:
                os.close(r)
            old = self.controls.pop(name, None)
            if old is not None:
                os.close(old)
            self.controls[name] = w
            self.started.append(name)
            return handle

        def on_exit(handle, status):
            self.exits.append((name, status, handle.decision))

        return ChildSpec(name, start, restart, grace, on_exit)

    def exit_with(self, name, code):
        os.write(self.controls[name], f"{code}\n".encode())

    def close(self):
        for fd in self.controls.values():
            os.close(fd)


@pytest.fixture
def family(no_leaks):
    fam = Family()
    yield fam
    fam.close()


def pids(sup):
    return dict(sup.which_children())


def ignores_sigterm(pid) -> bool:
    with open(f"/proc/{pid}/status") as status:
        mask = next(line for line in status if line.startswith("SigIgn:")).split()[1]
    return bool(int(mask, 16) & (1 << (signal.SIGTERM - 1)))


def restarted(sup, name, old_pid):
    return lambda: pids(sup).get(name) not in (None, old_pid)


def test_children_start_in_order_and_stop_in_reverse(family):
    sup = Supervisor("t")
    sup.start([family.spec("a"), family.spec("b"), family.spec("c")])
    assert family.started == ["a", "b", "c"]
    assert all(pid_alive(pid) for pid in pids(sup).values())
    sup.stop()
    assert [name for name, _, _ in family.exits] == ["c", "b", "a"]
    assert all(decision == "shutdown" for _, _, decision in family.exits)


def test_one_for_one_restarts_only_the_dead_child(family):
    sup = Supervisor("t", Strategy.ONE_FOR_ONE, intensity=5, period=60)
    sup.start([family.spec("a"), family.spec("b"), family.spec("c")])
    before = pids(sup)
    os.kill(before["b"], signal.SIGKILL)
    wait_for(restarted(sup, "b", before["b"]), what="b restarted")
    after = pids(sup)
    assert after["a"] == before["a"] and after["c"] == before["c"]
    assert sup.restarts == 1
    sup.stop()


def test_one_for_all_restarts_every_child(family):
    sup = Supervisor("t", Strategy.ONE_FOR_ALL, intensity=5, period=60)
    sup.start([family.spec("a"), family.spec("b"), family.spec("c")])
    before = pids(sup)
    os.kill(before["b"], signal.SIGKILL)
    wait_for(lambda: all(pids(sup)[n] not in (None, before[n]) for n in "abc"),
             what="all restarted")
    assert family.started == ["a", "b", "c", "a", "b", "c"]
    # the survivors were stopped in reverse order before the restart
    assert [n for n, _, d in family.exits if d == "shutdown"] == ["c", "a"]
    assert sup.restarts == 1
    sup.stop()


def test_rest_for_one_restarts_the_child_and_those_after_it(family):
    sup = Supervisor("t", Strategy.REST_FOR_ONE, intensity=5, period=60)
    sup.start([family.spec("a"), family.spec("b"), family.spec("c")])
    before = pids(sup)
    os.kill(before["b"], signal.SIGKILL)
    wait_for(lambda: all(pids(sup)[n] not in (None, before[n]) for n in "bc"),
             what="b and c restarted")
    assert pids(sup)["a"] == before["a"]
    assert family.started == ["a", "b", "c", "b", "c"]
    sup.stop()


def test_children_info_counts_each_childs_restarts(family):
    sup = Supervisor("t", Strategy.REST_FOR_ONE, intensity=5, period=60)
    sup.start([family.spec("a"), family.spec("b"), family.spec("c")])
    before = pids(sup)
    os.kill(before["b"], signal.SIGKILL)  # b and c are restarted
    wait_for(lambda: all(pids(sup)[n] not in (None, before[n]) for n in "bc"),
             what="b and c restarted")
    pid = pids(sup)["c"]
    sup.replace("c")  # a deliberate replacement is a restart of that child too
    wait_for(restarted(sup, "c", pid), what="c replaced")
    info = sup.children_info()
    assert [(c["name"], c["restarts"]) for c in info] == [("a", 0), ("b", 1), ("c", 2)]
    assert [c["pid"] for c in info] == [pids(sup)[n] for n in "abc"]
    sup.stop()


def test_permanent_child_is_restarted_even_after_a_normal_exit(family):
    sup = Supervisor("t", intensity=5, period=60)
    sup.start([family.spec("p", Restart.PERMANENT)])
    old = pids(sup)["p"]
    family.exit_with("p", 0)
    wait_for(restarted(sup, "p", old), what="permanent restarted")
    sup.stop()


def test_transient_child_is_restarted_only_after_an_abnormal_exit(family):
    sup = Supervisor("t", intensity=5, period=60)
    sup.start([family.spec("t1", Restart.TRANSIENT), family.spec("t2", Restart.TRANSIENT)])
    old = pids(sup)
    family.exit_with("t1", 0)
    family.exit_with("t2", 3)
    wait_for(restarted(sup, "t2", old["t2"]), what="abnormal transient restarted")
    wait_for(lambda: ("t1", "none") in [(n, d) for n, _, d in family.exits], what="t1 exit")
    assert pids(sup)["t1"] is None  # kept as a terminated child, not restarted
    assert sup.restarts == 1
    sup.stop()


def test_temporary_child_is_never_restarted(family):
    sup = Supervisor("t", intensity=5, period=60)
    sup.start([family.spec("tmp", Restart.TEMPORARY), family.spec("keep")])
    os.kill(pids(sup)["tmp"], signal.SIGKILL)
    wait_for(lambda: "tmp" not in pids(sup), what="temporary child removed")
    assert sup.restarts == 0 and family.started == ["tmp", "keep"]
    sup.stop()


def test_exceeding_the_intensity_escalates_to_the_parent(family):
    reasons = []
    sup = Supervisor("t", intensity=2, period=60, on_escalate=reasons.append)
    sup.start([family.spec("a"), family.spec("b")])
    for i in range(3):
        pid = pids(sup)["a"]
        os.kill(pid, signal.SIGKILL)
        if i < 2:
            wait_for(restarted(sup, "a", pid), what=f"restart {i + 1}")
    wait_for(lambda: reasons, what="escalation")
    assert "more than 2 restarts" in reasons[0]
    assert sup.escalated and not sup.running
    assert family.exits[-2:][0][2] == "escalate" or any(d == "escalate"
                                                        for _, _, d in family.exits)
    # every child was stopped before the parent was told
    assert all(pid is None for pid in pids(sup).values())


def test_restarts_outside_the_period_do_not_accumulate(family):
    now = [0.0]
    reasons = []
    sup = Supervisor("t", intensity=1, period=5, on_escalate=reasons.append,
                     clock=lambda: now[0])
    sup.start([family.spec("a")])
    for _ in range(4):
        pid = pids(sup)["a"]
        os.kill(pid, signal.SIGKILL)
        wait_for(restarted(sup, "a", pid), what="restart")
        now[0] += 10.0  # the next crash comes after the period
    assert not reasons and sup.restarts == 4
    sup.stop()


def test_shutdown_escalates_from_sigterm_to_sigkill(family):
    sup = Supervisor("t")
    sup.start([family.spec("stubborn", script='trap "" TERM; read x', grace=0.2),
               family.spec("polite")])
    # SIGTERM must find the trap installed, or the shell dies of it before ignoring it.
    wait_for(lambda: ignores_sigterm(pids(sup)["stubborn"]), what="the TERM trap")
    sup.stop()
    statuses = {name: status for name, status, _ in family.exits}
    assert statuses["polite"].signal == signal.SIGTERM
    assert statuses["stubborn"].signal == signal.SIGKILL


def test_deliberate_replacement_is_not_counted(family):
    reasons = []
    sup = Supervisor("t", intensity=0, period=60, on_escalate=reasons.append)
    sup.start([family.spec("a")])
    for _ in range(3):
        pid = pids(sup)["a"]
        sup.replace("a")
        wait_for(restarted(sup, "a", pid), what="replacement")
    assert sup.restarts == 0 and sup.replacements == 3 and not reasons
    sup.stop()


def test_a_child_that_cannot_start_fails_the_start(family):
    def broken():
        raise OSError("no such program")

    with pytest.raises(SupervisorFailed, match="no such program"):
        Supervisor("t").start([family.spec("a"), ChildSpec("bad", broken)])
    assert [n for n, _, _ in family.exits] == ["a"]  # the started child was stopped again
