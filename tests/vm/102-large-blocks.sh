# SPDX-License-Identifier: GPL-2.0
# Blocks larger than a page (8 KiB and 64 KiB, on x86's 4 KiB pages) mount
# read-write, as XFS's do since 6.12: the file system type says FS_LBS and every
# inode's page cache holds whole blocks (a minimum folio order). On each: statfs
# reports the block size; a write of a few bytes into the middle of a block, a
# write past the end of a file and a truncate into a block keep the rest of the
# block as it was (or zero past EOF), read back after dropping the caches; the
# data test 030 runs again (64 KiB only); the verifier's single-file run (buffered, O_DIRECT,
# mmap, fallocate, remounts) finds nothing; fsck.rextfs -n stays clean.
. "$REPO/tests/vm/lib.sh"

dev=/dev/vda
mnt=/tmp/t102
ref=/tmp/t102.ref
mkdir -p "$mnt" "$ref"
for bs in 8192 65536; do
	note "block size $bs"
	mkfs.rextfs -q -f -b "$bs" "$dev" || fail "mkfs.rextfs -b $bs"
	mount -t rextfs "$dev" "$mnt" || fail "mount with $bs-byte blocks"
	[ "$(stat -f -c %S "$mnt")" = "$bs" ] || fail "statfs block size $(stat -f -c %S "$mnt"), want $bs"

	# Three blocks of a pattern, then 5 bytes inside the second block, 7 bytes
	# 100 bytes past the end, a truncate into the first block and a write of
	# one byte after a gap past the new end.
	f=$mnt/f r=$ref/f
	head -c $((3 * bs)) /dev/urandom >"$r"
	cp "$r" "$f" || fail "$bs: write"
	printf 'hhhhh' | dd of="$r" bs=1 seek=$((bs + 123)) conv=notrunc status=none
	xfs_io -c "pwrite -q -S 0x68 $((bs + 123)) 5" "$f" || fail "$bs: write inside a block"
	head -c 100 /dev/zero >>"$r" && printf 'seventh' >>"$r"
	printf 'seventh' | dd of="$f" bs=1 seek=$((3 * bs + 100)) conv=notrunc status=none ||
		fail "$bs: write past the end"
	cmp "$r" "$f" || fail "$bs: contents after the writes"
	truncate -s $((bs / 2 + 3)) "$r" "$f" || fail "$bs: truncate"
	truncate -s $((2 * bs + 10)) "$r"
	printf 'x' | dd of="$r" bs=1 seek=$((2 * bs + 9)) conv=notrunc status=none
	xfs_io -c "pwrite -q -S 0x78 $((2 * bs + 9)) 1" "$f" || fail "$bs: write after a gap"
	cmp "$r" "$f" || fail "$bs: contents after the truncate and the gap"
	echo 3 >/proc/sys/vm/drop_caches
	cmp "$r" "$f" || fail "$bs: contents after drop_caches"
	# A shared mapping of a whole block.
	xfs_io -c "mmap -w 0 $bs" -c "mwrite -S 0x6d 0 $bs" -c "msync -s 0 $bs" -c munmap "$f" ||
		fail "$bs: mmap write"
	head -c "$bs" /dev/zero | tr '\0' 'm' | dd of="$r" conv=notrunc status=none
	umount "$mnt" && mount -t rextfs "$dev" "$mnt" || fail "$bs: remount"
	cmp "$r" "$mnt/f" || fail "$bs: contents after the remount"
	umount "$mnt" || fail "$bs: umount"
	fsck.rextfs -n "$dev" || fail "$bs: fsck after the writes"

	# 030 once, with the largest block (sixteen pages, order-4 folios).
	if [ "$bs" = 65536 ]; then
		(cd /tmp && REXTFS_TEST_DEV=$dev REXTFS_MKFS_OPTS="-b $bs" bash "$REPO/tests/vm/030-data.sh") ||
			fail "030-data with $bs-byte blocks"
	fi

	mkfs.rextfs -q -f -b "$bs" "$dev" || fail "mkfs.rextfs -b $bs"
	mount -t rextfs "$dev" "$mnt" || fail "mount"
	mkdir "$mnt/v"
	rextfs-verify --log-dir "${REXTFS_OUT:-/tmp}" --seed "$bs" --ops 600 \
		--remount-cmd "cd / && umount $mnt && mount -t rextfs $dev $mnt" --remount-every 200 \
		"$mnt/v" || fail "verifier with $bs-byte blocks"
	umount "$mnt" || fail "umount"
	fsck.rextfs -n "$dev" || fail "fsck after the verifier with $bs-byte blocks"
done
exit 0
