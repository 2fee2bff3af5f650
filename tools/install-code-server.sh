#!/usr/bin/env bash
# Installs code-server (VS Code in a browser) from npm for the end-to-end test of the extension
# (tests/extension/test_vscode_e2e.py), into a cache directory keyed by its version:
#
#   ~/.cache/zixir/code-server-<version>/node_modules/.bin/code-server
#
# A second run is a no-op. Needs Node 20 + npm, a C++ toolchain, libkrb5-dev (code-server builds
# the `kerberos` native module) and ripgrep (Debian's `ripgrep`; .ci/run installs them).
#
# code-server's postinstall installs VS Code's own dependencies, among them @vscode/ripgrep,
# whose postinstall downloads an `rg` release archive from GitHub. Only the package registries
# are reachable here, so this script builds that archive from the system's `rg` and puts it
# where @vscode/ripgrep looks before downloading: <os.tmpdir()>/vscode-ripgrep-cache-<pkg
# version>/ripgrep-<rg release>-<target>.tar.gz (TMPDIR is pointed at a private directory).
set -euo pipefail

VERSION=${CODE_SERVER_VERSION:-4.100.3}
# What code-server $VERSION pins (lib/vscode/npm-shrinkwrap.json) and what that pins in turn.
RIPGREP_PKG=1.15.11
RIPGREP_RELEASE=v13.0.0-10
CACHE=${ZIXIR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/zixir}
DEST="$CACHE/code-server-$VERSION"
BIN="$DEST/node_modules/.bin/code-server"

if [ -x "$BIN" ] && [ -f "$DEST/.complete" ]; then
  echo "code-server $VERSION is already installed: $BIN"
  exit 0
fi

for tool in node npm rg tar; do
  command -v "$tool" >/dev/null || { echo "install-code-server: $tool is missing" >&2; exit 1; }
done
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" = 20 ] || { echo "install-code-server: code-server $VERSION needs Node 20, found $(node --version)" >&2; exit 1; }

case "$(uname -m)" in
  x86_64) target=x86_64-unknown-linux-musl ;;
  aarch64) target=aarch64-unknown-linux-musl ;;
  *) echo "install-code-server: unsupported machine $(uname -m)" >&2; exit 1 ;;
esac

start=$(date +%s)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tmp/vscode-ripgrep-cache-$RIPGREP_PKG" "$work/rg"
cp "$(command -v rg)" "$work/rg/rg"
tar -czf "$work/tmp/vscode-ripgrep-cache-$RIPGREP_PKG/ripgrep-$RIPGREP_RELEASE-$target.tar.gz" -C "$work/rg" rg

rm -rf "$DEST"
mkdir -p "$DEST"
# node-gyp downloads Node's headers unless it is told where installed ones are (an environment
# variable, so that the nested `npm install`s of code-server's postinstall see it too).
for prefix in "$(dirname "$(dirname "$(command -v node)")")" /usr /usr/local; do
  if [ -f "$prefix/include/node/common.gypi" ]; then export npm_config_nodedir="$prefix"; break; fi
done
(
  cd "$DEST"
  export TMPDIR="$work/tmp"
  export npm_config_unsafe_perm=true npm_config_yes=true
  export npm_config_cache="$CACHE/npm"
  npm install --no-audit --no-fund --loglevel=error "code-server@$VERSION"
)
"$BIN" --version >/dev/null
touch "$DEST/.complete"
echo "code-server $VERSION installed in $(( $(date +%s) - start )) s: $BIN"
