#!/bin/sh
# liburing-suite.sh LIST [DEVICE]: run liburing's own test programs (its
# test/ directory, built by rig/userspace.sh into /rig/liburing) and print
# one TAP result per program, as liburing's runtests.sh judges them: exit 0
# passes, 77 skips, anything else (a timeout included) fails.  LIST is
# "all" or a file of program names (liburing-tests.txt).  With DEVICE, each
# program also runs with DEVICE as its argument, as runtests.sh does for the
# devices in its TEST_FILES.  Each program gets LIBURING_TIMEOUT seconds
# (120; make check's short list gives 600: file-verify reads the whole
# namespace, ~70 s under TCG on an idle machine, and a shared machine's load
# must not turn that into a failure).
#
# A failure that the unpatched base kernel has too (it is listed in
# liburing-base.txt next to this script, made by `make liburing-baseline`)
# is reported as a skip with that reason: the suite asks for no regression,
# and the base list says what the suite does on the base.  A program that
# fails here and not on the base is a failure; rig/check.sh checks that
# the list was made for the same base kernel and liburing version.
#
# A program in $racy, whose own code races with the kernel in a way the
# kernel allows, runs once more when it dies of SIGSEGV (exit 139) as that
# race makes it: the second run's result is the result, and its line says
# that the first one crashed.
#   reg-fd-only.t  its SQPOLL case reaps the CQEs of a full SQ and then takes
#                  as many SQEs again, never checking io_uring_get_sqe() for
#                  NULL; the SQ thread posts the CQEs of a batch before it
#                  moves the SQ head (io_submit_sqes()), so a test that runs
#                  in between gets no SQE and writes through NULL (exit 139;
#                  seen once, with another guest loading the host)
racy="reg-fd-only.t"
dir=/rig/liburing
base=${LIBURING_BASE:-$(dirname "$0")/liburing-base.txt}
list=$1
dev=$2
tmo=${LIBURING_TIMEOUT:-120}

[ -d "$dir" ] || { echo "SKIP: no liburing test programs in $dir"; exit 4; }
cd "$(mktemp -d /tmp/liburing.XXXXXX)" || exit 1

if [ "$list" = all ]; then
	set -- $(cd "$dir" && ls *.t)
else
	set -- $(grep -v '^#' "$list" | sed 's/$/.t/')
fi
n=$#
[ -n "$dev" ] && n=$((n * 2))
echo "1..$n"
i=0
failed=0
once() {	# once PROGRAM [ARG]: rc, dur
	start=$(date +%s)
	timeout -s KILL "$tmo" "$@" > out 2>&1 < /dev/null
	rc=$?
	dur=$(( $(date +%s) - start ))
	echo "liburing: $name: exit $rc, ${dur}s" > /dev/kmsg
}
run() {	# run NAME PROGRAM [ARG]
	name=$1; shift
	i=$((i + 1))
	once "$@"
	again=
	case " $racy " in
	*" ${1##*/} "*)
		if [ $rc -eq 139 ]; then
			again=" (a rerun: the first run's exit was 139)"
			sed -n '1,5s/^/# first run: /p' out
			once "$@"
		fi ;;
	esac
	case $rc in
	0) echo "ok $i $name # ${dur}s$again" ;;
	77) echo "ok $i $name # SKIP $(head -c 150 out | tr '\n' ' ')$again" ;;
	*)	if grep -qxF "$name" "$base" 2>/dev/null; then
			echo "ok $i $name # SKIP fails (exit $rc) on the base kernel too$again"
		else
			sed -n '1,15s/^/# /p' out
			echo "not ok $i $name # exit $rc after ${dur}s$again"
			failed=$((failed + 1))
		fi ;;
	esac
}
for t in "$@"; do
	if [ ! -x "$dir/$t" ]; then
		i=$((i + 1))
		echo "not ok $i $t # not built"
		failed=$((failed + 1))
		[ -n "$dev" ] && { i=$((i + 1)); echo "not ok $i $t $dev # not built"; }
		continue
	fi
	run "$t" "$dir/$t"
	[ -n "$dev" ] && run "$t $dev" "$dir/$t" "$dev"
done
[ $failed -eq 0 ]
