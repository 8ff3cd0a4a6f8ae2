#!/usr/bin/env bash
# The static Linux binary as its users get it: one file, run on an empty root (no libc, no
# /dev, no /etc but what a container runtime injects), as a non-root user, resolving a webhook
# receiver's host name through /etc/hosts and through DNS (docker-compose's service names).
#
#   bash tests/dist/static.sh [BINARY]   (default: build it with crt-static on the gnu target)
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/dist/lib.sh
. tests/dist/lib.sh

target=x86_64-unknown-linux-gnu
bin="${1:-}"
if [ -z "$bin" ]; then
  RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" cargo build --profile dist --locked --target "$target"
  bin="target/$target/dist/masspay-sandbox"
fi

echo "== file: $(file -b "$bin")"
file -b "$bin" | grep -q "statically linked" || { echo "not statically linked" >&2; exit 1; }
size_kb=$(( $(stat -c %s "$bin") / 1024 ))

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Root-only from here (chroot, port 53). Elsewhere say so and stop: the file check above ran.
if [ "$(id -u)" != 0 ]; then
  echo "== not root: skipping the empty-root runs"
  exit 0
fi

# Runs the binary from an empty root until it prints its address; echoes the base URL.
start_in_root() {
  local root=$1; shift
  local out="$root.out"
  chroot --userspec=65532:65532 "$root" /masspay-sandbox --port 0 "$@" >"$out" 2>"$root.err" &
  pids+=($!)
  for _ in $(seq 100); do
    if grep -q "listening on" "$out" 2>/dev/null; then
      sed -n 's/^listening on //p' "$out" | head -1
      return 0
    fi
    sleep 0.05
  done
  echo "the binary did not start in $root:" >&2; cat "$root.err" >&2; return 1
}

# 1. Host name from /etc/hosts (what docker/podman write into a container).
root="$work/hosts"
mkdir -p "$root/etc"
cp "$bin" "$root/masspay-sandbox"
hook=$(free_port)
echo "127.0.0.1 receiver" > "$root/etc/hosts"
started=$(date +%s%N)
base=$(start_in_root "$root" --webhook-url "http://receiver:$hook/hook")
until python3 -c "import urllib.request,sys; urllib.request.urlopen('$base/health', timeout=1)" 2>/dev/null; do sleep 0.01; done
ready_ms=$(( ($(date +%s%N) - started) / 1000000 ))
python3 tests/dist/seed_flow.py "$base" --webhook-port "$hook"
chroot --userspec=65532:65532 "$root" /masspay-sandbox healthcheck "$base/health"

# 2. Host name from DNS (docker-compose's embedded resolver): a one-name DNS server on
#    127.0.0.1:53 and a resolv.conf pointing at it; no /etc/hosts.
root="$work/dns"
mkdir -p "$root/etc"
cp "$bin" "$root/masspay-sandbox"
echo "nameserver 127.0.0.1" > "$root/etc/resolv.conf"
python3 tests/dist/one_name_dns.py receiver 127.0.0.1 &
pids+=($!)
sleep 0.3
hook=$(free_port)
base=$(start_in_root "$root" --webhook-url "http://receiver:$hook/hook")
python3 tests/dist/seed_flow.py "$base" --webhook-port "$hook"

echo "static binary: ${size_kb} KB, copy→health ${ready_ms} ms (empty root, uid 65532)"
