"""Large arrays through shared memory instead of through the pipe.

Two transports; a frame's ext header says which one carried an array (`[name]` or
`[name, offset]`):

    ShmArrays (any channel, many frames in flight at once)
      sender: export(bytes) -> [name]         receiver: import_([name], nbytes) -> buffer
        write /dev/shm/zixir-<tag>-<pid>-<n>    open, map copy-on-write, unlink
        (one kernel copy into fresh tmpfs       (no copy; pages shared until written)
         pages: allocating them is the cost)

    ShmArena (a strictly alternating channel: the router and one worker)
      sender: begin(); export(bytes)          receiver: import_([name, offset], nbytes)
        -> [name, offset]                       map the arena once (cached by name), copy
        one file per sender, mapped once,       the bytes out into a fresh numpy buffer
        grown (as a new file) when a message    (transparent huge pages: few faults)
        needs more; reused by every message
    The receiver copies out while it decodes, so the region is free again by the time the
    sender writes its next message: on the worker channel a request and its reply alternate.
    Two memory copies into warm pages cost far less than allocating tmpfs pages.

Cleanup: fresh files are unlinked by their receiver as soon as it has mapped them; arenas by
their owner when it closes them (worker exit, pool close). Files whose process died first are
removed by `sweep(tag, dead_only=True)`, which the router runs when a worker exits and the
host when the router exits, and by `sweep(tag)` when the runtime shuts down. Names are
checked against a strict pattern, never used as paths blindly.
"""

from __future__ import annotations

import itertools
import mmap
import os
import re

from .reaping import SHM_DIR, sweep  # noqa: F401  (sweep is part of this module's API)

_NAME_RE = re.compile(r"^zixir-[0-9a-f]{1,32}-[0-9]{1,10}-[0-9]{1,20}$")
_counter = itertools.count()  # one per process: every transport of the process shares it
_ALIGN = 64


def _new_name(tag: str) -> str:
    return f"zixir-{tag}-{os.getpid()}-{next(_counter)}"


class ShmArrays:
    """The `ArrayTransport` of the codec, for one process of runtime `tag`."""

    def __init__(self, tag: str, threshold: int) -> None:
        self.tag = tag
        self.threshold = threshold
        self.available = os.path.isdir(SHM_DIR) and os.access(SHM_DIR, os.W_OK)
        if not self.available:
            self.threshold = 1 << 62  # never used: arrays go inline
        self._maps: dict[str, mmap.mmap] = {}  # arenas of peers, mapped once

    def export(self, data: memoryview) -> list:
        name = _new_name(self.tag)
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
        return [name]

    def import_(self, where: list, nbytes: int):
        from .protocol import FrameError

        name = where[0]
        if not _NAME_RE.match(name):
            raise FrameError(f"bad shared-memory name {name!r}")
        if len(where) == 2:
            return self._copy_from_arena(name, where[1], nbytes)
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

    def _copy_from_arena(self, name: str, offset: int, nbytes: int):
        import numpy as np

        from .protocol import FrameError

        m = self._maps.get(name)
        if m is None:
            try:
                fd = os.open(os.path.join(SHM_DIR, name), os.O_RDONLY)
            except OSError as e:
                raise FrameError(f"shared-memory arena {name} is gone: {e}") from None
            try:
                size = os.fstat(fd).st_size
                if size == 0:
                    raise FrameError(f"shared-memory arena {name} is empty")
                m = mmap.mmap(fd, size, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ)
            finally:
                os.close(fd)
            # a sender has one arena at a time: a new name from it retires the older ones
            sender = name.rsplit("-", 1)[0] + "-"
            for old in [k for k in self._maps if k.startswith(sender)]:
                self._maps.pop(old).close()
            self._maps[name] = m
        if offset + nbytes > len(m):
            raise FrameError(f"array at {offset}+{nbytes} lies outside arena {name}")
        out = np.empty(nbytes, dtype=np.uint8)
        out[:] = np.frombuffer(m, dtype=np.uint8, count=nbytes, offset=offset)
        return out

    def close(self) -> None:
        for m in self._maps.values():
            m.close()
        self._maps.clear()


class ShmArena(ShmArrays):
    """The sender's reusable region for a strictly alternating channel (see the diagram)."""

    def __init__(self, tag: str, threshold: int, min_size: int = 16 << 20) -> None:
        super().__init__(tag, threshold)
        self.min_size = min_size
        self.name: str | None = None
        self._map: mmap.mmap | None = None
        self._used = 0
        self._retired: list[str] = []  # arenas outgrown during the message being written

    def begin(self) -> None:
        """A new message: everything the previous one placed here has been copied out."""
        self._used = 0
        if self._retired:
            self._unlink_retired()

    def export(self, data: memoryview) -> list:
        n = data.nbytes
        start = -(-self._used // _ALIGN) * _ALIGN
        if self._map is None or start + n > len(self._map):
            self._grow(n)
            start = 0
        assert self._map is not None and self.name is not None
        self._map[start:start + n] = data
        self._used = start + n
        return [self.name, start]

    def _grow(self, n: int) -> None:
        size = max(self.min_size, n + n // 4)
        size = -(-size // mmap.PAGESIZE) * mmap.PAGESIZE
        name = _new_name(self.tag)
        path = os.path.join(SHM_DIR, name)
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        try:
            os.ftruncate(fd, size)
            m = mmap.mmap(fd, size, flags=mmap.MAP_SHARED)
        except BaseException:
            os.close(fd)
            os.unlink(path)
            raise
        os.close(fd)
        if self.name is not None:
            self._retired.append(self.name)
        if self._map is not None:
            self._map.close()
        self.name, self._map = name, m

    def _unlink_retired(self) -> None:
        for name in self._retired:
            try:
                os.unlink(os.path.join(SHM_DIR, name))
            except OSError:
                pass
        self._retired.clear()

    def close(self) -> None:
        super().close()
        if self.name is not None:
            self._retired.append(self.name)
            self.name = None
        self._unlink_retired()
        if self._map is not None:
            self._map.close()
            self._map = None


