#!/usr/bin/env bash
# One command from a fresh clone to a green test suite: installs the missing system tools
# (tools/system-deps.sh), code-server for the real-VS-Code test (tools/install-code-server.sh,
# cached under ~/.cache/zixir, in the background meanwhile), creates .venv, installs zixir
# (building the native engine) with its test and zig extras, builds and packages the VS Code
# extension, runs ruff and the whole pytest suite; then its interpreter-dependent part again on
# Python 3.13 in .venv313 when a pyenv build of it exists (skipped, saying so, where it does not).
# Extra arguments go to pytest. ZIXIR_TEST_PHASE=setup stops after the installs, =test skips
# them; the default does both.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
phase=${ZIXIR_TEST_PHASE:-all}
PY313=$(ls -d "$HOME"/.pyenv/versions/3.13.*/bin/python 2>/dev/null | sort -V | tail -n 1 || true)
if [ "$phase" != test ]; then
  bash tools/system-deps.sh
  log=$(mktemp)
  setsid bash tools/install-code-server.sh > "$log" 2>&1 &
  installer=$!
  trap 'kill -- -"$installer" 2>/dev/null || true; rm -f "$log"' EXIT
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[test,zig,dashboard]'
  if [ -n "$PY313" ]; then
    [ -x .venv313/bin/python ] || "$PY313" -m venv .venv313
    .venv313/bin/python -m pip install -q --upgrade pip
    .venv313/bin/python -m pip install -q -e '.[test,zig,dashboard]'
  fi
  (cd .vscode && npm ci --no-audit --no-fund --loglevel=error && npm run --silent ci)
  if ! wait "$installer"; then
    cat "$log"
    echo "tools/install-code-server.sh failed" >&2
    exit 1
  fi
  cat "$log"
  trap - EXIT
  rm -f "$log"
fi
[ "$phase" != setup ] || exit 0
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
if [ -n "$PY313" ]; then
  echo "== the interpreter-dependent part of the suite again on $("$PY313" --version)"
  # What depends most on the interpreter: the generated code, the checker and the fast paths
  # (lang, which also runs programs end to end), the cffi engine, and the debugger's tracing.
  # The rest drives processes, servers and external clients the same way on any interpreter
  # and ran above; before a release, run the whole suite on 3.13 too.
  .venv313/bin/python -m pytest tests/lang tests/engine tests/debug "$@"
else
  echo "== Python 3.13 suite skipped: no ~/.pyenv/versions/3.13.*/bin/python on this machine"
fi
