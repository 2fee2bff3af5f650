"""Native backends: the C kernels (cffi API mode) and the Zig build of the same ABI (cffi ABI mode).

    execute(op, values)
      short Python lists -> validate in Python -> reference code   (a native call costs more)
      otherwise          -> validate -> double buffers -> ffi kernel -> plain Python result

Both builds export the functions declared in native/zixir_engine.h; `Kernels` wraps either one
(an `ffi`/`lib` pair) and is the only place that turns validated arguments into pointers.
Buffers of contiguous float64 go to the kernels in place (`ffi.from_buffer`); lists are read
into one double buffer, by the list reader extension when it is built.

With that extension (`_listread`), `NativeBackend` is also a `Dispatcher`: the reductions,
dot_product, the element-wise ops and the rest of the op table on lists and float64 buffers (and
the string ops) are served by its native front end straight from `run_with` (see
native/list_reader.cpp), calling this backend's own kernels by address; every other call, and every argument the front end does not take as is, comes through
`execute`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .backends import BackendUnavailable
from .registry import OPS, EngineOp
from .values import FastReader, NumVec, as_numbers, buffer_view

try:  # the native front end (optional, like the list reader it is built with)
    from ._listread import KINDS as _FAST_KINDS
    from ._listread import Dispatcher as _NativeFrontEnd
except ImportError:
    _FAST_KINDS = None
    _NativeFrontEnd = object

#: below these list lengths the pure-Python path is faster than a native call (measured with
#: `benchmarks/engine.py --crossover`, see native/README.md; buffers always go to the kernels).
#: Ops on the native front end (`native_ops`: all of them) reach kernels at every length when
#: called through `run`/`run_with`: the thresholds only apply on the fallback path (unusual
#: arguments, or no front end built).
#: String ops always take the Python path: they must encode to UTF-8 first, and after that
#: CPython's own search is as fast as the kernel, so the call overhead never pays off (the front
#: end answers them with CPython's string functions, without a Python frame).
PYTHON_BELOW: dict[str, int] = {
    "list_sum": 8, "list_product": 8, "list_mean": 8,
    "dot_product": 32, "vec_add": 16, "vec_sub": 16, "vec_mul": 32, "vec_div": 8,
    "vec_scale": 64, "map_add": 32, "map_mul": 32, "filter_gt": 64, "sort_asc": 32,
    "find_index": 16, "count_value": 32, "mat_transpose": 16,
    "string_count": sys.maxsize, "string_find": sys.maxsize,
    "string_starts_with": sys.maxsize, "string_ends_with": sys.maxsize,
}


#: list results at least this long are built by numpy's tolist (measured faster; numpy is only
#: imported once a result is long enough to repay the import)
_NUMPY_TOLIST_FROM = 4096


#: the one-list reductions: op name -> kernel(double pointer, n)
_REDUCTION_KERNELS = {
    "list_sum": "zx_sum", "list_product": "zx_product", "list_mean": "zx_mean",
    "list_min": "zx_min", "list_max": "zx_max", "list_variance": "zx_variance",
    "list_std": "zx_std",
}
#: element-wise ops of two lists: op name -> kernel(a, b, out, n)
_PAIRWISE_KERNELS = {
    "vec_add": "zx_vec_add", "vec_sub": "zx_vec_sub", "vec_mul": "zx_vec_mul",
    "vec_div": "zx_vec_div",
}
#: element-wise ops of a list and a number: op name -> kernel(x, number, out, n)
_MAP_KERNELS = {"vec_scale": "zx_map_mul", "map_mul": "zx_map_mul", "map_add": "zx_map_add"}
#: the string ops: op name -> what the native front end does for them (CPython's own code)
_TEXT_KINDS = {"string_count": "text_count", "string_find": "text_find",
               "string_starts_with": "text_starts", "string_ends_with": "text_ends"}


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
        if n < _NUMPY_TOLIST_FROM:
            return self.ffi.unpack(out, n)
        import numpy  # its tolist builds long lists ~25% faster than ffi.unpack

        return numpy.frombuffer(self.ffi.buffer(out, n * 8), dtype=numpy.float64).tolist()

    def utf8(self, text: str) -> Any:
        return self.ffi.from_buffer("uint8_t[]", text.encode("utf-8"))

    # -- op families ------------------------------------------------------------------------

    def reduce(self, kernel: Callable[[Any, int], float]) -> Callable[[NumVec], float]:
        from_buffer = self.ffi.from_buffer

        def run(xs: NumVec) -> float:
            return kernel(from_buffer("double[]", xs.buffer), xs.n)

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
        from_buffer = self.ffi.from_buffer
        return self.lib.zx_dot(from_buffer("double[]", xs.buffer), from_buffer("double[]", ys.buffer), xs.n)

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

    def reductions(self) -> dict[str, Callable[[Any, int], float]]:
        """The one-list reductions: op name -> kernel(double pointer, n)."""
        return {name: getattr(self.lib, kernel) for name, kernel in _REDUCTION_KERNELS.items()}

    def address(self, name: str) -> int:
        """The address of kernel `name` in this build (for the native front end)."""
        return int(self.ffi.cast("uintptr_t", self.ffi.addressof(self.lib, name)))

    def fast_table(self, kinds: dict[str, int]) -> dict[str, tuple[int, int, int]]:
        """Op name -> (kind, kernel address, piecewise kernel address or 0) for the front end."""
        at = self.address
        table = {"list_sum": (kinds["sum"], at("zx_sum"), at("zx_sum_from")),
                 "list_mean": (kinds["mean"], at("zx_mean"), at("zx_sum_from")),
                 "dot_product": (kinds["dot"], at("zx_dot"), at("zx_dot_from"))}
        for name, kernel in _REDUCTION_KERNELS.items():
            table.setdefault(name, (kinds["reduce"], at(kernel), 0))
        for name, kernel in _PAIRWISE_KERNELS.items():
            table[name] = (kinds["pairwise"], at(kernel), 0)
        for name, kernel in _MAP_KERNELS.items():
            table[name] = (kinds["map"], at(kernel), 0, float(OPS[name].params[1].default))
        return table

    def front_end_table(
        self, kinds: dict[str, int], python_ops: frozenset[str] = frozenset()
    ) -> dict[str, tuple]:
        """`fast_table` with every other op added, for the native front end.

        The reductions get the kernels that let the front end read long lists piece by piece
        (product, variance and std; min and max combine per-piece results), and the remaining
        ops their kernels; the string ops in `python_ops` (those this backend serves with the
        Python reference) are served with CPython's string functions, without kernels.
        """
        at = self.address
        table = self.fast_table(kinds)
        table["list_product"] = (kinds["product"], at("zx_product"), at("zx_product_from"))
        table["list_min"] = (kinds["min"], at("zx_min"), 0)
        table["list_max"] = (kinds["max"], at("zx_max"), 0)
        for name, kernel in (("list_variance", "zx_variance"), ("list_std", "zx_std")):
            table[name] = (kinds[name[5:]], at(kernel), at("zx_variance_from"), 0.0,
                           at("zx_sum_from"))
        table["filter_gt"] = (kinds["filter"], at("zx_filter_gt"), 0,
                              float(OPS["filter_gt"].params[1].default))
        table["sort_asc"] = (kinds["sort"], at("zx_sort_asc"), 0)
        table["find_index"] = (kinds["find"], at("zx_find_index"), 0)
        table["count_value"] = (kinds["count"], at("zx_count_value"), 0)
        table["mat_mul"] = (kinds["mat_mul"], at("zx_mat_mul"), 0)
        table["mat_transpose"] = (kinds["transpose"], at("zx_mat_transpose"), 0)
        for name, kind in _TEXT_KINDS.items():
            if name in python_ops:
                table[name] = (kinds[kind], 0, 0)
        return table

    def table(self) -> dict[str, Callable[..., Any]]:
        """Op name -> function of the validated arguments, for every op in the registry."""
        lib = self.lib
        ops: dict[str, Callable[..., Any]] = {
            name: self.reduce(kernel) for name, kernel in self.reductions().items()
        }
        ops |= {name: self.pairwise(getattr(lib, kernel))
                for name, kernel in _PAIRWISE_KERNELS.items()}
        ops |= {name: self.with_scalar(getattr(lib, kernel))
                for name, kernel in _MAP_KERNELS.items()}
        for name in OPS.keys() - ops.keys():
            ops[name] = getattr(self, name)
        return ops


class NativeBackend(_NativeFrontEnd):
    """A backend running one build of the kernels, with the pure-Python path for short lists.

    Built with the native front end, it hands that its kernels' addresses: `run_with` then
    serves every op without Python (`native_ops`; `fast_ops` are its reductions, dot_product
    and element-wise ops); lists
    are read there only when this backend has the list reader.
    """

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
        self._plans = {name: self._reduction_plan(OPS[name], kernel)
                       for name, kernel in kernels.reductions().items()}
        self._plans["dot_product"] = self._dot_plan(OPS["dot_product"], kernels.lib.zx_dot)
        if _FAST_KINDS is not None:
            # the string ops are served natively as this backend serves them: in Python
            python_ops = frozenset(name for name in _TEXT_KINDS
                                   if python_below.get(name, 0) == sys.maxsize)
            self._set_fast_ops(kernels.front_end_table(_FAST_KINDS, python_ops),
                               reader is not None)

    def always_native(self) -> NativeBackend:
        """The same backend without the short-list shortcut (tests reach every kernel with it)."""
        return NativeBackend(f"{self.name}-kernels", self.kernels, self._reader, {})

    def execute(self, op: EngineOp, values: tuple[Any, ...]) -> Any:
        plan = self._plans.get(op.name)
        if plan is not None:
            return plan(values)
        below = self._python_below.get(op.name, 0)
        if below and self._prefers_python(op, values, below):
            return op.reference(*op.validate(values))
        return self._ops[op.name](*op.validate(values, self._reader))

    def _reduction_plan(self, op: EngineOp, kernel: Callable[..., float]) -> Callable[..., Any]:
        """The whole call path of a one-list reduction in one function: it is the hottest."""
        name, below, reader = op.name, self._python_below.get(op.name, 0), self._reader
        reference, from_buffer = op.reference, self.kernels.ffi.from_buffer

        def plan(values: tuple[Any, ...]) -> float:
            xs = values[0]
            if isinstance(xs, (list, tuple)):
                if len(xs) < below:
                    return reference(as_numbers(name, "xs", xs))
                vec = as_numbers(name, "xs", xs, reader)
                return kernel(from_buffer("double[]", vec.buffer), vec.n)
            view = buffer_view(xs)
            if view is not None and view.format == "d" and view.ndim == 1 and view.c_contiguous:
                return kernel(from_buffer("double[]", view), len(view))
            vec = as_numbers(name, "xs", xs)
            return kernel(from_buffer("double[]", vec.buffer), vec.n)

        return plan

    def _dot_plan(self, op: EngineOp, kernel: Callable[..., float]) -> Callable[..., Any]:
        """dot_product's call path with a shortcut for two contiguous float64 buffers."""
        below, reader = self._python_below.get(op.name, 0), self._reader
        from_buffer = self.kernels.ffi.from_buffer

        def plan(values: tuple[Any, ...]) -> float:
            xs, ys = values
            vx, vy = buffer_view(xs), buffer_view(ys)
            if (vx is not None and vy is not None and vx.format == "d" == vy.format
                    and vx.ndim == 1 == vy.ndim and vx.c_contiguous and vy.c_contiguous):
                if len(vx) != len(vy):
                    op.check(op, [NumVec(len(vx), None, vx), NumVec(len(vy), None, vy)])
                return kernel(from_buffer("double[]", vx), from_buffer("double[]", vy), len(vx))
            if below and self._prefers_python(op, values, below):
                return op.reference(*op.validate(values))
            a, b = op.validate(values, reader)
            return kernel(from_buffer("double[]", a.buffer), from_buffer("double[]", b.buffer), a.n)

        return plan

    @staticmethod
    def _prefers_python(op: EngineOp, values: tuple[Any, ...], below: int) -> bool:
        if not op.list_positions:
            return True  # string ops: see PYTHON_BELOW
        for position in op.list_positions:
            value = values[position]
            if not isinstance(value, (list, tuple)) or len(value) >= below:
                return False  # a buffer (read in place) or a list long enough to pay off
        return True


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
