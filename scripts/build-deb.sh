#!/usr/bin/env bash
# Builds target/dist/zkserver_<version>_<arch>.deb from a static binary:
#   scripts/build-deb.sh <amd64|arm64|armhf> <binary>
# The layout lives in packaging/deb/: control, conffiles, maintainer
# scripts, the settings file, copyright, changelog, man page and the
# lintian override for the static binary.
set -euo pipefail
cd "$(dirname "$0")/.."
arch=$1 bin=$2
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
src=packaging/deb
out=target/dist
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/zkserver_${version}_${arch}

install -d "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" "$root/etc/zkserver" \
  "$root/usr/share/doc/zkserver" "$root/usr/share/man/man1"
install -m 0755 "$bin" "$root/usr/bin/zkserver"
# The same unit install.sh uses, with the binary where the package puts it.
sed -e 's|/usr/local/bin/zkserver|/usr/bin/zkserver|' \
    -e 's|Installed by scripts/install.sh as|Installed by the zkserver package as|' \
    -e 's|/etc/systemd/system/zkserver.service|/lib/systemd/system/zkserver.service|' \
    scripts/zkserver.service > "$root/lib/systemd/system/zkserver.service"
chmod 0644 "$root/lib/systemd/system/zkserver.service"
install -m 0644 "$src/zkserver.env" "$root/etc/zkserver/zkserver.env"
install -m 0644 "$src/copyright" "$root/usr/share/doc/zkserver/copyright"
# A native package (no Debian revision): the changelog is changelog.gz.
sed "s/@VERSION@/$version/" "$src/changelog" | gzip -9n > "$root/usr/share/doc/zkserver/changelog.gz"
install -d "$root/usr/share/lintian/overrides"
install -m 0644 "$src/lintian-overrides" "$root/usr/share/lintian/overrides/zkserver"
gzip -9n < "$src/zkserver.1" > "$root/usr/share/man/man1/zkserver.1.gz"
chmod 0644 "$root/usr/share/doc/zkserver/changelog.gz" "$root/usr/share/man/man1/zkserver.1.gz"

for script in postinst prerm postrm; do
  install -m 0755 "$src/$script" "$root/DEBIAN/$script"
done
install -m 0644 "$src/conffiles" "$root/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
  "$src/control" > "$root/DEBIAN/control"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | sort |
  xargs md5sum > DEBIAN/md5sums)
chmod 0644 "$root/DEBIAN/md5sums" "$root/DEBIAN/control"

mkdir -p "$out"
dpkg-deb --root-owner-group -Zxz --build "$root" "$out/zkserver_${version}_${arch}.deb" >/dev/null
echo "$out/zkserver_${version}_${arch}.deb"
