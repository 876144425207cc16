#!/usr/bin/env bash
# The project's test command (the README's, and what CI runs): formatting,
# lints, unit + end-to-end tests, the pyzk conformance check, the nginx
# hostile-client check and the panel's browser test. Talks only to loopback addresses. A part that cannot
# run here (a tool missing) is named in the last line; under CI nothing may
# be skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

skipped=()
echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --quiet --all-targets -- -D warnings
echo "== nginx in front, hostile clients"
if command -v nginx >/dev/null 2>&1 && command -v openssl >/dev/null 2>&1; then
  scripts/nginx-test.sh
elif [ "${CI:-}" = "true" ]; then
  echo "nginx and openssl are required under CI (.ci/run installs them)" >&2
  exit 1
else
  skipped+=("nginx check (apt-get install nginx openssl)")
fi
echo "== pyzk conformance"
scripts/conformance.sh
echo "== office panel in a browser"
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  scripts/panel-test.sh
elif [ "${CI:-}" = "true" ]; then
  echo "chromium and chromium-driver are required under CI (.ci/run installs them)" >&2
  exit 1
else
  skipped+=("panel browser test (apt-get install chromium chromium-driver)")
fi
echo "== cargo test"
cargo test

if [ ${#skipped[@]} -gt 0 ]; then
  echo "test.sh: passed, but SKIPPED: ${skipped[*]}"
else
  echo "test.sh: every check ran and passed (fmt, clippy, nginx, pyzk conformance, panel, cargo test)"
fi
