#!/bin/sh
# make bench, in the guest: fio on the NVMe namespace with (a) plain O_DIRECT
# buffers, (b) registered buffers (fixedbufs), (h) registered buffers on
# 2 MiB huge pages (mem=mmaphuge on hugetlbfs), (c) a registered dma-buf
# from the system heap (dmabuf=heap, patches/fio), the io_uring engine on
# /dev/nvme0n1, the same job otherwise, and (p) NVMe passthrough, the
# cheapest command path there is: the io_uring_cmd engine on the generic
# character device /dev/ng0n1 with registered buffers, no block layer bio,
# and (d) the same with its data in a registered dma-buf (dmabuf=heap): no
# per-command DMA mapping either.
# For each workload, in rounds; the buffer modes are interleaved within a
# round and their order rotates from round to round.  A mode that cannot
# run says why: "BENCH-SKIP <fields> reason=...".
#
# Each job runs twice, with a short and a long I/O count, and each run is
# framed by two calls of sethostname(2) (busybox hostname): the host's TCG
# plugin (bench/plugin/insn-count.c) snapshots its instruction counters when
# the kernel enters that syscall, so the difference of the two runs' counts
# divided by the difference of their I/O counts is the cost of one I/O, with
# fio's start-up and exit cancelled.  The host matches the snapshots to the
# runs by their order: nothing else in the guest may call sethostname.
# Between fio's exit and the closing mark the guest settles: sync, then
# sleeps rig.bench.settle seconds (default 0.1, 10 jiffies at HZ=100), so
# that the run's asynchronous teardown (io_uring's ring exit work, RCU
# callbacks, deferred frees) runs inside its own window rather than in the
# next run's.  A sleep of fixed guest time costs the same instructions in
# every run (an idle vCPU executes none; the wake-ups it takes are those of
# a fixed span of guest time), so it cancels in the difference; a loop
# polling for the end would not (its length would follow the host's load).
#
# fio submits and reaps one I/O at a time unless a workload says otherwise
# (its batch column: iodepth_batch_submit and iodepth_batch_complete_min).
#
# Kernel command line: rig.bench.rounds=N (default 3), rig.bench.scale=F
# (multiplies every I/O count; default 1), rig.bench.only=WORKLOAD[,...]
# and rig.bench.modes=plain,fixed,fixed-huge,dmabuf,passthru,passthru-dmabuf
# (subsets for a
# quick run), rig.bench.counts=N[,N] (these I/O counts instead of the job's
# two), rig.bench.settle=SECONDS, rig.bench.fio=OPT[,OPT] (more fio options
# for every job, e.g. --scramble_buffers=0).
# rig.bench.p2p=1: only the P2P jobs instead (tests/bench-p2p.c: reads into
# an ivshmem BAR through its vfio dma-buf, or through RAM and a memcpy).
# rig.bench.mp=1: only the multipath jobs instead, booted with an NVMe
# subsystem of two controllers sharing a namespace and a controller of its
# own (rig/vm.sh --nvme-paths 2 --nvme-plain): registered buffers and a
# dma-buf on the multipath head (head-fixed, head-dmabuf) and on the private
# namespace (ns-fixed, ns-dmabuf), the same jobs, the head with the
# subsystem's default iopolicy.
# rig.bench.fs=1: only the file system jobs instead (the multipath boot's
# jobs): registered buffers and a dma-buf on a 512 MiB file of an ext4 made
# on the namespace (ext4-fixed, ext4-dmabuf), written whole first, so that
# reads find no hole, then the same on XFS made on it after (xfs-fixed,
# xfs-dmabuf); booted with a file-backed namespace (rig/vm.sh --nvme file),
# as null-co keeps no data.
# Output: per run "BENCH-RUN <fields>" then fio's JSON, "BENCH-END".
dev=${RIG_NVME:-/dev/nvme0n1}
. "$(dirname "$0")/nvme-info.sh"
ngdev=${RIG_NVME_NG:-$(ng_of "$dev")}
rounds=3 scale=1 only= modes= counts= p2p=0 mp=0 fs=0 settle=0.1 fioextra=
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	rig.bench.rounds=*) rounds=${arg#*=} ;;
	rig.bench.scale=*) scale=${arg#*=} ;;
	rig.bench.only=*) only=$(echo "${arg#*=}" | tr , ' ') ;;
	rig.bench.modes=*) modes=$(echo "${arg#*=}" | tr , ' ') ;;
	rig.bench.counts=*) counts=$(echo "${arg#*=}" | tr , ' ') ;;
	rig.bench.settle=*) settle=${arg#*=} ;;
	rig.bench.fio=*) fioextra=$(echo "${arg#*=}" | tr , ' ') ;;
	rig.bench.p2p=1) p2p=1 ;;
	rig.bench.mp=1) mp=1 ;;
	rig.bench.fs=1) fs=1 ;;
	esac
done
# the multipath boot: the head is the disk of the subsystem, the private
# namespace the disk of a controller
headdev= nsdev=
if [ $mp = 1 ]; then
	headdev=$(nvme_disks heads | tail -1)
	nsdev=$(nvme_disks namespaces | tail -1)
	[ -n "$headdev" ] && [ -n "$nsdev" ] ||
		{ echo "SKIP: no multipath head (${headdev:-none}) and private namespace (${nsdev:-none}): not booted with --nvme-paths 2 --nvme-plain?"; exit 4; }
	dev=$nsdev
	sub=$(basename "$(readlink -f /sys/block/${headdev#/dev/}/device)")
	echo "# multipath: head $headdev of $(ls /sys/block/${headdev#/dev/}/multipath | tr '\n' ' ')iopolicy $(cat /sys/class/nvme-subsystem/$sub/iopolicy); private namespace $nsdev"
fi
[ -b "$dev" ] || { echo "SKIP: no $dev"; exit 4; }
# the file system boot: FS (ext4, xfs) made on the namespace, one file
# written whole
fsfile=/mnt/fs/bench
fs_setup() {
	mkdir -p /mnt/fs
	# the previous file system's (the release of a ring may lag its exit)
	t=0
	while grep -q ' /mnt/fs ' /proc/mounts && ! umount /mnt/fs 2>/dev/null; do
		t=$((t + 1))
		[ $t -lt 20 ] || return 1
		sleep 0.25
	done
	case $1 in
	ext4) mkfs.ext4 -F -q -E lazy_itable_init=0,lazy_journal_init=0 "$dev" ;;
	xfs) mkfs.xfs -f -q "$dev" ;;
	esac > /tmp/layout.out 2>&1 &&
		mount -t $1 -o noatime "$dev" /mnt/fs &&
		fio --name=layout --filename=$fsfile --rw=write --bs=1m --size=512M \
			--direct=1 --ioengine=psync > /tmp/layout.out 2>&1 ||
		{ cat /tmp/layout.out; echo "# no $1 file on $dev: mkfs, mount or its layout failed"; return 1; }
	echo "# $1 on $dev: $fsfile, $(stat -c %s $fsfile) bytes, $(filefrag $fsfile 2>/dev/null | sed 's/.*: //')"
}

# name rw bs iodepth batch short-count long-count
workloads="
randread-4k-qd1 randread 4k 1 1 1000 3000
randread-4k-qd32 randread 4k 32 1 3000 9000
randread-4k-qd32-b16 randread 4k 32 16 3000 9000
randwrite-4k-qd1 randwrite 4k 1 1 1000 3000
randwrite-4k-qd32 randwrite 4k 32 1 3000 9000
read-128k-qd8 read 128k 8 1 2000 6000
read-1m-qd8 read 1m 8 1 500 1500
p2p-128k-qd8 p2p 128k 8 1 1600 4800
p2p-1m-qd8 p2p 1m 8 1 400 1200
"
# the multipath boot's jobs: small reads and writes, and large reads that
# the head splits
mpwl="randread-4k-qd32 randwrite-4k-qd32 read-128k-qd8 read-1m-qd8"

# fixed-huge: fio maps its buffers from a file on hugetlbfs, 2 MiB pages
# reserved here (the largest job, 8 x 1 MiB, takes 5).
huge=/dev/hugepages
hugeskip=
if [ $p2p = 0 ] && [ $mp = 0 ] && [ $fs = 0 ]; then
	mkdir -p $huge
	if ! grep -qw hugetlbfs /proc/filesystems; then
		hugeskip="no hugetlbfs in this kernel"
	elif ! mount -t hugetlbfs -o pagesize=2M none $huge 2>/tmp/huge.err; then
		hugeskip="mount -t hugetlbfs failed: $(cat /tmp/huge.err)"
	else
		echo 16 > /proc/sys/vm/nr_hugepages
		nhuge=$(awk '/^HugePages_Total:/ { print $2 }' /proc/meminfo)
		[ "${nhuge:-0}" -ge 8 ] ||
			hugeskip="only ${nhuge:-0} 2 MiB huge pages reserved (vm.nr_hugepages=16 asked)"
	fi
	echo "# hugetlbfs: ${hugeskip:-$(grep -E '^Huge(Pages_Total|pagesize)' /proc/meminfo | tr -s ' ' | tr '\n' ' ')}"
fi
# passthru: the namespace's generic character device, and requests that the
# controller takes whole (a passthrough command is not split): from fio's
# memory up to max_hw_sectors_kb, from a dma-buf up to the controller's
# MDTS, capped by nvme-pci at 8 MiB (its dma-buf transfer limit)
kname=$(basename "$(readlink -f "$dev")")
maxkb=$(cat /sys/block/$kname/queue/max_hw_sectors_kb 2>/dev/null)
tokkb=
ctrl_limits "$(ctrl_of "$dev")" && tokkb=$TOKEN_KB

mark=0
mark() {
	hostname "bench$mark"
	mark=$((mark + 1))
}

# run LABEL-FIELDS PROGRAM-ARGS...: one framed run of fio (or bench-p2p).
# QEMU's NVMe has been seen to leave a command unprocessed until the
# driver's timeout aborts it: such a run ("nvme ... timeout" in the kernel
# log) is reported with stall=1 and run once more; the host drops it.
run() {
	fields=$1; shift
	for attempt in 1 2; do
		rm -f /tmp/bench.json
		t0=$(dmesg | grep -c 'nvme.*timeout')
		m0=$mark
		mark
		if [ "$1" = bench-p2p ]; then
			"$@" < /dev/null > /tmp/bench.json 2> /tmp/bench.err
		else
			fio "$@" --output-format=json --output=/tmp/bench.json \
				< /dev/null > /tmp/bench.err 2>&1
		fi
		rc=$?
		sync
		[ "$settle" = 0 ] || sleep "$settle"
		mark
		stall=0
		[ "$(dmesg | grep -c 'nvme.*timeout')" = "$t0" ] || stall=1
		echo "BENCH-RUN $fields mark=$m0 rc=$rc stall=$stall settle=$settle"
		[ $rc -eq 0 ] || { sed 's/^/# /' /tmp/bench.err; failed=1; }
		cat /tmp/bench.json 2>/dev/null
		echo "BENCH-END"
		[ $stall = 0 ] && { stalls=0; break; }
		stalls=$((stalls + 1))
	done
	# Once stalled, QEMU 7.2's NVMe has been seen to stall every command
	# stream after the controller reset: stop rather than burn the time.
	if [ $stalls -ge 4 ]; then
		echo "# NVMe keeps stalling (QEMU): giving up"
		exit 1
	fi
}

rotate() {	# rotate N WORDS...: the words, rotated left N times
	n=$1; shift
	i=0
	while [ $i -lt "$n" ]; do
		first=$1; shift
		set -- "$@" "$first"
		i=$((i + 1))
	done
	echo "$@"
}

failed=0 stalls=0
fslist=-
[ $fs = 1 ] && fslist="ext4 xfs"
for fst in $fslist; do
if [ $fs = 1 ]; then
	# rig.bench.modes= may name one file system's modes only
	case " $modes " in
	*" ext4-"*|*" xfs-"*) echo " $modes " | grep -q " $fst-" || continue ;;
	esac
	if ! fs_setup $fst; then
		for b in fixed dmabuf; do
			echo "BENCH-SKIP round=- workload=- mode=$fst-$b reason=no $fst file (mkfs, mount or its layout failed)"
		done
		failed=$((failed + 1))
		continue
	fi
fi
r=0
while [ $r -lt "$rounds" ]; do
	while read -r wl rw bs qd batch n1 n2; do
		[ -n "$wl" ] || continue
		# the P2P jobs run alone, in a boot of their own (an ivshmem device)
		[ "$rw" = p2p ] && [ $p2p = 0 ] && continue
		[ "$rw" != p2p ] && [ $p2p = 1 ] && continue
		# the multipath and file system boots: a job of each kind
		if [ $mp = 1 ] || [ $fs = 1 ]; then
			case " $mpwl " in *" $wl "*) ;; *) continue ;; esac
		fi
		if [ -n "$only" ]; then
			case " $only " in *" $wl "*) ;; *) continue ;; esac
		fi
		m=$modes
		# the multipath boot runs its own modes only
		[ $mp = 1 ] && m=$(echo " $m " | tr ' ' '\n' | grep -E '^(ns|head)-' | tr '\n' ' ')
		[ $fs = 1 ] && m=$(echo " $m " | tr ' ' '\n' | grep -E "^$fst-" | tr '\n' ' ')
		if [ -z "$m" ]; then
			if [ $p2p = 1 ]; then
				m="dmabuf bounce"
			elif [ $mp = 1 ]; then
				m="ns-fixed ns-dmabuf head-fixed head-dmabuf"
			elif [ $fs = 1 ]; then
				m="$fst-fixed $fst-dmabuf"
			else
				m="plain fixed fixed-huge dmabuf passthru passthru-dmabuf"
			fi
		fi
		kb=$(awk -v bs="$bs" 'BEGIN { printf "%d", int(bs) * (bs ~ /m$/ ? 1024 : 1) }')
		for mode in $(rotate $((r % $(echo $m | wc -w))) $m); do
			file=$dev size=1G
			engine="--ioengine=io_uring --direct=1"
			skip=
			# the multipath boot's modes: a buffer mode on a disk
			buf=$mode
			case $mode in
			ns-*) file=$nsdev buf=${mode#ns-} ;;
			head-*) file=$headdev buf=${mode#head-} ;;
			ext4-*|xfs-*) file=$fsfile size=512M buf=${mode#*-} ;;
			esac
			case $buf in
			plain) extra= ;;
			fixed) extra=--fixedbufs=1 ;;
			fixed-huge)
				extra="--fixedbufs=1 --mem=mmaphuge:$huge/fio --hugepage-size=2m"
				skip=$hugeskip ;;
			dmabuf) extra=--dmabuf=heap ;;
			passthru)
				file=$ngdev
				engine="--ioengine=io_uring_cmd --cmd_type=nvme"
				extra=--fixedbufs=1
				if [ ! -c "$ngdev" ]; then
					skip="no $ngdev"
				elif [ -n "$maxkb" ] && [ "$kb" -gt "$maxkb" ]; then
					skip="$bs I/O over the controller's limit of ${maxkb} KiB per command (max_hw_sectors_kb), and a passthrough command is not split"
				fi ;;
			passthru-dmabuf)
				file=$ngdev
				engine="--ioengine=io_uring_cmd --cmd_type=nvme"
				extra=--dmabuf=heap
				if [ ! -c "$ngdev" ]; then
					skip="no $ngdev"
				elif [ -z "$tokkb" ]; then
					skip="no MDTS from nvme id-ctrl / show-regs"
				elif [ "$kb" -gt "$tokkb" ]; then
					skip="$bs I/O over the controller's limit of ${tokkb} KiB per command (MDTS), and a passthrough command is not split"
				fi ;;
			*) skip="unknown mode" ;;
			esac
			if [ -n "$skip" ]; then
				echo "BENCH-SKIP round=$r workload=$wl mode=$mode reason=$skip"
				continue
			fi
			[ "$batch" = 1 ] ||
				extra="$extra --iodepth_batch_submit=$batch --iodepth_batch_complete_min=$batch"
			for n in ${counts:-$n1 $n2}; do
				n=$(awk -v n="$n" -v s="$scale" 'BEGIN { printf "%d", n * s }')
				bytes=$(awk -v n="$n" -v bs="$bs" 'BEGIN {
					m = bs ~ /k$/ ? 1024 : (bs ~ /m$/ ? 1048576 : 1)
					printf "%d", n * int(bs) * m }')
				if [ "$rw" = p2p ]; then
					run "round=$r workload=$wl mode=$mode ios=$n" \
						bench-p2p "$mode" $((bytes / n)) "$qd" "$n"
					continue
				fi
				run "round=$r workload=$wl mode=$mode ios=$n" \
					--name="$wl" --filename="$file" $engine \
					--rw="$rw" --bs="$bs" --iodepth="$qd" --size=$size --io_size="$bytes" \
					--norandommap --randrepeat=0 --disk_util=0 $extra $fioextra
			done
		done
	done <<-EOF
	$workloads
	EOF
	r=$((r + 1))
done
done
exit $failed
