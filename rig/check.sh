#!/bin/bash
# rig/check.sh: the whole test suite (make check).  Static checks of the
# series (which also build the test kernel at every patch), then the guest
# suite tests/suites/check on the test kernel with the IOMMU off and strict,
# tests/suites/swiotlb with swiotlb=force, tests/suites/nosgl on an NVMe
# controller without SGLs (the rig's own QEMU), tests/suites/multipath on two
# controllers sharing a namespace (and tests/suites/multipath-off with
# nvme_core.multipath=0), the P2P suite tests/suites/p2p
# (vfio-pci BAR, IOMMU strict and lazy), then liburing's own test suite
# (tests/suites/liburing) with the IOMMU off.  The boots run in two lanes
# side by side.
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
# liburing's own test suite on the patched kernel: a failure counts unless
# the unpatched base kernel has it too (tests/guest/liburing-base.txt, made
# by `make liburing-baseline` for this base and this liburing).
lb="$top/tests/guest/liburing-base.txt"
want="$(head -1 "$top/patches/linux/BASE") / liburing $(cat "$top/build/src/liburing/.debian-version")"
have="$(sed -n 's/^# base: //p' "$lb" 2>/dev/null) / liburing $(sed -n 's/^# liburing: //p' "$lb" 2>/dev/null)"
tests=$(sed -n 's/^# tests: //p' "$lb" 2>/dev/null)
list="liburing-tests.txt $(grep -v '^#' "$top/tests/guest/liburing-tests.txt" | sha256sum | cut -c1-16)"
[ "$tests" = all ] || [ "$tests" = "$list" ] || have="$have, for other tests ($tests)"
{
	echo "1..1"
	if [ "$want" = "$have" ]; then
		echo "ok 1 liburing baseline is for $want"
	else
		echo "not ok 1 liburing baseline is for '$have', not '$want': run make liburing-baseline"
	fi
} > "$out/liburing-baseline.tap"

# An NVMe controller without SGL support, as most consumer SSDs: nvme-pci
# then builds PRPs only and gives the queue a virt boundary, which dma-buf
# requests must honour.  Debian's QEMU cannot emulate one: rig/qemu.sh
# builds the rig's own (Debian's source + rig/qemu/*.patch; once, cached in
# build/qemu).  One short boot (tests/suites/nosgl), with the IOMMU in
# strict mode: without an IOMMU the test exporter's scatterlists coalesce
# into DMA ranges that break only at its chunks, which are whole pages, so
# every request is PRP-able whatever its split; through the IOMMU each
# sub-page entry gets an IOVA range of its own, and a request the block
# layer did not split at the virt boundary cannot be described by PRPs.
# RIG_NOSGL_IOMMU=off|lazy changes the mode.  A QEMU that does not build is
# a failure of that run, not of the whole check.
nosgl_qemu=0
if "$top/rig/qemu.sh" > /dev/null; then
	nosgl_qemu=1
	stamp "rig qemu ready"
else
	printf 'TAP version 13\n1..1\nnot ok 1 the rig QEMU builds (rig/qemu.sh; build/qemu/build.log)\n' \
		> "$out/nosgl.tap"
fi
# Whether KVM works, asked once before the boots run side by side.
[ "${RIG_KVM:-probe}" = probe ] &&
	"$top/rig/kvm-probe.sh" "$top/build/obj-test/arch/x86/boot/bzImage" \
		"$top/build/initramfs-test.cpio" > /dev/null

# A boot's timeout: its own, or what is left before RIG_CHECK_DEADLINE
# seconds from the start (5100 by default, under CI's 5400; 0: none), so
# that a guest that hangs ends as a failure with the sum printed, not as a
# run killed from outside.
deadline=${RIG_CHECK_DEADLINE:-5100}
tmo() {	# tmo SECONDS
	local own=$1 left
	[ "$deadline" -gt 0 ] || { echo "$own"; return; }
	left=$(( deadline - ($(date +%s) - t0) ))
	[ $left -lt 60 ] && left=60
	[ $left -lt "$own" ] && own=$left
	echo "$own"
}

# The boots, each a function; two lanes of them run side by side below.
# The main suite's [off] and [strict] lines run in that boot only
# (tests/suites/check).
boot_main() {	# boot_main off|strict
	"$top/rig/vm.sh" --suite check --name "iommu-$1" --iommu "$1" --out "$out" \
		--timeout "$(tmo "${RIG_VM_TIMEOUT:-3000}")"
	stamp "guest run iommu-$1 done"
}

# swiotlb=force (as in confidential guests): every DMA mapping of the NVMe
# device is bounced, so a dma-buf mapped once would need a sync per I/O.  One
# short boot, IOMMU off: registration is refused with EOPNOTSUPP and changes
# nothing, plain and fixed-buffer I/O still verify (tests/suites/swiotlb).
boot_swiotlb() {
	"$top/rig/vm.sh" --suite swiotlb --name swiotlb --iommu off --out "$out" \
		--append "swiotlb=force,track_hiwater" --timeout "$(tmo "${RIG_VM_TIMEOUT_SWIOTLB:-600}")"
	stamp "guest run swiotlb done"
}

# The controller without SGLs (above).
boot_nosgl() {
	[ $nosgl_qemu -eq 1 ] || return 0
	"$top/rig/vm.sh" --suite nosgl --name nosgl --iommu "${RIG_NOSGL_IOMMU:-strict}" \
		--nvme-nosgl --out "$out" --timeout "$(tmo "${RIG_VM_TIMEOUT_NOSGL:-1500}")"
	stamp "guest run nosgl done"
}

# NVMe multipath: two controllers of one subsystem share the namespace, whose
# block device is then the multipath head, a bio-based disk that maps a
# dma-buf once per path's controller and sends each bio down one path
# (tests/suites/multipath).  One boot, IOMMU strict, where each controller
# has an IOMMU domain of its own and a bio that reached a controller with
# another's mapping would fault; RIG_MULTIPATH_IOMMU=off|lazy changes it.
boot_multipath() {
	"$top/rig/vm.sh" --suite multipath --name multipath --iommu "${RIG_MULTIPATH_IOMMU:-strict}" \
		--nvme-paths 2 --out "$out" --timeout "$(tmo "${RIG_VM_TIMEOUT_MULTIPATH:-1800}")"
	stamp "guest run multipath done"
}
# The same subsystem with multipath off (nvme_core.multipath=0): a node per
# controller, each the node of one path (tests/suites/multipath-off).
boot_multipath_off() {
	"$top/rig/vm.sh" --suite multipath-off --name multipath-off --iommu "${RIG_MULTIPATH_IOMMU:-strict}" \
		--nvme-paths 2 --append nvme_core.multipath=0 --out "$out" --timeout "$(tmo 900)"
	stamp "guest run multipath-off done"
}

# P2P between the namespace and a PCI BAR exported by vfio-pci (issue 4):
# one short boot per IOMMU mode with an ivshmem device whose BAR is a host
# file the host fills with a seeded pattern first, and the namespace throttled
# to 16 MiB/s so that the revokes find requests in the device; the guest's test
# (tests/p2p-vfio.c) declares what it DMAed into the BAR, and the host checks
# the file against that once the guest is gone (out/check/p2p-MODE.hostcheck.tap).
boot_p2p() {	# boot_p2p strict|lazy
	local mode=$1 shm seed
	shm="$out/p2p-$mode.shm"
	seed=${RIG_P2P_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
	python3 "$top/rig/p2p-hostcheck.py" prefill "$shm" "$seed" 16M
	"$top/rig/vm.sh" --suite p2p --name "p2p-$mode" --iommu "$mode" --out "$out" \
		--ivshmem "$shm" --append "p2p.seed=$seed" --timeout "$(tmo "${RIG_VM_TIMEOUT_P2P:-1200}")" \
		--nvme-bps $((16 << 20))
	python3 "$top/rig/p2p-hostcheck.py" check "$shm" "$seed" "$out/p2p-$mode.tap" \
		"p2p-$mode" > "$out/p2p-$mode.hostcheck.tap"
	grep -E '^(not )?ok' "$out/p2p-$mode.hostcheck.tap" >&2
	stamp "guest run p2p-$mode done (seed $seed)"
}

# liburing's own suite (the baseline check above).
boot_liburing() {
	"$top/rig/vm.sh" --suite liburing --name liburing --iommu off --out "$out" \
		--timeout "$(tmo "${RIG_VM_TIMEOUT_LIBURING:-3000}")"
	stamp "guest run liburing done"
}

# Two lanes side by side: a guest keeps about one and a half of the two
# cores busy, so two at once end sooner than one after the other.  Each
# lane's lines are prefixed with its name as they come.
lane() {	# lane NAME BOOT...
	local name=$1 b
	shift
	for b in "$@"; do
		case $b in
		*:*) "boot_${b%%:*}" "${b#*:}" ;;
		*) "boot_$b" ;;
		esac
	done 2>&1 | sed -u "s/^/$name: /"
}
# (balanced by their times under load: the IOMMU-off boot has more tests)
lane_a() { lane A main:off swiotlb multipath_off liburing; }
lane_b() { lane B main:strict nosgl multipath p2p:strict p2p:lazy; }
# RIG_CHECK_LANES=1: one after the other.
if [ "${RIG_CHECK_LANES:-2}" = 1 ]; then
	lane_a
	lane_b
else
	lane_a &
	lane_b &
	# Background jobs ignore ^C: take the lanes down with the run.
	trap 'trap - INT TERM; kill 0' INT TERM
	wait
	trap - INT TERM
fi
echo
cd "$top" && python3 rig/tap-summary.py out/check/*.tap
