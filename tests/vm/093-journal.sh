# SPDX-License-Identifier: GPL-2.0
# The journal, seen from userspace: FS_IOC_SHUTDOWN (xfs_io shutdown) with
# and without a log flush and with the DEFAULT flag (data written back
# first), after which everything fails with EIO and the next mount replays
# the journal; the commit= timer (what completed is
# committed within the interval); norecovery (read-only only); what fsck -n
# and rextfs-dump say about a journal that needs recovery.
# Expects rextfs errors: a commit= out of range, norecovery on a read-write mount, a remount rw of a norecovery mount and recovery on a read-only device are refused with a message.
. "$REPO/tests/vm/lib.sh"

mnt=/tmp/t093
mkdir -p "$mnt"
dev=/dev/vda
mkfs.rextfs -q -f "$dev" || fail "mkfs.rextfs failed"

# --- shutdown with a log flush: completed operations survive ---------------
mount -t rextfs -o commit=3600 "$dev" "$mnt" || fail "mount"
grep -q " $mnt rextfs .*commit=3600" /proc/mounts || fail "commit=3600 not shown: $(grep " $mnt " /proc/mounts)"
head -c 100000 /dev/urandom >/tmp/t093.data
cp /tmp/t093.data "$mnt/synced" && sync "$mnt/synced" || fail "write synced"
mkdir "$mnt/dir" && touch "$mnt/dir/a" "$mnt/dir/b" || fail "namespace ops"
xfs_io -x -c "shutdown -f" "$mnt" || fail "shutdown -f"
dmesg_has "rextfs: vda: file system shut down" || fail "no shutdown message"
expect_fail() { "$@" >/tmp/t093.err 2>&1 && fail "$* succeeded after shutdown"; grep -q "Input/output error" /tmp/t093.err || fail "$*: $(cat /tmp/t093.err)"; }
expect_fail touch "$mnt/new"
expect_fail ls "$mnt/dir"
expect_fail cat "$mnt/synced"
umount "$mnt" || fail "umount after shutdown"
fsck.rextfs -n "$dev" >/tmp/t093.fsck 2>&1 && fail "fsck -n clean although the journal needs recovery"
grep -q "journal needs recovery" /tmp/t093.fsck || fail "fsck -n: $(cat /tmp/t093.fsck)"
rextfs-dump "$dev" journal >/tmp/t093.dump || fail "rextfs-dump journal"
grep -qi "transaction" /tmp/t093.dump || fail "no transaction in the dump: $(cat /tmp/t093.dump)"
mount -t rextfs "$dev" "$mnt" || fail "mount after the shutdown"
dmesg_has "rextfs: vda: journal recovered" || fail "no recovery message"
cmp /tmp/t093.data "$mnt/synced" || fail "synced file after recovery"
[ -e "$mnt/dir/a" ] && [ -e "$mnt/dir/b" ] || fail "names created before shutdown -f lost"
umount "$mnt"
fsck.rextfs -n "$dev" || fail "fsck -n after recovery"

# --- shutdown without a log flush: the running transaction is lost ---------
mount -t rextfs -o commit=3600 "$dev" "$mnt" || fail "mount"
touch "$mnt/kept" && sync -f "$mnt" || fail "syncfs"
touch "$mnt/lost" || fail "touch lost"
xfs_io -x -c "shutdown" "$mnt" || fail "shutdown"
umount "$mnt" || fail "umount"
mount -t rextfs "$dev" "$mnt" || fail "mount after shutdown without flush"
[ -e "$mnt/kept" ] || fail "file committed by syncfs lost"
[ -e "$mnt/lost" ] && fail "uncommitted create survived a shutdown without log flush"
umount "$mnt"
fsck.rextfs -n "$dev" || fail "fsck -n after the second recovery"

# --- shutdown with the DEFAULT flag: dirty data is written back first ---------
# xfs_io has no way to pass FS_SHUTDOWN_FLAGS_DEFAULT (0), so the ioctl is
# called directly: FS_IOC_SHUTDOWN is _IOR('X', 125, __u32).
mount -t rextfs -o commit=3600 "$dev" "$mnt" || fail "mount"
head -c 200000 /dev/urandom >/tmp/t093.dirty
cp /tmp/t093.dirty "$mnt/dirty" || fail "write dirty"
python3 -c 'import fcntl, os, struct, sys; fcntl.ioctl(os.open(sys.argv[1], os.O_RDONLY), 0x8004587d, struct.pack("I", 0))' "$mnt" ||
	fail "shutdown with FS_SHUTDOWN_FLAGS_DEFAULT"
expect_fail cat "$mnt/dirty"
umount "$mnt" || fail "umount"
mount -t rextfs "$dev" "$mnt" || fail "mount after the DEFAULT shutdown"
cmp /tmp/t093.dirty "$mnt/dirty" || fail "data written but not synced before a DEFAULT shutdown was lost"
umount "$mnt"
fsck.rextfs -n "$dev" || fail "fsck -n after the DEFAULT shutdown"

# --- the commit timer -------------------------------------------------------
mount -t rextfs -o commit=1 "$dev" "$mnt" || fail "mount commit=1"
touch "$mnt/timed" || fail "touch timed"
sleep 4
xfs_io -x -c "shutdown" "$mnt" || fail "shutdown"
umount "$mnt"
mount -t rextfs "$dev" "$mnt" || fail "mount"
[ -e "$mnt/timed" ] || fail "the commit timer did not commit within 4 s"
expect_errno EINVAL remount "$mnt" "commit=99999"
umount "$mnt"

# --- norecovery ---------------------------------------------------------------
mount -t rextfs -o commit=3600 "$dev" "$mnt" || fail "mount"
touch "$mnt/n" && sync -f "$mnt" && xfs_io -x -c "shutdown" "$mnt" || fail "shutdown"
umount "$mnt"
expect_errno EINVAL mount "$dev" "$mnt" rextfs norecovery
mount -t rextfs -o ro,norecovery "$dev" "$mnt" || fail "ro,norecovery mount"
dmesg_has "norecovery: the journal is not replayed" || fail "no norecovery warning"
expect_errno EINVAL remount "$mnt" ""
dmesg_has "mounted with norecovery: the journal must be replayed" || fail "no message for the refused remount rw"
umount "$mnt"
mount -t rextfs "$dev" "$mnt" || fail "mount replaying"
[ -e "$mnt/n" ] || fail "committed file lost after a norecovery mount"
umount "$mnt"
fsck.rextfs -n "$dev" || fail "fsck -n at the end"

# --- a read-only mount that replays finishes recovery -----------------------
# As on ext4 and xfs (xfstests generic/417): the orphans of files that were
# open but unlinked at the crash are freed, and the file system is left
# clean, so that fsck -n after the read-only mount finds nothing.
mount -t rextfs -o commit=3600 "$dev" "$mnt" || fail "mount"
head -c 300000 /dev/urandom >"$mnt/kept" && sync "$mnt/kept" || fail "write kept"
for i in 1 2 3; do head -c 50000 /dev/urandom >"$mnt/orphan$i" || fail "write orphan$i"; done
exec 7<"$mnt/orphan1" 8<"$mnt/orphan2" 9<"$mnt/orphan3"
rm "$mnt/orphan1" "$mnt/orphan2" "$mnt/orphan3" || fail "unlink the open files"
xfs_io -x -c "shutdown -f" "$mnt" || fail "shutdown -f"
exec 7<&- 8<&- 9<&-
umount "$mnt" || fail "umount"
mount -t rextfs -o ro "$dev" "$mnt" || fail "read-only mount replaying"
dmesg_has "freed 3 orphan inodes" || fail "the read-only mount did not free the orphans: $(test_dmesg | tail -5)"
[ "$(stat -c %s "$mnt/kept")" = 300000 ] || fail "kept file after the read-only recovery"
touch "$mnt/ro" 2>/tmp/t093.err && fail "touch on a read-only mount"
grep -q "Read-only file system" /tmp/t093.err || fail "touch: $(cat /tmp/t093.err)"
umount "$mnt" || fail "umount ro"
fsck.rextfs -n "$dev" >/tmp/t093.fsck 2>&1 || fail "fsck -n after a read-only recovery: $(cat /tmp/t093.fsck)"

# --- a journal that needs recovery on a read-only device --------------------
# Replaying would write to it: the mount is refused (as ext4 and xfs do,
# xfstests generic/050), and -o ro,norecovery reads it as it is.
mount -t rextfs -o commit=3600 "$dev" "$mnt" || fail "mount"
touch "$mnt/rodev" && sync -f "$mnt" || fail "syncfs"
xfs_io -x -c "shutdown -f" "$mnt" || fail "shutdown -f"
umount "$mnt" || fail "umount"
blockdev --setro "$dev" || fail "blockdev --setro"
mount -t rextfs -o ro "$dev" "$mnt" 2>/tmp/t093.err && fail "mounted a journal that needs recovery on a read-only device"
dmesg_has "the journal needs recovery but the device is read-only" || fail "no message for the read-only device"
test_dmesg | grep -q "Trying to write to read-only block-device" && fail "rextfs wrote to the read-only device"
mount -t rextfs -o ro,norecovery "$dev" "$mnt" || fail "ro,norecovery mount of the read-only device"
umount "$mnt"
blockdev --setrw "$dev" || fail "blockdev --setrw"
mount -t rextfs "$dev" "$mnt" || fail "mount replaying after --setrw"
[ -e "$mnt/rodev" ] || fail "committed file lost"
umount "$mnt"
fsck.rextfs -n "$dev" || fail "fsck -n after the read-only device"
