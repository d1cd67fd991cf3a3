# SPDX-License-Identifier: GPL-2.0
"""Turns the results of tests/bench/bench-run.sh into tables (stdout, and
RESULTS/table.txt) and a PNG chart (RESULTS/bench.png, when matplotlib is
available).

    report.py RESULTS_DIR [PNG]

RESULTS_DIR holds one directory per repetition, run-1, run-2, ... (or, from
older runs, the files of a single run directly). Each figure is summarised
as its median over the runs with the minimum and maximum; each ratio is
computed within a run (the figures of one run were measured minutes apart
in the same VM) and those per-run ratios are summarised the same way.
"""
import json
import os
import re
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
# The ratios reported: (numerator, denominator).
RATIOS = [("rextfs", "ext4"), ("rextfs", "raw"), ("xfs", "ext4"), ("xfs", "raw"), ("ext4", "raw")]


def figure(res, tgt, job, key):
    """The job's figure in one run directory, or None with the reason."""
    if key is None:
        p = os.path.join(res, f"{tgt}.{job}.txt")
        if os.path.exists(p):
            try:
                return float(open(p).read().split()[0]), None
            except (ValueError, IndexError) as e:
                return None, f"bad output ({e})"
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


def run_dirs(res):
    """The run directories in order (run-1, run-2, ...), or [res] for the
    single-run layout."""
    runs = []
    for name in os.listdir(res):
        m = re.fullmatch(r"run-(\d+)", name)
        if m and os.path.isdir(os.path.join(res, name)):
            runs.append((int(m.group(1)), os.path.join(res, name)))
    return [d for _, d in sorted(runs)] or [res]


def median(vs):
    s = sorted(vs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def summary(vs):
    """(median, min, max) of a non-empty list, else None."""
    return (median(vs), min(vs), max(vs)) if vs else None


def fmt(v):
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}"


def cell(s, nruns, n, f, suffix=""):
    """'median (min-max)' for several runs, the value alone for one."""
    if s is None:
        return None
    m, lo, hi = s
    text = f"{f(m)}{suffix}"
    if nruns > 1:
        text += f" ({f(lo)}-{f(hi)})"
    if n < nruns:
        text += f" [{n}/{nruns} runs]"
    return text


def table(head, lines):
    widths = [max(len(str(r[i])) for r in [head] + lines) for i in range(len(head))]
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip()]
    out.append("  ".join("-" * w for w in widths))
    for r in lines:
        out.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
    return "\n".join(out)


def collect(res):
    """For each job: unit, per target the list of per-run figures (None
    where the run has none) and the reason of the first failure."""
    runs = run_dirs(res)
    rows = []
    for job, unit, key in JOBS:
        per = {}
        for t in TARGETS:
            got = [figure(d, t, job, key) for d in runs]
            per[t] = ([v for v, _ in got], next((w for v, w in got if v is None), None))
        rows.append((job, unit, per))
    return len(runs), rows


def ratios(per, num, den):
    """The per-run ratios num/den of the runs that have both figures."""
    return [a / b for a, b in zip(per[num][0], per[den][0]) if a is not None and b]


def report(res):
    nruns, rows = collect(res)
    figs = []
    for job, unit, per in rows:
        cells = [job, unit]
        for t in TARGETS:
            vs = [v for v in per[t][0] if v is not None]
            c = cell(summary(vs), nruns, len(vs), fmt)
            why = per[t][1]
            cells.append(c if c is not None else ("-" if why == "-" else f"n/a ({why})"))
        figs.append(cells)
    rats = []
    for job, unit, per in rows:
        cells = [job]
        for num, den in RATIOS:
            rs = ratios(per, num, den)
            cells.append(cell(summary(rs), nruns, len(rs), lambda v: f"{v:.2f}", "x") or "-")
        rats.append(cells)
    if nruns > 1:
        how = (f"{nruns} runs of every job: median (min-max) over the runs; a ratio is taken"
               " within each run, then summarised")
    else:
        how = "1 run of every job (BENCH_REPS=1): no spread"
    text = "\n".join([
        how,
        "",
        table(["job", "unit"] + TARGETS, figs),
        "",
        table(["job"] + [f"{n}/{d}" for n, d in RATIOS], rats),
    ])
    return text, nruns, rows


def chart(png, nruns, rows):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "(no matplotlib: no chart)"
    fig, ax = plt.subplots(figsize=(11, 5))
    width = 0.2
    for i, t in enumerate(TARGETS):
        xs, ys, lo, hi, dots_x, dots_y = [], [], [], [], [], []
        for k, (job, unit, per) in enumerate(rows):
            rs = ratios(per, t, "ext4")
            if not rs:
                continue
            m, a, b = summary(rs)
            x = k + (i - 1.5) * width
            xs.append(x)
            ys.append(m)
            lo.append(m - a)
            hi.append(b - m)
            dots_x += [x] * len(rs)
            dots_y += rs
        ax.bar(xs, ys, width, label=t)
        if nruns > 1 and xs:
            # The spread: a whisker from the lowest to the highest run, and each run as a dot.
            ax.errorbar(xs, ys, yerr=[lo, hi], fmt="none", ecolor="black", elinewidth=0.8, capsize=2)
            ax.scatter(dots_x, dots_y, s=6, color="black", zorder=3,
                       label="one run" if i == 0 else None)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([f"{r[0]}\n({r[1]})" for r in rows], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("relative to ext4 (higher is better)")
    spread = (f"median of {nruns} runs, whiskers min-max" if nruns > 1 else "1 run")
    ax.set_title(f"rextfs benchmark, {spread} (QEMU TCG guest: compare ratios only)", fontsize=10)
    missing = [t for t in TARGETS if all(v is None for r in rows for v in r[2][t][0])]
    if missing:
        ax.text(0.01, 0.97, "no data: " + ", ".join(f"{t} ({rows[0][2][t][1]})" for t in missing),
                transform=ax.transAxes, va="top", fontsize=8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    return f"chart: {png}"


def main():
    res = sys.argv[1]
    png = sys.argv[2] if len(sys.argv) > 2 else os.path.join(res, "bench.png")
    text, nruns, rows = report(res)
    print(text)
    with open(os.path.join(res, "table.txt"), "w") as f:
        f.write(text + "\n")
    print(chart(png, nruns, rows))


if __name__ == "__main__":
    main()
