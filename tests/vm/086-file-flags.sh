# SPDX-License-Identifier: GPL-2.0
# Inode flags (chattr/lsattr, FS_IOC_GETFLAGS/SETFLAGS, FS_IOC_FSGETXATTR/
# FSSETXATTR): immutable files refuse writes, truncation, links, renames,
# unlinks and attribute changes, also through a descriptor or a shared mapping
# made before the flag was set (EPERM, SIGBUS); append-only files take only
# appends; flags on directories protect their entries; noatime stops atime
# updates; new inodes inherit sync, nodump and noatime from their directory,
# never immutable or append; statx reports immutable, append and nodump (and
# the creation time).
# Flags survive drop_caches and a remount and fsck stays clean. Flags the format cannot hold, extent size hints and project ids
# are refused with EOPNOTSUPP, a read-only mount gives EROFS, and an owner
# without CAP_LINUX_IMMUTABLE cannot set immutable (EPERM).
. "$REPO/tests/vm/lib.sh"

mnt=/tmp/t086
start=$(date +%s)
mkdir -p "$mnt"
mkfs.rextfs -q -f /dev/vda 16384 || fail "mkfs.rextfs failed"
mount -t rextfs /dev/vda "$mnt" || fail "mount failed"

# The letters lsattr shows for one file, without the dashes.
flags() { lsattr -d "$1" | awk '{print $1}' | tr -d -; }
echo "precious" >"$mnt/imm" && echo "log line 1" >"$mnt/app" && mkdir "$mnt/adir" "$mnt/idir" "$mnt/inh" ||
	fail "setup"
echo "kept" >"$mnt/adir/old"
python3 - "$mnt" <<'PY' || fail "immutable and append-only files"
import ctypes, errno, fcntl, mmap, os, signal, struct, subprocess, sys
m = sys.argv[1]
GETFLAGS, SETFLAGS = 0x80086601, 0x40086602
IMMUTABLE, APPEND = 0x10, 0x20
libc = ctypes.CDLL(None, use_errno=True)

def getflags(p):
    fd = os.open(p, os.O_RDONLY)
    try:
        return struct.unpack("i", fcntl.ioctl(fd, GETFLAGS, struct.pack("i", 0)))[0]
    finally:
        os.close(fd)

def setflags(p, f):
    fd = os.open(p, os.O_RDONLY)
    try:
        fcntl.ioctl(fd, SETFLAGS, struct.pack("i", f))
    finally:
        os.close(fd)

def eperm(what, fn, *args, want=errno.EPERM):
    try:
        fn(*args)
    except OSError as e:
        assert e.errno == want, (what, e)
        return
    raise AssertionError(f"{what} succeeded on a protected file")

imm, app = f"{m}/imm", f"{m}/app"
# A descriptor and a shared mapping made while the file was still writable.
early = os.open(imm, os.O_RDWR)
assert getflags(imm) == 0
setflags(imm, IMMUTABLE)
assert getflags(imm) == IMMUTABLE, hex(getflags(imm))
eperm("open for writing", os.open, imm, os.O_WRONLY)
eperm("write through an old descriptor", os.pwrite, early, b"X", 0)
eperm("ftruncate through an old descriptor", os.ftruncate, early, 0)
eperm("fallocate", os.posix_fallocate, early, 0, 65536)
eperm("truncate", os.truncate, imm, 0)
eperm("unlink", os.unlink, imm)
eperm("rename", os.rename, imm, f"{m}/moved")
eperm("link", os.link, imm, f"{m}/hard")
eperm("chmod", os.chmod, imm, 0o600)
eperm("chown", os.chown, imm, 1, 1)
eperm("utime", os.utime, imm, (0, 0))
# A write fault on a mapping made before the flag: SIGBUS, the data unchanged.
r = subprocess.run([sys.executable, "-c", f"""
import fcntl, mmap, os, struct
p = {imm!r}
fd = os.open(p, os.O_RDONLY)
fcntl.ioctl(fd, 0x40086602, struct.pack("i", 0))
rw = os.open(p, os.O_RDWR)
mm = mmap.mmap(rw, 0, mmap.MAP_SHARED)
fcntl.ioctl(fd, 0x40086602, struct.pack("i", {IMMUTABLE}))
mm[0:1] = b"Y"
"""])
assert r.returncode == -signal.SIGBUS, r.returncode
assert getflags(imm) == IMMUTABLE
assert open(imm).read() == "precious\n"
os.close(early)
setflags(imm, 0)
with open(imm, "a") as f:
    f.write("changed\n")
assert open(imm).read() == "precious\nchanged\n"

# Append-only: appends work, nothing else changes the data or the name.
setflags(app, APPEND)
with open(app, "a") as f:
    f.write("log line 2\n")
eperm("open for writing without O_APPEND", os.open, app, os.O_WRONLY)
eperm("open with O_TRUNC", os.open, app, os.O_WRONLY | os.O_APPEND | os.O_TRUNC)
eperm("truncate", os.truncate, app, 0)
eperm("unlink", os.unlink, app)
eperm("rename", os.rename, app, f"{m}/moved")
fd = os.open(app, os.O_WRONLY | os.O_APPEND)
eperm("ftruncate", os.ftruncate, fd, 0)
FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE = 1, 2
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
assert libc.fallocate(fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, 0, 4096) == -1
assert ctypes.get_errno() == errno.EPERM, ctypes.get_errno()
os.write(fd, b"log line 3\n")
os.close(fd)
assert open(app).read() == "log line 1\nlog line 2\nlog line 3\n"

# Directories: append-only takes new entries but keeps the old ones;
# immutable takes none.
setflags(f"{m}/adir", APPEND)
open(f"{m}/adir/new", "w").close()
eperm("unlink in an append-only directory", os.unlink, f"{m}/adir/old")
eperm("rename out of an append-only directory", os.rename, f"{m}/adir/new", f"{m}/x")
setflags(f"{m}/idir", IMMUTABLE)
eperm("create in an immutable directory", os.open, f"{m}/idir/f", os.O_CREAT | os.O_WRONLY)
eperm("mkdir in an immutable directory", os.mkdir, f"{m}/idir/d")
PY

# Flags the format has no room for, and extended attributes beyond the flags.
python3 - "$mnt" <<'PY' || fail "unsupported flags"
import errno, fcntl, os, struct, sys
m = sys.argv[1]
fd = os.open(f"{m}/inh", os.O_RDONLY)
def refused(what, req, arg):
    try:
        fcntl.ioctl(fd, req, arg)
    except OSError as e:
        assert e.errno == errno.EOPNOTSUPP, (what, e)
        return
    raise AssertionError(f"{what} accepted")
COMPR, NOCOW, PROJINHERIT = 0x4, 0x800000, 0x20000000
for f in (COMPR, NOCOW, PROJINHERIT):
    refused(f"flag {f:#x}", 0x40086602, struct.pack("i", f))
# struct fsxattr: xflags, extsize, nextents, projid, cowextsize, pad[8].
FSGETXATTR, FSSETXATTR = 0x801c581f, 0x401c5820
xflags, extsize, _, projid, _ = struct.unpack("5I8x", fcntl.ioctl(fd, FSGETXATTR, bytes(28)))
assert (xflags, extsize, projid) == (0, 0, 0), (xflags, extsize, projid)
hint = os.open(f"{m}/hint", os.O_CREAT | os.O_RDWR, 0o644)
try:
    fcntl.ioctl(hint, FSSETXATTR, struct.pack("5I8x", 0x800, 65536, 0, 0, 0))
    sys.exit("an extent size hint was accepted")
except OSError as e:
    assert e.errno == errno.EOPNOTSUPP, e
os.close(hint)
refused("a project id", FSSETXATTR, struct.pack("5I8x", 0, 0, 0, 42, 0))
# FS_XFLAG_NODUMP | FS_XFLAG_NOATIME through FSSETXATTR is the flags "dA".
fcntl.ioctl(fd, FSSETXATTR, struct.pack("5I8x", 0x80 | 0x40, 0, 0, 0, 0))
flags = struct.unpack("i", fcntl.ioctl(fd, 0x80086601, struct.pack("i", 0)))[0]
assert flags == 0x40 | 0x80, hex(flags)
xflags = struct.unpack("5I8x", fcntl.ioctl(fd, FSGETXATTR, bytes(28)))[0]
assert xflags == 0x80 | 0x40, hex(xflags)
PY
[ "$(flags "$mnt/inh")" = dA ] || fail "FSSETXATTR flags: $(flags "$mnt/inh")"
chattr +S +a "$mnt/inh" || fail "chattr +S +a on a directory"
# Inheritance: sync, nodump and noatime; not append-only.
echo new >"$mnt/inh/child" && mkdir "$mnt/inh/sub" || fail "create in a flagged directory"
[ "$(flags "$mnt/inh/child")" = SdA ] || fail "inherited: $(flags "$mnt/inh/child")"
[ "$(flags "$mnt/inh/sub")" = SdA ] || fail "inherited by a directory: $(flags "$mnt/inh/sub")"
echo more >"$mnt/inh/sub/grandchild" || fail "create in a subdirectory"
[ "$(flags "$mnt/inh/sub/grandchild")" = SdA ] || fail "inherited twice"

# noatime: a read leaves an old atime alone, without the flag it moves.
echo data >"$mnt/atime-on" && echo data >"$mnt/atime-off" || fail "setup"
touch -a -d 2001-01-01 "$mnt/atime-on" "$mnt/atime-off"
chattr +A "$mnt/atime-off" || fail "chattr +A"
cat "$mnt/atime-on" "$mnt/atime-off" >/dev/null
[ "$(stat -c %X "$mnt/atime-on")" -gt 1000000000 ] || fail "atime did not move"
[ "$(stat -c %X "$mnt/atime-off")" = "$(date -d 2001-01-01 +%s)" ] || fail "atime moved on a noatime file"

# Not the owner's to make immutable without CAP_LINUX_IMMUTABLE; others' not at all.
echo mine >"$mnt/user-file" && chown 1000:1000 "$mnt/user-file" || fail "setup"
setpriv --reuid 1000 --regid 1000 --clear-groups chattr +d "$mnt/user-file" ||
	fail "the owner cannot set nodump"
if setpriv --reuid 1000 --regid 1000 --clear-groups chattr +i "$mnt/user-file" 2>/dev/null; then
	fail "an owner without CAP_LINUX_IMMUTABLE set immutable"
fi
if setpriv --reuid 1001 --regid 1001 --clear-groups chattr -d "$mnt/user-file" 2>/dev/null; then
	fail "another user changed the flags"
fi
[ "$(flags "$mnt/user-file")" = d ] || fail "user flags: $(flags "$mnt/user-file")"

chattr +i "$mnt/imm" && chattr +d "$mnt/app" || fail "chattr"
# statx reports immutable (0x10), append (0x20) and nodump (0x40), and says
# it knows all three (attributes_mask).
statx_attrs() { xfs_io -r -c "statx -r" "$1" | sed -n "s/^stat.attributes${2:-} = //p"; }
[ "$(statx_attrs "$mnt/imm")" = 0x10 ] || fail "statx attributes of imm: $(statx_attrs "$mnt/imm")"
[ "$(statx_attrs "$mnt/app")" = 0x60 ] || fail "statx attributes of app: $(statx_attrs "$mnt/app")"
[ "$(statx_attrs "$mnt/inh")" = 0x60 ] || fail "statx attributes of a directory: $(statx_attrs "$mnt/inh")"
[ $(($(statx_attrs "$mnt/user-file" _mask) & 0x70)) = $((0x70)) ] || fail "statx attributes_mask"
expected=$(lsattr -d "$mnt"/* "$mnt"/inh/* "$mnt"/inh/sub/* 2>&1)
# statx also reports the creation time (STATX_BTIME), which later changes
# leave alone and which is on disk.
btime() { xfs_io -r -c "statx -r -m 0x800" "$1" | sed -n 's/^stat.btime.tv_\(n*sec\) = //p' | tr '\n' .; }
btime_imm=$(btime "$mnt/imm")
[ "${btime_imm%%.*}" -ge "$start" ] && [ "${btime_imm%%.*}" -le "$(date +%s)" ] ||
	fail "btime of imm: $btime_imm (test started at $start)"
sync
echo 3 >/proc/sys/vm/drop_caches
[ "$(lsattr -d "$mnt"/* "$mnt"/inh/* "$mnt"/inh/sub/* 2>&1)" = "$expected" ] || fail "flags after drop_caches"
umount "$mnt" || fail "umount"
fsck.rextfs -n /dev/vda || fail "fsck with flags set"
mount -t rextfs -o ro /dev/vda "$mnt" || fail "mount ro"
[ "$(lsattr -d "$mnt"/* "$mnt"/inh/* "$mnt"/inh/sub/* 2>&1)" = "$expected" ] || fail "flags after a remount"
[ "$(btime "$mnt/imm")" = "$btime_imm" ] || fail "btime after a remount: $(btime "$mnt/imm"), was $btime_imm"
python3 - "$mnt/app" <<'PY' || fail "chattr on a read-only mount"
import errno, fcntl, os, struct, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
try:
    fcntl.ioctl(fd, 0x40086602, struct.pack("i", 0))
    sys.exit("flags changed on a read-only mount")
except OSError as e:
    assert e.errno == errno.EROFS, e
PY
umount "$mnt"
mount -t rextfs /dev/vda "$mnt" || fail "remount"
[ "$(cat "$mnt/imm")" = "precious
changed" ] || fail "immutable data"
if rm -f "$mnt/imm" 2>/dev/null; then fail "an immutable file was removed after a remount"; fi
chattr -R -i -a -S -A -d "$mnt" || fail "chattr -R"
rm -rf "$mnt"/* || fail "rm after clearing the flags"
umount "$mnt" || fail "umount"
fsck.rextfs -n /dev/vda || fail "fsck at the end"
exit 0
