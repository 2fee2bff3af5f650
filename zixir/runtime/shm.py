"""Large arrays through shared memory instead of through the pipe.

    sender: export(bytes) -> name          receiver: import_(name, nbytes) -> buffer
      write /dev/shm/zixir-<tag>-<pid>-<n>    open, map copy-on-write, unlink
      (one kernel copy)                      (no copy; pages shared until written)

The receiver unlinks the file as soon as it has mapped it, so a file lives only while its
frame is in flight. Files whose receiver died first are removed by `sweep(tag)` when the
runtime shuts down. Names are checked against a strict pattern, never used as paths blindly.
"""

from __future__ import annotations

import glob
import itertools
import mmap
import os
import re

SHM_DIR = "/dev/shm"
_NAME_RE = re.compile(r"^zixir-[0-9a-f]{1,32}-[0-9]{1,10}-[0-9]{1,20}$")


class ShmArrays:
    """The `ArrayTransport` of the codec, for one process of runtime `tag`."""

    def __init__(self, tag: str, threshold: int) -> None:
        self.tag = tag
        self.threshold = threshold
        self._counter = itertools.count()
        self.available = os.path.isdir(SHM_DIR) and os.access(SHM_DIR, os.W_OK)
        if not self.available:
            self.threshold = 1 << 62  # never used: arrays go inline

    def export(self, data: memoryview) -> str:
        name = f"zixir-{self.tag}-{os.getpid()}-{next(self._counter)}"
        fd = os.open(os.path.join(SHM_DIR, name), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        try:
            view = data
            while view:
                written = os.write(fd, view)
                view = view[written:]
        except BaseException:
            os.close(fd)
            os.unlink(os.path.join(SHM_DIR, name))
            raise
        os.close(fd)
        return name

    def import_(self, name: str, nbytes: int):
        from .protocol import FrameError

        if not _NAME_RE.match(name):
            raise FrameError(f"bad shared-memory name {name!r}")
        path = os.path.join(SHM_DIR, name)
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as e:
            raise FrameError(f"shared-memory array {name} is gone: {e}") from None
        try:
            os.unlink(path)
            size = os.fstat(fd).st_size
            if size != nbytes:
                raise FrameError(f"shared-memory array is {size} bytes, header says {nbytes}")
            if nbytes == 0:
                return bytearray()
            return mmap.mmap(fd, nbytes, flags=mmap.MAP_PRIVATE,
                             prot=mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(fd)


def sweep(tag: str) -> int:
    """Remove files left by runtime `tag` (their receiver died before mapping them)."""
    count = 0
    for path in glob.glob(os.path.join(SHM_DIR, f"zixir-{tag}-*")):
        try:
            os.unlink(path)
            count += 1
        except OSError:
            pass
    return count
