#!/usr/bin/env bash
# Schema-driven test: schemathesis (pinned) generates requests for every operation of the
# sandbox's own GET /openapi.json and checks that nothing answers 5xx and that every answer
# matches the document (schema, status code, content type). Bounded: a few examples per
# operation, a fixed seed. Works from a fresh clone: needs Python 3 (venv, pip) and a Rust
# toolchain unless SANDBOX_BIN names a built sandbox. Exits non-zero on failure.
#
#   bash tests/schema/run.sh
#   EXAMPLES=50 bash tests/schema/run.sh      # more cases per operation
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$root/target/schemathesis-venv"
version="4.32.5"

if [ ! -x "$venv/bin/schemathesis" ] || ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$version"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
fi

bin="${SANDBOX_BIN:-$root/target/release/masspay-sandbox}"
if [ -z "${SANDBOX_BIN:-}" ]; then
  (cd "$root" && cargo build --release --locked)
fi

log="$(mktemp)"
"$bin" --port 0 >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 100); do
  grep -q "listening on" "$log" && break
  sleep 0.05
done
base="$(sed -n 's/^listening on //p' "$log" | head -n 1)"
[ -n "$base" ] || { echo "run.sh: the sandbox did not start:" >&2; cat "$log" >&2; exit 1; }

cd "$here"
"$venv/bin/schemathesis" run "$base/openapi.json" \
  --header "Authorization: Bearer schemathesis" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
  --phases coverage,fuzzing \
  --max-examples "${EXAMPLES:-10}" \
  --seed 20261125 \
  --workers 2 \
  --no-color
