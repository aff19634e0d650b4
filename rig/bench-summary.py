#!/usr/bin/env python3
"""rig/bench-summary.py [OUTDIR]: make run's last table, the benchmark
kernel's figures for the demo's workload (4 KiB random reads, QD 32) from
what make bench left in OUTDIR (default out/bench: results.json and the
boots' console logs), each line saying which kernel and run it comes from;
or, when make bench has not run, how to get them.  Reads only; bench/bench.py
makes the figures.
"""
import datetime
import json
import os
import re
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKLOAD = "randread-4k-qd32"
IOMMUS = ["off", "lazy", "strict"]
# Boot messages of the debugging the test kernel has and the bench kernel must not.
DEBUG = [("KernelAddressSanitizer initialized", "KASAN"),
         ("Lock dependency validator", "lockdep"),
         ("kmemleak: Kernel memory leak detector", "kmemleak"),
         ("DMA-API: debugging enabled", "DMA-API debug")]


def insns(v):
    return "{:,.0f} insns/IO".format(v) if v is not None else "-"


def times(x, y):
    return "%.2fx" % (x / y) if x is not None and y else "-"


def kernel_of(outdir, iommu):
    """The kernel a bench boot ran: release, build number, debugging seen."""
    try:
        log = open(os.path.join(outdir, "bench-%s.console.log" % iommu), errors="replace").read()
    except OSError:
        return None
    m = re.search(r"Linux version (\S+) .*?(#\d+)", log)
    name = "%s %s" % (m.group(1), m.group(2)) if m else "unknown kernel"
    dbg = [label for pat, label in DEBUG if pat in log]
    return name + (", debugging kernel (%s)" % ", ".join(dbg) if dbg else ", no debugging")


def show(path):
    """PATH relative to the top of the repository when it is below it."""
    r = os.path.relpath(path, TOP)
    return path if r.startswith("..") else r


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(TOP, "out", "bench")
    res = os.path.join(outdir, "results.json")
    rel = show(res)
    if not os.path.exists(res):
        print("Benchmark kernel: no figures yet (no %s).  `make bench` builds the" % rel)
        print("benchmark kernel (build/obj-bench, no debugging; about 15 min cold on 2 cores)")
        print("and boots it once per IOMMU mode (about 14 min): guest kernel instructions per")
        print("I/O, IOPS and CPU per I/O with plain, fixed and dma-buf buffers.")
        return
    js = json.load(open(res))
    summary = js.get("summary", {})
    when = datetime.datetime.fromtimestamp(os.path.getmtime(res), datetime.timezone.utc)
    iommus = [i for i in IOMMUS if "%s/fixed" % WORKLOAD in summary.get(i, {})]
    kernels = {i: kernel_of(outdir, i) for i in iommus}
    names = sorted({k for k in kernels.values() if k})
    print("Benchmark kernel, 4 KiB random reads at QD 32 (make bench, %s of %s;" % (
        rel, when.strftime("%Y-%m-%d %H:%M UTC")))
    print("kernel %s; QEMU TCG, 1 vCPU, null-co NVMe, fio" % (
        " / ".join(names) if names else "not recorded"))
    print("io_uring; guest kernel instructions per I/O from a TCG plugin, median of rounds):")
    hdr = "%-12s %16s %16s %16s %7s %7s | %s" % (
        "", "a: plain", "b: fixed", "c: dma-buf", "c/b", "c/a", "fio CPU/IO c/b")
    print(hdr)
    for i in iommus:
        s = summary[i]

        def med(mode, fig):
            return s.get("%s/%s" % (WORKLOAD, mode), {}).get(fig, {}).get("median")
        k = {m: med(m, "kernel_insns_per_io") for m in ("plain", "fixed", "dmabuf")}
        cpu = {m: med(m, "cpu_us_per_io") for m in ("fixed", "dmabuf")}
        print("%-12s %16s %16s %16s %7s %7s | %14s" % (
            "IOMMU " + i, insns(k["plain"]), insns(k["fixed"]), insns(k["dmabuf"]),
            times(k["dmabuf"], k["fixed"]), times(k["dmabuf"], k["plain"]),
            times(cpu["dmabuf"], cpu["fixed"])))
    if any(k and "debugging kernel" in k for k in kernels.values()):
        print("WARNING: these boots ran a kernel with debugging: not benchmark figures.")
    img = os.path.join(TOP, "build", "obj-bench", "arch", "x86", "boot", "bzImage")
    if os.path.exists(img) and os.path.getmtime(img) > os.path.getmtime(res):
        print("note: build/obj-bench was rebuilt after these figures: `make bench` to refresh them.")
    print("Every workload: %s; the method: bench/RESULTS.md." % show(
        os.path.join(outdir, "table.txt")))


if __name__ == "__main__":
    main()
