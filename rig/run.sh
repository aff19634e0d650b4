#!/bin/bash
# rig/run.sh: the main job's last step (make run): boot the patched test
# kernel in QEMU with an emulated NVMe device and run the demo suite; print
# what the guest printed, then the benchmark kernel's figures for the same
# workload if make bench has made them (rig/bench-summary.py: the test
# kernel's debugging makes its own figures no measure of the series), and
# the sum.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out="$top/out/run"
rm -rf "$out"
"$top/rig/vm.sh" --suite demo --name demo --iommu "${IOMMU:-off}" --out "$out" --timeout 1800 || true
echo "The demo, on the test kernel (build/obj-test), IOMMU ${IOMMU:-off}:"
sed -n 's/^\(    \)\?# \?//p; /^\(not \)\?ok/p' "$out/demo.tap" | grep -v '^TAP version' || true
echo
python3 "$top/rig/bench-summary.py" || true
echo
cd "$top" && python3 rig/tap-summary.py out/run/*.tap
