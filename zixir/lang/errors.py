"""Every error a Zixir user can see.

All of them are `ZixirError`s carrying a message and, once known, a source position
(1-based line and column, in characters) and, for runtime errors, the chain of Zixir function
calls that led to them. Errors raised far from the source (in a builtin, the engine, a worker)
are created without a position; the interpreter attaches the position of the Zixir expression
that was running when they reach it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Frame:
    """One entry of a runtime error's Zixir call chain: a function and where it was executing."""

    function: str
    line: int
    column: int
    #: the file the function is in (None: the program's own file, or not known)
    filename: str | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return f"{self.function} (line {self.line}, column {self.column})"


class ZixirError(Exception):
    """Base of every error raised to a Zixir user."""

    def __init__(
        self,
        message: str,
        line: int | None = None,
        column: int | None = None,
        *,
        filename: str | None = None,
        end_line: int | None = None,
        end_column: int | None = None,
        call_chain: tuple[Frame, ...] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.end_line = end_line
        self.end_column = end_column
        self.filename = filename
        self.call_chain = tuple(call_chain)

    @property
    def has_position(self) -> bool:
        return self.line is not None

    def at(
        self,
        line: int,
        column: int,
        end_line: int | None = None,
        end_column: int | None = None,
        filename: str | None = None,
    ) -> ZixirError:
        """Attach a position unless one is already known; returns self for `raise e.at(...)`."""
        if self.line is None:
            self.line, self.column = line, column
            self.end_line, self.end_column = end_line, end_column
        if self.filename is None:
            self.filename = filename
        return self

    def __str__(self) -> str:
        if self.line is None:
            return self.message
        return f"{self.message} at line {self.line}, column {self.column}"

    def __reduce__(self):  # errors cross process boundaries; keep positions when pickled locally
        return (_rebuild, (type(self), self.message, self.__dict__.copy()))


def _rebuild(cls: type[ZixirError], message: str, state: dict) -> ZixirError:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(state)
    return err


class ZixirSyntaxError(ZixirError):
    """Malformed source: raised by the lexer and parser, never at run time."""

    #: the input ended before the construct did (the REPL asks for another line)
    incomplete: bool = False


class ZixirRuntimeError(ZixirError):
    """An error raised while a program runs."""


class RaisedError(ZixirRuntimeError):
    """Raised by the program itself: `raise(message)` or `raise(type, message)`.

    `error_type` is the type the program gave (`"Error"` by default) and `detail` its message;
    the message a user sees names both (`"Timeout: no answer"`), so an uncaught one shows its
    type. Rebuilt in another process from its message alone, it reads both back from it."""

    def __init__(self, error_type: str, detail: str, *args, **kw) -> None:
        super().__init__(f"{error_type}: {detail}", *args, **kw)
        self.raised = (error_type, detail)

    def _parts(self) -> tuple[str, str]:
        raised = self.__dict__.get("raised")
        if raised is not None:
            return raised
        kind, _, detail = self.message.partition(": ")
        return kind, detail

    @property
    def error_type(self) -> str:
        return self._parts()[0]

    @property
    def detail(self) -> str:
        return self._parts()[1]


# ---- runtime faults (DESIGN.md section 4) -------------------------------------------------


class PythonError(ZixirRuntimeError):
    """The Python library raised; carries the exception type name and its traceback text.
    `exc_types`: the qualified names of its type and bases ("llm.RateLimited", "Exception");
    `retry_after`: the exception's numeric `retry_after` attribute (seconds), if it had one."""

    exc_types: tuple[str, ...] = ()
    retry_after: float | None = None

    def __init__(self, message: str, *args, exc_type: str = "Exception", traceback: str = "", **kw):
        super().__init__(message, *args, **kw)
        self.exc_type = exc_type
        self.traceback = traceback


class WorkerCrashed(ZixirRuntimeError):
    """The worker serving the call died (exit code or signal) before replying."""

    def __init__(self, message: str, *args, exitcode: int | None = None, signal: int | None = None,
                 **kw):
        super().__init__(message, *args, **kw)
        self.exitcode = exitcode
        self.signal = signal


class CallTimeout(ZixirRuntimeError):
    """The call ran past its timeout; its worker was killed and replaced."""


class CircuitOpen(ZixirRuntimeError):
    """The circuit breaker for the module is open; fails fast until the probe."""

    def __init__(self, message: str, *args, retry_after: float = 0.0, **kw):
        super().__init__(message, *args, **kw)
        self.retry_after = retry_after


class RestartLimitExceeded(ZixirRuntimeError):
    """A supervisor exceeded its restart intensity and escalated."""


class PolicyDenied(ZixirRuntimeError):
    """The call policy refuses this module or function."""


class FileAccessDenied(ZixirRuntimeError):
    """A file built-in was given a path outside the directories the program may use."""


class OutputClosed(ZixirRuntimeError):
    """Standard output was closed by its reader (`zixir run f.zx | head -2`)."""


class Overloaded(ZixirRuntimeError):
    """More calls are waiting than the pool's queue holds."""


class RouterCrashed(ZixirRuntimeError):
    """The router process died while running the program; the memory store is intact."""


class ProtocolError(ZixirRuntimeError):
    """A malformed, oversized or unexpected frame on a worker pipe."""


class TaskTimeout(ZixirRuntimeError):
    """`await(task, seconds)`: the task had not finished in time (it goes on running)."""
class AgentError(ZixirRuntimeError):
    """An agent was used wrongly: `Agent NAME is not running`, `Agent NAME already exists`,
    a bad start option."""


class AgentDeadlock(ZixirRuntimeError):
    """An agent call would wait for an agent that is itself waiting in the same chain of
    calls (A calls B calls A): refused instead of hanging."""


class WorkflowError(ZixirRuntimeError):
    """A durable workflow was used wrongly or one of its steps cannot go on (a step name used
    twice, a cycle in a dag, a rejected approval, a step that timed out)."""


class WorkflowWaiting(WorkflowError):
    """A workflow run reached an approval nobody has given yet: the run ends as `waiting`
    (`zixir run` exits with status 3 and prints how to approve)."""


class DashboardError(ZixirRuntimeError):
    """The web dashboard cannot start: its packages are not installed, or its port is taken."""


class ClusterUnavailable(ZixirRuntimeError):
    """The Ray cluster named by `--cluster` (`Runtime(cluster=...)`, `[runtime] cluster`)
    cannot be used: the address is malformed, nothing answers there, or Ray is not installed.
    `address` is the address as given."""

    def __init__(self, message: str, *args, address: str = "", **kw):
        super().__init__(message, *args, **kw)
        self.address = address


__all__ = [
    "Frame",
    "ZixirError",
    "ZixirSyntaxError",
    "ZixirRuntimeError",
    "RaisedError",
    "PythonError",
    "WorkerCrashed",
    "CallTimeout",
    "CircuitOpen",
    "RestartLimitExceeded",
    "PolicyDenied",
    "FileAccessDenied",
    "OutputClosed",
    "Overloaded",
    "DashboardError",
    "ClusterUnavailable",
    "RouterCrashed",
    "ProtocolError",
    "TaskTimeout",
    "AgentError",
    "AgentDeadlock",
    "WorkflowError",
    "WorkflowWaiting",
]
