"""cffi build script for the C kernels (API mode), run by `pip install` through setup.py.

Produces the extension module `zixir.engine._ckernels`. The declarations come from the header's
cdef section, the same text the Zig loader hands to cffi, so both builds expose one ABI.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from cffi import FFI

NATIVE = Path(__file__).resolve().parent


def read_cdef(header: Path) -> str:
    """The declarations between the cdef markers of the engine header."""
    text = header.read_text(encoding="utf-8")
    return text.split("/* cdef-begin */", 1)[1].split("/* cdef-end */", 1)[0]


def compile_args() -> list[str]:
    if sys.platform == "win32":
        return ["/O2"]
    # -O3 vectorizes the element-wise loops; contraction off keeps a*b+c as two roundings, as
    # in the Python reference and the Zig build. No -march: the wheel must run on any x86_64.
    return ["-O3", "-std=c11", "-ffp-contract=off", "-fno-math-errno", "-Wno-psabi"]


def _relative(path: Path) -> str:
    return os.path.relpath(path, Path.cwd())


ffibuilder = FFI()
ffibuilder.cdef(read_cdef(NATIVE / "zixir_engine.h"))
ffibuilder.set_source(
    "zixir.engine._ckernels",
    '#include "zixir_engine.h"',
    sources=[_relative(NATIVE / "zixir_engine.c")],
    include_dirs=[_relative(NATIVE)],
    extra_compile_args=compile_args(),
    libraries=[] if sys.platform == "win32" else ["m"],
)

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=str(NATIVE.parent / "build" / "cffi"), verbose=True)
