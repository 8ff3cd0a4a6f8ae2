#!/usr/bin/env bash
# Profile-guided optimisation of the shipped binaries (bench/README.md, "Profile-guided build"):
# builds an instrumented `dist` binary, runs packaging/pgo/train.py against it (the requests
# integrations send most, over loopback), and merges what it recorded into one profile. Prints the
# profile's path as its last line of output. A `dist` build that uses it:
#
#   profile=$(bash packaging/pgo/profile.sh [--target TRIPLE])
#   RUSTFLAGS="$RUSTFLAGS -Cprofile-use=$profile" cargo build --profile dist --locked [--target TRIPLE]
#
# Options: --target TRIPLE (as the final build's; the training runs the binary, so only a target
# this machine runs), --manifest-path PATH (default: this repository's Cargo.toml; bench/run.sh
# passes the bare server's), --bin NAME (default masspay-sandbox), --out FILE (default
# target/pgo/NAME.profdata beside the manifest). Environment: RUSTFLAGS (the final build's, e.g.
# crt-static: the instrumented build uses them too), PGO_SECONDS (training time, default 8),
# LLVM_PROFDATA (the merge tool; found otherwise, see below).
#
# Needs python3 and an llvm-profdata of the same LLVM major version as rustc's: rustup's
# llvm-tools component (`rustup component add llvm-tools`), or a system one (Debian: the
# llvm-N package, N = the major version `rustc -vV` names).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
manifest="$(dirname "$(dirname "$here")")/Cargo.toml"
target="" bin="masspay-sandbox" out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --target) target="$2"; shift 2 ;;
    --manifest-path) manifest="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "profile.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
manifest="$(cd "$(dirname "$manifest")" && pwd)/$(basename "$manifest")"
root="$(dirname "$manifest")"
out="${out:-$root/target/pgo/$bin.profdata}"
say() { printf '[pgo] %s\n' "$*" >&2; }

# llvm-profdata: $LLVM_PROFDATA, rustup's llvm-tools, or a system one of rustc's LLVM major.
find_profdata() {
  if [ -n "${LLVM_PROFDATA:-}" ]; then echo "$LLVM_PROFDATA"; return 0; fi
  local host sysroot major c
  host="$(rustc -vV | sed -n 's/^host: //p')"
  sysroot="$(rustc --print sysroot)"
  major="$(rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')"
  for c in "$sysroot/lib/rustlib/$host/bin/llvm-profdata" "llvm-profdata-$major" \
    "/usr/lib/llvm-$major/bin/llvm-profdata" llvm-profdata; do
    if command -v "$c" >/dev/null 2>&1 && "$c" --version 2>/dev/null | grep -q "LLVM version $major\."; then
      command -v "$c"
      return 0
    fi
  done
  # None yet: rustup's llvm-tools component gives the right one (once per toolchain).
  if [ ! -e "$sysroot/lib/rustlib/$host/bin/llvm-profdata" ] && command -v rustup >/dev/null 2>&1 \
    && rustup component add llvm-tools >/dev/null 2>&1; then
    echo "$sysroot/lib/rustlib/$host/bin/llvm-profdata"
    return 0
  fi
  echo "profile.sh: no llvm-profdata of LLVM $major (rustc's) found: run \`rustup component add llvm-tools\`, install llvm-$major, or set LLVM_PROFDATA" >&2
  return 1
}
profdata="$(find_profdata)"
command -v python3 >/dev/null || { echo "profile.sh: python3 is required (the training run)" >&2; exit 1; }

work="$root/target/pgo/work-$bin"
rm -rf "$work" && mkdir -p "$work/raw"
target_args=()
[ -n "$target" ] && target_args=(--target "$target")
say "instrumented build of $bin (${target:-host})"
RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-generate=$work/build-scripts" \
  cargo build --profile dist --locked --quiet --manifest-path "$manifest" \
  --target-dir "$root/target/pgo-instrumented" "${target_args[@]}" --bin "$bin"
instrumented="$root/target/pgo-instrumented/${target:+$target/}dist/$bin"

say "training run (${PGO_SECONDS:-8} s)"
LLVM_PROFILE_FILE="$work/raw/$bin-%p-%m.profraw" \
  python3 "$here/train.py" "$instrumented" --seconds "${PGO_SECONDS:-8}"
ls "$work/raw"/*.profraw >/dev/null 2>&1 || { echo "profile.sh: the training run wrote no profile" >&2; exit 1; }

mkdir -p "$(dirname "$out")"
"$profdata" merge -o "$out" "$work/raw"
say "profile: $out ($(( $(stat -c %s "$out" 2>/dev/null || stat -f %z "$out") / 1024 )) KB)"
echo "$out"
