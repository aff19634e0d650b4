#!/bin/sh
# kunit-results.sh SUITE...: print the KTAP results of the KUnit suites that
# ran at boot (from debugfs) and fail if a suite is missing, did not finish,
# or has a failing case.
rc=0
for s in "$@"; do
	f=/sys/kernel/debug/kunit/$s/results
	if [ ! -r "$f" ]; then
		echo "# KUnit suite $s did not run (no $f)"
		rc=1
		continue
	fi
	cat "$f"
	grep -q '^ok [0-9]' "$f" || { echo "# KUnit suite $s: no passing suite result"; rc=1; }
	grep -q 'not ok' "$f" && rc=1
done
exit $rc
