"""The direct path: a host thread calls a worker over that worker's own pipes, while the
router keeps every decision it makes on the routed path (policy, breaker, who owns the
worker, timeouts, what a crash means).

    host thread (DirectCalls)                 router (Lender)                       worker
    -------------------------                 ---------------                       ------
    call_python(m, f, args)   (no timeout or retries given: the routed path takes those)
      the generation page moved? forget cached routes; the thread's lease is stale
      route (m, f) cached? else --direct_route--> eligible when the policy allows it (a
                                                  refusal is routed, and counted there),
                                                  the call has one attempt, the module no
                                                  [modules] settings, its breaker is clean,
                                                  recycling is off and tracing too
      lease? else --------------direct_lease----> an idle worker, without waiting (none:
                                                  the routed path waits for one); it stays
                                                  busy for the pool and a crash is blamed
                                                  on its calls; its pipes' numbers, inodes
        open /proc/<router>/fd/<n>, check inodes
        none to lend: a turn on another thread's lease (below), else the routed path
      request -------------------------------------------------------------------->  call
      a notification "async" [m, f] --direct_async-> the pool shares workers for it; not
                                                  eligible from now on (new generation)
      reply: poll `spin` s, then until the call timeout <-----------------------------+
      end of file, bad frame, timeout, KeyboardInterrupt, a MemoryError, a Python error
      the breaker counts ----------direct_failed--> the pool's own handling: reap and
                                                  blame (WorkerCrashed, RestartLimitExceeded),
                                                  kill and replace (CallTimeout,
                                                  ProtocolError), recycle; the breaker
                                                  records the fault; its typed error returns

    Taking a lent worker back: the router bumps the generation page (a caller waits for a
    worker, a breaker left or regained the clean state, the script paths changed) and sends a
    byte over the control socket. The host's keeper thread gives back every stale lease that
    is not in a call (direct_return); a thread in a call gives its lease back when the call
    ends. A lease whose thread ended is given back the same way.

    More threads than workers: a thread the router has no worker for takes a free lease of
    another thread, or queues (`_Waiter`, first come first served) for the next turn; a
    thread calling on a lease while others wait makes TURN calls, then hands the lease over
    still locked, and its own next call queues in turn (a waiter also looks for a lease left
    free by a thread that stopped calling). A wait longer than SHARE_WAIT, or leases gone
    stale (the keeper calls the waits off), sends the call the routed way.

The call path is written for a cold CPU: between two calls the caches are someone else's, so
every function, attribute and system call on it costs several times its warm price (on some
virtual machines even a clock read is a system call). The host reads the clock twice a call
(its latency), writes the outcome into a deque that the keeper groups by function before
the router gets it, and encodes and decodes the one frame each way without a FrameDecoder
(`Connection.receive_one`).

A call on the direct path is exactly a routed call whose admission was a no-op: a clean
breaker admits every call and ignores successes, so only faults need the router, and the
router learns about them before the caller sees its error. The router counts direct calls
(calls.ok / calls.error, from per-slot counters in the page) at once; their outcomes reach
its call metrics and per-module counters within a second (the keeper sends them; `stats()`
and `metrics()` send them first), as do the host's latency stats. Not in the router: each
direct call's latency (the host's stats have it), and recycling by call count (recycling
makes a call ineligible).

Shared state: host routes, the lease registry and the waiting queue belong to
`DirectCalls._lock`; a lease belongs to whichever thread holds its `lock` (its owner or a
thread taking a turn, for a call; the keeper to give it back); a thread ending its call reads
the queue's length unlocked as a hint only (a waiter it missed gets the next turn, or goes
the routed way after SHARE_WAIT). Router side: lent workers belong to `Lender._lock`; the
pool's records to the pool.
"""

from __future__ import annotations

import collections
import itertools
import mmap
import os
import select
import socket
import struct
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from zixir.lang.errors import (
    CallTimeout,
    PolicyDenied,
    ProtocolError,
    PythonError,
    RouterCrashed,
    ZixirError,
    ZixirRuntimeError,
)

from . import protocol as p
from .channel import Closed, Connection, write_all
from .shm import ShmArrays
from .spin import Spin

PAGE_FILE = "direct"
_GEN = struct.Struct("=Q")
_clock = time.perf_counter
READ_SIZE = 1 << 16
#: longest single wait for a reply, in seconds: an exception raised into the waiting thread
#: (a notebook's interrupt, `deep.interrupt`) is delivered when a wait ends, so a long call
#: is waited for in slices (as the router's inline reads are, `link.INLINE_SLICE_MS`)
WAIT_SLICE = 0.2
#: calls a thread makes on the routed path after the router had no idle worker to lend,
#: before it asks again (asking costs a round trip to the router)
REFUSED_BACKOFF = 64
NOT_DIRECT = object()  # DirectCalls.call: take the routed path
#: seconds a thread without a lease waits for its turn on another thread's lease before
#: it takes the routed path
SHARE_WAIT = 0.05
#: ... in this many slices, each ending with a look for a lease nobody calls on
SHARE_WAIT_SLICES = 25
#: calls a thread makes on a lease while others wait for it before it hands it over (turns
#: of several calls cost fewer thread switches)
TURN = 8
#: direct calls whose outcomes the host keeps before the keeper sends them to the router
#: (it also sends them every second, and `Runtime.stats`/`metrics` first)
FLUSH_AT = 1000


def _counters_at(workers: int) -> int:
    return (_GEN.size + workers + 7) // 8 * 8


def create_page(runtime_dir: str, workers: int) -> str:
    """The shared page, created by the host before the router starts: the generation (8
    bytes); one byte per worker slot, 1 while a host thread's call runs on it; then per slot
    the direct calls that returned a value and those that raised (8 bytes each), which the
    router adds to its counts (written by the thread holding the slot's lease)."""
    path = os.path.join(runtime_dir, PAGE_FILE)
    with open(path, "wb") as f:
        f.write(bytes(_counters_at(workers) + 16 * workers))
    return path


def _map(path: str) -> mmap.mmap:
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    try:
        return mmap.mmap(fd, os.fstat(fd).st_size)
    finally:
        os.close(fd)


# ---- host side ----------------------------------------------------------------------------


def _wait(poll: Callable[[float], Any], deadline: float) -> bool:
    """Poll until there is something to read (True) or `deadline` passes (False), in slices
    of at most WAIT_SLICE."""
    while True:
        remaining = deadline - _clock()
        if remaining <= 0:
            return False
        if poll(min(remaining, WAIT_SLICE) * 1000):
            return True


class Lease:
    """A worker lent to one host thread: its pipes, opened in the host."""

    __slots__ = ("id", "rfd", "wfd", "conn", "poll", "options", "gen", "owner", "thread",
                 "lock", "flag", "counter", "spin", "user", "turn", "__weakref__")

    def __init__(self, lease_id: int, rfd: int, wfd: int, codec: p.Codec, options: dict,
                 gen: int, owner: Any, slot: int, spin: float = 0.0) -> None:
        self.id, self.rfd, self.wfd = lease_id, rfd, wfd
        self.flag = _GEN.size + slot  # the page's byte for the worker's slot: in a call
        self.counter = 0  # the page word of the slot's first counter (set by DirectCalls)
        self.conn = Connection(codec)
        poller = select.poll()
        poller.register(rfd, select.POLLIN | select.POLLHUP | select.POLLERR)
        self.poll = poller.poll
        self.options = options  # sent with the first call (the pool's paths, when changed)
        self.gen = gen
        self.owner = owner  # the router's process handle
        self.thread = weakref.ref(threading.current_thread())
        self.lock = threading.Lock()  # held for a call, and by the keeper to give it back
        # the thread calling on it when that is not `thread` (a lease handed over), else None
        self.user: int | None = None
        self.turn = 0  # calls made on it since threads began waiting for it
        self.spin = Spin(spin).wait if spin else None  # polls for the reply before blocking

    def close(self) -> None:
        for fd in (self.rfd, self.wfd):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.rfd = self.wfd = -1


class _Lost(Exception):
    """The lent worker died (or spoke) while this thread was not calling it: the call has
    not been sent, and takes the routed path."""


class _Failed(Exception):
    """A direct call ended without a reply: `kind` for the router (eof, bad_frame, timeout)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class _Waiter:
    """A thread waiting for a lease another thread calls on (more threads than lent
    workers): the thread ending its call hands the lease over, still locked."""

    __slots__ = ("ident", "ready", "lease")

    def __init__(self) -> None:
        self.ident = threading.get_ident()
        self.ready = threading.Lock()
        self.ready.acquire()  # released when `lease` is set (or the wait is called off)
        self.lease: Lease | None = None


class DirectCalls:
    """The host's side of the direct path, one per Runtime."""

    def __init__(self, runtime: Any, page_path: str) -> None:
        self.runtime = runtime
        config = runtime.config
        self.config = config
        self.spin = config.spin
        self.codec = p.Codec(config.max_frame, ShmArrays(config.tag, config.shm_threshold))
        self.page = _map(page_path)
        # the page as 8-byte words: the generation (0), each slot's counters
        self._words = memoryview(self.page).cast("Q")
        self._gen = self._read_gen()
        self._observe = runtime._stats.observe
        self._lock = threading.Lock()
        self._routes: dict[tuple[str, str], bool] = {}
        self._leases: set[Lease] = set()
        self._waiters: collections.deque[_Waiter] = collections.deque()  # first come, first
        self._local = threading.local()
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        # (module, function, seconds, error on the wire or None) of each direct call, until
        # the router records them (its metrics and per-module counters); deque: appended by
        # any thread, emptied by `flush`
        self._records: collections.deque = collections.deque()
        self._closed = False
        self.disabled = False  # the worker's pipes cannot be opened through /proc
        self._keeper = threading.Thread(target=self._keep, name="zixir-direct-keeper",
                                        daemon=True)
        self._keeper.start()

    def _read_gen(self) -> int:
        return _GEN.unpack_from(self.page)[0]

    # -- calls
    def call(self, module: str, function: str, args: Any, kwargs: dict | None) -> Any:
        """The call's result, or NOT_DIRECT when it must take the routed path."""
        if self.disabled:
            return NOT_DIRECT
        words = self._words
        gen = words[0]
        if gen != self._gen:
            with self._lock:
                if gen != self._gen:
                    self._routes.clear()
                    self._gen = gen
        route = self._routes.get((module, function))
        if route is None:
            route = self._route(module, function, gen)
        if not route:
            return NOT_DIRECT
        lease = getattr(self._local, "lease", None)  # this thread's, locked for the call
        if lease is None or not lease.lock.acquire(False):
            lease = self._lease(gen)
        elif lease.gen != gen or lease.rfd < 0:
            lease.lock.release()
            lease = self._lease(gen)
        if lease is None:
            return NOT_DIRECT
        started = _clock()
        page = self.page
        page[lease.flag] = 1
        counter = lease.counter
        lost = False
        failure: BaseException | None = None
        try:
            result = self._call(lease, module, function, args, kwargs, started)
        except _Lost:  # given back below: the pool drops the dead worker
            lost = True
            return NOT_DIRECT
        except BaseException as e:
            counter += 1
            failure = e
            raise
        finally:
            if not lost:
                words[counter] += 1
            page[lease.flag] = 0
            stale = lost or lease.rfd < 0 or lease.gen != words[0]
            if self._waiters and not stale and lease.turn >= TURN - 1:
                lease.turn = 0
                self._hand_over(lease)  # another thread's turn: it gets the lease locked
            else:
                if self._waiters:
                    lease.turn += 1
                lease.user = None
                lease.lock.release()
            if stale:
                self._give_back(lease)
            elapsed = _clock() - started
            if failure is None:
                if not lost:  # the host's stats and the router learn of it in `flush`
                    records = self._records
                    records.append((module, function, elapsed, None))
                    if len(records) == FLUSH_AT:
                        self.wake()  # the keeper sends them
                else:
                    self._observe("call_python", elapsed)
            else:
                self._record(module, function, elapsed, failure)
        return result

    def _record(self, module: str, function: str, seconds: float,
                failure: BaseException | None) -> None:
        wire = None
        if failure is not None:
            if not isinstance(failure, ZixirError):
                self._observe("call_python", seconds)
                return  # KeyboardInterrupt: the routed path records no outcome either
            wire = p.error_to_wire(failure)
        records = self._records
        records.append((module, function, seconds, wire))
        if len(records) == FLUSH_AT:
            self.wake()  # the keeper sends them

    def flush(self) -> None:
        """Add the direct calls to the host's stats and send the router their outcomes (for
        its metrics and module counters): [module, function, [seconds...], error on the wire
        or None], the calls that returned a value grouped by function."""
        records = self._records
        seconds: list[float] = []
        groups: dict[tuple[str, str], list[float]] = {}
        failed = []
        while records:
            try:
                module, function, elapsed, wire = records.popleft()
            except IndexError:
                break
            seconds.append(elapsed)
            if wire is None:
                group = groups.get((module, function))
                if group is None:
                    group = groups[(module, function)] = []
                group.append(elapsed)
            else:
                failed.append([module, function, [elapsed], wire])
        if not seconds:
            return
        self.runtime._stats.observe_many("call_python", seconds)
        batch = [[module, function, group, None]
                 for (module, function), group in groups.items()] + failed
        try:
            self.runtime._request("direct_record", [batch])
        except Exception:
            pass  # the router is gone: its metrics went with it

    def _route(self, module: str, function: str, gen: int) -> bool:
        route = bool(self.runtime._request("direct_route", [module, function]))
        with self._lock:
            if self._gen == gen and len(self._routes) < 100_000:
                self._routes[(module, function)] = route
        return route

    def _lease(self, gen: int) -> Lease | None:
        """This thread's lease, locked for one call, or another thread's when the router
        has no worker to lend (more threads than workers); None: take the routed path."""
        local = self._local
        lease: Lease | None = getattr(local, "lease", None)
        if lease is not None:
            if not lease.lock.acquire(blocking=False):
                user = lease.user
                if user is None or user == threading.get_ident():
                    return None  # a call of this thread is in flight (a signal handler's)
                return self._share(gen)  # handed to another thread: wait for a turn
            if lease.gen == gen and lease.rfd >= 0:
                return lease
            lease.lock.release()
            local.lease = None
            self._give_back(lease)
        refused = getattr(local, "refused", 0)
        if refused:
            local.refused = refused - 1
            return self._share(gen)
        try:
            _client, handle = self.runtime._current_router(0.0)
        except Exception:
            return None
        grant = self.runtime._request("direct_lease", [])
        if grant is None:
            local.refused = REFUSED_BACKOFF
            return self._share(gen)
        lease = self._open(grant, gen, handle)
        if lease is None:
            return None
        lease.lock.acquire()
        local.lease = lease
        return lease

    def _share(self, gen: int) -> Lease | None:
        """A lease of another thread for one call: a free one, or the next one whose call
        ends (threads take turns, first come first served); None when there is none, the
        leases went stale, or no turn came within SHARE_WAIT (the routed path then queues
        the call as it queues every call)."""
        me = threading.get_ident()
        with self._lock:
            if not self._leases or self._closed:
                return None
            for lease in self._leases:
                if lease.gen == gen and lease.rfd >= 0 and lease.lock.acquire(False):
                    lease.user = me
                    return lease
            waiter = _Waiter()
            self._waiters.append(waiter)
        interrupted = True
        try:
            for _ in range(SHARE_WAIT_SLICES):
                if waiter.ready.acquire(timeout=SHARE_WAIT / SHARE_WAIT_SLICES):
                    break
                # a thread that stopped calling before its turn ended left its lease free
                if self._take_free(gen, waiter):
                    break
            interrupted = False
        finally:  # a KeyboardInterrupt too: a lease handed over meanwhile is passed on
            with self._lock:
                try:
                    self._waiters.remove(waiter)
                except ValueError:
                    pass  # handed a lease, or called off
                lease = waiter.lease
                waiter.lease = None
            if lease is not None and interrupted:
                self._hand_over(lease)
        if lease is not None and (lease.gen != self._words[0] or lease.rfd < 0):
            lease.user = None
            lease.lock.release()  # stale since: the keeper gives it back
            self.wake()
            return None
        return lease

    def _take_free(self, gen: int, waiter: _Waiter) -> bool:
        """A waiting thread takes a lease nobody calls on, if there is one (it then leaves
        the queue); True when `waiter.lease` is set, by it or by a hand-over."""
        with self._lock:
            if waiter.lease is not None:
                return True
            for lease in self._leases:
                if lease.gen == gen and lease.rfd >= 0 and lease.lock.acquire(False):
                    lease.user = waiter.ident
                    waiter.lease = lease
                    try:
                        self._waiters.remove(waiter)
                    except ValueError:
                        pass  # the waits were called off: `_share` sees the lease stale
                    return True
        return False

    def _hand_over(self, lease: Lease) -> None:
        """End of a call with threads waiting: the first gets `lease`, still locked."""
        with self._lock:
            waiter = self._waiters.popleft() if self._waiters else None
            if waiter is not None:
                lease.user = waiter.ident
                waiter.lease = lease
        if waiter is None:
            lease.user = None
            lease.lock.release()
        else:
            waiter.ready.release()

    def _call_off_waits(self) -> None:
        """The leases went stale: waiting threads take the routed path."""
        with self._lock:
            waiters, self._waiters = list(self._waiters), collections.deque()
        for waiter in waiters:
            waiter.ready.release()

    def _open(self, grant: dict, gen: int, handle: Any) -> Lease | None:
        """Open the lent worker's pipes through /proc (the router's fds), checking they are
        the pipes the router meant (an fd number can be reused once the worker is gone)."""
        router = grant["router"]
        rfd = wfd = -1
        try:
            rfd = os.open(f"/proc/{router}/fd/{grant['rfd']}", os.O_RDONLY | os.O_CLOEXEC)
            wfd = os.open(f"/proc/{router}/fd/{grant['wfd']}", os.O_WRONLY | os.O_CLOEXEC)
            if [os.fstat(rfd).st_ino, os.fstat(wfd).st_ino] != list(grant["inodes"]):
                raise OSError("the worker's pipes changed")
        except OSError as e:
            for fd in (rfd, wfd):
                if fd >= 0:
                    os.close(fd)
            self._return(grant["id"], handle)
            if isinstance(e, PermissionError):  # /proc is closed to us: route every call
                self.disabled = True
            self._local.refused = REFUSED_BACKOFF
            return None
        lease = Lease(grant["id"], rfd, wfd, self.codec, grant.get("options") or {}, gen,
                      handle, grant["slot"], self.spin)
        lease.counter = (_counters_at(self.config.workers) + 16 * grant["slot"]) // 8
        with self._lock:
            self._leases.add(lease)
        return lease

    def _call(self, lease: Lease, module: str, function: str, args: Any,
              kwargs: dict | None, started: float) -> Any:
        """Send the call on the lent worker's pipes and wait for its reply (polling `spin`
        s first, then blocking until the call timeout, counted from `started`)."""
        conn = lease.conn
        try:
            request_id, frame = conn.send_request(
                "call", [module, function, args, kwargs or {}, lease.options])
        except p.FrameTooLarge as e:
            raise ProtocolError(f"the arguments of {module}.{function} are too large: {e}") \
                from None
        except p.UnencodableValue as e:
            raise ZixirRuntimeError(
                f"cannot pass the arguments of {module}.{function} to Python: {e}") from None
        if lease.options:
            lease.options = {}
        poll = lease.poll
        timeout = self.config.call_timeout
        try:
            if poll(0):  # end of file (or a stray frame) from an idle worker
                raise _Lost()
            try:
                written = os.write(lease.wfd, frame)
                if written < len(frame):
                    write_all(lease.wfd, frame[written:])
            except OSError:
                raise _Failed("eof") from None
            if lease.spin is not None:  # a quick reply comes before a sleeping CPU wakes
                lease.spin(poll)
            rfd = lease.rfd
            # a clock read costs a system call on some virtual machines: the first wait
            # reads none, the rest count from `started`
            if not poll(min(timeout, WAIT_SLICE) * 1000) and not _wait(poll, started + timeout):
                raise _Failed("timeout")
            while True:
                try:
                    data = os.read(rfd, READ_SIZE)
                except OSError:
                    data = b""
                got = conn.receive_one(data, request_id)
                if type(got) is p.Response:
                    reply = got
                    break
                reply = self._other_events(got, request_id)
                if reply is not None:
                    break
                if not _wait(poll, started + timeout):
                    raise _Failed("timeout")
        except _Failed as failure:
            self._failed(lease, failure.kind, module, function, timeout)  # raises
            raise
        except _Lost:
            raise
        except BaseException:  # KeyboardInterrupt: the worker's state is unknown
            self._failed(lease, "interrupted", module, function, timeout, raise_=False)
            raise
        if reply.error is None:
            return reply.result
        what = f"{module}.{function}"
        error = p.error_from_wire(reply.error, context=what)
        self.runtime._stats.count(f"errors.{reply.error.get('type')}")
        if isinstance(error, PythonError) and (error.exc_type == "MemoryError"
                                               or self.config.breaker_counts_python_errors):
            # the breaker counts it (and a MemoryError recycles the worker): the router
            # records it before the caller sees it, as on the routed path
            self._failed(lease, "memory_error" if error.exc_type == "MemoryError"
                         else "python_error", module, function, timeout, wire=reply.error,
                         raise_=False)
        raise error

    def _other_events(self, events: list, request_id: int) -> p.Response | None:
        """Events of a read that was not exactly the reply: the reply if among them, None
        for a partial frame or a notification."""
        for event in events:
            if type(event) is p.Response and event.id == request_id:
                return event
            if type(event) is p.Notification and event.method == "async":
                # the function returns awaitables: from now on it is routed, where
                # calls share a worker (the router bumps the generation)
                self.runtime._request("direct_async", [event.params])
            if type(event) is Closed:
                kind = event.error.kind
                raise _Failed("bad_frame" if kind in ("bad_frame", "oversized") else "eof")
        return None

    def _failed(self, lease: Lease, kind: str, module: str, function: str, timeout: float,
                wire: dict | None = None, raise_: bool = True) -> None:
        """The router handles the fault as the pool would and returns its typed error; the
        lease ends (the worker is dead, replaced or recycled)."""
        lease.close()
        params = [lease.id, kind, module, function, timeout, wire]
        try:
            owner = lease.owner
            try:  # a closed or failed runtime raises what the routed path raises
                current = self.runtime._current_router(0.0)[1]
            except RouterCrashed:
                current = None
            if owner is not current or owner.exited(0):
                # the worker died with its router: what the routed path reports then
                status = owner.reap(2.0)
                self.runtime._stats.count("router_crashes_seen")
                raise RouterCrashed(
                    f"the router process {status.describe() if status else 'died'} during "
                    "call_python; the memory store is intact and a new router has been "
                    "started")
            self.runtime._request("direct_failed", params)
        except BaseException:
            if raise_:
                raise
            return

    def _router_handle(self) -> Any:
        try:
            return self.runtime._current_router(0.0)[1]
        except Exception:
            return None

    # -- giving leases back
    def _give_back(self, lease: Lease) -> None:
        with self._lock:
            if lease not in self._leases:
                return
            self._leases.discard(lease)
        alive = lease.rfd >= 0
        lease.close()
        if alive:
            self._return(lease.id, lease.owner)

    def _return(self, lease_id: int, owner: Any) -> None:
        if owner is not self._router_handle():
            return  # that router is gone, and its workers with it
        try:
            self.runtime._request("direct_return", [lease_id])
        except Exception:
            pass  # the router is going away

    def router_gone(self) -> None:
        """The router exited (its workers with it): every lease is stale."""
        _GEN.pack_into(self.page, 0, self._read_gen() + 1)
        self.wake()

    def wake(self) -> None:
        """The router asked for its workers, or a new router started: the keeper looks."""
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def _keep(self) -> None:
        """Give back stale leases not in a call, and those of threads that ended; woken by
        the router's byte on the control socket or by `wake`."""
        poller = select.poll()
        poller.register(self._wake_r, select.POLLIN)
        control: socket.socket | None = None
        while not self._closed:
            current = self.runtime._control
            if current is not control:
                if control is not None:
                    try:
                        poller.unregister(control.fileno())
                    except (KeyError, ValueError, OSError):
                        pass
                control = current
                if control is not None:
                    try:
                        poller.register(control.fileno(), select.POLLIN)
                    except (ValueError, OSError):
                        control = None
            events = poller.poll(None if not (self._leases or self._records) else 1000)
            for fd, _ in events:
                try:
                    if fd == self._wake_r:
                        os.read(self._wake_r, 4096)
                    elif control is not None:
                        if not control.recv(4096, socket.MSG_DONTWAIT):
                            poller.unregister(fd)  # the router is gone: wait for the next
                except (BlockingIOError, InterruptedError):
                    pass
                except (OSError, KeyError, ValueError):
                    try:
                        poller.unregister(fd)
                    except (KeyError, ValueError):
                        pass
            self._sweep()
            self.flush()

    def _sweep(self) -> None:
        if self._waiters and self._gen != self._read_gen():
            self._call_off_waits()
        for _ in range(1000):  # a lease in a call is given back by its thread at the end
            gen = self._read_gen()
            with self._lock:
                leases = list(self._leases)
            busy = False
            for lease in leases:
                thread = lease.thread()
                ended = thread is None or not thread.is_alive()
                if lease.gen == gen and not ended:
                    continue
                if not lease.lock.acquire(blocking=False):
                    busy = busy or lease.gen != gen  # threads that take turns keep it
                    continue
                try:
                    self._give_back(lease)
                finally:
                    lease.lock.release()
            if not busy or self._closed:
                return
            time.sleep(0.001)

    def close(self) -> None:
        self._closed = True
        self.disabled = True  # calls from now on take the routed path (which refuses them)
        self.wake()
        if threading.current_thread() is not self._keeper:
            self._keeper.join(5.0)
        with self._lock:
            leases, self._leases = list(self._leases), set()
        for lease in leases:
            lease.close()
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            self.page.close()
        except (BufferError, ValueError):
            pass  # `_words` holds it (a thread may still be in a call): unmapped when freed


# ---- router side ------------------------------------------------------------------------------


class Lender:
    """Lends idle workers of the router's pool to host threads and handles their faults."""

    def __init__(self, pool: Any, page_path: str | None, control_fd: int | None) -> None:
        self.pool = pool
        self.config = pool.config
        self.page = _map(page_path) if page_path and os.path.exists(page_path) else None
        self._control = (socket.socket(fileno=os.dup(control_fd))
                         if control_fd is not None and self.page is not None else None)
        self._lock = threading.Lock()  # owns _lent and the page's writes
        self._lent: dict[int, Any] = {}  # lease id -> the pool's Call holding the worker
        self._ids = itertools.count(1)
        self._settings = self.config.module_policies()
        if self.page is not None:
            pool.on_starved = self._starved
            pool.lent_idle = self._lent_idle
            pool.breakers.on_change = self.changed

    @property
    def enabled(self) -> bool:
        return self.page is not None

    def counts(self) -> tuple[int, int]:
        """Direct calls that returned a value, and those that raised."""
        if self.page is None:
            return 0, 0
        at, ok, error = _counters_at(self.config.workers), 0, 0
        for slot in range(self.config.workers):
            ok += _GEN.unpack_from(self.page, at + 16 * slot)[0]
            error += _GEN.unpack_from(self.page, at + 16 * slot + 8)[0]
        return ok, error

    def lent(self) -> tuple[int, int]:
        """(workers lent, of which running a call of their host thread)."""
        with self._lock:
            slots = [c.worker.slot for c in self._lent.values()]
        page = self.page
        busy = sum(1 for slot in slots if page is not None and page[_GEN.size + slot])
        return len(slots), busy

    def changed(self, *_why: Any) -> None:
        """Every lease and cached route of the host is stale: bump the page, wake the host."""
        if self.page is None:
            return
        with self._lock:
            _GEN.pack_into(self.page, 0, _GEN.unpack_from(self.page)[0] + 1)
            anyone = bool(self._lent)
        if anyone and self._control is not None:
            try:
                self._control.send(b"R", socket.MSG_DONTWAIT)
            except OSError:  # a full buffer already holds a wake-up; a closed one: host gone
                pass

    def _lent_idle(self, worker: Any) -> bool:
        """Is `worker` lent and not running a host thread's call? (a crash then is no call's
        fault, as for an idle worker)"""
        with self._lock:
            lent = any(c.worker is worker for c in self._lent.values())
        return lent and self.page is not None and not self.page[_GEN.size + worker.slot]

    def _starved(self) -> None:
        """A caller in the router waits for a worker (under the pool's lock)."""
        if self._lent:
            self.changed("starved")

    # -- requests from the host
    def route(self, module: str, function: str) -> bool:
        """May (module, function) take the direct path? Raises PolicyDenied as the routed
        path would."""
        if self.page is None:
            return False
        pool = self.pool
        try:
            pool.policy.check(module, function, pool.failures.paths)
        except PolicyDenied:
            return False  # refused on the routed path, which counts and reports it
        attempts = pool.failures._route(module, function)
        from zixir.observe import tracing

        if tracing.ENABLED:  # a traced call gets its spans on the routed path
            return False
        pool.used(module)  # as pool.call does: the template preloads numpy once used
        if attempts > 1 or pool._recycling.enabled:
            return False
        if not self._settings.settings_for(module, function).is_default:
            return False
        is_async = getattr(pool, "is_async", None)
        if is_async is not None and is_async(module, function):
            return False
        breakers = pool.breakers
        # made as a routed call's admission makes it (breaker states list it from now on)
        return breakers._get(breakers.key(module, function)).clean

    def lease(self) -> dict | None:
        """Lend an idle worker (None when there is none, or callers wait for one)."""
        if self.page is None:
            return None
        taken = self.pool.lend("a direct call")
        if taken is None:
            return None
        call, options = taken
        worker, link = call.worker, call.worker.link
        try:
            inodes = [os.fstat(link.rfd).st_ino, os.fstat(link.wfd).st_ino]
        except OSError:
            self.pool.take_back(call)
            return None
        with self._lock:
            lease_id = next(self._ids)
            self._lent[lease_id] = call
        pool = self.pool
        with pool._lock:  # a caller began waiting before the lease was listed: it saw
            waiting = pool._waiting  # no lease to take back (`_starved`), so take it now
        if waiting:
            self.changed("starved")
        return {"id": lease_id, "router": os.getpid(), "rfd": link.rfd,
                "wfd": link.wfd, "inodes": inodes, "options": options, "slot": worker.slot}

    def learned_async(self, params: list) -> None:
        """A lent worker said a function is async (the routed path learns it from the
        worker's notification): the pool shares workers for its calls, and it is no longer
        eligible for the direct path."""
        self.pool.learned_async(params)
        self.changed("async")

    def give_back(self, lease_id: int) -> None:
        with self._lock:
            call = self._lent.pop(lease_id, None)
        if call is not None:
            self.pool.take_back(call)

    def failed(self, lease_id: int, kind: str, module: str, function: str, timeout: float,
               wire: dict | None) -> None:
        """A direct call's fault, handled as the pool handles it on the routed path; raises
        the typed error the caller gets."""
        from .breaker import Ticket

        with self._lock:
            call = self._lent.pop(lease_id, None)
        what = f"{module}.{function}"
        if call is None:
            raise ZixirRuntimeError(f"{what}: its worker is no longer lent to this thread")
        pool = self.pool
        worker = call.worker
        with pool._lock:  # the crash is this call's (the supervisor blames `exclusive`)
            if worker.exclusive == call.what:
                worker.exclusive = what
            call.what, call.module, call.function, call.timeout = (what, module, function,
                                                                   timeout)
        error: BaseException | None = None
        if kind == "timeout":
            pool.stats.count("timeouts")
            pool.log.warning("call.timeout", call=what, timeout=timeout, pid=worker.handle.pid)
            pool._kill(worker)
            worker.handle.reap(5.0)
            pool.end_lease(call)
            error = CallTimeout(f"{what} did not return within {timeout:g} s; its worker was "
                                "killed and replaced")
        elif kind == "eof":
            error = pool._crashed(call)
        elif kind == "bad_frame":
            pool.stats.count("protocol_errors")
            pool._kill(worker)
            worker.handle.reap(5.0)
            pool.end_lease(call)
            error = ProtocolError(f"the worker running {what} sent a bad frame; it was "
                                  "replaced")
        elif kind == "memory_error":
            pool.take_back(call, retire="MemoryError")
            error = p.error_from_wire(wire or {}, context=what)
        elif kind == "python_error":
            pool.take_back(call)
            error = p.error_from_wire(wire or {}, context=what)
        else:  # interrupted: the worker's state is unknown, replace it
            pool._kill(worker)
            pool.end_lease(call)
            return
        pool.stats.count(f"errors.{type(error).__name__}")  # calls.error: the page counts it
        pool.breakers.record(Ticket(pool.breakers.key(module, function), False), error)
        if kind in ("memory_error", "python_error"):
            return  # the host raises the library's own error
        raise error

    def record(self, batch: list, modules: Any) -> None:
        """Outcomes of direct calls, recorded as the routed path records them: the call
        metrics and the per-module counters (`modules`: the router's ModuleCounters)."""
        from zixir.observe import metrics

        for module, function, seconds, wire in batch:
            error = p.error_from_wire(wire, context=f"{module}.{function}") if wire else None
            metrics.calls_finished(module, function, seconds, error)
            modules.add_many(module, len(seconds), sum(seconds), error is not None)

    def close(self) -> None:
        if self._control is not None:
            self._control.close()
