#!/usr/bin/env bash
# One command from a fresh clone to a green test suite: creates .venv, installs zixir (building
# the native engine) with its test and zig extras, builds and packages the VS Code extension,
# runs ruff and the whole pytest suite. Extra arguments go to pytest.
# ZIXIR_TEST_PHASE=setup stops after the installs, =test skips them (.ci/run uses both to install
# code-server meanwhile); the default does both.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
phase=${ZIXIR_TEST_PHASE:-all}
if [ "$phase" != test ]; then
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[test,zig]'
  if [ -f .vscode/package.json ]; then
    (cd .vscode && npm ci --no-audit --no-fund --loglevel=error && npm run --silent ci)
  fi
fi
[ "$phase" != setup ] || exit 0
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
