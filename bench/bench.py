#!/usr/bin/python3
"""make bench: boot the benchmark kernel once per IOMMU mode, run the guest's
fio jobs (tests/guest/bench.sh) under the instruction-counting TCG plugin
(bench/plugin/insn-count.c), and turn the results into a table of ratios,
out/bench/results.json and out/bench/bench.png.

  bench.py run [--iommu off,lazy,strict] [--rounds N] [--scale F]
               [--only WORKLOADS] [--modes MODES] [--out DIR]
               [--settle SECONDS] [--fio OPT,OPT] [--mp-iommu MODE|none]
               [--fs-iommu MODE|none]
  bench.py verify [--out DIR]   the two-boot check of the marker method, for
                                fixed buffers and dma-buf
  bench.py report [--out DIR]   redo the table, JSON and plot from the logs
  bench.py compare DIR1 DIR2    kernel insns/IO of two whole runs side by side
  bench.py profile [--iommu M] [--workload W] [--modes fixed,dmabuf]
                                kernel instructions per I/O by function,
                                the modes in one boot (last vs first)

Runs under Debian's /usr/bin/python3 (python3-matplotlib, rig/deps.sh).
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OBJ = os.path.join(TOP, "build", "obj-bench")
PLUGIN = os.path.join(TOP, "build", "bench", "insn-count.so")
KERNEL = os.path.join(OBJ, "arch", "x86", "boot", "bzImage")
INITRD = os.path.join(TOP, "build", "initramfs-bench.cpio")
# (a) plain O_DIRECT, (b) registered buffers, (h) registered buffers on
# 2 MiB huge pages (the same layout class as the heap's large chunks),
# (c) dma-buf, (p) NVMe passthrough with registered buffers on the generic
# character device, the cheapest command path there is (no bio, no block
# layer merge or split), and (d) the same with its data in a registered
# dma-buf (no per-command mapping either): tests/guest/bench.sh has the fio
# options.
MODES = ["plain", "fixed", "fixed-huge", "dmabuf", "passthru", "passthru-dmabuf"]
MODE_LETTER = {"plain": "a", "fixed": "b", "fixed-huge": "h", "dmabuf": "c",
               "passthru": "p", "passthru-dmabuf": "d"}
IOMMUS = ["off", "lazy", "strict"]
WORKLOADS = ["randread-4k-qd1", "randread-4k-qd32", "randread-4k-qd32-b16",
             "randwrite-4k-qd1", "randwrite-4k-qd32", "read-128k-qd8", "read-1m-qd8"]
# fio submits one SQE per io_uring_enter and reaps from one completion on
# (iodepth_batch_submit=1, iodepth_batch_complete_min=1, its defaults), but
# in these workloads (tests/guest/bench.sh: their batch column)
BATCHED = {"randread-4k-qd32-b16": 16}
# The marker: the guest calls sethostname(2) between jobs.
MARK_SYM = "__x64_sys_sethostname"
# Inclusive per-call cost of kernel functions, counted by the plugin from
# the function's entry to the return sites of its callers.  nvme-pci's are
# the second figure (nvme_map_data is inlined into nvme_prep_rq by gcc 12;
# nvme_prep_rq, command set-up + data mapping + start of the request, then
# stands for it).  The ioctl syscall is there because fio's dmabuf= engine
# brackets its CPU access to the buffers with DMA_BUF_IOCTL_SYNC around each
# submit when its CPU touches the data between I/Os (writes that scramble or
# refill their buffers, verify), and after each reap when the device may
# have written the buffers (reads, verify): its only ioctls while the job
# runs.  "ioctl" is the handler alone, of every ioctl: x64_sys_call
# tail-calls __x64_sys_ioctl, so the call returns after do_syscall_64's
# call of x64_sys_call.  "dmabuf_ioctl_syscall" is the whole syscall as the
# CPU pays it: from entry_SYSCALL_64 to the return to user mode (sysretq,
# or the swapgs of the iret path), counted only for the syscalls that ran
# dma_buf_ioctl (the plugin's gate), i.e. ioctls on a dma-buf: fio's
# DMA_BUF_IOCTL_SYNC.  The c-sync column subtracts that one, not the
# handler alone: leaving the entry and exit in (entry_SYSCALL_64,
# do_syscall_64's prologue and epilogue, syscall_exit_to_user_mode,
# syscall_return_via_sysret) would charge dma-buf I/O with part of the
# ioctls' cost, and other ioctls (the heap's allocation below) are not
# syncs.  An interrupt taken during the syscall is counted with it.
# "heap_ioctl_syscall", the same for ioctls on a dma-heap (fio's
# DMA_HEAP_IOCTL_ALLOC of its buffer, once per run), shows how much of the
# dma-buf figures is set-up whose cost differs between the short and the
# long run (the page allocator's state), i.e. noise that does not cancel.
REGIONS = [	# (name, entry symbol, where it ends, gate symbol or None)
    # where it ends: None (nvme-pci's calls of the entry), ("call", caller,
    # callee) (the return sites of CALLER's calls of CALLEE), or "user"
    # (the kernel's returns to user mode)
    ("nvme_map_data", "nvme_map_data", None, None),
    ("nvme_prep_rq", "nvme_prep_rq", None, None),
    ("nvme_unmap_data", "nvme_unmap_data", None, None),
    ("ioctl", "__x64_sys_ioctl", ("call", "do_syscall_64", "x64_sys_call"), None),
    ("dmabuf_ioctl_syscall", "entry_SYSCALL_64", "user", "dma_buf_ioctl"),
    ("heap_ioctl_syscall", "entry_SYSCALL_64", "user", "dma_heap_ioctl"),
]
REGION_SYMS = [r[0] for r in REGIONS]


def die(msg):
    print("bench: " + msg, file=sys.stderr)
    sys.exit(1)


# ---------------------------------------------------------------- symbols

def system_map():
    syms = {}
    with open(os.path.join(OBJ, "System.map")) as f:
        for line in f:
            addr, typ, name = line.split()[:3]
            syms.setdefault(name, []).append((int(addr, 16), typ))
    return syms


def lookup(syms, name):
    """The address of a function, also under a compiler suffix (.isra.0...)."""
    cands = [(n, v) for n, v in syms.items()
             if n == name or n.startswith(name + ".")]
    cands = [(n, a) for n, v in cands for a, t in v if t in "tT"]
    if len(cands) != 1:
        return None, None
    return cands[0]


def disassemble(lo, hi):
    dis = subprocess.run(["objdump", "-d", "--no-show-raw-insn",
                          "--start-address=%#x" % lo, "--stop-address=%#x" % hi,
                          os.path.join(OBJ, "vmlinux")],
                         capture_output=True, text=True, check=True).stdout
    return [l for l in dis.split("\n") if re.match(r"^\s*ffffffff[0-9a-f]+:", l)]


def calls_to(lines, target):
    """Addresses right after each direct call of TARGET in LINES."""
    return [int(lines[i + 1].split(":")[0], 16) for i, l in enumerate(lines)
            if re.search(r"\bcall\s+%x\b" % target, l) and i + 1 < len(lines)]


def return_sites_in(caller, callee):
    """Return sites of CALLER's direct calls of CALLEE (function names)."""
    syms = system_map()
    _, lo = lookup(syms, caller)
    _, target = lookup(syms, callee)
    if lo is None or target is None:
        return []
    hi = min([a for v in syms.values() for a, t in v if a > lo] or [lo + 0x1000])
    return calls_to(disassemble(lo, hi), target)


def return_sites(entry, name):
    """Addresses right after each direct call of ENTRY in nvme-pci's code."""
    obj = os.path.join(OBJ, "drivers", "nvme", "host", "pci.o")
    syms = system_map()
    nm = subprocess.run(["nm", "--defined-only", obj], capture_output=True,
                        text=True, check=True).stdout
    addrs = []
    for line in nm.split("\n"):
        p = line.split()
        if len(p) == 3 and p[1] in "tT" and p[2] in syms:
            addrs += [a for a, t in syms[p[2]] if t in "tT"]
    if not addrs:
        return []
    return calls_to(disassemble(min(addrs), max(addrs) + 0x4000), entry)


def user_return_sites():
    """The kernel's last instructions before user mode: syscall_return_via_sysret's
    sysretq and the swapgs of swapgs_restore_regs_and_return_to_usermode (its
    iretq is shared with the return to kernel mode, so the swapgs stands for
    it, a few instructions early)."""
    syms = system_map()
    sites = []
    for name, insn in (("syscall_return_via_sysret", "sysretq"),
                       ("swapgs_restore_regs_and_return_to_usermode", "swapgs")):
        _, lo = lookup(syms, name)
        if lo is None:
            return []
        # the first such instruction after the label (inner labels such as
        # entry_SYSRETQ_unsafe_stack come before it)
        found = [int(l.split(":")[0], 16) for l in disassemble(lo, lo + 0x100)
                 if re.search(r"\s%s\b" % insn, l)]
        if not found:
            return []
        sites.append(found[0])
    return sites


def plugin_args(out_file):
    syms = system_map()
    _, mark = lookup(syms, MARK_SYM)
    if mark is None:
        die("no %s in System.map" % MARK_SYM)
    args = ["file=" + PLUGIN, "out=" + out_file, "mark=%x" % mark]
    regions = {}
    for name, entry_sym, ends, gate_sym in REGIONS:
        sym, entry = lookup(syms, entry_sym)
        if entry is None:
            regions[name] = "not a function of its own in this build (inlined)"
            continue
        if ends == "user":
            rets = user_return_sites()
        elif ends:
            rets = return_sites_in(*ends[1:])
        else:
            rets = return_sites(entry, sym)
        if not rets:
            regions[name] = "no direct call found" if ends != "user" else \
                "no return to user mode found"
            continue
        gate = None
        if gate_sym:
            _, gate = lookup(syms, gate_sym)
            if gate is None:
                regions[name] = "no %s in System.map" % gate_sym
                continue
        args.append("region=%s@%x@%s" % (name, entry, "@".join("%x" % r for r in rets)))
        if gate:
            args.append("gate=%s@%x" % (name, gate))
        regions[name] = "%s at %#x, %d end(s)%s" % (
            sym, entry, len(rets), ", only with %s" % gate_sym if gate else "")
    return ",".join(args), regions


# ---------------------------------------------------------------- boots

def boot(outdir, name, iommu, append, timeout, ivshmem=None, profile=False, vm_args=()):
    os.makedirs(outdir, exist_ok=True)
    insns = os.path.join(outdir, name + ".insns")
    spec, regions = plugin_args(insns)
    if profile:
        spec += ",profile=" + os.path.join(outdir, name + ".profile")
    cmd = [os.path.join(TOP, "rig", "vm.sh"), "--kernel", KERNEL, "--initrd", INITRD,
           "--suite", "bench", "--name", name, "--out", outdir, "--iommu", iommu,
           "--nvme", "null", "--smp", "1", "--plugin", spec,
           "--timeout", str(timeout), "--append", "nvme_core.io_timeout=5 " + append]
    if ivshmem:
        cmd += ["--ivshmem", ivshmem]
    cmd += list(vm_args)
    env = dict(os.environ, RIG_KVM="0")
    # One host CPU for the whole of QEMU: its vCPU thread and the main loop
    # thread that emulates the NVMe never run at the same time.  QEMU 7.2's
    # NVMe shadow-doorbell handling races with the guest's submissions when
    # they do (no barrier between its eventidx write and its tail read), and
    # the command stream stalls until the driver's timeout.
    cmd = ["taskset", "-c", str(os.sched_getaffinity(0).pop())] + cmd
    t0 = time.time()
    subprocess.run(cmd, env=env, check=False)
    secs = time.time() - t0
    with open(os.path.join(outdir, name + ".meta.json"), "w") as f:
        json.dump({"iommu": iommu, "append": append, "seconds": secs,
                   "regions": regions, "qemu_plugin": spec}, f, indent=1)
    return secs


# ---------------------------------------------------------------- parsing

def parse_skips(path):
    """The guest's "BENCH-SKIP <fields> reason=..." lines: modes that could
    not run, and why."""
    skips = []
    with open(path, errors="replace") as f:
        for raw in f:
            line = raw.strip()
            if line.startswith("BENCH-SKIP "):
                head, _, reason = line.partition(" reason=")
                rec = dict(kv.split("=", 1) for kv in head.split()[1:])
                rec["reason"] = reason
                skips.append(rec)
    return skips


def parse_tap(path):
    runs, cur, buf = [], None, []
    with open(path, errors="replace") as f:
        for raw in f:
            line = raw.strip()
            if line.startswith("BENCH-RUN "):
                cur = dict(kv.split("=", 1) for kv in line.split()[1:])
                buf = []
            elif line == "BENCH-END" and cur is not None:
                txt = "\n".join(buf)
                i = txt.find("{")
                cur["fio"] = json.loads(txt[i:]) if i >= 0 and cur["rc"] == "0" else None
                runs.append(cur)
                cur = None
            elif cur is not None:
                buf.append(line)
    return runs


def parse_insns(path):
    snaps, end = [], None
    with open(path) as f:
        for line in f:
            p = line.split()
            if not p or p[0] == "#":
                continue
            rec = {"kern": int(p[2 if p[0] == "mark" else 1]),
                   "user": int(p[3 if p[0] == "mark" else 2]), "regions": {}}
            rest = p[4:] if p[0] == "mark" else p[3:]
            for i in range(0, len(rest), 3):
                rec["regions"][rest[i]] = (int(rest[i + 1]), int(rest[i + 2]))
            if p[0] == "mark":
                snaps.append(rec)
            else:
                end = rec
    return snaps, end


def fio_figures(fio):
    if "p2p" in fio:	# tests/bench-p2p.c
        p = fio["p2p"]
        cpu_s = p["usr_s"] + p["sys_s"]
        return {"ios": p["ios"], "iops": p["ios"] / p["secs"],
                "bw_MiBps": p["bytes"] / p["secs"] / 2**20,
                "usr_cpu_pct": 100.0 * p["usr_s"] / p["secs"],
                "sys_cpu_pct": 100.0 * p["sys_s"] / p["secs"],
                "cpu_us_per_io": cpu_s * 1e6 / p["ios"],
                "cpu_ns_per_byte": cpu_s * 1e9 / p["bytes"], "bytes_per_io": p["bytes"] / p["ios"]}
    job = fio["jobs"][0]
    d = "write" if job["write"]["total_ios"] > job["read"]["total_ios"] else "read"
    s = job[d]
    pct = s["clat_ns"].get("percentile", {})
    ios = s["total_ios"]
    cpu_ms = (job["usr_cpu"] + job["sys_cpu"]) / 100.0 * job["job_runtime"]
    return {"ios": ios, "iops": s["iops"], "bw_MiBps": s["bw_bytes"] / 2**20,
            "clat_p50_us": pct.get("50.000000", 0) / 1000.0,
            "clat_p99_us": pct.get("99.000000", 0) / 1000.0,
            "usr_cpu_pct": job["usr_cpu"], "sys_cpu_pct": job["sys_cpu"],
            "cpu_us_per_io": cpu_ms * 1000.0 / ios if ios else None}


def boot_results(outdir, name):
    """Per run: fio's figures and the plugin's counts between its marks."""
    runs = parse_tap(os.path.join(outdir, name + ".tap"))
    snaps, end = parse_insns(os.path.join(outdir, name + ".insns"))
    off = len(snaps) - 2 * len(runs)
    if off < 0:
        die("%s: %d runs but %d marks" % (name, len(runs), len(snaps)))
    for i, r in enumerate(runs):
        if int(r["mark"]) != 2 * i:
            die("%s: run %d has mark %s" % (name, i, r["mark"]))
        a, b = snaps[off + 2 * i], snaps[off + 2 * i + 1]
        r["kern"] = b["kern"] - a["kern"]
        r["user"] = b["user"] - a["user"]
        r["regions"] = {k: (b["regions"][k][0] - a["regions"][k][0],
                            b["regions"][k][1] - a["regions"][k][1]) for k in a["regions"]}
        r["fig"] = fio_figures(r["fio"]) if r["fio"] else None
    return runs, end


def per_io(runs):
    """Pair each job's short and long run: the cost of one I/O."""
    by = {}
    for r in runs:	# a stalled run was repeated: keep the good one
        if r.get("stall") == "1" or not r["fig"]:
            continue
        by.setdefault((r["workload"], r["mode"], r["round"]), {})[r["ios"]] = r
    out = []
    for (wl, mode, rnd), d in by.items():
        if len(d) != 2:
            continue
        s, l = sorted(d.values(), key=lambda r: r["fig"]["ios"])
        dn = l["fig"]["ios"] - s["fig"]["ios"]
        if dn <= 0:
            continue
        rec = {"workload": wl, "mode": mode, "round": int(rnd),
               "ios_short": s["fig"]["ios"], "ios_long": l["fig"]["ios"],
               "kernel_insns_per_io": (l["kern"] - s["kern"]) / dn,
               "user_insns_per_io": (l["user"] - s["user"]) / dn}
        rec["total_insns_per_io"] = rec["kernel_insns_per_io"] + rec["user_insns_per_io"]
        if "bytes_per_io" in l["fig"]:
            rec["total_insns_per_byte"] = rec["total_insns_per_io"] / l["fig"]["bytes_per_io"]
        for k in l["regions"]:
            di = l["regions"][k][0] - s["regions"][k][0]
            dc = l["regions"][k][1] - s["regions"][k][1]
            rec[k + "_insns_per_call"] = di / dc if dc else None
            rec[k + "_calls_per_io"] = dc / dn
            rec[k + "_insns_per_io"] = di / dn
        # fio's DMA_BUF_IOCTL_SYNC calls left out, whole syscalls (REGIONS)
        if "dmabuf_ioctl_syscall_insns_per_io" in rec:
            rec["kernel_insns_per_io_nosync"] = (rec["kernel_insns_per_io"] -
                                                 rec["dmabuf_ioctl_syscall_insns_per_io"])
        # the heap allocation's difference between the two runs (set-up
        # that should cancel and need not: see REGIONS), for the record
        if rec.get("heap_ioctl_syscall_calls_per_io") is not None:
            rec["kernel_insns_per_io_less_heap_alloc"] = (rec["kernel_insns_per_io"] -
                                                          rec["heap_ioctl_syscall_insns_per_io"])
        rec.update({k: v for k, v in l["fig"].items() if k != "ios"})
        out.append(rec)
    return out


def summarize(recs):
    """Median, min and max over rounds of each figure."""
    groups = {}
    for r in recs:
        groups.setdefault((r["workload"], r["mode"]), []).append(r)
    out = {}
    for key, rs in groups.items():
        figs = {}
        for k in rs[0]:
            if k in ("workload", "mode", "round"):
                continue
            vals = [r[k] for r in rs if r.get(k) is not None]
            if not vals:
                continue
            med = statistics.median(vals)
            figs[k] = {"median": med, "min": min(vals), "max": max(vals),
                       "spread_pct": 100.0 * (max(vals) - min(vals)) / med if med else 0.0,
                       "n": len(vals)}
        out[key] = figs
    return out


# ---------------------------------------------------------------- report

def med(summary, iommu, wl, mode, fig):
    try:
        return summary[iommu][(wl, mode)][fig]["median"]
    except KeyError:
        return None


def ratio(x, y):
    return x / y if x is not None and y else None


def fmt(v, spec="%.2f"):
    return spec % v if v is not None else "-"


def report(outdir, names):
    summary, raw, meta, skips = {}, {}, {}, {}
    for iommu, name in names:
        if not os.path.exists(os.path.join(outdir, name + ".tap")):
            continue
        runs, end = boot_results(outdir, name)
        recs = per_io(runs)
        raw[iommu] = recs
        summary[iommu] = summarize(recs)
        skips[iommu] = parse_skips(os.path.join(outdir, name + ".tap"))
        mp = os.path.join(outdir, name + ".meta.json")
        meta[iommu] = json.load(open(mp)) if os.path.exists(mp) else {}
        meta[iommu]["failed_runs"] = sum(1 for r in runs if r["rc"] != "0")
        meta[iommu]["stalled_runs"] = sum(1 for r in runs if r.get("stall") == "1")
        # the guest's settle before each closing mark (none before it had one)
        meta[iommu]["settle_s"] = sorted({r.get("settle", "none") for r in runs})
    p2p = summary.pop("p2p", None)
    skips.pop("p2p", None)
    mpath = summary.pop("mp", None)
    mp_skips = skips.pop("mp", [])
    fsum = summary.pop("fs", None)
    fs_skips = skips.pop("fs", [])
    iommus = [i for i in IOMMUS if i in summary]
    wls = [w for w in WORKLOADS if any((w, m) in summary[i] for i in iommus for m in MODES)]

    # Why a figure is "-": the guest's reason for a mode it skipped.
    why = {}
    for i in iommus:
        for sk in skips.get(i, []):
            why.setdefault((i, sk["workload"], sk["mode"]), sk["reason"])
    notes = {}	# reason -> cells

    def cell(i, w, m, v, spec="%.0f"):
        if v is None and (i, w, m) in why:
            notes.setdefault("(%s) %s skipped: %s" % (MODE_LETTER[m], m, why[(i, w, m)]),
                             []).append("%s/%s" % (i, w))
        return fmt(v, spec)

    K = "kernel_insns_per_io"
    lines = []
    lines.append("Guest kernel instructions per I/O (TCG plugin; median of rounds, "
                 "spread = (max-min)/median over the modes) and ratios of dma-buf (c) to "
                 "fixed (b), fixed on 2 MiB huge pages (h), plain (a) and NVMe passthrough "
                 "(p, io_uring_cmd on /dev/ng0n1 with fixed buffers), and of passthrough "
                 "from a dma-buf (d, io_uring_cmd with dmabuf=heap) to p and c; IOPS and "
                 "CPU ratios from fio's wall-clock figures.")
    lines.append("fio submits one SQE per io_uring_enter and reaps from one completion on "
                 "(iodepth_batch_submit=1, iodepth_batch_complete_min=1), except "
                 + ", ".join("%s: batches of %d (iodepth_batch_submit=%d, "
                             "iodepth_batch_complete_min=%d)" % (w, n, n, n)
                             for w, n in BATCHED.items()) + ".")
    settles = sorted({v for i in iommus for v in meta[i]["settle_s"]})
    lines.append("Each run ends with sync and a settle of %s s before its closing mark "
                 "(asynchronous teardown inside the run's own window)." % "/".join(settles)
                 if settles != ["none"] else
                 "No settle between fio's exit and the closing marks (logs of an older guest script).")
    lines.append("c-sync: dma-buf less the whole DMA_BUF_IOCTL_SYNC syscalls fio's dmabuf= "
                 "engine makes around each submit when its CPU touches the buffers "
                 "(writes that scramble them, fio's default), and after each reap when the "
                 "device may have written them: entry_SYSCALL_64 to the return "
                 "to user mode, the ioctl handler and the syscall entry and exit.")
    fmt_row = ("%-6s %-20s %8s %8s %8s %8s %8s %8s %5s | %5s %5s %5s %5s | %7s %5s %5s"
               " | %5s %5s | %5s %5s | %5s %5s")
    hdr = fmt_row % ("iommu", "workload", "a:plain", "b:fixed", "h:fixhuge", "c:dmabuf",
                     "p:pass", "d:passdb", "sprd%", "c/b", "c/h", "c/a", "c/p", "c-sync", "/b",
                     "/p", "d/p", "d/c", "IOPS c/b", "c/p", "CPU c/b", "c/p")
    lines.append(hdr)
    lines.append("-" * len(hdr))
    ratios = {}
    for i in iommus:
        ratios[i] = {}
        for w in wls:
            k = {m: med(summary, i, w, m, K) for m in MODES}
            io = {m: med(summary, i, w, m, "iops") for m in MODES}
            cpu = {m: med(summary, i, w, m, "cpu_us_per_io") for m in MODES}
            spread = max([summary[i][(w, m)][K]["spread_pct"] for m in MODES
                          if (w, m) in summary[i] and K in summary[i][(w, m)]] or [0])
            ns = med(summary, i, w, "dmabuf", "kernel_insns_per_io_nosync")
            c = k["dmabuf"]
            r = {"c/b": ratio(c, k["fixed"]), "c/h": ratio(c, k["fixed-huge"]),
                 "c/a": ratio(c, k["plain"]), "c/p": ratio(c, k["passthru"]),
                 "c-sync/b": ratio(ns, k["fixed"]), "c-sync/p": ratio(ns, k["passthru"]),
                 "h/b": ratio(k["fixed-huge"], k["fixed"]),
                 "b/p": ratio(k["fixed"], k["passthru"]),
                 "d/p": ratio(k["passthru-dmabuf"], k["passthru"]),
                 "d/c": ratio(k["passthru-dmabuf"], c),
                 "iops c/b": ratio(io["dmabuf"], io["fixed"]),
                 "iops c/p": ratio(io["dmabuf"], io["passthru"]),
                 "cpu c/b": ratio(cpu["dmabuf"], cpu["fixed"]),
                 "cpu c/p": ratio(cpu["dmabuf"], cpu["passthru"])}
            ratios[i][w] = r
            lines.append(fmt_row % (
                i, w, cell(i, w, "plain", k["plain"]), cell(i, w, "fixed", k["fixed"]),
                cell(i, w, "fixed-huge", k["fixed-huge"]), cell(i, w, "dmabuf", c),
                cell(i, w, "passthru", k["passthru"]),
                cell(i, w, "passthru-dmabuf", k["passthru-dmabuf"]), fmt(spread, "%.1f"),
                fmt(r["c/b"]), fmt(r["c/h"]), fmt(r["c/a"]), fmt(r["c/p"]),
                fmt(ns, "%.0f"), fmt(r["c-sync/b"]), fmt(r["c-sync/p"]),
                fmt(r["d/p"]), fmt(r["d/c"]),
                fmt(r["iops c/b"]), fmt(r["iops c/p"]), fmt(r["cpu c/b"]), fmt(r["cpu c/p"])))
        lines.append("")
    for i in iommus:
        if not any(med(summary, i, w, "dmabuf", "kernel_insns_per_io_nosync") is not None
                   for w in wls) and any((w, "dmabuf") in summary[i] for w in wls):
            lines.append("'-': c-sync in boot %s: the whole dma-buf ioctl syscalls were not counted (%s)" % (
                i, meta[i].get("regions", {}).get("dmabuf_ioctl_syscall",
                                                  "no dmabuf_ioctl_syscall region in its plugin arguments")))
    for n, cells in sorted(notes.items()):
        lines.append("'-': %s [%s]" % (n, ", ".join(cells)))
    if notes:
        lines.append("")
    if "strict" in summary and "off" in summary:
        lines.append("dma-buf under strict IOMMU vs fixed buffers and passthrough with IOMMU off, "
                     "(c) strict / (b) off and / (p) off:")
        lines.append("%-20s %9s %9s %9s %7s %7s %9s %7s %7s %7s" % (
            "workload", "c strict", "b off", "p off", "c/b", "c/p", "c-sync", "/b", "/p", "IOPS c/b"))
        for w in wls:
            cs, bo = med(summary, "strict", w, "dmabuf", K), med(summary, "off", w, "fixed", K)
            po = med(summary, "off", w, "passthru", K)
            ns = med(summary, "strict", w, "dmabuf", "kernel_insns_per_io_nosync")
            lines.append("%-20s %9s %9s %9s %7s %7s %9s %7s %7s %7s" % (
                w, fmt(cs, "%.0f"), fmt(bo, "%.0f"), fmt(po, "%.0f"), fmt(ratio(cs, bo)),
                fmt(ratio(cs, po)), fmt(ns, "%.0f"), fmt(ratio(ns, bo)), fmt(ratio(ns, po)),
                fmt(ratio(med(summary, "strict", w, "dmabuf", "iops"),
                          med(summary, "off", w, "fixed", "iops")))))
        lines.append("")
    # The dma-buf mode's ioctls: DMA_BUF_IOCTL_SYNC per I/O and what each
    # costs, and what is left per I/O of the heap allocation of each run.
    if any((w, "dmabuf") in summary[i] for i in iommus for w in wls):
        lines.append("dma-buf (c) ioctls: DMA_BUF_IOCTL_SYNC syscalls per I/O and kernel "
                     "instructions per syscall (whole), c-sync's subtrahend; the heap "
                     "allocation (DMA_HEAP_IOCTL_ALLOC, once per run): its cost in the long "
                     "run less the short one, per I/O (set-up noise included in c and c-sync):")
        for i in iommus:
            for w in wls:
                if (w, "dmabuf") not in summary[i]:
                    continue
                n = med(summary, i, w, "dmabuf", "dmabuf_ioctl_syscall_calls_per_io")
                h = med(summary, i, w, "dmabuf", "heap_ioctl_syscall_insns_per_io")
                c = med(summary, i, w, "dmabuf", K)
                lines.append("%-6s %-20s sync %5s calls/IO %6s insns/call | heap alloc %7s insns/IO"
                             "%s" % (
                    i, w, fmt(n), fmt(med(summary, i, w, "dmabuf",
                                           "dmabuf_ioctl_syscall_insns_per_call"), "%.0f"),
                    fmt(h, "%+.0f"), "  (c less it: %.0f)" % (c - h)
                    if h is not None and c and abs(h) > 0.02 * c else ""))
        lines.append("")
    # Second figure: the per-request cost inside nvme-pci.
    regs = [r for r in REGION_SYMS if r.startswith("nvme") and any(
        r + "_insns_per_call" in f for i in iommus for f in summary[i].values())]
    if regs:
        pm = ("fixed", "fixed-huge", "dmabuf", "passthru", "passthru-dmabuf")
        lines.append("nvme-pci per request (inclusive kernel instructions per call, TCG plugin), "
                     + ", ".join("(%s) %s" % (MODE_LETTER[m], m) for m in pm) + ":")
        lines.append("%-6s %-20s " % ("iommu", "workload") + " | ".join(
            " ".join("%12s" % (r[5:] + " " + MODE_LETTER[m]) for m in pm)
            for r in regs))
        for i in iommus:
            for w in wls:
                lines.append("%-6s %-20s " % (i, w) + " | ".join(
                    " ".join("%12s" % fmt(med(summary, i, w, m, r + "_insns_per_call"), "%.0f")
                             for m in pm) for r in regs))
        lines.append("")
    if p2p:
        lines.append("P2P, NVMe -> ivshmem BAR (IOMMU strict, -cpu EPYC): dma-buf straight "
                     "into the BAR vs O_DIRECT into RAM + memcpy into the BAR (bounce):")
        lines.append("%-14s %9s %9s %7s | %9s %9s %7s | %9s %9s %7s" % (
            "workload", "MiB/s dma", "bounce", "ratio", "CPU ns/B", "bounce", "ratio",
            "insn/B", "bounce", "ratio"))
        for w in sorted({w for (w, m) in p2p}):
            row = [w]
            for fig, spec in (("bw_MiBps", "%.0f"), ("cpu_ns_per_byte", "%.3f"),
                              ("total_insns_per_byte", "%.3f")):
                d = p2p.get((w, "dmabuf"), {}).get(fig, {}).get("median")
                b = p2p.get((w, "bounce"), {}).get(fig, {}).get("median")
                row += [fmt(d, spec), fmt(b, spec), fmt(ratio(d, b))]
            lines.append("%-14s %9s %9s %7s | %9s %9s %7s | %9s %9s %7s" % tuple(row))
        lines.append("")
    if not iommus:	# only the P2P, multipath or file system boots ran
        lines = []
    if mpath:
        lines += mp_table(mpath, meta["mp"], mp_skips)
    if fsum:
        lines += fs_table(fsum, summary.get(meta["fs"].get("iommu")), meta["fs"], fs_skips)
    for b, got in (("mp", mpath), ("fs", fsum)):
        if b in meta and not got:
            lines.append("WARNING: boot %s ran no job (see its .tap)" % b)
    for i in iommus + [b for b in ("p2p", "mp", "fs") if b in meta]:
        if meta[i].get("failed_runs"):
            lines.append("WARNING: %d run(s) failed in boot %s (see its .tap)" % (meta[i]["failed_runs"], i))
        if meta[i].get("stalled_runs"):
            lines.append("note: %d run(s) in boot %s hit an NVMe command timeout (QEMU) and were "
                         "repeated; the stalled ones are left out" % (meta[i]["stalled_runs"], i))
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(outdir, "table.txt"), "w") as f:
        f.write(text + "\n")

    js = {"note": "Emulated NVMe (null-co; a file backend for the files' boot) under QEMU TCG: "
                  "read the ratios, not the absolute figures.",
          "modes": {MODE_LETTER[m]: m for m in MODES},
          "batched": BATCHED,
          "boots": meta,
          "summary": {i: {"%s/%s" % k: v for k, v in summary[i].items()} for i in iommus},
          "ratios": {"kernel_insns_per_io": ratios,
                     "note": "c/b c/h c/a c/p: dma-buf over fixed, fixed-huge, plain, passthrough; "
                             "c-sync/x: dma-buf less its DMA_BUF_IOCTL_SYNC syscalls over x; "
                             "d/p d/c: passthrough from a dma-buf over passthrough with fixed "
                             "buffers and over dma-buf block I/O; "
                             "iops and cpu: fio's figures. null: not measured (see skipped)"},
          "skipped": {i: skips.get(i, []) for i in iommus},
          "p2p": {"%s/%s" % k: v for k, v in (p2p or {}).items()},
          "multipath": {"%s/%s" % k: v for k, v in (mpath or {}).items()},
          "multipath_skipped": mp_skips,
          "files": {"%s/%s" % k: v for k, v in (fsum or {}).items()},
          "files_skipped": fs_skips,
          "per_round": raw}
    with open(os.path.join(outdir, "results.json"), "w") as f:
        json.dump(js, f, indent=1, sort_keys=True)
    plot(outdir, summary, iommus, wls, p2p)
    return summary


def medians(boot, w, modes):
    """A boot's median kernel instructions per I/O of workload @w in each of
    @modes (None where it did not run), and their largest spread."""
    K = "kernel_insns_per_io"
    k = {m: boot.get((w, m), {}).get(K, {}).get("median") for m in modes}
    spread = max([boot[(w, m)][K]["spread_pct"] for m in modes
                  if K in boot.get((w, m), {})] or [0])
    return k, spread


def plus(base, v):
    """What @v adds to @base, or "-" if either did not run."""
    return "%+.0f" % (v - base) if base is not None and v is not None else "-"


def skip_lines(skips):
    """The modes a boot skipped, and the table's closing blank line."""
    return ["(%s skipped in round %s: %s)" % (sk["mode"], sk["round"], sk["reason"])
            for sk in skips] + [""]


MP_MODES = ["ns-fixed", "head-fixed", "ns-dmabuf", "head-dmabuf"]
# the multipath boot's devices (rig/vm.sh) and its guest jobs (bench.sh)
MP_VM_ARGS = ("--nvme-paths", "2", "--nvme-plain")
MP_APPEND = " rig.bench.mp=1"


def mp_table(mp, meta, skips):
    """The multipath boot: the same jobs on an NVMe multipath head and on a
    namespace of its own controller, registered buffers and a dma-buf."""
    lines = ["NVMe multipath head (two controllers of one subsystem sharing a namespace) "
             "vs a namespace of its own controller, one boot (IOMMU %s): guest kernel "
             "instructions per I/O, b = fixed buffers, c = dma-buf; +head = what the head "
             "adds per I/O." % meta.get("iommu", "?"),
             "%-20s %8s %8s %6s %6s | %8s %8s %6s %6s | %6s %6s | %5s" % (
                 "workload", "ns b", "head b", "+head", "ratio", "ns c", "head c", "+head",
                 "ratio", "c/b ns", "head", "sprd%")]
    for w in [w for w in WORKLOADS if any((w, m) in mp for m in MP_MODES)]:
        k, spread = medians(mp, w, MP_MODES)
        lines.append("%-20s %8s %8s %6s %6s | %8s %8s %6s %6s | %6s %6s | %5s" % (
            w, fmt(k["ns-fixed"], "%.0f"), fmt(k["head-fixed"], "%.0f"),
            plus(k["ns-fixed"], k["head-fixed"]), fmt(ratio(k["head-fixed"], k["ns-fixed"])),
            fmt(k["ns-dmabuf"], "%.0f"), fmt(k["head-dmabuf"], "%.0f"),
            plus(k["ns-dmabuf"], k["head-dmabuf"]), fmt(ratio(k["head-dmabuf"], k["ns-dmabuf"])),
            fmt(ratio(k["ns-dmabuf"], k["ns-fixed"])),
            fmt(ratio(k["head-dmabuf"], k["head-fixed"])), fmt(spread, "%.1f")))
    return lines + skip_lines(skips)


FILE_SYSTEMS = ["ext4", "xfs"]
FS_MODES = ["%s-%s" % (f, b) for f in FILE_SYSTEMS for b in ("fixed", "dmabuf")]
# the file system boot: a namespace that keeps its data (null-co does not)
FS_VM_ARGS = ("--nvme", "file")
FS_APPEND = " rig.bench.fs=1"


def fs_table(fs, raw, meta, skips):
    """The file system boot: the same jobs on a file of ext4, then of XFS, on
    the namespace, registered buffers and a dma-buf; +fs against the
    namespace's own figures in the boot of the same IOMMU mode, where it
    ran."""
    lines = ["Files: a 512 MiB file of ext4, then of XFS, on the namespace, one boot "
             "(IOMMU %s): guest kernel instructions per I/O, b = fixed buffers, c = dma-buf; "
             "+fs = over the namespace itself (same IOMMU mode, its own boot above)."
             % meta.get("iommu", "?"),
             "%-20s %-4s %8s %8s %6s | %8s %8s | %6s | %5s" % (
                 "workload", "fs", "b", "c", "c/b", "+fs b", "+fs c", "c/b ns", "sprd%")]
    for f in FILE_SYSTEMS:
        modes = ("%s-fixed" % f, "%s-dmabuf" % f)
        for w in [w for w in WORKLOADS if any((w, m) in fs for m in modes)]:
            k, spread = medians(fs, w, modes)
            b, c = k[modes[0]], k[modes[1]]
            r, _ = medians(raw or {}, w, ("fixed", "dmabuf"))
            lines.append("%-20s %-4s %8s %8s %6s | %8s %8s | %6s | %5s" % (
                w, f, fmt(b, "%.0f"), fmt(c, "%.0f"), fmt(ratio(c, b)), plus(r["fixed"], b),
                plus(r["dmabuf"], c), fmt(ratio(r["dmabuf"], r["fixed"])),
                fmt(spread, "%.1f")))
    return lines + skip_lines(skips)


def plot(outdir, summary, iommus, wls, p2p):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("bench: no matplotlib, no plot (make deps installs python3-matplotlib)")
        return
    figs = [("kernel_insns_per_io", "guest kernel instructions / I/O"),
            ("iops", "IOPS (TCG, ratios only)"),
            ("cpu_us_per_io", "guest CPU us / I/O (TCG)")]
    ncol = len(iommus) + (1 if p2p else 0)
    if not ncol:
        return
    fig, axes = plt.subplots(len(figs), ncol, figsize=(5 * ncol, 3.4 * len(figs)),
                             squeeze=False)
    if p2p:	# last column: NVMe -> BAR, dma-buf vs bounce
        pw = sorted({w for (w, m) in p2p})
        for r, (key, label) in enumerate([("bw_MiBps", "MiB/s (TCG, ratios only)"),
                                          ("total_insns_per_byte", "guest instructions / byte"),
                                          ("cpu_ns_per_byte", "guest CPU ns / byte (TCG)")]):
            ax = axes[r][ncol - 1]
            for j, m in enumerate(["dmabuf", "bounce"]):
                vals = [p2p.get((w, m), {}).get(key, {}).get("median", 0) for w in pw]
                ax.bar([x + (j - 0.5) * 0.35 for x in range(len(pw))], vals, 0.35, label=m)
            ax.set_xticks(range(len(pw)))
            ax.set_xticklabels(pw, fontsize=7)
            ax.set_title("P2P into a BAR (IOMMU strict): " + label, fontsize=9)
            if r == 0:
                ax.legend(fontsize=7)
    width = 0.8 / len(MODES)
    for c, i in enumerate(iommus):
        for r, (key, label) in enumerate(figs):
            ax = axes[r][c]
            for j, m in enumerate(MODES):
                vals, lo, hi = [], [], []
                for w in wls:
                    f = summary[i].get((w, m), {}).get(key)
                    v = f["median"] if f else 0
                    vals.append(v)
                    lo.append(v - f["min"] if f else 0)
                    hi.append(f["max"] - v if f else 0)
                xs = [x + (j - (len(MODES) - 1) / 2) * width for x in range(len(wls))]
                ax.bar(xs, vals, width, yerr=[lo, hi], capsize=2,
                       label="(%s) %s" % (MODE_LETTER[m], m))
            ax.set_xticks(range(len(wls)))
            ax.set_xticklabels(wls, rotation=30, ha="right", fontsize=7)
            ax.set_title("IOMMU %s: %s" % (i, label), fontsize=9)
            if key == "kernel_insns_per_io":
                ax.set_yscale("log")
            if r == 0 and c == 0:
                ax.legend(fontsize=7)
    fig.suptitle("make bench: emulated NVMe (null-co), QEMU TCG, -smp 1; bars: median, "
                 "whiskers: min/max of rounds", fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "bench.png"), dpi=90)
    plt.close(fig)


# ---------------------------------------------------------------- profile

# Page-allocator, page-freeing and LRU functions.  In a profile they are
# noise more than per-I/O cost: the buddy and per-CPU lists free and refill
# in batches, at moments set by what else ran (fio's own memory, the
# previous run's teardown), so a window can even come out negative.  The
# profile shows them apart, summed, rather than in the per-function diff.
# Slab allocations (kmalloc, kmem_cache_*) stay in: requests and bios take
# them per I/O.
ALLOCATOR = re.compile(
    r"^(__free_one_page|free_one_page|free_pcppages_bulk|free_unref_|free_frozen_pages"
    r"|__free_frozen_pages|__free_pages|free_pages|__free_pages_ok|free_pages_prepare"
    r"|free_tail_page_prep|__rmqueue|rmqueue|get_page_from_freelist|__alloc_pages"
    r"|__alloc_frozen_pages|alloc_pages|prep_new_page|post_alloc_hook|expand$"
    r"|__mod_zone_page_state|mod_zone_page_state|__mod_node_page_state|mod_node_page_state"
    r"|__mod_lruvec|mod_lruvec|__count_vm_event|lru_|__folio_batch|folio_batch"
    r"|folios_put|__folio_put|__page_cache_release|zone_watermark|__zone_watermark"
    r"|__putback_isolated|move_freepages|__list_del_entry_valid|clear_highpage|clear_page)")

# The layers of a direct read or write through io_uring, by function name,
# first match wins: the profile sums each mode's instructions per layer, so
# that what one buffer mode does and another does not (the first five
# layers) stands apart from the path every mode takes.  The dma-buf token's
# layer is all the dma-buf path adds, its import included; the ioctls' layer
# counts their handlers, their syscall entry and exit going to the syscall
# layer.
LAYERS = [
    ("dma-buf token", r"dma_token_|\w*dma_token_create|blkdev_dma_token_check"
     r"|iov_iter_dma_token"),
    ("dma-buf ioctls (sync, heap alloc)", r"dma_buf_|dma_resv_|dma_fence_|dma_heap_"
     r"|system_heap_|__x64_sys_ioctl|__do_sys_ioctl|do_vfs_ioctl"),
    ("per-I/O buffer mapping", r"dma_|__dma_|iommu_|__iommu|intel_|qi_|domain_"
     r"|pfn_to_dma_pte|cache_tag_|iova|alloc_iova|free_iova|remove_iova"
     r"|__alloc_and_insert_iova|__iova_to_phys|__map_range|__unmap_range|vtdss_"
     r"|make_range|pt_iommu_|gather_range|do_map$|clflush_cache_range"
     r"|gup_|pin_user|unpin_user|iov_iter_extract|bio_iov_iter_get_pages"
     r"|__bio_iov_iter_get_pages|bio_set_pages_dirty"),
    ("buffer import (bvec iterator)", r"bio_iov_iter_set|iov_iter_bvec"),
    ("merge attempts", r"blk_mq_sched_bio_merge|blk_attempt_plug_merge"
     r"|blk_bio_list_merge|blk_mq_attempt_bio_merge"),
    ("syscall entry and exit", r"entry_SYSCALL|do_syscall|syscall_|x64_sys_call$"),
    ("io_uring", r"io_(?!schedule)|__io_|__x64_sys_io_uring|fget|fput|rw_verify_area"),
    ("file system (ext4, XFS, iomap)", r"ext4_|__ext4_|xfs_|iomap_|__iomap_|jbd2_"
     r"|crc32c"),
    ("block device file", r"blkdev_|__blkdev_|kiocb_write_and_wait|I_BDEV"),
    ("bio", r"bio_"),
    ("submit_bio", r"submit_bio|__submit_bio"),
    ("I/O statistics, clock reads", r"blk_account_io|update_io_ticks|ktime_get"
     r"|bdev_start_io|part_stat"),
    ("blk-mq tags and requests", r"sbitmap|__sbitmap|blk_mq_get_tag|__blk_mq_get_tag"
     r"|blk_mq_get_budget|__blk_mq_alloc|blk_mq_rq_ctx|_find_next_zero_bit"
     r"|blk_mq_put_tag"),
    ("blk-mq", r"blk_|__blk_"),
    ("nvme", r"nvme_"),
    ("interrupts", r"handle_edge_irq|handle_fasteoi_irq|handle_irq_event|__handle_irq"
     r"|note_interrupt|add_interrupt|fast_mix|error_entry|common_interrupt"
     r"|__common_interrupt|asm_common_interrupt|irqentry_|apic_|native_apic_"
     r"|restore_regs_and_return|irq_|__irq"),
]
LAYER_RES = [(n, re.compile("^(?:%s)" % rx)) for n, rx in LAYERS]
OTHER_LAYER = "other (scheduler, locks, timers)"


def layer_of(func):
    for n, rx in LAYER_RES:
        if rx.match(func):
            return n
    return OTHER_LAYER


def profile(outdir, iommu, workload, modes=("fixed", "dmabuf"), top=30):
    """Where the kernel instructions of one I/O go, per function, from the
    plugin's per-block counts between the marks: like the table, the modes
    run in the same boot, interleaved, and each mode's figure is the
    difference of its short and long run.  The last mode is compared with
    the first (diff)."""
    name = "profile-%s-%s" % (iommu, workload)
    # the multipath and file system boots' modes need their devices
    mp = any(m in MP_MODES for m in modes)
    fsb = any(m in FS_MODES for m in modes)
    boot(outdir, name, iommu, "rig.bench.rounds=1 rig.bench.only=%s "
         "rig.bench.modes=%s%s" % (workload, ",".join(modes),
                                   MP_APPEND if mp else FS_APPEND if fsb else ""),
         900, profile=True, vm_args=MP_VM_ARGS if mp else FS_VM_ARGS if fsb else ())
    runs, _ = boot_results(outdir, name)
    snaps, _ = parse_insns(os.path.join(outdir, name + ".insns"))
    off = len(snaps) - 2 * len(runs)
    funcs = sorted((a, n) for n, v in system_map().items() for a, t in v if t in "tTwW")
    starts = [a for a, _ in funcs]
    import bisect
    windows, cur = {}, None
    with open(os.path.join(outdir, name + ".profile")) as f:
        for line in f:
            p = line.split()
            if p[0] == "mark":
                cur = windows.setdefault(int(p[1]), {})
            else:
                i = bisect.bisect_right(starts, int(p[1], 16)) - 1
                sym = funcs[i][1] if i >= 0 else "?"
                cur[sym] = cur.get(sym, 0) + int(p[2]) * int(p[3])
    per = {}
    for i, r in enumerate(runs):
        if r.get("stall") == "1" or not r["fig"]:
            continue
        per.setdefault(r["mode"], {})[r["fig"]["ios"]] = windows.get(off + 2 * i + 1, {})
    res = {}
    for mode, d in per.items():
        if len(d) != 2:
            continue
        (n1, w1), (n2, w2) = sorted(d.items())
        res[mode] = {k: (w2.get(k, 0) - w1.get(k, 0)) / (n2 - n1) for k in set(w1) | set(w2)}
    modes = [m for m in modes if m in res]
    if len(modes) < 2:
        die("%s: fewer than two modes ran (%s): nothing to compare" % (name, modes))
    marker = {r["mode"]: r["kernel_insns_per_io"] for r in per_io(runs)}
    first, last = modes[0], modes[-1]
    alloc = {m: {k: v for k, v in res[m].items() if ALLOCATOR.match(k)} for m in modes}
    rest = {m: {k: v for k, v in res[m].items() if not ALLOCATOR.match(k)} for m in modes}
    keys = sorted(set(rest[first]) | set(rest[last]),
                  key=lambda k: -abs(rest[last].get(k, 0) - rest[first].get(k, 0)))
    col = "".join(" %10s" % m for m in modes)
    lines = ["Kernel instructions per I/O by function, %s, IOMMU %s: block-level profile "
             "of one boot, the modes interleaved as in the table, one round." % (workload, iommu),
             "Totals (profile / marker counts of the same runs): " + ", ".join(
                 "%s %.0f / %s" % (m, sum(res[m].values()), fmt(marker.get(m), "%.0f"))
                 for m in modes),
             "Page allocator, freeing and LRU (noise: batched frees and refills land in "
             "whichever window runs them): " + ", ".join(
                 "%s %.0f" % (m, sum(alloc[m].values())) for m in modes),
             "Without them: " + ", ".join("%s %.0f" % (m, sum(rest[m].values())) for m in modes),
             "",
             "%-40s%s %10s" % ("function", col, "diff")]
    for k in keys[:top]:
        lines.append("%-40s%s %+10.0f" % (k, "".join(" %10.0f" % rest[m].get(k, 0) for m in modes),
                                          rest[last].get(k, 0) - rest[first].get(k, 0)))
    lines.append("")
    lines.append("%-40s%s %10s" % ("allocator (noise)", col, "diff"))
    akeys = sorted(set(alloc[first]) | set(alloc[last]),
                   key=lambda k: -abs(alloc[last].get(k, 0) - alloc[first].get(k, 0)))
    for k in akeys[:10]:
        lines.append("%-40s%s %+10.0f" % (k, "".join(" %10.0f" % alloc[m].get(k, 0) for m in modes),
                                          alloc[last].get(k, 0) - alloc[first].get(k, 0)))
    lines.append("")
    lines.append("%-40s%s %10s" % ("by layer (allocator left out)", col, "diff"))
    layer = {m: {} for m in modes}
    for m in modes:
        for k, v in rest[m].items():
            n = layer_of(k)
            layer[m][n] = layer[m].get(n, 0) + v
    for n in [n for n, _ in LAYERS] + [OTHER_LAYER]:
        if any(round(layer[m].get(n, 0)) for m in modes):
            lines.append("%-40s%s %+10.0f" % (n, "".join(" %10.0f" % layer[m].get(n, 0) for m in modes),
                                              layer[last].get(n, 0) - layer[first].get(n, 0)))
    tot = {m: sum(layer[m].values()) for m in modes}
    lines.append("%-40s%s %+10.0f" % ("total", "".join(" %10.0f" % tot[m] for m in modes),
                                      tot[last] - tot[first]))
    txt = "\n".join(lines)
    print(txt)
    with open(os.path.join(outdir, name + ".txt"), "w") as f:
        f.write(txt + "\n")


# ---------------------------------------------------------------- compare

def compare(dir1, dir2):
    """Stability across two whole runs: kernel instructions per I/O."""
    sums = []
    for d in (dir1, dir2):
        js = json.load(open(os.path.join(d, "results.json")))
        sums.append(js["summary"])
    lines = ["kernel insns/IO, median of rounds: %s vs %s" % (dir1, dir2),
             "%-6s %-20s %-10s %9s %9s %7s" % ("iommu", "workload", "mode", "run 1", "run 2", "diff%")]
    diffs = []
    for i in IOMMUS:
        for w in WORKLOADS:
            for m in MODES:
                k = "%s/%s" % (w, m)
                try:
                    a = sums[0][i][k]["kernel_insns_per_io"]["median"]
                    b = sums[1][i][k]["kernel_insns_per_io"]["median"]
                except KeyError:
                    continue
                diffs.append(abs(b - a) / a * 100)
                lines.append("%-6s %-20s %-10s %9.0f %9.0f %+7.1f" % (i, w, m, a, b, (b - a) / a * 100))
    if diffs:
        diffs.sort()
        lines.append("|diff| median %.1f %%, max %.1f %% over %d figures" % (
            diffs[len(diffs) // 2], diffs[-1], len(diffs)))
    txt = "\n".join(lines)
    print(txt)
    return txt


# ---------------------------------------------------------------- verify

def verify(outdir, n1=20000, n2=60000, modes=("fixed", "dmabuf")):
    """The two-boot method of RIG-NOTES for one job per mode: whole-boot
    counts of a boot with N1 and one with N2 I/Os, against the marker
    method in the same boots.  The whole-boot counts take in everything the
    I/Os cost, asynchronous teardown and deferred work included, wherever
    it ran; the marker counts only what ran between the marks."""
    lines = ["randread-4k-qd32, IOMMU off: kernel insns/IO, two-boot method (whole boots, "
             "N=%d and %d) vs marker method (same boots, between marks)" % (n1, n2)]
    for mode in modes:
        res = {}
        for n in (n1, n2):
            name = "verify-%s-%d" % (mode, n)
            boot(outdir, name, "off", "rig.bench.rounds=1 rig.bench.only=randread-4k-qd32 "
                 "rig.bench.modes=%s rig.bench.counts=%d" % (mode, n), 900)
            runs, end = boot_results(outdir, name)
            if len(runs) != 1 or not runs[0]["fig"]:
                die("%s: the run failed (see %s.tap)" % (name, name))
            res[n] = (runs, end)
        (r1, e1), (r2, e2) = res[n1], res[n2]
        i1, i2 = r1[0]["fig"]["ios"], r2[0]["fig"]["ios"]
        two_boot = (e2["kern"] - e1["kern"]) / (i2 - i1)
        marker = (r2[0]["kern"] - r1[0]["kern"]) / (i2 - i1)
        # what ran outside the marks (boot, poweroff): the two methods
        # differ by exactly its change from one boot to the other
        out1, out2 = e1["kern"] - r1[0]["kern"], e2["kern"] - r2[0]["kern"]
        lines.append("  %-7s two-boot %6.0f   marker %6.0f   marker/two-boot %.3f   "
                     "(user insns/IO two-boot %.0f, marker %.0f)" % (
                         mode, two_boot, marker, marker / two_boot,
                         (e2["user"] - e1["user"]) / (i2 - i1),
                         (r2[0]["user"] - r1[0]["user"]) / (i2 - i1)))
        lines.append("  %-7s kernel insns outside the marks: %d and %d, %+.0f per I/O of the "
                     "two-boot figure" % ("", out1, out2, (out2 - out1) / (i2 - i1)))
    txt = "\n".join(lines)
    print(txt)
    with open(os.path.join(outdir, "verify.txt"), "w") as f:
        f.write(txt + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["run", "verify", "report", "profile", "compare"])
    ap.add_argument("dirs", nargs="*", help="compare: two output folders")
    ap.add_argument("--workload", default="randread-4k-qd32")
    ap.add_argument("--out", default=os.path.join(TOP, "out", "bench"))
    ap.add_argument("--iommu", default=",".join(IOMMUS))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--scale", default="1")
    ap.add_argument("--only", default="")
    ap.add_argument("--modes", default="")
    ap.add_argument("--settle", default="", help="seconds the guest settles before "
                    "each run's closing mark (default 0.1)")
    ap.add_argument("--fio", default="", help="more fio options for every job, "
                    "comma-separated (e.g. --scramble_buffers=0)")
    ap.add_argument("--timeout", type=int, default=600)
    ap.add_argument("--p2p", type=int, default=1, help="the P2P boot (0: leave it out)")
    ap.add_argument("--mp-iommu", default="off", help="IOMMU mode of the multipath "
                    "boot, head vs namespace (none: leave the boot out)")
    ap.add_argument("--fs-iommu", default="off", help="IOMMU mode of the file system "
                    "boot, files of ext4 and XFS (none: leave the boot out)")
    a = ap.parse_args()
    unknown = set(filter(None, a.modes.split(","))) - set(MODES + MP_MODES + FS_MODES +
                                                          ["bounce"])
    if unknown:
        ap.error("unknown mode(s): %s" % ",".join(sorted(unknown)))
    iommus = [i for i in a.iommu.split(",") if i in IOMMUS]	# "none": P2P, multipath only
    names = [(i, "bench-" + i) for i in iommus]
    if a.cmd == "verify":
        verify(a.out)
        return
    if a.cmd == "compare":
        compare(*a.dirs)
        return
    if a.cmd == "profile":
        for i in iommus:
            profile(a.out, i, a.workload, a.modes.split(",") if a.modes else ("fixed", "dmabuf"))
        return
    if a.cmd == "run":
        append = "rig.bench.rounds=%d rig.bench.scale=%s" % (a.rounds, a.scale)
        if a.only:
            append += " rig.bench.only=" + a.only
        if a.modes:
            append += " rig.bench.modes=" + a.modes
        if a.settle:
            append += " rig.bench.settle=" + a.settle
        if a.fio:
            append += " rig.bench.fio=" + a.fio
        for i, name in names:
            secs = boot(a.out, name, i, append, a.timeout)
            print("bench: IOMMU %s: boot to poweroff %.0f s" % (i, secs), flush=True)
        if a.p2p:
            shm = "/dev/shm/rig-bench-p2p-%d" % os.getpid()
            try:
                secs = boot(a.out, "bench-p2p", "strict", append + " rig.bench.p2p=1",
                            a.timeout, ivshmem=shm)
            finally:
                if os.path.exists(shm):
                    os.unlink(shm)
            print("bench: P2P (IOMMU strict): boot to poweroff %.0f s" % secs, flush=True)
        if a.mp_iommu in IOMMUS:
            secs = boot(a.out, "bench-mp", a.mp_iommu, append + MP_APPEND, a.timeout,
                        vm_args=MP_VM_ARGS)
            print("bench: multipath (IOMMU %s): boot to poweroff %.0f s" % (a.mp_iommu, secs),
                  flush=True)
        if a.fs_iommu in IOMMUS:
            secs = boot(a.out, "bench-fs", a.fs_iommu, append + FS_APPEND, a.timeout,
                        vm_args=FS_VM_ARGS)
            img = os.path.join(a.out, "bench-fs.nvme.img")	# 1 GiB, not needed after
            if os.path.exists(img):
                os.unlink(img)
            print("bench: files (IOMMU %s): boot to poweroff %.0f s" % (a.fs_iommu, secs),
                  flush=True)
    if a.p2p:
        names.append(("p2p", "bench-p2p"))
    if a.mp_iommu in IOMMUS:
        names.append(("mp", "bench-mp"))
    if a.fs_iommu in IOMMUS:
        names.append(("fs", "bench-fs"))
    report(a.out, names)


if __name__ == "__main__":
    main()
