#!/bin/sh
# token-limit.sh: dma-buf I/O is split by the controller's own transfer
# limit (MDTS), not by the cap nvme-pci puts on max_hw_sectors under an
# IOMMU (dma_opt_mapping_size(): 128 KiB, so that per-request IOVA ranges
# stay in the IOVA cache), which a dma-buf, mapped once, has no use for;
# and the administrator's max_sectors_kb still caps it.
#
# fio reads 16 MiB in 1 MiB blocks at QD 1, once from a dma-buf (dmabuf=heap)
# and once from fixed buffers; the namespace's /sys/block/.../stat counts the
# requests each run issued.  Expected, per 1 MiB read:
#   dma-buf: ceil(1 MiB / min(MDTS, 8 MiB (nvme-pci's NVME_MAX_BYTES),
#            max_sectors_kb as set, else io_opt or io_min above the block
#            layer's 4 MiB default cap, else that cap))
#   fixed:   ceil(1 MiB / max_sectors_kb)
# MDTS is 2^mdts controller pages (nvme id-ctrl; the page is CAP.MPSMIN, from
# nvme show-regs).  Three settings of max_sectors_kb: 0 (the kernel's
# choice), 256 and 64.  Under an IOMMU (max_hw_sectors_kb 128) that is 2, 4
# and 16 requests from a dma-buf against 8, 8 and 16 from fixed buffers;
# without one, max_hw_sectors_kb is MDTS and the counts are equal, which the
# test reports.  It leaves max_sectors_kb at 0.
# Prints TAP-style lines; the exit code is the result (4: skip).
dev=${RIG_NVME:-/dev/nvme0n1}
kname=${dev#/dev/}
. "$(dirname "$0")/nvme-info.sh"
ctrl=$(ctrl_of "$dev")
q=/sys/block/$kname/queue
out=/tmp/token-limit.$$.out
# 0 gives max_sectors_kb back to the kernel's choice
trap 'rm -f $out; echo 0 2>/dev/null > $q/max_sectors_kb' EXIT
blocks=16	# 1 MiB reads per run

[ -b "$dev" ] && [ -c "$ctrl" ] || { echo "SKIP: no NVMe namespace $dev / controller $ctrl"; exit 4; }
command -v fio >/dev/null || { echo "SKIP: no fio in the guest"; exit 4; }
[ -e /dev/dma_heap/system ] || { echo "SKIP: /dev/dma_heap/system missing"; exit 4; }
fail() { echo "not ok - $*"; exit 1; }

# The controller's limit in KiB (0: none).
ctrl_limits $ctrl || fail "no mdts in nvme id-ctrl $ctrl or no cap in nvme show-regs"
echo "# mdts $MDTS, CAP.MPSMIN page $MPS_KB KiB: controller limit ${MDTS_KB} KiB (0: none)"

min() { if [ "$1" -ne 0 ] && [ "$1" -lt "$2" ]; then echo "$1"; else echo "$2"; fi; }
reads() { awk '{ print $1, $3 }' /sys/block/$kname/stat; }

# run: fio with $opts (results named $name); requests per 1 MiB read in $per
run() {
	set -- $(reads)
	r0=$1 s0=$2
	fio --name=tokenlimit --filename=$dev --ioengine=io_uring --direct=1 \
		--rw=read --bs=1M --size=${blocks}M --iodepth=1 $opts \
		--output-format=terse --terse-version=3 > $out 2>&1 ||
		fail "$name: fio failed: $(tail -c 300 $out)"
	set -- $(reads)
	r=$(( $1 - r0 )) s=$(( $2 - s0 ))
	[ $s -eq $(( blocks * 2048 )) ] ||
		fail "$name: the namespace read $s sectors, not $(( blocks * 2048 )): other I/O meanwhile?"
	per=$(( r / blocks ))
	[ $(( per * blocks )) -eq $r ] ||
		fail "$name: $r requests for $blocks reads of 1 MiB, not a multiple"
}

# check USER_KB: both runs with max_sectors_kb at USER_KB (0: the kernel's)
check() {
	user=$1
	echo "$user" > $q/max_sectors_kb ||
		fail "cannot set $q/max_sectors_kb to $user"
	msk=$(cat $q/max_sectors_kb)
	mhw=$(cat $q/max_hw_sectors_kb)
	opt_kb=$(( $(cat $q/optimal_io_size) / 1024 ))
	min_kb=$(( $(cat $q/minimum_io_size) / 1024 ))
	if [ "$user" -ne 0 ]; then soft=$user
	elif [ $opt_kb -gt 4096 ]; then soft=$opt_kb
	elif [ $min_kb -gt 4096 ]; then soft=$min_kb
	else soft=4096; fi
	lim=$(min "$TOKEN_KB" "$soft")
	want_tok=$(( (1024 + lim - 1) / lim ))
	want_fix=$(( (1024 + msk - 1) / msk ))
	if [ "$user" -eq 0 ]; then name="max_sectors_kb $msk (the kernel's)"
	else name="max_sectors_kb set to $user (reads $msk)"; fi
	opts="--dmabuf=heap" ; run; tok=$per
	opts="--fixedbufs" ; run; fix=$per
	echo "# $name, max_hw_sectors_kb $mhw: a 1 MiB read is $tok request(s) from a dma-buf, $fix from fixed buffers"
	[ $tok -eq $want_tok ] ||
		fail "$name: a 1 MiB dma-buf read took $tok requests, not $want_tok (limit $lim KiB)"
	[ $fix -eq $want_fix ] ||
		fail "$name: a 1 MiB fixed-buffer read took $fix requests, not $want_fix"
	why=
	[ "$mhw" -ge "$lim" ] &&
		why=" (max_hw_sectors_kb $mhw is no lower: the same split as fixed buffers)"
	echo "ok - $name: dma-buf $tok request(s) per MiB (limit $lim KiB), fixed buffers $fix$why"
}

check 0
check 256
check 64
exit 0
