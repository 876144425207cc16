#!/usr/bin/env bash
# The project's test command (the README's, and what CI runs):
#   formatting, lints, unit + end-to-end tests, and the pyzk conformance check.
# Talks only to 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --quiet --all-targets -- -D warnings
echo "== cargo test"
cargo test
echo "== pyzk conformance"
scripts/conformance.sh
