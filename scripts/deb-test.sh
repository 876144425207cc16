#!/usr/bin/env bash
# Installs the amd64 package on this machine and walks its life cycle:
# install, install again over itself (the upgrade path keeps settings, key
# and devices), remove (data and key kept), purge (all gone). Needs root;
# leaves nothing behind. Where systemd does not run (containers, CI), the
# package enables the service for the next boot and starts nothing.
#   scripts/deb-test.sh target/dist/zkserver_<version>_amd64.deb
set -euo pipefail
deb=$1
passed=0 failed=0
check() { # description command...
  local what=$1
  shift
  if "$@" >/dev/null 2>&1; then
    passed=$((passed + 1))
  else
    echo "  FAIL: $what"
    failed=$((failed + 1))
  fi
}
mode() { stat -c '%a %U:%G' "$1"; }

if dpkg -s zkserver >/dev/null 2>&1; then
  echo "zkserver is already installed here; not touching it" >&2
  exit 1
fi
echo "== install $deb"
dpkg -i "$deb"
check "zkserver --version runs from /usr/bin" /usr/bin/zkserver --version
check "the system user exists" getent passwd zkserver
check "the key is mode 0600, owned by zkserver" test "$(mode /etc/zkserver/api-key)" = "600 zkserver:zkserver"
check "the key is not empty" test -s /etc/zkserver/api-key
check "devices.json exists, mode 0600" test "$(mode /var/lib/zkserver/devices.json)" = "600 zkserver:zkserver"
check "the data directory is private" test "$(mode /var/lib/zkserver)" = "700 zkserver:zkserver"
check "the unit is installed" test -f /lib/systemd/system/zkserver.service
check "the service is enabled" test -L /etc/systemd/system/multi-user.target.wants/zkserver.service
check "the man page is installed" test -f /usr/share/man/man1/zkserver.1.gz
key=$(cat /etc/zkserver/api-key)
# What the unit would run, as the service user: the key must be readable and
# devices.json writable by it.
serve_as_service_user() {
  local log port ok=1
  log=$(mktemp)
  runuser -u zkserver -- /usr/bin/zkserver --config /var/lib/zkserver/devices.json \
    --api-key-file /etc/zkserver/api-key --host 127.0.0.1 --port 0 --log-level warn 2> "$log" &
  local pid=$!
  for _ in $(seq 100); do grep -q "listening on" "$log" && break; sleep 0.05; done
  port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log")
  if [ -n "$port" ] &&
     curl -fsS -o /dev/null "http://127.0.0.1:$port/health" &&
     curl -fsS -o /dev/null -X POST -H "X-API-Key: $key" -H 'Content-Type: application/json' \
       -d '{"id": "prueba", "name": "Prueba", "ip": "192.0.2.20"}' "http://127.0.0.1:$port/devices"; then
    ok=0
  fi
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -f "$log"
  return $ok
}
check "the service user runs it with the key and saves devices" serve_as_service_user
check "devices.json is still private after a save" test "$(mode /var/lib/zkserver/devices.json)" = "600 zkserver:zkserver"
check "the punch journal lives in /var/lib/zkserver, the service user's" \
  test "$(stat -c %U /var/lib/zkserver/punches.db)" = "zkserver"
check "the punch journal is private (it holds keypad passwords)" \
  test "$(mode /var/lib/zkserver/punches.db)" = "600 zkserver:zkserver"
journal_sum=$(sha256sum < /var/lib/zkserver/punches.db)
# A journal left readable by an older version is made private on upgrade.
chmod 0644 /var/lib/zkserver/punches.db

echo "== install again over itself (upgrade path)"
echo '{"reloj": {"ip": "192.0.2.10", "name": "Reloj"}}' > /var/lib/zkserver/devices.json
echo "LOG_LEVEL=debug  # changed by the admin" >> /etc/zkserver/zkserver.env
dpkg -i "$deb"
check "the key is kept" test "$(cat /etc/zkserver/api-key)" = "$key"
check "the devices are kept" grep -q reloj /var/lib/zkserver/devices.json
check "the journal is kept on upgrade" test "$(sha256sum < /var/lib/zkserver/punches.db)" = "$journal_sum"
check "the journal is private again after the upgrade" \
  test "$(mode /var/lib/zkserver/punches.db)" = "600 zkserver:zkserver"
check "the changed settings are kept" grep -q "changed by the admin" /etc/zkserver/zkserver.env

echo "== remove"
dpkg -r zkserver
check "the binary is gone" test ! -e /usr/bin/zkserver
check "the unit is gone" test ! -e /lib/systemd/system/zkserver.service
check "the devices are kept" grep -q reloj /var/lib/zkserver/devices.json
check "the journal is kept on remove" test "$(sha256sum < /var/lib/zkserver/punches.db)" = "$journal_sum"
check "the key is kept" test "$(cat /etc/zkserver/api-key)" = "$key"
check "the settings are kept" test -f /etc/zkserver/zkserver.env

echo "== purge"
dpkg -P zkserver
check "the data (devices, journal) is gone" test ! -e /var/lib/zkserver
check "the settings and key are gone" test ! -e /etc/zkserver
check "the user is gone" bash -c '! getent passwd zkserver'
check "dpkg forgot the package" bash -c '! dpkg -s zkserver'

echo "deb lifecycle: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
