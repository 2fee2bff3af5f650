"""zixir.toml (WORKLOADS.md section 1): every table and key, errors that name the file, the line
and column of the key, discovery like pyproject.toml, `--config`, `Runtime(config=...)`, and
the precedence command line > file > defaults, through `zixir run` and the Python API."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from zixir.project_file import (
    POLICY_FIELDS,
    POLICY_KEYS,
    RUNTIME_KEYS,
    ProjectFileError,
    combine,
    find,
    load,
    locate_keys,
)
from zixir.runtime.config import RuntimeConfig

ROOT = Path(__file__).resolve().parents[2]

HELPER = '''
import os, time

def nap(seconds):
    time.sleep(seconds)
    return os.getpid()
'''


def zixir(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zixir", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def error_of(tmp_path: Path, text: str) -> ProjectFileError:
    path = write(tmp_path / "zixir.toml", text)
    with pytest.raises(ProjectFileError) as info:
        load(str(path))
    assert info.value.filename == str(path)
    return info.value


# ---- every error names the line and column of the key ------------------------------------------

@pytest.mark.parametrize("text, line, column, message", [
    ("[runtime\n", 1, 9, "zixir.toml is not valid TOML: Expected ']' at the end of a table"),
    ("[runtime]\nworkers = \n", 2, 11, "zixir.toml is not valid TOML: Invalid value"),
    ("[runtime]\nworkers = 1\nworkers = 2\n", 3, 12,
     "zixir.toml is not valid TOML: Cannot overwrite"),
    ("[runtime]\nworkers = [\n", 2, 12, "zixir.toml is not valid TOML: Invalid value"),
    ("[runtim]\nworkers = 2\n", 1, 2, "unknown table [runtim] (known: runtime, policy, modules)"),
    ("title = \"x\"\n", 1, 1, "unknown table [title]"),
    ("[runtime]\n\n  workrs = 2\n", 3, 3, "unknown key 'workrs' in [runtime]; did you mean "
                                          "'workers'?"),
    ("[runtime]\nworkers = 0\n", 2, 1, "[runtime] workers: must be an integer of at least 1"),
    ("[runtime]\nworkers = true\n", 2, 1, "[runtime] workers: must be an integer"),
    ("[runtime]\ncall_timeout = \"30s\"\n", 2, 1,
     "[runtime] call_timeout: must be a number of seconds greater than 0"),
    ("[runtime]\nprewarm = 1\n", 2, 1, "[runtime] prewarm: must be true or false"),
    ("[runtime]\nrlimit_as = \"2XB\"\n", 2, 1, "[runtime] rlimit_as: must be a size in bytes"),
    ("[runtime]\nmemory_fraction = 1.5\n", 2, 1,
     "[runtime] memory_fraction: must be a number between 0 and 1"),
    ("[runtime]\nlog_level = \"loud\"\n", 2, 1, "[runtime] log_level: must be one of debug"),
    ("[runtime]\npreload = \"numpy\"\n", 2, 1, "[runtime] preload: must be a list of dotted"),
    ("[runtime]\nwrite_paths = \"/tmp\"\n", 2, 1, "[runtime] write_paths: must be a list of"),
    ("runtime.workers = -1\n", 1, 1, "[runtime] workers: must be an integer of at least 1"),
    ("runtime = { workers = 2, call_timeout = 0 }\n", 1, 26, "[runtime] call_timeout:"),
    ("[policy]\nallow = [\"ok\",\n  \"not ok\"]\n", 2, 1, "[policy] allow: must be a list"),
    ("[policy]\nallow_all = \"yes\"\n", 2, 1, "[policy] allow_all: must be true or false"),
    ("[policy]\nalow = []\n", 2, 1, "unknown key 'alow' in [policy]; did you mean 'allow'?"),
    ("[modules.llm]\nconcurrency = 0\n", 2, 1, "[modules.llm] concurrency: must be positive"),
    ("[modules.llm]\nrate = \"fast\"\n", 2, 1, "[modules.llm] rate: must be a rate such as"),
    ("[modules.llm]\nspeed = 1\n", 2, 1, "[modules.llm] speed: unknown key (known: concurrency"),
    ("[modules.llm]\nretries = { attempts = \"x\" }\n", 2, 13,
     "[modules.llm] retries.attempts: must be an integer"),
    ("[modules.llm]\nretries = { on = [\"a\"], backoff = \"linear\" }\n", 2, 25,
     "[modules.llm] retries.backoff: must be \"exponential\" or \"fixed\""),
    ("[modules.llm]\nbreaker = { failures = 3, bogus = 1 }\n", 2, 27,
     "[modules.llm] breaker.bogus: unknown key (known: failures, reset_after, on)"),
    ("[modules.llm]\nretries.on = [\"not a name\"]\n", 2, 1,
     "[modules.llm] retries.on: must be a list of exception type names"),
    ("[modules]\nllm = { breaker = { failures = 0 } }\n", 2, 21,
     "[modules.llm] breaker.failures: must be positive"),
    ("[modules.\"llm.complete\"]\ntimeout = -5\n", 2, 1,
     "[modules.\"llm.complete\"] timeout: must be positive"),
    ("[modules.llm.complete]\ntimeout = 5\n", 1, 2,
     "[modules.llm] complete: unknown key (known: concurrency, rate, timeout, wait_timeout, "
     "threads, retries, breaker) (settings of one function go in their own table: "
     "[modules.\"llm.complete\"])"),
    ("[modules.\"bad name!\"]\ntimeout = 5\n", 1, 2,
     "[modules.\"bad name!\"] must be a module or module.function name"),
    ("[modules]\nllm = 5\n", 2, 1, "[modules.llm] must be a table"),
    # strings that look like TOML do not confuse the search for the key
    ("[runtime]\nlog_file = \"\"\"\n[policy]\nworkers = {\n\"\"\"\n'quoted \"key\"' = 1\n",
     6, 1, "unknown key 'quoted \"key\"' in [runtime]"),
    ("[runtime] # a comment = 1\nworkers = 2 # ] [\n\"call_timeout\" = false\n", 3, 1,
     "[runtime] call_timeout: must be a number of seconds"),
])
def test_errors_name_the_key_line_and_column(tmp_path, text, line, column, message):
    err = error_of(tmp_path, text)
    assert err.message.startswith(message), err.message
    assert (err.line, err.column) == (line, column), err.message


def test_a_full_file_becomes_runtime_options(tmp_path):
    path = write(tmp_path / "proj" / "zixir.toml", """
[runtime]
workers = 3
call_timeout = 12.5
max_queue = 100
restart_intensity = "auto"
rlimit_as = "2GiB"
recycle_rss = "500MB"
rlimit_cpu = 20
confine_network = true
paths = ["lib", "/opt/tools"]
memory_path = "state/memory.sqlite3"
log_level = "info"
preload = []

[policy]
allow = ["mytools"]
deny = ["requests"]

[modules.llm]
concurrency = 256
rate = "50/s"
timeout = 60
wait_timeout = 120
threads = 0
retries = { attempts = 5, on = ["TimeoutError", "llm.RateLimited"], backoff = "exponential", max_wait = 30 }
breaker = { failures = 5, reset_after = 30, on = ["llm.ServiceDown"] }

[modules."llm.complete"]
timeout = 5
""")
    options = load(str(path)).options
    base = str(tmp_path / "proj")
    assert options["workers"] == 3 and options["call_timeout"] == 12.5
    assert options["restart_intensity"] is None  # "auto"
    assert options["rlimit_as"] == 2 * 2**30 and options["recycle_rss"] == 500 * 10**6
    assert options["paths"] == (os.path.join(base, "lib"), "/opt/tools")
    assert options["memory_path"] == os.path.join(base, "state", "memory.sqlite3")
    assert options["allow"] == ("mytools",) and options["deny"] == ("requests",)
    assert options["modules"]["llm"]["rate"] == [50.0, 1.0]
    assert options["modules"]["llm"]["retries"]["on"] == ["TimeoutError", "llm.RateLimited"]
    assert options["modules"]["llm.complete"] == {"timeout": 5.0}
    config = RuntimeConfig.from_options(**options)
    settings = config.module_policies().settings_for("llm", "complete")
    assert settings.timeout == 5.0 and settings.concurrency == 256
    assert settings.retries.attempts == 5 and settings.breaker.on == ("llm.ServiceDown",)


def test_every_key_is_a_runtime_option_and_documented_in_the_readme():
    fields = {f.name for f in dataclasses.fields(RuntimeConfig)}
    assert set(RUNTIME_KEYS) <= fields
    assert {POLICY_FIELDS.get(key, key) for key in POLICY_KEYS} <= fields
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("### zixir.toml"):]
    for key in [*RUNTIME_KEYS, *POLICY_KEYS, "concurrency", "rate", "timeout", "wait_timeout",
                "threads", "retries", "breaker", "attempts", "backoff", "max_wait", "initial",
                "failures", "reset_after"]:
        assert re.search(rf"\| `{key}`", table), key


def test_locating_keys_of_a_valid_file():
    text = ('a = 1\n[t]\nb.c = { d = [1, {e = 2}], "f.g" = 3 }\n'
            "[[arr]]\nx = 1\n[[arr]]\nx = 2\n")
    found = locate_keys(text)
    assert found[("a",)][:2] == (1, 1)
    assert found[("t", "b", "c", "d")] == (3, 9, 10)
    assert found[("t", "b", "c", "d", 1, "e")][:2] == (3, 18)
    assert found[("t", "b", "c", "f.g")] == (3, 27, 32)
    assert found[("arr", 1, "x")][:2] == (7, 1)


def test_options_combine_explicit_over_file_over_defaults(tmp_path):
    path = write(tmp_path / "zixir.toml", '[runtime]\nworkers = 3\ncall_timeout = 9\n'
                                          '[policy]\nallow = ["a"]\n'
                                          '[modules.llm]\ntimeout = 5\nconcurrency = 2\n')
    found = load(str(path))
    options = combine(found, {"workers": 1, "call_timeout": None, "allow": ["b"],
                              "modules": {"llm": {"timeout": 7}, "db": {"concurrency": 1}}})
    assert options["workers"] == 1 and options["call_timeout"] == 9.0
    assert options["allow"] == ("a", "b")
    assert options["modules"] == {"llm": {"timeout": 7, "concurrency": 2},
                                  "db": {"concurrency": 1}}
    assert combine(None, {"workers": None}) == {}


def test_the_python_api_reads_the_file_and_keywords_win(tmp_path, no_leaks):
    from zixir import Runtime

    write(tmp_path / "tasklib.py", HELPER)
    path = write(tmp_path / "zixir.toml", f'[runtime]\nworkers = 2\ncall_timeout = 0.5\n'
                                          f'paths = ["{tmp_path}"]\n'
                                          '[modules.tasklib]\nconcurrency = 3\n')
    with Runtime(config=str(path), workers=1, modules={"tasklib": {"timeout": 9}}) as rt:
        assert rt.config.workers == 1 and rt.config.call_timeout == 0.5
        assert rt.config.modules == {"tasklib": {"concurrency": 3, "timeout": 9.0}}
        assert rt.eval('python "tasklib" "nap" (0)') in rt.pids()["workers"]
    with pytest.raises(ProjectFileError):
        Runtime(config=str(write(tmp_path / "bad.toml", "[runtime]\nworkers = 0\n")))
    with Runtime(config=RuntimeConfig(workers=1), modules={"m": {"rate": "5/s"}}) as rt:
        assert rt.config.modules == {"m": {"rate": [5.0, 1.0]}}


# ---- through the command line ------------------------------------------------------------------

def test_zixir_run_prints_the_error_at_the_key_and_exits_2(tmp_path):
    write(tmp_path / "zixir.toml", '[modules.llm]\nretries = { attempts = "x" }\n')
    program = write(tmp_path / "app" / "main.zx", "println(1)\n")
    out = zixir("run", str(program), cwd=tmp_path)
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.splitlines()
    assert lines[0] == (f"{tmp_path / 'zixir.toml'}:2:13: error: [modules.llm] "
                        "retries.attempts: must be an integer")
    assert lines[1].strip() == 'retries = { attempts = "x" }'
    assert lines[2].strip() == "^^^^^^^^"
    write(tmp_path / "zixir.toml", "[runtime]\nworkers = [\n")
    out = zixir("run", str(program), cwd=tmp_path)
    assert out.returncode == 2
    assert f"{tmp_path / 'zixir.toml'}:2:12: error: zixir.toml is not valid TOML" in out.stderr
    # zixir check validates the file zixir run would use
    out = zixir("check", str(program), cwd=tmp_path)
    assert out.returncode == 2 and "zixir.toml:2:12: error" in out.stderr
    write(tmp_path / "zixir.toml", "[runtime]\nworkers = 1\n")
    out = zixir("check", "-q", str(program), cwd=tmp_path)
    assert out.returncode == 0 and out.stderr == ""


def test_discovery_config_flag_and_precedence_through_zixir_run(tmp_path):
    write(tmp_path / "tasklib.py", HELPER)
    write(tmp_path / "zixir.toml", "[runtime]\nworkers = 3\ncall_timeout = 0.5\n"
                                   'memory_path = "data/mem.sqlite3"\n')
    program = write(tmp_path / "main.zx", """
let pids = pmap(0..6, i => python "tasklib" "nap" (0.3))
memory.put("seen", len(pids))
let slow = try { python "tasklib" "nap" (1.0); "finished" } rescue e { e.type }
println(json([len(unique(pids)), slow]))
""".replace("json(", "str(").replace("unique(pids)", "reduce(pids, (acc, p) => "
            "if contains(acc, p) { acc } else { append(acc, p) }, [])"))
    # found in the script's directory: 3 workers, a 0.5 s call timeout, memory_path relative
    out = zixir("run", str(program), cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [3, "CallTimeout"]
    assert (tmp_path / "data" / "mem.sqlite3").exists()
    # the command line wins over the file
    out = zixir("run", str(program), "--workers", "1", "--timeout", "5", cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [1, "finished"]
    # --config names another file (nothing is looked up then)
    other = write(tmp_path / "conf" / "ci.toml", "[runtime]\nworkers = 2\ncall_timeout = 5\n")
    out = zixir("run", str(program), "--config", str(other), cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [2, "finished"]
    out = zixir("run", str(program), "--config", str(tmp_path / "missing.toml"), cwd=ROOT)
    assert out.returncode == 2 and "--config: no such file" in out.stderr
    # found in a parent directory
    nested = write(tmp_path / "a" / "b" / "main.zx", program.read_text())
    write(tmp_path / "a" / "b" / "tasklib.py", HELPER)
    assert find(str(nested.parent)) == str(tmp_path / "zixir.toml")
    out = zixir("run", str(nested), cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [3, "CallTimeout"]


def test_repl_and_workflow_commands_use_the_file_of_the_current_directory(tmp_path):
    write(tmp_path / "zixir.toml", '[runtime]\nmemory_path = "store.sqlite3"\n')
    out = subprocess.run([sys.executable, "-m", "zixir", "repl"], cwd=tmp_path, text=True,
                         input='memory.put("k", 41)\nmemory.get("k") + 1\n',
                         capture_output=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "42" in out.stdout
    assert (tmp_path / "store.sqlite3").exists()
    # `zixir workflow` opens the same store: no "no memory store" error
    listed = zixir("workflow", "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "no memory store" not in listed.stdout
    write(tmp_path / "zixir.toml", '[runtime]\nmemory_path = 5\n')
    for command in (["repl"], ["workflow", "list"]):
        out = subprocess.run([sys.executable, "-m", "zixir", *command], cwd=tmp_path, text=True,
                             input="", capture_output=True, timeout=120)
        assert out.returncode == 2, (command, out.stderr)
        assert out.stderr.startswith(f"{tmp_path / 'zixir.toml'}:2:1: error: [runtime] "
                                     "memory_path: must be a path"), out.stderr
    out = subprocess.run([sys.executable, "-m", "zixir", "repl", "--config",
                          str(write(tmp_path / "ok.toml", "[runtime]\nworkers = 1\n"))],
                         cwd=tmp_path, text=True, input="1 + 1\n", capture_output=True,
                         timeout=120)
    assert out.returncode == 0 and "2" in out.stdout, out.stderr


def test_memory_path_takes_a_postgresql_url_as_written(tmp_path):
    url = "postgresql://app@db.example:5432/state?options=-csearch_path%3Dapp"
    found = load(str(write(tmp_path / "zixir.toml", f'[runtime]\nmemory_path = "{url}"\n')))
    assert found.options["memory_path"] == url  # not joined to the file's directory
    short = load(str(write(tmp_path / "zixir.toml", '[runtime]\nmemory_path = "postgres://h/d"\n')))
    assert short.options["memory_path"] == "postgres://h/d"
