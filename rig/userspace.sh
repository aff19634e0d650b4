#!/bin/bash
# Build what runs in the guest besides the kernel, into build/guest/:
#  - liburing (Debian unstable source + patches/liburing/*.patch), static,
#    and the test of its dma-buf helpers from liburing's test/
#  - fio (Debian unstable source + patches/fio/*.patch)
#  - the rig's own test programs (tests/*.c), static, against liburing and
#    the uapi headers of the series' kernel
# Each source is copied from build/src and patched afresh when its patches
# change; builds are incremental otherwise.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/rig/kenv.sh"
out="$top/build/guest"
mkdir -p "$out/bin"

prep_src() {	# prep_src NAME: build/NAME = build/src/NAME + patches/NAME/*.patch
	local name=$1 dst="$top/build/$1" h
	h=$( { cat "$top/build/src/$name/.debian-version"
	       cat "$top"/patches/"$name"/*.patch 2>/dev/null || true; } | sha256sum | cut -c1-16)
	if [ -f "$dst/.rig-patched" ] && [ "$(cat "$dst/.rig-patched")" = "$h" ]; then
		return 0
	fi
	rm -rf "$dst"
	cp -a "$top/build/src/$name" "$dst"
	for p in "$top"/patches/"$name"/*.patch; do
		[ -f "$p" ] || continue
		patch -d "$dst" -p1 -s < "$p" || { echo "userspace: $p does not apply" >&2; exit 1; }
	done
	echo "$h" > "$dst/.rig-patched"
}

# Kernel uapi headers of the tree the guest runs (the series' uapi included).
hdr="$top/build/uapi"
hstamp="$hdr/.rig-head"
head=$(git -C "$tree" rev-parse HEAD)
if [ ! -f "$hstamp" ] || [ "$(cat "$hstamp")" != "$head" ] || [ -n "$(git -C "$tree" status --porcelain -- include/uapi arch/x86/include/uapi)" ]; then
	rm -rf "$hdr"
	make -s -C "$tree" O="$top/build/obj-headers" ARCH=x86_64 headers_install INSTALL_HDR_PATH="$hdr" >/dev/null
	echo "$head" > "$hstamp"
fi

prep_src liburing
if [ ! -f "$top/build/liburing/src/liburing.a" ] || [ "$top/build/liburing/.rig-patched" -nt "$top/build/liburing/src/liburing.a" ]; then
	(cd "$top/build/liburing" && ./configure && make -j"$JOBS" -C src) > "$top/build/liburing.log" 2>&1 ||
		{ tail -30 "$top/build/liburing.log" >&2; echo "userspace: liburing build failed" >&2; exit 1; }
fi
# liburing's own test of its dma-buf registration helpers (patches/liburing),
# with liburing's test Makefile, static.
if [ -f "$top/build/liburing/test/buf-desc-dmabuf.c" ]; then
	make -C "$top/build/liburing/test" LDFLAGS=-static buf-desc-dmabuf.t > "$top/build/liburing-test.log" 2>&1 ||
		{ tail -30 "$top/build/liburing-test.log" >&2; echo "userspace: liburing test build failed" >&2; exit 1; }
	cp -u "$top/build/liburing/test/buf-desc-dmabuf.t" "$out/bin/liburing-buf-desc-dmabuf"
fi

# liburing's own test programs, for the regression suite (tests/guest/liburing-suite.sh).
make -j"$JOBS" -C "$top/build/liburing/test" > "$top/build/liburing-tests.log" 2>&1 ||
	{ tail -30 "$top/build/liburing-tests.log" >&2; echo "userspace: liburing tests build failed" >&2; exit 1; }
mkdir -p "$out/root/rig/liburing"
for t in "$top"/build/liburing/test/*.t; do
	d="$out/root/rig/liburing/$(basename "$t")"
	[ "$d" -nt "$t" ] || strip -o "$d" "$t"
done

prep_src fio
if [ ! -x "$top/build/fio/fio" ] || [ "$top/build/fio/.rig-patched" -nt "$top/build/fio/fio" ]; then
	(cd "$top/build/fio" && ./configure --disable-native && make -j"$JOBS") > "$top/build/fio.log" 2>&1 ||
		{ tail -30 "$top/build/fio.log" >&2; echo "userspace: fio build failed" >&2; exit 1; }
fi
cp -u "$top/build/fio/fio" "$out/bin/fio"

CFLAGS="-O2 -g -Wall -Wextra -Wno-sign-compare -D_GNU_SOURCE -static"
CFLAGS+=" -isystem $hdr/include -I$tree/tools/testing/selftests -I$top/build/liburing/src/include"
for c in "$top"/tests/*.c; do
	[ -f "$c" ] || continue
	bin="$out/bin/$(basename "$c" .c)"
	if [ ! -x "$bin" ] || [ "$c" -nt "$bin" ] || [ "$top/tests/rig-util.h" -nt "$bin" ] ||
	   [ "$top/build/liburing/src/liburing.a" -nt "$bin" ] || [ "$hstamp" -nt "$bin" ]; then
		gcc $CFLAGS -o "$bin" "$c" "$top/build/liburing/src/liburing.a" -lpthread
	fi
done
# The series' kselftests, with their own Makefile (kselftest lib.mk); their
# modules are built against the guest's kernel by rig/initramfs.sh.
st="$tree/tools/testing/selftests/dmabuf-rw"
if [ -f "$st/Makefile" ]; then
	make -s -C "$st" OUTPUT="$out/bin" KHDR_INCLUDES="-isystem $hdr/include" TEST_GEN_MODS_DIR= \
		CFLAGS="-O2 -Wall -static -isystem $hdr/include -I$tree/tools/testing/selftests" \
		> "$top/build/selftests.log" 2>&1 ||
		{ tail -30 "$top/build/selftests.log" >&2; echo "userspace: selftests build failed" >&2; exit 1; }
fi
echo "userspace: liburing $(cat "$top/build/src/liburing/.debian-version"), fio $(cat "$top/build/src/fio/.debian-version"), $(ls "$out/bin" | wc -l) guest programs"
