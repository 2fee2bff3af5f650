"""Build the Zig kernels into a shared library, once per source version, with the `ziglang` package.

Building at install time would need Zig inside pip's isolated build environment, so the library
is built on first use instead: `zig build-lib` (run as `python -m ziglang`) writes it into a
cache directory named after a hash of the sources, the Zig version and the flags, and later
processes reuse it. `python -m zixir.engine.zigbuild [--rebuild]` builds it ahead of time.

Cache location: $ZIXIR_CACHE_DIR, else $XDG_CACHE_HOME/zixir, else ~/.cache/zixir.
ZIXIR_ZIG_BASELINE=1 builds (and loads) the baseline x86_64 library even on an AVX2 machine.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from .backends import BackendUnavailable
from .native import native_source_dir

#: baseline CPU like the C build, plus AVX2 where this machine has it (the C build picks its
#: AVX2 loops at load time; Zig has no per-function targets, so the whole library is built for
#: the CPU level instead, and the level is part of the cache key: a machine without AVX2 builds
#: and loads its own baseline library). Floats stay strict (no FMA contraction), so every level
#: returns the C build's bits.
ZIG_FLAGS = ("-dynamic", "-O", "ReleaseFast", "-mcpu=baseline", "-fno-emit-h")


def has_avx2() -> bool:
    """Whether this x86_64 Linux machine's CPU (and kernel) run AVX2 code."""
    if sys.platform != "linux" or os.uname().machine != "x86_64":
        return False
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            for line in info:
                if line.startswith("flags"):
                    return "avx2" in line.split()
    except OSError:
        pass
    return False


def zig_flags() -> tuple[str, ...]:
    """ZIG_FLAGS for this machine: -mcpu=baseline+avx2 where the CPU has AVX2."""
    if os.environ.get("ZIXIR_ZIG_BASELINE") or not has_avx2():
        return ZIG_FLAGS
    return tuple("-mcpu=baseline+avx2" if flag == "-mcpu=baseline" else flag for flag in ZIG_FLAGS)


def cache_root() -> Path:
    if "ZIXIR_CACHE_DIR" in os.environ:
        return Path(os.environ["ZIXIR_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "zixir"


def _library_name() -> str:
    if sys.platform == "win32":
        return "zixir_engine.dll"
    return "libzixir_engine.dylib" if sys.platform == "darwin" else "libzixir_engine.so"


def zig_version() -> str:
    try:
        return metadata.version("ziglang")
    except metadata.PackageNotFoundError:
        raise BackendUnavailable(
            "the ziglang package is not installed (pip install 'zixir[zig]')"
        ) from None


def source_key(sources: list[Path], version: str) -> str:
    """A hash of everything that determines the built library."""
    digest = hashlib.sha256(version.encode())
    digest.update(" ".join(zig_flags()).encode())
    for path in sources:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:20]


def zig_library(rebuild: bool = False) -> Path:
    """Path of the built Zig library, building it first if this source version has none."""
    native = native_source_dir()
    entry = native / "zig" / "engine.zig"
    sources = [native / "zixir_engine.h", *sorted((native / "zig").glob("*.zig"))]
    key = source_key(sources, zig_version())
    target = cache_root() / f"zig-{key}" / _library_name()
    if target.is_file() and not rebuild:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # build beside the target and rename: concurrent first uses never load a half-written file
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        built = Path(work) / _library_name()
        zig_cache = str(cache_root() / "zig-cache")
        command = [
            sys.executable, "-m", "ziglang", "build-lib", *zig_flags(),
            "--cache-dir", zig_cache, "--global-cache-dir", zig_cache,
            f"-femit-bin={built}", "--name", "zixir_engine", str(entry),
        ]
        result = subprocess.run(command, cwd=work, capture_output=True, text=True, check=False)
        if result.returncode != 0 or not built.is_file():
            raise BackendUnavailable(f"building the Zig kernels failed:\n{result.stderr.strip()}")
        os.replace(built, target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the zixir engine's Zig kernels.")
    parser.add_argument("--rebuild", action="store_true", help="build even if cached")
    args = parser.parse_args(argv)
    print(zig_library(rebuild=args.rebuild))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
