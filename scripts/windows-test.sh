#!/usr/bin/env bash
# The Windows build under Wine: cross-builds zkserver.exe (release profile,
# x86_64-pc-windows-gnu with mingw-w64) and runs the end-to-end tests that
# spawn the program (tests/e2e/exe.rs: attendance, users, the devices file,
# sync, SSE, webhooks, panel, Ctrl+C, the Windows service's life cycle;
# hostile clients; a restart; collection into the journal)
# against it, in a temporary Wine prefix. The simulated terminals stay native
# in the test process; every byte goes over 127.0.0.1.
#
# Also runs the unit tests (cargo test --lib) compiled for Windows under Wine.
#
# Needs: gcc-mingw-w64-x86-64, wine, wine64 (apt); the Rust target is added
# here. Test filters may be given as arguments (default: below).
#
# TEST ONLY: Debian 12's Wine 8 lacks bcryptprimitives.dll (ProcessPrng),
# which Rust's standard library calls on Windows, so a tiny shim
# (scripts/windows/prng-shim.c) is built and put beside the exe in a scratch
# folder. It is never shipped: nothing here writes to target/dist.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=x86_64-pc-windows-gnu
rustup target add "$TARGET" >/dev/null
echo "== cargo clippy --target $TARGET --all-targets -- -D warnings"
cargo clippy --quiet --target "$TARGET" --all-targets -- -D warnings
echo "== cargo build --release --target $TARGET"
cargo build --quiet --release --target "$TARGET"
EXE=target/$TARGET/release/zkserver.exe
printf '  %s: %d bytes\n' "$EXE" "$(stat -c %s "$EXE")"

WORK=$(mktemp -d /tmp/zkserver-wine.XXXXXX)
export WINEPREFIX=$WORK/prefix WINEDEBUG=-all WINEARCH=win64
# No Mono/Gecko installers (nothing here needs them; they would ask).
export WINEDLLOVERRIDES="mscoree,mshtml="
cleanup() {
  exec 9>&- 2>/dev/null || true
  wineserver -k 2>/dev/null || true
  wineserver -w 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/bin"
cp "$EXE" "$WORK/bin/zkserver.exe"
x86_64-w64-mingw32-gcc -O2 -shared -s -o "$WORK/bin/bcryptprimitives.dll" \
  scripts/windows/prng-shim.c -ladvapi32

echo "== wineboot (a fresh prefix)"
wineboot -i >/dev/null 2>&1
# Until the prefix is written and Wine has shut down (a service created while
# the first boot settles can vanish).
wineserver -w
# Wine's services live only while some Wine program runs: keep a console
# program open for the service test (its input, a FIFO, ends with this script).
mkfifo "$WORK/keep"
wine cmd < "$WORK/keep" >/dev/null 2>&1 &
exec 9> "$WORK/keep"
wine "$WORK/bin/zkserver.exe" --version

# The unit tests, compiled for Windows and run under Wine: cargo's runner is
# a wrapper that copies each test program beside the shim first.
cat > "$WORK/run-exe.sh" <<RUNNER
#!/bin/sh
cp "\$1" "$WORK/bin/" && p="$WORK/bin/\$(basename "\$1")" && shift && exec wine "\$p" "\$@"
RUNNER
chmod +x "$WORK/run-exe.sh"
echo "== cargo test --lib --target $TARGET (under wine)"
CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER="$WORK/run-exe.sh" \
  cargo test --quiet --lib --target "$TARGET"

filters=("$@")
# Default: the tests that spawn the program (in-process ones would only run
# the native code again): exe::, the hostile clients, a restart keeping
# queued commands, collection into the journal.
[ ${#filters[@]} -eq 0 ] && filters=(exe:: hostile::
  commands::queued_commands_survive_a_restart_of_the_binary
  journal::the_binary_collects_every_terminal_with_collect_each_interval)
echo "== cargo test --test e2e ${filters[*]} (zkserver.exe under wine)"
ZKSERVER_EXE="$WORK/bin/zkserver.exe" ZKSERVER_RUNNER=wine ZKSERVER_SERVICE_TEST=1 \
  cargo test --quiet --test e2e -- "${filters[@]}"
