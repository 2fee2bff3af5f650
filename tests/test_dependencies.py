"""The dependency bounds in pyproject.toml hold for what the suite runs on, and every
third-party module the tests or benchmarks import is declared in the right extra."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def requirements(extra: str | None = None) -> dict[str, Requirement]:
    listed = PROJECT["dependencies"] if extra is None else PROJECT["optional-dependencies"][extra]
    return {Requirement(text).name.lower(): Requirement(text) for text in listed}


@pytest.mark.parametrize("extra, name", [
    (None, "pybreaker"), (None, "msgpack"), (None, "pygls"), (None, "numpy"),
    ("zig", "ziglang"), ("test", "pytest-asyncio"), ("test", "pytest"),
])
def test_installed_versions_satisfy_the_declared_bounds(extra, name):
    requirement = requirements(extra)[name]
    try:
        installed = metadata.version(name)
    except metadata.PackageNotFoundError:
        pytest.skip(f"{name} is not installed")
    assert requirement.specifier.contains(installed, prereleases=True), (name, installed)


def test_bounds_exclude_versions_known_not_to_work():
    zig = requirements("zig")["ziglang"].specifier
    assert not zig.contains("0.13.0") and not zig.contains("0.11.0") and zig.contains("0.14.0")
    pybreaker = requirements()["pybreaker"].specifier
    assert not pybreaker.contains("2.0.0") and not pybreaker.contains("1.2.0")


def test_extras_hold_what_imports_them():
    tests = {p.name for p in ROOT.glob("tests/**/*.py")
             if p.name != Path(__file__).name and "import pebble" in p.read_text("utf-8")}
    assert not tests, f"pebble is a benchmark dependency, imported by tests: {tests}"
    assert "pebble" in requirements("bench") and "pebble" not in requirements("test")
    async_tests = [p for p in ROOT.glob("tests/**/*.py")
                   if "async def test_" in p.read_text(encoding="utf-8")]
    assert async_tests and "pytest-asyncio" in requirements("test")
