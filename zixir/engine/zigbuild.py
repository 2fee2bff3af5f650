"""Build the Zig kernels into a shared library, once per source version, with the `ziglang` package.

Building at install time would need Zig inside pip's isolated build environment, so the library
is built on first use instead: `zig build-lib` (run as `python -m ziglang`) writes it into a
cache directory named after a hash of the sources, the Zig version and the flags, and later
processes reuse it. `python -m zixir.engine.zigbuild [--rebuild]` builds it ahead of time.

Cache location: $ZIXIR_CACHE_DIR, else $XDG_CACHE_HOME/zixir, else ~/.cache/zixir.
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

#: baseline CPU like the C build: the library must run wherever the cache is shared, and the
#: same instructions make the two builds' results bit-identical
ZIG_FLAGS = ("-dynamic", "-O", "ReleaseFast", "-mcpu=baseline", "-fno-emit-h")


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
    digest.update(" ".join(ZIG_FLAGS).encode())
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
            sys.executable, "-m", "ziglang", "build-lib", *ZIG_FLAGS,
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
