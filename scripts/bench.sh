#!/usr/bin/env bash
# Benchmark: for logs of 1 000, 10 000 and 100 000 punches (40-byte records,
# TCP, simulator on loopback) report
#   - the server's end-to-end time for GET /devices/<id>/attendance (curl),
#   - a bare protocol download of the same log (no HTTP, no JSON: `probe`),
#   - the server's peak RSS (VmHWM) after all requests.
# Then GET /health requests per second at the default log level (info: one
# access-log line per request), with wrk (installed from apt when missing;
# 2 threads, 16 keep-alive connections, 5 s).
# Then examples/live_bench.rs: `since` reads of a 100 000-record log with 0
# and 10 new punches (time, bytes moved), punch-to-SSE and punch-to-webhook
# latency, and 200 SSE clients on one device (terminal connections, RSS).
# Then one day's punches out of a 1 000 000-punch journal through
# GET /devices/<push id>/attendance?source=journal (target <= 20 ms; the
# journal is filled by examples/journal_fill.rs).
# Then examples/push_bench.rs: one 10 000-line ATTLOG POST (target <= 200 ms),
# sustained ingest from 4 terminals (target >= 20 000 punches/s), 500
# terminals polling every second (target p99 <= 20 ms, 0 errors, RSS <= 64 MB),
# push punch -> SSE event (target <= 50 ms median) and one terminal's 1-, 100-
# and 1000-line POSTs against a bare SQLite loop of the same statements and
# durability (target >= 90 % of that floor).
# Last, examples/pg_bench.rs against a throwaway PostgreSQL cluster (port free
# on 127.0.0.1, in a temp dir, fsync on): draining a 200 000-punch journal
# into zk_punches (target >= 20 000 punches/s) and punch -> row latency
# (target <= 100 ms median); skipped when PostgreSQL is not installed.
# Everything runs on 127.0.0.1.
# Usage: scripts/bench.sh [runs per size, default 7] [postgres: only that part]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-7}"
source scripts/lib.sh

# PostgreSQL part: a throwaway cluster (initdb as the postgres user when run
# as root), examples/pg_bench.rs against it, the cluster removed on exit.
PGDIR=""
pg_cleanup() {
  [ -n "$PGDIR" ] || return 0
  if [ -f "$PGDIR/data/postmaster.pid" ]; then
    pg_as "$PGBIN/pg_ctl" -D "$PGDIR/data" -w -t 60 -m fast stop >/dev/null 2>&1 || true
  fi
  rm -rf "$PGDIR"
}
trap 'pg_cleanup; stop_all' EXIT
pg_as() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
postgres_bench() {
  if ! PGBIN=$(scripts/pg-bindir.sh 2>/dev/null); then
    echo
    echo "PostgreSQL delivery: skipped (PostgreSQL is not installed; apt-get install postgresql)"
    return 0
  fi
  cargo build --quiet --release --example pg_bench
  PGDIR=$(mktemp -d /tmp/zkserver-pg-bench.XXXXXX)
  local pw port ok=""
  pw=$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')
  echo "$pw" > "$PGDIR/pwfile"
  [ "$(id -u)" = 0 ] && chown -R postgres: "$PGDIR"
  pg_as "$PGBIN/initdb" -D "$PGDIR/data" -U zkbench --pwfile="$PGDIR/pwfile" \
    -A scram-sha-256 --auth-local=trust -E UTF8 --locale=C --no-instructions >/dev/null
  rm -f "$PGDIR/pwfile"
  # Defaults otherwise: fsync, synchronous_commit and full_page_writes on.
  printf "listen_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\n" "$PGDIR" \
    | pg_as tee -a "$PGDIR/data/postgresql.conf" >/dev/null
  for _ in 1 2 3 4 5; do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    if pg_as "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -o "-p $port" -w -t 60 start >/dev/null; then
      ok=1
      break
    fi
  done
  [ -n "$ok" ] || { echo "PostgreSQL did not start:"; tail -20 "$PGDIR/server.log"; return 1; }
  pg_as "$PGBIN/psql" -X -q -h "$PGDIR" -p "$port" -U zkbench -d postgres -c "CREATE DATABASE zk"
  local fsync
  fsync=$(pg_as "$PGBIN/psql" -X -A -t -h "$PGDIR" -p "$port" -U zkbench -d zk \
    -c "SELECT 'fsync ' || current_setting('fsync') || ', synchronous_commit ' || current_setting('synchronous_commit')")
  echo
  echo "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (throwaway cluster in $PGDIR; $fsync)"
  target/release/examples/pg_bench "$BIN" "postgresql://zkbench:$pw@127.0.0.1:$port/zk?sslmode=disable" "$WORK/pg"
  echo "rows in zk_punches at the end (psql; 200000 drained + 50 latency punches): $(pg_as "$PGBIN/psql" -X -A -t -h "$PGDIR" -p "$port" -U zkbench -d zk -c 'SELECT count(*) FROM zk_punches')"
  pg_cleanup
  PGDIR=""
}
if [ "${2:-}" = postgres ]; then
  postgres_bench
  exit 0
fi

sizes=(1000 10000 100000)
declare -A port
echo "{" > "$WORK/devices.json"
sep=""
for n in "${sizes[@]}"; do
  start_sim "port[$n]" --records "$n" --users 200 --att-format 40
  printf '%s"log%s": {"ip": "127.0.0.1", "port": %s, "timeout": 10, "name": "Bench %s"}\n' "$sep" "$n" "${port[$n]}" "$n" >> "$WORK/devices.json"
  sep=","
done
echo "}" >> "$WORK/devices.json"
start_server addr --config "$WORK/devices.json" --log-level warn
server=$LAST_PID

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '\n%-9s %-12s %-12s %-12s %-10s %s\n' records "http (ms)" "http min" "bare (ms)" "overhead" "response size"
for n in "${sizes[@]}"; do
  url="http://$addr/devices/log$n/attendance"
  curl -s -o /dev/null "$url"   # warm-up
  http=()
  for _ in $(seq "$RUNS"); do
    http+=("$(curl -s -o "$WORK/body.json" -w '%{time_total}' "$url" | awk '{printf "%.1f", $1 * 1000}')")
  done
  bytes=$(stat -c %s "$WORK/body.json")
  total=$(python3 -c "import json,sys; print(json.load(open('$WORK/body.json'))['total'])")
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

stop "$server"

# /health throughput with the access log on (the default level).
if ! command -v wrk >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  apt-get install -y -qq wrk >/dev/null 2>&1 || true
fi
start_server haddr --demo
health=$LAST_PID
health_log=$(ls -t "$WORK"/server.* | head -1)
if command -v wrk >/dev/null 2>&1; then
  timeout 60 wrk -t2 -c16 -d5s "http://$haddr/health" > "$WORK/wrk.txt"
  rps=$(awk '/Requests\/sec/ {printf "%d", $2}' "$WORK/wrk.txt")
  errors=$(grep -E "Non-2xx|Socket errors" "$WORK/wrk.txt" || true)
  echo
  echo "GET /health at the default log level (info): $rps req/s (wrk, 2 threads, 16 connections, 5 s)${errors:+; $errors}"
else
  echo
  echo "GET /health req/s: skipped (wrk is missing; apt-get install wrk)"
fi
stop "$health"
echo "access-log lines written for /health: $(grep -c '/health -> 200' "$health_log" || true)"

cargo build --quiet --release --example live_bench
target/release/examples/live_bench "$BIN"

# One day out of a 1 000 000-punch journal, answered from the journal.
cargo build --quiet --release --example journal_fill
day=$(target/release/examples/journal_fill "$WORK/punches.db" recepcion 1000000)
printf '{"recepcion": {"mode": "push", "sn": "BENCHSN1", "name": "Recepcion"}}\n' > "$WORK/push.json"
start_server jaddr --config "$WORK/push.json" --journal "$WORK/punches.db" --log-level warn
jserver=$LAST_PID
jurl="http://$jaddr/devices/recepcion/attendance?source=journal&date=$day"
curl -s -o /dev/null "$jurl"   # warm-up
jt=()
for _ in $(seq "$RUNS"); do
  jt+=("$(curl -s -o "$WORK/day.json" -w '%{time_total}' "$jurl" | awk '{printf "%.1f", $1 * 1000}')")
done
jtotal=$(python3 -c "import json; print(json.load(open('$WORK/day.json'))['total'])")
echo
echo "one day ($day, $jtotal punches) out of a 1000000-punch journal, ?source=journal: median $(printf '%s\n' "${jt[@]}" | median) ms, min $(printf '%s\n' "${jt[@]}" | sort -n | head -1) ms over $RUNS runs (target <= 20 ms)"
stop "$jserver"

# Push receiver: ingest, 500 polling terminals, push punch -> SSE.
cargo build --quiet --release --example push_bench
target/release/examples/push_bench "$BIN"

postgres_bench
