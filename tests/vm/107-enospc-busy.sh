# SPDX-License-Identifier: GPL-2.0
# Allocation while blocks freed by uncommitted transactions are busy (as
# xfstests generic/371 does it, smaller): one loop writes a file of 40% of
# the available space and removes it, another preallocates one of the same
# size (fallocate) and removes it, at once. Both files always fit, but the
# blocks of each removed file stay busy until its transaction commits, so
# allocations must commit and try again rather than fail: no ENOSPC is
# allowed. Afterwards fsck.rextfs -n is clean and the free block and inode
# counts are those of the fresh file system (nothing leaked).
. "$REPO/tests/vm/lib.sh"

mnt=/tmp/t107
mkdir -p "$mnt"
mkfs.rextfs -q -f /dev/vda 12288 || fail "mkfs.rextfs failed"
mount -t rextfs /dev/vda "$mnt" || fail "mount failed"
touch "$mnt/x" && rm "$mnt/x" || fail "create in the root" # the root's first block stays
fresh=$(stat -f -c '%f %d' "$mnt")
avail=$(stat -f -c %a "$mnt")
mb=$((avail * 4 / 10 / 256))
note "$avail blocks available: files of $mb MiB"
[ "$mb" -ge 8 ] || fail "file system too small: $avail blocks available"

# churn NAME CMD: twelve times, makes file NAME with the xfs_io command CMD
# and removes it; xfs_io's messages go to /tmp/t107.NAME.
churn() {
	local i
	for i in $(seq 12); do
		xfs_io -f -c "$2" "$mnt/$1" || return 1
		rm -f "$mnt/$1"
	done 2>"/tmp/t107.$1"
}
churn written "pwrite -q -b 1m 0 ${mb}m" &
w=$!
churn prealloc "falloc 0 ${mb}m" &
p=$!
wait $w || fail "the writing loop failed: $(cat /tmp/t107.written)"
wait $p || fail "the preallocating loop failed: $(cat /tmp/t107.prealloc)"
# xfs_io reports a failed command on stderr without a failing exit status.
! grep -q . /tmp/t107.written /tmp/t107.prealloc ||
	fail "errors: $(cat /tmp/t107.written /tmp/t107.prealloc)"
sync
[ "$(stat -f -c '%f %d' "$mnt")" = "$fresh" ] ||
	fail "free blocks/inodes $(stat -f -c '%f %d' "$mnt") after removing everything, before: $fresh"
umount "$mnt" || fail "umount"
fsck.rextfs -n /dev/vda || fail "fsck after the busy allocations"
exit 0
