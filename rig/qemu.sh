#!/bin/bash
# rig/qemu.sh: build the rig's own QEMU, build/qemu/bin/qemu-system-x86_64,
# and print its path.
#
# Why: Debian's QEMU (7.2 in bookworm, and 11 in unstable) emulates an NVMe
# controller that always supports SGLs, with no property to turn that off,
# while most consumer SSDs have PRPs only; Linux's nvme-pci then applies a
# virt boundary to the queue, and a patch series that builds NVMe commands
# must be tested there.  rig/qemu/*.patch adds `-device nvme,...,sgl=off`
# (Identify Controller reports no SGLs, a command that uses one anyway is
# refused with Invalid Field).
#
# What: Debian's qemu source package at the exact version of the installed
# qemu-system-x86 (so that, the patch aside, the device behaves as the one
# the other runs use), fetched as rig/deps.sh fetches sources (apt checks the
# tarballs' hashes against the signed index), plus rig/qemu/*.patch.  Only
# what the rig needs: x86_64 system emulation, no tools, docs, user mode,
# GUI or optional libraries, and only the devices of rig/qemu/rig-x86_64.mak
# (--without-default-devices).  Firmware (SeaBIOS, option ROMs) is Debian's
# installed one, found through the same --firmwarepath as Debian's build.
# The compiler goes through ccache when there is one.
#
# rig/qemu/sgl-selftest.py then checks the property on the device itself.
# Cached: nothing is built when build/qemu/bin was made from the same qemu
# version, patches, device list and configure options.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
qdir="$top/build/qemu"
bin="$qdir/bin/qemu-system-x86_64"

qver=$(dpkg-query -W -f='${source:Version}' qemu-system-x86 2>/dev/null) ||
	{ echo "qemu: qemu-system-x86 is not installed (rig/deps.sh)" >&2; exit 1; }

cc=gcc
command -v ccache >/dev/null && cc="ccache gcc"
conf=(
	--target-list=x86_64-softmmu
	# Every optional library off (GUI, VNC, audio, curl, ...); then only
	# what the rig uses back on: KVM (RIG_KVM=1), TCG plugins (--plugin),
	# libfdt, which the x86 targets require.
	--without-default-features --enable-kvm --enable-plugins --enable-fdt=system
	--without-default-devices --with-devices-x86_64=rig
	--disable-docs --disable-tools --disable-user --disable-debug-info
	--disable-install-blobs
	--firmwarepath=/usr/share/qemu:/usr/share/seabios:/usr/lib/ipxe/qemu
)
key=$( { echo "$qver"; echo "${conf[*]}"
	 cat "$top"/rig/qemu/*.patch "$top/rig/qemu/rig-x86_64.mak"; } | sha256sum | cut -c1-16)
if [ -x "$bin" ] && [ "$(cat "$qdir/bin/.rig-key" 2>/dev/null)" = "$key" ]; then
	echo "$bin"
	exit 0
fi

# The source, at the installed version, with Debian's own patches (the
# stable updates among them) applied by dpkg-source.
src="$top/build/src/qemu"
if [ "$(cat "$src/.debian-version" 2>/dev/null)" != "$qver" ]; then
	rm -rf "$src"
	mkdir -p "$top/build/src"
	tmp=$(mktemp -d "$top/build/src/.get-qemu.XXXX")
	(cd "$tmp" && apt-get source -q --download-only "qemu=$qver" >/dev/null 2>&1) ||
		{ echo "qemu: could not fetch the source of qemu $qver" >&2; exit 1; }
	(cd "$tmp" && dpkg-source -q --no-check -x ./qemu_*.dsc qemu >/dev/null 2>&1) ||
		{ echo "qemu: could not unpack the source of qemu $qver" >&2; exit 1; }
	echo "$qver" > "$tmp/qemu/.debian-version"
	mv "$tmp/qemu" "$src"
	rm -rf "$tmp"
fi

start=$(date +%s)
rm -rf "$qdir"
mkdir -p "$qdir"
cp -a "$src" "$qdir/src"
for p in "$top"/rig/qemu/*.patch; do
	patch -d "$qdir/src" -p1 -s < "$p" || { echo "qemu: $p does not apply to qemu $qver" >&2; exit 1; }
done
cp "$top/rig/qemu/rig-x86_64.mak" "$qdir/src/configs/devices/x86_64-softmmu/rig.mak"

# ccache: objects are hashed relative to the build folder, so that another
# clone of the repository hits them too.
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
export CCACHE_BASEDIR="$qdir"
export CCACHE_SLOPPINESS=time_macros,include_file_mtime,include_file_ctime
log="$qdir/build.log"
mkdir -p "$qdir/build"
if ! (cd "$qdir/build" && ../src/configure --cc="$cc" "${conf[@]}" &&
      ninja -j"$(nproc)" qemu-system-x86_64) > "$log" 2>&1; then
	tail -40 "$log" >&2
	echo "qemu: build failed; full log in ${log#$top/}" >&2
	exit 1
fi
mkdir -p "$qdir/bin"
cp "$qdir/build/qemu-system-x86_64" "$bin"
# What the rig relies on, proved on the device itself (no guest can send
# an SGL to a controller that reports none): sgl=on behaves as Debian's,
# sgl=off reports SGLS 0 and refuses an SGL read with Invalid Field.
python3 "$top/rig/qemu/sgl-selftest.py" "$bin" >> "$log" 2>&1 ||
	{ tail -5 "$log" >&2; echo "qemu: the built QEMU fails rig/qemu/sgl-selftest.py" >&2; exit 1; }
echo "$key" > "$qdir/bin/.rig-key"
echo "qemu: qemu $qver + $(ls "$top"/rig/qemu/*.patch | wc -l) patch(es) built in $(( $(date +%s) - start )) s" >&2
echo "$bin"
