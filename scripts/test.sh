#!/usr/bin/env bash
# The project's test command (the README's, and what CI runs): formatting,
# lints, unit + end-to-end tests, the pyzk conformance check and the nginx
# hostile-client check. Talks only to loopback addresses.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --quiet --all-targets -- -D warnings
echo "== nginx in front, hostile clients"
scripts/nginx-test.sh
echo "== pyzk conformance"
scripts/conformance.sh
echo "== cargo test"
cargo test
