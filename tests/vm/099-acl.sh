# SPDX-License-Identifier: GPL-2.0
# POSIX ACLs with setfacl/getfacl: the umask still applies to new files and
# directories (with ACLs the VFS leaves it to the file system); a named-user
# entry grants and an absent one refuses access (checked as those users);
# chmod rewrites the ACL mask; setfacl -b removes the ACL; default ACLs are
# inherited by new files (access ACL) and directories (both), ignoring the
# umask; ACLs are listed by listxattr; everything reads back equal after a
# remount and drop_caches and after a shutdown that flushes the log; the
# largest ACL that fits is stored and one entry more is E2BIG; fsck -n is
# clean at the end. chmod rewrites the mask of directories and FIFOs too.
. "$REPO/tests/vm/lib.sh"

command -v setfacl >/dev/null && command -v getfacl >/dev/null ||
	skip "setfacl/getfacl not installed (Debian package acl)"
mnt=/tmp/t099
dev=/dev/vda
mkdir -p "$mnt"
mkfs.rextfs -q -f "$dev" || fail "mkfs.rextfs"
mount -t rextfs "$dev" "$mnt" || fail "mount"
cd "$mnt" || fail "cd"

# The umask without a default ACL.
umask 022
touch f && mkdir d && mknod p p || fail "create"
[ "$(stat -c %a f d p)" = "$(printf '644\n755\n644')" ] || fail "umask 022 not applied: $(stat -c '%n %a' f d p)"
umask 077
touch f2 || fail "touch"
[ "$(stat -c %a f2)" = 600 ] || fail "umask 077 not applied: $(stat -c %a f2)"
umask 022

# A named user: access as that user, and as another.
echo data >f
setfacl -m u:1000:rw f || fail "setfacl -m u:1000:rw"
getfacl -cpEn f >/tmp/t099.f 2>/dev/null || fail "getfacl"
grep -qx "user:1000:rw-" /tmp/t099.f || fail "named entry missing: $(cat /tmp/t099.f)"
grep -qx "mask::rw-" /tmp/t099.f || fail "mask not computed: $(cat /tmp/t099.f)"
[ "$(stat -c %A f)" = "-rw-rw-r--" ] || fail "group bits are not the mask: $(stat -c %A f)"
chmod 755 . || fail "chmod ."
setpriv --reuid 1000 --regid 1000 --clear-groups sh -c "echo more >>$mnt/f" || fail "user 1000 cannot write through its ACL entry"
if setpriv --reuid 1001 --regid 1001 --clear-groups sh -c "echo no >>$mnt/f" 2>/dev/null; then
	fail "user 1001 wrote without an ACL entry"
fi
[ "$(cat f)" = "$(printf 'data\nmore')" ] || fail "contents: $(cat f)"
getfattr -m - -d f >/tmp/t099.x 2>/dev/null
grep -q "^system.posix_acl_access=" /tmp/t099.x || fail "listxattr does not show the ACL: $(cat /tmp/t099.x)"
# chmod rewrites the mask: the named entry loses its effect.
chmod 600 f || fail "chmod 600"
getfacl -cpEn f >/tmp/t099.f 2>/dev/null
grep -qx "mask::---" /tmp/t099.f || fail "chmod did not change the mask: $(cat /tmp/t099.f)"
if setpriv --reuid 1000 --regid 1000 --clear-groups sh -c "echo no >>$mnt/f" 2>/dev/null; then
	fail "user 1000 wrote past a mask of ---"
fi
setfacl -b f || fail "setfacl -b"
getfattr -m - -d f >/tmp/t099.x 2>/dev/null
if grep -q "posix_acl" /tmp/t099.x; then fail "ACL still listed after setfacl -b: $(cat /tmp/t099.x)"; fi
# setfacl -b keeps the group bits the mode showed (the mask, --- after chmod).
[ "$(stat -c %a f)" = 600 ] || fail "mode after setfacl -b: $(stat -c %a f)"

# chmod of a directory and of a FIFO (tables without a setattr of their own)
# rewrites their masks too, and survives a remount.
mkdir cd && mkfifo cp || fail "mkdir/mkfifo"
setfacl -m u:1000:rwx cd && setfacl -m u:1000:rw cp || fail "setfacl on a directory/FIFO"
chmod 755 cd || fail "chmod 755 cd"
setpriv --reuid 1000 --regid 1000 --clear-groups ls "$mnt/cd" >/dev/null ||
	fail "user 1000 cannot list a directory its ACL entry allows"
chmod 700 cd && chmod 600 cp || fail "chmod of a directory/FIFO"
for n in cd cp; do
	getfacl -cpEn $n >/tmp/t099.c 2>/dev/null
	grep -qx "mask::---" /tmp/t099.c || fail "chmod did not change the mask of $n: $(cat /tmp/t099.c)"
done
if setpriv --reuid 1000 --regid 1000 --clear-groups ls "$mnt/cd" >/dev/null 2>&1; then
	fail "user 1000 listed a directory past a mask of ---"
fi

# Default ACLs: inherited, and the umask does not apply.
setfacl -d -m u:1000:rwx,g::r-x,o::--- d || fail "setfacl -d"
umask 077
touch d/new && mkdir d/sub && mknod d/pipe p || fail "create under a default ACL"
umask 022
getfacl -cpEn d/new >/tmp/t099.n 2>/dev/null
grep -qx "user:1000:rwx" /tmp/t099.n && grep -qx "mask::rw-" /tmp/t099.n ||
	fail "file did not inherit the default ACL: $(cat /tmp/t099.n)"
[ "$(stat -c %a d/new)" = 660 ] || fail "inherited mode of d/new: $(stat -c %a d/new) (want 660: 666 masked by the ACL)"
getfacl -cpEn d/sub >/tmp/t099.s 2>/dev/null
grep -qx "default:user:1000:rwx" /tmp/t099.s && grep -qx "user:1000:rwx" /tmp/t099.s ||
	fail "directory did not inherit both ACLs: $(cat /tmp/t099.s)"
setpriv --reuid 1000 --regid 1000 --clear-groups sh -c "echo x >$mnt/d/sub/by1000" || fail "user 1000 cannot create through an inherited ACL"

# The largest ACL: 4 base entries and 122 named users fill the inline room of
# a 4 KiB block ((4096 - 40) / 4 = 1014 bytes: 4 + 8 * 126); one more is E2BIG (as XFS).
touch big
spec=$(seq 2000 2121 | sed 's/^/u:/; s/$/:r/' | paste -sd,)
setfacl -m "$spec" big || fail "setfacl of 126 entries"
if setfacl -m u:3000:r big 2>/tmp/t099.e; then fail "an ACL of 127 entries was stored"; fi
grep -q "Argument list too long" /tmp/t099.e || fail "127 entries: $(cat /tmp/t099.e)"
[ "$(getfacl -cpEn big 2>/dev/null | grep -c '^user:[0-9]')" = 122 ] || fail "big ACL lost entries"

for p in f f2 d d/new d/sub d/pipe big p cd cp; do getfacl -pEn "$p" 2>/dev/null; done >/tmp/t099.all
cd /
umount "$mnt"
fsck.rextfs -n "$dev" || fail "fsck -n after ACLs"
mount -t rextfs "$dev" "$mnt" || fail "remount"
echo 3 >/proc/sys/vm/drop_caches
(cd "$mnt" && for p in f f2 d d/new d/sub d/pipe big p cd cp; do getfacl -pEn "$p" 2>/dev/null; done) >/tmp/t099.again
cmp -s /tmp/t099.all /tmp/t099.again || fail "ACLs differ after a remount: $(diff /tmp/t099.all /tmp/t099.again | head)"

# Journal: an ACL set just before a shutdown that flushes the log is there.
setfacl -m u:1234:r "$mnt/f" || fail "setfacl before shutdown"
xfs_io -x -c "shutdown -f" "$mnt" || fail "shutdown -f"
umount "$mnt"
mount -t rextfs "$dev" "$mnt" || fail "mount after shutdown"
getfacl -cpEn "$mnt/f" >/tmp/t099.f 2>/dev/null
grep -qx "user:1234:r--" /tmp/t099.f || fail "ACL lost in journal replay: $(cat /tmp/t099.f)"
umount "$mnt"
fsck.rextfs -n "$dev" || fail "fsck -n at the end"
