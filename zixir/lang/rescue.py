"""Errors as values: what `try`/`rescue`, `raise` and `attempt` see (LANGUAGE.md section 10).

    try body raises ──compiled `except RESCUABLE`──> caught(exc) ──> positioned ZixirError
                                                          │                │
                                    error_map(err) <──────┘                └──> raised again as
              {type, message, line, column, call_chain[, python_type]}         is when no
                          │                                                     clause applies
              bound to NAME in the rescue clause; raise(NAME) ──error_from_map──> the same error

An error is positioned exactly as it would be had it ended the program (`session.localize`), so
its map tells where it happened; the call chain adds the calls around the `try` itself. Nothing
here touches the runtime: a Python call's failure was counted by breakers, retries, logs and
metrics before its exception ever reached Zixir code.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import (
    Frame,
    PythonError,
    RaisedError,
    ZixirError,
    ZixirRuntimeError,
)
from .values import FALSE, TRUE, ZList, type_name

#: what a `try` (and `attempt`) catches: every error a running program can raise, the same set
#: `session.guarded_call` turns into positioned errors. Never KeyboardInterrupt or SystemExit.
RESCUABLE: tuple[type[BaseException], ...] = (
    ZixirRuntimeError, RecursionError, MemoryError, ArithmeticError, LookupError, TypeError,
    ValueError, AttributeError, NameError,
)

_FRAME_TEXT = re.compile(r"^(.*) \(line (\d+), column (\d+)\)$")


def caught(exc: BaseException) -> ZixirError:
    """The positioned error for `exc`, just caught by a `try` or `attempt`.

    Its traceback runs from the catching frame inwards; the frames around the catcher (the
    calls that led to the `try`) complete the call chain, as if the error had not been caught.
    """
    from .session import localize, outer_chain

    tb = exc.__traceback__
    if isinstance(exc, ZixirError) and exc.call_chain and exc.has_position:
        exc.__traceback__ = None  # raised again on its way out: already what a user sees
        return exc
    if tb is None:
        return localize(exc)
    return localize(exc, outer_chain(tb.tb_frame))


def error_type(err: ZixirError) -> str:
    if isinstance(err, RaisedError):
        return err.error_type
    if type(err) is ZixirRuntimeError:
        return "RuntimeError"
    return type(err).__name__


def error_message(err: ZixirError) -> str:
    """The message as `e.message` reads it (a raised error's own text, without its type)."""
    return err.detail if isinstance(err, RaisedError) else err.message


def _frame_text(frame: Frame) -> str:
    return frame.function if frame.line == 0 else str(frame)


def error_map(err: ZixirError) -> dict[str, Any]:
    """The map a rescue clause binds: `type`, `message`, `line`, `column`, `call_chain`, and
    `python_type` for a Python exception."""
    result: dict[str, Any] = {
        "type": error_type(err),
        "message": error_message(err),
        "line": err.line,
        "column": err.column,
        "call_chain": ZList([_frame_text(f) for f in err.call_chain]),
    }
    if isinstance(err, PythonError):
        result["python_type"] = getattr(err, "exc_type", "Exception")
    return result


def _fault_classes() -> dict[str, type[ZixirRuntimeError]]:
    """Every runtime error class by name (the runtime's own faults included), but the one
    `raise` makes."""
    found: dict[str, type[ZixirRuntimeError]] = {}
    pending = list(ZixirRuntimeError.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls is not RaisedError:
            found.setdefault(cls.__name__, cls)
    return found


def _fail(message: str) -> ZixirRuntimeError:
    return ZixirRuntimeError(f"raise: {message}")


def error_from_map(m: dict[str, Any]) -> ZixirError:
    """The error an error map describes: `raise(e)` of a rescued `e` raises it again with its
    type, message, position and call chain."""
    kind, message = m.get("type"), m.get("message")
    if type(kind) is not str or type(message) is not str:
        raise _fail("an error map needs string 'type' and 'message' entries")
    cls = None if kind == "RuntimeError" else _fault_classes().get(kind)
    err: ZixirError
    if kind == "RuntimeError":
        err = ZixirRuntimeError(message)
    elif cls is None:
        err = RaisedError(kind, message)
    else:
        try:
            err = cls(message)
        except TypeError:  # a class whose constructor wants more: only the message is known
            err = cls.__new__(cls)
            ZixirRuntimeError.__init__(err, message)
        if isinstance(err, PythonError):
            python_type = m.get("python_type")
            err.exc_type = python_type if type(python_type) is str else "Exception"
    line, column = m.get("line"), m.get("column")
    if type(line) is int and type(column) is int and line > 0 and column > 0:
        err.at(line, column)
    chain = m.get("call_chain")
    if type(chain) in (ZList, list):
        frames = []
        for text in chain:
            if type(text) is not str:
                continue
            parsed = _FRAME_TEXT.match(text)
            if parsed:
                frames.append(Frame(parsed[1], int(parsed[2]), int(parsed[3])))
            else:
                frames.append(Frame(text, 0, 0))  # a marker of a shortened chain
        err.call_chain = tuple(frames)
    return err


_ONE_ARGUMENT = object()


def raise_error(first: Any, second: Any = _ONE_ARGUMENT) -> ZixirError:
    """The error `raise(message)`, `raise(type, message)` or `raise(error_map)` raises."""
    if second is not _ONE_ARGUMENT:
        if type(first) is not str:
            raise _fail(f"the error type must be a string, got {type_name(first)}")
        if type(second) is not str:
            raise _fail(f"the message must be a string, got {type_name(second)}")
        return RaisedError(first, second)
    if type(first) is str:
        return RaisedError("Error", first)
    if type(first) is dict:
        return error_from_map(first)
    raise _fail(f"expected a message string or an error map, got {type_name(first)}")


def attempt(f: Any) -> dict[str, Any]:
    """`{ok: true, value: f()}`, or `{ok: false, error: <error map>}` if `f` raised."""
    try:
        value = f()
    except RESCUABLE as exc:
        return {"ok": FALSE, "error": error_map(caught(exc))}
    return {"ok": TRUE, "value": value}
