# SPDX-License-Identifier: GPL-2.0
# Security labels at inode creation (security_inode_init_security), with Smack
# as the security module: every kind of new inode (file, directory, FIFO, fast
# and slow symlink, O_TMPFILE linked in, the whiteout of RENAME_WHITEOUT) gets
# the creating task's label as security.SMACK64, in its creating transaction;
# a directory marked transmuting passes its label on, and a new subdirectory
# gets two attributes (SMACK64 and SMACK64TRANSMUTE) from one call. The labels
# read back after a remount and drop_caches (Smack then reads them from the
# file system), rextfs-dump finds them on disk, inherited default ACLs share
# the new inode's xattr block with them, and fsck.rextfs -n is clean.
# Kernel parameters: lsm=smack
. "$REPO/tests/vm/lib.sh"

# The file exists whenever Smack is built; reading it fails unless Smack is on.
cur=$(cat /proc/self/attr/smack/current 2>/dev/null) ||
	fail "Smack is not active: scripts/test boots this test with lsm=smack"
[ "$cur" = _ ] || fail "the test starts with label $cur, not the floor"
command -v setfattr >/dev/null && command -v getfattr >/dev/null ||
	skip "setfattr/getfattr not installed (Debian package attr)"
command -v setfacl >/dev/null && command -v getfacl >/dev/null ||
	skip "setfacl/getfacl not installed (Debian package acl)"
mnt=/tmp/t105
dev=/dev/vda
label=rextfs105
tlabel=rextfs105dir
mkdir -p "$mnt"
if ! grep -q smackfs /proc/mounts; then
	mount -t smackfs smackfs /sys/fs/smackfs || fail "mount smackfs"
fi
# The task labelled $label may write into directories labelled $tlabel, and
# what it creates there is transmuted ("t") to $tlabel.
echo "$label $tlabel rwxat" >/sys/fs/smackfs/load2 || fail "load a Smack rule"
mkfs.rextfs -q -f "$dev" || fail "mkfs.rextfs"
mount -t rextfs "$dev" "$mnt" || fail "mount"
cd "$mnt" || fail "cd"

# Created by the floor label, before anything changes.
echo before >floor || fail "create as _"
mkdir tdir acl || fail "mkdir"
setfattr -n security.SMACK64 -v "$tlabel" tdir || fail "label tdir"
setfattr -n security.SMACK64TRANSMUTE -v TRUE tdir || fail "make tdir transmuting"
setfacl -d -m u:1000:rx acl || fail "default ACL on acl/"
mkdir -p src && echo w >src/w || fail "create src/w"
slow=$(printf 'x%.0s' $(seq 1 300))

# Everything else is created by a task labelled $label (root keeps
# CAP_MAC_OVERRIDE, so Smack's access checks do not get in the way).
(
	printf %s "$label" >/proc/self/attr/smack/current || exit 1
	[ "$(cat /proc/self/attr/smack/current)" = "$label" ] || exit 1
	echo data >f && mkdir d && mknod p p && ln -s target fast && ln -s "$slow" slowlink &&
		echo inherits >acl/file && mkdir acl/dir && mkdir tdir/sub && echo t >tdir/file || exit 1
	python3 - <<'EOF' || exit 1
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
# O_TMPFILE, then a name through /proc/self/fd (linkat with AT_SYMLINK_FOLLOW,
# 0x400: Python's os.link calls link(2), which does not follow the magic link).
fd = os.open(".", os.O_TMPFILE | os.O_RDWR, 0o600)
os.write(fd, b"tmp")
if libc.linkat(-100, f"/proc/self/fd/{fd}".encode(), -100, b"tmpfile", 0x400) != 0:
    raise SystemExit(f"linkat /proc/self/fd: {os.strerror(ctypes.get_errno())}")
os.close(fd)
# RENAME_WHITEOUT (4): src/w moves, a whiteout takes its name.
if libc.renameat2(-100, b"src/w", -100, b"moved", 4) != 0:
    raise SystemExit(f"renameat2 WHITEOUT: {os.strerror(ctypes.get_errno())}")
EOF
) || fail "creating as $label"
[ "$(stat -c %t:%T src/w)" = 0:0 ] || fail "src/w is not a whiteout: $(stat -c %F src/w)"

label_of() { getfattr -h --only-values -n security.SMACK64 "$1" 2>/dev/null; }
check_labels() { # check_labels WHEN
	local x
	for x in f d p fast slowlink tmpfile src/w acl/file acl/dir; do
		[ "$(label_of "$x")" = "$label" ] || fail "$1: $x has label '$(label_of "$x")', not $label"
	done
	# Created by _ (moved is src/w, renamed away: it keeps its label).
	[ "$(label_of floor)" = _ ] && [ "$(label_of moved)" = _ ] ||
		fail "$1: floor, moved have labels '$(label_of floor)', '$(label_of moved)', not _"
	for x in tdir tdir/sub tdir/file; do
		[ "$(label_of "$x")" = "$tlabel" ] || fail "$1: $x has label '$(label_of "$x")', not $tlabel (transmuted)"
	done
	[ "$(getfattr --only-values -n security.SMACK64TRANSMUTE tdir/sub 2>/dev/null)" = TRUE ] ||
		fail "$1: tdir/sub is not transmuting"
	getfattr -h -d -m - f 2>/dev/null | grep -qx "security.SMACK64=\"$label\"" ||
		fail "$1: listxattr of f: $(getfattr -h -d -m - f 2>&1)"
	getfacl -cpEn acl/file 2>/dev/null | grep -qx "user:1000:r-x" ||
		fail "$1: acl/file did not inherit the ACL: $(getfacl -cpEn acl/file 2>&1)"
	[ "$(cat tmpfile)" = tmp ] && [ "$(cat f)" = data ] || fail "$1: contents"
}
check_labels "after creation"
ino_f=$(stat -c %i f) ino_acl=$(stat -c %i acl/file) ino_sub=$(stat -c %i tdir/sub)
cd / && umount "$mnt" || fail "umount"

# On disk: the attributes are in the inodes' xattr blocks.
rextfs-dump "$dev" inode "$ino_f" | grep -q "security.SMACK64 .*$label" ||
	fail "f's label not on disk: $(rextfs-dump "$dev" inode "$ino_f")"
out=$(rextfs-dump "$dev" inode "$ino_acl")
echo "$out" | grep -q "security.SMACK64 .*$label" && echo "$out" | grep -q "system.posix_acl_access" &&
	echo "$out" | grep -q "xattr block [0-9]*: 2 entries" ||
	fail "acl/file: label and ACL not in one xattr block: $out"
out=$(rextfs-dump "$dev" inode "$ino_sub")
echo "$out" | grep -q "security.SMACK64TRANSMUTE" || fail "tdir/sub: no SMACK64TRANSMUTE on disk: $out"
fsck.rextfs -n "$dev" >/tmp/t105.fsck 2>&1 || fail "fsck.rextfs -n: $(cat /tmp/t105.fsck)"

mount -t rextfs "$dev" "$mnt" || fail "remount"
echo 3 >/proc/sys/vm/drop_caches
cd "$mnt" || fail "cd"
check_labels "after remount and drop_caches"
cd / && umount "$mnt" || fail "umount"
fsck.rextfs -n "$dev" >/tmp/t105.fsck 2>&1 || fail "fsck.rextfs -n at the end: $(cat /tmp/t105.fsck)"
exit 0
