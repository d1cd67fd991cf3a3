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

The scale jobs (tests/bench/scale-run.sh, run once) write to
RESULTS_DIR/scale/; their rows (scale-files*, aging-*) are one run each and
have no raw figure. A directory without them (older results, or a run with
the scale jobs skipped) shows them as "n/a (not run)"; a directory with
only them (scripts/bench --scale-only) has no fio rows.
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
# The scale jobs: row, unit, (result file TARGET.NAME.json, field).
SCALE = [
    ("scale-files", "ops/s", ("scale-files", "total")),
    ("scale-files-create", "ops/s", ("scale-files", "create")),
    ("scale-files-stat", "ops/s", ("scale-files", "stat")),
    ("scale-files-unlink", "ops/s", ("scale-files", "unlink")),
    ("aging-write", "MiB/s", ("aging", "mibps")),
    ("aging-extents", "extents", ("aging", "extents")),
]
SCALE_TARGETS = ["rextfs", "ext4", "xfs"]
# Units of which less is better (their ratios too; the chart leaves them out).
LOWER_IS_BETTER = {"extents"}
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


def scale_figure(res, tgt, name, field):
    """A scale job's figure in RESULTS_DIR/scale, or None with the reason."""
    if tgt not in SCALE_TARGETS:
        return None, "-"
    p = os.path.join(res, f"{tgt}.{name}.json")
    if os.path.exists(p):
        try:
            return float(json.load(open(p))[field]), None
        except (ValueError, KeyError, TypeError) as e:
            return None, f"bad output ({e})"
    failed = os.path.join(res, f"{tgt}.{name}.failed")
    if os.path.exists(failed):
        return None, open(failed).read().strip() or "failed"
    return None, "not run"


def scale_data(res, name):
    """{target: the JSON of a scale job} for the targets that have it."""
    out = {}
    for t in SCALE_TARGETS:
        try:
            out[t] = json.load(open(os.path.join(res, "scale", f"{t}.{name}.json")))
        except (OSError, ValueError):
            pass
    return out


def has_fio(runs):
    """Whether the run directories hold any result of the fio and metadata jobs."""
    pat = re.compile(r"(rextfs|ext4|xfs|raw)\.([^.]+\.(json|txt|failed)|status)")
    return any(pat.fullmatch(f) for d in runs for f in os.listdir(d))


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
    where the run has none) and the reason of the first failure, and the
    number of runs of the job. The fio rows only when there are fio results."""
    runs = run_dirs(res)
    fio = has_fio(runs)
    rows = []
    for job, unit, key in JOBS if fio else []:
        per = {}
        for t in TARGETS:
            got = [figure(d, t, job, key) for d in runs]
            per[t] = ([v for v, _ in got], next((w for v, w in got if v is None), None))
        rows.append((job, unit, per, len(runs)))
    scale = os.path.join(res, "scale")
    for job, unit, (name, field) in SCALE:
        per = {}
        for t in TARGETS:
            v, why = scale_figure(scale, t, name, field)
            per[t] = ([v], why)
        rows.append((job, unit, per, 1))
    return (len(runs) if fio else 0), rows


def ratios(per, num, den):
    """The per-run ratios num/den of the runs that have both figures."""
    return [a / b for a, b in zip(per[num][0], per[den][0]) if a is not None and b]


def scale_notes(res):
    """What the scale jobs ran with, from their results (a result without
    the fields is left out)."""
    try:
        return scale_notes_of(res)
    except (KeyError, TypeError, ValueError, AttributeError, StopIteration):
        return ["(the scale results lack the details)",
                "aging-extents: fewer is better, and so is a ratio below 1.00x"]


def scale_notes_of(res):
    notes = []
    files = scale_data(res, "scale-files")
    if files:
        d = next(iter(files.values()))
        notes.append(f"scale-files: {d['files']} files in {d['dirs']} directories, each phase's ops/s"
                     " and overall (3 x files over the time of the three phases)")
        warm = [t for t, d in files.items() if not d.get("cold_stat", True)]
        if warm:
            notes.append(f"scale-files: stat phase NOT cold on {', '.join(warm)} (--no-drop)")
    aging = scale_data(res, "aging")
    if aging:
        d = next(iter(aging.values()))
        notes.append(f"aging: filled to {d['fill']:.0%} with files of random sizes (seed {d['seed']}), half"
                     f" deleted, then one {d['file_mb']} MiB file written (MiB/s including fsync; extents by filefrag)")
        for t, d in aging.items():
            notes.append(f"aging on {t}: {d['capacity_bytes'] / 2**30:.2f} GiB, {d['files_written']} files,"
                         f" {d['used_after_fill']:.1%} used after the fill ({d['fill_stopped']}),"
                         f" {d['used_after_delete']:.1%} after deleting {d['files_deleted']}")
    notes.append("aging-extents: fewer is better, and so is a ratio below 1.00x")
    return notes


def report(res):
    nruns, rows = collect(res)
    figs = []
    for job, unit, per, n in rows:
        cells = [job, unit]
        for t in TARGETS:
            vs = [v for v in per[t][0] if v is not None]
            c = cell(summary(vs), n, len(vs), (lambda v: f"{v:.0f}") if unit == "extents" else fmt)
            why = per[t][1]
            cells.append(c if c is not None else ("-" if why == "-" else f"n/a ({why})"))
        figs.append(cells)
    rats = []
    for job, unit, per, n in rows:
        cells = [job]
        for num, den in RATIOS:
            rs = ratios(per, num, den)
            cells.append(cell(summary(rs), n, len(rs), lambda v: f"{v:.2f}", "x") or "-")
        rats.append(cells)
    if nruns > 1:
        how = (f"{nruns} runs of every fio job: median (min-max) over the runs; a ratio is taken"
               " within each run, then summarised. The scale jobs (scale-files*, aging-*): one run")
    elif nruns == 1:
        how = "1 run of every job (BENCH_REPS=1): no spread"
    else:
        how = "the scale jobs only (one run; no fio results here)"
    text = "\n".join([
        how,
        "",
        table(["job", "unit"] + TARGETS, figs),
        "",
        table(["job"] + [f"{n}/{d}" for n, d in RATIOS], rats),
        "",
    ] + scale_notes(res))
    return text, nruns, rows


def chart(png, nruns, rows):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "(no matplotlib: no chart)"
    # Every fio row; the scale rows that have a ratio, but not the extent
    # count (fewer is better there, the chart's bars are "higher is better").
    names = {r[0] for r in SCALE}
    rows = [r for r in rows if r[0] not in names or
            (r[1] not in LOWER_IS_BETTER and any(ratios(r[2], t, "ext4") for t in TARGETS))]
    fig, ax = plt.subplots(figsize=(11, 5))
    width = 0.2
    for i, t in enumerate(TARGETS):
        xs, ys, wx, wy, lo, hi, dots_x, dots_y = [], [], [], [], [], [], [], []
        for k, (job, unit, per, n) in enumerate(rows):
            rs = ratios(per, t, "ext4")
            if not rs:
                continue
            m, a, b = summary(rs)
            x = k + (i - 1.5) * width
            xs.append(x)
            ys.append(m)
            if n > 1:
                wx.append(x)
                wy.append(m)
                lo.append(m - a)
                hi.append(b - m)
                dots_x += [x] * len(rs)
                dots_y += rs
        if xs:
            # A target's colour stays the same whether or not the others have bars.
            ax.bar(xs, ys, width, label=t, color=f"C{i}")
        if wx:
            # The spread: a whisker from the lowest to the highest run, and each run as a dot.
            ax.errorbar(wx, wy, yerr=[lo, hi], fmt="none", ecolor="black", elinewidth=0.8, capsize=2)
            ax.scatter(dots_x, dots_y, s=6, color="black", zorder=3,
                       label="one run" if i == 0 else None)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([f"{r[0]}\n({r[1]})" for r in rows], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("relative to ext4 (higher is better)")
    spread = (f"median of {nruns} runs, whiskers min-max" if nruns > 1 else "1 run")
    if nruns > 1 and any(r[0] in names for r in rows):
        spread += "; scale jobs 1 run"
    ax.set_title(f"rextfs benchmark, {spread} (QEMU TCG guest: compare ratios only)", fontsize=10)
    missing = []
    for t in TARGETS:
        whys = [r[2][t][1] for r in rows if all(v is None for v in r[2][t][0])]
        if len(whys) == len(rows) and any(w != "-" for w in whys):
            missing.append(f"{t} ({next(w for w in whys if w != '-')})")
    if missing:
        ax.text(0.01, 0.97, "no data: " + ", ".join(missing), transform=ax.transAxes, va="top", fontsize=8)
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
