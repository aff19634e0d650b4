#!/bin/sh
# dmabuf-rw-safe.sh: the series' dmabuf-rw kselftests are safe on a machine
# that has named no device for them (a developer's laptop running
# `make -C tools/testing/selftests TARGETS=dmabuf-rw run_tests`).
#
# The same binaries the check suite runs (dmabuf_rw_test, lifetime: every
# test, the destructive ones included) run twice:
#   A. with nothing set (no DMABUF_RW_DEV, no DMABUF_RW_DESTRUCTIVE): every
#      test that writes a block device must SKIP because no device is named
#      (the destructive ones because they are not allowed); the contract
#      tests that need no device may pass; nothing may fail;
#   B. with DMABUF_RW_DEV naming a device that is in use (a loop device
#      over a tmpfs file, active as swap: claimed exclusively) and
#      DMABUF_RW_DESTRUCTIVE=1: every device test must SKIP because the
#      device is refused (O_EXCL), the destructive ones too.
# Around both, the NVMe namespace must be untouched: the sha256 of its
# first 16 MiB, of 1 MiB at every multiple of 16 MiB and of its last MiB
# (read with O_DIRECT; every region the selftests write starts in the first
# 16 MiB or at such a multiple; all of the 1 GiB namespace takes 3 to 13
# minutes under TCG), filled with random data first so that a test that
# writes and then restores zeros is seen too; the block layer's I/O counters
# of the whole disk; the device's own SMART count of write commands.  And
# the controller must not have been reset or removed:
# no "default/read/poll queues" or "pci function" line of nvme in the kernel
# log since the start (nvme-pci prints one at every probe and reset), the
# controller still live, the disk's diskseq (new at every re-probe) the same.
# The device tests are counted; any that passed or failed is a failure.
# The namespace is the rig's scratch device: this script writes the pattern
# to it, the selftests must not.
dev=${RIG_NVME:-/dev/nvme0n1}
kname=${dev##*/}
ctrl=${kname%n*}
bindir=/rig/bin
tests="dmabuf_rw_test lifetime"
tmo=${SAFE_TEST_TIMEOUT:-600}	# per binary; the unfixed tests run far longer
work=/tmp/dmabuf-rw-safe
rc=0
unset DMABUF_RW_DEV DMABUF_RW_DESTRUCTIVE
rm -rf $work
mkdir -p $work

fail() { echo "not ok - $*"; rc=1; }
pass() { echo "ok - $*"; }

for t in $tests; do
	[ -x $bindir/$t ] || { echo "SKIP: the series has no dmabuf-rw selftest $t"; exit 4; }
done
[ -b "$dev" ] || { echo "not ok - $dev is not a block device"; exit 1; }

# the sampled MiBs of the namespace (see the top)
ns_regions() {
	seq 0 15
	seq 16 16 $((size_mb - 1))
	echo $((size_mb - 1))
}
ns_sum() {
	for o in $(ns_regions); do
		dd if="$dev" bs=1M skip=$o count=1 iflag=direct 2>/dev/null
	done | sha256sum | cut -d' ' -f1
}
# read, write, discard and flush I/Os and sectors of the disk (block layer)
ns_stat() {
	awk '{ print $1, $3, $5, $7, $12, $14, $16 }' /sys/block/$kname/stat
}
# the controller's own count of write commands (SMART / health log)
smart_writes() {
	nvme smart-log /dev/$ctrl 2>/dev/null | awk -F: '/^host_write_commands/ { gsub(/[ ,]/, "", $2); print $2 }'
}
nvme_log() {	# kernel log lines of nvme since the marker
	dmesg | sed -n "/$marker/,\$p" | grep -E 'nvme'
}

# Random data in the sampled MiBs.
size_mb=$(( $(blockdev --getsize64 "$dev") >> 20 ))
nr_mb=$(ns_regions | wc -l)
t0=$(date +%s)
for o in $(ns_regions); do
	dd if=/dev/urandom of="$dev" bs=1M seek=$o count=1 oflag=direct conv=notrunc 2>/dev/null ||
		{ echo "not ok - writing random data at $o MiB of $dev"; exit 1; }
done
sync
echo "# $dev: $size_mb MiB, random data in $nr_mb MiB of it ($(( $(date +%s) - t0 )) s)"
t0=$(date +%s)
sum0=$(ns_sum)
echo "# $dev: sha256 of the $nr_mb MiB $sum0 ($(( $(date +%s) - t0 )) s)"

stat0=$(ns_stat)
smart0=$(smart_writes)
seq0=$(cat /sys/block/$kname/diskseq)
state0=$(cat /sys/class/nvme/$ctrl/state)
marker="rig-dmabuf-rw-safe-$$-$(date +%s)"
echo "$marker" > /dev/kmsg

# run BIN PHASE WHAT [VAR=VALUE...]: the binary's TAP in $work/PHASE.BIN.tap,
# its exit code checked
run() {
	bin=$1 phase=$2
	echo "# $phase: $bin ($3) at $(date +%T)"
	shift 3
	timeout -s KILL "$tmo" env "$@" $bindir/$bin > $work/$phase.$bin.tap 2>&1
	code=$?
	sed 's/^/    /' $work/$phase.$bin.tap
	case $code in
	0|4) ;;
	137) fail "$phase: $bin killed after ${tmo}s" ;;
	*) fail "$phase: $bin exit code $code" ;;
	esac
}

# The tests that need no device.  None today: the contract tests check
# that every slot still takes a valid dma-buf descriptor, which names the
# device, so they too SKIP when no device is named.  Every other test of
# both binaries writes to the device when one is named: it is a device test,
# and must SKIP here.  A test that is added later is a device test until it
# is listed here.
device_free=""

# judge PHASE BIN REASON: in the binary's TAP, every device test SKIPs with
# REASON in its reason (in phase A the destructive ones may name their own
# opt-in instead); a device-free test may pass or skip; none fails; every
# test of the plan has a result.
judge() {
	awk -v phase="$1" -v bin="$2" -v reason="$3" -v free="$device_free" '
	BEGIN { nf = split(free, f); for (i = 1; i <= nf; i++) isfree[f[i]] = 1 }
	/^1\.\.[0-9]+$/ && !plan { plan = substr($0, 4) + 0 }
	/^(not )?ok [0-9]+ / {
		n++
		ok = $1 == "ok"
		name = ok ? $3 : $4
		skip = index($0, " # SKIP ") > 0
		why = skip ? substr($0, index($0, " # SKIP ") + 8) : ""
		gate = index(why, reason) || (phase == "A" && index(why, "DMABUF_RW_DESTRUCTIVE"))
		if (name in isfree) {
			seen[name] = 1
			if (!ok) { print "not ok - " phase ": " bin ": " name " failed"; bad++ }
			else if (skip) free_skip++
			else free_pass++
			next
		}
		dev++
		if (skip && gate) { skipped++; next }
		bad++
		print "not ok - " phase ": " bin ": " name " " (!ok ? "FAILED" : skip ? "skipped for another reason: " why : "PASSED") ", it must SKIP"
	}
	END {
		if (n != plan) { print "not ok - " phase ": " bin ": " n " results for a plan of " plan; bad++ }
		if (!dev) { print "not ok - " phase ": " bin ": no device test at all"; bad++ }
		if (bin == "dmabuf_rw_test")
			for (i = 1; i <= nf; i++)
				if (!(f[i] in seen)) { print "not ok - " phase ": " bin ": no test " f[i]; bad++ }
		printf "# %s: %s: %d device tests, %d skipped", phase, bin, dev, skipped
		if (free_pass + free_skip)
			printf "; %d device-free tests passed, %d skipped", free_pass, free_skip
		printf "\n"
		exit bad ? 1 : 0
	}' "$work/$1.$2.tap" || rc=1
}

# A: nothing named, nothing allowed
for t in $tests; do
	run $t A "nothing set"
	judge A $t 'no device named'
done

# B: a device in use (swap on a loop device over tmpfs), destructive allowed
loopdev=
truncate -s 8M $work/swap.img
if loopdev=$(losetup -f) && losetup "$loopdev" $work/swap.img && mkswap "$loopdev" >/dev/null &&
   swapon "$loopdev"; then
	for t in $tests; do
		run $t B "$loopdev in use as swap, destructive allowed" \
			DMABUF_RW_DEV=$loopdev DMABUF_RW_DESTRUCTIVE=1
		judge B $t 'in use (mounted, or opened exclusively): refused'
	done
	swapoff "$loopdev"
else
	fail "B: no loop device in use as swap ($loopdev) to be refused"
fi
[ -n "$loopdev" ] && losetup -d "$loopdev" 2>/dev/null

# the namespace and the controller
stat1=$(ns_stat)
smart1=$(smart_writes)
seq1=$(cat /sys/block/$kname/diskseq 2>/dev/null)
state1=$(cat /sys/class/nvme/$ctrl/state 2>/dev/null)
if dmesg | grep -q "$marker"; then
	resets=$(nvme_log | grep -cE 'default/read/poll queues|pci function|reset')
	nvme_log | sed 's/^/# kernel: /'
	[ "$resets" = 0 ] && pass "no reset or probe of $ctrl in the kernel log" ||
		fail "$resets reset or probe lines of $ctrl in the kernel log"
else
	fail "the kernel log no longer holds the marker: resets cannot be ruled out"
fi
[ "$state1" = live ] && [ "$state0" = live ] && pass "$ctrl live before and after" ||
	fail "$ctrl state: $state0 before, $state1 after"
[ "$seq0" = "$seq1" ] && pass "$kname diskseq $seq0 unchanged (not re-probed)" ||
	fail "$kname diskseq $seq0 before, $seq1 after: the disk was re-created"
[ "$stat0" = "$stat1" ] && pass "$kname block layer counters unchanged ($stat1)" ||
	fail "$kname I/O during the selftests: $stat0 before, $stat1 after (r ios, r sectors, w ios, w sectors, discards, discard sectors, flushes)"
if [ -n "$smart0" ]; then
	[ "$smart0" = "$smart1" ] && pass "$ctrl SMART host write commands unchanged ($smart1)" ||
		fail "$ctrl SMART host write commands $smart0 before, $smart1 after"
else
	fail "no SMART host_write_commands from nvme smart-log /dev/$ctrl"
fi
t0=$(date +%s)
sum1=$(ns_sum)
echo "# $dev: sha256 of the $nr_mb MiB $sum1 ($(( $(date +%s) - t0 )) s)"
[ "$sum0" = "$sum1" ] && pass "$dev unchanged (sha256 of $nr_mb sampled MiB)" ||
	fail "$dev changed during the selftests: sha256 $sum0 before, $sum1 after"
exit $rc
