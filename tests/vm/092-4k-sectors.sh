# SPDX-License-Identifier: GPL-2.0
# A disk with 4 KiB logical sectors (scripts/test attaches one): a file system
# with 1 KiB blocks is refused at mount with a message (the device cannot read
# less than 4 KiB), one with 4 KiB blocks mounts read-write and passes the
# data test (030 runs again on it: O_DIRECT alignment is where the sector size
# shows), and the verifier's single-file run (buffered, O_DIRECT, mmap,
# fallocate, remounts) on it. The namespace tests (020, 021) are not repeated:
# directory and journal blocks are whole 4 KiB blocks on either disk, read and
# written by the same code.
# Expects rextfs errors: the 1 KiB-block file system is refused with a message.
. "$REPO/tests/vm/lib.sh"

dev=
for q in /sys/block/vd*/queue/logical_block_size; do
	[ "$(cat "$q")" = 4096 ] || continue
	dev=/dev/$(basename "$(dirname "$(dirname "$q")")")
done
[ -n "$dev" ] || fail "no disk with 4 KiB logical sectors: scripts/vm --disk4k attaches one"
note "4 KiB-sector disk: $dev"

mnt=/tmp/t092
mkdir -p "$mnt"
mkfs.rextfs -q -f -b 1024 "$dev" || fail "mkfs.rextfs -b 1024"
if mount -t rextfs "$dev" "$mnt" 2>/dev/null; then
	umount "$mnt"
	fail "1 KiB blocks on a 4 KiB-sector device mounted"
fi
dmesg_has "rextfs.*block size 1024 not supported by the device" ||
	fail "no message for the refused block size"

for t in 030-data; do
	note "$t on $dev"
	(cd /tmp && REXTFS_TEST_DEV=$dev bash "$REPO/tests/vm/$t.sh") || fail "$t on 4 KiB sectors"
done

mkfs.rextfs -q -f "$dev" || fail "mkfs.rextfs"
mount -t rextfs "$dev" "$mnt" || fail "mount"
mkdir "$mnt/v"
rextfs-verify --log-dir "${REXTFS_OUT:-/tmp}" --seed 0x4096 --ops 600 \
	--remount-cmd "cd / && umount $mnt && mount -t rextfs $dev $mnt" --remount-every 200 \
	"$mnt/v" || fail "verifier on 4 KiB sectors"
umount "$mnt" || fail "umount"
fsck.rextfs -n "$dev" || fail "fsck after the verifier"
exit 0
