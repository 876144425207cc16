#!/usr/bin/env bash
# Builds the Windows packages of zkserver from a cross-built zkserver.exe:
#   <outdir>/zkserver-<version>-windows-x86_64.zip  zkserver.exe, devices.example.json,
#                                                   LEEME.txt (UTF-8, CRLF)
#   <outdir>/zkserver-<version>-x64.msi             wixl (msitools) from
#                                                   packaging/windows/zkserver.wxs
# and prints their SHA256 lines (also written to <outdir>/SHA256SUMS-windows).
# <version> is Cargo.toml's. Needs: wixl, msibuild (Debian: wixl, msitools), zip.
#
# Usage: scripts/package-windows.sh <path-to-zkserver.exe> <outdir>
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 <path-to-zkserver.exe> <outdir>" >&2; exit 2; }
EXE=$(realpath "$1")
OUT=$2
cd "$(dirname "$0")/.."
SRC=packaging/windows
[ -f "$EXE" ] || { echo "no such file: $EXE" >&2; exit 1; }

missing=()
for tool in wixl:wixl msibuild:msitools msiinfo:msitools zip:zip; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "missing tools: apt-get install ${missing[*]}" >&2
  exit 1
fi

VERSION=$(sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -n1)
# An MSI ProductVersion is numeric major.minor.build: drop any -pre/+build part.
MSI_VERSION=${VERSION%%[-+]*}
[[ "$MSI_VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "bad version: $VERSION" >&2; exit 1; }
ZIP=zkserver-$VERSION-windows-x86_64.zip
MSI=zkserver-$VERSION-x64.msi

mkdir -p "$OUT"
OUT=$(realpath "$OUT")
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# --- zip ---------------------------------------------------------------------
mkdir "$WORK/zip"
cp "$EXE" "$WORK/zip/zkserver.exe"
cp "$SRC/devices.example.json" "$WORK/zip/devices.example.json"
# LEEME.txt is kept with CRLF in git; enforce it anyway (a checkout with
# core.autocrlf=input would turn it into LF, which old Notepads show on one line).
sed 's/\r*$/\r/' "$SRC/LEEME.txt" > "$WORK/zip/LEEME.txt"
rm -f "$OUT/$ZIP"
(cd "$WORK/zip" && TZ=UTC touch -d "2000-01-01 00:00:00" ./* && zip -q -X "$OUT/$ZIP" zkserver.exe devices.example.json LEEME.txt)

# --- msi ---------------------------------------------------------------------
# wixl looks sources up relative to the current directory (no absolute paths).
mkdir "$WORK/msi"
cp "$EXE" "$WORK/msi/zkserver.exe"
printf '{}\r\n' > "$WORK/msi/devices.json"
rm -f "$OUT/$MSI"
WXS=$(realpath "$SRC/zkserver.wxs")
(cd "$WORK/msi" && wixl -a x64 -D Version="$MSI_VERSION" -D Exe=zkserver.exe -D EmptyDevices=devices.json \
  -o "$OUT/$MSI" "$WXS")
# What wixl 0.101 cannot say in the .wxs, set in the database directly:
# - Component attributes: 256 = 64-bit component (a per-machine x64 package);
#   16 = Permanent (the data folder, logs\ and devices.json stay on uninstall);
#   128 = NeverOverwrite (devices.json is not installed when one already
#   exists: a user's list of terminals is never replaced by the empty one).
# - The MajorUpgrade row also matches the same version (VersionMax inclusive,
#   512 + MigrateFeatures 1), so a rebuilt MSI of the same version replaces the
#   installed one instead of installing beside it.
msi_sql() { msibuild "$OUT/$MSI" -q "$1" || { echo "msibuild failed: $1" >&2; exit 1; }; }
msi_sql "UPDATE \`Component\` SET \`Attributes\` = 256 WHERE \`Component\` = 'Program'"
msi_sql "UPDATE \`Component\` SET \`Attributes\` = 272 WHERE \`Component\` = 'DataFolder' OR \`Component\` = 'LogsFolder'"
msi_sql "UPDATE \`Component\` SET \`Attributes\` = 400 WHERE \`Component\` = 'DevicesJson'"
UPGRADE_CODE=$(sed -n 's/.*UpgradeCode="\([0-9A-Fa-f-]*\)".*/\1/p' "$SRC/zkserver.wxs")
msi_sql "DELETE FROM \`Upgrade\` WHERE \`ActionProperty\` = 'WIX_UPGRADE_DETECTED'"
msi_sql "INSERT INTO \`Upgrade\` (\`UpgradeCode\`, \`VersionMax\`, \`Attributes\`, \`ActionProperty\`) VALUES ('{$UPGRADE_CODE}', '$MSI_VERSION', 513, 'WIX_UPGRADE_DETECTED')"
attrs=$(msiinfo export "$OUT/$MSI" Component | awk -F'\t' 'NR > 3 {print $1 "=" $4}' | sort | tr '\n' ' ')
[ "$attrs" = "DataFolder=272 DevicesJson=400 LogsFolder=272 Program=256 " ] \
  || { echo "unexpected component attributes: $attrs" >&2; exit 1; }

(cd "$OUT" && sha256sum "$ZIP" "$MSI" | tee SHA256SUMS-windows)
