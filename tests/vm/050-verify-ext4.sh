# SPDX-License-Identifier: GPL-2.0
# rextfs-verify on ext4 (the reference): fixed seeds, a bounded op count, one
# run each of a single file with remounts, several files, several processes
# and several processes sharing one file, strict like 051 (every operation
# kind must be supported and run); then e2fsck must find it clean.
# VERIFY_OPS scales the run (make soak).
. "$REPO/tests/vm/lib.sh"
. "$REPO/tests/vm/verify-lib.sh"

mkfs.ext4 -q -F /dev/vdb
mnt=/tmp/v050
mkdir -p "$mnt"
mount /dev/vdb "$mnt"
# Without attribute ops: see verify-lib.sh (an ext4 zero-range bug).
verify_suite /dev/vdb "$mnt" "mount /dev/vdb $mnt" none
umount "$mnt"
e2fsck -fn /dev/vdb >/dev/null || fail "e2fsck reports errors after the verifier"
