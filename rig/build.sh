#!/bin/bash
# rig/build.sh FLAVOR: configure (rig/kconfig.sh) and build build/obj-FLAVOR:
# bzImage and modules, incrementally, through ccache.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/rig/kenv.sh"
flavor=$1
obj=$(objdir "$flavor")
"$top/rig/kconfig.sh" "$flavor"
start=$(date +%s)
log="$obj/build.log"
if ! kmake "$obj" bzImage modules > "$log" 2>&1; then
	grep -E 'error|Error' "$log" | head -40 >&2
	echo "build: $flavor kernel failed; full log in ${log#$top/}" >&2
	exit 1
fi
echo "build: $flavor kernel $(cat "$obj/include/config/kernel.release") in $(( $(date +%s) - start )) s"
