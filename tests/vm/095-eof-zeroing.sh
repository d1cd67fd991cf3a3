# SPDX-License-Identifier: GPL-2.0
# No byte past an old end of file ever becomes file data: bytes stored
# through a shared mapping past EOF (inside its last page), and bytes a
# truncate cut off that are still on the device after a crash, read back as
# zeroes once a write past the end (buffered or direct) or a truncate up
# makes them part of the file, as on ext4 and XFS.
. "$REPO/tests/vm/lib.sh"

mnt=/tmp/t095
mkdir -p "$mnt"
dev=/dev/vda
mkfs.rextfs -q -f "$dev" || fail "mkfs.rextfs failed"
mount -t rextfs "$dev" "$mnt" || fail "mount"

# nonzero FILE OFF LEN: the bytes of FILE in OFF..OFF+LEN that are not zero.
nonzero() { od -An -v -tx1 -j "$2" -N "$3" "$1" | tr -s ' ' '\n' | grep -cv '^\(00\)\?$' || true; }

# A store through a shared mapping past EOF, then an extension by $how.
for how in buffered direct truncate; do
	f=$mnt/mmap-$how
	xfs_io -f -c "pwrite -q -S 0x61 0 100" -c "mmap -w 0 4096" -c "mwrite -S 0x62 200 100" \
		-c "munmap" "$f" || fail "$how: write and store past EOF"
	case $how in
	buffered) xfs_io -c "pwrite -q -S 0x63 8192 1" "$f" ;;
	direct) xfs_io -d -c "pwrite -q -S 0x63 8192 4096" "$f" ;;
	truncate) truncate -s 8193 "$f" ;;
	esac || fail "$how: extension"
	[ "$(nonzero "$f" 100 3996)" = 0 ] || fail "$how: bytes stored past the old EOF became file data: $(od -An -tx1 -j 200 -N 16 "$f")"
	[ "$(nonzero "$f" 0 100)" = 100 ] || fail "$how: the first 100 bytes changed"
	echo 3 >/proc/sys/vm/drop_caches
	[ "$(nonzero "$f" 100 3996)" = 0 ] || fail "$how: after drop_caches, bytes past the old EOF are not zero"
done

# A truncate whose size change is committed while the zeroed tail of its
# last block is still only in the page cache, then a cut (shutdown without
# log flush: nothing more reaches the device): after recovery the device
# still holds the cut-off bytes past the new EOF; an extension must not show
# them.
umount "$mnt"
mount -t rextfs -o commit=1 "$dev" "$mnt" || fail "mount commit=1"
for how in buffered direct; do
	f=$mnt/trunc-$how
	xfs_io -f -c "pwrite -q -S 0x61 0 8192" -c "fsync" "$f" || fail "$how: write"
	truncate -s 100 "$f" || fail "$how: truncate"
done
sleep 3
xfs_io -x -c "shutdown" "$mnt" || fail "shutdown"
umount "$mnt"
mount -t rextfs "$dev" "$mnt" || fail "mount after the cut"
for how in buffered direct; do
	f=$mnt/trunc-$how
	[ "$(stat -c %s "$f")" = 100 ] || fail "$how: the committed truncate was lost ($(stat -c %s "$f"))"
	case $how in
	buffered) xfs_io -c "pwrite -q -S 0x63 8192 1" "$f" ;;
	direct) xfs_io -d -c "pwrite -q -S 0x63 8192 4096" "$f" ;;
	esac || fail "$how: extension after the cut"
	[ "$(nonzero "$f" 100 3996)" = 0 ] || fail "$how: bytes cut off by a truncate came back after a crash"
	echo 3 >/proc/sys/vm/drop_caches
	[ "$(nonzero "$f" 100 8092)" = 0 ] || fail "$how: after drop_caches, bytes past the old EOF are not zero"
done
umount "$mnt"
fsck.rextfs -n "$dev" || fail "fsck -n"
echo "095-eof-zeroing: ok"
