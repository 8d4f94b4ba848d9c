#!/usr/bin/env bash
# The whole test suite, as the README's quick start runs it and CI runs it.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-test-deps.sh

echo "== fmt"
cargo fmt --all -- --check
echo "== clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== tests"
cargo test --workspace --locked
echo "== fuzz crate builds (running it: see fuzz/Cargo.toml)"
cargo build --manifest-path fuzz/Cargo.toml --locked
