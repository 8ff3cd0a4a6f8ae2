#!/usr/bin/env bash
# Publishes the npm packages of one release (used by .github/workflows/release.yml): each
# platform package with its binary from the release's build artifacts, then the launcher, all at
# VERSION. Registry and auth are npm's defaults (trusted publishing from GitHub Actions).
#
#   bash packaging/npm/publish.sh VERSION ARTIFACTS_DIR [--dry-run]
#   ARTIFACTS_DIR/bin-<platform>/bin/masspay-sandbox[.exe] for each platform package
set -euo pipefail
cd "$(dirname "$0")"
version="$1"
artifacts="$2"
dry="${3:-}"

set_version() { # package.json version (and the launcher's optionalDependencies) → $version
  node -e '
    const fs = require("fs"); const [file, v] = process.argv.slice(1);
    const p = JSON.parse(fs.readFileSync(file, "utf8")); p.version = v;
    for (const k of Object.keys(p.optionalDependencies || {})) p.optionalDependencies[k] = v;
    fs.writeFileSync(file, JSON.stringify(p, null, 2) + "\n");' "$1" "$version"
}

for dir in platforms/*/; do
  platform=$(basename "$dir")
  built=${platform%-musl}   # the musl packages hold the same static Linux binary
  exe=masspay-sandbox
  [ "$platform" = win32-x64 ] && exe=masspay-sandbox.exe
  mkdir -p "$dir/bin"
  cp "$artifacts/bin-$built/bin/$exe" "$dir/bin/$exe"
  chmod +x "$dir/bin/$exe"
  set_version "$dir/package.json"
  (cd "$dir" && npm publish --access public --provenance $dry)
done
set_version masspay-sandbox/package.json
(cd masspay-sandbox && npm publish --access public --provenance $dry)
