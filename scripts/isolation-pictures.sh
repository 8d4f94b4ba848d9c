#!/usr/bin/env bash
# Timeline pictures of the isolation benchmark (examples/isolation.toml) in host scope (the
# kernel) and in LUN scope, as the README shows them: each run writes its HTML report and
# headless Chromium renders it to docs/img/isolation-<scope>.png.
#
#   scripts/isolation-pictures.sh     (needs chromium: scripts/install-test-deps.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p unjam
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
mkdir -p docs/img
for scope in host lun; do
    ./target/release/unjam run examples/isolation.toml --set "eh.scope=$scope" \
        --report "$out/$scope.html" >/dev/null
    timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
        --disable-component-update --disable-sync --no-first-run \
        --user-data-dir="$out/profile-$scope" --window-size=1200,1500 \
        --screenshot="docs/img/isolation-$scope.png" "file://$out/$scope.html" 2>/dev/null
    echo "docs/img/isolation-$scope.png"
done
