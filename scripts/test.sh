#!/usr/bin/env bash
# The project's test command (the README's, and what CI runs): formatting,
# lints, unit + end-to-end tests, the pyzk conformance check, the nginx
# hostile-client check, the panel's browser test and the Windows build's
# end-to-end tests under Wine. Talks only to loopback addresses. A part that cannot
# run here (a tool missing) is named in the last line; under CI nothing may
# be skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

skipped=()
# needs "what" "packages" tool... -- command...: runs the command when the
# tools are installed; else records the skip (an error under CI).
needs() {
  local what=$1 packages=$2
  shift 2
  local tools=()
  while [ "$1" != "--" ]; do tools+=("$1"); shift; done
  shift
  for tool in "${tools[@]}"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      if [ "${CI:-}" = "true" ]; then
        echo "$tool is required under CI (.ci/run installs $packages)" >&2
        exit 1
      fi
      skipped+=("$what (apt-get install $packages)")
      return 0
    fi
  done
  "$@"
}
echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --quiet --all-targets -- -D warnings
echo "== nginx in front, hostile clients"
needs "nginx check" "nginx openssl" nginx openssl -- scripts/nginx-test.sh
echo "== pyzk conformance"
scripts/conformance.sh
echo "== office panel in a browser"
needs "panel browser test" "chromium chromium-driver" chromium chromedriver -- scripts/panel-test.sh
echo "== PostgreSQL for the delivery tests"
# The e2e tests start their own PostgreSQL clusters; without PostgreSQL they
# fail unless ZKSERVER_SKIP_POSTGRES=1 (a skip, named below; an error under CI).
if pg_bindir=$(scripts/pg-bindir.sh); then
  echo "PostgreSQL programs in $pg_bindir"
elif [ "${CI:-}" = "true" ]; then
  echo "PostgreSQL (initdb, pg_ctl, postgres, psql) is required under CI (.ci/run installs postgresql)" >&2
  exit 1
else
  export ZKSERVER_SKIP_POSTGRES=1
  skipped+=("PostgreSQL delivery tests (apt-get install postgresql)")
fi
echo "== cargo test"
cargo test
echo "== Windows build under Wine"
needs "Windows build under Wine" "gcc-mingw-w64-x86-64 wine wine64" x86_64-w64-mingw32-gcc wine wineserver winepath -- scripts/windows-test.sh

if [ ${#skipped[@]} -gt 0 ]; then
  echo "test.sh: passed, but SKIPPED: ${skipped[*]}"
else
  echo "test.sh: every check ran and passed (fmt, clippy, nginx, pyzk conformance, panel, cargo test with PostgreSQL, Windows under Wine)"
fi
