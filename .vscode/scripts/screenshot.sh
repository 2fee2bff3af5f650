#!/usr/bin/env bash
# Renders docs/extension.png: scripts/screenshot.zx highlighted by the real grammar, with the
# diagnostics the language server publishes for it. Needs node_modules (npm ci), the project's
# .venv (tools/test.sh) and a headless Chromium (Debian: apt-get install chromium).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$root/.venv/bin/python" - "$here/screenshot.zx" > "$work/diagnostics.json" <<'PY'
import dataclasses, json, sys
from zixir.lsp.analysis import analyze
path = sys.argv[1]
with open(path, encoding="utf-8") as handle:
    analysis = analyze(handle.read(), path)
print(json.dumps([dataclasses.asdict(d) for d in analysis.diagnostics]))
PY
node "$here/render-screenshot.js" "$here/screenshot.zx" "$work/diagnostics.json" "$work/page.html"
browser="$(command -v chromium || command -v chromium-browser || command -v google-chrome)"
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --force-device-scale-factor=1 \
  --window-size=860,490 --screenshot="$root/docs/extension.png" "file://$work/page.html" 2>/dev/null
echo "wrote $root/docs/extension.png"
