"""Agent classes for the agent tests (a module of the tests' directory, so it is allowed)."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import time

from zixir import worker


class Counter:
    """State that survives a restart through snapshot()/restore()."""

    def __init__(self, start=0, step=1):
        self.n = start
        self.step = step
        self.log = []

    def add(self, k=None):
        self.n += self.step if k is None else k
        return self.n

    def get(self):
        return self.n

    def pid(self):
        return os.getpid()

    def record(self, i, pause=0.0):
        time.sleep(pause)
        self.log.append(i)
        return list(self.log)

    def span(self, seconds):
        start = time.time()
        time.sleep(seconds)
        return [start, time.time()]

    async def add_later(self, k, seconds=0.01):
        await asyncio.sleep(seconds)
        self.n += k
        return self.n

    def crash(self):
        os.kill(os.getpid(), signal.SIGKILL)

    def exit_normally(self):
        os._exit(0)

    def hang(self):
        while True:
            time.sleep(0.05)

    def confinement(self):
        return {"pid": os.getpid(), "pgid": os.getpgid(0), "sid": os.getsid(0),
                "rlimit_as": resource.getrlimit(resource.RLIMIT_AS)[0]}

    def snapshot(self):
        return {"n": self.n, "log": self.log}

    def restore(self, state):
        self.n = state["n"]
        self.log = state["log"]


class SlowRestart(Counter):
    """Its restore() takes a while: calls made meanwhile find the agent `restarting`."""

    def restore(self, state):
        time.sleep(1.5)
        super().restore(state)


class Plain:
    """No snapshot(): a restart builds it again from its arguments only."""

    def __init__(self, n=0):
        self.n = n

    def add(self, k):
        self.n += k
        return self.n

    def pid(self):
        return os.getpid()


class BadSnapshot(Plain):
    """snapshot() returns what cannot be stored once n reaches 2; `thing` returns an object."""

    def snapshot(self):
        return {"n": self.n, "bad": object() if self.n == 2 else None}

    def restore(self, state):
        self.n = state["n"]

    def thing(self):
        return object()


class BuildsOnce(Counter):
    """Builds once; every later build fails (as if a service it needs went away)."""

    def __init__(self, marker):
        if os.path.exists(marker):
            raise ConnectionError("the service is gone")
        open(marker, "w").close()
        super().__init__()


class Failing:
    def __init__(self):
        raise ValueError("cannot build this one")


class Relay:
    """Calls other agents and Python functions through the runtime."""

    def __init__(self, other=None):
        self.other = other

    def ping(self, depth):
        if depth == 0:
            return f"pong from {os.getpid()}"
        return worker.call_agent(self.other, "ping", [depth - 1])

    def via(self, name, method, args):
        return worker.call_agent(name, method, args)

    def python(self, module, function, args):
        return worker.call(module, function, args)

    def names(self):
        return sorted(a["name"] for a in worker.list_agents())

    def via_thread(self, name, method, args):
        """The call made from a thread of the method's own (no context variables there)."""
        import concurrent.futures

        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(worker.call_agent, name, method, args).result()


def kill(pid):
    """For programs: kill -9 a process (an agent) from a worker."""
    os.kill(pid, signal.SIGKILL)
    return True


def alive(pid):
    """For programs: the process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def dispatch(name, method, args):
    """A plain worker function that calls an agent."""
    return worker.call_agent(name, method, args)


def dispatch_threaded(name, method, args):
    """The same, configured to run on a thread of the module's pool (`threads`)."""
    return worker.call_agent(name, method, args)


async def dispatch_async(name, method, args):
    """The same as a task on the worker's event loop."""
    await asyncio.sleep(0)
    return worker.call_agent(name, method, args)


class Arrays:
    def __init__(self):
        self.total = 0.0

    def ones(self, n):
        import numpy

        return numpy.ones(n)

    def add_all(self, values):
        self.total += float(sum(values))
        return self.total


class Writer:
    def write(self, path):
        with open(path, "w") as f:
            f.write("x")
        return path
