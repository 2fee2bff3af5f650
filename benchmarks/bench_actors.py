"""The stateful object every system of benchmarks/agents.py runs as an agent / actor."""

from __future__ import annotations

import os


class Counter:
    def __init__(self, start=0):
        self.n = start

    def add(self, k):
        self.n += k
        return self.n

    def pid(self):
        return os.getpid()

    def snapshot(self):
        return self.n

    def restore(self, state):
        self.n = state
