#!/usr/bin/env bash
# The composite GitHub Action's start step, run here as a runner would run it (the install step
# needs the published npm package, so the binary is given instead): inputs in env, an output
# file, then the seed flow against the URL it outputs.
#
#   bash tests/dist/action.sh BINARY
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="$1"

work=$(mktemp -d)
cleanup() {
  pkill -f "$work/bin/masspay-sandbox" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/bin" "$work/runner"
cp "$bin" "$work/bin/masspay-sandbox"

# The step's script, with its ${{ … }} expressions already in env (as the step's `env:` puts them).
python3 - > "$work/start.sh" <<'PY'
import re
text = open("action.yml").read()
step = text[text.index("- name: Start masspay-sandbox"):]
block = re.search(r"run: \|\n((?:        .*\n|\n)+)", step).group(1)
print("\n".join(l[8:] for l in block.splitlines()))
PY
: > "$work/output"
env BIN="$work/bin/masspay-sandbox" RUNNER_TEMP="$work/runner" GITHUB_OUTPUT="$work/output" \
  MASSPAY_SANDBOX_PORT=0 MASSPAY_SANDBOX_HOST=127.0.0.1 MASSPAY_SANDBOX_SCENARIO= \
  MASSPAY_SANDBOX_SCENARIOS= MASSPAY_SANDBOX_FIXTURES= MASSPAY_SANDBOX_API_KEY= \
  MASSPAY_SANDBOX_SEED=42 MASSPAY_SANDBOX_START_TIME= MASSPAY_SANDBOX_WEBHOOK_URL= \
  EXTRA_ARGS="--log-format json" \
  bash "$work/start.sh"
url=$(sed -n 's/^url=//p' "$work/output")
[ -n "$url" ] || { echo "the action output no url" >&2; exit 1; }
python3 tests/dist/seed_flow.py "$url"
echo "action: started, output url=$url"
