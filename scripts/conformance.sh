#!/usr/bin/env bash
# Checks that pyzk (the Python client most deployments use, from PyPI) reads
# users, attendance and fingerprint templates (bulk and one by one) from our
# simulator exactly as the simulator holds them:
# TCP and UDP, 40- and 16-byte records, with and without a comm key, inline and
# chunked transfers. Installs pyzk into a venv; talks only to 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check "pyzk==0.9"

source scripts/lib.sh

passed=0
failed=0
run_case() { # transport format records users key user_format [extra simulator flags]
  local transport=$1 format=$2 records=$3 users=$4 key=$5 ufmt=$6
  shift 6
  local args=(--records "$records" --users "$users" --att-format "$format" --user-format "$ufmt" --comm-key "$key" --seed "$records" "$@")
  "$BIN" simulate --port 0 "${args[@]}" --dump > "$WORK/dump.json"
  local port
  start_sim port "${args[@]}"
  printf '%-4s %2s-byte records=%-6s users=%-4s user-format=%s %-15s: ' "$transport" "$format" "$records" "$users" "$ufmt" "$*"
  if "$VENV/bin/python" scripts/conformance.py "$port" "$key" "$transport" "$WORK/dump.json"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
  stop "$LAST_PID"
}

# TCP chunks come as real terminals send them (zk-vectors.md V13, V14):
# PREPARE_DATA, DATA frames of at most 1008 bytes, ACK_OK -- or, with
# --single-frame, one DATA frame per chunk (pyzatt's F19). pyzk 0.9 can only
# reassemble 1008-byte frames that arrive one read at a time (its bug: see
# FramePacedSocket in conformance.py), so conformance.py paces its reads frame
# by frame instead of the simulator being slowed down (--latency-ms made the
# suite slow, and still hung pyzk on a loaded machine). No case depends on
# timing.
for format in 40 16; do
  for key in 0 12345; do
    run_case tcp "$format" 5000 120 "$key" 72                  # chunked, 1008-byte frames
    run_case tcp "$format" 5000 120 "$key" 72 --single-frame   # chunked, one frame per chunk
    run_case tcp "$format" 10 3 "$key" 72                      # inline
    run_case udp "$format" 5000 120 "$key" 72                  # chunked
    run_case udp "$format" 10 3 "$key" 72                      # inline
  done
done
run_case tcp 16 3000 50 0 28
run_case udp 16 3000 50 0 28
run_case tcp 40 3000 50 0 72 --always-auth --single-frame
run_case tcp 40 3000 50 0 72 --split-writes 300   # frames cut into pieces on the wire

# A user created through zkserver's API is read back identically by pyzk.
api_user_case() { # transport user_format
  local transport=$1 ufmt=$2 udp=false
  [ "$transport" = udp ] && udp=true
  local port addr sim
  start_sim port --records 20 --users 5 --user-format "$ufmt"
  sim=$LAST_PID
  printf '{"t": {"ip": "127.0.0.1", "port": %s, "force_udp": %s}}\n' "$port" "$udp" > "$WORK/devices.json"
  start_server addr --config "$WORK/devices.json" --allow-open-writes
  printf '%-4s API-created user, %s-byte users: ' "$transport" "$ufmt"
  if "$VENV/bin/python" scripts/conformance.py --api-user "$port" "$transport" "$addr" "$ufmt"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
  stop "$LAST_PID"
  stop "$sim"
}
for transport in tcp udp; do
  for ufmt in 72 28; do
    api_user_case "$transport" "$ufmt"
  done
done

# Templates zkserver writes (one batch: upload buffer + CMD 110/12) are read
# back by pyzk byte for byte. The target starts with other templates under
# the same (uid, finger) keys, which the batch overwrites.
cargo build --release --quiet --example template_copy
copied_templates_case() { # transport
  local transport=$1 from to
  "$BIN" simulate --port 0 --users 40 --seed 5 --dump > "$WORK/source.json"
  start_sim from --users 40 --seed 5
  local source_pid=$LAST_PID
  start_sim to --users 40 --seed 6
  printf '%-4s templates written by zkserver: ' "$transport"
  if target/release/examples/template_copy "$from" "$to" "$transport" > /dev/null &&
    "$VENV/bin/python" scripts/conformance.py --copied-templates "$to" "$transport" "$WORK/source.json"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
  stop "$LAST_PID"
  stop "$source_pid"
}
for transport in tcp udp; do
  copied_templates_case "$transport"
done

echo "conformance: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
