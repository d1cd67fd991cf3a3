# SPDX-License-Identifier: GPL-2.0
# fallocate COLLAPSE_RANGE and INSERT_RANGE against a model of the file: a
# file of random data (some of it still dirty in the page cache, some written
# with O_DIRECT, a preallocated tail past EOF) loses and gains ranges; the
# contents equal the model after each step, after drop_caches and after a
# remount, inserted ranges are holes, sizes follow. A file of thousands of
# extents (a tree of several levels) is collapsed and inserted into at many
# places. Unaligned ranges, a collapse reaching EOF and an insert at or past
# EOF are EINVAL (with KEEP_SIZE the VFS says EOPNOTSUPP), growing past the
# largest file EFBIG. fsck.rextfs -n stays clean and no block leaks.
. "$REPO/tests/vm/lib.sh"

mnt=/tmp/t045
mkdir -p "$mnt"
mkfs.rextfs -q -f /dev/vda 65536 || fail "mkfs.rextfs failed"
mount -t rextfs /dev/vda "$mnt" || fail "mount failed"
touch "$mnt/.first"
free0=$(stat -f -c %f "$mnt")

python3 - "$mnt" <<'PY' || fail "collapse/insert against the model"
import ctypes, errno, mmap, os, random, subprocess, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
COLLAPSE, INSERT, KEEP = 0x08, 0x20, 0x01
m = sys.argv[1]
rng = random.Random(45)
B = 4096

def falloc(fd, mode, off, n):
    r = libc.fallocate(fd, mode, off, n)
    return 0 if r == 0 else ctypes.get_errno()

def check(path, model, what):
    with open(path, "rb") as f:
        got = f.read()
    if got != bytes(model):
        first = next((i for i in range(min(len(got), len(model))) if got[i] != model[i]), None)
        sys.exit(f"{what}: {path} differs (size {len(got)} vs {len(model)}, first difference at {first})")

def op(fd, model, kind, off, n):
    if kind == "collapse":
        assert falloc(fd, COLLAPSE, off, n) == 0, ("collapse", off, n)
        del model[off:off + n]
    else:
        assert falloc(fd, INSERT, off, n) == 0, ("insert", off, n)
        model[off:off] = bytes(n)

def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3")

# A 2 MiB file: flushed random data, a middle part dirty in the page cache,
# a direct-written part and 256 KiB preallocated past EOF.
p = f"{m}/f"
model = bytearray(rng.randbytes(2 << 20))
fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
os.pwrite(fd, bytes(model), 0)
os.fsync(fd)
dfd = os.open(p, os.O_RDWR | os.O_DIRECT)
buf = mmap.mmap(-1, 64 * B)
buf.write(bytes(model[256 * B:320 * B]))
assert os.pwrite(dfd, buf, 256 * B) == 64 * B
os.close(dfd)
model[100 * B:140 * B] = rng.randbytes(40 * B)
os.pwrite(fd, bytes(model[100 * B:140 * B]), 100 * B)  # dirty, not flushed
assert falloc(fd, KEEP, len(model), 64 * B) == 0

for kind, off, n in [("collapse", 64 * B, 16 * B), ("insert", 4 * B, 8 * B),
                     ("collapse", 0, B), ("insert", 120 * B, 3 * B),
                     ("collapse", 96 * B, 48 * B), ("insert", 0, 2 * B)]:
    op(fd, model, kind, off, n)
    check(p, model, f"after {kind} {off}+{n}")
    assert os.fstat(fd).st_size == len(model)
# An inserted range is a hole.
assert os.lseek(fd, 0, os.SEEK_DATA) == 2 * B, os.lseek(fd, 0, os.SEEK_DATA)

# Refused: unaligned, collapse reaching EOF, insert at EOF, growing too far.
size = len(model)
for mode, off, n, want in [(COLLAPSE, 100, B, errno.EINVAL), (INSERT, B, 100, errno.EINVAL),
                           (COLLAPSE, size - B, B, errno.EINVAL), (COLLAPSE, 0, size, errno.EINVAL),
                           (INSERT, size, B, errno.EINVAL), (COLLAPSE | KEEP, 0, B, errno.EOPNOTSUPP),
                           (INSERT, 0, (1 << 63) - (1 << 20), errno.EFBIG)]:
    r = falloc(fd, mode, off, n)
    assert r == want, (mode, off, n, errno.errorcode.get(r, r))
check(p, model, "after refused calls")
os.close(fd)
drop_caches()
check(p, model, "after drop_caches")

# Thousands of extents: every other block written, so each is an extent.
q = f"{m}/frag"
qm = bytearray(6000 * B)
fd = os.open(q, os.O_RDWR | os.O_CREAT, 0o644)
for i in range(0, 6000, 2):
    blk = rng.randbytes(B)
    qm[i * B:(i + 1) * B] = blk
    os.pwrite(fd, blk, i * B)
os.ftruncate(fd, len(qm))
os.fsync(fd)
levels = subprocess.run(["xfs_io", "-c", "fiemap", q], capture_output=True, text=True).stdout
assert levels.count("\n") > 3000, "not fragmented"
log = []
for step in range(60):
    size = len(qm) // B
    kind = rng.choice(["collapse", "insert"])
    off = rng.randrange(0, size - 2)
    n = rng.randrange(1, min(40, size - off - 1) + 1) if kind == "collapse" else rng.randrange(1, 40)
    log.append(f"{kind} {off}+{n}")
    op(fd, qm, kind, off * B, n * B)
    if rng.random() < 0.2:
        blk = rng.randbytes(B)
        at = rng.randrange(0, len(qm) // B)
        log.append(f"write {at}")
        qm[at * B:(at + 1) * B] = blk
        os.pwrite(fd, blk, at * B)
    if os.fstat(fd).st_size != len(qm):
        sys.exit(f"fragmented file: size {os.fstat(fd).st_size} != {len(qm)} after " + ", ".join(log))
check(q, qm, "fragmented file")
os.close(fd)
drop_caches()
check(q, qm, "fragmented file after drop_caches")
open(f"{m}/models", "wb").write(bytes(model) + bytes(qm))
open(f"{m}/sizes", "w").write(f"{len(model)} {len(qm)}\n")
PY

umount "$mnt" || fail "umount"
fsck.rextfs -n /dev/vda || fail "fsck after collapse and insert"
mount -t rextfs /dev/vda "$mnt" || fail "remount"
read -r s1 s2 <"$mnt/sizes"
cmp <(cat "$mnt/f" "$mnt/frag") "$mnt/models" || fail "contents after a remount"
[ "$(stat -c %s "$mnt/f")" = "$s1" ] && [ "$(stat -c %s "$mnt/frag")" = "$s2" ] || fail "sizes after a remount"
rm -f "$mnt/f" "$mnt/frag" "$mnt/models" "$mnt/sizes"
[ "$(stat -f -c %f "$mnt")" = "$free0" ] || fail "blocks leaked: $(stat -f -c %f "$mnt") free, $free0 before"
umount "$mnt" || fail "umount"
fsck.rextfs -n /dev/vda || fail "fsck at the end"
exit 0
