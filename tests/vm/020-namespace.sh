# SPDX-License-Identifier: GPL-2.0
# Directory operations: create, mkdir, link, rename (within and across
# directories, over an existing name), unlink, rmdir; link counts and entries
# survive a remount and fsck.rextfs -n finds the file system clean.
. "$REPO/tests/vm/lib.sh"

# 092 runs this test again on a disk with 4 KiB sectors.
dev=${REXTFS_TEST_DEV:-/dev/vda}

mnt=/tmp/t020
mkdir -p "$mnt"
mkfs.rextfs -q -f "$dev" || fail "mkfs.rextfs failed"
mount -t rextfs "$dev" "$mnt" || fail "mount failed"
cd "$mnt"

mkdir a a/b c || fail "mkdir"
touch a/f || fail "create"
echo hello >a/g || fail "create with data"
ln a/f a/f2 || fail "link"
[ "$(stat -c %h a/f)" = 2 ] || fail "nlink after link: $(stat -c %h a/f)"
[ "$(stat -c %h a)" = 3 ] || fail "nlink of a dir with one subdir: $(stat -c %h a)"
[ "$(stat -c %h .)" = 4 ] || fail "nlink of the root: $(stat -c %h .)"
mv a/f2 c/f3 || fail "rename across directories"
mv a/b c/b || fail "rename a directory across directories"
[ "$(stat -c %h a)" = 2 ] && [ "$(stat -c %h c)" = 3 ] || fail "nlink after moving a directory"
[ "$(stat -c %i c/b/..)" = "$(stat -c %i c)" ] || fail ".. of a moved directory"
mv a/g a/f || fail "rename over an existing file"
[ "$(cat a/f)" = hello ] || fail "content after rename over"
[ "$(stat -c %h c/f3)" = 1 ] || fail "nlink of the replaced file's other link: $(stat -c %h c/f3)"
! rmdir c 2>/dev/null || fail "rmdir of a non-empty directory succeeded"
for i in $(seq 1 60); do echo "$i" >"c/b/file-$i" || fail "create file-$i"; done
[ "$(ls c/b | wc -l)" = 60 ] || fail "readdir lists $(ls c/b | wc -l) of 60 entries"
for i in $(seq 1 60 | grep -vx 7); do rm "c/b/file-$i" || fail "unlink file-$i"; done
[ "$(ls c/b)" = file-7 ] || fail "entries left: $(ls c/b | tr '\n' ' ')"
ls -la "$mnt" >&2

cd /
umount "$mnt" || fail "umount"
fsck.rextfs -n "$dev" || fail "fsck after the namespace operations"
mount -t rextfs "$dev" "$mnt" || fail "remount"
[ "$(ls "$mnt" | tr '\n' ' ')" = "a c " ] || fail "root after remount: $(ls "$mnt")"
[ "$(ls "$mnt/c" | tr '\n' ' ')" = "b f3 " ] || fail "c after remount: $(ls "$mnt/c")"
[ "$(cat "$mnt/c/b/file-7")" = 7 ] || fail "content after remount"
[ "$(stat -c %h "$mnt/c")" = 3 ] || fail "nlink of c after remount"
rm -r "$mnt/a" "$mnt/c" || fail "rm -r"
[ -z "$(ls -A "$mnt")" ] || fail "root not empty after rm -r"
umount "$mnt" || fail "umount"
fsck.rextfs -n "$dev" || fail "fsck after removing everything"
# Everything freed: the counts are those of a fresh file system.
rextfs-dump "$dev" sb | grep "^inodes" >&2
rextfs-dump "$dev" sb | grep -q "^inodes .*(65529 free)" || fail "inodes leaked"
exit 0
