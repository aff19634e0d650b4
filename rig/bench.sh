#!/bin/bash
# rig/bench.sh [bench.py args]: make bench.  Builds what the benchmark needs
# besides the kernel (the TCG plugin, the bench initramfs), then bench/bench.py
# boots build/obj-bench once per IOMMU mode and writes out/bench/.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/rig/kenv.sh"
hdr="$top/build/src/qemu-plugin"
[ -f "$hdr/qemu-plugin.h" ] || { echo "bench: no $hdr/qemu-plugin.h: make deps" >&2; exit 1; }
mkdir -p "$top/build/bench"
so="$top/build/bench/insn-count.so"
src="$top/bench/plugin/insn-count.c"
if [ ! -f "$so" ] || [ "$src" -nt "$so" ]; then
	gcc -O2 -Wall -Wextra -Werror -Wno-unused-parameter -shared -fPIC -I"$hdr" -o "$so" "$src"
fi
RIG_INITRAMFS="$top/build/initramfs-bench.cpio" "$top/rig/initramfs.sh" bench
start=$(date +%s)
/usr/bin/python3 "$top/bench/bench.py" "${@:-run}"
echo "bench: $(( $(date +%s) - start )) s from the first boot to the table"
