"""Native backends: the C kernels (cffi API mode) and the Zig build of the same ABI (cffi ABI mode).

    execute(op, values)
      short Python lists -> validate in Python -> reference code   (a native call costs more)
      otherwise          -> validate -> double buffers -> ffi kernel -> plain Python result

Both builds export the functions declared in native/zixir_engine.h; `Kernels` wraps either one
(an `ffi`/`lib` pair) and is the only place that turns validated arguments into pointers.
Buffers of contiguous float64 go to the kernels in place (`ffi.from_buffer`); lists are read
into one double buffer, by the list reader extension when it is built.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .backends import BackendUnavailable
from .registry import OPS, EngineOp
from .values import FastReader, NumVec

#: below these list lengths the pure-Python path is faster than a native call (measured with
#: benchmarks/engine.py --crossover; lists only: buffers always go to the kernels)
PYTHON_BELOW: dict[str, int] = {}


def native_source_dir() -> Path:
    """Where the ABI header and Zig sources are: inside an installed package, or the checkout."""
    packaged = Path(__file__).resolve().parent / "native_src"
    if (packaged / "zixir_engine.h").is_file():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / "native"
    if (checkout / "zixir_engine.h").is_file():
        return checkout
    raise BackendUnavailable("the engine's native sources are not installed")


def read_cdef(header: Path | None = None) -> str:
    """The C declarations of the engine ABI, as written in the header's cdef section."""
    path = header or native_source_dir() / "zixir_engine.h"
    text = path.read_text(encoding="utf-8")
    return text.split("/* cdef-begin */", 1)[1].split("/* cdef-end */", 1)[0]


class Kernels:
    """Calls into one build of the engine ABI with validated arguments."""

    def __init__(self, ffi: Any, lib: Any) -> None:
        self.ffi = ffi
        self.lib = lib
        self._alloc = ffi.new_allocator(should_clear_after_alloc=False)

    # -- conversions ------------------------------------------------------------------------

    def doubles(self, vec: NumVec) -> Any:
        return self.ffi.from_buffer("double[]", vec.buffer)

    def new_doubles(self, n: int) -> Any:
        return self._alloc("double[]", n)

    def to_list(self, out: Any, n: int) -> list[float]:
        return self.ffi.unpack(out, n)

    def utf8(self, text: str) -> Any:
        return self.ffi.from_buffer("uint8_t[]", text.encode("utf-8"))

    # -- op families ------------------------------------------------------------------------

    def reduce(self, kernel: Callable[[Any, int], float]) -> Callable[[NumVec], float]:
        def run(xs: NumVec) -> float:
            return kernel(self.doubles(xs), xs.n)

        return run

    def pairwise(self, kernel: Callable[[Any, Any, Any, int], None]) -> Callable[..., list]:
        def run(xs: NumVec, ys: NumVec) -> list[float]:
            out = self.new_doubles(xs.n)
            kernel(self.doubles(xs), self.doubles(ys), out, xs.n)
            return self.to_list(out, xs.n)

        return run

    def with_scalar(self, kernel: Callable[[Any, float, Any, int], None]) -> Callable[..., list]:
        def run(xs: NumVec, scalar: float) -> list[float]:
            out = self.new_doubles(xs.n)
            kernel(self.doubles(xs), scalar, out, xs.n)
            return self.to_list(out, xs.n)

        return run

    # -- single ops -------------------------------------------------------------------------

    def dot_product(self, xs: NumVec, ys: NumVec) -> float:
        return self.lib.zx_dot(self.doubles(xs), self.doubles(ys), xs.n)

    def filter_gt(self, xs: NumVec, threshold: float) -> list[float]:
        out = self.new_doubles(xs.n)
        kept = self.lib.zx_filter_gt(self.doubles(xs), xs.n, threshold, out)
        return self.to_list(out, kept)

    def sort_asc(self, xs: NumVec) -> list[float]:
        n = xs.n
        out, scratch = self.new_doubles(n), self.new_doubles(n)
        self.ffi.memmove(out, self.doubles(xs), n * 8)
        self.lib.zx_sort_asc(out, n, scratch)
        return self.to_list(out, n)

    def find_index(self, xs: NumVec, value: float) -> int:
        return int(self.lib.zx_find_index(self.doubles(xs), xs.n, value))

    def count_value(self, xs: NumVec, value: float) -> int:
        return int(self.lib.zx_count_value(self.doubles(xs), xs.n, value))

    def mat_mul(self, a: NumVec, b: NumVec, a_rows: int, a_cols: int, b_cols: int) -> list:
        out = self.new_doubles(a_rows * b_cols)
        self.lib.zx_mat_mul(self.doubles(a), self.doubles(b), out, a_rows, a_cols, b_cols)
        return self.to_list(out, a_rows * b_cols)

    def mat_transpose(self, flat: NumVec, rows: int, cols: int) -> list[float]:
        out = self.new_doubles(flat.n)
        self.lib.zx_mat_transpose(self.doubles(flat), out, rows, cols)
        return self.to_list(out, flat.n)

    def string_count(self, s: str) -> int:
        code_points = self.ffi.from_buffer("uint32_t[]", s.encode("utf-32-le"))
        return int(self.lib.zx_utf8_length(code_points, len(s)))

    def string_find(self, s: str, needle: str) -> int:
        hay, sub = s.encode("utf-8"), needle.encode("utf-8")
        return int(self.lib.zx_bytes_find(self._bytes(hay), len(hay), self._bytes(sub), len(sub)))

    def string_starts_with(self, s: str, prefix: str) -> bool:
        return self._affix(self.lib.zx_bytes_starts_with, s, prefix)

    def string_ends_with(self, s: str, suffix: str) -> bool:
        return self._affix(self.lib.zx_bytes_ends_with, s, suffix)

    def _bytes(self, data: bytes) -> Any:
        return self.ffi.from_buffer("uint8_t[]", data)

    def _affix(self, kernel: Callable[..., int], s: str, affix: str) -> bool:
        text, part = s.encode("utf-8"), affix.encode("utf-8")
        return bool(kernel(self._bytes(text), len(text), self._bytes(part), len(part)))

    def table(self) -> dict[str, Callable[..., Any]]:
        """Op name -> function of the validated arguments, for every op in the registry."""
        lib = self.lib
        ops: dict[str, Callable[..., Any]] = {
            "list_sum": self.reduce(lib.zx_sum),
            "list_product": self.reduce(lib.zx_product),
            "list_mean": self.reduce(lib.zx_mean),
            "list_min": self.reduce(lib.zx_min),
            "list_max": self.reduce(lib.zx_max),
            "list_variance": self.reduce(lib.zx_variance),
            "list_std": self.reduce(lib.zx_std),
            "vec_add": self.pairwise(lib.zx_vec_add),
            "vec_sub": self.pairwise(lib.zx_vec_sub),
            "vec_mul": self.pairwise(lib.zx_vec_mul),
            "vec_div": self.pairwise(lib.zx_vec_div),
            "vec_scale": self.with_scalar(lib.zx_map_mul),
            "map_mul": self.with_scalar(lib.zx_map_mul),
            "map_add": self.with_scalar(lib.zx_map_add),
        }
        for name in OPS.keys() - ops.keys():
            ops[name] = getattr(self, name)
        return ops


class NativeBackend:
    """A backend running one build of the kernels, with the pure-Python path for short lists."""

    def __init__(
        self,
        name: str,
        kernels: Kernels,
        reader: FastReader | None,
        python_below: dict[str, int],
    ) -> None:
        self.name = name
        self.kernels = kernels
        self._reader = reader
        self._python_below = python_below
        self._ops = kernels.table()

    def always_native(self) -> NativeBackend:
        """The same backend without the short-list shortcut (tests reach every kernel with it)."""
        return NativeBackend(f"{self.name}-kernels", self.kernels, self._reader, {})

    def execute(self, op: EngineOp, values: list[Any]) -> Any:
        if self._prefers_python(op, values):
            return op.reference(*op.validate(values))
        reader = self._reader
        args = op.validate(values, None if reader is None else _always(reader))
        return self._ops[op.name](*args)

    def _prefers_python(self, op: EngineOp, values: list[Any]) -> bool:
        below = self._python_below.get(op.name, 0)
        if below == 0:
            return False
        longest = 0
        for param, value in zip(op.params, values, strict=True):
            if param.kind == "list":
                if not isinstance(value, (list, tuple)):
                    return False  # a buffer: the kernel reads it in place
                longest = max(longest, len(value))
            elif param.kind == "string" and isinstance(value, str):
                longest = max(longest, len(value))
        return longest < below


def _always(reader: FastReader) -> Callable[[Any], FastReader]:
    return lambda _value: reader


def _list_reader() -> FastReader | None:
    try:
        from ._listread import read_doubles
    except ImportError:
        return None
    return read_doubles


def load_c_backend() -> NativeBackend:
    """The C kernels compiled at install time."""
    try:
        from ._ckernels import ffi, lib
    except ImportError as exc:
        raise BackendUnavailable(f"the C extension is not built: {exc}") from exc
    return NativeBackend("c", Kernels(ffi, lib), _list_reader(), PYTHON_BELOW)


def load_zig_backend() -> NativeBackend:
    """The Zig kernels, built on first use into the cache (see zigbuild.py)."""
    from cffi import FFI

    from .zigbuild import zig_library

    ffi = FFI()
    ffi.cdef(read_cdef())
    lib = ffi.dlopen(str(zig_library()))
    return NativeBackend("zig", Kernels(ffi, lib), _list_reader(), PYTHON_BELOW)
