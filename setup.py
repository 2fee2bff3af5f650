"""Build steps that pyproject.toml cannot declare: the native engine.

* `zixir.engine._ckernels`: the C kernels, compiled through cffi's API mode
  (native/build_engine.py).
* `zixir.engine._listread`: the pybind11 list reader (native/list_reader.cpp), optional: without
  pybind11 the engine validates lists in Python.
* `zixir.lang._owned`: in-place `append`/`put` on unshared values (native/owned_update.c);
  optional: without a C compiler those builtins always copy.
* `zixir.lang._fastpath`: `len`, `get`, `slice`, `concat` and the loop helper in C
  (native/fast_builtins.c); optional: without it they stay Python functions.
* native sources (the ABI header and the Zig sources) are copied into the package as
  `zixir/engine/native_src/`, so an installed zixir can build its Zig backend on first use.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
NATIVE = ROOT / "native"


class BuildPyWithNativeSources(build_py):
    """build_py that also ships the ABI header and Zig sources inside the package."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "zixir" / "engine" / "native_src"
        (target / "zig").mkdir(parents=True, exist_ok=True)
        shutil.copy2(NATIVE / "zixir_engine.h", target / "zixir_engine.h")
        for source in (NATIVE / "zig").glob("*.zig"):
            shutil.copy2(source, target / "zig" / source.name)


def list_reader_extensions() -> list[Extension]:
    try:
        from pybind11.setup_helpers import Pybind11Extension
    except ImportError:
        return []
    return [
        Pybind11Extension(
            "zixir.engine._listread",
            ["native/list_reader.cpp"],
            cxx_std=17,
            include_dirs=["native"],  # zixir_engine.h: the block cut's constants
            depends=["native/zixir_engine.h"],
            optional=True,  # no C++ compiler: lists are validated in Python instead
            extra_compile_args=["-O2"],
        )
    ]


def owned_update_extension() -> Extension:
    return Extension("zixir.lang._owned", ["native/owned_update.c"], optional=True,
                     extra_compile_args=["-O2"])


def fast_builtins_extension() -> Extension:
    return Extension("zixir.lang._fastpath", ["native/fast_builtins.c"], optional=True,
                     extra_compile_args=["-O2"])


setup(
    ext_modules=list_reader_extensions() + [owned_update_extension(),
                                            fast_builtins_extension()],
    cffi_modules=["native/build_engine.py:ffibuilder"],
    cmdclass={"build_py": BuildPyWithNativeSources},
)
