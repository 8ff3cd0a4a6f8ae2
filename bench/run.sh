#!/usr/bin/env bash
# The in-tree benchmark (SPEC §8): masspay-sandbox against a bare axum server answering the same
# routes with fixed JSON (bench/baseline), back to back on this machine, loopback only.
#
#   bench/run.sh                 full run: 3 rounds × 10 s wrk runs, 10^6 stored payouts (< 10 min)
#   QUICK=1 bench/run.sh         CI smoke: 1 round, 2 s runs, 10^4 payouts; never judges timings
#
# Knobs (environment): ROUNDS (3), DURATION seconds per wrk run (10), STARTS per round (10),
# CONNECTIONS (32), THREADS (2), PAYOUTS (1000000), WARMUP seconds (1), STRICT=1 (exit 1 when a
# SPEC §8 bar is not met), QUIET_WAIT (180 s, QUICK 0: budget for waiting until other processes
# use < QUIET_PCT=10 % of a CPU before each phase), RESULTS_DIR (bench/results; QUICK:
# bench/work), SKIP_BUILD=1,
# REF=<commit> (measure that commit: exported with `git archive` into bench/work/tree and built
# there into bench/target/sandbox, untouched by uncommitted edits in the work tree).
# Results: bench/results/YYYY-MM-DD-HHMM.md and bench/results/latest.md, also printed.
# Fails (exit 1) on any error under load: a non-2xx answer, a socket error, a crash.
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$BENCH")"
say() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# 1. Tools: wrk (Debian package) and python3.
if ! command -v wrk >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    say "installing wrk"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
  elif command -v sudo >/dev/null 2>&1; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
  else
    echo "bench: wrk is missing and this user cannot install it (apt-get install wrk)" >&2
    exit 1
  fi
fi
command -v python3 >/dev/null || { echo "bench: python3 is required" >&2; exit 1; }

# 2. Release builds: the sandbox in the repo's target/ (REF: in bench/target/sandbox), the baseline
#    in bench/target/.
if [ -n "${REF:-}" ]; then
  BENCH_COMMIT="$(git -C "$REPO" rev-parse --verify "${REF}^{commit}")"
  export BENCH_COMMIT
  export SANDBOX_BIN="$BENCH/target/sandbox/release/masspay-sandbox"
fi
if [ -z "${SKIP_BUILD:-}" ]; then
  if [ -n "${REF:-}" ]; then
    say "cargo build --release (sandbox at $BENCH_COMMIT)"
    rm -rf "$BENCH/work/tree" && mkdir -p "$BENCH/work/tree"
    git -C "$REPO" archive "$BENCH_COMMIT" | tar -x -C "$BENCH/work/tree"
    (cd "$BENCH/work/tree" && cargo build --release --quiet --bin masspay-sandbox \
      --target-dir "$BENCH/target/sandbox")
  else
    say "cargo build --release (sandbox)"
    (cd "$REPO" && cargo build --release --quiet --bin masspay-sandbox)
  fi
  say "cargo build --release (baseline)"
  (cd "$BENCH/baseline" && cargo build --release --quiet --target-dir "$BENCH/target")
fi

# 3. Measure and report.
exec python3 "$BENCH/bench.py"
