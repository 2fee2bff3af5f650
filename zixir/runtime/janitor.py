"""Cleans up after a runtime whose host is gone, however it went (kill -9 included).

    host (Runtime)                          janitor (this module, its own session)
    Janitor(dir, tag) ------- spawn ---->  BOOT: blocks reading fd 3 (the host holds the write
                                            end)
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

The janitor starts while the runtime's other processes import their code on the same cores,
and most of its life it only waits, so it starts lean: `python -S` runs `BOOT` (a few lines
on `os` and `select`), which imports the cleanup code only once the runtime has been up a
while (`IMPORT_AFTER`) or once it is needed, and then only `reaping.py` (standard library). Start-up costs it about 15 ms of CPU instead of a
full interpreter with site packages and the zixir package.
"""

from __future__ import annotations

import os
import sys

CLEAN = b"C"  # the host closed the runtime itself (no dying processes to wait for)
#: seconds of the runtime's life after which the janitor imports its cleanup code (the
#: runtime's start is over by then), so a long-lived runtime's close does not wait for it
IMPORT_AFTER = 2.0

#: the janitor's main program: argv is [this directory, runtime dir, tag]; fd 3 is
#: the pipe the host holds. Only built-in modules until the cleanup code is wanted.
BOOT = f"""
import os, select, signal, sys
os.setsid()  # a Ctrl-C to the host's terminal group must not stop the cleanup
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGHUP, signal.SIG_IGN)
sys.path.insert(0, sys.argv[1])  # zixir/runtime: reaping.py loads without the package
poller = select.poll()
poller.register(3, select.POLLIN)
reaping = None
clean = False
while True:
    if reaping is None and not poller.poll({int(IMPORT_AFTER * 1000)}):
        import reaping
        continue
    try:
        data = os.read(3, 4096)
    except InterruptedError:
        continue
    except OSError:
        break
    if not data:
        break
    clean = clean or {CLEAN!r} in data
import reaping
import time
reaping.cleanup(sys.argv[2], sys.argv[3])
if not clean:  # the host died: a process that was dying may have left something behind
    time.sleep(0.2)
    reaping.cleanup(sys.argv[2], sys.argv[3])
"""


class Janitor:
    """The host's end: the janitor process and the pipe it watches."""

    def __init__(self, runtime_dir: str, tag: str) -> None:
        from .process import spawn

        r, self._w = os.pipe2(os.O_CLOEXEC)
        here = os.path.dirname(os.path.abspath(__file__))
        try:
            self.handle = spawn([sys.executable, "-S", "-P", "-c", BOOT, here,
                                 runtime_dir, tag], {3: r}, dict(os.environ), "janitor")
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
