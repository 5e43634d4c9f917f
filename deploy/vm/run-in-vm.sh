#!/usr/bin/env bash
# Runs one command inside a small throw-away VM whose kernel has IPVS, nftables and the dummy
# device module (this host's kernel may have none of them), and returns the command's exit code.
#
#   deploy/vm/run-in-vm.sh CMD ARGS...
#
# The guest boots Debian's stock kernel (the package linux-image-amd64 depends on) with a busybox
# initramfs that loads the modules listed in deploy/vm/modules.txt, mounts this host's root
# read-only over 9p, mounts fresh proc, sys, dev, /tmp and /run inside it, and chroots there to run
# CMD in the current directory (as root, same paths, same Java, same Maven repository). The guest
# cannot write to the host: temporary files belong under /tmp or /run, which are guest tmpfs.
# Output goes to this script's stdout (the serial console). No network device: loopback and
# whatever namespaces/veths the command makes.
#
# The kernel and initramfs are built once and cached in $PORTOLAN_VM_CACHE
# (default ${XDG_CACHE_HOME:-~/.cache}/portolan-vm). Needs (deploy/test-packages.txt):
# qemu-system-x86 busybox-static kmod cpio, and apt able to download the kernel package.
#
# Environment: PORTOLAN_VM_TIMEOUT (seconds, default 900), PORTOLAN_VM_MEM (MiB, default 2048),
# PORTOLAN_VM_CPUS (default 2), PORTOLAN_VM_ACCEL (default tcg: here /dev/kvm exists but qemu
# fails on an MSR at start), PORTOLAN_VM_ENV (space-separated names of variables to pass in).
# Exit code: the command's; 124 on timeout; 125 when the VM did not report one.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${PORTOLAN_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/portolan-vm}
timeout_s=${PORTOLAN_VM_TIMEOUT:-900}
mem=${PORTOLAN_VM_MEM:-2048}
cpus=${PORTOLAN_VM_CPUS:-2}
accel=${PORTOLAN_VM_ACCEL:-tcg}

if (($# == 0)); then
  echo "usage: $0 CMD ARGS..." >&2
  exit 2
fi
for tool in qemu-system-x86_64 cpio depmod modprobe apt-get dpkg; do
  command -v "$tool" >/dev/null || { echo "run-in-vm: $tool not found; install deploy/test-packages.txt" >&2; exit 125; }
done
[[ -x /bin/busybox ]] || { echo "run-in-vm: /bin/busybox not found; install busybox-static" >&2; exit 125; }

mkdir -p "$cache"
exec 9>"$cache/.lock"

build_image() {
  local pkg ver root out modules
  pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  if [[ -z "$pkg" ]]; then
    apt-get update -q >&2
    pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  fi
  [[ -n "$pkg" ]] || { echo "run-in-vm: cannot find the kernel package linux-image-amd64 depends on" >&2; return 1; }
  out="$cache/$pkg"
  if [[ -f "$out/initrd.gz" && -f "$out/vmlinuz" && "$out/initrd.gz" -nt "$here/modules.txt" && "$out/initrd.gz" -nt "$here/init.sh" ]]; then
    echo "$out"
    return
  fi
  echo "run-in-vm: building the VM image from $pkg in $out" >&2
  rm -rf "$out"
  mkdir -p "$out/deb"
  (cd "$out/deb" && apt-get download -q "$pkg" >&2)
  root="$out/kernel"
  dpkg -x "$out"/deb/*.deb "$root"
  ver=$(ls "$root/lib/modules")
  depmod -b "$root" "$ver"
  cp "$root/boot/vmlinuz-$ver" "$out/vmlinuz"

  local ird="$out/initramfs"
  mkdir -p "$ird"/{bin,dev,proc,sys,newroot,modules}
  cp /bin/busybox "$ird/bin/busybox"
  cp "$here/init.sh" "$ird/init"
  chmod 755 "$ird/init"
  : >"$ird/modules/order"
  declare -A seen=()
  while read -r mod; do
    [[ -z "$mod" || "$mod" == \#* ]] && continue
    while read -r kind path _; do
      [[ "$kind" == insmod ]] || continue
      local base
      base=$(basename "$path")
      base=${base%.xz}
      base=${base%.zst}
      [[ -n "${seen[$base]:-}" ]] && continue
      seen[$base]=1
      case "$path" in
        *.xz) xz -dc "$path" >"$ird/modules/$base" ;;
        *.zst) zstd -qdc "$path" >"$ird/modules/$base" ;;
        *) cp "$path" "$ird/modules/$base" ;;
      esac
      echo "$base" >>"$ird/modules/order"
    done < <(modprobe -d "$root" -S "$ver" --show-depends "$mod")
  done <"$here/modules.txt"
  (cd "$ird" && find . | cpio -o -H newc --quiet | gzip -1 >"$out/initrd.gz.tmp")
  mv "$out/initrd.gz.tmp" "$out/initrd.gz"
  echo "$out"
}

flock 9
image=$(build_image)
flock -u 9

job=$(mktemp -d "$cache/job.XXXXXX")
trap 'rm -rf "$job"' EXIT
{
  echo '#!/bin/bash'
  printf 'cd %q 2>/dev/null || cd /\n' "$PWD"
  echo 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp LANG=C.UTF-8 PORTOLAN_IN_VM=1'
  for name in JAVA_HOME MAVEN_OPTS ${PORTOLAN_VM_ENV:-}; do
    [[ -n "${!name:-}" ]] && printf 'export %s=%q\n' "$name" "${!name}"
  done
  echo 'ip link set lo up'
  printf '%q ' "$@"
  echo
} >"$job/cmd.sh"
chmod 755 "$job/cmd.sh"

set +e
timeout --foreground -k 10 "$timeout_s" qemu-system-x86_64 -accel "$accel" -m "$mem" -smp "$cpus" \
  -nographic -no-reboot -nic none \
  -kernel "$image/vmlinuz" -initrd "$image/initrd.gz" \
  -append "console=ttyS0 quiet loglevel=1 panic=-1" \
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
  -virtfs "local,path=$job,mount_tag=job,security_model=none,multidevs=remap" \
  </dev/null | sed -u 's/\r$//'
status=${PIPESTATUS[0]}
set -e
if ((status == 124)); then
  echo "run-in-vm: timed out after ${timeout_s}s" >&2
  exit 124
fi
if [[ ! -s "$job/rc" ]]; then
  echo "run-in-vm: the VM exited ($status) without reporting the command's exit code" >&2
  exit 125
fi
exit "$(cat "$job/rc")"
