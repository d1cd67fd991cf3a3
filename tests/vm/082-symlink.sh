# SPDX-License-Identifier: GPL-2.0
# Symbolic links: fast (target in the inode, up to 128 bytes) and slow
# (target in blocks, up to 4095 bytes) links made with ln -s, read with
# readlink and followed, sizes from stat, after drop_caches and a remount;
# a 4096-byte target is ENAMETOOLONG; unlinking frees the blocks; fsck clean.
. "$REPO/tests/vm/lib.sh"

mnt=/tmp/t082
mkdir -p "$mnt"
for bs in 4096 1024; do
	mkfs.rextfs -q -f -b $bs /dev/vda 16384 || fail "mkfs.rextfs -b $bs failed"
	mount -t rextfs /dev/vda "$mnt" || fail "mount failed"
	mkdir "$mnt/dir" && echo payload >"$mnt/dir/file" || fail "setup"
	before=$(stat -f -c %f "$mnt")
	t128=$(printf 'dir/%0124d' 0)          # 128 bytes: the longest fast link
	mkdir -p "$mnt/$(dirname "$t128")"
	t129=$(printf 'a%.0s' $(seq 1 129))    # 129 bytes: slow, one block
	t4095=$(python3 -c 'print(("d/" * 2048)[:4094] + "x")') # 4095 bytes
	cd "$mnt"
	ln -s dir/file fast || fail "ln -s fast"
	ln -s "$t128" fast128 || fail "ln -s 128 bytes"
	ln -s "$t129" slow129 || fail "ln -s 129 bytes"
	ln -s "$t4095" slow4095 || fail "ln -s 4095 bytes"
	ln -s "/$mnt/dir" abs || fail "ln -s absolute"
	python3 -c '
import errno, os
try:
    os.symlink("y" * 4096, "toolong")
    raise SystemExit("4096-byte target accepted")
except OSError as e:
    assert e.errno == errno.ENAMETOOLONG, e
' || fail "4096-byte target"
	cd /
	check() {
		[ "$(readlink "$mnt/fast")" = dir/file ] || fail "readlink fast ($1)"
		[ "$(cat "$mnt/fast")" = payload ] || fail "follow fast ($1)"
		[ "$(cat "$mnt/abs/file")" = payload ] || fail "follow absolute ($1)"
		[ "$(readlink "$mnt/fast128")" = "$t128" ] || fail "readlink 128 ($1)"
		[ "$(readlink "$mnt/slow129")" = "$t129" ] || fail "readlink 129 ($1)"
		[ "$(readlink "$mnt/slow4095")" = "$t4095" ] || fail "readlink 4095 ($1)"
		[ "$(stat -c %s "$mnt/fast")" = 8 ] || fail "size fast ($1)"
		[ "$(stat -c %s "$mnt/fast128")" = 128 ] || fail "size 128 ($1)"
		[ "$(stat -c %s "$mnt/slow129")" = 129 ] || fail "size 129 ($1)"
		[ "$(stat -c %s "$mnt/slow4095")" = 4095 ] || fail "size 4095 ($1)"
		[ "$(stat -c %F "$mnt/slow4095")" = "symbolic link" ] || fail "type ($1)"
		[ "$(stat -c %b "$mnt/fast128")" = 0 ] || fail "fast link has blocks ($1)"
		[ "$(stat -c %b "$mnt/slow4095")" -gt 0 ] || fail "slow link has no blocks ($1)"
		[ "$(find "$mnt" -maxdepth 1 -type l | wc -l)" = 5 ] || fail "find -type l ($1)"
	}
	check created
	echo 3 >/proc/sys/vm/drop_caches
	check "after drop_caches"
	umount "$mnt" || fail "umount"
	fsck.rextfs -n /dev/vda >&2 || fail "fsck with symlinks (bs $bs)"
	mount -t rextfs /dev/vda "$mnt" || fail "remount"
	check "after remount"
	mv "$mnt/slow4095" "$mnt/dir/moved" && [ "$(readlink "$mnt/dir/moved")" = "$t4095" ] ||
		fail "rename a slow link"
	ln "$mnt/fast" "$mnt/dir/hardlink" && [ "$(stat -c %h "$mnt/fast")" = 2 ] || fail "hard link to a symlink"
	rm "$mnt/fast" "$mnt/dir/hardlink" "$mnt/fast128" "$mnt/slow129" "$mnt/dir/moved" "$mnt/abs" || fail "rm"
	sync
	[ "$(stat -f -c %f "$mnt")" = "$before" ] ||
		fail "free blocks $(stat -f -c %f "$mnt") after unlinking the links, before: $before"
	umount "$mnt" || fail "umount"
	fsck.rextfs -n /dev/vda >&2 || fail "fsck after removing the links (bs $bs)"
done
exit 0
