#!/bin/sh
# multipath.sh TEST...: the tests of tests/suites/multipath, run on an NVMe
# subsystem of two controllers sharing a namespace (rig/vm.sh
# --nvme-paths 2).  /dev/nvmeSn1 is then the multipath head (S: the
# subsystem's instance, that of the controller probed first), a bio-based
# disk that sends each bio down one path (nvmeSc0n1 on controller nvme0,
# nvmeSc1n1 on nvme1); dma-buf I/O through it must reach each path's
# controller with that controller's own mapping of the dma-buf.
#   multipath.sh paths
#       nvme list-subsys shows the subsystem with two live controllers, and
#       the namespace is the head of both paths
#   multipath.sh selftest POLICY FIXTURE
#       the dmabuf-rw kselftests of FIXTURE (dmabuf_rw_test -f) on the head
#       with the subsystem's iopolicy POLICY (round-robin, queue-depth)
#   multipath.sh fio POLICY MODE JOB
#       tests/guest/fio-verify.sh MODE JOB on the head, with iopolicy POLICY
#   multipath.sh failover POLICY
#       fio writes 32 MiB through the head from a dma-heap buffer (dmabuf=)
#       and reads it back verified while one path's commands fail, one in
#       20, with a path error (nvme fault injection, debugfs): the head
#       sends them down a path again with that path's mapping
#       (multipath_failover_count grows), and every byte verifies
#   multipath.sh failover POLICY FIXTURE
#       the same path errors under the dmabuf-rw kselftests of FIXTURE
#       (storm: the test exporter moves its buffers under I/O, so that
#       bios fail over between moves): every test passes
#   multipath.sh reset POLICY
#       fio writes 96 MiB through the head from a dma-heap buffer (dmabuf=)
#       and reads it back verified, while each controller in turn is reset
#       with nvme reset: every byte verifies, both controllers are live
#       after, and both read and write after the resets with the mappings
#       fio's registration made before them
#   multipath.sh remove POLICY
#       fio writes 160 MiB through the head from a dma-heap buffer
#       (dmabuf=) and reads it back verified, while each controller in turn
#       is removed (its PCI function) and rescanned: the I/O goes on over
#       the other path, every byte verifies, and once both controllers are
#       back, both read and write for fio's registration, made before
#       either existed (each maps the dma-buf on its first I/O)
#   multipath.sh nodes
#       booted with nvme_core.multipath=0 instead: no head, each controller
#       shows the shared namespace as a node of its own (/dev/nvmeXn1, the
#       node of one path); fio writes 32 MiB from a dma-heap buffer
#       registered on one node and reads it back verified from a dma-heap
#       buffer registered on the other, then the other way round
# Both paths must have read and written during a selftest or fio test (the
# completed reads and writes in /sys/block/PATH/stat): with I/O on one path
# only, the test would say nothing about the other's mapping.  Every test
# checks the subsystem first and FAILS (does not skip) without two paths.
# The exit code is the result (4: skip).
. "$(dirname "$0")/nvme-info.sh"
head=$(ls /sys/block | grep -E '^nvme[0-9]+n1$' | head -1)
dev=/dev/$head
out=/tmp/multipath.$$.out
trap 'rm -f $out $out.paths $out.st' EXIT

# paths_ok: 0 when the namespace is a head with two paths; else prints why.
paths_ok() {
	if [ -z "$head" ] || [ ! -b "$dev" ]; then
		echo "no NVMe namespace"
		return 1
	fi
	n=$(ls /sys/block/$head/multipath 2>/dev/null | wc -l)
	if [ "$n" -ne 2 ]; then
		echo "$head is not the head of two paths ($n in /sys/block/$head/multipath): not booted with --nvme-paths 2, or no CONFIG_NVME_MULTIPATH?"
		return 1
	fi
	return 0
}

# path_ios: "PATH READS WRITES" for each path, completed I/Os from sysfs
path_ios() {
	for p in /sys/block/$head/multipath/*; do
		set -- $(cat "$p/stat")
		echo "$(basename "$p") $1 $5"
	done
}

# both_paths BEFORE [any]: 0 when every path read and wrote (with "any":
# read or wrote) since BEFORE (path_ios output; a path not in it since
# it came); prints the counts either way.
both_paths() {
	_before=$1 _any=$2
	path_ios | while read -r p r w; do
		set -- $(echo "$_before" | grep "^$p ") "" 0 0
		echo "# $p: $((r - $2)) reads, $((w - $3)) writes"
		if [ -n "$_any" ]; then
			[ $((r - $2 + w - $3)) -gt 0 ] || echo "$p idle"
		else
			[ $((r - $2)) -gt 0 ] && [ $((w - $3)) -gt 0 ] || echo "$p idle"
		fi
	done > $out.paths
	grep '^#' $out.paths
	! grep -q idle $out.paths
}

# live_ctrls: the number of live controllers nvme list-subsys shows for the
# head (nvme-cli 2.3 lists the subsystem once for each controller); its
# output stays in $out.paths
live_ctrls() {
	nvme list-subsys "$dev" > $out.paths 2>&1
	grep -E '^ *\+- nvme[0-9]+ .* live' $out.paths | awk '{ print $2 }' |
		sort -u | wc -l
}

# need_heap: SKIP the test without the dma-heap heap_fio uses
need_heap() {
	if [ ! -e /dev/dma_heap/system ]; then
		echo "SKIP: /dev/dma_heap/system missing"; exit 4
	fi
}

# heap_fio NAME SIZE [OPTION...]: fio writes SIZE through the head from a
# dma-heap buffer (dmabuf=), 16 KiB at QD 32, then reads it back verified;
# its output goes to $out.  heap_fio_bg: the same in the background, with
# $pid fio's own (the subshell execs it), which a failing test kills.
heap_fio() {
	_n=$1 _s=$2; shift 2
	$_exec fio --name="$_n" --filename="$dev" --ioengine=io_uring \
		--dmabuf=heap --direct=1 --rw=randwrite --bs=16k --iodepth=32 \
		--size="$_s" --verify=crc32c --verify_fatal=1 --randrepeat=0 \
		"$@" > $out 2>&1
}
heap_fio_bg() {
	( _exec=exec; heap_fio "$@" ) &
	pid=$!
}

# heap_fio_end: after the disruptions, end heap_fio_bg's run: sets before
# (path_ios now), running (1 if fio still ran), rc (fio's exit) and live
# (live_ctrls), and prints fio's summary
heap_fio_end() {
	before=$(path_ios)
	running=0
	kill -0 $pid 2>/dev/null && running=1
	wait $pid
	rc=$?
	grep -E 'err=|WRITE:|READ:|verify' $out | sed 's/^/# /'
	live=$(live_ctrls)
}

set_policy() {
	f=$(echo /sys/class/nvme-subsystem/nvme-subsys*/iopolicy)
	if ! echo "$1" > $f || [ "$(cat $f)" != "$1" ]; then
		echo "not ok - cannot set iopolicy $1 ($(cat $f))"
		exit 1
	fi
}

# nodes: registration on the node of one path (multipath off)
if [ "$1" = nodes ]; then
	need_heap
	nodes=$(nvme_disks namespaces | tr '\n' ' ')
	set -- $nodes
	if [ $# -ne 2 ]; then
		echo "not ok - nodes: ${nodes:-none} where two controllers should show the namespace (not booted with --nvme-paths 2 and nvme_core.multipath=0?)"
		exit 1
	fi
	a=$1 b=$2
	for pair in "$a $b" "$b $a"; do
		set -- $pair
		opts="--ioengine=io_uring --dmabuf=heap --direct=1 --bs=16k --iodepth=32 --size=32M --verify=crc32c --verify_fatal=1 --rw=randwrite"
		if ! fio --name=w --filename=$1 $opts --do_verify=0 > $out 2>&1; then
			sed 's/^/# /' $out
			echo "not ok - dma-buf writes through $1: fio failed"; exit 1
		fi
		if ! fio --name=w --filename=$2 $opts --verify_only > $out 2>&1; then
			sed 's/^/# /' $out
			echo "not ok - dma-buf reads through $2 of what $1 wrote: fio failed"; exit 1
		fi
		grep -E 'err=|READ:' $out | sed 's/^/# /'
		if ! grep -q 'READ: .*io=32.0MiB' $out; then
			echo "not ok - the verify through $2 read less than 32 MiB"; exit 1
		fi
		echo "# $1 -> $2: 32 MiB written and verified"
	done
	echo "ok - a dma-buf registered on the node of each path ($a, $b) writes what the other's reads back"
	exit 0
fi

if ! why=$(paths_ok); then
	echo "not ok - $* # not run: $why"
	exit 1
fi

case $1 in
paths)
	n=$(live_ctrls)
	sed 's/^/# /' $out.paths
	if [ "$n" -ne 2 ]; then
		echo "not ok - nvme list-subsys shows $n live controllers, not 2"
		exit 1
	fi
	echo "ok - $head is the head of $(ls /sys/block/$head/multipath | tr '\n' ' ')on two live controllers"
	exit 0 ;;
selftest)
	if [ ! -x /rig/bin/dmabuf_rw_test ]; then
		echo "SKIP: the series has no dmabuf-rw selftests"; exit 4
	fi
	set_policy "$2"
	before=$(path_ios)
	DMABUF_RW_DEV=$dev /rig/bin/dmabuf_rw_test ${3:+-f "$3"} > $out.st 2>&1
	rc=$?
	cat $out.st
	n=$(grep -cE '^(not )?ok [0-9]+ ' $out.st)
	rm -f $out.st
	if [ "$n" -eq 0 ]; then
		echo "not ok - dmabuf_rw_test -f $3 ran no test"
		exit 1
	fi
	if ! both_paths "$before"; then
		echo "not ok - iopolicy $2: a path did no reads or writes"
		exit 1
	fi
	exit $rc ;;
fio)
	set_policy "$2"
	before=$(path_ios)
	RIG_NVME=$dev "$(dirname "$0")/fio-verify.sh" "$3" "$4"
	rc=$?
	if ! both_paths "$before"; then
		echo "not ok - iopolicy $2: a path did no reads or writes"
		exit 1
	fi
	exit $rc ;;
reset)
	set_policy "$2"
	need_heap
	# 16 MiB/s each way: writes for 6 s, whatever the machine, so that
	# both resets fall in them with writes to follow
	resets=
	heap_fio_bg mpreset 96M --rate=16m
	sleep 1
	for c in $(nvme list-subsys "$dev" 2>/dev/null |
		   awk '/^ *\+- nvme[0-9]+ / { print $2 }' | sort -u); do
		if ! kill -0 $pid 2>/dev/null; then
			echo "not ok - fio ended before the reset of $c"
			wait; exit 1
		fi
		echo "# resetting $c under I/O"
		if ! nvme reset /dev/$c; then
			echo "not ok - nvme reset /dev/$c failed"
			kill $pid 2>/dev/null; wait; exit 1
		fi
		for i in $(seq 60); do
			[ "$(cat /sys/class/nvme/$c/state)" = live ] && break
			sleep 0.5
		done
		resets="$resets $c"
	done
	heap_fio_end
	echo "# reset:$resets; $live live controllers after"
	if [ $rc -ne 0 ]; then
		echo "not ok - fio through the head with resets: exit $rc"; exit 1
	fi
	if [ "$(echo $resets | wc -w)" -ne 2 ] || [ "$live" -ne 2 ]; then
		echo "not ok - reset$resets, $live live controllers after, not 2 of 2"; exit 1
	fi
	if [ $running -eq 0 ]; then
		echo "not ok - fio ended before both controllers were reset"; exit 1
	fi
	if ! both_paths "$before"; then
		echo "not ok - a controller got none of fio's I/O after its reset"; exit 1
	fi
	echo "ok - fio verified through the head while each controller was reset"
	exit 0 ;;
remove)
	set_policy "$2"
	need_heap
	# fio's registration outlives both controllers it started with.
	heap_fio_bg mpremove 160M
	sleep 1
	gone=
	for round in 1 2; do
		# a path whose controller is one fio started with
		pci=
		for p in /sys/block/$head/multipath/*; do
			c=$(basename "$(readlink -f "$p/device")")
			a=$(readlink -f "/sys/class/nvme/$c/device")
			case " $gone " in *" $a "*) continue ;; esac
			pci=$a
			break
		done
		if [ -z "$pci" ] || ! kill -0 $pid 2>/dev/null; then
			echo "not ok - round $round: no original controller left, or fio ended before it (${pci:-none})"
			kill $pid 2>/dev/null; wait; exit 1
		fi
		echo "# round $round: removing $(basename "$pci") ($c) under I/O"
		echo 1 > "$pci/remove"
		gone="$gone $pci"
		sleep 1
		echo 1 > /sys/bus/pci/rescan
		for i in $(seq 60); do
			[ "$(ls /sys/block/$head/multipath 2>/dev/null | wc -l)" -eq 2 ] && break
			sleep 0.5
		done
	done
	# both paths are now re-probed PCI functions, new controllers to
	# the driver: their I/O from here on is fio's, with tokens mapped on
	# first use
	heap_fio_end
	echo "# $live live controllers after"
	if [ $rc -ne 0 ]; then
		echo "not ok - fio through the head with removals: exit $rc"; exit 1
	fi
	if [ "$live" -ne 2 ]; then
		echo "not ok - $live live controllers after the rescans, not 2"; exit 1
	fi
	if [ $running -eq 0 ]; then
		echo "not ok - fio ended before both controllers came back"; exit 1
	fi
	if ! both_paths "$before" any; then
		echo "not ok - a controller that came back got none of the registration's I/O"; exit 1
	fi
	echo "ok - fio verified through the head while each controller was removed and rescanned"
	exit 0 ;;
failover)
	set_policy "$2"
	if [ -n "$3" ]; then
		[ -x /rig/bin/dmabuf_rw_test ] ||
			{ echo "SKIP: the series has no dmabuf-rw selftests"; exit 4; }
	else
		need_heap
	fi
	# (QEMU's controller completes what it holds on a reset or removal,
	# so nothing fails over there: inject the path error instead.)
	p=$(ls /sys/block/$head/multipath | head -1)
	fi=/sys/kernel/debug/$p/fault_inject
	if [ ! -d $fi ]; then
		echo "not ok - no $fi: a kernel without CONFIG_FAULT_INJECTION_DEBUG_FS?"; exit 1
	fi
	f0=$(cat /sys/block/$p/diag/multipath_failover_count)
	# Host Aborted Command (0x371), a path error: retried on another path
	echo 0 > $fi/verbose
	echo 0xffff > $fi/opcode
	echo 0x371 > $fi/status
	echo N > $fi/dont_retry
	echo 5 > $fi/probability
	echo 100 > $fi/times
	before=$(path_ios)
	if [ -n "$3" ]; then
		DMABUF_RW_DEV=$dev /rig/bin/dmabuf_rw_test -f "$3" > $out 2>&1
		rc=$?
		what="dmabuf_rw_test -f $3"
	else
		heap_fio mpfailover 32M
		rc=$?
		what=fio
	fi
	echo 0 > $fi/probability
	echo 0 > $fi/times
	if [ -n "$3" ]; then
		cat $out
		if ! grep -qE '^ok [0-9]+ ' $out; then
			echo "not ok - $what passed no test"; exit 1
		fi
	else
		grep -E 'err=|WRITE:|READ:|verify' $out | sed 's/^/# /'
	fi
	f1=$(cat /sys/block/$p/diag/multipath_failover_count)
	echo "# $((f1 - f0)) requests failed over from $p"
	if [ $rc -ne 0 ]; then
		echo "not ok - $what through the head with path errors on $p: exit $rc"; exit 1
	fi
	if [ $((f1 - f0)) -eq 0 ]; then
		echo "not ok - no request failed over from $p"; exit 1
	fi
	if ! both_paths "$before"; then
		echo "not ok - iopolicy $2: a path did no reads or writes"; exit 1
	fi
	echo "ok - $what through the head while $p failed requests over"
	exit 0 ;;
*)
	echo "usage: $0 paths | selftest POLICY FIXTURE | fio POLICY MODE JOB | remove POLICY | reset POLICY | failover POLICY [FIXTURE] | nodes" >&2
	exit 2 ;;
esac
