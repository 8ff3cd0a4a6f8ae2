#!/usr/bin/env bash
# The container image, as far as these machines allow. `podman build` works for stages without
# RUN, but `podman run` does not (cgroups) and no base image can be pulled. So the Dockerfile's
# final stage is built from the static binary built here (passed as the `build` stage's output
# with --build-context), saved, its layers unpacked, and its entrypoint run with chroot as the
# image's user, with the image's environment: it must start, answer /health, pass its own
# HEALTHCHECK command and the seed flow. The Dockerfile's build stage (rust image) is not run here.
#
#   bash tests/dist/image.sh BINARY
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/dist/lib.sh
. tests/dist/lib.sh
bin="$1"

if ! command -v podman >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman) >/dev/null
  else
    echo "podman is not installed and cannot be installed here: skipping the image check"; exit 0
  fi
fi

work=$(mktemp -d)
chroot=$(command -v chroot)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  podman rmi -f masspay-sandbox:ci >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/ctx/out"
cp "$bin" "$work/ctx/out/masspay-sandbox"
podman build -q --format docker --build-context build="$work/ctx" --target runtime \
  -t masspay-sandbox:ci . >/dev/null
podman save --format docker-archive -o "$work/image.tar" masspay-sandbox:ci
image_kb=$(( $(stat -c %s "$work/image.tar") / 1024 ))

# Unpack the layers (what a runtime mounts) into an empty root, timed like `docker load` + run.
started=$(date +%s%N)
mkdir -p "$work/x" "$work/root"
tar -xf "$work/image.tar" -C "$work/x"
for layer in $(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))[0]["Layers"]))' "$work/x/manifest.json"); do
  tar -xf "$work/x/$layer" -C "$work/root"
done
# What the image says about itself (its config as `docker load` reads it).
config="$work/x/$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["Config"])' "$work/x/manifest.json")"
python3 - "$config" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))["config"]
problems = []
if c.get("User") in (None, "", "0", "root", "0:0"): problems.append(f"runs as root: {c.get('User')!r}")
if "8080/tcp" not in (c.get("ExposedPorts") or {}): problems.append(f"does not expose 8080: {c.get('ExposedPorts')}")
if (c.get("Healthcheck") or {}).get("Test") != ["CMD", "/masspay-sandbox", "healthcheck"]:
    problems.append(f"healthcheck: {c.get('Healthcheck')}")
if "MASSPAY_SANDBOX_HOST=0.0.0.0" not in (c.get("Env") or []): problems.append("does not listen on 0.0.0.0")
if c.get("Entrypoint") != ["/masspay-sandbox"]: problems.append(f"entrypoint: {c.get('Entrypoint')}")
if problems: sys.exit("image config: " + "; ".join(problems))
PY
files=$(cd "$work/root" && find . -mindepth 1 | tr '\n' ' ')
[ "$files" = "./masspay-sandbox " ] || { echo "the image holds more than the binary: $files" >&2; exit 1; }
user=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["config"]["User"])' "$config")
# A runtime injects /etc/hosts and resolv.conf; the image itself holds only the binary.
mkdir -p "$work/root/etc"
echo "127.0.0.1 receiver localhost" > "$work/root/etc/hosts"
# A mounted scenarios directory (`-v ./scenarios:/scenarios -e MASSPAY_SANDBOX_SCENARIOS=/scenarios`).
mkdir -p "$work/root/scenarios"
echo '{"rules":[{"when":{"operation":"getAccountBalance"},"then":{"http_status":504}}]}' \
  > "$work/root/scenarios/balance_timeout.json"
port=$(free_port)
hook=$(free_port)
# The image's environment (HOST=0.0.0.0, PORT=8080) with the port moved off 8080 for this host.
env -i $(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["config"]["Env"]))' "$config") \
  MASSPAY_SANDBOX_PORT="$port" MASSPAY_SANDBOX_WEBHOOK_URL="http://receiver:$hook/hook" \
  MASSPAY_SANDBOX_SCENARIOS=/scenarios \
  "$chroot" --userspec="$user" "$work/root" /masspay-sandbox >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 200); do
  if env -i MASSPAY_SANDBOX_PORT="$port" "$chroot" --userspec="$user" "$work/root" /masspay-sandbox healthcheck 2>/dev/null; then
    break
  fi
  sleep 0.02
done
ready_ms=$(( ($(date +%s%N) - started) / 1000000 ))
grep -q "listening on http://0.0.0.0:$port" "$work/out" || { echo "not listening on 0.0.0.0:" >&2; cat "$work/out" "$work/err" >&2; exit 1; }
# The HEALTHCHECK command, as the runtime runs it (inside the image, as its user).
env -i MASSPAY_SANDBOX_PORT="$port" "$chroot" --userspec="$user" "$work/root" /masspay-sandbox healthcheck
python3 tests/dist/seed_flow.py "http://127.0.0.1:$port" --webhook-port "$hook"
status=$(python3 -c 'import sys,urllib.request as u
r=u.Request(sys.argv[1]+"/v0.1.4/account/balance",headers={"Authorization":"k","X-Sandbox-Scenario":"balance_timeout"})
try: print(u.urlopen(r).status)
except Exception as e: print(getattr(e,"code",e))' "http://127.0.0.1:$port")
[ "$status" = 504 ] || { echo "the mounted scenario did not apply: $status" >&2; exit 1; }
echo "image: ${image_kb} KB saved, load→health ${ready_ms} ms (layers unpacked and run with chroot as $user)"
