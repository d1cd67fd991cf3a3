# SPDX-License-Identifier: GPL-2.0
"""Metadata benchmark: create N empty files in a fresh directory, stat them
all (cold cache), delete them all; prints the overall operations per second
and each phase's rate."""
import errno
import os
import sys
import time

d, n = sys.argv[1], int(sys.argv[2])
os.makedirs(d, exist_ok=True)
names = [os.path.join(d, f"f{i:06d}") for i in range(n)]
phases = []
t0 = time.monotonic()
for i, p in enumerate(names):
    try:
        os.close(os.open(p, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644))
    except OSError as e:
        sys.exit(f"{errno.errorcode.get(e.errno, e.errno)} after {i} creates")
os.sync()
t1 = time.monotonic()
with open("/proc/sys/vm/drop_caches", "w") as f:
    f.write("3\n")
t2 = time.monotonic()
for p in names:
    os.stat(p)
t3 = time.monotonic()
for p in names:
    os.unlink(p)
os.rmdir(d)
os.sync()
t4 = time.monotonic()
total = (t1 - t0) + (t3 - t2) + (t4 - t3)
print(f"{3 * n / total:.1f}")
print(f"create {n / (t1 - t0):.1f}/s stat {n / (t3 - t2):.1f}/s delete {n / (t4 - t3):.1f}/s", file=sys.stderr)
