#!/usr/bin/env python3
"""bench/hw.py DIR: the table of make bench-hw (rig/bench-hw.sh) from the
fio JSON it left in DIR/runs/ (ROUND-WORKLOAD-MODE.json): per workload and
buffer mode the median over rounds of fio's IOPS and of CPU time per I/O,
(usr_cpu + sys_cpu) x job_runtime / total_ios of the job's busier
direction, and the ratios of dma-buf (c: dmabuf=heap, d: dmabuf=udmabuf) to
fixed (b) and plain (a) buffers.  Prints DIR/env.txt (what was measured)
first; writes DIR/table.txt and DIR/results.json.
"""
import glob
import json
import os
import re
import statistics
import sys

sys.dont_write_bytecode = True	# no __pycache__ in the checkout
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench	# noqa: E402  make bench's figures of one fio run, the same here

WORKLOADS = ["randread-4k-qd1", "randread-4k-qd32", "randwrite-4k-qd1",
             "randwrite-4k-qd32", "read-128k-qd8", "read-1m-qd8"]
MODES = [("plain", "a"), ("fixed", "b"), ("heap", "c"), ("udmabuf", "d")]
RUN = re.compile(r"^(\d+)-(.+)-(plain|fixed|heap|udmabuf)\.json$")


def fio_figures(path):
    """make bench's figures (IOPS, CPU us per I/O, MiB/s, ...) of one fio
    JSON output file, or None for a job that failed or did no I/O."""
    with open(path, errors="replace") as f:
        txt = f.read()
    fio = json.loads(txt[txt.find("{"):])	# fio may print a notice first
    if fio["jobs"][0].get("error"):
        return None
    fig = bench.fio_figures(fio)
    return fig if fig["ios"] else None


def load(d):
    runs = {}
    for path in sorted(glob.glob(os.path.join(d, "runs", "*.json"))):
        m = RUN.match(os.path.basename(path))
        if not m:
            continue
        try:
            fig = fio_figures(path)
        except (ValueError, KeyError, IndexError) as e:
            print("hw: %s: not fio JSON (%s)" % (path, e), file=sys.stderr)
            continue
        if fig:
            runs.setdefault((m.group(2), m.group(3)), []).append(fig)
    return {k: {f: statistics.median(r[f] for r in v) for f in v[0]} | {"rounds": len(v)}
            for k, v in runs.items()}


def iops(v):
    if v is None:
        return "-"
    return "%.1f k" % (v / 1000) if v >= 1000 else "%.0f" % v


def us(v):
    if v is None:
        return "-"
    return "%.2f us" % v if v < 10 else ("%.1f us" % v if v < 100 else "{:,.0f} us".format(v))


def ratio(x, y):
    return "%.2fx" % (x / y) if x is not None and y else "-"


def table(med):
    modes = [(m, l) for m, l in MODES if any((w, m) in med for w in WORKLOADS)]
    wls = [w for w in WORKLOADS if any((w, m) in med for m, _ in modes)]
    dmabuf = [(m, l) for m, l in modes if m in ("heap", "udmabuf")]
    lines = []
    rounds = sorted({v["rounds"] for v in med.values()})
    lines.append("fio io_uring, median of %s round(s); %s" % (
        "/".join(map(str, rounds)),
        ", ".join("%s: %s" % (l, {"plain": "plain O_DIRECT", "fixed": "fixedbufs",
                                   "heap": "dmabuf=heap", "udmabuf": "dmabuf=udmabuf"}[m])
                  for m, l in modes)))
    rat = [(l + "/b", l + "/a") for _, l in dmabuf]
    for title, fig, fmt in (("IOPS", "iops", iops),
                            ("CPU per I/O (usr+sys)", "cpu_us_per_io", us)):
        hdr = "%-18s" % "workload" + "".join("%12s" % ("%s: %s" % (l, m)) for m, l in modes)
        hdr += " |" + "".join("%7s %6s" % r for r in rat)
        lines += ["", title + ":", hdr]
        for w in wls:
            v = {m: med.get((w, m), {}).get(fig) for m, _ in modes}
            row = "%-18s" % w + "".join("%12s" % fmt(v[m]) for m, _ in modes) + " |"
            for m, _ in dmabuf:
                row += "%7s %6s" % (ratio(v[m], v.get("fixed")), ratio(v[m], v.get("plain")))
            lines.append(row)
    return lines


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: bench/hw.py DIR (made by rig/bench-hw.sh)")
    d = sys.argv[1]
    env = os.path.join(d, "env.txt")
    med = load(d)
    if not med:
        sys.exit("hw: no fio results in %s/runs" % d)
    lines = open(env).read().rstrip("\n").split("\n") if os.path.exists(env) else []
    lines += [""] + table(med)
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(d, "table.txt"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(d, "results.json"), "w") as f:
        json.dump({"%s/%s" % k: v for k, v in sorted(med.items())}, f, indent=1)


if __name__ == "__main__":
    main()
