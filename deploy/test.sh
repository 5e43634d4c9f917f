#!/usr/bin/env bash
# Runs the whole test suite. Installs the Debian packages the tests need when they are missing
# (deploy/test-packages.txt), then runs Maven. Usage: deploy/test.sh [extra maven args]
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
while read -r pkg; do
  [[ -z "$pkg" || "$pkg" == \#* ]] && continue
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done < deploy/test-packages.txt
if ((${#missing[@]})); then
  echo "installing test packages: ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# Debian's etcd-server package may start a system etcd on 2379; the tests start their own on free
# ports and never rely on it.
exec mvn -B -ntp verify "$@"
