#!/usr/bin/env bash
# fetch.sh SERIES|PACKAGE  -> prints the directory of a ready kernel in the cache.
#
# Makes sure the machine can boot Debian's stock kernel of SERIES (e.g. "6.1": the newest
# linux-image-6.1.0-N-amd64 apt knows) or of the exact PACKAGE, under QEMU:
#   * installs qemu-system-x86 with --no-install-recommends when it is missing;
#   * downloads the kernel, busybox-static and kmod with `apt-get download` and unpacks them
#     with `dpkg -x` into the cache: they are never installed, so no initramfs or bootloader
#     hook runs on this machine;
#   * runs depmod for the kernel's modules and decompresses vmlinuz to a plain ELF vmlinux
#     (QEMU boots it through its PVH entry, skipping the decompressor: ~5 s less under TCG).
# The first kernel fetched for a SERIES is kept (pinned) until the cache is removed.
# Cache: $PYNS_KERNEL_CACHE (default /var/cache/pyns-kernels), ~550 MB per kernel.
set -euo pipefail

want=${1:?usage: fetch.sh SERIES|PACKAGE}
CACHE=${PYNS_KERNEL_CACHE:-/var/cache/pyns-kernels}
mkdir -p "$CACHE/debs" "$CACHE/tools"
say() { echo "kernels: $*" >&2; }

apt_updated=0
apt_update() {
    [ $apt_updated = 1 ] && return 0
    apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
    apt_updated=1
}

# Every exec through the helper keeps to one lock: two lanes may share the cache.
exec 8>"$CACHE/.lock"
flock 8

if ! command -v qemu-system-x86_64 >/dev/null; then
    say "installing qemu-system-x86 (once)"
    apt_update
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
        --no-install-recommends qemu-system-x86 >/dev/null
fi

download() {  # download PKG...: into $CACHE/debs; the package lists are refreshed once if needed
    (cd "$CACHE/debs" && apt-get download -qq "$@" >/dev/null 2>&1) && return 0
    apt_update
    (cd "$CACHE/debs" && apt-get download -qq "$@" >/dev/null)
}

unpack_tool() {  # unpack_tool PKG: $CACHE/tools/PKG
    local pkg=$1
    [ -e "$CACHE/tools/$pkg/.done" ] && return 0
    rm -f "$CACHE/debs/${pkg}"_*.deb
    download "$pkg"
    rm -rf "$CACHE/tools/$pkg"
    dpkg -x "$CACHE/debs/${pkg}"_*.deb "$CACHE/tools/$pkg"
    touch "$CACHE/tools/$pkg/.done"
}
unpack_tool busybox-static
unpack_tool kmod

# The package: pinned per SERIES once resolved.
case $want in
    linux-image-*) pkg=$want ;;
    *)
        [[ $want =~ ^[0-9]+\.[0-9]+$ ]] || { say "not a series like 6.1 nor a package: $want"; exit 2; }
        pin=$CACHE/series-$want
        if [ -s "$pin" ]; then
            pkg=$(cat "$pin")
        else
            re="^linux-image-${want//./\\.}\.0-[0-9]+-amd64\$"
            pkg=$(apt-cache pkgnames linux-image- | grep -E "$re" | sort -V | tail -1 || :)
            if [ -z "$pkg" ]; then
                apt_update
                pkg=$(apt-cache pkgnames linux-image- | grep -E "$re" | sort -V | tail -1 || :)
            fi
            [ -n "$pkg" ] || { say "apt knows no package matching $re"; exit 1; }
            echo "$pkg" > "$pin"
        fi
        ;;
esac

dir=$CACHE/$pkg
if [ ! -e "$dir/.done" ]; then
    say "fetching $pkg (once, ~130 MB)"
    rm -f "$CACHE/debs/${pkg}"_*.deb
    download "$pkg"
    rm -rf "$dir"
    dpkg -x "$CACHE/debs/${pkg}"_*.deb "$dir"
    rm -f "$CACHE/debs/${pkg}"_*.deb
    kver=$(ls "$dir/lib/modules")
    "$CACHE/tools/kmod/bin/kmod" -V >/dev/null   # the unpacked kmod runs on this machine
    ln -sfn kmod "$CACHE/tools/kmod/bin/depmod"
    "$CACHE/tools/kmod/bin/depmod" -b "$dir" "$kver"
    /usr/bin/python3 - "$dir/boot/vmlinuz-$kver" "$dir/vmlinux" <<'PY'
import lzma, sys
data = open(sys.argv[1], "rb").read()
at = data.find(b"\xfd7zXZ\x00")  # Debian's bzImage carries an xz-compressed ELF
if at >= 0:
    elf = lzma.LZMADecompressor().decompress(data[at:])
    if elf[:4] == b"\x7fELF":
        open(sys.argv[2], "wb").write(elf)
PY
    echo "$kver" > "$dir/.kver"
    touch "$dir/.done"
fi
echo "$dir"
