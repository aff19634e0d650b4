#!/bin/sh
# fio-verify.sh MODE JOB: run the fio job file /rig/tests/fio/JOB.fio on the
# NVMe namespace with the I/O buffers of MODE, and check that it did what it
# says: fio exits 0, every job reports error 0, wrote a nonzero amount and
# read back (verified) as much as it wrote.
#   MODE: plain (O_DIRECT from fio's own memory), fixed (fixedbufs),
#         heap or udmabuf (dmabuf=: buffers in a dma-buf, registered for the
#         namespace, READ_FIXED/WRITE_FIXED straight into it; fio's debug
#         output must show each job registering its dma-buf)
# fio-verify.sh neg-file: dmabuf= on a regular (tmpfs) file must fail the job
#   with a message that names the cause (no dma-buf I/O support).
# fio-verify.sh neg-fixedbufs: dmabuf= with fixedbufs must be refused.
# Prints one TAP-style line; the exit code is the result (4: skip).
dev=${RIG_NVME:-/dev/nvme0n1}
dir=$(dirname "$0")/fio
mode=$1 job=$2
out=/tmp/fio-verify.$$.out err=/tmp/fio-verify.$$.err
trap 'rm -f $out $err /tmp/fio-verify.$$.dat' EXIT

case $mode in
plain) opts= ;;
fixed) opts=--fixedbufs ;;
heap) opts="--dmabuf=heap --debug=mem"; need=/dev/dma_heap/system ;;
udmabuf) opts="--dmabuf=udmabuf --debug=mem"; need=/dev/udmabuf ;;
neg-file|neg-fixedbufs) job=$mode; need=/dev/dma_heap/system ;;
*) echo "usage: $0 plain|fixed|heap|udmabuf JOB | neg-file | neg-fixedbufs" >&2; exit 2 ;;
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
esac

[ -f "$dir/$job.fio" ] || { echo "fio-verify: no job $dir/$job.fio" >&2; exit 2; }
[ -b "$dev" ] || { echo "SKIP: no block device $dev"; exit 4; }
# Command-line options before the job file apply to all its jobs.
FIO_DEV=$dev fio --ioengine=io_uring $opts --output-format=terse \
	--terse-version=3 "$dir/$job.fio" >$out 2>$err
rc=$?
[ $rc -eq 0 ] || fail "fio exited $rc"
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
heap|udmabuf)
	# each job registers its dma-buf when it opens the device (twice:
	# fio reopens it for the verify phase)
	jobs=$(grep -c '^3;' $out)
	regs=$(grep -c "io_uring dmabuf: registered in buffer slot 0 for $dev" $out)
	echo "# $regs dma-buf registrations for $jobs job(s)"
	[ "$regs" -ge "$jobs" ] || fail "a job did not register its dma-buf" ;;
esac
grep -i 'verify\|error' $err | sed 's/^/# fio: /'
echo "ok - $name"
