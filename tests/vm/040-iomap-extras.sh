# SPDX-License-Identifier: GPL-2.0
# The other iomap entry points: O_DIRECT reads and writes (coherent with the
# page cache, extending the file), fallocate (modes 0 and KEEP_SIZE; collapse
# with KEEP_SIZE is refused with EOPNOTSUPP; punch and zero are tested by 041,
# collapse and insert by 045), SEEK_DATA/SEEK_HOLE and FIEMAP over a
# sparse file; fsck.rextfs -n stays clean.
. "$REPO/tests/vm/lib.sh"

mnt=/tmp/t040
mkdir -p "$mnt"
mkfs.rextfs -q -f /dev/vda || fail "mkfs.rextfs failed"
mount -t rextfs /dev/vda "$mnt" || fail "mount failed"

python3 - "$mnt" <<'PY' || fail "python checks"
import errno, mmap, os, sys
d = sys.argv[1]
bs = 4096

def buf(n, seed):
    m = mmap.mmap(-1, n)          # page aligned, as O_DIRECT wants
    m.write(bytes((seed + i * 7) % 251 for i in range(n)))
    return m

# O_DIRECT write extends the file; buffered reads see it; a buffered write
# is seen by an O_DIRECT read.
p = os.path.join(d, "direct")
fd = os.open(p, os.O_CREAT | os.O_RDWR | os.O_DIRECT, 0o644)
a = buf(8 * bs, 1)
assert os.pwrite(fd, a, 4 * bs) == 8 * bs
assert os.fstat(fd).st_size == 12 * bs, os.fstat(fd).st_size
with open(p, "rb") as f:
    data = f.read()
assert data[:4 * bs] == bytes(4 * bs), "hole before the direct write is not zero"
assert data[4 * bs:] == a[:], "buffered read after direct write"
with open(p, "r+b") as f:
    f.seek(5 * bs)
    f.write(b"x" * bs)
r = mmap.mmap(-1, 2 * bs)
assert os.preadv(fd, [r], 4 * bs) == 2 * bs
assert r[:bs] == a[:bs] and r[bs:] == b"x" * bs, "direct read after buffered write"
os.fsync(fd)
os.close(fd)

# fallocate: mode 0 extends the size, KEEP_SIZE does not; both read zeroes.
p = os.path.join(d, "falloc")
fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
os.pwrite(fd, b"head", 0)
os.posix_fallocate(fd, bs, 10 * bs)
assert os.fstat(fd).st_size == 11 * bs
blocks = os.fstat(fd).st_blocks
assert blocks >= 11 * bs // 512, blocks
FALLOC_FL_KEEP_SIZE, FALLOC_FL_COLLAPSE_RANGE = 1, 8
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
assert libc.fallocate(fd, FALLOC_FL_KEEP_SIZE, 20 * bs, 4 * bs) == 0
assert os.fstat(fd).st_size == 11 * bs
assert os.fstat(fd).st_blocks >= blocks + 4 * bs // 512
assert os.pread(fd, 11 * bs, 0) == b"head" + bytes(11 * bs - 4)
r = libc.fallocate(fd, FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_KEEP_SIZE, 0, bs)
assert r == -1 and ctypes.get_errno() == errno.EOPNOTSUPP, (r, ctypes.get_errno())
os.ftruncate(fd, 30 * bs)
assert os.pread(fd, 30 * bs, 0) == b"head" + bytes(30 * bs - 4), "preallocated blocks after extending"
os.close(fd)

# SEEK_DATA / SEEK_HOLE on a sparse file: data at blocks 10..11 and 40.
p = os.path.join(d, "sparse")
fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
os.pwrite(fd, b"a" * 2 * bs, 10 * bs)
os.pwrite(fd, b"b" * bs, 40 * bs)
os.fsync(fd)
assert os.lseek(fd, 0, os.SEEK_DATA) == 10 * bs
assert os.lseek(fd, 10 * bs, os.SEEK_HOLE) == 12 * bs
assert os.lseek(fd, 12 * bs, os.SEEK_DATA) == 40 * bs
assert os.lseek(fd, 40 * bs, os.SEEK_HOLE) == 41 * bs
try:
    os.lseek(fd, 41 * bs, os.SEEK_DATA)
    raise AssertionError("SEEK_DATA past the last data succeeded")
except OSError as e:
    assert e.errno == errno.ENXIO
os.close(fd)
PY

# FIEMAP through filefrag, if present: two extents for the sparse file.
if command -v filefrag >/dev/null; then
	# Two mappings (blocks 10-11 and 40); filefrag merges physically
	# contiguous ones in its count, so count the -v lines.
	out=$(filefrag -v "$mnt/sparse") || fail "filefrag"
	echo "$out" >&2
	[ "$(echo "$out" | grep -cE '^ +[0-9]+: +[0-9]+\.\. +[0-9]+:')" = 2 ] || fail "fiemap mappings"
	echo "$out" | grep -qE '^ +0: +10\.\. +11:' || fail "fiemap: first mapping"
	echo "$out" | grep -qE '^ +1: +40\.\. +40:.*last' || fail "fiemap: last mapping"
else
	python3 - "$mnt/sparse" <<'PY' || fail "FS_IOC_FIEMAP"
import fcntl, struct, sys
FS_IOC_FIEMAP = 0xC020660B
hdr = struct.pack("=QQIIII", 0, 2**64 - 1, 1, 0, 8, 0)   # start, length, flags=SYNC, mapped, count
buf = bytearray(hdr + bytes(56 * 8))
with open(sys.argv[1], "rb") as f:
    fcntl.ioctl(f.fileno(), FS_IOC_FIEMAP, buf)
mapped = struct.unpack_from("=I", buf, 20)[0]
assert mapped == 2, mapped
lo = struct.unpack_from("=Q", buf, 32)[0]
assert lo == 10 * 4096, lo
PY
fi

umount "$mnt" || fail "umount"
fsck.rextfs -n /dev/vda || fail "fsck after the iomap extras"
mount -t rextfs /dev/vda "$mnt" || fail "remount"
[ "$(stat -c %s "$mnt/falloc")" = $((30 * 4096)) ] || fail "size after remount"
cmp <(head -c 4 "$mnt/falloc") <(printf head) || fail "data after remount"
umount "$mnt"
exit 0
