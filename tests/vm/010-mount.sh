# SPDX-License-Identifier: GPL-2.0
# Mounting a freshly made rextfs: the empty root can be listed and looked up
# in, statfs reports the super block's counts, the file system stays clean
# for fsck, and damaged super blocks are refused with a clear message.
# Expects rextfs errors: bad magic and a bad checksum are refused with a message.
. "$REPO/tests/vm/lib.sh"

mnt=/tmp/t010
mkdir -p "$mnt"
mkfs.rextfs -q -f /dev/vda || fail "mkfs.rextfs failed"

mount -t rextfs -o ro /dev/vda "$mnt" || fail "read-only mount of a fresh rextfs failed"
grep -q " $mnt rextfs ro" /proc/mounts || fail "not mounted read-only: $(grep " $mnt " /proc/mounts)"
[ -z "$(ls -A "$mnt")" ] || fail "the root of a fresh file system is not empty: $(ls -A "$mnt")"
[ "$(ls -a "$mnt" | tr '\n' ' ')" = ". .. " ] || fail "readdir of the root: $(ls -a "$mnt")"
[ "$(stat -c '%F %a %h %s' "$mnt")" = "directory 755 2 0" ] ||
	fail "root attributes: $(stat -c '%F %a %h %s' "$mnt")"
[ "$(stat -c %i "$mnt")" = 1 ] || fail "root inode number is $(stat -c %i "$mnt")"
[ "$(stat -c %i "$mnt/..")" != "" ] || fail "cannot stat .."
! stat "$mnt/missing" 2>/dev/null || fail "lookup of a missing name succeeded"
err=$(stat "$mnt/missing" 2>&1) || true
echo "$err" | grep -q "No such file" || fail "lookup of a missing name: $err"

# statfs: the block size and the counts of the super block.
sbdump=$(rextfs-dump /dev/vda sb)
note "$sbdump"
# "blocks   262144 (258035 free)", "inodes   65536 (65529 free)"
free=$(echo "$sbdump" | awk '$1 == "blocks" {sub(/^\(/, "", $3); print $3; exit}')
ffree=$(echo "$sbdump" | awk '$1 == "inodes" {sub(/^\(/, "", $3); print $3; exit}')
[ "$(stat -f -c %S "$mnt")" = 4096 ] || fail "statfs block size $(stat -f -c %S "$mnt")"
[ "$(stat -f -c %t "$mnt")" = 42535852 ] || fail "statfs magic $(stat -f -c %t "$mnt")"
[ -n "$free" ] && [ "$(stat -f -c %f "$mnt")" = "$free" ] ||
	fail "statfs free blocks $(stat -f -c %f "$mnt"), super block says $free"
[ -n "$ffree" ] && [ "$(stat -f -c %d "$mnt")" = "$ffree" ] ||
	fail "statfs free inodes $(stat -f -c %d "$mnt"), super block says $ffree"
df "$mnt" >/dev/null || fail "df failed"

umount "$mnt" || fail "umount failed"
fsck.rextfs -n /dev/vda || fail "fsck.rextfs -n is not clean after a read-only mount"

# Read-write: the state is dirty while mounted, clean again after umount, and
# remounting read-only marks it clean at once.
mount -t rextfs /dev/vda "$mnt" || fail "read-write mount failed"
rextfs-dump /dev/vda sb | grep -q "^state *clean" && fail "state still clean while mounted read-write"
mount -o remount,ro "$mnt" || fail "remount ro failed"
rextfs-dump /dev/vda sb | grep -q "^state *clean" || fail "state not clean after remount ro"
mount -o remount,rw "$mnt" || fail "remount rw failed"
[ "$(ls -a "$mnt" | tr '\n' ' ')" = ". .. " ] || fail "readdir after remount: $(ls -a "$mnt")"
umount "$mnt" || fail "umount failed"
rextfs-dump /dev/vda sb | grep -q "^state *clean" || fail "state not clean after umount"
fsck.rextfs -n /dev/vda || fail "fsck.rextfs -n is not clean after a read-write mount"

# An unclean file system (the super block of a mounted one, with an empty
# journal) mounts read-write without fsck: the journal keeps it consistent.
mount -t rextfs /dev/vda "$mnt" || fail "read-write mount failed"
dd if=/dev/vda of=/tmp/t010.sb bs=1024 count=1 status=none
umount "$mnt"
dd if=/tmp/t010.sb of=/dev/vda bs=1024 count=1 conv=notrunc status=none
rextfs-dump /dev/vda sb | grep -q "^state *clean" && fail "the copied super block says clean"
mount -t rextfs /dev/vda "$mnt" || fail "read-write mount of an unclean file system failed"
umount "$mnt"
rextfs-dump /dev/vda sb | grep -q "^state *clean" || fail "state not clean after umount"
fsck.rextfs -n /dev/vda || fail "fsck -n not clean after mounting an unclean file system"

# A damaged super block: checksum mismatch is corruption (EUCLEAN), no crash.
printf '\x55' | dd of=/dev/vda bs=1 seek=$((0x28)) conv=notrunc status=none
expect_errno EUCLEAN mount /dev/vda "$mnt" rextfs ro
dmesg_has "rextfs: vda: invalid rextfs super block: checksum mismatch" ||
	fail "no clear kernel message for a corrupted super block"
! grep -q " $mnt " /proc/mounts || fail "a corrupted file system got mounted"

# Another file system's super block (bad magic) is EINVAL.
mkfs.rextfs -q -f /dev/vda || fail "mkfs.rextfs failed"
printf 'XXXX' | dd of=/dev/vda bs=1 seek=0 conv=notrunc status=none
expect_errno EINVAL mount /dev/vda "$mnt" rextfs ro
dmesg_has "rextfs: vda: no rextfs super block found" || fail "no message for bad magic"
exit 0
