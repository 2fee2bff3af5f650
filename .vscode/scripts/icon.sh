#!/usr/bin/env bash
# Renders images/icon.svg to images/icon.png (128x128, the size the marketplace and VS Code's
# extension view show) with a headless Chromium (Debian: apt-get install chromium).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
printf '<html><body style="margin:0;background:transparent">%s</body></html>' \
  "$(cat "$here/images/icon.svg")" > "$work/icon.html"
browser="$(command -v chromium || command -v chromium-browser || command -v google-chrome)"
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --force-device-scale-factor=1 \
  --default-background-color=00000000 --window-size=128,128 \
  --screenshot="$here/images/icon.png" "file://$work/icon.html" 2>/dev/null
echo "wrote $here/images/icon.png"
