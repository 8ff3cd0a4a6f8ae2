#!/usr/bin/env bash
# The npm channel as its users get it: `npm pack` the launcher and this platform's binary package,
# install both from the tarballs into an empty project (no registry fetch for them), on a PATH
# without cargo, then `npx masspay-sandbox --version` and the official JS SDK's flow through
# `start()`/`stop()`. Prints the sizes and the time from `npm install` to the first /health 200.
#
#   bash tests/dist/npm.sh BINARY        (BINARY: a static x86_64 Linux masspay-sandbox)
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
bin="$1"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The platform package gets its binary at pack time (the repository holds none).
cp -r packaging/npm/platforms/linux-x64 "$work/linux-x64"
mkdir -p "$work/linux-x64/bin"
cp "$bin" "$work/linux-x64/bin/masspay-sandbox"
chmod +x "$work/linux-x64/bin/masspay-sandbox"
cp -r packaging/npm/masspay-sandbox "$work/launcher"
mkdir -p "$work/tarballs"
(cd "$work/linux-x64" && npm pack --silent --pack-destination "$work/tarballs" >/dev/null)
(cd "$work/launcher" && npm pack --silent --pack-destination "$work/tarballs" >/dev/null)
launcher_tgz=$(ls "$work"/tarballs/masspay-sandbox-0*.tgz)
platform_tgz=$(ls "$work"/tarballs/masspay-sandbox-linux-x64-*.tgz)
launcher_kb=$(( ($(stat -c %s "$launcher_tgz") + 1023) / 1024 ))
platform_kb=$(( $(stat -c %s "$platform_tgz") / 1024 ))

# A user's project on a PATH without Rust.
node_dir=$(dirname "$(command -v node)")
npm_dir=$(dirname "$(command -v npm)")
clean_path="$node_dir:$npm_dir:/usr/bin:/bin"
if PATH="$clean_path" command -v cargo >/dev/null 2>&1; then
  echo "cargo is on the clean PATH ($clean_path)" >&2; exit 1
fi
proj="$work/project"
mkdir -p "$proj"
cp tests/dist/npm_flow.test.mjs "$proj/"
cd "$proj"
PATH="$clean_path" npm init -y >/dev/null
# The SDK first (from the registry, as any project has it), then the timed install of ours.
PATH="$clean_path" npm install --no-audit --no-fund --loglevel=error masspay-js-sdk@2.0.0 >/dev/null
started=$(date +%s%N)
# Both tarballs in one install: npm takes the platform package from its tarball; the other
# platforms' optional dependencies do not match this os/cpu and are skipped without a fetch.
PATH="$clean_path" npm install --no-audit --no-fund --loglevel=error "$platform_tgz" "$launcher_tgz" >/dev/null
ready_ms=$(PATH="$clean_path" node -e '
  const t0 = Number(process.argv[1]);
  require("masspay-sandbox").start().then(async (sb) => {
    const r = await fetch(sb.url + "/health");
    if (r.status !== 200) throw new Error("health " + r.status);
    console.log(Math.round((Date.now() * 1e6 - t0) / 1e6));
    await sb.stop();
  });' "$started")
test -z "$(ls node_modules | grep -E '^masspay-sandbox-(darwin|win32|linux-arm64|linux-x64-musl)' || true)" \
  || { echo "another platform's package was installed" >&2; exit 1; }
echo "== npx masspay-sandbox --version: $(PATH="$clean_path" npx --no-install masspay-sandbox --version)"
PATH="$clean_path" node --test --test-reporter=spec npm_flow.test.mjs
cd "$repo"
echo "npm: launcher ${launcher_kb} KB + linux-x64 ${platform_kb} KB packed, install→health ${ready_ms} ms"
