#!/bin/bash
# Install everything the rig needs on a Debian 12 machine, idempotently.
#
# Only the packages named here with a suite come from Debian's unstable /
# experimental suites; the project's pin file keeps every other package on
# the machine at its bookworm version.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/rig/versions.env"
src="$top/build/src"
stamp="$top/build/.deps-$DEPS_STAMP"

APT_SOURCES=/etc/apt/sources.list.d/dmabuf-rw.sources
APT_PIN=/etc/apt/preferences.d/dmabuf-rw

HOST_PKGS=(
	build-essential bc bison flex cpio kmod rsync xz-utils python3
	libelf-dev libssl-dev pkg-config git ccache
	qemu-system-x86 busybox-static nvme-cli dpkg-dev
	zlib1g-dev libaio-dev
	python3-matplotlib
	# the guest's file system tools (rig/initramfs.sh, tests/guest/fs.sh)
	e2fsprogs util-linux xfsprogs
	# rig/qemu.sh: the rig's own QEMU (an NVMe controller without SGLs)
	meson ninja-build libglib2.0-dev libpixman-1-dev libfdt-dev
)

want_file() {	# want_file PATH CONTENT: write PATH only if it differs
	if [ ! -f "$1" ] || [ "$(cat "$1")" != "$2" ]; then
		printf '%s\n' "$2" > "$1"
		return 0
	fi
	return 1
}

plugin_h="$src/qemu-plugin/qemu-plugin.h"
if [ -f "$stamp" ] && [ -f "$KERNEL_TARBALL" ] && [ -f "$plugin_h" ] && \
   [ -d "$src/fio" ] && [ -d "$src/liburing" ] && [ -x "$top/build/tools/bin/sparse" ]; then
	exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo

changed=0
src_entry="Types: deb deb-src
URIs: http://deb.debian.org/debian
Suites: unstable experimental
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
pin_entry="Package: *
Pin: release a=unstable
Pin-Priority: 100

Package: *
Pin: release a=experimental
Pin-Priority: 1"
$sudo bash -c "$(declare -f want_file); want_file $APT_SOURCES '$src_entry'" && changed=1
$sudo bash -c "$(declare -f want_file); want_file $APT_PIN '$pin_entry'" && changed=1

lists_old=1
if [ $changed -eq 0 ] && \
   find /var/lib/apt/lists -maxdepth 1 -name '*unstable*Sources*' -mmin -1440 | grep -q .; then
	lists_old=0
fi
[ $lists_old -eq 1 ] && $sudo apt-get update -qq

missing=()
for p in "${HOST_PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The kernel base: by name from its suite, nothing else is taken from there.
if [ ! -f "$KERNEL_TARBALL" ]; then
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends \
		"$KERNEL_PKG/$KERNEL_SUITE"
fi

# Userspace sources: Debian source packages from unstable.  The mirror here
# has been seen to serve a package's upstream tarball but not its .dsc; the
# Debian patches of fio and liburing are packaging only, so the upstream
# tarball (hash-checked by apt against the Sources index) is enough then.
mkdir -p "$src"
for pkg in fio liburing sparse; do
	[ -d "$src/$pkg" ] && continue
	tmp=$(mktemp -d "$src/.get-$pkg.XXXX")
	(cd "$tmp" && apt-get source -q --download-only "$pkg/unstable" >/dev/null 2>&1) || true
	if ls "$tmp"/*.dsc >/dev/null 2>&1; then
		(cd "$tmp" && dpkg-source -q --no-check -x ./*.dsc "$pkg" >/dev/null 2>&1)
		ver=$(cd "$tmp" && ls ./*.dsc | sed 's/.*_\(.*\)\.dsc/\1/')
	elif ls "$tmp"/*.orig.tar.* >/dev/null 2>&1; then
		orig=$(ls "$tmp"/*.orig.tar.* | grep -v '\.asc$' | head -1)
		mkdir "$tmp/$pkg"
		tar -xf "$orig" -C "$tmp/$pkg" --strip-components=1
		ver="$(basename "$orig" | sed 's/.*_\(.*\)\.orig\.tar.*/\1/') (upstream tarball only)"
	else
		echo "deps: could not fetch the source of $pkg from unstable" >&2
		exit 1
	fi
	echo "$ver" > "$tmp/$pkg/.debian-version"
	mv "$tmp/$pkg" "$src/$pkg"
	rm -rf "$tmp"
done

# The TCG plugin API header of the QEMU on this machine (make bench's
# instruction counter, bench/plugin): from the source package of the
# installed qemu-system-x86, at its exact version (bookworm's deb-src above).
if [ ! -f "$plugin_h" ]; then
	qver=$(dpkg-query -W -f='${source:Version}' qemu-system-x86)
	tmp=$(mktemp -d "$src/.get-qemu.XXXX")
	(cd "$tmp" && apt-get source -q --download-only "qemu=$qver" >/dev/null 2>&1) ||
		{ echo "deps: could not fetch the source of qemu $qver" >&2; exit 1; }
	orig=$(ls "$tmp"/qemu_*.orig.tar.* | grep -v '\.asc$' | head -1)
	tar -xf "$orig" -C "$tmp" --wildcards '*/include/qemu/qemu-plugin.h'
	mkdir -p "$src/qemu-plugin"
	find "$tmp" -name qemu-plugin.h -exec cp {} "$plugin_h.tmp" \;
	echo "$qver" > "$src/qemu-plugin/.debian-version"
	mv "$plugin_h.tmp" "$plugin_h"
	rm -rf "$tmp"
fi

# bookworm's sparse (0.6.4) is too old for 7.3's headers (__typeof_unqual__):
# the kernel's Makefile then skips C=1/C=2 silently.  Build unstable's.
if [ ! -x "$top/build/tools/bin/sparse" ]; then
	make -s -C "$src/sparse" CC=gcc -j"$(nproc)" sparse >/dev/null 2>&1 ||
		{ echo "deps: building sparse failed" >&2; exit 1; }
	mkdir -p "$top/build/tools/bin"
	cp "$src/sparse/sparse" "$top/build/tools/bin/sparse"
fi

mkdir -p "$(dirname "$stamp")"
touch "$stamp"
