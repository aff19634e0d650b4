#!/bin/sh
# rig/bench-hw.sh: make bench's matrix on real hardware, with fio's own
# figures: on a machine running the patched kernel, fio's io_uring engine
# reads from (and, if asked, writes to) a real NVMe namespace with
#   (a) plain O_DIRECT buffers, (b) registered buffers (fixedbufs),
#   (c) a dma-buf from the system heap (dmabuf=heap) and, where
#   /dev/udmabuf exists, (d) a udmabuf (dmabuf=udmabuf),
# for randread 4k QD1/QD32, randwrite 4k QD1/QD32, read 128k QD8 and
# read 1m QD8, in rounds, the modes interleaved and rotated; then
# bench/hw.py prints IOPS and CPU per I/O ((usr + sys) time / I/Os, from
# fio's JSON) with the ratios c/b and c/a.
#
#   make bench-hw DEV=/dev/nvme0n1            reads only
#   make bench-hw DEV=/dev/nvme0n1 WRITE=1    and the write jobs: they
#                                             overwrite the namespace's data
# Settings (environment): DEV, WRITE=1, FIO (default build/fio/fio, the
# rig's fio with dmabuf=), RUNTIME seconds per job (10), ROUNDS (3),
# SIZE of the device range the jobs use (all of it), OUT (out/bench-hw/DATE).
#
# Exits 4 with one "SKIP: reason" line where there is nothing to measure: a
# kernel without the series (or without CONFIG_DMA_TOKEN), no real NVMe
# device (QEMU's reports the model "QEMU NVMe Ctrl"), a fio without dmabuf=.
# BENCH_HW_ANY_NVME=1 runs on an emulated NVMe too: a check of this script,
# whose figures mean nothing.  POSIX sh, so that it also runs in the rig's
# busybox guest; python3 is needed only for the table.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
dev=${DEV:-}
write=${WRITE:-0}
fio=${FIO:-$top/build/fio/fio}
runtime=${RUNTIME:-10}
rounds=${ROUNDS:-3}
size=${SIZE:-}

skip() {
	echo "SKIP: bench-hw: $*"
	exit 4
}
die() {
	echo "bench-hw: $*" >&2
	exit 1
}

# The series in the running kernel: its block-device hook (block/fops.c)
# and the DMA token framework (CONFIG_DMA_TOKEN).  Without kallsyms, fio's
# own probe of IORING_REGISTER_BUFFERS_DESC below decides.
if grep -q . /proc/kallsyms 2>/dev/null; then
	grep -qw blkdev_dma_token_create /proc/kallsyms ||
		skip "the running kernel ($(uname -r)) lacks the dma-buf read/write series"
	grep -qw dma_token_group_create /proc/kallsyms ||
		skip "the running kernel ($(uname -r)) has the series without CONFIG_DMA_TOKEN"
fi

# A real NVMe namespace, named explicitly.
real=
for c in /sys/class/nvme/*; do
	[ -r "$c/model" ] || continue
	m=$(sed 's/ *$//' "$c/model")
	[ "$m" = "QEMU NVMe Ctrl" ] && [ "${BENCH_HW_ANY_NVME:-0}" != 1 ] && continue
	real="$real ${c##*/} ($m)"
done
[ -n "$real" ] || skip "no real NVMe device here (QEMU's \"QEMU NVMe Ctrl\" does not count)"
[ -n "$dev" ] || die "name the namespace to measure: make bench-hw DEV=/dev/nvmeXnY (NVMe here:$real)"
[ -b "$dev" ] || die "$dev is not a block device"
bdev=$(basename "$(readlink -f "$dev")")
case "$bdev" in
nvme*n*) ;;
*) die "$dev is not an NVMe namespace" ;;
esac
[ -e "/sys/class/block/$bdev/partition" ] && die "$dev is a partition: name the namespace"
# The controller (or, for a multipath head, the subsystem) behind it.
ctrl=$(readlink -f "/sys/class/block/$bdev/device")
model=$(sed 's/ *$//' "$ctrl/model" 2>/dev/null)
[ "$model" = "QEMU NVMe Ctrl" ] && [ "${BENCH_HW_ANY_NVME:-0}" != 1 ] &&
	skip "$dev is QEMU's emulated NVMe (model \"QEMU NVMe Ctrl\"), not a real device"
# Writes only to a namespace nothing uses: none of it mounted, swapped on
# or held by another block device.  Reads may go to one in use.
if [ "$write" = 1 ]; then
	grep -Eq "^/dev/$bdev(p[0-9]+)?[[:space:]]" /proc/mounts /proc/swaps &&
		die "WRITE=1, but $dev or a partition of it is mounted or swap"
	for h in "/sys/class/block/$bdev/holders" /sys/class/block/"$bdev"/"$bdev"*/holders; do
		[ -n "$(ls "$h" 2>/dev/null)" ] &&
			die "WRITE=1, but $dev or a partition of it is held by ${h%/holders}/holders: $(ls "$h")"
	done
fi

# fio with the dmabuf= option of patches/fio.
[ -x "$fio" ] || command -v "$fio" >/dev/null 2>&1 ||
	die "no fio at $fio: make userspace builds the rig's (build/fio/fio), or set FIO="
"$fio" --enghelp=io_uring 2>/dev/null | grep -q '^dmabuf ' ||
	skip "$fio ($("$fio" --version 2>/dev/null)) has no dmabuf= option (patches/fio)"

udmabuf=0
[ -c /dev/udmabuf ] && udmabuf=1
modes="plain fixed heap"
[ $udmabuf = 1 ] && modes="$modes udmabuf"
out=${OUT:-$top/out/bench-hw/$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$out/runs" || die "cannot make $out"

# What was measured, for the table's header (and the record in $out).
{
	dbg=
	grep -qw kasan_report /proc/kallsyms 2>/dev/null && dbg="$dbg, KASAN"
	[ -e /proc/lockdep ] && dbg="$dbg, lockdep"
	grep -qw kmemleak_alloc /proc/kallsyms 2>/dev/null && dbg="$dbg, kmemleak"
	grep -qw debug_dma_map_phys /proc/kallsyms 2>/dev/null && dbg="$dbg, DMA-API debug"
	echo "kernel: $(uname -r) $(uname -v)${dbg:+; WARNING: debugging kernel (${dbg#, }): not benchmark figures}"
	echo "cmdline: $(cat /proc/cmdline)"
	echo "device: $dev ($bdev): ${model:-?}, firmware $(sed 's/ *$//' "$ctrl/firmware_rev" 2>/dev/null)," \
		"$(cat "/sys/class/block/$bdev/queue/logical_block_size") B blocks," \
		"$(( $(cat "/sys/class/block/$bdev/size") / 2097152 )) GiB"
	pci=$(readlink -f "$ctrl/device" 2>/dev/null)
	ngroups=$(ls /sys/kernel/iommu_groups 2>/dev/null | wc -l)
	if [ "$ngroups" -gt 0 ]; then
		grp=$(basename "$(readlink -f "$pci/iommu_group" 2>/dev/null)" 2>/dev/null)
		type=$(cat "/sys/kernel/iommu_groups/$grp/type" 2>/dev/null)
		case "$type" in
		DMA) what="strict: unmaps flushed per unmap" ;;
		DMA-FQ) what="lazy: unmaps flushed in batches" ;;
		identity) what="passthrough: no translation" ;;
		*) what="?" ;;
		esac
		echo "iommu: $ngroups groups in /sys/kernel/iommu_groups; ${pci##*/} in group ${grp:-?}, domain type ${type:-?} ($what)"
	else
		echo "iommu: none (no /sys/kernel/iommu_groups entries)"
	fi
	heaps=$(ls /dev/dma_heap 2>/dev/null | tr '\n' ' ' | sed 's/ $//')
	ex="dma-heaps: ${heaps:-none}"
	if [ $udmabuf = 1 ]; then
		ex="$ex; udmabuf: /dev/udmabuf (size_limit_mb $(cat /sys/module/udmabuf/parameters/size_limit_mb 2>/dev/null || echo ?))"
	else
		ex="$ex; udmabuf: none"
	fi
	vf=$(ls /sys/bus/pci/drivers/vfio-pci 2>/dev/null | grep -c '^[0-9a-f]*:')
	ex="$ex; vfio-pci devices: $vf"
	drm=
	for r in /sys/class/drm/renderD*; do
		[ -e "$r" ] && drm="$drm ${r##*/}($(basename "$(readlink -f "$r/device/driver")"))"
	done
	echo "exporters: $ex; DRM render nodes:${drm:- none}"
	echo "fio: $fio ($("$fio" --version)); $runtime s per job, $rounds round(s); modes: $modes"
	[ "$write" = 1 ] || echo "writes: not run (WRITE=1 runs them; they overwrite $dev)"
} > "$out/env.txt"
cat "$out/env.txt"

# One short dma-buf read first: fio names the cause if the kernel cannot
# register a dma-buf for this device (a kernel without the series, a
# driver without the hook).
if ! "$fio" --name=probe --filename="$dev" --ioengine=io_uring --direct=1 --dmabuf=heap \
	--rw=read --bs=4k --io_size=4k >"$out/probe.log" 2>&1; then
	if grep -q 'kernel does not support registering dma-bufs' "$out/probe.log"; then
		skip "the running kernel ($(uname -r)) lacks the dma-buf read/write series"
	fi
	cat "$out/probe.log" >&2
	die "a dma-buf read from $dev fails (above)"
fi

# name rw bs iodepth
workloads="randread-4k-qd1 randread 4k 1
randread-4k-qd32 randread 4k 32
randwrite-4k-qd1 randwrite 4k 1
randwrite-4k-qd32 randwrite 4k 32
read-128k-qd8 read 128k 8
read-1m-qd8 read 1m 8"

rotate() {	# rotate N WORDS...: the words, rotated left N times
	n=$1; shift
	while [ "$n" -gt 0 ]; do
		first=$1; shift
		set -- "$@" "$first"
		n=$((n - 1))
	done
	echo "$@"
}

nmodes=$(echo $modes | wc -w)
failed=0
r=0
while [ $r -lt "$rounds" ]; do
	echo "$workloads" | while read -r wl rw bs qd; do
		case "$rw" in *write*) [ "$write" = 1 ] || continue ;; esac
		for mode in $(rotate $((r % nmodes)) $modes); do
			case $mode in
			plain) extra= ;;
			fixed) extra=--fixedbufs=1 ;;
			heap) extra=--dmabuf=heap ;;
			udmabuf) extra=--dmabuf=udmabuf ;;
			esac
			json="$out/runs/$r-$wl-$mode.json"
			printf 'bench-hw: round %d %-18s %-8s' "$r" "$wl" "$mode"
			if "$fio" --name="$wl" --filename="$dev" --ioengine=io_uring --direct=1 \
				--rw="$rw" --bs="$bs" --iodepth="$qd" ${size:+--size=$size} \
				--runtime="$runtime" --time_based --norandommap --randrepeat=0 \
				$extra --output-format=json --output="$json" >/dev/null 2>"$json.err"; then
				echo " ok"
			else
				echo " failed: $(head -c 300 "$json.err" | tr '\n' ' ')"
				echo "$json" >> "$out/failed"
			fi
		done
	done
	r=$((r + 1))
done
[ -s "$out/failed" ] && failed=1

if command -v python3 >/dev/null 2>&1; then
	python3 "$top/bench/hw.py" "$out" || failed=1
else
	echo "bench-hw: no python3 here: the table is \`python3 bench/hw.py $out\`"
fi
exit $failed
