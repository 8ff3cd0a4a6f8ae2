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
# there into bench/target/sandbox, untouched by uncommitted edits in the work tree),
# PROFILE (cargo profile of both servers: `dist` by default, what every shipped binary is built
# with; `release` is the quick build, and QUICK=1's default).
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

# 2. Builds, both servers with the same cargo profile: the sandbox in the repo's target/ (REF: in
#    bench/target/sandbox), the baseline in bench/target/.
PROFILE="${PROFILE:-$([ -n "${QUICK:-}" ] && echo release || echo dist)}"
if [ -n "${REF:-}" ]; then
  BENCH_COMMIT="$(git -C "$REPO" rev-parse --verify "${REF}^{commit}")"
  export BENCH_COMMIT
  rm -rf "$BENCH/work/tree" && mkdir -p "$BENCH/work/tree"
  git -C "$REPO" archive "$BENCH_COMMIT" | tar -x -C "$BENCH/work/tree"
  TREE="$BENCH/work/tree"
else
  TREE="$REPO"
fi
# A commit from before the dist profile existed: both build with release (the results say so).
if ! grep -q "^\[profile\.$PROFILE\]" "$TREE/Cargo.toml" && [ "$PROFILE" != release ]; then
  say "$TREE/Cargo.toml has no [profile.$PROFILE]: both servers build with release"
  PROFILE=release
fi
export BENCH_PROFILE="$PROFILE"
if [ -n "${REF:-}" ]; then
  export SANDBOX_BIN="$BENCH/target/sandbox/$PROFILE/masspay-sandbox"
else
  export SANDBOX_BIN="${SANDBOX_BIN:-$REPO/target/$PROFILE/masspay-sandbox}"
fi
export BASELINE_BIN="${BASELINE_BIN:-$BENCH/target/$PROFILE/masspay-baseline}"
if [ -z "${SKIP_BUILD:-}" ]; then
  if [ -n "${REF:-}" ]; then
    say "cargo build --profile $PROFILE (sandbox at $BENCH_COMMIT)"
    (cd "$BENCH/work/tree" && cargo build --profile "$PROFILE" --quiet \
      --bin masspay-sandbox --target-dir "$BENCH/target/sandbox")
  else
    say "cargo build --profile $PROFILE (sandbox)"
    (cd "$REPO" && cargo build --profile "$PROFILE" --quiet --bin masspay-sandbox)
  fi
  say "cargo build --profile $PROFILE (baseline)"
  (cd "$BENCH/baseline" && cargo build --profile "$PROFILE" --quiet --target-dir "$BENCH/target")
fi

# 3. Measure and report.
exec python3 "$BENCH/bench.py"
