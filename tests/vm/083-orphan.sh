# SPDX-License-Identifier: GPL-2.0
# The orphan list: a file unlinked while open stays readable and keeps its
# blocks until the last close (statfs), then is freed; O_TMPFILE files are
# freed at close unless linkat (/proc/self/fd and AT_EMPTY_PATH) names them;
# an open directory removed with rmdir; a snapshot of the device taken while
# unlinked files are open (some already closed, in a random order) holds
# exactly those still open on the orphan list, and mounting it frees them. fsck.rextfs -n is clean after each umount.
. "$REPO/tests/vm/lib.sh"

mnt=/tmp/t083
mkdir -p "$mnt"
mkfs.rextfs -q -f /dev/vda 4096 || fail "mkfs.rextfs failed"
mount -t rextfs /dev/vda "$mnt" || fail "mount failed"
touch "$mnt/x" && rm "$mnt/x" || fail "create in the root" # the root's first block stays
fresh=$(stat -f -c '%f %d' "$mnt")

python3 - "$mnt" <<'PY' || fail "orphans while mounted"
import ctypes, os, subprocess, sys
d = sys.argv[1]
def free():
    st = os.statvfs(d)
    return st.f_bfree, st.f_ffree
def orphan_head():
    # The home super block is written at journal checkpoints: a freeze makes one.
    subprocess.run(["fsfreeze", "-f", d], check=True)
    try:
        out = subprocess.run(["rextfs-dump", "/dev/vda", "sb"], capture_output=True, text=True, check=True).stdout
    finally:
        subprocess.run(["fsfreeze", "-u", d], check=True)
    return int(next(l for l in out.splitlines() if l.startswith("orphan head")).split()[-1])
base = free()
data = os.urandom(1 << 20)

# Unlinked while open.
fd = os.open(f"{d}/victim", os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, data)
os.fsync(fd)
used = free()
assert used[0] <= base[0] - 256, (base, used)
os.unlink(f"{d}/victim")
assert not os.path.exists(f"{d}/victim")
assert free() == used, "blocks freed while the file is open"
ino = os.fstat(fd).st_ino
assert orphan_head() == ino, f"orphan head {orphan_head()}, expected {ino}"
os.write(fd, b"more")
assert os.pread(fd, len(data), 0) == data, "data of the unlinked file"
assert os.fstat(fd).st_nlink == 0
os.close(fd)
assert free() == base, f"after the last close {free()}, before {base}"
assert orphan_head() == 0, "orphan list not empty after close"

# Two orphans at once, closed in creation order (the first is not the head).
fds = []
for i in range(3):
    fd = os.open(f"{d}/o{i}", os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, data[: 4096 * (i + 1)])
    os.unlink(f"{d}/o{i}")
    fds.append(fd)
for fd in fds:
    os.close(fd)
assert free() == base and orphan_head() == 0, "orphans left after closing three"

# O_TMPFILE, never linked: freed at close.
fd = os.open(d, os.O_TMPFILE | os.O_RDWR, 0o600)
os.write(fd, data)
assert os.fstat(fd).st_nlink == 0
assert orphan_head() == os.fstat(fd).st_ino
os.close(fd)
assert free() == base, "unlinked O_TMPFILE file not freed"

# O_TMPFILE linked in through /proc/self/fd (linkat with AT_SYMLINK_FOLLOW:
# Python's os.link calls link(2), which does not follow the magic link).
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, AT_SYMLINK_FOLLOW, AT_EMPTY_PATH = -100, 0x400, 0x1000
fd = os.open(d, os.O_TMPFILE | os.O_RDWR, 0o640)
os.write(fd, data)
if libc.linkat(AT_FDCWD, f"/proc/self/fd/{fd}".encode(), AT_FDCWD, f"{d}/named".encode(),
               AT_SYMLINK_FOLLOW) != 0:
    sys.exit(f"linkat /proc/self/fd: {os.strerror(ctypes.get_errno())}")
assert os.fstat(fd).st_nlink == 1
assert orphan_head() == 0, "linked O_TMPFILE file still an orphan"
os.close(fd)
with open(f"{d}/named", "rb") as f:
    assert f.read() == data, "content of the linked O_TMPFILE file"
assert oct(os.stat(f"{d}/named").st_mode & 0o777) == oct(0o640)

# O_TMPFILE linked in with linkat(AT_EMPTY_PATH) (needs CAP_DAC_READ_SEARCH: root).
fd = os.open(d, os.O_TMPFILE | os.O_WRONLY, 0o600)
os.write(fd, b"empty path")
if libc.linkat(fd, b"", AT_FDCWD, f"{d}/named2".encode(), AT_EMPTY_PATH) != 0:
    sys.exit(f"linkat AT_EMPTY_PATH: {os.strerror(ctypes.get_errno())}")
os.close(fd)
assert open(f"{d}/named2", "rb").read() == b"empty path"

# A removed directory still open.
os.mkdir(f"{d}/gone")
dfd = os.open(f"{d}/gone", os.O_RDONLY | os.O_DIRECTORY)
os.rmdir(f"{d}/gone")
assert os.listdir(dfd) == []
os.close(dfd)
assert orphan_head() == 0
PY
rm "$mnt/named" "$mnt/named2" || fail "rm"
[ "$(stat -f -c '%f %d' "$mnt")" = "$fresh" ] || fail "counts $(stat -f -c '%f %d' "$mnt"), before: $fresh"
umount "$mnt" || fail "umount"
fsck.rextfs -n /dev/vda >&2 || fail "fsck after the orphans"

# A crash image: unlinked files still open, the device copied after sync.
mount -t rextfs /dev/vda "$mnt" || fail "mount"
python3 - "$mnt" <<'PY' || fail "making the crash image"
import os, subprocess, sys
d = sys.argv[1]
data = os.urandom(3 << 20)
fds = []
for i, name in enumerate(("a", "b")):
    fd = os.open(f"{d}/{name}", os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, data[: (i + 1) << 20])
    os.unlink(f"{d}/{name}")
    fds.append(fd)
fds.append(os.open(d, os.O_TMPFILE | os.O_RDWR, 0o600))
os.write(fds[-1], data)
# 200 more (every third an O_TMPFILE file), half of them closed in a random
# order: taking inodes off the middle of the list keeps it whole.
import random
rng = random.Random(83)
small = []
for i in range(200):
    if i % 3 == 0:
        fd = os.open(d, os.O_TMPFILE | os.O_RDWR, 0o600)
    else:
        fd = os.open(f"{d}/s{i}", os.O_RDWR | os.O_CREAT, 0o644)
        os.unlink(f"{d}/s{i}")
    os.write(fd, data[: 4096 * rng.randint(0, 3)])
    small.append(fd)
rng.shuffle(small)
for fd in small[:100]:
    os.close(fd)
fds += small[100:]
with open(f"{d}/keep", "wb") as f:
    f.write(b"kept")
subprocess.run(["sync"], check=True)
subprocess.run(["dd", "if=/dev/vda", "of=/dev/vdb", "bs=1M", "count=16", "iflag=direct",
                "oflag=direct", "status=none"], check=True)
for fd in fds:
    os.close(fd)
PY
umount "$mnt" || fail "umount"
fsck.rextfs -n /dev/vda >&2 || fail "fsck of the original after closing"
# The copy is the image of a mounted file system: a crash image. Its journal
# holds what `sync` committed (home blocks are written at checkpoints only),
# so fsck -n says it needs recovery (or, after a checkpoint, finds the
# orphans); mount replays it, then frees the orphans.
fsck.rextfs -n /dev/vdb >/tmp/t083.fsck 2>&1 || true
grep -Eqi "needs recovery|orphan" /tmp/t083.fsck || fail "fsck -n of the copy: $(cat /tmp/t083.fsck)"
mount -t rextfs /dev/vdb "$mnt" || fail "mounting the copy"
test_dmesg | grep -q 'freed 103 orphan inodes' || fail "orphans freed at mount: $(test_dmesg | tail -5)"
[ "$(cat "$mnt/keep")" = kept ] || fail "kept file"
rm "$mnt/keep"
[ "$(stat -f -c '%f %d' "$mnt")" = "$fresh" ] || fail "counts after the orphans were freed $(stat -f -c '%f %d' "$mnt"), fresh: $fresh"
umount "$mnt" || fail "umount the copy"
fsck.rextfs -n /dev/vdb >&2 || fail "fsck of the copy after mount-time orphan processing"

# Eviction while frozen: the last close of an unlinked file frees its blocks,
# a write of the file system's own. While frozen nothing is written, even
# with the commit timer running: the close returns, the inode stays on the
# orphan list, and it is freed when the file system is thawed.
mount -t rextfs -o commit=1 /dev/vda "$mnt" || fail "mount for the frozen eviction"
base=$(stat -f -c %f "$mnt")
head -c 1048576 /dev/urandom >"$mnt/frozen" && sync || fail "write frozen"
exec 3<"$mnt/frozen"
rm "$mnt/frozen" || fail "unlink the open file"
fsfreeze -f "$mnt" || fail "fsfreeze -f"
before=$(dd if=/dev/vda bs=1M count=16 iflag=direct status=none | md5sum)
exec 3<&-
sleep 3
after=$(dd if=/dev/vda bs=1M count=16 iflag=direct status=none | md5sum)
[ "$before" = "$after" ] || fail "the device changed while frozen"
fsfreeze -u "$mnt" || fail "fsfreeze -u"
[ "$(stat -f -c %f "$mnt")" = "$base" ] || fail "the orphan evicted while frozen was not freed at the thaw ($(stat -f -c %f "$mnt") free, $base before)"
umount "$mnt" || fail "umount after the frozen eviction"
fsck.rextfs -n /dev/vda >&2 || fail "fsck after the frozen eviction"
exit 0
