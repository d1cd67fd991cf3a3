# SPDX-License-Identifier: GPL-2.0
# ENOSPC: a small file system filled with file data until writes fail with
# ENOSPC, then directories that must grow and new directories that need
# their first block fail with ENOSPC too; a file system with few inodes
# filled with files and directories until creation fails with ENOSPC. After
# each, fsck.rextfs -n is clean, and once everything is deleted the free
# block and inode counts (statfs) are exactly those before (no leaks).
. "$REPO/tests/vm/lib.sh"

mnt=/tmp/t081
mkdir -p "$mnt"

# fill_data DIR: writes files of 1 MiB chunks until ENOSPC (checked errno),
# then small files in a growing directory until ENOSPC.
fill_data() {
	python3 - "$1" <<'PY'
import errno, os, sys
d = sys.argv[1]
def fill(path, chunk):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    total = 0
    try:
        while True:
            total += os.write(fd, b"\xa5" * chunk)
    except OSError as e:
        assert e.errno == errno.ENOSPC, f"write to {path}: {e}"
    finally:
        os.close(fd)
    return total
big = fill(f"{d}/big", 1 << 20)
small = fill(f"{d}/small", 4096)
st = os.statvfs(d)
print(f"wrote {big} + {small} bytes; {st.f_bavail} blocks available", file=sys.stderr)
assert big > 0
# A new directory has no block yet: its first entry needs one.
os.mkdir(f"{d}/sub")
while os.statvfs(d).f_bavail > 0:  # anything left (directory blocks, tree nodes) goes
    try:
        fill(f"{d}/filler-{os.statvfs(d).f_bavail}", 4096)
    except OSError as e:
        assert e.errno == errno.ENOSPC, e
        break
try:
    os.close(os.open(f"{d}/sub/x", os.O_CREAT | os.O_WRONLY))
    sys.exit("create in a blockless directory succeeded on a full file system")
except OSError as e:
    assert e.errno == errno.ENOSPC, f"create in sub: {e}"
# Fill the root directory's blocks with long names until it must grow.
long = "n" * 200
n = 0
try:
    while True:
        os.close(os.open(f"{d}/{n:06d}{long}", os.O_CREAT | os.O_WRONLY))
        n += 1
except OSError as e:
    assert e.errno == errno.ENOSPC, f"create {n}: {e}"
print(f"{n} more names before the directory had to grow", file=sys.stderr)
# Data read back is intact.
with open(f"{d}/big", "rb") as f:
    data = f.read()
assert len(data) == big and data == b"\xa5" * big, "big file content"
PY
}

# --- data ---------------------------------------------------------------
mkfs.rextfs -q -f /dev/vda 2048 || fail "mkfs.rextfs failed"
mount -t rextfs /dev/vda "$mnt" || fail "mount failed"
touch "$mnt/x" && rm "$mnt/x" || fail "create in the root" # the root's first block stays
fresh=$(stat -f -c '%f %d' "$mnt")
fill_data "$mnt" || fail "filling with data"
# Only the reserve for tree nodes is left: free, not available.
[ "$(stat -f -c %a "$mnt")" = 0 ] || fail "available blocks after filling: $(stat -f -c %a "$mnt")"
[ "$(stat -f -c %f "$mnt")" -gt 0 ] || fail "no free blocks (the reserve) after filling"
! dd if=/dev/zero of="$mnt/more" bs=4k count=1 2>/tmp/t081.dd || fail "dd succeeded on a full fs"
grep -q "No space left on device" /tmp/t081.dd || fail "dd: $(cat /tmp/t081.dd)"
umount "$mnt" || fail "umount"
fsck.rextfs -n /dev/vda >&2 || fail "fsck after filling with data"
mount -t rextfs /dev/vda "$mnt" || fail "remount"
[ "$(stat -c %s "$mnt/big")" -gt 0 ] || fail "big file after remount"
rm -rf "${mnt:?}"/* || fail "rm"
[ "$(stat -f -c '%f %d' "$mnt")" = "$fresh" ] ||
	fail "free blocks/inodes $(stat -f -c '%f %d' "$mnt") after deleting everything, before: $fresh"
umount "$mnt" || fail "umount"
fsck.rextfs -n /dev/vda >&2 || fail "fsck after deleting the data"

# --- inodes -------------------------------------------------------------
mkfs.rextfs -q -f -N 64 /dev/vda 4096 || fail "mkfs.rextfs -N 64 failed"
mount -t rextfs /dev/vda "$mnt" || fail "mount failed"
touch "$mnt/x" && rm "$mnt/x" || fail "create in the root"
fresh=$(stat -f -c '%f %d' "$mnt")
free_inodes=$(stat -f -c %d "$mnt")
python3 - "$mnt" "$free_inodes" <<'PY' || fail "filling the inodes"
import errno, os, sys
d, free = sys.argv[1], int(sys.argv[2])
made = 0
os.mkdir(f"{d}/dirs"); made += 1
try:
    while True:
        if made % 3 == 0:
            os.mkdir(f"{d}/dirs/d{made}")
        else:
            with open(f"{d}/f{made}", "w") as f:
                f.write("x" * made)
        made += 1
except OSError as e:
    assert e.errno == errno.ENOSPC, f"after {made}: {e}"
assert made == free, f"made {made} inodes, {free} were free"
assert os.statvfs(d).f_ffree == 0
for name in ("late", "dirs/late"):
    try:
        os.mkdir(f"{d}/{name}")
        sys.exit("mkdir succeeded without free inodes")
    except OSError as e:
        assert e.errno == errno.ENOSPC, e
# Links need no inode.
os.link(f"{d}/f1", f"{d}/dirs/link")
with open(f"{d}/f2") as f:
    assert f.read() == "xx"
PY
umount "$mnt" || fail "umount"
fsck.rextfs -n /dev/vda >&2 || fail "fsck after filling the inodes"
mount -t rextfs /dev/vda "$mnt" || fail "remount"
rm -rf "${mnt:?}"/* || fail "rm"
[ "$(stat -f -c '%f %d' "$mnt")" = "$fresh" ] ||
	fail "free blocks/inodes $(stat -f -c '%f %d' "$mnt") after deleting everything, before: $fresh"
umount "$mnt" || fail "umount"
fsck.rextfs -n /dev/vda >&2 || fail "fsck after deleting everything"
exit 0
