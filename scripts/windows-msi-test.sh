#!/usr/bin/env bash
# Tests the Windows packages under Wine, in a temporary WINEPREFIX:
#   zip:  its three files, LEEME.txt in UTF-8 with CRLF line endings;
#   msi:  install (/qn) -> program under Program Files, %ProgramData%\zkserver
#         with devices.json = {} and logs\, the "zkserver" service registered
#         (ImagePath "...\zkserver.exe service run", automatic start), running,
#         answering /health on 127.0.0.1:5000;
#         a rebuilt MSI of the same version (new ProductCode) replaces it
#         (one product registered) and keeps the user's devices.json;
#         uninstall (/x) -> program and service gone, data folder kept;
#         installing again over kept data does not replace devices.json.
#
# TESTS ONLY: Debian 12's Wine 8 has no bcryptprimitives.dll (ProcessPrng),
# which Rust's std needs since 1.78, so the test puts a shim built from
# scripts/windows/prng-shim.c into the test prefix's system32 before the
# install (the MSI starts the service while it installs). Never shipped.
#
# Usage: scripts/windows-msi-test.sh [<zkserver-X-x64.msi> [<zkserver-X-windows-x86_64.zip>]]
#        (default: the ones for Cargo.toml's version in target/dist)
# Needs: wine wine64 gcc-mingw-w64-x86-64 msitools unzip curl
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=$(sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -n1)
MSI=$(realpath "${1:-target/dist/zkserver-$VERSION-x64.msi}")
ZIP=$(realpath "${2:-target/dist/zkserver-$VERSION-windows-x86_64.zip}")
PORT=5000

passed=0
failed=0
ok() { echo "  ok: $*"; passed=$((passed + 1)); }
bad() { echo "  FAIL: $*"; failed=$((failed + 1)); }
check() { # description command...
  local what=$1
  shift
  if "$@"; then ok "$what"; else bad "$what"; fi
}

# --- zip -------------------------------------------------------------------------
echo "== $(basename "$ZIP")"
unzip -l "$ZIP" | sed 's/^/  /'
names=$(unzip -Z1 "$ZIP" | sort | tr '\n' ' ')
check "zip holds zkserver.exe, devices.example.json, LEEME.txt" \
  test "$names" = "LEEME.txt devices.example.json zkserver.exe "
leeme=$(mktemp)
unzip -p "$ZIP" LEEME.txt > "$leeme"
lines=$(wc -l < "$leeme")
crlf=$(grep -c $'\r$' "$leeme" || true)
check "LEEME.txt: all $lines lines end in CRLF ($crlf)" test "$lines" -gt 10 -a "$crlf" = "$lines"
check "LEEME.txt: valid UTF-8 with accents (Símbolo, Dónde, más)" \
  bash -c "iconv -f UTF-8 -t UTF-8 '$leeme' >/dev/null && grep -q 'Símbolo' '$leeme' && grep -q 'Dónde' '$leeme' && grep -q 'más' '$leeme'"
check "LEEME.txt: the three commands" bash -c "grep -q 'zkserver.exe service install --port 5000' '$leeme' \
  && grep -q 'zkserver.exe service start' '$leeme' && grep -q 'netsh advfirewall firewall add rule name=zkserver' '$leeme'"
check "devices.example.json is JSON" bash -c "unzip -p '$ZIP' devices.example.json | python3 -m json.tool >/dev/null"
rm -f "$leeme"

# --- wine prefix -----------------------------------------------------------------
echo "== $(basename "$MSI") under $(wine --version 2>/dev/null)"
if curl -s -m 2 -o /dev/null "http://127.0.0.1:$PORT/"; then
  echo "  FAIL: something already listens on 127.0.0.1:$PORT"; exit 1
fi
export WINEPREFIX WINEARCH=win64 WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
WINEPREFIX=$(mktemp -d /tmp/zkserver-msi-test.XXXXXX)
KEEP_PID=""
cleanup() {
  if [ -n "$KEEP_PID" ]; then exec 3>&-; fi
  wineserver -k 2>/dev/null || true
  rm -rf "$WINEPREFIX"
}
trap cleanup EXIT
wineboot -i >/dev/null 2>&1
wineserver -w   # let the first boot finish, or services start half-way
x86_64-w64-mingw32-gcc -shared -O2 -s -o "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" \
  scripts/windows/prng-shim.c -ladvapi32
# Services live under Wine only while some Wine process runs: keep a cmd open
# (it reads commands from fd 3 and ends when fd 3 is closed).
exec 3> >(exec wine cmd >/dev/null 2>&1)
KEEP_PID=$!

winpath() { wine cmd /c "echo $1" 2>/dev/null | tr -d '\r'; }
PROGRAM_FILES=$(winepath -u "$(winpath '%ProgramFiles%')")
PROGRAM_DATA=$(winepath -u "$(winpath '%ProgramData%')")
echo "  %ProgramFiles% = $(winpath '%ProgramFiles%'), %ProgramData% = $(winpath '%ProgramData%')"
EXE="$PROGRAM_FILES/zkserver/zkserver.exe"
DATA="$PROGRAM_DATA/zkserver"
# Where the service itself keeps its data (devices, punches.db, logs\zkserver.log):
# %ProgramData%\zkserver as the service sees it. On Windows that is the MSI's
# folder; Wine's services.exe resolves %ProgramData% to C:\users\Public, so
# the test looks in both.
SERVICE_DATA=("$DATA" "$(winepath -u 'C:\users\Public')/zkserver")
EXE_W='%ProgramFiles%\zkserver\zkserver.exe'
DATA_W='%ProgramData%\zkserver'
MSI_WIN=$(winepath -w "$MSI")
SVC_KEY='HKLM\System\CurrentControlSet\Services\zkserver'

msiexec() { # args... (log in the prefix; printed on failure)
  local log="$WINEPREFIX/msiexec.log" rc=0
  wine msiexec "$@" /qn /l*v "$(winepath -w "$log")" || rc=$?
  if [ "$rc" != 0 ]; then
    echo "  msiexec $* exited $rc; last lines of its log:"
    grep -a -v '^$' "$log" | tail -n 25 | sed 's/^/    /'
  fi
  return "$rc"
}
service_state() { wine sc query zkserver 2>/dev/null | tr -d '\r' | sed -n 's/.*STATE *: *[0-9]* *\([A-Z_]*\).*/\1/p'; }
health() { # waits up to 30 s for {"status": "ok"} on /health
  local body=""
  for _ in $(seq 60); do
    body=$(curl -s -m 2 "http://127.0.0.1:$PORT/health" || true)
    [ -n "$body" ] && break
    sleep 0.5
  done
  body=$(python3 -c 'import json,sys; print(json.dumps(json.loads(sys.argv[1])))' "$body" 2>/dev/null || echo "${body:-no answer}")
  echo "  /health: $body"
  case "$body" in *'"status": "ok"'*) ;; *) return 1 ;; esac
}
service_log() { # starts: waits up to 30 s for logs\zkserver.log to show that many service starts
  local d n=0
  for _ in $(seq 60); do
    for d in "${SERVICE_DATA[@]}"; do
      [ -s "$d/logs/zkserver.log" ] || continue
      n=$(grep -c 'service zkserver starting' "$d/logs/zkserver.log" || true)
      if [ "$n" -ge "$1" ]; then
        echo "  service log: $(winepath -w "$d/logs/zkserver.log" 2>/dev/null): $n starts, last: $(grep 'service zkserver starting' "$d/logs/zkserver.log" | tail -n1 | cut -c1-100)"
        return 0
      fi
    done
    sleep 0.5
  done
  echo "  service log: $n starts seen, wanted $1"
  return 1
}
writes_need_the_key() { # the service made api.key; writes need it
  local d key code
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{}' "http://127.0.0.1:$PORT/devices")
  [ "$code" = 401 ] || { echo "  POST /devices without a key: $code"; return 1; }
  for d in "${SERVICE_DATA[@]}"; do
    [ -s "$d/api.key" ] || continue
    key=$(tr -d '\r\n' < "$d/api.key")
    # An empty body is refused by validation (400), i.e. after the key was accepted.
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "X-API-Key: $key" -H 'Content-Type: application/json' -d '{}' "http://127.0.0.1:$PORT/devices")
    [ "$code" = 400 ] && return 0
  done
  echo "  no api.key in ${SERVICE_DATA[*]} that the service accepts (last answer $code)"
  return 1
}
products() { wine reg query 'HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall' 2>/dev/null \
  | tr -d '\r' | grep -c '\\{' || true; }
installed_checks() { # label service-starts-so-far
  check "$1: $EXE_W" test -f "$EXE"
  check "$1: $DATA_W\\logs is a folder" test -d "$DATA/logs"
  local image start
  image=$(wine reg query "$SVC_KEY" /v ImagePath 2>/dev/null | tr -d '\r' | sed -n 's/.*ImagePath *REG_[A-Z_]* *//p')
  start=$(wine reg query "$SVC_KEY" /v Start 2>/dev/null | tr -d '\r' | sed -n 's/.*Start *REG_DWORD *//p')
  echo "  ImagePath: $image; Start: $start"
  case "$image" in
    # Wine writes it unquoted; Windows Installer quotes a path with spaces.
    *'\zkserver\zkserver.exe'*' service run') ok "$1: service ImagePath runs 'zkserver.exe service run'" ;;
    *) bad "$1: service ImagePath" ;;
  esac
  check "$1: service starts automatically (Start=0x2)" test "$start" = 0x2
  local state=""
  for _ in $(seq 60); do
    state=$(service_state)
    [ "$state" = RUNNING ] && break
    sleep 0.5
  done
  check "$1: service state $state" test "$state" = RUNNING
  check "$1: answers /health on 127.0.0.1:$PORT" health
  check "$1: the service (re)started and logs in its data folder's logs\\zkserver.log" service_log "$2"
}

# 1. install
echo "-- msiexec /i $(basename "$MSI") /qn"
check "install exits 0" msiexec /i "$MSI_WIN"
installed_checks install 1
check "install: devices.json is {}" test "$(tr -d '\r\n ' < "$DATA/devices.json")" = "{}"
check "install: writes need the API key the service made in its data folder" writes_need_the_key
check "install: one product registered" test "$(products)" = 1

# 2. a rebuilt MSI of the same version (new ProductCode and package code)
#    replaces the installed one and keeps what the user wrote in devices.json.
printf '{ }\r\n' > "$DATA/devices.json"   # "the user's" (an empty list too, so the server loads it)
user_sum=$(sha256sum < "$DATA/devices.json")
REBUILT="$WINEPREFIX/rebuilt.msi"
cp "$MSI" "$REBUILT"
new_guid() { python3 -c 'import uuid; print("{%s}" % str(uuid.uuid4()).upper())'; }
msibuild "$REBUILT" -q "UPDATE \`Property\` SET \`Value\` = '$(new_guid)' WHERE \`Property\` = 'ProductCode'"
msibuild "$REBUILT" -s zkserver zkserver 'x64;1033' "$(new_guid)"
echo "-- msiexec /i rebuilt.msi /qn (same version, new ProductCode: a major upgrade)"
check "upgrade exits 0" msiexec /i "$(winepath -w "$REBUILT")"
installed_checks upgrade 2
check "upgrade: one product registered (the old one removed)" test "$(products)" = 1
check "upgrade: the user's devices.json is untouched" test "$(sha256sum < "$DATA/devices.json")" = "$user_sum"

# 3. uninstall
echo "-- msiexec /x rebuilt.msi /qn"
check "uninstall exits 0" msiexec /x "$(winepath -w "$REBUILT")"
check "uninstall: $EXE_W removed" test ! -e "$EXE"
check "uninstall: service key removed" bash -c "! wine reg query '$SVC_KEY' >/dev/null 2>&1"
check "uninstall: no product registered" test "$(products)" = 0
check "uninstall: $DATA_W\\devices.json kept, unchanged" test "$(sha256sum < "$DATA/devices.json" 2>/dev/null)" = "$user_sum"
check "uninstall: $DATA_W\\logs kept" test -d "$DATA/logs"
echo "  $DATA_W after uninstall: $(cd "$DATA" && find . -mindepth 1 | sort | tr '\n' ' ')"

# 4. a fresh install over kept data does not replace devices.json
echo "-- msiexec /i $(basename "$MSI") /qn over the kept data"
check "reinstall exits 0" msiexec /i "$MSI_WIN"
check "reinstall: service state RUNNING" bash -c "for i in \$(seq 60); do [ \"\$(wine sc query zkserver 2>/dev/null | tr -d '\r' | grep -c RUNNING)\" = 1 ] && exit 0; sleep 0.5; done; exit 1"
check "reinstall: the existing devices.json is untouched" test "$(sha256sum < "$DATA/devices.json")" = "$user_sum"
check "final uninstall exits 0" msiexec /x "$MSI_WIN"
check "final uninstall: $EXE_W removed, data kept" bash -c "test ! -e '$EXE' && test -f '$DATA/devices.json'"
check "final uninstall: the service's log kept (3 starts)" service_log 3

echo "windows packages: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
