#!/usr/bin/env bash
# vm.sh KERNEL_DIR RUN_DIR: boots the kernel fetch.sh unpacked into KERNEL_DIR under QEMU and
# runs RUN_DIR/cmd.sh (bash) inside as root, in a guest that sees this machine's root
# filesystem read-only (9p, with a tmpfs overlay: writes vanish at exit) and RUN_DIR writable at
# /run/lane. The command's output lands in RUN_DIR/log (followed here on stderr when
# PYNS_KERNEL_VERBOSE=1), its exit status in RUN_DIR/rc, the kernel console in RUN_DIR/console.
# Exits with the command's status; 124 when the VM timed out, 125 when it failed to boot, 126
# when the guest kernel stalled twice.
#
# A guest kernel that stalls (a soft lockup or an RCU stall on its console) says nothing about
# the tests: the VM is stopped once the stall has been reported and booted again, once. The
# stall's report (the console runs at loglevel 7, backtraces included) goes to stderr and
# stays in RUN_DIR/console.stalled. Seen once in about 20 runs of the lane under TCG.
#
# Acceleration (PYNS_KERNEL_ACCEL=auto|kvm|tcg): auto tries KVM when /dev/kvm opens and falls
# back to software emulation (TCG) when the guest does not come up under it (a /dev/kvm can
# belong to a hypervisor that runs only kernels built for it, as here); the verdict is kept in
# the cache per machine kernel and guest kernel.
# Knobs: PYNS_KERNEL_MEM (2G), PYNS_KERNEL_CPUS (2), PYNS_KERNEL_TIMEOUT (900 s).
set -euo pipefail

KDIR=${1:?usage: vm.sh KERNEL_DIR RUN_DIR}
RUN=${2:?usage: vm.sh KERNEL_DIR RUN_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${PYNS_KERNEL_CACHE:-/var/cache/pyns-kernels}
TIMEOUT=${PYNS_KERNEL_TIMEOUT:-900}
KVER=$(cat "$KDIR/.kver")
say() { echo "kernels: $*" >&2; }

# ----- the initramfs: static busybox, stage 1, and the modules 9p needs, in load order
MODS="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci netfs fscache
      9pnet 9pnet_virtio 9p overlay"
initrd=$KDIR/initrd-$(cat "$HERE/init.sh" - <<<"$MODS" | md5sum | cut -c1-12).cpio
if [ ! -s "$initrd" ]; then
    d=$(mktemp -d "$CACHE/initrd.XXXXXX")
    mkdir -p "$d"/{bin,mod,proc,sys,dev,lower,rw,new}
    cp "$CACHE/tools/busybox-static/bin/busybox" "$d/bin/"
    install -m 755 "$HERE/init.sh" "$d/init"
    : > "$d/modules"
    for m in $MODS; do
        f=$(find "$KDIR/lib/modules/$KVER/kernel" -name "$m.ko" | head -1)
        [ -n "$f" ] || continue   # built into this kernel
        cp "$f" "$d/mod/" && echo "$m" >> "$d/modules"
    done
    (cd "$d" && find . | "$d/bin/busybox" cpio -o -H newc > "$initrd.tmp" 2>/dev/null)
    mv "$initrd.tmp" "$initrd"
    rm -rf "$d"
fi

echo "$KDIR" > "$RUN/kdir"
echo "$CACHE/tools/kmod/bin/kmod" > "$RUN/kmod"
cp "$HERE/guest.sh" "$RUN/guest.sh"
kernel=$KDIR/vmlinux
[ -s "$kernel" ] || kernel=$KDIR/boot/vmlinuz-$KVER

# boot ACCEL: runs qemu until the command is done; returns qemu's status (124: timed out)
boot() {
    local accel
    case $1 in
        kvm) accel=(-accel kvm -cpu host) ;;
        tcg) accel=(-accel tcg,thread=multi -cpu max) ;;
    esac
    rm -f "$RUN/booted" "$RUN/rc" "$RUN/log"
    local p9=security_model=passthrough,multidevs=remap
    timeout -k 10 "${3:-$TIMEOUT}" qemu-system-x86_64 \
        -nodefaults -no-user-config -display none -no-reboot -M q35 "${accel[@]}" \
        -m "${PYNS_KERNEL_MEM:-2G}" -smp "${PYNS_KERNEL_CPUS:-2}" \
        -kernel "$kernel" -initrd "$initrd" \
        -append "console=ttyS0 panic=-1 reboot=t loglevel=7 mitigations=off tsc=reliable" \
        -chardev "file,id=con,path=$RUN/console" -serial chardev:con \
        -fsdev "local,id=host,path=/,readonly=on,$p9" -device virtio-9p-pci,fsdev=host,mount_tag=host \
        -fsdev "local,id=lane,path=$RUN,$p9" -device virtio-9p-pci,fsdev=lane,mount_tag=lane \
        < /dev/null > "$RUN/qemu.out" 2>&1 &
    local qemu=$! follow=
    if [ "${PYNS_KERNEL_VERBOSE:-0}" = 1 ]; then
        touch "$RUN/log"; tail -n +1 -F --pid=$qemu "$RUN/log" 2>/dev/null >&2 & follow=$!
    fi
    if [ "$1:${2:-}" = kvm:probe ]; then
        # Under working KVM this kernel reaches stage 2 in a second or two.
        local waited=0
        while [ ! -e "$RUN/booted" ] && kill -0 $qemu 2>/dev/null && [ $waited -lt 60 ]; do
            sleep 1; waited=$((waited + 1))
        done
        if [ ! -e "$RUN/booted" ]; then
            kill $qemu 2>/dev/null; wait $qemu 2>/dev/null
            [ -z "$follow" ] || kill $follow 2>/dev/null
            return 125
        fi
    fi
    local stalled=
    while kill -0 $qemu 2>/dev/null; do
        if grep -qE "$STALL" "$RUN/console" 2>/dev/null; then
            sleep 5  # the rest of the report
            stalled=1; kill $qemu 2>/dev/null
            break
        fi
        sleep 2
    done
    local rc=0
    wait $qemu || rc=$?
    [ -z "$follow" ] || wait $follow 2>/dev/null || :
    [ -z "$stalled" ] || return 126
    return $rc
}
STALL='soft lockup - CPU|rcu: INFO: rcu_[a-z]* self-detected stall'

# run ACCEL: boot; a guest kernel stall (126): the report, then one more boot
run() {
    local qrc=0
    boot "$1" || qrc=$?
    if [ $qrc = 126 ] && [ ! -s "$RUN/rc" ]; then
        say "the guest kernel stalled (not a test result); its report:"
        grep -m1 -A40 -E "$STALL" "$RUN/console" >&2 || :
        mv "$RUN/console" "$RUN/console.stalled"
        say "booting $KVER again (once)"
        qrc=0
        boot "$1" || qrc=$?
    fi
    return $qrc
}

accel=${PYNS_KERNEL_ACCEL:-auto}
verdict=$CACHE/accel-$(uname -r)-$KVER
if [ "$accel" = auto ]; then
    if [ -s "$verdict" ]; then
        accel=$(cat "$verdict")
    elif ! { : <>/dev/kvm; } 2>/dev/null; then
        accel=tcg
    else
        qrc=0; boot kvm probe || qrc=$?
        if [ -e "$RUN/booted" ]; then
            echo kvm > "$verdict"; accel=done
            [ $qrc != 126 ] || [ -s "$RUN/rc" ] || accel=kvm  # stalled: boot again
        else
            say "KVM did not boot $KVER (qemu: $(head -c 300 "$RUN/qemu.out" | tr '\n' ' ')); using TCG"
            echo tcg > "$verdict"; accel=tcg
        fi
    fi
fi
qrc=0
case $accel in
    done) ;;
    kvm|tcg) say "booting $KVER ($accel)"; run "$accel" || qrc=$? ;;
    *) say "PYNS_KERNEL_ACCEL must be auto, kvm or tcg"; exit 2 ;;
esac
[ -s "$RUN/rc" ] && exit "$(cat "$RUN/rc")"
if [ $qrc = 124 ] || [ $qrc = 137 ]; then
    say "the VM timed out after ${TIMEOUT}s"; rc=124
elif [ $qrc = 126 ]; then
    say "the guest kernel stalled again: no results"; rc=126
else
    say "the VM stopped without the command's status (qemu status $qrc)"; rc=125
fi
for f in qemu.out console log; do
    [ -s "$RUN/$f" ] && { echo "--- $f (tail)" >&2; tail -n 30 "$RUN/$f" >&2; }
done
exit $rc
