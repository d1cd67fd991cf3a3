# SPDX-License-Identifier: GPL-2.0
# rextfs-verify on rextfs, the same runs as 050 on ext4, then fsck.rextfs -n
# must find the filesystem clean. Skips while a freshly made rextfs does not
# mount (and only then).
. "$REPO/tests/vm/lib.sh"
. "$REPO/tests/vm/verify-lib.sh"

mkfs.rextfs -q -f /dev/vdb || fail "mkfs.rextfs failed"
mnt=/tmp/v051
mkdir -p "$mnt"
if ! mount -t rextfs /dev/vdb "$mnt" 2>/dev/null; then
	echo "skip: rextfs does not mount yet"
	exit 0
fi
verify_suite /dev/vdb "$mnt" "mount -t rextfs /dev/vdb $mnt"
umount "$mnt"
fsck.rextfs -n /dev/vdb || fail "fsck.rextfs -n reports errors after the verifier"
