# SPDX-License-Identifier: GPL-2.0
"""The scale jobs of `make bench` (issue 16), run in the guest by
tests/bench/scale-run.sh on a freshly made file system mounted at DIR.
Each prints one JSON object on stdout; progress goes to stderr. On an error
it exits non-zero with a one-line reason (the last line of stderr).

    scale.py files DIR N D [--no-drop]
        N empty files in D directories (the files of directory j are
        numbers j*N//D to (j+1)*N//D - 1, created directory by directory):
        create all (the D mkdirs, N creates, one sync), drop the caches,
        stat all (cold), unlink all (N unlinks, D rmdirs, one sync), all
        in the order of creation. Figures: ops/s of each phase (N
        operations each) and overall (3N over the time of the three).

    scale.py aging DIR [--seed S] [--fill F] [--file-mb M] [--no-drop]
                       [--test-capacity-mb C]
        Fills the file system to F (default 0.9) of its capacity as
        statvfs counts it (f_blocks - f_bfree) with files of random sizes,
        log-uniform between 4 KiB and 8 MiB, written with write() in 1 MiB
        chunks, 100 to a directory; syncs; deletes half of them (chosen at
        random); syncs; drops the caches; then writes one M MiB file
        (default 1024) sequentially with 1 MiB writes and fsync. Figures:
        that file's throughput in MiB/s (open to the end of fsync) and its
        extent count as filefrag reports it ("N extents found": FIEMAP
        extents that continue the one before on disk count once, so an
        extent-length limit such as ext4's 128 MiB does not count). Sizes and
        the deleted half come from one seeded RNG (default seed 16): every
        file system gets the same sequence of files.

For a trial run on a machine that is not to be disturbed: --no-drop skips
writing to /proc/sys/vm/drop_caches (the stat phase is then warm), and
aging's --test-capacity-mb C fills to F of C MiB, counting only the bytes
this run wrote, instead of filling the file system.
"""
import errno
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import time

MIB = 1 << 20
CHUNK = MIB
MIN_SIZE = 4 << 10
MAX_SIZE = 8 << 20
PER_DIR = 100


def err(e):
    return errno.errorcode.get(e.errno, str(e.errno))


def drop(no_drop):
    os.sync()
    if not no_drop:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")


class Progress:
    """A line on stderr at every tenth of a phase."""

    def __init__(self, phase, n):
        self.phase, self.n, self.t0, self.next = phase, n, time.monotonic(), 1

    def at(self, i):
        if self.n and i * 10 >= self.next * self.n:
            print(f"  {self.phase}: {i}/{self.n} after {time.monotonic() - self.t0:.0f} s",
                  file=sys.stderr, flush=True)
            while i * 10 >= self.next * self.n:
                self.next += 1


def files_job(base, n, d, no_drop):
    if n < 1 or d < 1:
        sys.exit("files: N and D must be at least 1")
    top = os.path.join(base, "files")
    os.mkdir(top)
    dw, fw = len(str(d - 1)), len(str(n - 1))
    dirs = [os.path.join(top, f"d{j:0{dw}d}") for j in range(d)]
    ranges = [range(j * n // d, (j + 1) * n // d) for j in range(d)]
    flags = os.O_CREAT | os.O_WRONLY | os.O_EXCL

    def each(phase, op):
        """Runs op(dir_fd, name) on every file, directory by directory."""
        p = Progress(phase, n)
        done = 0
        for path, r in zip(dirs, ranges):
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
            try:
                for i in r:
                    try:
                        op(fd, f"f{i:0{fw}d}")
                    except OSError as e:
                        sys.exit(f"{phase}: {err(e)} after {done} files")
                    done += 1
                    p.at(done)
            finally:
                os.close(fd)

    t0 = time.monotonic()
    for j, path in enumerate(dirs):
        try:
            os.mkdir(path)
        except OSError as e:
            sys.exit(f"create: mkdir: {err(e)} after {j} directories")
    each("create", lambda fd, name: os.close(os.open(name, flags, 0o644, dir_fd=fd)))
    os.sync()
    t1 = time.monotonic()
    drop(no_drop)
    t2 = time.monotonic()
    each("stat", lambda fd, name: os.stat(name, dir_fd=fd))
    t3 = time.monotonic()
    each("unlink", lambda fd, name: os.unlink(name, dir_fd=fd))
    for path in dirs:
        try:
            os.rmdir(path)
        except OSError as e:
            sys.exit(f"unlink: rmdir {path}: {err(e)}")
    os.sync()
    t4 = time.monotonic()
    os.rmdir(top)
    secs = {"create": t1 - t0, "stat": t3 - t2, "unlink": t4 - t3}
    out = {"files": n, "dirs": d, "seconds": {k: round(v, 3) for k, v in secs.items()}}
    for k, v in secs.items():
        out[k] = round(n / v, 1)
    out["total"] = round(3 * n / sum(secs.values()), 1)
    out["cold_stat"] = not no_drop
    return out


def used(path):
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) / st.f_blocks, st.f_blocks * st.f_frsize


def write_file(path, size, buf):
    """Writes size bytes to a new file with write() calls of at most CHUNK
    bytes; an OSError propagates with the file removed."""
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644)
    try:
        left = size
        while left:
            left -= os.write(fd, buf[:min(CHUNK, left)])
    except OSError:
        os.close(fd)
        os.unlink(path)
        raise
    os.close(fd)


def filefrag(path):
    prog = shutil.which("filefrag", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if prog is None:
        sys.exit("aging: no filefrag (e2fsprogs)")
    r = subprocess.run([prog, path], capture_output=True, text=True)
    m = re.search(r"(\d+) extents? found", r.stdout)
    if r.returncode != 0 or m is None:
        sys.exit(f"aging: filefrag failed: {(r.stdout + r.stderr).strip()[-200:]}")
    return int(m.group(1)), r.stdout.strip()


def aging_job(base, seed, fill, file_mb, no_drop, test_cap):
    rng = random.Random(seed)
    buf = memoryview(random.Random(seed).randbytes(CHUNK))
    lo, hi = math.log(MIN_SIZE), math.log(MAX_SIZE)
    top = os.path.join(base, "aging")
    os.mkdir(top)
    names, sizes, keys, stopped = [], [], [], f"{fill:.0%} used"
    live = 0  # bytes of the files there now

    def usage():
        """The fraction used: statvfs's, or in a trial the bytes written against test_cap."""
        return live / (test_cap * MIB) if test_cap else used(base)[0]

    start, cap = usage(), (test_cap * MIB if test_cap else used(base)[1])
    if test_cap:
        stopped += f" of a test capacity of {test_cap} MiB"
    t0 = time.monotonic()
    last = 0.0
    while True:
        frac = usage()
        if frac >= fill:
            break
        if frac - last >= 0.1:
            print(f"  fill: {frac:.0%} used, {len(names)} files after {time.monotonic() - t0:.0f} s",
                  file=sys.stderr, flush=True)
            last = frac
        i = len(names)
        size = int(round(math.exp(rng.uniform(lo, hi))))
        key = rng.random()
        path = os.path.join(top, f"d{i // PER_DIR:05d}", f"f{i:07d}")
        try:
            if i % PER_DIR == 0:
                os.mkdir(os.path.dirname(path))
            write_file(path, size, buf)
        except OSError as e:
            if e.errno != errno.ENOSPC:
                sys.exit(f"aging: fill: {err(e)} after {i} files")
            # A file system whose statvfs lags behind its allocations: full
            # before F. Recorded; the job goes on with what was written.
            stopped = "ENOSPC"
            break
        names.append(path)
        sizes.append(size)
        keys.append(key)
        live += size
    written = live
    os.sync()
    filled = usage()
    fill_s = time.monotonic() - t0
    # The half to delete: the files with the smallest keys. A file's key
    # comes from the RNG with its size, so a file that every file system
    # wrote is deleted on all of them or on none.
    doomed = sorted(range(len(names)), key=lambda i: keys[i])[:len(names) // 2]
    for i in doomed:
        try:
            os.unlink(names[i])
        except OSError as e:
            sys.exit(f"aging: delete: {err(e)}")
        live -= sizes[i]
    os.sync()
    aged = usage()
    drop(no_drop)
    big = os.path.join(base, "big.dat")
    print(f"  fill: {len(names)} files, {written / MIB:.0f} MiB, {filled:.1%} used in {fill_s:.0f} s;"
          f" deleted {len(doomed)}: {aged:.1%} used; writing {file_mb} MiB", file=sys.stderr, flush=True)
    t1 = time.monotonic()
    fd = os.open(big, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
    try:
        for _ in range(file_mb):
            left = CHUNK
            while left:
                left -= os.write(fd, buf[CHUNK - left:])
        os.fsync(fd)
    except OSError as e:
        sys.exit(f"aging: {file_mb} MiB file: {err(e)}")
    finally:
        os.close(fd)
    secs = time.monotonic() - t1
    extents, line = filefrag(big)
    return {
        "seed": seed, "fill": fill, "capacity_bytes": cap, "used_at_start": round(start, 4),
        "files_written": len(names), "bytes_written": written, "fill_stopped": stopped,
        "used_after_fill": round(filled, 4), "fill_seconds": round(fill_s, 1),
        "files_deleted": len(doomed), "used_after_delete": round(aged, 4),
        "file_mb": file_mb, "seconds": round(secs, 3), "mibps": round(file_mb / secs, 1),
        "extents": extents, "filefrag": line,
    }


def main():
    args = sys.argv[1:]
    no_drop = "--no-drop" in args
    args = [a for a in args if a != "--no-drop"]

    def opt(name, default, conv):
        if name in args:
            k = args.index(name)
            if k + 1 >= len(args):
                sys.exit(f"{name} wants a value")
            v = args[k + 1]
            del args[k:k + 2]
            return conv(v)
        return default

    if args[:1] == ["files"] and len(args) == 4:
        out = files_job(args[1], int(args[2]), int(args[3]), no_drop)
    elif args[:1] == ["aging"]:
        seed = opt("--seed", 16, int)
        fill = opt("--fill", 0.9, float)
        file_mb = opt("--file-mb", 1024, int)
        test_cap = opt("--test-capacity-mb", 0, int)
        if len(args) != 2 or not 0 < fill < 1 or file_mb < 1:
            sys.exit(__doc__)
        out = aging_job(args[1], seed, fill, file_mb, no_drop, test_cap)
    else:
        sys.exit(__doc__)
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
