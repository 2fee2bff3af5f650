"""Worker recycling: a worker that served N calls or grew past M bytes of RSS is replaced.

    pool._release(worker) -> Recycling.reason(worker) -> None: back to the idle list
                                                      -> "served N calls" / "RSS limit":
                                                         killed on purpose, replaced by its
                                                         supervisor without counting
Off by default (`recycle_calls`, `recycle_rss`); a `MemoryError` reply recycles at once.
"""

from __future__ import annotations

from .config import RuntimeConfig
from .process import rss_bytes
from .workers import Worker


class Recycling:
    def __init__(self, config: RuntimeConfig) -> None:
        self.calls = config.recycle_calls
        self.rss = config.recycle_rss
        self.enabled = bool(self.calls or self.rss)

    def reason(self, worker: Worker) -> str | None:
        if self.calls and worker.calls >= self.calls:
            return f"served {worker.calls} calls"
        if self.rss and not worker.handle.remote and rss_bytes(worker.handle.pid) >= self.rss:
            return "RSS limit"
        return None
