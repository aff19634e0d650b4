#!/bin/sh
# fs.sh FS MODE [JOB]: dma-buf I/O to files of a file system FS, ext4 or
# xfs, made on the NVMe namespace (it runs mkfs.FS on it): fio's io_uring
# dmabuf= registers the dma-buf against the file opened O_DIRECT, and iomap
# direct I/O builds bios that carry its DMA token, one per extent.  Each
# mode makes a new file system, mounts it on /mnt/fs, and at its end
# unmounts it and runs e2fsck -fn or xfs_repair -n, which must find no
# error; no line of the kernel log since the mode began may be a WARNING,
# BUG, KASAN, an ext4 error or warning, an XFS corruption, internal error or
# shutdown, an I/O error or a direct I/O collision with buffered I/O.  fio's random offsets
# repeat from run to run (randrepeat), so that verify_only runs replay them.
#   fs.sh FS verify JOB: fio writes a file from a dma-heap buffer
#       (dmabuf=heap) and reads it back verified (crc32c):
#     rand4k   4 KiB random writes at QD 32 into a new 16 MiB file with no
#              fallocate: each allocates, many extend the file; its size
#              is 16 MiB after
#     seq1m    1 MiB sequential writes into a 128 MiB fallocated file (on
#              ext4 its unwritten extents are at most 32767 blocks long, so
#              at least one write crosses extents), read back verified; then a
#              verify_only run reads it in 128 KiB blocks into a udmabuf
#              (when /dev/udmabuf exists); filefrag's extent count is shown
#     sparse   64 KiB random writes of 64 MiB in all over a 256 MiB range,
#              no fallocate: the file stays sparse (fewer bytes allocated
#              than its size); then a read of all of it into a dma-buf
#              reads every byte (the holes' zeroes are the CPU's, as the
#              device has nothing to read there; the fs kselftests check
#              them)
#     prealloc 16 KiB random writes at QD 32 into a 64 MiB file fallocated
#              first (fio fallocate=native, filefrag -v shows unwritten
#              extents): a read into a dma-buf before the writes reads all
#              of them as zeroes (verify_pattern=0; fio's fresh buffers
#              are zero already: the fs kselftests fill theirs first); after
#              them no extent is unwritten, and after a
#              remount a verify_only run reads every block back
#     append   64 KiB sequential writes into a new file, each past EOF
#              (16 MiB), then 16 KiB ones appended to it (file_append, 16
#              MiB more): the size is 16 and then 32 MiB, and after a
#              remount both parts read back verified (verify_only)
#   fs.sh FS cross: data crosses between dma-buf and other I/O on the same file
#       system (fio verify_only of what another run wrote, 4 KiB to 128 KiB
#       random writes of 16 MiB each): dma-heap writes read by O_DIRECT
#       reads into fio's memory; O_DIRECT writes from fio's memory read into
#       a dma-buf; buffered writes left dirty in the page cache read into a
#       dma-buf (the direct read writes them back first); dma-buf writes
#       over a file whose old data is cached, then read back buffered (the
#       write must drop the stale pages)
#   fs.sh FS races: a round of what follows runs alone first, to time
#       the machine (d s); then fio writes 16 MiB on file A from a
#       dma-heap buffer (64 KiB random writes at QD 32; no fallocate, so
#       its first pass allocates) and reads them back verified, over and
#       over for 10 d s (at least 60), while on file B the script
#       writes (scattered among another file's blocks), defragments (e4defrag
#       or xfs_fsr), truncates, extends and punches a hole in, and freezes
#       and thaws the file system (fsfreeze), round after round; on ext4
#       e4defrag moves A's extents too, under the token bios; on XFS each
#       round clones A (FICLONE, xfs_io reflink) into a file kept until the
#       next, so that fio's writes to A go to new blocks through the COW
#       fork: every round succeeds, a defragmentation moves B's extents
#       (fewer after) at least once, two or more rounds end while fio still
#       runs (else fio runs once more, on a new file, paced by the rounds
#       it saw), fio's data verifies, and the kernel log stays clean
#   fs.sh FS umount: tests/fs-umount.c registers a dma-buf for a file of
#       /mnt/fs, writes from it, closes the file and the dma-buf: umount
#       fails with EBUSY (the registration alone holds the file); after it
#       unregisters, the file system is still usable (a file written and
#       read back) and umount succeeds (within 5 s)
#   fs.sh FS selftest: the series' kselftest program for files (dmabuf-rw's
#       fs, /rig/bin/fs) with DMABUF_RW_FS_DIR=/mnt/fs: its TAP output;
#       it must pass with no test skipped but the other file system's.  On
#       XFS the realtime test runs again on a file system with a realtime
#       device (a loop device on a file in the guest's memory; no reflink,
#       which xfsprogs 6.1 does not make with one), where it must not skip
# (dmabuf= on a file of tmpfs fails and names the cause: fio-verify.sh
# neg-file.)
# SKIP (exit 4) without fio, its dmabuf option, /dev/dma_heap/system, the
# namespace, FS in the kernel, or its mkfs and checker in the guest.  A
# kernel that refuses to register a dma-buf for a file of FS (a series
# without its support) FAILS.  Prints TAP-style lines; the exit code is the
# result.
dev=${RIG_NVME:-/dev/nvme0n1}
mnt=/mnt/fs
fs=$1 mode=$2 job=$3
case $fs in
ext4) mopts=noatime,errors=remount-ro other=XFS
	tools="mkfs.ext4 e2fsck" pkg=e2fsprogs ;;
xfs) mopts=noatime other=ext4
	tools="mkfs.xfs xfs_repair xfs_io" pkg=xfsprogs ;;
*) mode= ;;
esac
mopts=${RIG_FS_MOUNT_OPTS:-$mopts}
# a realtime device (selftest on xfs): mkfs.xfs and xfs_repair options
rtdev='' mkfs_opts='' rt_opts=''
tmp=/tmp/fs.$$
out=$tmp.out err=$tmp.err
heap="--dmabuf=heap --debug=mem"
udma="--dmabuf=udmabuf --debug=mem"
pid='' dpid='' frozen=''
M=1048576

usage() {
	echo "usage: $0 ext4|xfs verify rand4k|seq1m|sparse|prealloc|append | cross | races | umount | selftest" >&2
	exit 2
}
case $mode in
verify)
	case $job in
	rand4k|seq1m|sparse|prealloc|append) ;;
	*) usage ;;
	esac ;;
cross|races|umount|selftest) job= ;;
*) usage ;;
esac
name="fs $fs $mode${job:+ $job}"

if ! command -v fio >/dev/null; then
	echo "SKIP: no fio in the guest"; exit 4
fi
if ! fio --enghelp=io_uring 2>/dev/null | grep -q '^ *dmabuf'; then
	echo "SKIP: this fio has no io_uring dmabuf option"; exit 4
fi
[ -e /dev/dma_heap/system ] || { echo "SKIP: /dev/dma_heap/system missing"; exit 4; }
[ -b "$dev" ] || { echo "SKIP: no block device $dev"; exit 4; }
grep -qw $fs /proc/filesystems || modprobe $fs 2>/dev/null
if ! grep -qw $fs /proc/filesystems; then
	echo "SKIP: the kernel has no $fs"; exit 4
fi
for t in $tools; do
	command -v $t >/dev/null ||
		{ echo "SKIP: no $t in the guest ($pkg, rig/initramfs.sh)"; exit 4; }
done

# Kernel log lines since the mode began: $mark goes to the log first.
mark="rig: fs.sh[$$] $name"
echo "$mark" > /dev/kmsg
kpat='WARNING:|BUG:|KASAN|Oops|general protection|Direct I/O collision|collision with buffered I/O|EXT4-fs error|EXT4-fs warning|XFS[ :(].*([Cc]orrupt|CRC error|Internal error|[Ss]hut.*down)|Unmount and run xfs_repair|I/O error'

cleanup() {
	[ -n "$frozen" ] && fsfreeze --unfreeze $mnt 2>/dev/null
	for p in $pid $dpid; do
		kill $p 2>/dev/null
		wait $p 2>/dev/null
	done
	# never leave the namespace mounted for the tests that follow (the
	# suite's fs-unmounted entry fails if it still is)
	grep -q " $mnt " /proc/mounts && ! fs_umount &&
		echo "# $mnt still mounted: $(cat $tmp.um)"
	[ -n "$rtdev" ] && losetup -d $rtdev
	rm -f $tmp.*
}
trap cleanup EXIT

# fail REASON: the result line of a failed test, and exit
fail() {
	echo "not ok - $name # $*"
	exit 1
}
# fio_fail REASON: fail, with fio's messages and the end of its output
fio_fail() {
	sed 's/^/# /' $err
	grep -v '^mem ' $out | tail -20 | sed 's/^/# /'
	fail "$@"
}

# fsfio NAME FILE [OPTION...]: fio job NAME on FILE with io_uring and
# O_DIRECT (an option after them may change that), terse v3 and the mem
# debug lines of dmabuf= in $out, messages in $err; sets rc and res's
# variables
fsfio() {
	_n=$1 _f=$2; shift 2
	$_exec fio --name="$_n" --filename="$_f" --ioengine=io_uring --direct=1 \
		--output-format=terse --terse-version=3 "$@" > $out 2> $err
	rc=$?
	res
}
# fsfio_bg: fsfio in the background (output in $tmp.bg.out, .err), with
# $pid fio's own (the subshell execs it); fsfio_end waits for it and
# points out and err at its output
fsfio_bg() {
	( out=$tmp.bg.out err=$tmp.bg.err _exec=exec; fsfio "$@" ) &
	pid=$!
}
fsfio_end() {
	wait $pid
	rc=$?
	pid=
	out=$tmp.bg.out err=$tmp.bg.err
	res
}
# res: the first job's result in $out (terse v3: field 5 error, 6 KiB
# read, 47 KiB written): jerr, rkb, wkb
res() {
	set -- $(awk -F';' '$1 == 3 { print $5, $6, $47; exit }' $out)
	jerr=${1:-none} rkb=${2:-0} wkb=${3:-0}
}

# fio_ran WHAT: fio exited 0 and its job has no error
fio_ran() {
	if grep -q 'io_uring dmabuf: registering the dma-buf for .* failed' $err; then
		fio_fail "$1: the kernel refused to register a dma-buf for a file of $fs (a series without its support?)"
	fi
	[ $rc -eq 0 ] && [ "$jerr" = 0 ] || fio_fail "$1: fio exited $rc, job error $jerr"
}
# wrote_verified WHAT KIB: fio wrote KIB KiB and read back and verified as much
wrote_verified() {
	fio_ran "$1"
	[ "$wkb" = "$2" ] && [ "$rkb" = "$2" ] ||
		fio_fail "$1: wrote $wkb KiB, verified $rkb KiB, not $2 KiB each"
	echo "# $1: wrote $wkb KiB, read back and verified $rkb KiB"
}
# verified WHAT KIB: a verify_only run read back and verified KIB KiB
verified() {
	fio_ran "$1"
	[ "$rkb" = "$2" ] || fio_fail "$1: verified $rkb KiB, not $2 KiB"
	echo "# $1: read back and verified $rkb KiB"
}
# wrote WHAT [KIB]: a run with do_verify=0 wrote KIB KiB (or something)
wrote() {
	fio_ran "$1"
	[ "$wkb" -gt 0 ] || fio_fail "$1: wrote nothing"
	[ -z "$2" ] || [ "$wkb" = "$2" ] || fio_fail "$1: wrote $wkb KiB, not $2 KiB"
	echo "# $1: wrote $wkb KiB"
}
# registered FILE: fio's dma-buf was registered for FILE (each open of it)
registered() {
	_r=$(grep -c "io_uring dmabuf: registered in buffer slot [0-9]* for $1\$" $out)
	[ "$_r" -gt 0 ] || fio_fail "fio did not say it registered its dma-buf for $1"
	echo "# $_r dma-buf registrations for $1"
}
size_of() { stat -c %s "$1"; }
# secs: the guest's uptime in whole seconds
secs() { cut -d. -f1 /proc/uptime; }
# size_is FILE BYTES WHY
size_is() {
	_s=$(size_of "$1")
	[ "$_s" = "$2" ] || fail "$1 is $_s bytes, not $2: $3"
	echo "# $1: $_s bytes"
}
extents() {
	command -v filefrag >/dev/null || { echo "?"; return; }
	filefrag "$1" | sed -n 's/.*: \([0-9]*\) extents\{0,1\} found.*/\1/p'
}
# unwritten FILE: the number of unwritten extents (filefrag -v)
unwritten() { filefrag -v "$1" | grep -c unwritten; }

# fs_umount: unmount $mnt, trying for 5 s (the release of an io_uring ring,
# and of the file its registration holds, may follow its task's exit by a
# moment); tries: the busy tries before it succeeded
fs_umount() {
	tries=0
	while ! umount $mnt 2> $tmp.um; do
		tries=$((tries + 1))
		[ $tries -lt 20 ] || return 1
		sleep 0.25
	done
}
fs_mount() {
	mount -t $fs -o "$mopts" "$dev" $mnt 2> $tmp.mnt ||
		fail "mount -t $fs -o $mopts $dev $mnt: $(cat $tmp.mnt)"
}
# fs_make: a new file system on the namespace (ext4's inode tables and
# journal zeroed now, not by the kernel in the background), mounted on $mnt
fs_make() {
	if grep -q " $mnt " /proc/mounts; then
		# left behind by a test that was killed
		fsfreeze --unfreeze $mnt 2>/dev/null
		fs_umount || fail "$mnt is mounted and busy: $(cat $tmp.um)"
	fi
	mkdir -p $mnt
	case $fs in
	ext4) mkfs.ext4 -F -q -E lazy_itable_init=0,lazy_journal_init=0 "$dev" ;;
	xfs) mkfs.xfs -f -q $mkfs_opts "$dev" ;;
	esac > $tmp.mkfs 2>&1
	if [ $? -ne 0 ]; then
		sed 's/^/# /' $tmp.mkfs
		fail "mkfs.$fs $mkfs_opts $dev failed"
	fi
	fs_mount
	echo "# $dev: a new $fs${mkfs_opts:+ ($mkfs_opts)}, mounted on $mnt ($mopts)"
}
fs_remount() {
	fs_umount || fail "umount $mnt before the remount: $(cat $tmp.um)"
	fs_mount
	echo "# $mnt remounted"
}
# fs_done: unmount, e2fsck -fn or xfs_repair -n must find no error, no
# kernel report since the mode began
fs_done() {
	fs_umount || fail "umount $mnt: $(cat $tmp.um) (still, 5 s after the I/O ended)"
	[ $tries -eq 0 ] || echo "# umount succeeded after $tries busy tries"
	case $fs in
	ext4) fsck="e2fsck -fn $dev" ;;
	xfs) fsck="xfs_repair -n${rt_opts:+ $rt_opts} $dev" ;;
	esac
	$fsck > $tmp.fsck 2>&1
	frc=$?
	if [ $frc -ne 0 ]; then
		sed 's/^/# /' $tmp.fsck
		fail "$fsck: exit $frc (errors in the file system)"
	fi
	echo "# $fsck: $(grep -v '^ *$' $tmp.fsck | tail -1)"
	dmesg > $tmp.log
	# (the whole log if the mark has gone out of the ring buffer)
	grep -qF "$mark" $tmp.log &&
		awk -v m="$mark" 'on; index($0, m) { on = 1 }' $tmp.log > $tmp.new ||
		cp $tmp.log $tmp.new
	if grep -Eq "$kpat" $tmp.new; then
		grep -E "$kpat" $tmp.new | head -20 | sed 's/^/# /'
		fail "kernel reports in the log"
	fi
}

# race_round: one round of the races mode on B (and C, and on XFS a clone
# of A once fio runs), round $n in its messages
race_round() {
	# B and C written in turn, 32 KiB at a time, O_DIRECT (allocated at
	# each write, and no journal commit or cache flush per write as with
	# fsync): B's blocks end up scattered, and the defragmenter has
	# extents to move
	rm -f $b
	k=0
	while [ $k -lt 16 ]; do
		for x in $b $c; do
			dd if=/dev/zero of=$x bs=32k count=1 seek=$k conv=notrunc oflag=direct 2>/dev/null ||
				fail "round $n: writing $x failed"
		done
		k=$((k + 1))
	done
	rm -f $c
	if [ $fs = xfs ] && [ -n "$pid" ]; then
		# A's blocks shared with a clone, kept until the next round:
		# fio's writes meanwhile go through the COW fork
		rm -f $mnt/clone
		xfs_io -f -c "reflink $a" $mnt/clone > $tmp.rl 2>&1 &&
			[ -s $mnt/clone ] ||
			fail "round $n: cloning $a failed: $(cat $tmp.rl)"
		# (fio may have rewritten all of A already on a fast machine)
		filefrag -v $a | grep -q shared && shared=$((shared + 1))
		clones=$((clones + 1))
	fi
	defrags=$((defrags + 1))
	x=$(extents $b)
	# (xfs_fsr exits 0 whatever happened: the extents tell)
	$defrag $b > $tmp.defrag 2>&1 < /dev/null ||
		{ defrag_failed=$((defrag_failed + 1)); cat $tmp.defrag >> $tmp.dfail; }
	y=$(extents $b)
	moved="$moved $x->$y"
	[ "$y" -lt "$x" ] && nmoved=$((nmoved + 1))
	truncate -s $((256 * 1024)) $b || fail "round $n: truncating $b failed"
	truncate -s $M $b || fail "round $n: extending $b failed"
	$punch --punch-hole --offset $((64 * 1024)) --length $((64 * 1024)) $b ||
		fail "round $n: punching a hole in $b failed"
	frozen=1
	fsfreeze --freeze $mnt || fail "round $n: fsfreeze --freeze $mnt failed"
	sleep 0.2
	fsfreeze --unfreeze $mnt || fail "round $n: fsfreeze --unfreeze $mnt failed"
	frozen=
}

# timed_round: race_round, and its time in seconds, rounded up, in rl
timed_round() {
	_r0=$(secs)
	race_round
	rl=$(( $(secs) - _r0 + 1 ))
}

v="--verify=crc32c --verify_fatal=1"
case $mode in
verify)
	fs_make
	f=$mnt/$job
	case $job in
	rand4k)
		fsfio rand4k $f $heap --rw=randwrite --bs=4k --iodepth=32 \
			--size=16M --fallocate=none $v
		wrote_verified "4 KiB random writes extending a new file" 16384
		registered $f
		size_is $f $((16 * M)) "random writes up to 16 MiB"
		echo "# $f: $(extents $f) extents" ;;
	seq1m)
		# headers every 128 KiB, for the read-back in 128 KiB blocks
		fsfio seq1m $f $heap --rw=write --bs=1M --iodepth=8 --size=128M \
			--fallocate=native --verify_interval=128k $v
		wrote_verified "1 MiB writes into fallocated extents" 131072
		registered $f
		size_is $f $((128 * M)) "a 128 MiB fallocated file"
		echo "# $f: $(extents $f) extents"
		[ -e /dev/udmabuf ] || fail "no /dev/udmabuf (CONFIG_UDMABUF) for the read-back"
		fsfio seq1m $f $udma --rw=write --bs=128k --iodepth=16 \
			--size=128M $v --verify_only
		verified "the same read in 128 KiB blocks into a udmabuf" 131072
		registered $f ;;
	sparse)
		fsfio sparse $f $heap --rw=randwrite --bs=64k --iodepth=16 \
			--size=256M --io_size=64M --fallocate=none $v
		wrote_verified "64 KiB random writes over 256 MiB" 65536
		registered $f
		s=$(size_of $f)
		a=$(( $(stat -c %b $f) * $(stat -c %B $f) ))
		echo "# $f: $s bytes, $a allocated, $(extents $f) extents"
		[ "$s" -le $((256 * M)) ] || fail "$f is $s bytes, more than the 256 MiB written over"
		[ "$a" -ge $((64 * M)) ] || fail "$f has $a bytes allocated, less than the 64 MiB written"
		[ "$a" -lt "$s" ] || fail "$f is not sparse: $a bytes allocated, size $s"
		# the file's own size: a job larger than the file would lay it out anew
		fsfio holes $f --dmabuf=heap --rw=read --bs=64k --iodepth=16 --size="$s"
		fio_ran "a dma-buf read across the holes"
		[ "$rkb" = $((s / 1024)) ] ||
			fio_fail "a dma-buf read across the holes read $rkb KiB, not $((s / 1024))"
		echo "# a dma-buf read across the holes: $rkb KiB" ;;
	prealloc)
		o="--rw=randwrite --bs=16k --iodepth=32 --size=64M --fallocate=native $v"
		# fio's layout only (unlink, create, fallocate), no I/O
		fsfio prealloc $f $o --create_only=1
		[ $rc -eq 0 ] || fio_fail "fallocating the file: fio exited $rc"
		size_is $f $((64 * M)) "fallocated to 64 MiB"
		command -v filefrag >/dev/null || fail "no filefrag in the guest (e2fsprogs, rig/initramfs.sh)"
		u=$(unwritten $f)
		echo "# $f: $(extents $f) extents, $u unwritten"
		[ "$u" -gt 0 ] || fail "fallocate left no unwritten extent in $f"
		fsfio unwritten $f --dmabuf=heap --rw=read --bs=128k --iodepth=8 --size=64M \
			--verify=pattern --verify_pattern=0 --verify_fatal=1
		verified "zeroes read from the unwritten extents into a dma-buf" 65536
		fsfio prealloc $f $heap $o
		wrote_verified "16 KiB random writes into unwritten extents" 65536
		registered $f
		u=$(unwritten $f)
		echo "# $f: $(extents $f) extents, $u unwritten"
		[ "$u" -eq 0 ] || fail "$u extents of $f still unwritten after every block was written"
		size_is $f $((64 * M)) "writes inside the fallocated size"
		fs_remount
		fsfio prealloc $f $heap $o --verify_only
		verified "after the remount, the same" 65536 ;;
	append)
		o1="--rw=write --bs=64k --iodepth=8 --size=16M --fallocate=none $v"
		o2="--rw=write --bs=16k --iodepth=16 --size=16M --fallocate=none $v"
		fsfio append1 $f $heap $o1
		wrote_verified "64 KiB writes past EOF of a new file" 16384
		registered $f
		size_is $f $((16 * M)) "the writes extended it to 16 MiB"
		fsfio append2 $f $heap $o2 --file_append=1
		wrote_verified "16 KiB writes appended (file_append)" 16384
		size_is $f $((32 * M)) "16 MiB appended to 16 MiB"
		fs_remount
		size_is $f $((32 * M)) "its size after the remount"
		fsfio append1 $f $heap $o1 --verify_only
		verified "after the remount, the first 16 MiB" 16384
		fsfio append2 $f $heap $o2 --offset=16M --verify_only
		verified "after the remount, the appended 16 MiB" 16384 ;;
	esac
	fs_done
	echo "ok - $name"
	exit 0 ;;
cross)
	fs_make
	j="--rw=randwrite --bsrange=4k-128k --iodepth=16 --size=16M --fallocate=none $v"
	# w: the writer's options, r: the reader's
	for way in dmabuf-to-odirect odirect-to-dmabuf buffered-to-dmabuf dmabuf-over-cached-to-buffered; do
		f=$mnt/$way
		case $way in
		dmabuf-to-odirect) w=$heap r= ;;
		odirect-to-dmabuf) w='' r=$heap ;;
		buffered-to-dmabuf)
			# the written pages stay dirty: no fadvise on open
			w=--direct=0 r="$heap --invalidate=0" ;;
		dmabuf-over-cached-to-buffered)
			# old data in the page cache, kept (invalidate=0)
			fsfio old $f --direct=0 --rw=write --bs=64k --size=16M
			wrote "$way: old data, buffered" 16384
			sync
			cat $f > /dev/null
			w="$heap --invalidate=0" r="--direct=0 --invalidate=0" ;;
		esac
		fsfio cross $f $w $j --do_verify=0
		wrote "$way: the writes"
		wkb0=$wkb
		case $w in *dmabuf*) registered $f ;; esac
		# a file smaller than the job would be laid out anew
		[ "$(size_of $f)" -ge $((16 * M)) ] || fail "$way: $f is $(size_of $f) bytes after 16 MiB of writes"
		fsfio cross $f $r $j --verify_only
		verified "$way: the reads" $wkb0
		case $r in *dmabuf*) registered $f ;; esac
	done
	fs_done
	echo "ok - $name"
	exit 0 ;;
races)
	command -v fsfreeze >/dev/null || { echo "SKIP: no fsfreeze in the guest"; exit 4; }
	# util-linux's fallocate, by its path: busybox's sh runs its own
	# applet for a bare "fallocate", and that cannot punch holes
	punch=
	for p in $(which -a fallocate); do
		"$p" --help 2>&1 | grep -q punch-hole && { punch=$p; break; }
	done
	if [ -z "$punch" ]; then
		echo "SKIP: no fallocate --punch-hole in the guest (util-linux, rig/initramfs.sh)"; exit 4
	fi
	case $fs in
	ext4) defrag=e4defrag ;;
	xfs) defrag=xfs_fsr ;;
	esac
	command -v $defrag >/dev/null || fail "no $defrag in the guest (rig/initramfs.sh)"
	fs_make
	b=$mnt/b c=$mnt/c
	n=0 during=0 defrags=0 defrag_failed=0 moved= nmoved=0 clones= shared=0
	# Round 0, before fio, times a round on this machine (a loaded one
	# takes several times as long), taken as 2 to 15 s; what its
	# defragmentation did is not counted (fio was not running)
	t0=$(secs)
	timed_round
	d=$rl
	[ $d -ge 2 ] || d=2
	[ $d -le 15 ] || d=15
	defrags=0 moved= nmoved=0
	# fio writes A as fast as it can (no rate limit: fio's limit drains its
	# queue), 64 KiB random writes at QD 32, 16 MiB read back verified
	# over and over, for 10 rounds' time, at least 60 s (its runtime
	# cuts the last pass short: verified in part or not at all).  Every
	# pass writes the same data at the same offsets (fio reseeds at each
	# loop): a header in each 4 KiB block, whose numberio counts on, is
	# what tells a block this pass wrote from the one the pass before
	# left.  Its first pass allocates; 64 KiB blocks keep A at 256
	# extents at most, which each XFS clone shares again.  Should fewer
	# than 2 rounds end with fio running, it runs once more on a new
	# file, for 3 of the rounds it saw, within 420 s of round 0.  No
	# round starts later than 480 s after round 0 (rl: the last round's
	# time), so that the test ends within its 600 s.
	run=$((10 * d))
	[ $run -ge 60 ] || run=60
	pass=0
	while :; do
		pass=$((pass + 1))
		a=$mnt/a$pass
		echo "# fio on $a: 16 MiB written and read back verified, over and over for ${run}s"
		fsfio_bg races$pass $a $heap --rw=randwrite --bs=64k --iodepth=32 \
			--size=16M --fallocate=none --loops=100000 --runtime=$run $v \
			--verify_interval=4k
		t=$(secs) n0=$n
		# until fio has written a quarter of A (e4defrag then has
		# extents to move)
		k=0
		while [ "$(stat -c %b $a 2>/dev/null || echo 0)" -lt 8192 ]; do
			if ! kill -0 $pid 2>/dev/null; then
				fsfio_end
				fio_ran "fio on $a"
				fail "fio ended before it wrote 4 MiB of $a"
			fi
			k=$((k + 1))
			[ $k -le 1200 ] || fail "fio wrote less than 4 MiB of $a in 120 s"
			sleep 0.1
		done
		# and, on ext4, the file under dma-buf I/O, in the background:
		# its extents move while token bios are in flight
		# (EXT4_IOC_MOVE_EXT waits for them).  xfs_fsr gives up on a
		# file that changes during its copy; on XFS, clones of A share
		# its extents instead, which fio's writes then remap through the
		# COW fork (FICLONE waits for the I/O in flight).
		if [ $fs = ext4 ]; then
			e4defrag -v $a > $tmp.defraga 2>&1 &
			dpid=$!
		fi
		while kill -0 $pid 2>/dev/null && [ $n -lt 100 ] &&
		      [ $(( $(secs) - t0 + rl )) -le 480 ]; do
			n=$((n + 1))
			timed_round
			kill -0 $pid 2>/dev/null && during=$((during + 1))
		done
		fsfio_end
		if [ -n "$dpid" ]; then
			wait $dpid ||
				{ defrag_failed=$((defrag_failed + 1)); cat $tmp.defraga >> $tmp.dfail; }
			dpid=
			echo "# e4defrag -v of $a (during fio): $(sed -n 's/.*\(extents: [0-9]* -> [0-9]*\).*/\1/p' $tmp.defraga | tail -1)"
		fi
		fio_ran "fio on $a"
		[ "$rkb" -ge 16384 ] ||
			fio_fail "fio on $a: verified $rkb KiB of the $wkb it wrote in ${run}s, not one whole 16 MiB pass (a machine too slow for this test, or I/O that stalled)"
		[ $((wkb - rkb)) -le 16384 ] ||
			fio_fail "fio on $a: wrote $wkb KiB, verified $rkb KiB: a pass before the last went unverified"
		echo "# fio on $a: wrote $wkb KiB, read back and verified $rkb KiB ($((rkb / 16384)) whole passes)"
		registered $a
		[ $during -lt 2 ] || break
		[ $pass -lt 2 ] ||
			fail "fio ended after $during rounds in $pass runs: the races did not overlap its I/O"
		now=$(secs)
		r=$(( (now - t) / (n - n0 > 0 ? n - n0 : 1) + 1 ))
		run=$((3 * r))
		[ $run -le $((420 - (now - t0) - r)) ] || run=$((420 - (now - t0) - r))
		[ $run -ge $((2 * r)) ] ||
			fail "fio ended after $during rounds (a round takes ${r}s): no time left to run it again"
		echo "# $during rounds ended with fio still running (a round takes ${r}s): fio again, on a new file"
	done
	echo "# $n rounds of writes, $defrag, truncate and punch-hole on $b, ${clones:+$clones clones of A ($shared sharing extents with it when checked), }and fsfreeze of $mnt; $during of them ended with fio still running"
	[ -z "$clones" ] || [ $shared -gt 0 ] ||
		fail "no clone of A shared an extent with it when checked: fio's writes went through no COW fork"
	ofa=
	[ $fs = ext4 ] && ofa=" and $pass of A"
	echo "# $defrag: $defrags of $b during fio$ofa, $defrag_failed failed (round 0's too), $nmoved moved extents of $b; its extents before->after:$moved"
	if [ $defrag_failed -ne 0 ]; then
		tr '\r' '\n' < $tmp.dfail | grep -v '^ *$' | tail -6 | sed "s/^/# $defrag: /"
		fail "$defrag failed $defrag_failed times"
	fi
	[ $nmoved -gt 0 ] || fail "$defrag moved no extent of $b in $defrags runs"
	fs_done
	echo "ok - $name"
	exit 0 ;;
umount)
	[ -x /rig/bin/fs-umount ] || fail "no /rig/bin/fs-umount (tests/fs-umount.c)"
	fs_make
	# the registration alone (the file's fd and the dma-buf's closed)
	# keeps the file system busy: tests/fs-umount.c
	/rig/bin/fs-umount $mnt/held $mnt > $tmp.um.out 2>&1
	urc=$?
	sed 's/^/# /' $tmp.um.out
	[ $urc -eq 0 ] || fail "fs-umount exited $urc"
	grep -q " $mnt " /proc/mounts || fail "$mnt is not mounted any more after the failed umount"
	dd if=/dev/urandom of=$tmp.probe bs=64k count=16 2>/dev/null
	cp $tmp.probe $mnt/probe && sync && echo 3 > /proc/sys/vm/drop_caches &&
		cmp $tmp.probe $mnt/probe ||
		fail "a file written after the failed umount does not read back"
	echo "# after the failed umount, 1 MiB written to $mnt/probe and read back"
	# fs_done: the umount, now with no registration, must succeed
	fs_done
	echo "ok - $name"
	exit 0 ;;
selftest)
	[ -x /rig/bin/fs ] ||
		{ echo "SKIP: the series has no dmabuf-rw fs selftest"; exit 4; }
	fs_make
	DMABUF_RW_FS_DIR=$mnt /rig/bin/fs > $tmp.st 2>&1
	src=$?
	cat $tmp.st
	fs_done
	# with NVMe, a heap and the test exporter here, every test runs but
	# the other file system's (and XFS's realtime one, which runs next):
	# any other SKIP is a regression
	[ $src -eq 0 ] || fail "the fs kselftests failed (exit $src)"
	allowed="$other only"
	[ $fs = xfs ] && allowed="$allowed|no realtime file"
	if grep '^ok .*# SKIP' $tmp.st | grep -Evq "# SKIP ($allowed)"; then
		fail "fs kselftests skipped: $(grep '^ok .*# SKIP' $tmp.st | grep -Ev "# SKIP ($allowed)" | head -3 | tr '\n' ' ')"
	fi
	[ $fs = xfs ] || { echo "ok - $name"; exit 0; }
	# a realtime device, on a file in memory
	truncate -s 64M $tmp.rt && d=$(losetup -f) && losetup $d $tmp.rt && rtdev=$d ||
		fail "no loop device for a realtime device"
	mkfs_opts="-m reflink=0 -r rtdev=$rtdev" rt_opts="-r $rtdev" mopts="$mopts,rtdev=$rtdev"
	fs_make
	DMABUF_RW_FS_DIR=$mnt /rig/bin/fs -t xfs_realtime_eopnotsupp > $tmp.st 2>&1
	src=$?
	cat $tmp.st
	fs_done
	[ $src -eq 0 ] || fail "the realtime kselftest failed (exit $src)"
	grep -q '^ok .* fs\.xfs_realtime_eopnotsupp$' $tmp.st ||
		fail "the realtime kselftest did not run, or skipped"
	echo "ok - $name"
	exit 0 ;;
esac
