#!/usr/bin/env bash
# Installs portolan on this host: the jar, the launcher, the systemd units and an example config.
# Usage: deploy/install.sh [--prefix /usr] [--no-build]     (as root)
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=/usr
build=1
while (($#)); do
  case "$1" in
    --prefix) prefix="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    *) echo "install.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if ! command -v java >/dev/null; then
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends openjdk-17-jre-headless
fi
if ((build)); then
  # gcc builds the native TCP relay's system calls (lb/src/main/c) into the jar.
  { command -v mvn >/dev/null && command -v gcc >/dev/null; } || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q maven openjdk-17-jdk-headless gcc libc6-dev; }
  mvn -q -B -ntp -DskipTests package
fi
install -D -m 0644 agent/target/portolan.jar "$prefix/lib/portolan/portolan.jar"
install -D -m 0755 deploy/bin/portolan "$prefix/lib/portolan/bin/portolan"
ln -sf "$prefix/lib/portolan/bin/portolan" "$prefix/bin/portolan"
install -D -m 0644 deploy/systemd/portolan.service /etc/systemd/system/portolan.service
install -D -m 0644 deploy/systemd/portolan.socket /etc/systemd/system/portolan.socket
if [[ "$prefix" != /usr ]]; then
  sed -i "s|/usr/bin/portolan|$prefix/bin/portolan|" /etc/systemd/system/portolan.service
fi
if [[ ! -f /etc/portolan/agent.conf ]]; then
  install -D -m 0644 deploy/config/agent.conf /etc/portolan/agent.conf
fi
getent group portolan >/dev/null || groupadd --system portolan
getent passwd portolan >/dev/null || useradd --system --gid portolan --home-dir /var/lib/portolan --shell /usr/sbin/nologin portolan
if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
  systemctl daemon-reload
  echo "installed; start with: systemctl enable --now portolan"
else
  echo "installed (no running systemd here); run: portolan agent --config /etc/portolan/agent.conf"
fi
