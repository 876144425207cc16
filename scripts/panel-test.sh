#!/usr/bin/env bash
# Browser test of the office panel (/panel): headless Chromium driven by
# Selenium (Debian's chromium and chromium-driver, selenium from PyPI in the
# venv), against a simulated terminal and an unreachable one, on 127.0.0.1.
# Saves screenshots to target/screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in chromium chromedriver; do
  command -v "$tool" >/dev/null 2>&1 || { echo "panel-test.sh: $tool is not installed" >&2; exit 1; }
done
VENV="${VENV:-.venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "selenium>=4.20,<5"

source scripts/lib.sh

# A terminal that answers, fed punches through the simulator's stdin.
mkfifo "$WORK/sim.in"
"$BIN" simulate --port 0 --records 400 --users 6 < "$WORK/sim.in" > "$WORK/sim.out" 2>&1 &
PIDS+=($!)
exec 7> "$WORK/sim.in"
wait_for_line "$WORK/sim.out" "simulated terminal on"
sim_port=$(sed -n 's/.*simulated terminal on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/sim.out")
# And one that does not (a closed port).
dead_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$WORK/devices.json" <<JSON
{"principal": {"ip": "127.0.0.1", "port": $sim_port, "name": "Entrada Principal", "timeout": 2},
 "muerto": {"ip": "127.0.0.1", "port": $dead_port, "name": "Bodega Norte", "timeout": 1}}
JSON
echo "clave-de-prueba-123" > "$WORK/key"
start_server addr --config "$WORK/devices.json" --api-key-file "$WORK/key" --log-level warn

mkdir -p target/screenshots
PUNCH_FIFO="$WORK/sim.in" "$VENV/bin/python" scripts/panel-test.py "$addr" "clave-de-prueba-123"
