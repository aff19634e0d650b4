#!/bin/bash
# rig/initramfs.sh FLAVOR: build/initramfs-FLAVOR.cpio = the guest userspace
# (busybox, init, suites, test programs, fio, nvme-cli, e2fsprogs', xfsprogs' and
# util-linux's file system tools and their libraries)
# followed by the modules of build/obj-FLAVOR (the kernel unpacks both).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/rig/kenv.sh"
flavor=$1
obj=$(objdir "$flavor")
image=${RIG_INITRAMFS:-$top/build/initramfs-$flavor.cpio}
work="$top/build/initramfs"
root="$work/root"
rm -rf "$root" "$work/mod-$flavor"
mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,root,rig/bin,rig/suites,lib/modules}

cp /bin/busybox "$root/bin/busybox"
for a in $("$root/bin/busybox" --list-full); do
	[ -e "$root/$a" ] || ln -s /bin/busybox "$root/$a" 2>/dev/null || true
done
cp "$top/rig/guest/init" "$root/init"
cp "$top/rig/guest/run-suite" "$root/rig/run-suite"
cp "$top"/tests/suites/* "$root/rig/suites/"
mkdir -p "$root/rig/tests"
cp -r "$top"/tests/guest/* "$root/rig/tests/"
cp "$top"/build/guest/bin/* "$root/rig/bin/"
cp /usr/sbin/nvme "$root/rig/bin/nvme"
# The file system tests (tests/guest/fs.sh): e2fsprogs' mkfs.ext4 (with
# mke2fs.conf, its defaults), e2fsck, filefrag and e4defrag; xfsprogs'
# mkfs.xfs, xfs_repair, xfs_io and xfs_fsr; util-linux's fallocate, as
# busybox's cannot punch holes (its fsfreeze is enough).
for b in /usr/sbin/mkfs.ext4 /usr/sbin/e2fsck /usr/sbin/filefrag /usr/sbin/e4defrag \
	/usr/bin/fallocate /usr/sbin/mkfs.xfs /usr/sbin/xfs_repair /usr/sbin/xfs_io \
	/usr/sbin/xfs_fsr; do
	cp "$b" "$root/rig/bin/"
done
cp /etc/mke2fs.conf "$root/etc/"
[ -d "$top/build/guest/root" ] && cp -a "$top/build/guest/root/." "$root/"

# Shared libraries of the dynamic programs, at their own paths.
for b in "$root"/rig/bin/*; do
	ldd "$b" >/dev/null 2>&1 || continue	# static
	ldd "$b" 2>/dev/null | grep -o '/[^ ]*' | while read -r lib; do
		[ -e "$root$lib" ] || cp -L --parents "$lib" "$root/"
	done
done
cp /etc/ld.so.cache "$root/etc/" 2>/dev/null || true
echo "root:x:0:0:root:/root:/bin/sh" > "$root/etc/passwd"
echo "root:x:0:" > "$root/etc/group"
# e4defrag finds the file system of a file in /etc/mtab
ln -sf /proc/self/mounts "$root/etc/mtab"

(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) > "$work/userspace.cpio"

mkdir -p "$work/mod-$flavor"
kmake "$obj" -s modules_install INSTALL_MOD_PATH="$work/mod-$flavor" INSTALL_MOD_STRIP=1 >/dev/null
# The series' selftest modules (the dmabuf-rw test exporter), built out of
# tree against this kernel with W=1 and sparse (a warning fails), installed beside its
# modules so that the guest can modprobe them.
tm="$tree/tools/testing/selftests/dmabuf-rw/test_modules"
if [ -f "$tm/Makefile" ]; then
	mo="$work/testmods-$flavor"
	kmake "$obj" -s W=1 C=1 CHECK="$top/build/tools/bin/sparse" M="$tm" MO="$mo" modules \
		> "$work/testmods.log" 2>&1 &&
		! grep -q 'warning:' "$work/testmods.log" ||
		{ cat "$work/testmods.log" >&2; echo "initramfs: selftest modules do not build cleanly" >&2; exit 1; }
	kmake "$obj" -s M="$tm" MO="$mo" modules_install INSTALL_MOD_PATH="$work/mod-$flavor" \
		INSTALL_MOD_STRIP=1 >/dev/null
fi
(cd "$work/mod-$flavor" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) > "$work/modules-$flavor.cpio"
cat "$work/userspace.cpio" "$work/modules-$flavor.cpio" > "$image"
echo "initramfs: ${image#$top/} $(du -h "$image" | cut -f1)"
