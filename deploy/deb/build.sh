#!/usr/bin/env bash
# Builds portolan_VERSION_all.deb with dpkg-deb from the agent's jar, the launcher, the systemd
# units and the example config (a conffile). No debhelper: the package is a handful of files.
# Usage: deploy/deb/build.sh [--jar PATH] [--out DIR]
#   --jar  the runnable jar (default agent/target/portolan.jar, built with mvn package if missing)
#   --out  where the .deb goes (default target/); its path is printed on stdout.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
jar="$root/agent/target/portolan.jar"
out="$root/target"
while (($#)); do
  case "$1" in
    --jar) jar="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "deploy/deb/build.sh: unknown argument '$1' (expected --jar PATH or --out DIR)" >&2; exit 2 ;;
  esac
done
need=()
command -v dpkg-deb >/dev/null || need+=(dpkg)
command -v fakeroot >/dev/null || need+=(fakeroot)
command -v unzip >/dev/null || need+=(unzip)
if ((${#need[@]})); then
  sudo_cmd=(); [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${need[@]}" >&2
fi
if [[ ! -f "$jar" ]]; then
  echo "deploy/deb/build.sh: building $jar (mvn -q -DskipTests package)" >&2
  (cd "$root" && mvn -q -B -ntp -DskipTests package >&2)
fi
# The version is the agent's Maven version, as the jar records it; a Maven pre-release
# (0.1.0-SNAPSHOT) sorts before its release in Debian's order as 0.1.0~SNAPSHOT.
mvn_version="$(unzip -p "$jar" META-INF/maven/io.portolan/portolan-agent/pom.properties | sed -n 's/^version=//p' | tr -d '\r')"
if [[ ! "$mvn_version" =~ ^[0-9][0-9A-Za-z.+-]*$ ]]; then
  echo "deploy/deb/build.sh: no usable version in $jar (pom.properties says '$mvn_version')" >&2
  exit 1
fi
version="${mvn_version//-/\~}"

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
pkg="$stage/portolan"
install -d -m 0755 "$pkg/DEBIAN" "$pkg/usr/bin" "$pkg/usr/share/portolan" "$pkg/lib/systemd/system" \
  "$pkg/etc/portolan" "$pkg/usr/share/doc/portolan" "$pkg/usr/share/man/man1"
install -m 0644 "$jar" "$pkg/usr/share/portolan/portolan.jar"
install -m 0755 "$root/deploy/bin/portolan" "$pkg/usr/bin/portolan"
install -m 0644 "$root/deploy/systemd/portolan.service" "$root/deploy/systemd/portolan.socket" "$pkg/lib/systemd/system/"
install -m 0644 "$root/deploy/config/agent.conf" "$pkg/etc/portolan/agent.conf"
install -m 0644 "$root/README.md" "$pkg/usr/share/doc/portolan/README.md"
install -m 0644 "$root/deploy/deb/copyright" "$pkg/usr/share/doc/portolan/copyright"
sed "s/@VERSION@/$version/; s/@DATE@/$(date -R -u -d "@${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)}")/" \
  "$root/deploy/deb/changelog" | gzip -9n > "$pkg/usr/share/doc/portolan/changelog.gz"
gzip -9n < "$root/deploy/deb/portolan.1" > "$pkg/usr/share/man/man1/portolan.1.gz"
chmod 0644 "$pkg/usr/share/doc/portolan/changelog.gz" "$pkg/usr/share/man/man1/portolan.1.gz"

for f in postinst postrm; do
  install -m 0755 "$root/deploy/deb/$f" "$pkg/DEBIAN/$f"
done
echo /etc/portolan/agent.conf > "$pkg/DEBIAN/conffiles"
chmod 0644 "$pkg/DEBIAN/conffiles"
installed_kb="$(du -k -s --exclude=DEBIAN "$pkg" | cut -f1)"
sed "s/@VERSION@/$version/; s/@SIZE@/$installed_kb/" "$root/deploy/deb/control" > "$pkg/DEBIAN/control"
(cd "$pkg" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) > "$pkg/DEBIAN/md5sums"
chmod 0644 "$pkg/DEBIAN/control" "$pkg/DEBIAN/md5sums"

mkdir -p "$out"
deb="$out/portolan_${version}_all.deb"
fakeroot dpkg-deb --build -Zxz "$pkg" "$deb" >&2
echo "$deb"
