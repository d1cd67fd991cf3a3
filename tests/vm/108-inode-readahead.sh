# SPDX-License-Identifier: GPL-2.0
# Inode table readahead: after a remount (nothing cached), a stat of every
# file of a directory, in the order they were created, reads the inode table
# in windows of 128 KiB (as ext4's inode_readahead_blks=32 does), not a block
# at a time: the device completes far fewer reads than there are inode table
# blocks. Every stat returns the inode it should (the number and the size
# written), also when two tasks stat them at once from both ends, and inodes
# changed after their blocks were read ahead (a truncate, a removal, new
# files into the freed slots) are what a remount and fsck.rextfs find. With
# 4 KiB blocks (32-block windows) and 1 KiB blocks (64 blocks, the most one
# readahead reads). The directory's blocks are read ahead the same way (a
# readdir of a cold directory). drop_caches gives the cached blocks back (the
# super block's shrinker), and they are read again.
. "$REPO/tests/vm/lib.sh"

mnt=/tmp/t108
dev=/dev/vda
mkdir -p "$mnt"
n=8192

# reads: read requests the device has completed (/proc/diskstats, field 4).
reads() { awk -v d="$(basename "$dev")" '$3 == d { print $4 }' /proc/diskstats; }

for bs in 4096 1024; do
	mkfs.rextfs -q -f -b $bs -N $((2 * n)) "$dev" $(((128 << 20) / bs)) || fail "mkfs.rextfs -b $bs"
	mount -t rextfs "$dev" "$mnt" || fail "mount ($bs)"
	mkdir "$mnt/d"
	# Each file's size is its number: a stat that read the wrong slot shows it.
	python3 - "$mnt/d" $n <<'PY' || fail "create $n files ($bs)"
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    fd = os.open(f"{d}/f{i:05d}", os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644)
    os.ftruncate(fd, i)
    os.close(fd)
PY
	umount "$mnt" || fail "umount ($bs)"
	mount -t rextfs "$dev" "$mnt" || fail "mount again ($bs)"
	# The directory's own blocks first (readdir): they are read ahead too, in
	# windows of up to 64 blocks of the extent that holds the block asked for,
	# not a block at a time. The reads counted after it are the inode table's
	# and the hash index's.
	dblocks=$(($(stat -c %s "$mnt/d") / bs))
	before=$(reads)
	[ "$(ls -f "$mnt/d" | wc -l)" -eq $((n + 2)) ] || fail "readdir ($bs)"
	r=$(($(reads) - before))
	note "$bs-byte blocks: readdir of $dblocks directory blocks read $r times"
	[ "$dblocks" -ge $((n * 16 / bs)) ] || fail "the directory has only $dblocks blocks ($bs)"
	[ "$r" -lt $((dblocks / 4)) ] || fail "readdir of $dblocks directory blocks read $r times ($bs)"
	before=$(reads)
	python3 - "$mnt/d" $n $bs <<'PY' >/tmp/t108-inos || fail "stat of every file ($bs)"
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
inos = set()
for i in range(n):
    st = os.stat(f"{d}/f{i:05d}")
    assert st.st_size == i, f"f{i:05d}: size {st.st_size}"
    inos.add(st.st_ino)
assert len(inos) == n, f"{len(inos)} distinct inodes"
# The inode table blocks that hold them (256-byte slots).
print(len({(i - 1) * 256 // int(sys.argv[3]) for i in inos}))
PY
	after=$(reads)
	read -r blocks </tmp/t108-inos
	note "$bs-byte blocks: $n stats read $((after - before)) times for $blocks inode table blocks"
	[ "$blocks" -ge $((n * 256 / bs)) ] || fail "the $n inodes are in only $blocks blocks"
	# Without readahead: one read a block, plus the directory's blocks.
	[ $((after - before)) -lt $((blocks / 4)) ] ||
		fail "$n cold stats read $((after - before)) times for $blocks inode table blocks ($bs)"

	# Memory reclaim takes the cached blocks back (the super block's shrinker,
	# through nr_cached_objects): after drop_caches the same stats read the
	# inode table from the device again, in windows.
	sync
	echo 3 >/proc/sys/vm/drop_caches
	before=$(reads)
	python3 - "$mnt/d" $n <<'PY' || fail "stat of every file after drop_caches ($bs)"
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    assert os.stat(f"{d}/f{i:05d}").st_size == i, f"f{i:05d}"
PY
	again=$(($(reads) - before))
	note "$bs-byte blocks: after drop_caches, $again reads"
	[ "$again" -ge 4 ] || fail "after drop_caches the stats read only $again times: the cache kept its blocks ($bs)"
	# The directory's blocks were dropped too (above, readdir had read them).
	[ "$again" -lt $((blocks / 2)) ] || fail "after drop_caches the stats read $again times ($bs)"

	# Two tasks stat every file at once, one from each end, after a remount:
	# readaheads race with each other and with reads of single blocks.
	umount "$mnt" || fail "umount before the racing stats ($bs)"
	mount -t rextfs "$dev" "$mnt" || fail "mount before the racing stats ($bs)"
	pids=()
	for order in 1 -1; do
		python3 - "$mnt/d" $n $order <<'PY' &
import os, sys
d, n, order = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(n)[::order]:
    assert os.stat(f"{d}/f{i:05d}").st_size == i, f"f{i:05d}"
PY
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || fail "racing stats ($bs)"; done

	# Changes to inodes whose blocks were read ahead (not yet stat'ed again):
	# a truncate, removals, and new files that take the freed slots.
	umount "$mnt" || fail "umount before the changes ($bs)"
	mount -t rextfs "$dev" "$mnt" || fail "mount before the changes ($bs)"
	stat "$mnt/d/f00000" >/dev/null || fail "stat f00000 ($bs)"
	truncate -s 7 "$mnt/d/f00001" || fail "truncate f00001 ($bs)"
	for i in 00002 00003 00017 00040; do rm "$mnt/d/f$i" || fail "rm f$i ($bs)"; done
	for i in 0 1 2 3; do echo "new $i" >"$mnt/d/new$i" || fail "create new$i ($bs)"; done
	umount "$mnt" || fail "umount after the changes ($bs)"
	fsck.rextfs -n "$dev" >/tmp/t108-fsck 2>&1 || { cat /tmp/t108-fsck >&2; fail "fsck after the changes ($bs)"; }
	mount -t rextfs "$dev" "$mnt" || fail "mount after the changes ($bs)"
	python3 - "$mnt/d" $n <<'PY' || fail "the changes after a remount ($bs)"
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
gone = {2, 3, 17, 40}
names = set(os.listdir(d))
assert names == {f"f{i:05d}" for i in range(n) if i not in gone} | {f"new{i}" for i in range(4)}, "names"
for i in range(n):
    if i not in gone:
        assert os.stat(f"{d}/f{i:05d}").st_size == (7 if i == 1 else i), f"f{i:05d}"
for i in range(4):
    assert open(f"{d}/new{i}").read() == f"new {i}\n", f"new{i}"
PY
	umount "$mnt" || fail "umount at the end ($bs)"
done
