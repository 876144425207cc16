# Shared helpers for the scripts (source it after `cd` to the repository).
# Builds the release binary, keeps a scratch folder, and stops every process
# started through these helpers when the script exits.

cargo build --quiet --release
BIN=target/release/zkserver
WORK=$(mktemp -d)
PIDS=()
stop_all() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap stop_all EXIT

# wait_for_line FILE PATTERN: waits (10 s at most) until FILE contains PATTERN.
wait_for_line() {
  for _ in $(seq 200); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "timed out waiting for '$2' in $1" >&2
  return 1
}

# start_sim VAR ARGS...: runs `zkserver simulate --port 0 ARGS` and sets VAR to
# its port (TCP and UDP) and LAST_PID to its pid.
start_sim() {
  local var=$1 out
  shift
  out=$(mktemp "$WORK/sim.XXXX")
  "$BIN" simulate --port 0 "$@" > "$out" 2>/dev/null &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
  wait_for_line "$out" "simulated terminal on"
  printf -v "$var" '%s' "$(sed -n 's/.*simulated terminal on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$out")"
}

# start_server VAR ARGS...: runs `zkserver --host 127.0.0.1 --port 0 ARGS` and
# sets VAR to its host:port and LAST_PID to its pid.
start_server() {
  local var=$1 err
  shift
  err=$(mktemp "$WORK/server.XXXX")
  "$BIN" --host 127.0.0.1 --port 0 "$@" 2> "$err" &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
  wait_for_line "$err" "listening on"
  printf -v "$var" '%s' "$(sed -n 's/.*listening on http:\/\/\([0-9.:]*\).*/\1/p' "$err")"
}

# stop PID: stops one process started by these helpers and waits for it.
stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
