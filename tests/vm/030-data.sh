# SPDX-License-Identifier: GPL-2.0
# Regular file data through iomap: buffered writes and reads, fragmented
# files (extent trees deeper than the inode root), truncate down and up,
# shared writable mmap, fsync; the data read back after dropping the caches
# and after a remount is what was written, and fsck.rextfs -n stays clean.
. "$REPO/tests/vm/lib.sh"

# 092 runs this test again on a disk with 4 KiB sectors, 102 with blocks larger
# than a page (REXTFS_MKFS_OPTS).
dev=${REXTFS_TEST_DEV:-/dev/vda}

mnt=/tmp/t030
ref=/tmp/t030.ref
mkdir -p "$mnt" "$ref"
mkfs.rextfs -q -f ${REXTFS_MKFS_OPTS:-} "$dev" || fail "mkfs.rextfs ${REXTFS_MKFS_OPTS:-} failed"
mount -t rextfs "$dev" "$mnt" || fail "mount failed"
# The root gets its first directory block with its first entry (directories
# never shrink): count free blocks after that.
touch "$mnt/x" && rm "$mnt/x" || fail "create and remove a file"
free0=$(stat -f -c %f "$mnt")

# Sequential data with an odd size.
head -c 3000001 /dev/urandom >"$ref/seq"
cp "$ref/seq" "$mnt/seq" || fail "cp"
cmp "$ref/seq" "$mnt/seq" || fail "read back from the page cache"
sync
echo 3 >/proc/sys/vm/drop_caches
cmp "$ref/seq" "$mnt/seq" || fail "read back after drop_caches"
[ "$(stat -c %s "$mnt/seq")" = 3000001 ] || fail "size"
[ "$(stat -c %b "$mnt/seq")" -ge 5860 ] || fail "i_blocks $(stat -c %b "$mnt/seq")"

# A fragmented file: every other block, written backwards, then the gaps.
python3 - "$mnt/frag" "$ref/frag" <<'PY' || fail "fragmented writes"
import os, random, sys
random.seed(30)
bs, n = 4096, 1200
data = bytearray(random.randbytes(bs * n))
for path in sys.argv[1:]:
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    for i in list(range(0, n, 2))[::-1] + list(range(1, n, 2)):
        os.pwrite(fd, data[i * bs:(i + 1) * bs], i * bs)
    os.fsync(fd)
    os.close(fd)
PY
cmp "$ref/frag" "$mnt/frag" || fail "fragmented file"
rextfs-dump "$dev" inode "$(stat -c %i "$mnt/frag")" | head -5 >&2

# Sparse file: a hole reads as zeroes, SEEK_DATA-free check with cmp.
dd if=/dev/urandom of="$ref/sparse" bs=4096 seek=300 count=3 status=none
dd if="$ref/sparse" of="$mnt/sparse" bs=4096 skip=300 seek=300 count=3 status=none
cmp "$ref/sparse" "$mnt/sparse" || fail "sparse file"

# Truncate down to the middle of a block, then up again: the tail reads zero.
truncate -s 123457 "$ref/seq" "$mnt/seq"
truncate -s 300000 "$ref/seq" "$mnt/seq"
cmp "$ref/seq" "$mnt/seq" || fail "truncate down and up"

# Shared writable mapping, then fsync.
python3 - "$mnt/seq" "$ref/seq" <<'PY' || fail "mmap write"
import mmap, os, sys
for path in sys.argv[1:]:
    fd = os.open(path, os.O_RDWR)
    m = mmap.mmap(fd, 0)
    m[5000:5016] = b"mmap was here..."
    m[200000:200004] = b"\x01\x02\x03\x04"
    m.flush()
    m.close()
    os.fsync(fd)
    os.close(fd)
PY
cmp "$ref/seq" "$mnt/seq" || fail "after mmap"

umount "$mnt" || fail "umount"
fsck.rextfs -n "$dev" || fail "fsck after writing"
mount -t rextfs "$dev" "$mnt" || fail "remount"
for f in seq frag sparse; do cmp "$ref/$f" "$mnt/$f" || fail "$f after remount"; done
rm "$mnt/seq" "$mnt/frag" "$mnt/sparse"
[ "$(stat -f -c %f "$mnt")" = "$free0" ] || fail "blocks leaked: $(stat -f -c %f "$mnt") free, $free0 before"
umount "$mnt" || fail "umount"
fsck.rextfs -n "$dev" || fail "fsck after removing the files"
exit 0
