"""Backend selection, fallbacks, the shared ABI and the Zig build cache."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from zixir.engine import OPS, backends, load_backend, run, use_backend
from zixir.engine.native import PYTHON_BELOW, native_source_dir, read_cdef

NATIVE = Path(__file__).resolve().parents[2] / "native"
HAS_ZIG = importlib.util.find_spec("ziglang") is not None


def selected_backend(env_value: str | None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("ZIXIR_ENGINE", None)
    if env_value is not None:
        env["ZIXIR_ENGINE"] = env_value
    code = "from zixir.engine import active_backend, run; print(active_backend().name, run('list_sum', [1, 2]))"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.mark.parametrize("value, expected", [(None, "c"), ("c", "c"), ("python", "python"),
                                             ("PYTHON", "python")])
def test_environment_selects_the_backend(value, expected) -> None:
    result = selected_backend(value)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [expected, "3.0"]
    assert "unavailable" not in result.stderr


@pytest.mark.skipif(not HAS_ZIG, reason="the ziglang package is not installed")
def test_environment_selects_zig() -> None:
    result = selected_backend("zig")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["zig", "3.0"]


def test_unknown_backend_name_is_an_error() -> None:
    result = selected_backend("fortran")
    assert result.returncode != 0
    assert "unknown engine backend 'fortran'" in result.stderr


def test_missing_c_extension_falls_back_to_python_with_a_warning(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "zixir.engine._ckernels", None)  # import now fails
    monkeypatch.setattr(backends, "_loaded", {})
    monkeypatch.setattr(backends, "_active", None)
    monkeypatch.setenv("ZIXIR_ENGINE", "c")
    with pytest.warns(RuntimeWarning, match="C kernels unavailable"):
        assert backends.active_backend().name == "python"
    assert run("list_sum", [1.0, 2.0]) == 3.0


def test_use_backend_switches_in_process(monkeypatch) -> None:
    monkeypatch.setattr(backends, "_active", None)
    assert use_backend("python").name == "python"
    assert backends.active_backend() is load_backend("python")
    assert use_backend("c").name == "c"
    assert run("vec_add", [1.0], [2.0]) == [3.0]


def test_every_op_has_a_kernel_in_each_native_build(native_pair) -> None:
    for backend in native_pair:
        assert set(backend.kernels.table()) == set(OPS)


def test_short_list_thresholds_name_real_ops() -> None:
    assert set(PYTHON_BELOW) <= set(OPS)
    assert all(isinstance(n, int) and n >= 0 for n in PYTHON_BELOW.values())


# ---- one ABI, two implementations ---------------------------------------------------------


def declared_functions() -> dict[str, int]:
    """Function name -> parameter count, from the header's cdef section."""
    found = {}
    for name, params in re.findall(r"\b(zx_\w+)\(([^)]*)\)", read_cdef(NATIVE / "zixir_engine.h")):
        found[name] = len([p for p in params.split(",") if p.strip()])
    return found


def test_cdef_is_the_header_read_at_run_time() -> None:
    assert native_source_dir().joinpath("zixir_engine.h").read_text() == (
        NATIVE / "zixir_engine.h"
    ).read_text()
    assert len(declared_functions()) >= 20


def test_c_source_defines_every_declared_function() -> None:
    source = (NATIVE / "zixir_engine.c").read_text()
    for name, count in declared_functions().items():
        match = re.search(rf"^\w[\w\s\*]*\b{name}\(([^)]*)\)\s*\{{", source, re.M)
        assert match, name
        assert len(match[1].split(",")) == count, name


def test_zig_source_exports_every_declared_function() -> None:
    source = (NATIVE / "zig" / "engine.zig").read_text()
    exported = dict(
        (name, len([p for p in params.split(",") if p.strip()]))
        for name, params in re.findall(r"export fn (zx_\w+)\(([^)]*)\)", source)
    )
    assert exported == declared_functions()


# ---- the Zig build cache ------------------------------------------------------------------


@pytest.mark.skipif(not HAS_ZIG, reason="the ziglang package is not installed")
def test_zig_library_is_built_once_per_source_version(tmp_path, monkeypatch) -> None:
    from zixir.engine import zigbuild

    library = zigbuild.zig_library()
    assert library.is_file()
    stamp = library.stat().st_mtime_ns
    assert zigbuild.zig_library() == library and library.stat().st_mtime_ns == stamp

    changed = tmp_path / "engine.zig"
    changed.write_text((NATIVE / "zig" / "engine.zig").read_text() + "\n// changed\n")
    version = zigbuild.zig_version()
    original = [NATIVE / "zixir_engine.h", NATIVE / "zig" / "engine.zig"]
    assert zigbuild.source_key([original[0], changed], version) != zigbuild.source_key(
        original, version
    )


@pytest.mark.skipif(not HAS_ZIG, reason="the ziglang package is not installed")
def test_zig_build_failure_is_reported(tmp_path, monkeypatch) -> None:
    from zixir.engine import zigbuild

    (tmp_path / "zig").mkdir()
    (tmp_path / "zixir_engine.h").write_text((NATIVE / "zixir_engine.h").read_text())
    (tmp_path / "zig" / "engine.zig").write_text("export fn broken( { }\n")
    monkeypatch.setattr(zigbuild, "native_source_dir", lambda: tmp_path)
    monkeypatch.setenv("ZIXIR_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(backends.BackendUnavailable, match="building the Zig kernels failed"):
        zigbuild.zig_library()


# ---- the list reader ----------------------------------------------------------------------


def test_list_reader_reads_numbers_and_stops_at_anything_else() -> None:
    listread = pytest.importorskip("zixir.engine._listread", reason="built without a C++ compiler")
    import numpy as np

    buffer, bad = listread.read_doubles([1.5, 2, -3, np.float64(0.25), 2**70])
    assert bad == -1
    assert memoryview(buffer).cast("d").tolist() == [1.5, 2.0, -3.0, 0.25, 2.0**70]
    assert listread.read_doubles([])[1] == -1
    assert listread.read_doubles((1.0, 2.0))[1] == -1
    for items, index in [([1.0, True], 1), ([None], 0), ([1.0, 2.0, "3"], 2), ([10**400], 0),
                         ([1.0, np.int64(3)], 1)]:
        assert listread.read_doubles(items) == (None, index)


def test_native_backend_without_the_list_reader(native_pair) -> None:
    from zixir.engine import run_with
    from zixir.engine.native import NativeBackend
    from zixir.lang.errors import ZixirRuntimeError

    for backend in native_pair:
        plain = NativeBackend("plain", backend.kernels, None, {})
        xs = [float(i) for i in range(100)] + [7]
        assert run_with(plain, "list_sum", xs) == sum(xs)
        assert run_with(plain, "vec_scale", xs, 2) == [2.0 * x for x in xs]
        with pytest.raises(ZixirRuntimeError, match=r"expected a list of numbers \(xs\[1\] is bool"):
            run_with(plain, "list_mean", [1.0, False])
