#!/bin/sh
# fio-verify.sh MODE JOB: run the fio job file /rig/tests/fio/JOB.fio on the
# NVMe namespace with the I/O buffers of MODE, and check that it did what it
# says: fio exits 0, every job reports error 0, wrote a nonzero amount and
# read back (verified) as much as it wrote.
#   MODE: plain (O_DIRECT from fio's own memory), fixed (fixedbufs),
#         heap or udmabuf (dmabuf=: buffers in a dma-buf, registered for the
#         namespace, READ_FIXED/WRITE_FIXED straight into it; fio's debug
#         output must show each job registering its dma-buf)
#         cmd-plain, cmd-heap, cmd-udmabuf: the same, with
#         ioengine=io_uring_cmd on the namespace's generic char device
#         (NVMe passthrough; with dma-buf buffers, commands with
#         IORING_URING_CMD_FIXED from the dma-buf registered for it); the
#         job's largest block is capped at what passthrough takes: from
#         fio's memory max_hw_sectors_kb, from a dma-buf the controller's
#         MDTS (nvme-info.sh), as passthrough requests are never split
#         cmd-compare: cmd-heap with verify_mode=compare: the verify reads
#         are NVMe Compare commands with the expected data in the dma-buf,
#         which fio supports for verify=pattern only (the pattern here: the
#         block's offset, %o)
# fio-verify.sh cross: data written through one path is read back and
#   verified through the other (fio verify_only): block I/O from a dma-heap
#   buffer, then passthrough into a udmabuf; passthrough from a udmabuf,
#   then block I/O into a dma-heap buffer.
# fio-verify.sh neg-file: dmabuf= on a regular (tmpfs) file must fail the job
#   with a message that names the cause (no dma-buf I/O support).
# fio-verify.sh neg-fixedbufs: dmabuf= with fixedbufs must be refused.
# fio-verify.sh neg-cmd-vectored, neg-cmd-writemode: io_uring_cmd's dmabuf=
#   with nonvectored=0 or write_mode=zeroes must be refused.
# Prints one TAP-style line; the exit code is the result (4: skip).
dev=${RIG_NVME:-/dev/nvme0n1}
. "$(dirname "$0")/nvme-info.sh"
ng=$(ng_of "$dev")
dir=$(dirname "$0")/fio
mode=$1 job=$2 engine=io_uring
out=/tmp/fio-verify.$$.out err=/tmp/fio-verify.$$.err
trap 'rm -f $out $err /tmp/fio-verify.$$.dat /tmp/fio-verify.$$.fio' EXIT

case $mode in
plain) opts= ;;
fixed) opts=--fixedbufs ;;
heap) opts="--dmabuf=heap --debug=mem"; need=/dev/dma_heap/system ;;
udmabuf) opts="--dmabuf=udmabuf --debug=mem"; need=/dev/udmabuf ;;
cmd-plain) opts= engine=io_uring_cmd ;;
cmd-heap) opts="--dmabuf=heap --debug=mem" engine=io_uring_cmd
	need=/dev/dma_heap/system ;;
cmd-udmabuf) opts="--dmabuf=udmabuf --debug=mem" engine=io_uring_cmd
	need=/dev/udmabuf ;;
cmd-compare) opts="--dmabuf=heap --debug=mem --verify_mode=compare --verify_pattern=%o"
	engine=io_uring_cmd need=/dev/dma_heap/system ;;
cross) need=/dev/udmabuf ;;
neg-file|neg-fixedbufs) job=$mode; need=/dev/dma_heap/system ;;
# refused before any buffer is made
neg-cmd-vectored|neg-cmd-writemode) job=$mode ;;
*) echo "usage: $0 [cmd-]plain|fixed|heap|udmabuf|cmd-compare JOB | cross | neg-file | neg-fixedbufs | neg-cmd-vectored | neg-cmd-writemode" >&2; exit 2 ;;
esac
name="fio $mode${2:+ $2}"

if ! command -v fio >/dev/null; then
	echo "SKIP: no fio in the guest"; exit 4
fi
if [ -n "$need" ] && [ ! -e "$need" ]; then
	echo "SKIP: $need missing"; exit 4
fi
if ! fio --enghelp=io_uring 2>/dev/null | grep -q '^ *dmabuf'; then
	echo "not ok - $name # this fio has no io_uring dmabuf option"; exit 1
fi

fail() {
	sed 's/^/# /' $err
	grep -v '^mem ' $out | tail -40 | sed 's/^/# /'
	echo "not ok - $name # $*"
	exit 1
}

# Negative cases: fio must fail, and say why.
case $mode in
neg-file)
	f=/tmp/fio-verify.$$.dat
	fio --name=negfile --filename=$f --size=4M --ioengine=io_uring \
		--direct=1 --rw=write --bs=4k --dmabuf=heap \
		--output-format=terse --terse-version=3 >$out 2>$err
	rc=$?
	[ $rc -ne 0 ] || fail "fio exited 0 with dmabuf on a regular file"
	grep -q "registering the dma-buf for $f failed: Operation not supported: the file does not support dma-buf IO" $err ||
		fail "fio failed (exit $rc) without naming the cause"
	if awk -F';' '$1 == 3 && $47 > 0 { found = 1 } END { exit !found }' $out; then
		fail "fio wrote data although registration failed"
	fi
	grep -m1 "registering the dma-buf" $err | sed 's/^/# /'
	echo "ok - $name # exit $rc, cause named"
	exit 0 ;;
neg-fixedbufs)
	fio --name=negfixed --filename=$dev --size=4M --ioengine=io_uring \
		--direct=1 --rw=write --bs=4k --dmabuf=heap --fixedbufs \
		--output-format=terse --terse-version=3 >$out 2>$err
	rc=$?
	[ $rc -ne 0 ] || fail "fio exited 0 with dmabuf and fixedbufs"
	grep -q "dmabuf and fixedbufs are mutually exclusive" $err ||
		fail "fio failed (exit $rc) without naming the conflict"
	grep -m1 "mutually exclusive" $err | sed 's/^/# /'
	echo "ok - $name # exit $rc, conflict named"
	exit 0 ;;
neg-cmd-vectored|neg-cmd-writemode)
	[ -c "$ng" ] || { echo "SKIP: no generic char device ${ng:-of $dev}"; exit 4; }
	if [ $mode = neg-cmd-vectored ]; then
		o="--rw=write --nonvectored=0" want="cannot be combined with nonvectored=0"
	else
		o="--rw=write --write_mode=zeroes" want="needs write_mode=write"
	fi
	fio --name=$mode --filename=$ng --size=4M --ioengine=io_uring_cmd \
		--cmd_type=nvme --bs=4k --dmabuf=heap $o \
		--output-format=terse --terse-version=3 >$out 2>$err
	rc=$?
	[ $rc -ne 0 ] || fail "fio exited 0 with dmabuf and $o"
	grep -q "$want" $err || fail "fio failed (exit $rc) without naming the conflict"
	grep -m1 "$want" $err | sed 's/^/# /'
	echo "ok - $name # exit $rc, conflict named"
	exit 0 ;;
esac

[ -b "$dev" ] || { echo "SKIP: no block device $dev"; exit 4; }
if [ $engine = io_uring_cmd ] || [ $mode = cross ]; then
	[ -c "$ng" ] || { echo "SKIP: no generic char device ${ng:-of $dev}"; exit 4; }
	# Passthrough requests are never split: the largest block is the
	# queue's hardware limit from fio's memory, the controller's (capped
	# by nvme-pci's 8 MiB) from a dma-buf.
	kname=$(basename "$(readlink -f "$dev")")
	if [ "$mode" = cmd-plain ]; then
		cap=$(cat /sys/block/$kname/queue/max_hw_sectors_kb)
		[ -n "$cap" ] || fail "no /sys/block/$kname/queue/max_hw_sectors_kb"
	else
		command -v nvme >/dev/null || { echo "SKIP: no nvme-cli in the guest"; exit 4; }
		ctrl=$(ctrl_of "$dev")
		ctrl_limits "$ctrl" || fail "no mdts in nvme id-ctrl $ctrl or no cap in nvme show-regs"
		cap=$TOKEN_KB
	fi
fi
# kib SIZE: fio's 128k or 4m in KiB
kib() { case $1 in *k) echo "${1%k}" ;; *m) echo $(( ${1%m} * 1024 )) ;; *) echo $(( $1 / 1024 )) ;; esac; }

# terse: the job results (fio's output format, terse version 3)
terse() {
	fio --output-format=terse --terse-version=3 "$@" >$out 2>$err
	rc=$?
	[ $rc -eq 0 ] || fail "fio exited $rc"
}

if [ $mode = cross ]; then
	[ -e /dev/dma_heap/system ] || { echo "SKIP: /dev/dma_heap/system missing"; exit 4; }
	# random writes of 4 KiB up to 128 KiB (or the passthrough limit),
	# verified later by a verify_only run of the same job
	[ $cap -lt 128 ] && bmax=$cap || bmax=128
	for way in block-to-passthrough passthrough-to-block; do
		if [ $way = block-to-passthrough ]; then
			w="--filename=$dev --ioengine=io_uring --direct=1 --dmabuf=heap"
			r="--filename=$ng --ioengine=io_uring_cmd --dmabuf=udmabuf"
			off=768M
		else
			w="--filename=$ng --ioengine=io_uring_cmd --dmabuf=udmabuf"
			r="--filename=$dev --ioengine=io_uring --direct=1 --dmabuf=heap"
			off=832M
		fi
		job="--name=cross --rw=randwrite --bsrange=4k-${bmax}k --iodepth=16 --offset=$off --size=16M --verify=crc32c --verify_fatal=1"
		terse $job $w --do_verify=0
		wr=$(awk -F';' '$1 == 3 && $5 == 0 { print $47 }' $out)
		[ -n "$wr" ] && [ "$wr" -gt 0 ] || fail "$way: the write job wrote nothing or failed: $(head -c 300 $out)"
		terse $job $r --verify_only=1
		rd=$(awk -F';' '$1 == 3 && $5 == 0 { print $6 }' $out)
		[ "$rd" = "$wr" ] || fail "$way: wrote $wr KiB, verified ${rd:-no} KiB"
		echo "# $way: wrote $wr KiB, read back and verified $rd KiB"
	done
	echo "ok - $name"
	exit 0
fi

[ -f "$dir/$job.fio" ] || { echo "fio-verify: no job $dir/$job.fio" >&2; exit 2; }
jobfile=$dir/$job.fio
if [ $engine = io_uring_cmd ]; then
	# the job as NVMe passthrough: the char device takes no O_DIRECT,
	# and its largest block is what one command takes
	jobfile=/tmp/fio-verify.$$.fio
	br=$(sed -n 's/^bsrange=//p' "$dir/$job.fio")
	range=
	if [ -n "$br" ]; then
		lo=$(kib "${br%-*}") hi=$(kib "${br#*-}")
		[ "$cap" -lt "$hi" ] && hi=$cap
		[ "$hi" -ge "$lo" ] || { echo "SKIP: a passthrough command takes at most $cap KiB, the job's smallest block is $lo KiB"; exit 4; }
		range="bsrange=${lo}k-${hi}k"
		echo "# passthrough: $range (the job's $br, at most $cap KiB per command)"
	fi
	vp=
	[ $mode = cmd-compare ] && vp='s/^verify=crc32c$/verify=pattern/'
	sed -e 's/^ioengine=io_uring$/ioengine=io_uring_cmd/' -e '/^direct=1$/d' \
		-e "s/^bsrange=.*/$range/" ${vp:+-e "$vp"} "$dir/$job.fio" > $jobfile
	grep -q '^ioengine=io_uring_cmd$' $jobfile || fail "$job.fio names no ioengine=io_uring"
	dev=$ng
fi
# Command-line options before the job file apply to all its jobs (an
# engine's options after the engine).
FIO_DEV=$dev terse --ioengine=$engine $opts "$jobfile"
# terse v3: field 3 job name, 5 error, 6 KiB read, 9 read ms, 47 KiB
# written, 50 write ms
awk -F';' '$1 == 3 { n++
	if ($5 != 0) { printf "# job %s: error %s\n", $3, $5; bad = 1 }
	else if ($47 <= 0) { printf "# job %s: wrote nothing\n", $3; bad = 1 }
	else if ($6 != $47) { printf "# job %s: wrote %s KiB, verified %s KiB\n", $3, $47, $6; bad = 1 }
	else printf "# job %s: wrote %s KiB in %s ms, read back and verified %s KiB in %s ms\n", $3, $47, $50, $6, $9
} END { if (!n) { print "# no job results"; bad = 1 }; exit bad }' $out > $out.sum
src=$?
cat $out.sum; rm -f $out.sum
[ $src -eq 0 ] || fail "bad job results"
case $mode in
heap|udmabuf|cmd-heap|cmd-udmabuf|cmd-compare)
	# each job registers its dma-buf when it opens the device (twice:
	# fio reopens it for the verify phase)
	jobs=$(grep -c '^3;' $out)
	regs=$(grep -c "io_uring dmabuf: registered in buffer slot 0 for $dev" $out)
	echo "# $regs dma-buf registrations for $jobs job(s)"
	[ "$regs" -ge "$jobs" ] || fail "a job did not register its dma-buf" ;;
esac
grep -i 'verify\|error' $err | sed 's/^/# fio: /'
echo "ok - $name"
