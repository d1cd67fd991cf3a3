# SPDX-License-Identifier: GPL-2.0
# Block and inode allocation (issue 16): where blocks and inodes go.
#  1. Two and four files appended to in turns, 4 KiB at a time, stay in a
#     few long extents each (reservations), not one extent per write.
#  2. New directories spread over the inode table; the files of a directory
#     get inode numbers just after their directory's.
#  3. On an aged file system (small files, every other one deleted), a file
#     written sequentially goes to the long free runs, not into the holes.
#  4. fstrim running while files are written and fsynced never discards
#     their data (allocations go around the piece being discarded).
#  5. Conversions on a full file system take tree nodes from the reserve.
#  6. A file's reservation ends at its last writer's close.
# Data read back equals data written after drop_caches and a remount; fsck is
# clean at the end of each part.
. "$REPO/tests/vm/lib.sh"

mnt=/tmp/t106
mkdir -p "$mnt"
fresh() {
	mkfs.rextfs -q -f /dev/vda 32768 || fail "mkfs.rextfs failed"
	mount -t rextfs /dev/vda "$mnt" || fail "mount failed"
}
finish() {
	umount "$mnt" || fail "umount failed"
	fsck.rextfs -n -f /dev/vda >/tmp/t106.fsck 2>&1 || { cat /tmp/t106.fsck >&2; fail "fsck after $1"; }
}

# extents FILE: the extent count filefrag (FIEMAP) reports.
extents() { filefrag "$1" | sed -n 's/.*: \([0-9]*\) extents\{0,1\} found/\1/p'; }

# --- 1. appenders in turns --------------------------------------------------
fresh
python3 - "$mnt" <<'PY' || fail "appenders in turns"
import hashlib, os, random, subprocess, sys
m = sys.argv[1]
rng = random.Random(106)
for nfiles in (2, 4):
    blocks = 2048 if nfiles == 2 else 1024
    fds = [os.open(f"{m}/turns{nfiles}.{i}", os.O_CREAT | os.O_WRONLY | os.O_TRUNC) for i in range(nfiles)]
    sums = [hashlib.sha256() for _ in range(nfiles)]
    for _ in range(blocks):
        for i, fd in enumerate(fds):
            data = rng.randbytes(4096)
            os.write(fd, data)
            sums[i].update(data)
    for fd in fds:
        os.fsync(fd)
        os.close(fd)
    with open(f"/tmp/t106.turns{nfiles}", "w") as f:
        for i in range(nfiles):
            f.write(f"turns{nfiles}.{i} {sums[i].hexdigest()}\n")
PY
for f in "$mnt"/turns*; do
	n=$(extents "$f")
	note "$(basename "$f"): $n extents"
	[ -n "$n" ] && [ "$n" -le 32 ] || fail "$(basename "$f") has ${n:-?} extents after appends in turns (at most 32 expected)"
done
check_sums() {
	local f name sum
	for f in /tmp/t106.turns2 /tmp/t106.turns4; do
		while read -r name sum; do
			[ "$(sha256sum <"$mnt/$name" | cut -d' ' -f1)" = "$sum" ] || fail "$name reads back wrong $1"
		done <"$f"
	done
}
echo 3 >/proc/sys/vm/drop_caches
check_sums "after drop_caches"
umount "$mnt" && mount -t rextfs /dev/vda "$mnt" || fail "remount"
check_sums "after a remount"
finish "appends in turns"

# --- 2. inode locality --------------------------------------------------------
fresh
python3 - "$mnt" <<'PY' || fail "inode locality"
import os, sys
m = sys.argv[1]
total = 8192  # inodes of a 128 MiB file system (mkfs: one per 16 KiB)
ino = lambda p: os.stat(p).st_ino
# Holes at the start of the inode table, which the old allocator filled first.
for i in range(300):
    open(f"{m}/root{i}", "w").close()
for i in range(0, 300, 2):
    os.unlink(f"{m}/root{i}")
dirs = []
for i in range(20):
    os.mkdir(f"{m}/d{i}")
    dirs.append(ino(f"{m}/d{i}"))
spread = max(dirs) - min(dirs)
print(f"# 20 directories: inodes {min(dirs)}..{max(dirs)}", file=sys.stderr)
assert spread > 1000, f"new directories are not spread: inodes {sorted(dirs)}"
# Files created in three directories in turns: each near its own directory.
for k in range(50):
    for d in range(3):
        open(f"{m}/d{d}/f{k}", "w").close()
for d in range(3):
    for k in range(50):
        dist = (ino(f"{m}/d{d}/f{k}") - dirs[d]) % total
        assert 0 < dist <= 400, f"d{d}/f{k}: inode {ino(f'{m}/d{d}/f{k}')}, directory {dirs[d]}"
PY
finish "inode locality"

# --- 3. aged file system ------------------------------------------------------
fresh
python3 - "$mnt" <<'PY' || fail "aged file system"
import hashlib, os, random, sys
m = sys.argv[1]
rng = random.Random(1060)
os.mkdir(f"{m}/small")
for i in range(1500):
    with open(f"{m}/small/s{i}", "wb") as f:
        f.write(rng.randbytes(4096 * rng.randint(1, 16)))
os.sync()
for i in range(0, 1500, 2):
    os.unlink(f"{m}/small/s{i}")
os.sync()
h = hashlib.sha256()
with open(f"{m}/small/big", "wb") as f:
    for _ in range(16):
        data = rng.randbytes(1 << 20)
        f.write(data)
        h.update(data)
    f.flush()
    os.fsync(f.fileno())
open("/tmp/t106.big", "w").write(h.hexdigest())
PY
n=$(extents "$mnt/small/big")
note "16 MiB file on an aged file system: $n extents"
[ -n "$n" ] && [ "$n" -le 6 ] || fail "a 16 MiB file written after aging has ${n:-?} extents (at most 6 expected)"
echo 3 >/proc/sys/vm/drop_caches
[ "$(sha256sum <"$mnt/small/big" | cut -d' ' -f1)" = "$(cat /tmp/t106.big)" ] || fail "big file reads back wrong"
finish "aging"

# --- 4. fstrim while writing ----------------------------------------------------
fresh
(for _ in $(seq 1 40); do fstrim "$mnt" || exit 1; done) &
trimmer=$!
python3 - "$mnt" <<'PY' || { kill "$trimmer" 2>/dev/null; fail "writing while trimming"; }
import hashlib, os, random, sys
m = sys.argv[1]
rng = random.Random(1061)
sums = {}
for i in range(200):
    data = rng.randbytes(4096 * rng.randint(1, 32))
    # Written to the disk while fstrim runs: a discard of its blocks would be caught.
    with open(f"{m}/t{i}", "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    sums[f"t{i}"] = hashlib.sha256(data).hexdigest()
    if i % 3 == 0 and i > 0:
        os.unlink(f"{m}/t{i - 1}")
        del sums[f"t{i - 1}"]
with open("/tmp/t106.trim", "w") as f:
    for k, v in sums.items():
        f.write(f"{k} {v}\n")
PY
wait "$trimmer" || fail "fstrim failed while files were written"
sync
echo 3 >/proc/sys/vm/drop_caches
while read -r name sum; do
	[ "$(sha256sum <"$mnt/$name" | cut -d' ' -f1)" = "$sum" ] || fail "$name lost data to fstrim"
done </tmp/t106.trim
umount "$mnt" && mount -t rextfs /dev/vda "$mnt" || fail "remount"
while read -r name sum; do
	[ "$(sha256sum <"$mnt/$name" | cut -d' ' -f1)" = "$sum" ] || fail "$name lost data to fstrim (after remount)"
done </tmp/t106.trim
finish "fstrim while writing"

# --- 5. the reserve: conversions on a full file system --------------------------
# A preallocated file, then the file system filled with data until ENOSPC;
# then every other block of the preallocated file is written, and fsync
# converts each of them, splitting its unwritten extent into a thousand: the
# new tree nodes come from the reserve, so that nothing fails.
fresh
fallocate -l 8M "$mnt/prealloc" || fail "fallocate"
python3 - "$mnt" <<'PY' || fail "conversions on a full file system"
import errno, hashlib, os, random, sys
m = sys.argv[1]
fd = os.open(f"{m}/fill", os.O_WRONLY | os.O_CREAT)
try:
    while True:
        os.write(fd, b"\x5a" * (1 << 20))
except OSError as e:
    assert e.errno == errno.ENOSPC, e
try:
    while True:
        os.write(fd, b"\x5a" * 4096)
except OSError as e:
    assert e.errno == errno.ENOSPC, e
os.fsync(fd)
os.close(fd)
st = os.statvfs(m)
assert st.f_bavail == 0, f"{st.f_bavail} blocks still available after ENOSPC"
rng = random.Random(1062)
blocks = {}
fd = os.open(f"{m}/prealloc", os.O_WRONLY)
for b in range(0, 2048, 2):
    data = rng.randbytes(4096)
    os.pwrite(fd, data, b * 4096)
    blocks[b] = data
os.fsync(fd)
os.close(fd)
with open("/proc/sys/vm/drop_caches", "w") as f:
    f.write("3\n")
with open(f"{m}/prealloc", "rb") as f:
    got = f.read()
assert len(got) == 8 << 20
for b in range(2048):
    want = blocks.get(b, bytes(4096))
    assert got[b * 4096:(b + 1) * 4096] == want, f"block {b} reads back wrong"
PY
# filefrag's summary merges contiguous extents; -v lists each, with its flags.
n=$(filefrag -v "$mnt/prealloc" | grep -c unwritten || true)
note "preallocated file after the writes: $n unwritten extents"
[ "$n" -ge 1000 ] || fail "the writes did not split the preallocated extent ($n unwritten extents)"
finish "conversions on a full file system"

# --- 6. a reservation ends at the last writer's close ---------------------------
# A file appended to 4 KiB at a time has the blocks after its last one set
# aside for its next appends: files written beside it while it is open go
# around them (B, and C written while a second writer came and went). Once
# its last writer closed it, the next file takes the block right after it
# (D), where it would otherwise have gone around the reservation as well.
# The geometry is pinned: 4 KiB blocks, one inode per 4 blocks, so that the
# data goals of the next inode numbers (B, C, D) lie inside A's 64 blocks.
mkfs.rextfs -q -f -b 4096 -N 8192 /dev/vda 32768 || fail "mkfs.rextfs failed"
mount -t rextfs /dev/vda "$mnt" || fail "mount failed"
python3 - "$mnt" <<'PY' || fail "writes beside a reservation"
import os, sys
m = sys.argv[1]
def small(name):
    fd = os.open(f"{m}/{name}", os.O_CREAT | os.O_WRONLY)
    os.write(fd, name.encode() * 1024)
    os.fsync(fd)
    os.close(fd)
a = os.open(f"{m}/resA", os.O_CREAT | os.O_WRONLY)
for _ in range(64):
    os.write(a, b"A" * 4096)
os.fsync(a)
small("resB")
os.close(os.open(f"{m}/resA", os.O_WRONLY))
small("resC")
os.close(a)
small("resD")
PY
# first FILE / last FILE: the first and the last physical block of FILE.
first() { filefrag -v "$1" | awk '$1 == "0:" { gsub(/\.\./, " "); print $4; exit }'; }
last() { filefrag -v "$1" | awk '$1 ~ /^[0-9]+:$/ { gsub(/\.\./, " "); e = $5 } END { sub(/:$/, "", e); print e }'; }
a_end=$(last "$mnt/resA") b=$(first "$mnt/resB") c=$(first "$mnt/resC") d=$(first "$mnt/resD")
note "resA ends at block $a_end; resB at $b, resC at $c (written while resA was open), resD at $d (after its close)"
[ -n "$a_end" ] && [ -n "$b" ] && [ -n "$c" ] && [ -n "$d" ] || fail "filefrag gave no block numbers"
[ "$b" -gt $((a_end + 1)) ] || fail "resB ($b) took a block resA (ending at $a_end) had set aside"
[ "$c" -gt $((a_end + 1)) ] || fail "resC ($c) took a block resA had set aside while resA was still open"
[ "$d" -eq $((a_end + 1)) ] || fail "resD went to $d, not to block $((a_end + 1)) after resA: its reservation outlived its last writer"
for f in A B C D; do
	want=$([ $f = A ] && echo 262144 || echo 4096)
	[ "$(stat -c %s "$mnt/res$f")" = "$want" ] || fail "res$f has the wrong size"
done
finish "a reservation at the last writer's close"
echo "106: allocation checks passed"
