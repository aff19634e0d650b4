# dma-buf backed read/write: the kernel series and the rig that proves it.
# See README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help
RIG := rig

help:
	@sed -n 's/^## \(make \)/\1/p' README.md

deps:
	@$(RIG)/deps.sh

tree: deps
	@$(RIG)/tree.sh

kernel: tree
	@$(RIG)/build.sh test

kernel-bench: tree
	@$(RIG)/build.sh bench

userspace: tree
	@$(RIG)/userspace.sh

initramfs: kernel userspace
	@$(RIG)/initramfs.sh test

# The main job: build, boot, run the demo.
run: initramfs
	@$(RIG)/run.sh

# The benchmark: kernel instructions, IOPS, latency and CPU per I/O with
# plain, fixed and dma-buf buffers, per IOMMU mode (bench/RESULTS.md).
bench: kernel-bench userspace
	@$(RIG)/bench.sh

# make bench's matrix with fio on a real NVMe namespace of a machine that
# runs the patched kernel: make bench-hw DEV=/dev/nvmeXnY [WRITE=1] (writes
# only with WRITE=1).  rig/bench-hw.sh exits 4 with a SKIP line where there
# is nothing to measure (QEMU's NVMe, a kernel without the series, a fio
# without dmabuf=); make then succeeds with that line.
bench-hw:
	@$(RIG)/bench-hw.sh || { rc=$$?; [ $$rc -eq 4 ] || exit $$rc; }

# The whole test suite; ends with "N passed, N failed, N skipped".
check:
	@$(RIG)/check.sh

# tests/guest/liburing-base.txt: liburing's failures on the unpatched base.
liburing-baseline: tree
	@$(RIG)/liburing-baseline.sh

# liburing's whole test suite on the patched test kernel (about an hour).
liburing-full: initramfs
	@$(RIG)/vm.sh --suite liburing-all --name liburing-all --out out/liburing-full --timeout 4200 || true
	@python3 $(RIG)/tap-summary.py out/liburing-full/*.tap

# Export build/linux's commits to patches/linux/.
export:
	@$(RIG)/export.sh

# An interactive guest on the test kernel (console on this terminal).
shell: initramfs
	@$(RIG)/vm.sh --shell $(VMARGS)

clean:
	rm -rf build/obj-* build/initramfs* build/guest build/uapi build/linux-base out

.PHONY: help deps tree kernel kernel-bench bench bench-hw userspace initramfs run check liburing-baseline liburing-full export shell clean
