#!/usr/bin/env bash
# Contract test: MassPay's official JavaScript SDK (masspay-js-sdk 2.0.0, pinned in
# package-lock.json) against masspay-sandbox. Works from a fresh clone: needs Node.js >= 20 with
# npm, and a Rust toolchain unless SANDBOX_BIN names a built sandbox. Exits non-zero on failure.
#
#   bash tests/sdk/run.sh            # from anywhere
#   SANDBOX_BIN=path/to/masspay-sandbox bash tests/sdk/run.sh
#   SDK_TODO=TaxService.getTaxUsers,… bash tests/sdk/run.sh   # those tests run as TODO (reported, not failing)
#   SDK_REPORT=/tmp/sdk-report.json bash tests/sdk/run.sh      # also write the per-operation summary
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

command -v node >/dev/null || { echo "run.sh: node (>= 20) is required" >&2; exit 1; }
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
  echo "run.sh: Node.js >= 20 is required (node:test), found $(node --version)" >&2
  exit 1
fi

# The SDK, exactly as locked (no global installs; node_modules stays in this directory).
(cd "$here" && npm ci --no-audit --no-fund --loglevel=error)

# The sandbox: SANDBOX_BIN if given, else the release binary, built when missing or older than
# the sources it is built from (a stale binary would test yesterday's sandbox).
if [ -z "${SANDBOX_BIN:-}" ]; then
  bin="$root/target/release/masspay-sandbox"
  if [ ! -x "$bin" ] || [ -n "$(find "$root/src" "$root/fixtures" "$root/scenarios" "$root/Cargo.toml" "$root/Cargo.lock" \
        -newer "$bin" -print -quit 2>/dev/null)" ]; then
    (cd "$root" && cargo build --release --locked)
  fi
  export SANDBOX_BIN="$bin"
fi

cd "$here"
exec node --test --test-reporter=spec sdk.test.mjs
