# SPDX-License-Identifier: GPL-2.0
"""Turns the results of tests/bench/bench-run.sh into a table (stdout, and
RESULTS/table.txt) and a PNG chart (RESULTS/bench.png, when matplotlib is
available).

    report.py RESULTS_DIR [PNG]
"""
import json
import os
import sys

TARGETS = ["rextfs", "ext4", "xfs", "raw"]
# job, unit, what to take from fio's JSON
JOBS = [
    ("randread-4k-dio", "IOPS", ("read", "iops")),
    ("randwrite-4k-dio", "IOPS", ("write", "iops")),
    ("seqread-1m-dio", "MiB/s", ("read", "bw")),
    ("seqwrite-1m-dio", "MiB/s", ("write", "bw")),
    ("seqwrite-1m-buffered", "MiB/s", ("write", "bw")),
    ("seqread-cold-buffered", "MiB/s", ("read", "bw")),
    ("randwrite-4k-buffered", "IOPS", ("write", "iops")),
    ("fsync-append-4k", "IOPS", ("write", "iops")),
    ("metadata", "ops/s", None),
]


def figure(res, tgt, job, key):
    """The job's figure, or None with the reason."""
    if key is None:
        p = os.path.join(res, f"{tgt}.{job}.txt")
        if os.path.exists(p):
            return float(open(p).read().split()[0]), None
    else:
        p = os.path.join(res, f"{tgt}.{job}.json")
        if os.path.exists(p):
            try:
                text = open(p).read()
                data = json.loads(text[text.index("{"):])
                j = data["jobs"][0][key[0]]
                v = j[key[1]]
                if key[1] == "bw":
                    v = v / 1024.0  # KiB/s -> MiB/s
                return float(v), None
            except (ValueError, KeyError, IndexError) as e:
                return None, f"bad fio output ({e})"
    failed = os.path.join(res, f"{tgt}.{job}.failed")
    if os.path.exists(failed):
        return None, open(failed).read().strip() or "failed"
    if os.path.exists(os.path.join(res, f"{tgt}.status")):
        return None, open(os.path.join(res, f"{tgt}.status")).read().strip()
    if tgt == "raw" and job == "metadata":
        return None, "-"
    return None, "failed"


def fmt(v):
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}"


def main():
    res = sys.argv[1]
    png = sys.argv[2] if len(sys.argv) > 2 else os.path.join(res, "bench.png")
    rows = []
    for job, unit, key in JOBS:
        vals = {t: figure(res, t, job, key) for t in TARGETS}
        rows.append((job, unit, vals))
    # Table: figure, then ratios to ext4 and to raw.
    head = ["job", "unit"]
    for t in TARGETS:
        head += [t, "/ext4", "/raw"] if t not in ("ext4", "raw") else [t, "/raw"] if t == "ext4" else [t]
    lines = []
    for job, unit, vals in rows:
        cells = [job, unit]
        e4 = vals["ext4"][0]
        raw = vals["raw"][0]
        for t in TARGETS:
            v, why = vals[t]
            cells.append(fmt(v) if v is not None else (f"n/a ({why})" if why != "-" else "-"))
            ratios = []
            if t not in ("ext4", "raw"):
                ratios.append(e4)
            if t != "raw":
                ratios.append(raw)
            for base in ratios:
                cells.append(f"{v / base:.2f}x" if v is not None and base else "-")
        lines.append(cells)
    widths = [max(len(str(r[i])) for r in [head] + lines) for i in range(len(head))]
    out = []
    out.append("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    out.append("  ".join("-" * w for w in widths))
    for r in lines:
        out.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    table = "\n".join(out)
    print(table)
    with open(os.path.join(res, "table.txt"), "w") as f:
        f.write(table + "\n")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(no matplotlib: no chart)")
        return
    fig, ax = plt.subplots(figsize=(11, 5))
    width = 0.2
    for i, t in enumerate(TARGETS):
        xs, ys = [], []
        for k, (job, unit, vals) in enumerate(rows):
            v, e4 = vals[t][0], vals["ext4"][0]
            if v is not None and e4:
                xs.append(k + (i - 1.5) * width)
                ys.append(v / e4)
        ax.bar(xs, ys, width, label=t)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([f"{r[0]}\n({r[1]})" for r in rows], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("relative to ext4 (higher is better)")
    ax.set_title("rextfs benchmark (QEMU TCG guest: absolute numbers are distorted; compare ratios)")
    missing = [t for t in TARGETS if all(r[2][t][0] is None for r in rows)]
    if missing:
        ax.text(0.01, 0.97, "no data: " + ", ".join(f"{t} ({rows[0][2][t][1]})" for t in missing),
                transform=ax.transAxes, va="top", fontsize=8)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    print(f"chart: {png}")


main()
