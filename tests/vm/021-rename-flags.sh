# SPDX-License-Identifier: GPL-2.0
# renameat2 flags: RENAME_NOREPLACE refuses an existing target (EEXIST) and
# renames otherwise; RENAME_EXCHANGE swaps two files, a file and a directory
# across directories (parents' link counts and the directory's "..") and two
# directories; an unknown flag or EXCHANGE|NOREPLACE is EINVAL. Everything
# holds after a remount and fsck.rextfs -n is clean.
. "$REPO/tests/vm/lib.sh"

# 092 runs this test again on a disk with 4 KiB sectors.
dev=${REXTFS_TEST_DEV:-/dev/vda}

mnt=/tmp/t021
mkdir -p "$mnt"
mkfs.rextfs -q -f "$dev" || fail "mkfs.rextfs failed"
mount -t rextfs "$dev" "$mnt" || fail "mount failed"
cd "$mnt" || fail "cd"

mkdir d1 d2 d1/sub d2/other || fail "mkdir"
echo A >d1/a && echo B >d2/b && echo C >d1/c || fail "create"
python3 - <<'EOF' || fail "renameat2 checks"
import ctypes, errno, os, sys
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100
NOREPLACE, EXCHANGE, WHITEOUT = 1, 2, 4

def rename2(a, b, flags):
    r = libc.renameat2(AT_FDCWD, a.encode(), AT_FDCWD, b.encode(), flags)
    return 0 if r == 0 else ctypes.get_errno()

def check(cond, what):
    if not cond:
        sys.exit(f"FAIL: {what}")

def read(p):
    return open(p).read()

check(rename2("d1/a", "d1/c", NOREPLACE) == errno.EEXIST, "NOREPLACE over a file gives EEXIST")
check(read("d1/a") == "A\n" and read("d1/c") == "C\n", "NOREPLACE failure changed nothing")
check(rename2("d1/a", "d1/a2", NOREPLACE) == 0, "NOREPLACE to a free name")
check(rename2("d1/a2", "d1/a", 0) == 0, "plain rename back")
check(rename2("d1/a", "d1/c", EXCHANGE | NOREPLACE) == errno.EINVAL, "EXCHANGE|NOREPLACE is EINVAL")
check(rename2("d1/a", "d1/c", 0x80) == errno.EINVAL, "unknown flag is EINVAL")
check(rename2("d1/a", "d1/nothere", EXCHANGE) == errno.ENOENT, "EXCHANGE with a missing target")

# Two files in one directory.
ia, ic = os.stat("d1/a").st_ino, os.stat("d1/c").st_ino
check(rename2("d1/a", "d1/c", EXCHANGE) == 0, "EXCHANGE two files")
check(read("d1/a") == "C\n" and read("d1/c") == "A\n", "contents swapped")
check(os.stat("d1/a").st_ino == ic and os.stat("d1/c").st_ino == ia, "inodes swapped")

# A file and a directory across directories: d2/b <-> d1/sub.
n1, n2 = os.stat("d1").st_nlink, os.stat("d2").st_nlink
check(rename2("d2/b", "d1/sub", EXCHANGE) == 0, "EXCHANGE file and directory")
check(os.path.isdir("d2/b") and read("d1/sub") == "B\n", "types swapped")
check(os.stat("d1").st_nlink == n1 - 1 and os.stat("d2").st_nlink == n2 + 1,
      f"parents' nlink {os.stat('d1').st_nlink} {os.stat('d2').st_nlink} (was {n1} {n2})")
check(os.stat("d2/b/..").st_ino == os.stat("d2").st_ino, ".. of the moved directory")

# Two directories across directories.
os.mkdir("d1/x")
open("d1/x/in-x", "w").close()
open("d2/other/in-other", "w").close()
n1, n2 = os.stat("d1").st_nlink, os.stat("d2").st_nlink
check(rename2("d1/x", "d2/other", EXCHANGE) == 0, "EXCHANGE two directories")
check(os.listdir("d1/x") == ["in-other"] and os.listdir("d2/other") == ["in-x"], "directories swapped")
check(os.stat("d1").st_nlink == n1 and os.stat("d2").st_nlink == n2, "parents' nlink unchanged")
check(os.stat("d1/x/..").st_ino == os.stat("d1").st_ino, ".. of d1/x")
check(os.stat("d2/other/..").st_ino == os.stat("d2").st_ino, ".. of d2/other")
EOF

cd / || fail "cd /"
umount "$mnt" || fail "umount"
fsck.rextfs -n "$dev" || fail "fsck after the renames"
mount -t rextfs "$dev" "$mnt" || fail "remount"
[ "$(cat "$mnt/d1/a")" = C ] && [ "$(cat "$mnt/d1/c")" = A ] || fail "file exchange after remount"
[ "$(cat "$mnt/d1/sub")" = B ] && [ -d "$mnt/d2/b" ] || fail "file/directory exchange after remount"
[ "$(ls "$mnt/d1/x")" = in-other ] && [ "$(ls "$mnt/d2/other")" = in-x ] || fail "directory exchange after remount"
[ "$(stat -c %i "$mnt/d2/b/..")" = "$(stat -c %i "$mnt/d2")" ] || fail ".. after remount"
umount "$mnt" || fail "umount 2"
fsck.rextfs -n "$dev" || fail "fsck at the end"
echo "ok: renameat2 NOREPLACE and EXCHANGE"
