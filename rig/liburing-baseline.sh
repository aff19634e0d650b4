#!/bin/bash
# rig/liburing-baseline.sh: make tests/guest/liburing-base.txt, the liburing
# test programs that fail on the unpatched base kernel.  Builds the base
# (build/linux at tag "base", the tree the series applies to) with the test
# config into build/obj-base, boots it with the same guest userspace, IOMMU
# setting and NVMe device as `make check`'s liburing run, and runs
# liburing's suite there without a baseline.  `make check` then counts a
# failure on the patched kernel as a regression unless it is in the list.
# Run it again when the base kernel, liburing's version or the list of
# programs make check runs (tests/guest/liburing-tests.txt) changes: make
# check refuses a list made for another.  LIBURING_TESTS=all runs every
# liburing test program (about an hour under TCG) instead of that list.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/rig/kenv.sh"
out="$top/out/liburing-base"
list="$top/tests/guest/liburing-base.txt"
base_tree="$top/build/linux-base"
commit=$(git -C "$tree" rev-parse base)

if [ "$(cat "$base_tree/.rig-base" 2>/dev/null)" != "$commit" ]; then
	rm -rf "$base_tree"
	mkdir -p "$base_tree"
	git -C "$tree" archive base | tar -x -C "$base_tree"
	echo "$commit" > "$base_tree/.rig-base"
fi
export RIG_TREE="$base_tree" RIG_OBJ="$top/build/obj-base"
"$top/rig/build.sh" test
"$top/rig/userspace.sh"
RIG_INITRAMFS="$top/build/initramfs-base.cpio" "$top/rig/initramfs.sh" test
suite=liburing-base tests="liburing-tests.txt $(grep -v '^#' "$top/tests/guest/liburing-tests.txt" | sha256sum | cut -c1-16)"
[ "${LIBURING_TESTS:-}" = all ] && suite=liburing-base-all tests=all
rm -rf "$out"
"$top/rig/vm.sh" --kernel "$RIG_OBJ/arch/x86/boot/bzImage" --initrd "$top/build/initramfs-base.cpio" \
	--suite "$suite" --name liburing --iommu off --out "$out" --timeout 4200 || true
grep -q '^# rig: done' "$out/liburing.tap" ||
	{ echo "liburing-baseline: the base kernel's run did not finish (see ${out#$top/})" >&2; exit 1; }

{
	echo "# liburing test programs that fail on the unpatched base kernel (make"
	echo "# liburing-baseline); tests/guest/liburing-suite.sh reads it in the guest."
	echo "# base: $(head -1 "$top/patches/linux/BASE")"
	echo "# liburing: $(cat "$top/build/src/liburing/.debian-version")"
	echo "# tests: $tests"
	sed -n 's/^    not ok [0-9]* \(.*\) # exit .*/\1/p' "$out/liburing.tap" | LC_ALL=C sort
} > "$list"
echo "liburing-baseline: $(grep -vc '^#' "$list") failing programs on the base kernel, written to ${list#$top/}"
python3 "$top/rig/tap-summary.py" "$out/liburing.tap"
