#!/bin/bash
# rig/kvm-probe.sh KERNEL INITRD: print "kvm" if a probe boot of KERNEL under
# KVM (-cpu host) runs the "probe" suite to its end, else "tcg".  The answer
# is kept in build/kvm-probe (per kernel image) with the reason; on these
# machines /dev/kvm exists but cannot boot a stock kernel (RIG-NOTES).
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
kernel=$1 initrd=$2
cache="$top/build/kvm-probe"
key=$(stat -c '%s %Y' "$kernel" 2>/dev/null)
if [ -f "$cache" ] && [ "$(head -1 "$cache")" = "$key" ]; then
	sed -n 2p "$cache"
	exit 0
fi
res=tcg why="no usable /dev/kvm"
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	out=$(mktemp -d)
	RIG_KVM=1 "$top/rig/vm.sh" --kernel "$kernel" --initrd "$initrd" --suite probe \
		--name probe --out "$out" --nvme null --timeout 90 >/dev/null 2>&1
	if grep -q '^ok 1 vm.probe.boot' "$out/probe.host.tap" 2>/dev/null; then
		res=kvm why="probe boot completed"
	else
		why=$(grep -m1 '^not ok 1' "$out/probe.host.tap" 2>/dev/null | cut -c1-200)
	fi
	rm -rf "$out"
fi
mkdir -p "$(dirname "$cache")"
printf '%s\n%s\n%s\n' "$key" "$res" "$why" > "$cache"
echo "$res"
