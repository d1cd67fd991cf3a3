# SPDX-License-Identifier: GPL-2.0
# The volume label of a mounted rextfs (FS_IOC_GETFSLABEL/SETFSLABEL, as
# xfs_io -c label uses them): the label mkfs wrote is read back, a new one
# (up to the format's 32 bytes) is set through a file or a directory, is on
# disk at once (rextfs-dump of the device while mounted) and after a remount,
# and can be cleared. A 33-byte label is EINVAL, a caller without
# CAP_SYS_ADMIN gets EPERM, a read-only mount EROFS; a refused change leaves
# the label as it was, and fsck stays clean.
. "$REPO/tests/vm/lib.sh"

mnt=/tmp/t087
mkdir -p "$mnt"
mkfs.rextfs -q -f -L first /dev/vda 4096 || fail "mkfs.rextfs failed"
mount -t rextfs /dev/vda "$mnt" || fail "mount failed"
echo data >"$mnt/file" && mkdir "$mnt/dir" || fail "setup"

label() { xfs_io -r -c label "$1" | sed -n 's/^label = "\(.*\)"$/\1/p'; }
on_disk() { rextfs-dump /dev/vda sb | sed -n 's/^label  *"\(.*\)"$/\1/p'; }
[ "$(label "$mnt/file")" = first ] || fail "label from mkfs: '$(label "$mnt/file")'"
xfs_io -c "label -s second" "$mnt/dir" >/dev/null || fail "set the label through a directory"
[ "$(label "$mnt/file")" = second ] || fail "label after setting it: '$(label "$mnt/file")'"
[ "$(on_disk)" = second ] || fail "label on disk while mounted: '$(on_disk)'"
long32=abcdefghijklmnopqrstuvwxyz012345
xfs_io -c "label -s $long32" "$mnt/file" >/dev/null || fail "set a 32-byte label"
[ "$(label "$mnt/file")" = "$long32" ] || fail "32-byte label: '$(label "$mnt/file")'"

python3 - "$mnt/file" "$long32" <<'PY' || fail "refused label changes"
import errno, fcntl, os, sys
path, current = sys.argv[1], sys.argv[2].encode()
GET, SET = 0x81009431, 0x41009432
def get():
    return fcntl.ioctl(os.open(path, os.O_RDONLY), GET, bytes(256)).rstrip(b"\0")
def refused(label, want, uid=None):
    fd = os.open(path, os.O_RDONLY)
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            if uid is not None:
                os.setresuid(uid, uid, uid)
            fcntl.ioctl(fd, SET, label.ljust(256, b"\0")[:256])
            code = 1
        except OSError as e:
            code = 0 if e.errno == want else 2
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, (label, want, status)
    assert get() == current, get()
refused(b"x" * 33, errno.EINVAL)
refused(b"y" * 256, errno.EINVAL)  # no NUL at all
refused(b"user", errno.EPERM, uid=1000)
PY

umount "$mnt" || fail "umount"
fsck.rextfs -n /dev/vda || fail "fsck after label changes"
mount -t rextfs -o ro /dev/vda "$mnt" || fail "mount ro"
[ "$(label "$mnt/file")" = "$long32" ] || fail "label after a remount"
if xfs_io -r -c "label -s ro" "$mnt/file" 2>/tmp/t087.err; then fail "label set on a read-only mount"; fi
grep -q "Read-only file system" /tmp/t087.err || fail "read-only mount: $(cat /tmp/t087.err)"
umount "$mnt"
mount -t rextfs /dev/vda "$mnt" || fail "remount"
xfs_io -c "label -c" "$mnt/file" >/dev/null || fail "clear the label"
[ "$(label "$mnt/file")" = "" ] || fail "label after clearing: '$(label "$mnt/file")'"
umount "$mnt" || fail "umount"
[ "$(on_disk)" = "" ] || fail "cleared label on disk: '$(on_disk)'"
fsck.rextfs -n /dev/vda || fail "fsck at the end"
exit 0
