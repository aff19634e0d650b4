#!/bin/sh
# The demo's I/O comparison, run in the guest: 4 KiB random reads at QD 32 on
# the NVMe namespace with fio's io_uring engine, plain O_DIRECT buffers,
# registered (fixed) buffers and a registered dma-buf from the system heap
# (dmabuf=heap, patches/fio).  Reports fio's IOPS and guest CPU per I/O
# ((usr + sys) / IOPS) as a table, labelled with the kernel it ran on.
dev=${RIG_NVME:-/dev/nvme0n1}
kernel=$(/rig/tests/kernel-label.sh 2>/dev/null || uname -r)
echo "TAP version 13"
echo "1..3"
echo "# fio, 4 KiB random reads, QD 32, 5 s per mode, on kernel $kernel:"
i=0 base=
for mode in plain fixed dmabuf; do
	i=$((i + 1))
	extra=
	[ $mode = fixed ] && extra=--fixedbufs
	[ $mode = dmabuf ] && extra=--dmabuf=heap
	res=$(fio --name=demo --filename="$dev" --ioengine=io_uring --direct=1 $extra \
		--rw=randread --bs=4k --iodepth=32 --size=256M --runtime=5 --time_based \
		--output-format=terse --terse-version=3 2>&1)
	if [ $? -ne 0 ]; then
		echo "$res" | sed 's/^/# /'
		echo "not ok $i fio.$mode"
		continue
	fi
	# terse v3, fields of the job line: 8 read IOPS, 88 usr%, 89 sys%
	line=$(echo "$res" | awk -F';' -v m=$mode -v base="$base" '$1 == 3 {
		iops = $8; cpu = ($88 + $89) / 100 * 1e6 / (iops > 0 ? iops : 1)
		io = iops >= 1000 ? sprintf("%.1f k IOPS", iops / 1000) : sprintf("%d IOPS", iops)
		us = cpu < 100 ? sprintf("%.1f us", cpu) : (cpu >= 1000 ? \
			sprintf("%d,%03d us", int((cpu + 0.5) / 1000), int(cpu + 0.5) % 1000) : \
			sprintf("%d us", cpu + 0.5))
		rel = base != "" ? sprintf("%.2fx", cpu / base) : "1.00x"
		printf "%.6g|# %-7s %13s  CPU %9s per I/O, %s plain (usr %.1f%%, sys %.1f%%)\n", \
			cpu, m, io, us, rel, $88, $89
	}')
	[ $mode = plain ] && base=${line%%|*}
	echo "${line#*|}"
	echo "ok $i fio.$mode"
done
case "$kernel" in
*debugging*)
	echo "# Debugging weighs on each kind of buffer differently: these are not the"
	echo "# series' costs.  The benchmark kernel's figures come from make bench." ;;
esac
