# SPDX-License-Identifier: GPL-2.0
# Idmapped mounts (FS_ALLOW_IDMAP): a second mount of the same file system
# through a user namespace mapping ids 0..65535 to 10000..75535 (made with
# open_tree, mount_setattr(MOUNT_ATTR_IDMAP) and move_mount). Files owned by 0
# show as 10000 through it; files, directories, FIFOs, symlinks and O_TMPFILE
# files created through it by uid/gid 10005 are owned by 5 on disk (seen
# through the plain mount and after a remount); chown through it stores the
# unmapped id; a caller whose ids have no mapping cannot create (EOVERFLOW);
# an ACL entry set through it names the unmapped user (also after a
# remount); fsck -n is clean.
. "$REPO/tests/vm/lib.sh"

command -v setfacl >/dev/null && command -v getfacl >/dev/null ||
	skip "setfacl/getfacl not installed (Debian package acl)"

mnt=/tmp/t100
idm=/tmp/t100i
dev=/dev/vda
mkdir -p "$mnt" "$idm"
mkfs.rextfs -q -f "$dev" || fail "mkfs.rextfs"
mount -t rextfs "$dev" "$mnt" || fail "mount"
chmod 1777 "$mnt"
echo root-file >"$mnt/rootfile"

# A user namespace with the mapping (written by us, root of the parent
# namespace), kept alive by a sleeping process.
unshare --user sleep 600 &
ns_pid=$!
for _ in $(seq 100); do
	[ "$(readlink /proc/$ns_pid/ns/user)" != "$(readlink /proc/self/ns/user)" ] && break
	sleep 0.1
done
echo "0 10000 65536" >/proc/$ns_pid/uid_map && echo "0 10000 65536" >/proc/$ns_pid/gid_map ||
	fail "cannot write the user namespace's maps"
cleanup() { kill "$ns_pid" 2>/dev/null || true; umount "$idm" 2>/dev/null || true; }
trap cleanup EXIT

python3 - "$mnt" "$idm" "/proc/$ns_pid/ns/user" <<'PY' || fail "idmapped mount refused"
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
SYS_open_tree, SYS_move_mount, SYS_mount_setattr = 428, 429, 442
OPEN_TREE_CLONE, AT_EMPTY_PATH, AT_RECURSIVE = 1, 0x1000, 0x8000
MOVE_MOUNT_F_EMPTY_PATH, MOUNT_ATTR_IDMAP = 4, 0x00100000

class MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]

def check(r, what):
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), what)
    return r

src, dst, ns = sys.argv[1:4]
userns = os.open(ns, os.O_RDONLY)
tree = check(libc.syscall(SYS_open_tree, -100, src.encode(), OPEN_TREE_CLONE | os.O_CLOEXEC), "open_tree")
attr = MountAttr(MOUNT_ATTR_IDMAP, 0, 0, userns)
check(libc.syscall(SYS_mount_setattr, tree, b"", AT_EMPTY_PATH, ctypes.byref(attr),
                   ctypes.sizeof(attr)), "mount_setattr(MOUNT_ATTR_IDMAP)")
check(libc.syscall(SYS_move_mount, tree, b"", -100, dst.encode(), MOVE_MOUNT_F_EMPTY_PATH), "move_mount")
PY

owner() { stat -c '%u:%g' "$1"; }
[ "$(owner "$idm/rootfile")" = "10000:10000" ] || fail "a file of 0:0 shows as $(owner "$idm/rootfile") through the idmapped mount"
[ "$(cat "$idm/rootfile")" = root-file ] || fail "contents through the idmapped mount"

# Creations through the idmapped mount by 10005:10005.
as() { setpriv --reuid "$1" --regid "$1" --clear-groups sh -c "$2"; }
as 10005 "cd $idm && echo f >file && mkdir dir && mkfifo fifo && ln -s file link" ||
	fail "creating through the idmapped mount as 10005"
# (linkat with AT_SYMLINK_FOLLOW: os.link would link the /proc symlink itself)
as 10005 "python3 -c \"import ctypes, os; fd = os.open('$idm', os.O_TMPFILE | os.O_WRONLY, 0o600); os.write(fd, b't'); assert ctypes.CDLL(None).linkat(-100, b'/proc/self/fd/%d' % fd, -100, b'$idm/tmp', 0x400) == 0\"" ||
	fail "O_TMPFILE and linkat through the idmapped mount as 10005"
for n in file dir fifo tmp; do
	[ "$(owner "$mnt/$n")" = "5:5" ] || fail "$n created by 10005 through the idmapped mount is $(owner "$mnt/$n") on disk, not 5:5"
	[ "$(owner "$idm/$n")" = "10005:10005" ] || fail "$n shows as $(owner "$idm/$n") through the idmapped mount"
done
[ "$(stat -c '%u:%g' "$mnt/link")" = "5:5" ] || fail "symlink is $(stat -c '%u:%g' "$mnt/link") on disk"

# chown through the idmapped mount stores the unmapped ids.
chown 10007:10008 "$idm/file" || fail "chown through the idmapped mount"
[ "$(owner "$mnt/file")" = "7:8" ] || fail "chown 10007:10008 stored $(owner "$mnt/file")"

# Ids without a mapping cannot own a new inode.
if as 1000 "echo x >$idm/unmapped" 2>/tmp/t100.e; then
	fail "uid 1000 (no mapping) created a file through the idmapped mount"
fi
grep -q "Value too large" /tmp/t100.e || fail "unmapped creator: $(cat /tmp/t100.e) (want EOVERFLOW)"

# An ACL entry set through the idmapped mount names the unmapped user.
setfacl -m u:10009:r "$idm/rootfile" || fail "setfacl through the idmapped mount"
getfacl -cpEn "$mnt/rootfile" 2>/dev/null | grep -qx "user:9:r--" ||
	fail "ACL through the idmapped mount: $(getfacl -cpEn "$mnt/rootfile" 2>/dev/null | tr '\n' ' ')"
getfacl -cpEn "$idm/rootfile" 2>/dev/null | grep -qx "user:10009:r--" ||
	fail "ACL read through the idmapped mount: $(getfacl -cpEn "$idm/rootfile" 2>/dev/null | tr '\n' ' ')"

umount "$idm" || fail "umount idmapped"
umount "$mnt" || fail "umount"
fsck.rextfs -n "$dev" || fail "fsck -n after idmapped creations"
mount -t rextfs "$dev" "$mnt" || fail "remount"
for n in dir fifo tmp; do
	[ "$(owner "$mnt/$n")" = "5:5" ] || fail "$n is $(owner "$mnt/$n") after a remount"
done
[ "$(owner "$mnt/file")" = "7:8" ] || fail "chowned file is $(owner "$mnt/file") after a remount"
echo 3 >/proc/sys/vm/drop_caches
getfacl -cpEn "$mnt/rootfile" 2>/dev/null | grep -qx "user:9:r--" ||
	fail "ACL set through the idmapped mount lost after a remount"
umount "$mnt"
