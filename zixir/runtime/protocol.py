"""The wire protocol: msgpack-RPC frames, sans-IO.

    sender                                   receiver
    ------                                   --------
    encode(Request|Response|Notification)    FrameDecoder.feed(bytes) -> [messages]
      |  4-byte big-endian length              ^  buffers partial frames, splits
      |  + msgpack body                        |  concatenated ones, refuses oversized
      +------------- pipe / socket ------------+  or malformed ones (FrameError)

Message shapes (msgpack-RPC): request `[0, id, method, params]`, response
`[1, id, error, result]`, notification `[2, method, params]`. Replies are matched by id.

Values are msgpack natives plus three ext types, none of which can execute code when decoded:
numpy arrays (dtype, shape, raw bytes) inline or, above a size threshold, by the name of a
shared-memory file (see `shm.py`), and integers beyond 64 bits. Tuples arrive as lists.
Anything else cannot be encoded: `encode` raises `UnencodableValue` naming the type.

Nothing here touches a file descriptor; the transports in `channel.py`, `pool.py` and
`python_workers/` feed bytes in and write bytes out. Shared memory is reached only through the
`ArrayTransport` hook handed to the encoder and decoder.
"""

from __future__ import annotations

import re
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import msgpack

from zixir.lang import errors as _errors

REQUEST, RESPONSE, NOTIFICATION = 0, 1, 2

#: default maximum size of one frame body (arrays above `SHM_THRESHOLD` bypass frames)
MAX_FRAME = 64 * 1024 * 1024
#: arrays at least this large travel through shared memory when a transport allows it
SHM_THRESHOLD = 1024 * 1024

EXT_ARRAY = 1  # payload: u32 header length, msgpack [dtype, shape], raw bytes
EXT_SHM_ARRAY = 2  # payload: msgpack [dtype, shape, name]
EXT_BIGINT = 3  # payload: signed big-endian two's complement bytes
EXT_OPAQUE = 4  # payload: UTF-8 repr of a value that has no wire form (router -> host only)
EXT_FUNCTION = 5  # payload: msgpack [id, name] of a Zixir function kept by the router

_HEADER = HEADER = struct.Struct(">I")  # a frame's body length
_DTYPE_RE = re.compile(r"^[<>|=]?[biufc][1-9][0-9]?$")


class _Message:
    """Small message records: plain slots (constructing one costs a fraction of a frozen
    dataclass, and every call builds two)."""

    __slots__ = ()

    def _fields(self) -> tuple:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._fields() == other._fields()  # type: ignore

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__)
        return f"{type(self).__name__}({inner})"


class Request(_Message):
    __slots__ = ("id", "method", "params")

    def __init__(self, id: int, method: str, params: list) -> None:
        self.id, self.method, self.params = id, method, params


class Response(_Message):
    __slots__ = ("id", "error", "result")

    def __init__(self, id: int, error: dict | None, result: Any) -> None:
        self.id, self.error, self.result = id, error, result


class Notification(_Message):
    __slots__ = ("method", "params")

    def __init__(self, method: str, params: list) -> None:
        self.method, self.params = method, params


Message = Request | Response | Notification


class FrameError(Exception):
    """Bytes on a channel that are not a valid frame; the channel cannot be trusted after it."""


class UnencodableValue(TypeError):
    """A value has no wire representation (a function, a set, an arbitrary object...)."""

    def __init__(self, type_name: str) -> None:
        super().__init__(f"values of type {type_name} cannot be sent between zixir processes")
        self.type_name = type_name


class FrameTooLarge(Exception):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"a frame of {size} bytes exceeds the frame limit of {limit} bytes")
        self.size, self.limit = size, limit


@dataclass(frozen=True, slots=True)
class Opaque:
    """A value that cannot leave the process it lives in (a Zixir function), shown by its repr."""

    repr: str

    def __repr__(self) -> str:
        return self.repr


class ArrayTransport(Protocol):
    """Moves large array payloads outside the frame (shared memory)."""

    threshold: int

    def export(self, data: memoryview) -> list: ...  # where the bytes are: [name, offset]

    def import_(self, where: list, nbytes: int) -> Any: ...  # a buffer of nbytes


# ---- values -------------------------------------------------------------------------------


def _np():
    import numpy

    return numpy


def _array_header(arr) -> list:
    return [arr.dtype.str, list(arr.shape)]


def _check_array_header(dtype: Any, shape: Any):
    np = _np()
    if not isinstance(dtype, str) or not _DTYPE_RE.match(dtype):
        raise FrameError(f"bad array dtype {dtype!r}")
    if not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise FrameError(f"bad array shape {shape!r}")
    dt = np.dtype(dtype)
    count = 1
    for n in shape:
        count *= n
    return dt, tuple(shape), count * dt.itemsize


class Codec:
    """Turns messages into frames and back; one per channel end (the decoder keeps a buffer)."""

    def __init__(self, max_frame: int = MAX_FRAME, arrays: ArrayTransport | None = None,
                 opaque: bool = False,
                 export_function: Callable[[Any], tuple[int, str]] | None = None,
                 import_function: Callable[[int, str], Any] | None = None) -> None:
        self.max_frame = max_frame
        self.arrays = arrays
        self.opaque = opaque  # encode values without a wire form as Opaque instead of failing
        #: the router hands out Zixir functions by id (export) and the host turns an id back
        #: into a Python callable that calls the router (import)
        self.export_function = export_function
        self.import_function = import_function
        self._local = threading.local()

    # -- encoding
    def _default(self, obj: Any) -> Any:
        module = type(obj).__module__
        if module == "numpy":
            np = _np()
            if isinstance(obj, np.ndarray):
                if obj.dtype.kind == "U":  # strings: a list (of lists) of str
                    return obj.tolist()
                return self._pack_array(obj)
            if isinstance(obj, np.generic):
                return obj.item()
        if isinstance(obj, (set, frozenset)):  # a list, sorted when the elements allow it
            try:
                return sorted(obj)
            except TypeError:
                return list(obj)
        if module == "decimal" and type(obj).__name__ == "Decimal":
            return float(obj)  # the nearest float: a Decimal's extra digits are lost
        if isinstance(obj, int):  # bool and small ints never get here
            if obj.bit_length() > 4096 * 8:
                raise UnencodableValue("int (too large)")
            size = (obj.bit_length() + 8) // 8
            return msgpack.ExtType(EXT_BIGINT, obj.to_bytes(size, "big", signed=True))
        if module == "array" and type(obj).__name__ == "array":
            return self._pack_array(_np().frombuffer(obj, dtype=obj.typecode))
        if self.export_function is not None and callable(obj):
            fn_id, name = self.export_function(obj)
            return msgpack.ExtType(EXT_FUNCTION, msgpack.packb([fn_id, name]))
        if self.opaque:
            return msgpack.ExtType(EXT_OPAQUE, repr(obj).encode("utf-8", "replace")[:1000])
        raise UnencodableValue(type(obj).__qualname__)

    def _pack_array(self, arr) -> msgpack.ExtType:
        if arr.dtype.kind not in "biufc" or arr.dtype.fields is not None:
            raise UnencodableValue(f"numpy.ndarray of dtype {arr.dtype}")
        arr = _np().ascontiguousarray(arr)
        if self.arrays is not None and arr.nbytes >= self.arrays.threshold:
            where = self.arrays.export(memoryview(arr).cast("B"))
            return msgpack.ExtType(EXT_SHM_ARRAY, msgpack.packb(_array_header(arr) + where))
        header = msgpack.packb(_array_header(arr))
        return msgpack.ExtType(EXT_ARRAY, _HEADER.pack(len(header)) + header + arr.tobytes())

    def _packer(self) -> msgpack.Packer:
        """This thread's packer (a Packer is reused, never shared between threads)."""
        try:
            return self._local.packer
        except AttributeError:
            packer = self._local.packer = msgpack.Packer(
                default=self._default, use_bin_type=True, datetime=False, autoreset=True)
            return packer

    def _pack(self, shape: list) -> bytes:
        try:
            return self._packer().pack(shape)
        except UnencodableValue:
            raise
        except (ValueError, OverflowError, RecursionError) as e:
            # msgpack refuses values nested deeper than its recursion limit (which is below
            # what its decoder accepts, so nothing it encodes is undecodable); a fresh packer
            # replaces one that failed halfway
            del self._local.packer
            if "recursion" in str(e) or isinstance(e, RecursionError):
                raise UnencodableValue("nested value (too deep)") from None
            raise UnencodableValue(f"value ({e})") from None

    def encode_body(self, message: Message) -> bytes:
        if isinstance(message, Request):
            shape = [REQUEST, message.id, message.method, message.params]
        elif isinstance(message, Response):
            shape = [RESPONSE, message.id, message.error, message.result]
        else:
            shape = [NOTIFICATION, message.method, message.params]
        return self._pack(shape)

    def encode(self, message: Message) -> bytes:
        """Frame bytes for `message`; raises UnencodableValue or FrameTooLarge."""
        return self._frame(self.encode_body(message))

    def encode_request(self, request_id: int, method: str, params: list) -> bytes:
        """`encode(Request(...))` without building the Request (the call path's encoder)."""
        return self.encode_shape([REQUEST, request_id, method, params])

    def encode_response(self, request_id: int, error: dict | None, result: Any) -> bytes:
        return self.encode_shape([RESPONSE, request_id, error, result])

    def encode_shape(self, shape: list) -> bytes:
        """The frame of a message array (`[kind, ...]`): `_frame(_pack(shape))` in one step
        (every call encodes two); a failure is encoded again by `_pack`, which raises the
        typed error."""
        try:
            body = self._local.packer.pack(shape)
        except Exception:
            body = self._pack(shape)
        size = len(body)
        if size > self.max_frame:
            raise FrameTooLarge(size, self.max_frame)
        return _HEADER.pack(size) + body

    def _frame(self, body: bytes) -> bytes:
        if len(body) > self.max_frame:
            raise FrameTooLarge(len(body), self.max_frame)
        return _HEADER.pack(len(body)) + body

    # -- decoding
    def _ext_hook(self, code: int, data: bytes) -> Any:
        if code == EXT_ARRAY:
            if len(data) < 4:
                raise FrameError("truncated array payload")
            (hlen,) = _HEADER.unpack_from(data)
            header = _unpack_plain(data[4 : 4 + hlen])
            if not isinstance(header, list) or len(header) != 2:
                raise FrameError("bad array header")
            dt, shape, nbytes = _check_array_header(*header)
            raw = data[4 + hlen :]
            if len(raw) != nbytes:
                raise FrameError(f"array payload is {len(raw)} bytes, header says {nbytes}")
            return _np().frombuffer(bytearray(raw), dtype=dt).reshape(shape)
        if code == EXT_SHM_ARRAY:
            header = _unpack_plain(data)
            if (not isinstance(header, list) or len(header) not in (3, 4)
                    or not isinstance(header[2], str)
                    or not all(isinstance(n, int) and n >= 0 for n in header[3:])):
                raise FrameError("bad shared-memory array header")
            dt, shape, nbytes = _check_array_header(header[0], header[1])
            if self.arrays is None:
                raise FrameError("shared-memory array on a channel without shared memory")
            buf = self.arrays.import_(header[2:], nbytes)
            return _np().frombuffer(buf, dtype=dt, count=nbytes // dt.itemsize).reshape(shape)
        if code == EXT_BIGINT:
            return int.from_bytes(data, "big", signed=True)
        if code == EXT_OPAQUE:
            return Opaque(data.decode("utf-8", "replace"))
        if code == EXT_FUNCTION:
            fn_id, name = _unpack_plain(data)
            if self.import_function is None:
                return Opaque(f"<fn {name}>")
            return self.import_function(int(fn_id), str(name))
        raise FrameError(f"unknown ext type {code}")

    def decode_body(self, body: bytes | memoryview) -> Message:
        try:
            obj = msgpack.unpackb(body, ext_hook=self._ext_hook, raw=False,
                                  strict_map_key=False)
        except FrameError:
            raise
        except Exception as e:  # msgpack raises several types for garbage
            raise FrameError(f"undecodable frame: {type(e).__name__}: {e}") from None
        return to_message(obj)


def _unpack_plain(data: bytes) -> Any:
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=False)
    except Exception as e:
        raise FrameError(f"undecodable ext header: {e}") from None


def to_message(obj: Any) -> Message:
    """The message a decoded msgpack-RPC array stands for; FrameError if it is none."""
    if not isinstance(obj, list) or not obj or not isinstance(obj[0], int):
        raise FrameError("a frame must be a msgpack-RPC array")
    kind = obj[0]
    if kind == RESPONSE and len(obj) == 4:  # the most frequent first
        _, mid, error, result = obj
        if type(mid) is int and (error is None or isinstance(error, dict)):
            return Response(mid, error, result)
    elif kind == REQUEST and len(obj) == 4:
        _, mid, method, params = obj
        if isinstance(mid, int) and isinstance(method, str) and isinstance(params, list):
            return Request(mid, method, params)
    elif kind == NOTIFICATION and len(obj) == 3:
        _, method, params = obj
        if isinstance(method, str) and isinstance(params, list):
            return Notification(method, params)
    raise FrameError(f"not a msgpack-RPC message: kind {kind!r}, {len(obj)} fields")


class FrameDecoder:
    """`feed(bytes) -> [messages]`: split, concatenated and partial frames are all fine; an
    oversized length or a malformed body raises FrameError (the channel is then poisoned)."""

    def __init__(self, codec: Codec | None = None) -> None:
        self.codec = codec or Codec()
        self._buf = bytearray()
        self._broken: FrameError | None = None

    @property
    def pending_bytes(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Message]:
        if self._broken is not None:
            raise self._broken
        if not self._buf and len(data) > 4:  # the usual case: exactly one whole frame
            (size,) = _HEADER.unpack_from(data)
            if len(data) == size + 4 and 0 < size <= self.codec.max_frame:
                try:
                    if size < 65536:  # copying a small body beats a memoryview's setup
                        return [self.codec.decode_body(data[4:])]
                    with memoryview(data) as view:
                        return [self.codec.decode_body(view[4:])]
                except FrameError as e:
                    self._broken = e
                    raise
        self._buf += data
        out: list[Message] = []
        buf = self._buf
        pos = 0
        try:
            while len(buf) - pos >= 4:
                (size,) = _HEADER.unpack_from(buf, pos)
                if size > self.codec.max_frame:
                    raise FrameError(
                        f"frame of {size} bytes exceeds the frame limit of "
                        f"{self.codec.max_frame} bytes"
                    )
                if size == 0:
                    raise FrameError("empty frame")
                if len(buf) - pos - 4 < size:
                    break
                with memoryview(buf) as view:
                    body = bytes(view[pos + 4 : pos + 4 + size])
                pos += 4 + size
                out.append(self.codec.decode_body(body))
        except FrameError as e:
            self._broken = e
            del buf[:]
            raise
        if pos:
            del buf[:pos]
        return out


# ---- errors on the wire -------------------------------------------------------------------

_FAULTS: dict[str, type[_errors.ZixirError]] = {
    name: cls
    for name, cls in vars(_errors).items()
    if isinstance(cls, type) and issubclass(cls, _errors.ZixirError)
}
_EXTRA_FIELDS = ("exc_type", "traceback", "exitcode", "signal", "retry_after", "address")


def error_to_wire(exc: BaseException) -> dict:
    """An exception as an error map `{type, message, traceback, ...}`.

    ZixirErrors keep their class name and every field (position, call chain, fault details),
    so `error_from_wire` rebuilds the same class with the same fields on the other side."""
    import traceback as tb

    if isinstance(exc, _errors.ZixirError):
        d: dict[str, Any] = {
            "kind": "zixir",
            "type": type(exc).__name__,
            "message": exc.message,
            "traceback": getattr(exc, "traceback", "") or "",
            "line": exc.line,
            "column": exc.column,
            "end_line": exc.end_line,
            "end_column": exc.end_column,
            "filename": exc.filename,
            "call_chain": [[f.function, f.line, f.column, f.filename] for f in exc.call_chain],
        }
        for field in _EXTRA_FIELDS:
            if field in exc.__dict__:
                d[field] = exc.__dict__[field]
        return d
    d = {
        "kind": "python",
        "type": type(exc).__name__,
        "message": str(exc),
        "traceback": "".join(tb.format_exception(exc)),
        "types": exception_names(type(exc)),
    }
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, int | float) and not isinstance(retry_after, bool) \
            and retry_after >= 0:
        d["retry_after"] = float(retry_after)
    return d


def exception_names(kind: type) -> list[str]:
    """The qualified names of an exception type and its bases, most specific first
    ("llm.RateLimited", "Exception"): retry and breaker rules name types this way."""
    names = []
    for k in kind.__mro__:
        if k is object or k is BaseException:
            continue
        module = getattr(k, "__module__", "") or ""
        qual = getattr(k, "__qualname__", k.__name__)
        names.append(qual if module == "builtins" else f"{module}.{qual}")
    return names


def fault(type_name: str, message: str, **fields: Any) -> dict:
    """An error map for a runtime fault that has no exception object yet."""
    return {"kind": "zixir", "type": type_name, "message": message, "traceback": "", **fields}


def error_from_wire(d: Any, *, context: str = "") -> _errors.ZixirError:
    """Rebuild the typed error of an error map. Python exceptions become `PythonError`."""
    if not isinstance(d, dict):
        return _errors.ProtocolError(f"malformed error reply {d!r}")
    type_name = str(d.get("type", "Exception"))
    message = str(d.get("message", ""))
    if d.get("kind") != "zixir":
        text = f"{type_name}: {message}" if message else type_name
        if context:
            text = f"{context} raised {text}"
        err = _errors.PythonError(
            text, exc_type=type_name, traceback=str(d.get("traceback", ""))
        )
        types = d.get("types")
        if isinstance(types, list) and all(isinstance(t, str) for t in types):
            err.exc_types = tuple(types)
        retry_after = d.get("retry_after")
        if isinstance(retry_after, int | float) and not isinstance(retry_after, bool):
            err.retry_after = float(retry_after)
        return err
    cls = _FAULTS.get(type_name, _errors.ZixirRuntimeError)
    err = cls.__new__(cls)
    _errors.ZixirError.__init__(
        err,
        message,
        d.get("line"),
        d.get("column"),
        filename=d.get("filename"),
        end_line=d.get("end_line"),
        end_column=d.get("end_column"),
        call_chain=tuple(_errors.Frame(*f) for f in d.get("call_chain") or ()),
    )
    defaults = {"exc_type": "Exception", "traceback": "", "exitcode": None, "signal": None,
                "retry_after": 0.0, "address": ""}
    for field in _EXTRA_FIELDS:
        if _declares(cls, field):
            setattr(err, field, d.get(field, defaults[field]))
    return err


def _declares(cls: type, field: str) -> bool:
    owners = {
        "exc_type": _errors.PythonError,
        "traceback": _errors.PythonError,
        "exitcode": _errors.WorkerCrashed,
        "signal": _errors.WorkerCrashed,
        "retry_after": _errors.CircuitOpen,
        "address": _errors.ClusterUnavailable,
    }
    return issubclass(cls, owners[field])

