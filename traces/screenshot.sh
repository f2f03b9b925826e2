#!/usr/bin/env bash
# Screenshot of the HTML report of a stored trace, taken with headless Chromium.
#
#   bash traces/screenshot.sh [TRACE] [OUT.png] [WIDTH]
#
# Defaults: traces/corpus/v5-unrevoke-after-reset.json -> docs/v5-report.png, 1400 px wide.
# The page is rendered with `revoke-check render --format html`; a first pass
# (--dump-dom) reads the page height the report's own check records, so the
# screenshot holds the whole page.  Needs the Debian package chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
trace=${1:-traces/corpus/v5-unrevoke-after-reset.json}
out=${2:-docs/v5-report.png}
width=${3:-1400}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
  echo "traces/screenshot.sh: chromium not found: apt-get install -y chromium (or run tests/run.sh)" >&2
  exit 2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
page="$tmp/report.html"
python3 -m revoke_check.cli render "$trace" --format html -o "$page"
flags=(--headless --no-sandbox --disable-gpu --disable-background-networking
       --disable-component-update --disable-sync --no-first-run --disable-extensions
       --hide-scrollbars "--user-data-dir=$tmp/profile")
height=$("$browser" "${flags[@]}" "--window-size=$width,1000" --dump-dom "file://$page" 2>/dev/null \
         | sed -n 's/.*data-page-height="\([0-9]*\)".*/\1/p' | head -1)
height=${height:-3000}
mkdir -p "$(dirname "$out")"
"$browser" "${flags[@]}" "--window-size=$width,$height" "--screenshot=$(realpath -m "$out")" \
  "file://$page" 2>/dev/null
echo "$out: ${width}x${height} screenshot of the report of $trace"
