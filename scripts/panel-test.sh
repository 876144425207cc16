#!/usr/bin/env bash
# Browser test of the office panel (/panel): headless Chromium driven by
# Selenium (Debian's chromium and chromium-driver, selenium from PyPI in the
# venv), against simulated terminals (two pull, two push) and an unreachable
# one, on 127.0.0.1.
# Saves screenshots to target/screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in chromium chromedriver; do
  command -v "$tool" >/dev/null 2>&1 || { echo "panel-test.sh: $tool is not installed" >&2; exit 1; }
done
VENV="${VENV:-.venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "selenium>=4.20,<5" "pyzk==0.9"

source scripts/lib.sh

# Server, terminals and browser on UTC, except where a test says otherwise.
export TZ=UTC

# A terminal that answers, fed punches through the simulator's stdin.
mkfifo "$WORK/sim.in"
"$BIN" simulate --port 0 --records 400 --users 6 < "$WORK/sim.in" > "$WORK/sim.out" 2>&1 &
PIDS+=($!)
exec 7> "$WORK/sim.in"
wait_for_line "$WORK/sim.out" "simulated terminal on"
sim_port=$(sed -n 's/.*simulated terminal on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/sim.out")
# One whose clock runs 3 minutes ahead (its time zone is 3 minutes east of
# the server's UTC): punches that arrive out of order, a clock in words.
mkfifo "$WORK/sur.in"
TZ=ADE-0:03 "$BIN" simulate --port 0 --records 50 --users 6 < "$WORK/sur.in" > "$WORK/sur.out" 2>&1 &
PIDS+=($!)
exec 8> "$WORK/sur.in"
wait_for_line "$WORK/sur.out" "simulated terminal on"
sur_port=$(sed -n 's/.*simulated terminal on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/sur.out")
# And one that does not answer (a closed port).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
dead_port=$(free_port)
# And a push terminal (its simulator is started by the test, which also
# runs one with a serial nobody registered), and one forwarded to another
# server (a closed port: its clock and commands are that server's). The
# journal is punches.db beside the devices file.
cat > "$WORK/devices.json" <<JSON
{"principal": {"ip": "127.0.0.1", "port": $sim_port, "name": "Entrada Principal", "timeout": 2},
 "muerto": {"ip": "127.0.0.1", "port": $dead_port, "name": "Bodega Norte", "timeout": 1},
 "sur": {"ip": "127.0.0.1", "port": $sur_port, "name": "Oficina Sur", "timeout": 2},
 "caja": {"mode": "push", "sn": "CAJA0001", "name": "Caja Push"},
 "sucursal": {"mode": "push", "sn": "SUC0001", "name": "Sucursal Oeste", "timezone": "-04:00"},
 "remota": {"mode": "push", "sn": "REMOTA01", "name": "Sucursal Remota",
            "push_forward": "http://127.0.0.1:$dead_port/"}}
JSON
echo "clave-de-prueba-123" > "$WORK/key"

# The server, on a fixed port so the test can restart it (the panel must
# reconnect and take the replayed punches in order). The test restarts it
# with the same command and stops its own copy. A punch whose realtime event
# a watcher misses (made while it steps aside for an API request) comes with
# the next reconciliation: every 5 s here, so the live checks need not wait
# the default minute.
port=$(free_port)
server=("$BIN" --host 127.0.0.1 --port "$port" --config "$WORK/devices.json"
        --api-key-file "$WORK/key" --reconcile-interval 5 --log-level "${PANEL_LOG_LEVEL:-warn}")
"${server[@]}" 2> "$WORK/server.err" &
PIDS+=($!)
server_pid=$!
wait_for_line "$WORK/server.err" "listening on"

mkdir -p target/screenshots
PUNCH_FIFO="$WORK/sim.in" SUR_FIFO="$WORK/sur.in" SUR_PORT="$sur_port" \
  SERVER_PID="$server_pid" SERVER_LOG="$WORK/server.err" \
  SERVER_CMD="$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "${server[@]}")" \
  DOWNLOADS="$WORK/downloads" ZKSERVER_BIN="$BIN" SCRATCH="$WORK" \
  "$VENV/bin/python" scripts/panel-test.py "127.0.0.1:$port" "clave-de-prueba-123" || {
  echo "panel-test.sh: the server's log ends with:" >&2
  tail -n 40 "$WORK/server.err" >&2
  exit 1
}
