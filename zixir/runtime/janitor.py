"""Cleans up after a runtime whose host is gone, however it went (kill -9 included).

    host (Runtime)                          janitor (this module, its own session)
    Janitor(dir, tag) ------- spawn ---->  blocks reading fd 3 (the host holds the write end)
    ...                                     EOF: the host closed the runtime, or died
    Janitor.close() (Runtime.close)         1. kill every process group a worker recorded in
                                               <dir>/groups, with all of its session, and
                                               every process whose environment names <dir>
                                               (one that left its worker's session)
                                            2. unlink /dev/shm/zixir-<tag>-*
                                            3. remove <dir> (temp files, the store's socket)
                                            (twice, a moment apart: a process that was dying
                                             may have left something behind)

Processes that die with their parent (router, store, template, workers: PDEATHSIG) need no
help; what library code forked below a worker, the shared memory of processes killed
mid-call and the temp directory do.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time

from .confine import kill_marked, kill_recorded

CLEAN = b"C"  # the host closed the runtime itself (no dying processes to wait for)


def cleanup(runtime_dir: str, tag: str) -> None:
    from .shm import sweep

    kill_recorded(runtime_dir)
    kill_marked(runtime_dir)
    sweep(tag)
    shutil.rmtree(runtime_dir, ignore_errors=True)


class Janitor:
    """The host's end: the janitor process and the pipe it watches."""

    def __init__(self, runtime_dir: str, tag: str) -> None:
        from .process import python_argv, spawn

        r, self._w = os.pipe2(os.O_CLOEXEC)
        try:
            self.handle = spawn(python_argv("zixir.runtime.janitor") + [runtime_dir, tag],
                                {3: r}, dict(os.environ), "janitor")
        except BaseException:
            os.close(self._w)
            raise
        finally:
            os.close(r)

    def close(self, timeout: float = 5.0) -> None:
        """Let the janitor clean up now and wait for it."""
        if self._w >= 0:
            try:
                os.write(self._w, CLEAN)
            except OSError:
                pass
            os.close(self._w)
            self._w = -1
            if self.handle.reap(timeout) is None:
                self.handle.kill()
                self.handle.reap(1.0)


def main() -> None:
    runtime_dir, tag = sys.argv[1], sys.argv[2]
    os.setsid()  # a Ctrl-C to the host's terminal group must not stop the cleanup
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    clean = False
    while True:
        try:
            data = os.read(3, 4096)
            if not data:
                break
            clean = clean or CLEAN in data
        except InterruptedError:  # pragma: no cover
            continue
        except OSError:
            break
    cleanup(runtime_dir, tag)
    if not clean:
        time.sleep(0.2)
        cleanup(runtime_dir, tag)


if __name__ == "__main__":
    main()
