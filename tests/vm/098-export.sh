# SPDX-License-Identifier: GPL-2.0
# File handles (NFS export) with name_to_handle_at/open_by_handle_at: a
# file's and a directory's handle open the same file and directory, also
# after drop_caches (the directory is reconnected through its parents) and
# after a remount; a handle of an unlinked file still opens it while it is
# open, and is stale (ESTALE) once the file is gone, and stays stale when a new file gets its inode number (the
# generation differs); made-up handles (out of range, reserved, free inode
# numbers, the root with a wrong generation, unknown types) are ESTALE
# without a corruption report.
. "$REPO/tests/vm/lib.sh"

mnt=/tmp/t098
dev=/dev/vda
mkdir -p "$mnt"
mkfs.rextfs -q -f "$dev" || fail "mkfs.rextfs"
mount -t rextfs "$dev" "$mnt" || fail "mount"
mkdir -p "$mnt/a/b/c"
echo "file contents" >"$mnt/a/b/c/file"
echo "to be removed" >"$mnt/victim"

handles() { python3 - "$@" <<'PY'
import ctypes, errno, os, sys
libc = ctypes.CDLL(None, use_errno=True)

class FH(ctypes.Structure):
    _fields_ = [("handle_bytes", ctypes.c_uint), ("handle_type", ctypes.c_int),
                ("f_handle", ctypes.c_ubyte * 128)]

def err(what):
    e = ctypes.get_errno()
    raise OSError(e, os.strerror(e), what)

def make(path):
    fh, mid = FH(), ctypes.c_int()
    fh.handle_bytes = 128
    if libc.name_to_handle_at(-100, path.encode(), ctypes.byref(fh), ctypes.byref(mid), 0):
        err(path)
    return fh

def dump(fh):
    return f"{fh.handle_type} " + bytes(fh.f_handle[:fh.handle_bytes]).hex()

def load(line):
    t, h = line.split()
    fh = FH()
    raw = bytes.fromhex(h)
    fh.handle_bytes, fh.handle_type = len(raw), int(t)
    ctypes.memmove(fh.f_handle, raw, len(raw))
    return fh

def open_h(mfd, fh, flags=os.O_RDONLY):
    fd = libc.open_by_handle_at(mfd, ctypes.byref(fh), flags)
    if fd < 0:
        err("open_by_handle_at")
    return fd

def expect_stale(mfd, fh, what):
    try:
        os.close(open_h(mfd, fh))
    except OSError as e:
        assert e.errno == errno.ESTALE, (what, errno.errorcode.get(e.errno))
        return
    raise AssertionError(f"{what}: opened, expected ESTALE")

mode, top, store = sys.argv[1], sys.argv[2], sys.argv[3]
mfd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
if mode == "make":
    with open(store, "w") as f:
        for p in ("a/b/c/file", "a/b/c", "victim"):
            fh = make(f"{top}/{p}")
            assert fh.handle_type in (1, 2), fh.handle_type  # FILEID_INO32_GEN(_PARENT)
            print(p, os.stat(f"{top}/{p}").st_ino, dump(fh), file=f)
else:
    hs = {}
    for line in open(store):
        p, ino, rest = line.split(" ", 2)
        hs[p] = (int(ino), load(rest))
    if mode == "check":
        fd = open_h(mfd, hs["a/b/c/file"][1])
        assert os.read(fd, 100) == b"file contents\n"
        assert os.fstat(fd).st_ino == hs["a/b/c/file"][0]
        os.close(fd)
        fd = open_h(mfd, hs["a/b/c"][1], os.O_RDONLY | os.O_DIRECTORY)
        assert os.listdir(fd) == ["file"], os.listdir(fd)
        os.close(fd)
    elif mode == "open-unlinked":
        # Unlinked but still open: the handle opens it (as on ext4; generic/467).
        fd = open_h(mfd, hs["victim"][1])
        assert os.read(fd, 100) == b"to be removed\n"
        os.close(fd)
    elif mode == "stale":
        expect_stale(mfd, hs["victim"][1], "unlinked file")
    elif mode == "reused":
        # A new file with the old number: the old handle stays stale.
        ino = hs["victim"][0]
        assert os.stat(f"{top}/new").st_ino == ino, "inode number not reused"
        expect_stale(mfd, hs["victim"][1], "handle of an inode number now reused")
        fd = open_h(mfd, make(f"{top}/new"))
        assert os.read(fd, 100) == b"new\n"
        os.close(fd)
        # Made-up handles: out of range, reserved, free numbers; unknown type.
        for bad, gen in ((0xfffffff0, 0), (0, 0), (2, 0), (7, 0), (ino + 1000, 0), (1, 12345)):
            fh = load(f"1 {bad.to_bytes(4, 'little').hex()}{gen.to_bytes(4, 'little').hex()}")
            expect_stale(mfd, fh, f"made-up handle of inode {bad}, generation {gen}")
        fh = hs["a/b/c/file"][1]
        fh.handle_type = 0x77
        try:
            os.close(open_h(mfd, fh))
            raise AssertionError("a handle of unknown type opened")
        except OSError as e:
            assert e.errno in (errno.ESTALE, errno.EINVAL), errno.errorcode.get(e.errno)
PY
}

store=/tmp/t098.handles
handles make "$mnt" "$store" || fail "name_to_handle_at"
handles check "$mnt" "$store" || fail "open_by_handle_at with everything cached"
echo 3 >/proc/sys/vm/drop_caches
handles check "$mnt" "$store" || fail "open_by_handle_at after drop_caches (reconnecting the directory)"
umount "$mnt"
mount -t rextfs "$dev" "$mnt" || fail "remount"
handles check "$mnt" "$store" || fail "open_by_handle_at after a remount"
exec 9<"$mnt/victim"
rm "$mnt/victim"
handles open-unlinked "$mnt" "$store" || fail "handle of an unlinked file that is still open"
exec 9<&-
sync
echo 3 >/proc/sys/vm/drop_caches
handles stale "$mnt" "$store" || fail "handle of an unlinked file"
echo new >"$mnt/new"
handles reused "$mnt" "$store" || fail "stale handles"
test_dmesg >/tmp/t098.dmesg
if grep -q "reference to invalid inode\|corrupt" /tmp/t098.dmesg; then
	fail "a made-up handle was reported as corruption: $(grep -m1 'invalid inode\|corrupt' /tmp/t098.dmesg)"
fi
umount "$mnt"
fsck.rextfs -n "$dev" || fail "fsck -n after handle use"
