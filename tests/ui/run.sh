#!/usr/bin/env bash
# Browser test of the dashboard (/_sandbox/ui, issue 15): headless Chromium from Debian's
# `chromium` package, driven by puppeteer-core (pinned in package-lock.json; it downloads no
# browser). Starts the sandbox with `--port 0 --api-key …`, reads its address from the
# `listening on` line and the dashboard's from the line after it, runs ui.test.mjs, stops it.
# Screenshots of every view land in target/ui-screenshots/ (not committed).
#
#   bash tests/ui/run.sh                                  # builds the debug binary if needed
#   SANDBOX_BIN=target/release/masspay-sandbox bash tests/ui/run.sh
#   CHROMIUM=/path/to/chromium bash tests/ui/run.sh
#   UI_BROWSER=firefox bash tests/ui/run.sh               # the same steps in Firefox (FIREFOX=path)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

command -v node >/dev/null || { echo "run.sh: node (>= 20) is required" >&2; exit 1; }

export SCREENSHOTS="$root/target/ui-screenshots"
if [ "${UI_BROWSER:-chromium}" = firefox ]; then
  # The same steps in Firefox (puppeteer-core speaks WebDriver BiDi to it); not run by CI.
  FIREFOX="${FIREFOX:-$(command -v firefox || command -v firefox-esr || true)}"
  [ -n "$FIREFOX" ] || { echo "run.sh: UI_BROWSER=firefox needs firefox (apt-get install firefox-esr), or set FIREFOX" >&2; exit 1; }
  export FIREFOX
  SCREENSHOTS="$SCREENSHOTS/firefox"
else
  # Chromium: Debian's package, installed when missing and we may (CI runs as root).
  chromium="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}"
  if [ -z "$chromium" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null
      chromium="$(command -v chromium)"
    else
      echo "run.sh: chromium is not installed (apt-get install chromium), or set CHROMIUM" >&2
      exit 1
    fi
  fi
  export CHROMIUM="$chromium"
fi

(cd "$here" && npm ci --no-audit --no-fund --loglevel=error)

if [ -z "${SANDBOX_BIN:-}" ]; then
  (cd "$root" && cargo build --locked --quiet)
  SANDBOX_BIN="$root/target/debug/masspay-sandbox"
fi

work="$(mktemp -d)"
pid=""
# shellcheck disable=SC2317  # run by the trap
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

export UI_API_KEY="ui-test-key-$$"
env -u MASSPAY_SANDBOX_PORT -u MASSPAY_SANDBOX_SCENARIO -u MASSPAY_SANDBOX_API_KEY \
  "$SANDBOX_BIN" --port 0 --api-key "$UI_API_KEY" >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 1 100); do
  [ "$(wc -l <"$work/out")" -ge 2 ] && break
  kill -0 "$pid" 2>/dev/null || { echo "run.sh: the sandbox exited:" >&2; cat "$work/err" >&2; exit 1; }
  sleep 0.1
done
SANDBOX_URL="$(sed -n '1s/^listening on //p' "$work/out")"
DASHBOARD_URL="$(sed -n '2s/^dashboard  //p' "$work/out")"
[ -n "$SANDBOX_URL" ] || { echo "run.sh: no 'listening on' line first:" >&2; cat "$work/out" "$work/err" >&2; exit 1; }
export SANDBOX_URL DASHBOARD_URL
mkdir -p "$SCREENSHOTS"

cd "$here"
status=0
node --test --test-reporter=spec ui.test.mjs || status=$?
if [ -s "$work/err" ]; then
  echo "--- the sandbox's stderr:"
  cat "$work/err"
fi
exit "$status"
