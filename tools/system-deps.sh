#!/usr/bin/env bash
# Installs, through apt-get, the system tools the test suite needs and a fresh Debian image
# lacks: a C/C++ toolchain (the engine, the in-place update helper), Node.js + npm (the
# extension), and for the test in a real VS Code: Chromium (driven by playwright), ripgrep and
# libkrb5-dev (code-server's npm install needs both), and PostgreSQL (the tests of the memory
# store on PostgreSQL start their own server with its initdb). Installs only what is missing.
set -euo pipefail
need=()
command -v python3 >/dev/null || need+=(python3 python3-venv python3-dev)
{ command -v gcc && command -v g++ && command -v make; } >/dev/null || need+=(build-essential)
command -v npm >/dev/null || need+=(nodejs npm)
command -v chromium >/dev/null || need+=(chromium fonts-liberation)
command -v rg >/dev/null || need+=(ripgrep)
dpkg -s libkrb5-dev >/dev/null 2>&1 || need+=(libkrb5-dev)
# Debian keeps initdb and pg_ctl in /usr/lib/postgresql/VERSION/bin, off the PATH
{ command -v initdb || ls /usr/lib/postgresql/*/bin/initdb; } >/dev/null 2>&1 || need+=(postgresql)
[ ${#need[@]} -gt 0 ] || exit 0
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
start=$(date +%s)
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
echo "apt-get install ${need[*]}: $(( $(date +%s) - start )) s"
