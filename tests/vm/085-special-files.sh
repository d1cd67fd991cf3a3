# SPDX-License-Identifier: GPL-2.0
# Special files and whiteouts: mknod makes character and block devices (their
# numbers kept), FIFOs and sockets; a device node works as the device (a
# rextfs node for /dev/null's 1:3 reads EOF and swallows writes, one for
# /dev/zero's 1:5 reads zeroes), a FIFO carries data between processes; types,
# numbers, modes and owners survive drop_caches and a remount; nodev mounts
# refuse to open devices. rename(RENAME_WHITEOUT) leaves a 0:0 character
# device at the old name, also with RENAME_NOREPLACE, for directories and
# across directories; a failed one (EEXIST) leaves no inode behind. Every
# inode is freed on unlink and fsck.rextfs -n stays clean.
. "$REPO/tests/vm/lib.sh"

mnt=/tmp/t085
mkdir -p "$mnt"
mkfs.rextfs -q -f /dev/vda 16384 || fail "mkfs.rextfs failed"
mount -t rextfs /dev/vda "$mnt" || fail "mount failed"
# The root directory gets its first block with its first entry.
touch "$mnt/.first" || fail "touch"
inodes0=$(stat -f -c %d "$mnt")
blocks0=$(stat -f -c %f "$mnt")

mknod "$mnt/null" c 1 3 || fail "mknod c 1 3"
mknod "$mnt/zero" c 1 5 || fail "mknod c 1 5"
mknod "$mnt/blk" b 7 200 || fail "mknod b 7 200"
mknod -m 0600 "$mnt/big" c 4095 1048575 || fail "mknod with the largest numbers"
mkfifo -m 0640 "$mnt/fifo" || fail "mkfifo"
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$mnt/sock" ||
	fail "bind a unix socket"
chown 1234:5678 "$mnt/blk" || fail "chown a device node"
chmod 0604 "$mnt/null" || fail "chmod a device node"

check() {
	local what=$1 got
	got=$(stat -c '%n %F %t:%T %a %u:%g' "$mnt"/{null,zero,blk,big,fifo,sock} | sed "s|$mnt/||")
	[ "$got" = "null character special file 1:3 604 0:0
zero character special file 1:5 644 0:0
blk block special file 7:c8 644 1234:5678
big character special file fff:fffff 600 0:0
fifo fifo 0:0 640 0:0
sock socket 0:0 755 0:0" ] || fail "special files ($what): $got"
	echo discard >"$mnt/null" || fail "write to the null node ($what)"
	[ "$(wc -c <"$mnt/null")" = 0 ] || fail "the null node is not empty ($what)"
	[ "$(head -c 4096 "$mnt/zero" | tr -d '\0' | wc -c)" = 0 ] || fail "the zero node ($what)"
	# A FIFO between two processes.
	(echo "through the fifo" >"$mnt/fifo") &
	[ "$(cat "$mnt/fifo")" = "through the fifo" ] || fail "fifo data ($what)"
	wait
}
umask 022
check "created"
sync
echo 3 >/proc/sys/vm/drop_caches
check "after drop_caches"
ino_null=$(stat -c %i "$mnt/null") ino_big=$(stat -c %i "$mnt/big")
umount "$mnt" || fail "umount"
fsck.rextfs -n /dev/vda || fail "fsck with special files"
# On disk, rdev is the "new" encoding that user space and the tools use
# (1:3 is 0x103), not the kernel's internal MKDEV value (0x100003).
disk_rdev() { rextfs-dump /dev/vda inode "$1" | awk '$1 == "rdev" {print $2}'; }
[ "$(disk_rdev "$ino_null")" = 0x103 ] || fail "c 1 3 stored as rdev $(disk_rdev "$ino_null"), not 0x103"
[ "$(disk_rdev "$ino_big")" = 0xffffffff ] || fail "c 4095 1048575 stored as rdev $(disk_rdev "$ino_big"), not 0xffffffff"
mount -t rextfs /dev/vda "$mnt" || fail "remount"
check "after a remount"
umount "$mnt"
mount -t rextfs -o nodev /dev/vda "$mnt" || fail "mount nodev"
python3 -c '
import errno, sys
try:
    open(sys.argv[1], "rb")
    sys.exit("opened")
except PermissionError:
    pass' "$mnt/zero" || fail "a device node opens on a nodev mount"
umount "$mnt"
mount -t rextfs /dev/vda "$mnt" || fail "remount"

# RENAME_WHITEOUT, alone and with RENAME_NOREPLACE, for a file, a directory
# and across directories.
mkdir -p "$mnt/a" "$mnt/b/sub" && echo data >"$mnt/a/f" && echo other >"$mnt/b/taken" || fail "setup"
python3 - "$mnt" <<'PY' || fail "RENAME_WHITEOUT"
import ctypes, errno, os, stat, sys
libc = ctypes.CDLL(None, use_errno=True)
NOREPLACE, WHITEOUT = 1, 4
m = sys.argv[1]
def rename2(a, b, flags):
    r = libc.renameat2(-100, f"{m}/{a}".encode(), -100, f"{m}/{b}".encode(), flags)
    return 0 if r == 0 else ctypes.get_errno()
def whiteout(p):
    st = os.lstat(f"{m}/{p}")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0, (p, oct(st.st_mode), st.st_rdev)
    assert st.st_nlink == 1, (p, st.st_nlink)
assert rename2("a/f", "a/g", WHITEOUT) == 0
whiteout("a/f")
assert open(f"{m}/a/g").read() == "data\n"
assert rename2("a/g", "b/g", WHITEOUT | NOREPLACE) == 0
whiteout("a/g")
assert open(f"{m}/b/g").read() == "data\n"
# Onto an existing name with NOREPLACE: EEXIST, nothing changes.
assert rename2("b/g", "b/taken", WHITEOUT | NOREPLACE) == errno.EEXIST
assert open(f"{m}/b/g").read() == "data\n" and open(f"{m}/b/taken").read() == "other\n"
# Replacing an existing file.
assert rename2("b/g", "b/taken", WHITEOUT) == 0
whiteout("b/g")
assert open(f"{m}/b/taken").read() == "data\n"
# A directory moves to another parent; the whiteout stays in the old one.
links_b = os.stat(f"{m}/b").st_nlink
assert rename2("b/sub", "a/sub", WHITEOUT) == 0
whiteout("b/sub")
assert os.path.isdir(f"{m}/a/sub") and os.stat(f"{m}/b").st_nlink == links_b - 1
assert sorted(os.listdir(f"{m}/a")) == ["f", "g", "sub"], os.listdir(f"{m}/a")
# With EXCHANGE it is invalid.
assert rename2("a/sub", "b/taken", WHITEOUT | 2) == errno.EINVAL
PY
umount "$mnt" || fail "umount"
fsck.rextfs -n /dev/vda || fail "fsck after whiteouts"
mount -t rextfs /dev/vda "$mnt" || fail "remount"
[ "$(stat -c '%F %t:%T' "$mnt/a/f")" = "character special file 0:0" ] || fail "whiteout after a remount"
rm -rf "$mnt"/* || fail "rm"
[ "$(stat -f -c %d "$mnt")" = "$inodes0" ] || fail "inodes leaked: $(stat -f -c %d "$mnt") free, $inodes0 before"
[ "$(stat -f -c %f "$mnt")" = "$blocks0" ] || fail "blocks leaked"
umount "$mnt" || fail "umount"
fsck.rextfs -n /dev/vda || fail "fsck at the end"
exit 0
