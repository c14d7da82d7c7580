#!/bin/busybox sh
# Stage 1, PID 1 of the guest (busybox, from the initramfs vm.sh builds): mounts the machine's
# root read-only over 9p under a tmpfs overlay, the run directory writable at /run/lane, the
# kernel's API filesystems, and hands over to /run/lane/guest.sh, run by the machine's bash.
/bin/busybox --install -s /bin
export PATH=/bin
fail() { echo "lane-init: $*"; echo b > /proc/sysrq-trigger; }
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules); do insmod "/mod/$m.ko"; done
P9=trans=virtio,version=9p2000.L,msize=512000
mount -t 9p -o $P9,cache=loose,ro host /lower || fail "cannot mount the host's root (9p)"
mount -t tmpfs -o mode=0755,size=75% rw /rw && mkdir /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work root /new ||
    fail "cannot mount the overlay"
N=/new
mount --move /proc $N/proc
mount --move /sys $N/sys
mount --move /dev $N/dev
mount -t tmpfs -o mode=0755,nosuid,nodev run $N/run
mkdir -p $N/run/lane $N/run/lock $N/run/netns $N/dev/pts $N/dev/shm $N/dev/mqueue
chmod 1777 $N/run/lock
mount -t 9p -o $P9,cache=none lane $N/run/lane || fail "cannot mount the run directory (9p)"
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts $N/dev/pts
mount -t tmpfs -o mode=1777,nosuid,nodev shm $N/dev/shm
mount -t mqueue mqueue $N/dev/mqueue
ln -sfn /proc/self/fd $N/dev/fd
mount -t cgroup2 -o nsdelegate cgroup2 $N/sys/fs/cgroup
mount -t bpf bpf $N/sys/fs/bpf
# The guest kernel's modules, loaded on demand by the unpacked kmod (the kernel runs
# /sbin/modprobe, which is /usr/sbin/modprobe on a merged-/usr Debian).
K=$(uname -r)
KDIR=$(cat $N/run/lane/kdir)
KMOD=$(cat $N/run/lane/kmod)
mkdir -p $N/lib/modules && rm -rf $N/lib/modules/$K && ln -s "$KDIR/lib/modules/$K" $N/lib/modules/$K
for t in modprobe insmod rmmod lsmod modinfo depmod; do
    rm -f $N/usr/sbin/$t && ln -s "$KMOD" $N/usr/sbin/$t
done
ip link set lo up
exec switch_root $N /bin/bash /run/lane/guest.sh
