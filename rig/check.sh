#!/bin/bash
# rig/check.sh: the whole test suite (make check).  Static checks of the
# series (which also build the test kernel at every patch), then the guest
# suite tests/suites/check on the test kernel with the IOMMU off and strict.
# TAP files and console logs go to out/check/; the last line is the sum.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out="$top/out/check"
rm -rf "$out"
mkdir -p "$out"
t0=$(date +%s)
stamp() { echo "check: $* ($(( $(date +%s) - t0 ))s)"; }

fatal() {	# a step that must work for anything to be tested
	echo "not ok 1 $1" > "$out/$2.tap"
	stamp "$1 FAILED"
	cd "$top" && python3 rig/tap-summary.py out/check/*.tap
	exit 1
}

"$top/rig/deps.sh" || fatal "deps" setup
"$top/rig/tree.sh" || fatal "the series applies to the base (git am)" setup
stamp "tree ready"
"$top/rig/static-check.sh" "$out" test || fatal "static checks ran" static-run
stamp "static checks done"
"$top/rig/build.sh" test || fatal "test kernel builds" build
"$top/rig/userspace.sh" || fatal "guest userspace builds" userspace
"$top/rig/initramfs.sh" test || fatal "initramfs" initramfs
stamp "guest ready"
for mode in off strict; do
	"$top/rig/vm.sh" --suite check --name "iommu-$mode" --iommu "$mode" --out "$out" \
		--timeout "${RIG_VM_TIMEOUT:-1800}"
	stamp "guest run iommu-$mode done"
done
echo
cd "$top" && python3 rig/tap-summary.py out/check/*.tap
