# SPDX-License-Identifier: GPL-2.0
# rextfs-verify on rextfs, the same runs as 050 on ext4 (strict: every
# operation kind must be supported and run, and no setxattr may get ENOSPC,
# which ext4 is allowed), then fsck.rextfs -n must find the filesystem
# clean. A freshly made rextfs that does not mount fails the test.
. "$REPO/tests/vm/lib.sh"
. "$REPO/tests/vm/verify-lib.sh"

mkfs.rextfs -q -f /dev/vdb || fail "mkfs.rextfs failed"
mnt=/tmp/v051
mkdir -p "$mnt"
mount -t rextfs /dev/vdb "$mnt" || fail "a freshly made rextfs does not mount"
verify_suite /dev/vdb "$mnt" "mount -t rextfs /dev/vdb $mnt" strict
umount "$mnt"
fsck.rextfs -n /dev/vdb || fail "fsck.rextfs -n reports errors after the verifier"
