#!/usr/bin/env bash
# Benchmark: for logs of 1 000, 10 000 and 100 000 punches (40-byte records,
# TCP, simulator on loopback) report
#   - the server's end-to-end time for GET /devices/<id>/attendance (curl),
#   - a bare protocol download of the same log (no HTTP, no JSON: `probe`),
#   - the server's peak RSS (VmHWM) after all requests.
# Everything runs on 127.0.0.1. Usage: scripts/bench.sh [runs per size, default 7]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-7}"
cargo build --quiet --release
BIN=target/release/zkserver
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

start_sim() { # records -> prints port
  "$BIN" simulate --port 0 --records "$1" --users 200 --att-format 40 > "$work/sim$1.out" 2>/dev/null &
  pids+=($!)
  for _ in $(seq 200); do grep -q "simulated terminal on" "$work/sim$1.out" && break; sleep 0.05; done
  sed -n 's/.*simulated terminal on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/sim$1.out"
}

sizes=(1000 10000 100000)
declare -A port
echo "{" > "$work/devices.json"
sep=""
for n in "${sizes[@]}"; do
  port[$n]=$(start_sim "$n")
  printf '%s"log%s": {"ip": "127.0.0.1", "port": %s, "timeout": 10, "name": "Bench %s"}\n' "$sep" "$n" "${port[$n]}" "$n" >> "$work/devices.json"
  sep=","
done
echo "}" >> "$work/devices.json"

"$BIN" --config "$work/devices.json" --host 127.0.0.1 --port 0 --log-level warn 2> "$work/server.err" &
server=$!
pids+=($server)
for _ in $(seq 100); do grep -q "listening on" "$work/server.err" && break; sleep 0.05; done
addr=$(sed -n 's/.*listening on http:\/\/\([0-9.:]*\).*/\1/p' "$work/server.err")

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '\n%-9s %-12s %-12s %-12s %-10s %s\n' records "http (ms)" "http min" "bare (ms)" "overhead" "response size"
for n in "${sizes[@]}"; do
  url="http://$addr/devices/log$n/attendance"
  curl -s -o /dev/null "$url"   # warm-up
  http=()
  for _ in $(seq "$RUNS"); do
    http+=("$(curl -s -o "$work/body.json" -w '%{time_total}' "$url" | awk '{printf "%.1f", $1 * 1000}')")
  done
  bytes=$(stat -c %s "$work/body.json")
  total=$(python3 -c "import json,sys; print(json.load(open('$work/body.json'))['total'])")
  [ "$total" = "$n" ] || { echo "wrong total $total for $n"; exit 1; }
  bare=()
  for _ in $(seq "$RUNS"); do
    line=$("$BIN" probe 127.0.0.1 --port "${port[$n]}" | grep "records of")
    bare+=("$(echo "$line" | sed -n 's/.*downloaded in \([0-9.]*\)\(ms\|µs\|s\)$/\1 \2/p' |
      awk '{v=$1; if ($2=="s") v*=1000; if ($2=="µs") v/=1000; printf "%.1f", v}')")
  done
  h=$(printf '%s\n' "${http[@]}" | median)
  hmin=$(printf '%s\n' "${http[@]}" | sort -n | head -1)
  b=$(printf '%s\n' "${bare[@]}" | median)
  over=$(awk -v h="$h" -v b="$b" 'BEGIN {printf "%.1f", h - b}')
  printf '%-9s %-12s %-12s %-12s %-10s %s bytes\n' "$n" "$h" "$hmin" "$b" "$over" "$bytes"
done
rss=$(awk '/VmHWM/ {print $2 " " $3}' "/proc/$server/status")
echo
echo "server peak RSS (VmHWM) after all requests: $rss"
echo "medians of $RUNS runs; overhead = http - bare (HTTP, filtering, sorting, JSON)."
