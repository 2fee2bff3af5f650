"""The agents of examples/agent_pool.zx: a coordinator holding a queue of jobs, and workers
that pull jobs from it (agent to agent, through zixir.worker) and report the results."""

from __future__ import annotations

import os
import time

from zixir import worker


class Coordinator:
    """Hands out jobs, collects results; its state survives a crash (snapshot/restore)."""

    def __init__(self, jobs, crash=None):
        self.pending = list(jobs)
        self.crash = crash  # {worker, nth}: that worker's nth job makes it crash, once
        self.handed = {}  # worker -> jobs handed out
        self.taken = {}  # job -> worker
        self.attempts = {}  # job -> times handed out
        self.results = {}  # job -> result

    def next_job(self, name):
        if not self.pending:
            return None
        job = self.pending.pop(0)
        self.taken[job] = name
        self.attempts[job] = self.attempts.get(job, 0) + 1
        self.handed[name] = self.handed.get(name, 0) + 1
        crash = bool(self.crash and self.crash["worker"] == name
                     and self.crash["nth"] == self.handed[name])
        return {"job": job, "attempt": self.attempts[job], "crash": crash}

    def report(self, name, job, result):
        self.taken.pop(job, None)
        self.results[job] = {"result": result, "by": name}
        return len(self.results)

    def requeue(self, name):
        """Put back the jobs a crashed worker had taken but not finished."""
        lost = sorted(job for job, who in self.taken.items() if who == name)
        for job in lost:
            del self.taken[job]
        self.pending = lost + self.pending
        return lost

    def summary(self):
        done = sorted(self.results)
        return {"done": len(done), "pending": len(self.pending),
                "total": sum(r["result"] for r in self.results.values()),
                "by": {n: sum(1 for r in self.results.values() if r["by"] == n)
                       for n in sorted({r["by"] for r in self.results.values()})},
                "retried": sorted(j for j, a in self.attempts.items() if a > 1)}

    def snapshot(self):
        return {"pending": self.pending, "crash": self.crash,
                "handed": [[w, n] for w, n in self.handed.items()], "taken": [[j, w] for j, w in self.taken.items()],
                "attempts": [[j, a] for j, a in self.attempts.items()],
                "results": [[j, r] for j, r in self.results.items()]}

    def restore(self, state):
        self.pending = state["pending"]
        self.crash = state["crash"]
        self.handed = {w: n for w, n in state["handed"]}
        self.taken = {j: w for j, w in state["taken"]}
        self.attempts = {j: a for j, a in state["attempts"]}
        self.results = {j: r for j, r in state["results"]}


class PoolWorker:
    """Pulls up to n jobs per `work` call. A job marked `crash` stands for a bug that kills
    the worker's process mid-call, to show a restart."""

    def __init__(self, name, coordinator):
        self.name = name
        self.coordinator = coordinator
        self.finished = 0

    def work(self, n):
        count = 0
        for _ in range(n):
            task = worker.call_agent(self.coordinator, "next_job", [self.name])
            if task is None:
                break
            job = task["job"]
            if task["crash"]:
                os._exit(1)  # the process dies in the middle of the call
            time.sleep(0.02)  # the job's work
            worker.call_agent(self.coordinator, "report", [self.name, job, job * job])
            count += 1
        self.finished += count
        return count

    def snapshot(self):
        return self.finished

    def restore(self, state):
        self.finished = state
