#!/bin/busybox sh
# PID 1 of the test VM (deploy/vm/run-in-vm.sh): load modules, mount the host root read-only over
# 9p with fresh proc/sys/dev/tmp/run, run /run/portolan-job/cmd.sh chrooted there, record its exit
# code in the job share, power off.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules/order); do
  insmod "/modules/$m" 2>/dev/null || echo "vm init: insmod $m failed" >/dev/console
done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000 hostroot /newroot || { echo "vm init: 9p mount failed" >/dev/console; poweroff -f; }
mount -t proc proc /newroot/proc
mount -t sysfs sys /newroot/sys
mount -t devtmpfs dev /newroot/dev
mkdir -p /newroot/dev/shm /newroot/dev/pts 2>/dev/null
mount -t tmpfs shm /newroot/dev/shm
mount -t devpts devpts /newroot/dev/pts
mount -t tmpfs tmp /newroot/tmp
mount -t tmpfs run /newroot/run
mkdir -p /newroot/run/portolan-job
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 job /newroot/run/portolan-job
chroot /newroot /bin/bash /run/portolan-job/cmd.sh </dev/null >/dev/console 2>&1
echo $? >/newroot/run/portolan-job/rc
sync
umount /newroot/run/portolan-job
poweroff -f
