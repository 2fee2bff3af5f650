"""The call policy is an allow list: escape attempts through the standard library and numpy
are refused (and do nothing), everyday calls and the script's own modules still work.

Every escape attempt aims at a marker file or a shell command that would create one; the
test asserts PolicyDenied *and* that the marker does not exist.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_runtime

from zixir.lang.errors import PolicyDenied
from zixir.runtime.policy import CallPolicy


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """A runtime whose script directory holds modules that re-export OS functions."""
    scripts = tmp_path_factory.mktemp("scripts")
    (scripts / "reexports_zx.py").write_text(
        "import os\n"
        "from os import system\n"
        "from shutil import copyfile as tidy\n"
        "from subprocess import run as helper\n"
        "from pathlib import Path\n"
        "from numpy import save as keep\n"
        "def _private(x):\n    return x\n"
        "def public(x):\n    return x + 1\n"
    )
    (scripts / "os.py").write_text("def system(cmd):\n    return 'shadow'\n")
    with make_runtime(workers=1, paths=(str(scripts),), call_timeout=30.0) as rt:
        yield rt, scripts


def escapes(marker: Path) -> list[tuple[str, str, list]]:
    m = str(marker)
    shell = f"touch {m}"
    code = f"__import__('os').system('touch {m}')"
    return [
        # the standard library walking around a deny list
        ("uuid", "_get_command_stdout", ["sh", "-c", shell]),
        ("pydoc", "pipepager", ["text", shell]),
        ("timeit", "timeit", [code]),
        ("cProfile", "run", [code]),
        ("doctest", "debug_script", [f"import os; os.system('touch {m}')"]),
        ("logging.config", "dictConfig", [{
            "version": 1, "root": {"handlers": ["h"]},
            "handlers": {"h": {"class": "logging.FileHandler", "filename": m}}}]),
        ("linecache", "getlines", ["/etc/passwd"]),
        ("codecs", "open", [m, "w"]),
        ("numpy", "ndarray.tofile", [[1.0], m]),
        # and more
        ("platform", "architecture", ["/bin/sh"]),
        ("importlib", "import_module", ["antigravity"]),
        ("runpy", "run_module", ["antigravity"]),
        ("pkgutil", "resolve_name", ["os:system"]),
        ("numpy", "ctypeslib.load_library", ["libc.so.6", "/lib"]),
        ("numpy", "ctypeslib.ctypes.CDLL", [None]),
        ("numpy", "testing.assert_equal", [1, 1]),
        ("numpy", "test", []),  # runs pytest
        ("numpy", "linalg.test", []),  # the same tester, found by its defining name
        ("calendar", "main", [["calendar", "-o", m]]),
        ("numpy", "f2py.run_main", [["-h", m]]),
        ("numpy", "save", [m, [1.0]]),
        ("numpy", "savetxt", [m, [1.0]]),
        ("numpy", "load", ["/etc/passwd"]),
        ("numpy", "loadtxt", ["/etc/hostname"]),
        ("numpy", "memmap", [m, "float64", "w+", 0, [4]]),
        ("numpy", "lib.format.open_memmap", [m, "w+", "float64", None, False, [4]]),
        ("numpy", "matrix.tofile", [[1.0], m]),
        ("numpy", "recarray.tofile", [[1.0], m]),
        ("numpy", "ndarray.dump", [[1.0], m]),
        ("numpy", "fromfile", ["/etc/passwd"]),
        ("os.path", "getsize", ["/etc/passwd"]),
        ("posixpath", "exists", ["/etc/passwd"]),
        ("shutil", "copyfile", ["/etc/hostname", m]),
        ("json", "tool.main", []),
        ("json", "codecs.open", [m, "w"]),
        ("zipfile", "ZipFile", [m, "w"]),
        ("tarfile", "open", [m, "w"]),
        ("glob", "glob", ["/etc/*"]),
        ("webbrowser", "open", ["file:///etc/passwd"]),
        ("http.server", "test", []),
        ("sqlite3", "connect", [m]),
        ("logging", "FileHandler", [m]),
        ("logging", "os.system", [shell]),
        ("operator", "attrgetter", ["__class__"]),
        ("operator", "methodcaller", ["write", "x"]),
        ("functools", "partial", [1]),
        ("re", "functools.partial", [1]),
        ("pathlib", "Path.write_text", [m, "x"]),
        ("string", "Formatter.vformat", ["{0.__class__}", [1], {}]),
        ("string", "Formatter", []),
        ("statistics", "sys.exit", [3]),
        ("random", "_os.system", [shell]),
        ("collections", "_sys.exit", [3]),
        ("builtins", "open", [m, "w"]),
        ("builtins", "eval", [code]),
        ("builtins", "exec", [code]),
        ("builtins", "__import__", ["os"]),
        ("builtins", "getattr", [1, "__class__"]),
        ("subprocess", "run", [["touch", m]]),
        ("os", "system", [shell]),
        ("ctypes", "CDLL", [None]),
        ("io", "open", [m, "w"]),
        ("tempfile", "mkstemp", []),
        ("multiprocessing", "Process", []),
        ("pty", "spawn", [["touch", m]]),
        ("code", "interact", []),
        ("site", "main", []),
        ("math", "sqrt.__class__", []),
        # the script directory's modules: re-exported OS functions and shadowed names
        ("reexports_zx", "system", [shell]),
        ("reexports_zx", "os.system", [shell]),
        ("reexports_zx", "tidy", ["/etc/hostname", m]),
        ("reexports_zx", "helper", [["touch", m]]),
        ("reexports_zx", "Path.write_text", [m, "x"]),
        ("reexports_zx", "keep", [m, [1.0]]),
        ("reexports_zx", "_private", [1]),
        ("os", "system", [shell]),  # os.py in the script directory does not open os
    ]


def test_escape_attempts_are_refused_and_do_nothing(sandbox, tmp_path):
    rt, _ = sandbox
    marker = tmp_path / "escaped"
    cases = escapes(marker)
    assert len(cases) >= 29
    allowed = []
    for module, function, args in cases:
        try:
            rt.call_python(module, function, args)
        except PolicyDenied as e:
            assert ("--allow" in e.message and "zixir.toml" in e.message
                    or "dunder names cannot be called" in e.message), e.message
        except Exception as e:  # another error means the call ran
            allowed.append((module, function, f"{type(e).__name__}: {e}"))
        else:
            allowed.append((module, function, "returned"))
        assert not marker.exists(), f"{module}.{function} wrote {marker}"
    assert allowed == []
    assert not marker.exists()


def test_everyday_calls_and_the_scripts_modules_work(sandbox):
    rt, _ = sandbox
    assert rt.call_python("math", "sqrt", [16.0]) == 4.0
    assert rt.call_python("statistics", "mean", [[1, 2, 3]]) == 2
    assert rt.call_python("json", "dumps", [{"a": 1}]) == '{"a": 1}'
    assert rt.call_python("re", "findall", ["a.", "abacad"]) == ["ab", "ac", "ad"]
    assert rt.call_python("numpy", "linalg.norm", [[3.0, 4.0]]) == 5.0
    assert rt.call_python("heapq", "nlargest", [2, [5, 1, 9]]) == [9, 5]
    assert rt.call_python("builtins", "round", [2.675], {"ndigits": 2}) == 2.67
    assert rt.call_python("reexports_zx", "public", [41]) == 42
    assert isinstance(rt.call_python("random", "random", []), float)


def test_the_refusal_names_the_line_that_allows_it(sandbox):
    rt, _ = sandbox
    with pytest.raises(PolicyDenied) as info:
        rt.call_python("uuid", "uuid4", [])
    assert info.value.message == (
        'python "uuid" "uuid4" is not allowed (uuid is not a module of the script\'s '
        'directory, and uuid.uuid4 is not in the allowed list); allow it with '
        '--allow uuid.uuid4 or in zixir.toml: [policy] allow = ["uuid.uuid4"]')


def test_allow_deny_and_allow_all(tmp_path):
    marker = tmp_path / "written"
    with make_runtime(workers=1, allow=("email.utils.formataddr", "numpy.save"),
                      deny=("statistics.median",)) as rt:
        assert rt.call_python("email.utils", "formataddr", [["A", "a@b.c"]]) == "A <a@b.c>"
        with pytest.raises(PolicyDenied):
            rt.call_python("email.utils", "parseaddr", ["a@b.c"])
        rt.call_python("numpy", "save", [str(marker), [1.0]])
        assert (tmp_path / "written.npy").exists()
        with pytest.raises(PolicyDenied) as info:
            rt.call_python("statistics", "median", [[1, 2, 3]])
        assert "deny rule 'statistics.median'" in info.value.message
        assert rt.call_python("statistics", "mean", [[1, 2, 3]]) == 2
        with pytest.raises(PolicyDenied):
            rt.call_python("uuid", "uuid1", [])
    with make_runtime(workers=1, allow_all=True, deny=("os.system",)) as rt:
        assert rt.call_python("os", "getpid", []) in rt.pids()["workers"]
        with pytest.raises(PolicyDenied):
            rt.call_python("os", "system", ["true"])


def test_rules_in_order():
    policy = CallPolicy(allow=("numpy.load", "mytools"), deny=("numpy.linalg",))
    assert policy.reason("numpy.load") is None  # allow re-opens a carve-out
    assert policy.reason("numpy.save") is not None
    assert policy.reason("numpy.linalg.norm") is not None  # deny wins
    assert policy.reason("numpy.mean") is None
    assert policy.reason("mytools._hidden") is not None  # private beyond the rule
    assert CallPolicy(allow=("mytools._hidden",)).reason("mytools._hidden") is None
    assert policy.reason("helper.f", local=True) is None
    assert policy.reason("helper._f", local=True) is not None
    assert policy.reason("uuid.uuid1") is not None
    with pytest.raises(ValueError):
        CallPolicy(allow=("os; rm",))


def test_a_zixir_program_calls_its_own_module_and_is_refused_the_rest(tmp_path):
    (tmp_path / "helper_pol_zx.py").write_text("def triple(x):\n    return 3 * x\n")
    good = tmp_path / "good.zx"
    good.write_text(
        'fn main() {\n'
        '  let a = python "helper_pol_zx" "triple" (14)\n'
        '  let b = python "math" "sqrt" (16.0)\n'
        '  let c = python "statistics" "mean" ([1, 2, 3])\n'
        '  let d = python "numpy" "mean" ([1.0, 3.0])\n'
        '  let e = python "json" "dumps" ([1])\n'
        '  let f = python "re" "findall" ("b", "abcb")\n'
        '  [a, b, c, d, e, f]\n'
        '}\n')
    out = _zixir("run", "--json", str(good), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == '[42, 4.0, 2, 2.0, "[1]", ["b", "b"]]'
    marker = tmp_path / "escaped"
    bad = tmp_path / "bad.zx"
    bad.write_text(f'fn main() {{ python "timeit" "timeit" ("__import__(\'os\').system(\'touch '
                   f'{marker}\')") }}\n')
    out = _zixir("run", str(bad), cwd=tmp_path)
    assert out.returncode != 0
    assert 'python "timeit" "timeit" is not allowed' in out.stderr
    assert "--allow timeit.timeit" in out.stderr
    assert not marker.exists()


def test_a_misspelt_module_is_named_as_missing_not_only_as_not_allowed(tmp_path):
    (tmp_path / "scorer_pol_zx.py").write_text("def score(x):\n    return x\n")
    typo = tmp_path / "typo.zx"
    typo.write_text('python "scorer_pol_zxx" "score" (1)\n')
    out = _zixir("run", str(typo), cwd=tmp_path)
    assert out.returncode == 1
    assert ('python "scorer_pol_zxx" "score": there is no module scorer_pol_zxx in the '
            "script's directory, nor installed here (a typo?)") in out.stderr, out.stderr
    installed = tmp_path / "installed.zx"  # installed but not allowed: the usual refusal
    installed.write_text('python "uuid" "uuid4" ()\n')
    out = _zixir("run", str(installed), cwd=tmp_path)
    assert 'python "uuid" "uuid4" is not allowed' in out.stderr, out.stderr


def _zixir(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-P", "-m", "zixir", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_zixir_toml_policy_allows_and_denies(tmp_path):
    (tmp_path / "zixir.toml").write_text(
        '[runtime]\nworkers = 1\n\n[policy]\nallow = ["email.utils.formataddr"]\n'
        'deny = ["statistics.median"]\n')
    program = tmp_path / "sub" / "main.zx"  # found in a parent directory, like pyproject.toml
    program.parent.mkdir()
    program.write_text('fn main() {\n  let a = python "email.utils" "formataddr" (["A", "a@b.c"])\n'
                       '  let b = python "statistics" "median" ([1, 2, 3])\n  [a, b]\n}\n')
    out = _zixir("run", str(program), cwd=tmp_path)
    assert out.returncode == 1
    assert "statistics.median" in out.stderr and "deny rule" in out.stderr, out.stderr
    program.write_text('fn main() { python "email.utils" "formataddr" (["A", "a@b.c"]) }\n')
    out = _zixir("run", "--json", str(program), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == '"A <a@b.c>"'
    (tmp_path / "zixir.toml").write_text('[policy]\nallow = ["email.utils.formataddr"]\n'
                                         'alow = ["os"]\n')
    out = _zixir("run", str(program), cwd=tmp_path)
    assert out.returncode == 2  # a usage error, like a syntax error
    assert f"{tmp_path / 'zixir.toml'}:3:1: error: unknown key 'alow' in [policy]" in out.stderr


def test_zixir_toml_errors_name_file_and_line(tmp_path):
    from zixir.project_file import ProjectFileError, find, policy_rules

    path = tmp_path / "zixir.toml"
    path.write_text('[policy]\nallow = "numpy"\n')
    with pytest.raises(ProjectFileError) as info:
        policy_rules(str(path))
    assert (info.value.filename, info.value.line) == (str(path), 2)
    path.write_text('[policy\nallow = []\n')
    with pytest.raises(ProjectFileError) as info:
        policy_rules(str(path))
    assert "not valid TOML" in info.value.message and info.value.line == 1
    path.write_text('[policy]\nallow = ["os; rm -rf"]\n')
    with pytest.raises(ProjectFileError):
        policy_rules(str(path))
    assert find(str(tmp_path / "a" / "b")) == str(path)
