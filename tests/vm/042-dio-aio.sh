# SPDX-License-Identifier: GPL-2.0
# Direct I/O on rextfs: fio with libaio and io_uring (direct=1, crc32c verify)
# on allocating writes (a new sparse file), overwrites and extending writes,
# the data verified again after drop_caches and a remount; xfs_io -d
# pwrite/pread against buffered reads, sub-block and extending writes,
# a preallocated range left unwritten; no unwritten extent is left
# under data that was written; statx reports STATX_DIOALIGN; fsck.rextfs -n
# stays clean.
. "$REPO/tests/vm/lib.sh"

mnt=/tmp/t042
mkdir -p "$mnt"
mkfs.rextfs -q -f /dev/vda || fail "mkfs.rextfs failed"
mount -t rextfs /dev/vda "$mnt" || fail "mount failed"

# fio_run NAME ARGS...: one fio job; it must report no error and verify.
fio_run() {
	local name=$1
	shift
	local out
	out=$(fio --name="$name" --direct=1 --verify=crc32c --verify_fatal=1 \
		--output-format=terse --terse-version=3 "$@" 2>&1) || fail "fio $name: $out"
	# Terse v3: field 5 is the job's error code.
	[ "$(echo "$out" | tail -n 1 | cut -d';' -f5)" = 0 ] || fail "fio $name reported an error: $out"
}
# unwritten FILE: the number of unwritten extents fiemap reports.
unwritten() {
	xfs_io -c "fiemap -v" "$1" | awk '$NF ~ /^0x/ && $NF != "0x0" && $NF != "0x1" {n++} END {print n + 0}'
}

# Allocating random writes into a new file, queue depth 16, both engines; then
# overwrites of the same blocks with a different pattern.
for eng in libaio io_uring; do
	f=$mnt/$eng
	fio_run "alloc-$eng" --filename="$f" --ioengine=$eng --iodepth=16 --rw=randwrite \
		--bs=16k --size=12m --randrepeat=1
	[ "$(stat -c %s "$f")" = $((12 << 20)) ] || fail "$eng: size $(stat -c %s "$f")"
	[ "$(unwritten "$f")" = 0 ] || fail "$eng: unwritten extents left after the writes"
	fio_run "over-$eng" --filename="$f" --ioengine=$eng --iodepth=16 --rw=randwrite \
		--bs=4k --size=12m --randrepeat=1 --verify_pattern=0x5ca1ab1e
	# Mixed random reads and writes on a new file, verified as they go.
	fio_run "mixed-$eng" --filename="$mnt/mixed-$eng" --ioengine=$eng --iodepth=8 --rw=randrw \
		--bs=8k --size=4m --verify_backlog=64
done
# Extending sequential writes (each ends past EOF, so each is waited for).
fio_run extend --filename="$mnt/extend" --ioengine=libaio --iodepth=8 --rw=write --bs=64k \
	--size=8m
[ "$(stat -c %s "$mnt/extend")" = $((8 << 20)) ] || fail "extending writes: size $(stat -c %s "$mnt/extend")"

# Data again after drop_caches and after a remount: verify_only replays the
# same seeded job and checks every block.
sync
echo 3 >/proc/sys/vm/drop_caches
fio_run "again-io_uring" --filename="$mnt/io_uring" --ioengine=io_uring --iodepth=16 --rw=randwrite \
	--bs=4k --size=12m --randrepeat=1 --verify_pattern=0x5ca1ab1e --verify_only
umount "$mnt" || fail "umount"
fsck.rextfs -n /dev/vda || fail "fsck after fio"
mount -t rextfs /dev/vda "$mnt" || fail "remount"
fio_run "again-libaio" --filename="$mnt/libaio" --ioengine=libaio --iodepth=16 --rw=randwrite \
	--bs=4k --size=12m --randrepeat=1 --verify_pattern=0x5ca1ab1e --verify_only
fio_run "again-extend" --filename="$mnt/extend" --ioengine=libaio --iodepth=8 --rw=write --bs=64k \
	--size=8m --verify_only

# xfs_io -d: sequential extending writes, sub-block writes into holes and
# into unwritten ranges, against buffered reads of the same file.
f=$mnt/x
xfs_io -f -d -c "pwrite -S 0x5a -b 64k 0 1m" -c "pwrite -S 0x5b 1m 64k" "$f" >/dev/null || fail "xfs_io -d pwrite"
[ "$(stat -c %s "$f")" = $((1024 * 1024 + 65536)) ] || fail "size after extending direct writes"
xfs_io -d -c "pwrite -S 0x5c 2m 512" -c "pwrite -S 0x5d 2999808 1536" "$f" >/dev/null || fail "sub-block direct writes"
xfs_io -c "falloc 4m 1m" "$f" || fail "falloc"
python3 - "$f" <<'PY' || fail "direct-written data"
import mmap, os, sys
want = bytearray(5 << 20)
def put(off, n, b):
    want[off:off + n] = bytes([b]) * n
put(0, 1 << 20, 0x5a); put(1 << 20, 65536, 0x5b); put(2 << 20, 512, 0x5c)
put(2999808, 1536, 0x5d)
p = sys.argv[1]
assert os.stat(p).st_size == len(want), os.stat(p).st_size
with open(p, "rb") as f:
    assert f.read() == want, "buffered read differs"
fd = os.open(p, os.O_RDONLY | os.O_DIRECT)
buf = mmap.mmap(-1, 5 << 20)
n = os.preadv(fd, [buf], 0)
assert n == len(want) and buf[:n] == want, "direct read differs"
os.close(fd)
PY
# The sub-block writes zeroed the rest of their blocks; the preallocated
# range stays one unwritten extent.
sync
echo 3 >/proc/sys/vm/drop_caches
cmp <(dd if="$f" bs=512 skip=$((2 * 2048 + 1)) count=7 status=none) <(head -c 3584 /dev/zero) ||
	fail "the rest of a sub-block write's block is not zero"
[ "$(unwritten "$f")" = 1 ] || { xfs_io -c "fiemap -v" "$f" >&2; fail "unwritten extents of x"; }

# statx: STATX_DIOALIGN with the device's sector and DMA alignment (512 on
# vda; 101-dio-align tests I/O at it), and I/O at the block size works.
python3 - "$f" <<'PY' || fail "statx dioalign"
import ctypes, mmap, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
STATX_DIOALIGN, AT_FDCWD = 0x2000, -100
buf = ctypes.create_string_buffer(256)
r = libc.statx(AT_FDCWD, sys.argv[1].encode(), 0, STATX_DIOALIGN, buf)
assert r == 0, ctypes.get_errno()
mask = struct.unpack_from("I", buf, 0)[0]
mem, off = struct.unpack_from("II", buf, 152)
assert mask & STATX_DIOALIGN, hex(mask)
assert (mem, off) == (512, 512), (mem, off)
off = 4096
fd = os.open(sys.argv[1], os.O_RDWR | os.O_DIRECT)
b = mmap.mmap(-1, off)
b.write(b"\x42" * off)
assert os.pwrite(fd, b, 5 * off) == off
r = mmap.mmap(-1, off)
assert os.preadv(fd, [r], 5 * off) == off and r[:] == b"\x42" * off
os.close(fd)
PY

umount "$mnt" || fail "umount"
fsck.rextfs -n /dev/vda || fail "fsck at the end"
exit 0
