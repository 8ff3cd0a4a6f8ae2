#!/usr/bin/env bash
# The PyPI channel as its users get it: the maturin `bin` wheel (the static binary, so
# manylinux2014), installed from the file into a fresh venv on a PATH without cargo; then
# `masspay-sandbox` from the venv runs MassPay's seed flow (Python stdlib), the wheel's pytest
# fixture runs a test, and `pipx run` starts it from the wheel. Prints the wheel's size and the
# time from `pip install` to the first /health 200.
#
#   bash tests/dist/wheel.sh            (builds the wheel; the static build's artifacts are reused)
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD

work=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

python3 -m venv "$work/build"
"$work/build/bin/pip" install -q "maturin>=1.5,<2" pipx
# PGO_PROFILE (set by .ci/run): built profile-guided like the release's Linux wheels.
RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static${PGO_PROFILE:+ -Cprofile-use=$PGO_PROFILE}" \
  "$work/build/bin/maturin" build --profile dist --locked --target x86_64-unknown-linux-gnu \
  --compatibility manylinux2014 --out "$work/wheels"
wheel=$(ls "$work"/wheels/masspay_sandbox-*-manylinux*.whl)
wheel_kb=$(( $(stat -c %s "$wheel") / 1024 ))
echo "== wheel: $(basename "$wheel")"

# A user's machine: Python, no Rust.
py_dir=$(dirname "$(command -v python3)")
clean_path="$py_dir:/usr/bin:/bin"
if PATH="$clean_path" command -v cargo >/dev/null 2>&1; then
  echo "cargo is on the clean PATH ($clean_path)" >&2; exit 1
fi
PATH="$clean_path" python3 -m venv "$work/user"
PATH="$clean_path" "$work/user/bin/pip" install -q pytest   # the user's own test tool
started=$(date +%s%N)
PATH="$clean_path" "$work/user/bin/pip" install -q --no-index "$wheel"
PATH="$work/user/bin:$clean_path" masspay-sandbox --port 0 > "$work/out" 2> "$work/err" &
pid=$!
base=""
for _ in $(seq 200); do
  base=$(sed -n 's/^listening on //p' "$work/out" | head -1)
  [ -n "$base" ] && break
  sleep 0.02
done
[ -n "$base" ] || { echo "masspay-sandbox from the wheel did not start" >&2; cat "$work/err" >&2; exit 1; }
until python3 -c "import urllib.request; urllib.request.urlopen('$base/health', timeout=1)" 2>/dev/null; do sleep 0.01; done
ready_ms=$(( ($(date +%s%N) - started) / 1000000 ))
python3 tests/dist/seed_flow.py "$base"
kill -TERM "$pid"
wait "$pid" || { echo "masspay-sandbox did not exit 0 on SIGTERM" >&2; exit 1; }
pid=""

# The pytest plugin (registered by the wheel's entry point).
(cd tests/dist/pytest_plugin && PATH="$work/user/bin:$clean_path" pytest -q -p no:cacheprovider test_fixture.py)

# pipx run, from the wheel file.
version=$(PIPX_HOME="$work/pipx" PIPX_BIN_DIR="$work/pipx/bin" PATH="$clean_path" \
  "$work/build/bin/pipx" run --spec "$wheel" masspay-sandbox --version)
echo "== pipx run --spec $(basename "$wheel") masspay-sandbox --version: $version"
cd "$repo"
echo "pip/pipx: wheel ${wheel_kb} KB, install→health ${ready_ms} ms"
