#!/bin/sh
# Which kernel the guest's figures come from, in one line: its release and
# the debugging it was built with, found in the running kernel itself (KASAN
# by its report function, lockdep, kmemleak and DMA API debugging by their
# files).  A kernel with any of them measures the debugging as much as the
# I/O path: its figures are not the series' costs.
dbg=
grep -qw kasan_report /proc/kallsyms 2>/dev/null && dbg="$dbg, KASAN"
[ -e /proc/lockdep ] && dbg="$dbg, lockdep"
[ -e /sys/kernel/debug/kmemleak ] && dbg="$dbg, kmemleak"
[ -e /sys/kernel/debug/dma-api ] && dbg="$dbg, DMA-API debug"
if [ -n "$dbg" ]; then
	echo "$(uname -r), debugging kernel (${dbg#, })"
else
	echo "$(uname -r), no debugging"
fi
