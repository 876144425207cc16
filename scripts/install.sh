#!/usr/bin/env bash
# Installs zkserver as a systemd service. Idempotent: run it again to upgrade.
#   sudo scripts/install.sh [path/to/zkserver-binary]
# Default binary: target/dist/zkserver-<this machine's arch>, else
# target/release/zkserver. Creates the `zkserver` system user, /etc/zkserver
# (settings, API key), /var/lib/zkserver (devices.json), installs the unit,
# enables and (re)starts it.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "run as root (sudo $0)" >&2
  exit 1
fi

case "$(uname -m)" in
  x86_64) arch=x86_64 ;;
  aarch64 | arm64) arch=aarch64 ;;
  armv7l | armv6l | armhf) arch=armv7 ;;
  *) arch=$(uname -m) ;;
esac
bin=${1:-}
if [ -z "$bin" ]; then
  for candidate in "target/dist/zkserver-$arch" target/release/zkserver ./zkserver; do
    if [ -x "$candidate" ]; then bin=$candidate; break; fi
  done
fi
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
  echo "no zkserver binary found; pass its path: sudo $0 ./zkserver-$arch" >&2
  exit 1
fi
"$bin" --version >/dev/null

# User and directories.
if ! id zkserver >/dev/null 2>&1; then
  useradd --system --home-dir /var/lib/zkserver --no-create-home --shell /usr/sbin/nologin zkserver
fi
install -d -m 0700 -o zkserver -g zkserver /var/lib/zkserver
install -d -m 0750 -o root -g zkserver /etc/zkserver

# Binary (atomic replace, so a running service keeps its old inode).
install -m 0755 "$bin" /usr/local/bin/zkserver.new
mv -f /usr/local/bin/zkserver.new /usr/local/bin/zkserver

# Settings: created once, never overwritten.
if [ ! -f /etc/zkserver/zkserver.env ]; then
  cat > /etc/zkserver/zkserver.env <<'ENV'
# zkserver settings (see README.md "Configuration").
API_HOST=0.0.0.0
API_PORT=5000
API_KEY_FILE=/etc/zkserver/api-key
LOG_LEVEL=info
ENV
  chmod 0640 /etc/zkserver/zkserver.env
  chgrp zkserver /etc/zkserver/zkserver.env
fi
if [ ! -f /etc/zkserver/api-key ]; then
  head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > /etc/zkserver/api-key
  chmod 0640 /etc/zkserver/api-key
  chgrp zkserver /etc/zkserver/api-key
  echo "created an API key in /etc/zkserver/api-key"
fi
if [ ! -f /var/lib/zkserver/devices.json ]; then
  if [ -f devices.json ]; then
    install -m 0600 -o zkserver -g zkserver devices.json /var/lib/zkserver/devices.json
    echo "copied devices.json to /var/lib/zkserver/ (edit it, or use the API)"
  else
    echo '{}' > /var/lib/zkserver/devices.json
    chown zkserver:zkserver /var/lib/zkserver/devices.json
    chmod 0600 /var/lib/zkserver/devices.json
  fi
fi

# Service.
install -m 0644 scripts/zkserver.service /etc/systemd/system/zkserver.service
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable zkserver >/dev/null
  systemctl restart zkserver
  systemctl --no-pager --lines=5 status zkserver || true
else
  echo "systemd is not running here: unit installed, start it with 'systemctl enable --now zkserver' on boot"
fi
echo "zkserver installed: $(/usr/local/bin/zkserver --version)"
