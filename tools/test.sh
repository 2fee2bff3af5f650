#!/usr/bin/env bash
# One command from a fresh clone to a green test suite: creates .venv, installs zixir (building
# the native engine) with its test and zig extras, builds and packages the VS Code extension,
# runs ruff and the whole pytest suite; then the suite again on Python 3.13 in .venv313 when a
# pyenv build of it exists (skipped, saying so, where it does not). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test,zig]'
if [ -f .vscode/package.json ]; then
  (cd .vscode && npm ci --no-audit --no-fund --loglevel=error && npm run --silent ci)
fi
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
PY313=$(ls -d "$HOME"/.pyenv/versions/3.13.*/bin/python 2>/dev/null | sort -V | tail -n 1 || true)
if [ -n "$PY313" ]; then
  echo "== the suite again on $("$PY313" --version)"
  [ -x .venv313/bin/python ] || "$PY313" -m venv .venv313
  .venv313/bin/python -m pip install -q --upgrade pip
  .venv313/bin/python -m pip install -q -e '.[test,zig]'
  .venv313/bin/python -m pytest "$@"
else
  echo "== Python 3.13 suite skipped: no ~/.pyenv/versions/3.13.*/bin/python on this machine"
fi
