# SPDX-License-Identifier: GPL-2.0
# Inode references that outlive the mount (Documentation/rust/vfs.rst,
# "Objects and references"): an ARef<INode> owns an active reference of its
# super block, so wherever rextfs keeps one (through the test ioctl of
# fs/rextfs/reftest.rs, test builds only), the unmount only detaches the mount
# and the super block lives, device claimed, until the reference is dropped;
# then it is shut down cleanly (no busy inodes, fsck clean, no splat):
#  1. in another inode's private data: dropped when that inode is freed, from
#     an RCU callback, where the release must not sleep (deferred to a worker);
#  2. in a work item that drops it ten seconds after it was made;
#  3. in the super block's private data: the super block stays alive (the
#     documented leak); a new mount of the device gets the same super block,
#     where the reference can be dropped, and the next unmount shuts it down;
#  4. the refused path: put_super asks for an inode while the super block is
#     shut down, and gets ESHUTDOWN;
#  5. the last references to an unlinked file dropped under a spin lock just
#     before the unmount: their iputs (the eviction) are deferred to a worker
#     and the active references dropped at once, so the unmount shuts the
#     super block down itself, waits for the deferred eviction, and returns
#     with the device released (nothing finishes later: umount; fsck is
#     safe);
#  6. the refused path of NewINode::init_security: asked for an inode that
#     iget is reading (not one that new_inode made, whose label is on disk),
#     it fails with EINVAL, and the inode, dropped unread, reads as before.
. "$REPO/tests/vm/lib.sh"

mnt=/tmp/t104
dev=/dev/vda
mkdir -p "$mnt"

# ref FILE MODE: the test ioctl _IO('r', 0xf0) with MODE on FILE.
ref() {
	python3 - "$1" "$2" <<'PY'
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
try:
    fcntl.ioctl(fd, 0x72F0, int(sys.argv[2]))
finally:
    os.close(fd)
PY
}

# claimed: exit 0 if the device is claimed (an exclusive open fails with
# EBUSY: a super block holds it), 1 if it is free, 2 on another error.
claimed() {
	python3 - "$dev" <<'PY'
import errno, os, sys
try:
    os.close(os.open(sys.argv[1], os.O_RDONLY | os.O_EXCL))
except OSError as e:
    sys.exit(0 if e.errno == errno.EBUSY else 2)
sys.exit(1)
PY
}

# wait_released SECONDS: until the device is free.
wait_released() {
	local i rc
	for ((i = 0; i < $1 * 5; i++)); do
		rc=0
		claimed || rc=$?
		[ $rc = 1 ] && return 0
		[ $rc = 2 ] && fail "cannot test whether $dev is claimed"
		sleep 0.2
	done
	return 1
}

check_clean() {
	dmesg_has "Busy inodes" && fail "$1: busy inodes after unmount"
	fsck.rextfs -n "$dev" || fail "$1: fsck.rextfs -n is not clean"
}

mkfs.rextfs -q -f "$dev" || fail "mkfs.rextfs"

# 1. In another inode's private data, released from an RCU callback.
mount -t rextfs "$dev" "$mnt" || fail "mount"
echo one >"$mnt/f"
ref "$mnt/f" 1 || fail "the test ioctl (inode data) failed"
umount "$mnt" || fail "umount with a reference in an inode's data"
claimed || fail "the super block was shut down while an inode's data held a reference"
# Evicting the file frees it (after RCU), which drops its reference to the root.
for _ in 1 2 3 4 5; do
	sync
	echo 3 >/proc/sys/vm/drop_caches
	wait_released 2 && break
done
wait_released 10 || fail "the device is still claimed after the inode holding the reference was freed"
check_clean "inode data"

# 2. In a work item, dropped after the unmount.
mount -t rextfs "$dev" "$mnt" || fail "mount (work item)"
echo two >"$mnt/g"
ref "$mnt/g" 2 || fail "the test ioctl (work item) failed"
umount "$mnt" || fail "umount with a reference in a work item"
claimed || fail "the super block was shut down while a work item held a reference"
wait_released 30 || fail "the device is still claimed after the work item dropped its reference"
dmesg_has "test: work item drops its reference" || fail "the work item did not run"
check_clean "work item"

# 3. In the super block's private data: kept until dropped.
mount -t rextfs "$dev" "$mnt" || fail "mount (super block data)"
ref "$mnt/g" 3 || fail "the test ioctl (super block data) failed"
umount "$mnt" || fail "umount with a reference in the super block's data"
sleep 1
claimed || fail "the super block was shut down while its data held a reference"
mount -t rextfs "$dev" "$mnt" || fail "mount of the device whose super block is still alive"
[ "$(cat "$mnt/g")" = two ] || fail "the file is not there on the super block still alive"
ref "$mnt/g" 4 || fail "the test ioctl (release) failed"
umount "$mnt" || fail "umount after the reference was dropped"
wait_released 10 || fail "the device is still claimed after the super block data's reference was dropped"
check_clean "super block data"

# 4. Refused: no new inode reference while the super block is shut down.
mount -t rextfs "$dev" "$mnt" || fail "mount (put_super)"
ref "$mnt/g" 5 || fail "the test ioctl (iget at put_super) failed"
umount "$mnt" || fail "umount (put_super)"
dmesg_has "test: iget in put_super refused: ESHUTDOWN" ||
	fail "iget during put_super was not refused with ESHUTDOWN"
wait_released 10 || fail "the device is still claimed after a plain unmount"
check_clean "put_super"

# 5. Deferred iputs just before the unmount. The file is unlinked and closed
#    while a work item holds references to it; two seconds later the work
#    drops them under a spin lock, so the last iput (and the eviction, slowed
#    down to eight seconds) runs in the deferred-release worker. The unmount
#    starts during that eviction: it must wait for it and return with the
#    device free.
mount -t rextfs "$dev" "$mnt" || fail "mount (deferred iputs)"
echo five >"$mnt/h"
python3 - "$mnt/h" <<'PY' || fail "the test ioctl (drop under a spin lock) failed"
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.unlink(sys.argv[1])
try:
    fcntl.ioctl(fd, 0x72F0, 6)
finally:
    os.close(fd)
PY
for _ in $(seq 100); do
	dmesg_has "test: slow eviction of inode [0-9]* starts" && break
	sleep 0.2
done
dmesg_has "test: slow eviction of inode [0-9]* starts" || fail "the deferred eviction did not start"
dmesg_has "test: slow eviction of inode [0-9]* done" &&
	fail "the eviction was over before the unmount started: nothing was tested"
umount "$mnt" || fail "umount during a deferred eviction"
dmesg_has "test: slow eviction of inode [0-9]* done" ||
	fail "umount returned while a deferred iput (the eviction) was still running"
rc=0
claimed || rc=$?
[ $rc = 1 ] || fail "the device is not free when umount returns after deferred iputs (claimed: $rc)"
check_clean "deferred iputs"

# 6. init_security refused on an inode being read. The file's inode is
#    evicted from the cache first (no reference left; page cache, dentries
#    and inodes dropped: an inode with cached pages is not evicted), so the
#    test ioctl's iget gets a new inode to read.
mount -t rextfs "$dev" "$mnt" || fail "mount (init_security)"
echo six >"$mnt/s"
echo asker >"$mnt/t"
sync
ino=$(stat -c %i "$mnt/s")
python3 - "$mnt/t" "$ino" <<'PY' || fail "the test ioctl (init_security on an inode being read) failed"
import errno, fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
try:
    for _ in range(20):
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        try:
            fcntl.ioctl(fd, 0x72F0, 7 | (int(sys.argv[2]) << 8))
            break
        except OSError as e:
            if e.errno != errno.EAGAIN:
                raise
            time.sleep(0.2)
    else:
        sys.exit("the inode stayed cached")
finally:
    os.close(fd)
PY
dmesg_has "test: init_security on inode $ino being read refused: EINVAL" ||
	fail "init_security on an inode being read was not refused with EINVAL"
[ "$(cat "$mnt/s")" = six ] || fail "the inode dropped unread does not read as before"
umount "$mnt" || fail "umount (init_security)"
check_clean "init_security"

# And the file system is as it was.
mount -t rextfs "$dev" "$mnt" || fail "mount at the end"
[ "$(cat "$mnt/f")" = one ] && [ "$(cat "$mnt/g")" = two ] || fail "contents changed"
umount "$mnt" || fail "umount at the end"
check_clean "end"
