#!/bin/sh
# The demo's I/O comparison, run in the guest: 4 KiB random reads at QD 32 on
# the NVMe namespace with fio's io_uring engine, plain O_DIRECT buffers,
# registered (fixed) buffers and a registered dma-buf from the system heap
# (dmabuf=heap, patches/fio).  Reports fio's IOPS and guest CPU as a table.
dev=${RIG_NVME:-/dev/nvme0n1}
echo "TAP version 13"
echo "1..3"
i=0
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
	# terse v3: field 8 read IOPS, 20 usr%, 21 sys% (fields of the job line)
	echo "$res" | awk -F';' -v m=$mode '{ printf "# %-6s %8d IOPS  usr %s  sys %s\n", m, $8, $88, $89 }'
	echo "ok $i fio.$mode"
done
