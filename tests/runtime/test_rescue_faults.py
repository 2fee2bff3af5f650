"""Runtime faults rescued by Zixir code (LANGUAGE.md section 10), provoked for real through a
`Runtime`: each has its own `type` in the error map, and rescuing one hides nothing from the
runtime (stats count it, the breaker opens on it) because the router records a Python call's
failure before the error reaches the program."""

from __future__ import annotations

from conftest import make_runtime

from zixir.lang.errors import CircuitOpen, RaisedError

KIND = "fn kind(f) { try { f() } rescue e { e } }\n"


def test_python_error_policy_denied_and_worker_crashed_are_rescued_and_still_counted(no_leaks):
    rt = make_runtime(breaker_fail_max=3, breaker_reset_timeout=60, restart_intensity=10)
    try:
        results = rt.eval(KIND + """
[kind(() => python "math" "sqrt" (-1.0)),
 kind(() => python "os" "system" ("true")),
 kind(() => python "faultlib" "kill_self" ()),
 kind(() => python "faultlib" "kill_self" ()),
 kind(() => python "faultlib" "kill_self" ()),
 kind(() => python "faultlib" "echo" ("after three crashes"))]
""")
        python_error, denied, crash, _, _, circuit = results
        assert python_error["type"] == "PythonError"
        assert python_error["python_type"] == "ValueError"
        assert "math domain error" in python_error["message"]
        assert (python_error["line"], python_error["column"]) == (3, 13)
        assert python_error["call_chain"] == ["<top level> (line 3, column 2)",
                                              "kind (line 1, column 20)",
                                              "<lambda> (line 3, column 13)"]
        assert denied["type"] == "PolicyDenied" and "os.system" in denied["message"]
        assert "python_type" not in denied
        assert crash["type"] == "WorkerCrashed" and "SIGKILL" in crash["message"]
        assert circuit["type"] == "CircuitOpen"
        router = rt.stats()["router"]
        counts = router["counts"]
        assert counts["errors.PythonError"] == 1
        assert counts["refused.policy"] == 1
        assert counts["errors.WorkerCrashed"] == 3
        assert counts["errors.CircuitOpen"] == 1
        assert router["breakers"]["faultlib"]["state"] == "open"
        # the open breaker is seen by code that does not rescue too
        try:
            rt.eval('python "faultlib" "echo" (1)')
        except CircuitOpen as exc:
            assert exc.retry_after > 0
        else:
            raise AssertionError("the breaker should be open")
    finally:
        rt.close()


def test_call_timeout_is_rescued_and_retried_while_policy_denied_gives_up(no_leaks):
    rt = make_runtime(call_timeout=1.0, workers=1)
    try:
        program = """
fn call_with_retry(f, tries) {
  let attempts = 0
  while attempts < tries {
    attempts += 1
    try { return {value: f(), attempts: attempts} }
    rescue e if e.type == "CallTimeout" { continue }
    rescue e if e.type == "PolicyDenied" { return {gave_up: e.type, attempts: attempts} }
  }
  {gave_up: "too many timeouts", attempts: attempts}
}
[call_with_retry(() => python "faultlib" "spin" (), 2),
 call_with_retry(() => python "os" "getcwd" (), 5),
 call_with_retry(() => python "faultlib" "echo" ("ok"), 5)]
"""
        timed_out, denied, fine = rt.eval(program)
        assert timed_out == {"gave_up": "too many timeouts", "attempts": 2}
        assert denied == {"gave_up": "PolicyDenied", "attempts": 1}
        assert fine == {"value": "ok", "attempts": 1}
        error = rt.eval('try { python "faultlib" "spin" () } rescue e { e }')
        assert error["type"] == "CallTimeout" and "did not return within" in error["message"]
        assert rt.stats()["router"]["counts"]["errors.CallTimeout"] == 3
    finally:
        rt.close()


def test_an_uncaught_raise_reaches_the_host_with_its_type(no_leaks):
    rt = make_runtime(workers=1)
    try:
        try:
            rt.eval('fn f() { raise("Quota", "over: 3") }\nf()', filename="quota.zx")
        except RaisedError as exc:
            assert (exc.error_type, exc.detail) == ("Quota", "over: 3")
            assert (exc.line, exc.column) == (1, 10)
            assert [f.function for f in exc.call_chain] == ["<top level>", "f"]
        else:
            raise AssertionError("raise should have failed the program")
    finally:
        rt.close()
