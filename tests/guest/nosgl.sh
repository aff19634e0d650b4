#!/bin/sh
# nosgl.sh TEST...: the tests of tests/suites/nosgl, run on an NVMe
# controller without SGL support (rig/vm.sh --nvme-nosgl: the rig's own
# QEMU, rig/qemu.sh, with -device nvme,...,sgl=off).  Like most consumer
# SSDs it takes PRPs only, so nvme-pci gives the queue a virt boundary
# (NVME_CTRL_PAGE_SIZE - 1): every segment but the first must start on a
# controller page, every segment but the last end on one, and a request that
# breaks this cannot be described by a PRP list.
#   nosgl.sh controller
#       nvme id-ctrl reports SGLS 0, and the namespace's queue has the virt
#       boundary (virt_boundary_mask 4095)
#   nosgl.sh selftest FIXTURE
#       the series' dmabuf-rw kselftests of FIXTURE (dmabuf_rw_test -f), on
#       the namespace
#   nosgl.sh fio MODE JOB
#       tests/guest/fio-verify.sh MODE JOB (write, read back, verify)
# Every test but "controller" checks the controller first and FAILS (does
# not skip) when it has SGLs or the queue has no virt boundary: its result
# would then say nothing about a controller without SGLs.
# The exit code is the result (4: skip).
dev=${RIG_NVME:-/dev/nvme0n1}
ctrl=/dev/nvme0
kname=${dev#/dev/}
want_vb=4095	# NVME_CTRL_PAGE_SIZE - 1
out=/tmp/nosgl.$$.out
trap 'rm -f $out' EXIT
. "$(dirname "$0")/nvme-info.sh"

# controller_ok: 0 when the controller has no SGLs and the queue a virt
# boundary; else prints why on stdout and returns 1.
controller_ok() {
	if [ ! -b "$dev" ] || [ ! -c "$ctrl" ]; then
		echo "no NVMe namespace $dev / controller $ctrl"
		return 1
	fi
	if ! sgls=$(id_ctrl_field "$ctrl" sgls); then
		echo "nvme id-ctrl $ctrl failed or has no sgls field"
		return 1
	fi
	if [ "$sgls" -ne 0 ]; then
		echo "the controller reports SGL support (sgls $sgls): not booted with --nvme-nosgl?"
		return 1
	fi
	vb=$(cat "/sys/block/$kname/queue/virt_boundary_mask" 2>/dev/null)
	if [ "$vb" != "$want_vb" ]; then
		echo "/sys/block/$kname/queue/virt_boundary_mask is '$vb', not $want_vb"
		return 1
	fi
	return 0
}

case $1 in
controller)
	if ! why=$(controller_ok); then
		echo "not ok - controller without SGLs # $why"
		exit 1
	fi
	vb=$(cat "/sys/block/$kname/queue/virt_boundary_mask")
	nvme id-ctrl "$ctrl" | grep -E '^(mn|fr|sgls) ' | sed 's/^/# /'
	echo "# /sys/block/$kname/queue/virt_boundary_mask: $vb"
	echo "# /sys/block/$kname/queue/max_segments: $(cat "/sys/block/$kname/queue/max_segments")"
	echo "ok - controller without SGLs: sgls 0, virt boundary $vb"
	exit 0 ;;
selftest|fio)
	if ! why=$(controller_ok); then
		echo "not ok - $* # not run: $why"
		exit 1
	fi ;;
*)
	echo "usage: $0 controller | selftest FIXTURE | fio MODE JOB" >&2
	exit 2 ;;
esac

case $1 in
selftest)
	fixture=$2
	if [ ! -x /rig/bin/dmabuf_rw_test ]; then
		echo "SKIP: the series has no dmabuf-rw selftests"; exit 4
	fi
	DMABUF_RW_DEV=$dev /rig/bin/dmabuf_rw_test -f "$fixture" > $out 2>&1
	rc=$?
	cat $out
	# A fixture name that matches nothing runs nothing and passes: that
	# would assert nothing.
	n=$(grep -cE '^(not )?ok [0-9]+ ' $out)
	if [ "$n" -eq 0 ]; then
		echo "not ok - dmabuf_rw_test -f $fixture ran no test"
		exit 1
	fi
	exit $rc ;;
fio)
	exec "$(dirname "$0")/fio-verify.sh" "$2" "$3" ;;
esac
