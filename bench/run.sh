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
# with; `release` is the quick build, and QUICK=1's default), PGO (1 by default with `dist`: both
# servers profile-guided, as the Linux binaries ship; PGO=0 plain `dist`; PGO_BASELINE=0 the
# profile-guided sandbox against the plain baseline).
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
# PGO=1 (the default with the dist profile, as the Linux binaries ship): both servers are built
# profile-guided, each trained by packaging/pgo/train.py's same requests (packaging/pgo/profile.sh),
# into target dirs of their own (pgo-use/) so the plain builds stay as they are.
PGO="${PGO:-$([ "$PROFILE" = dist ] && [ -z "${QUICK:-}" ] && echo 1 || echo 0)}"
[ "$PGO" = 1 ] && [ "$PROFILE" != dist ] && { echo "bench: PGO=1 needs PROFILE=dist" >&2; exit 1; }
# PGO_BASELINE=0 with PGO=1: the profile-guided sandbox (as shipped) against the plain dist
# baseline, the comparison before profile-guided builds.
PGO_BASELINE="${PGO_BASELINE:-$PGO}"
export BENCH_PGO="$PGO" BENCH_PGO_BASELINE="$PGO_BASELINE"
if [ "$PGO" = 1 ]; then
  if [ -n "${REF:-}" ]; then
    export SANDBOX_BIN="$BENCH/target/sandbox/pgo-use/dist/masspay-sandbox"
  else
    export SANDBOX_BIN="$REPO/target/pgo-use/dist/masspay-sandbox"
  fi
fi
if [ "$PGO_BASELINE" = 1 ]; then
  export BASELINE_BIN="$BENCH/target/pgo-use/dist/masspay-baseline"
fi
# build DIR TARGET_DIR BIN PGO: `cargo build --profile $PROFILE`, profile-guided when PGO is 1.
build() {
  local dir="$1" target_dir="$2" bin="$3" pgo="$4" flags="${RUSTFLAGS:-}"
  if [ "$pgo" = 1 ]; then
    local profile
    profile="$(bash "$REPO/packaging/pgo/profile.sh" --manifest-path "$dir/Cargo.toml" --bin "$bin" | tail -n 1)"
    flags="$flags -Cprofile-use=$profile"
    target_dir="$target_dir/pgo-use"
  fi
  (cd "$dir" && RUSTFLAGS="$flags" cargo build --profile "$PROFILE" --quiet --bin "$bin" \
    --target-dir "$target_dir")
}
if [ -z "${SKIP_BUILD:-}" ]; then
  if [ -n "${REF:-}" ]; then
    say "cargo build --profile $PROFILE (sandbox at $BENCH_COMMIT, PGO=$PGO)"
    build "$BENCH/work/tree" "$BENCH/target/sandbox" masspay-sandbox "$PGO"
  else
    say "cargo build --profile $PROFILE (sandbox, PGO=$PGO)"
    build "$REPO" "$REPO/target" masspay-sandbox "$PGO"
  fi
  say "cargo build --profile $PROFILE (baseline, PGO=$PGO_BASELINE)"
  build "$BENCH/baseline" "$BENCH/target" masspay-baseline "$PGO_BASELINE"
fi

# 3. Measure and report.
exec python3 "$BENCH/bench.py"
