# SPDX-License-Identifier: GPL-2.0
# Extended attributes (user., trusted., security.) with setfattr/getfattr and
# the system calls: every namespace on files, directories, symlinks and special
# files (user. refused on the last two, as the VFS does); values of 0 bytes to
# 64 KiB, inline and in value blocks, with 4 KiB and 1 KiB blocks; hundreds of
# attributes on one inode over several xattr blocks, up to the 64-block limit
# and the 64 KiB limit of listed names (ENOSPC); XATTR_CREATE/XATTR_REPLACE
# and missing names (EEXIST, ENODATA); trusted. names hidden from
# unprivileged callers; every value read back equal after a remount and after drop_caches; removal and unlink give every
# block back; attributes survive a shutdown that flushes the log (journal
# replay); fsck -n is clean after each part; fiemap -a reports exactly the
# attribute blocks, the last flagged last.
. "$REPO/tests/vm/lib.sh"

command -v setfattr >/dev/null && command -v getfattr >/dev/null ||
	skip "setfattr/getfattr not installed (Debian package attr)"
mnt=/tmp/t096
mkdir -p "$mnt"
dev=/dev/vda

free_blocks() { stat -f -c %f "$mnt"; }

# check_values DIR: the attributes the Python part below wrote, read back.
run_py() { python3 - "$@" <<'PY'
import errno, hashlib, os, stat, sys
mode, top, bs = sys.argv[1], sys.argv[2], int(sys.argv[3])
inline_max = (bs - 40) // 4
sizes = [0, 1, 17, inline_max, inline_max + 1, bs - 40, bs, 3 * bs + 5, 65536]

def value(name, n):  # n bytes that depend on the name
    return hashlib.shake_256(name.encode()).digest(n)

def expect(err, f, *a, **kw):
    try:
        f(*a, **kw)
    except OSError as e:
        assert e.errno == err, (f.__name__, a[:2], errno.errorcode.get(e.errno), errno.errorcode[err])
        return
    raise AssertionError(f"{f.__name__}{a[:2]} succeeded, expected {errno.errorcode[err]}")

files = {"file": "f", "dir": "d", "fastlink": "l", "fifo": "p"}

def setup():
    open(f"{top}/file", "wb").write(b"data" * 1000)
    os.mkdir(f"{top}/dir")
    os.symlink("target-of-a-fast-symlink", f"{top}/fastlink")
    os.mkfifo(f"{top}/fifo")
    for name in files:
        p = f"{top}/{name}"
        for ns in ("trusted", "security") + (("user",) if name in ("file", "dir") else ()):
            for n in sizes:
                os.setxattr(p, f"{ns}.v{n}", value(f"{name}{ns}{n}", n), follow_symlinks=False)
        if name in ("fastlink", "fifo"):
            expect(errno.EPERM, os.setxattr, p, "user.x", b"1", 0, follow_symlinks=False)
    p = f"{top}/file"
    expect(errno.EEXIST, os.setxattr, p, "user.v1", b"x", os.XATTR_CREATE)
    expect(errno.ENODATA, os.setxattr, p, "user.none", b"x", os.XATTR_REPLACE)
    expect(errno.ENODATA, os.removexattr, p, "user.none")
    expect(errno.ENODATA, os.getxattr, p, "user.none")
    expect(errno.EOPNOTSUPP, os.setxattr, p, "bogus.x", b"x")
    # Replacing moves values between inline and value blocks, both ways.
    os.setxattr(p, "user.v1", value("grow", 5000), os.XATTR_REPLACE)
    os.setxattr(p, "user.v65536", value("shrink", 3), os.XATTR_REPLACE)
    os.setxattr(p, "user.v1", value("file" "user" "1", 1))
    os.setxattr(p, "user.v65536", value("file" "user" "65536", 65536))
    # Many attributes on the directory: several xattr blocks.
    for i in range(300):
        os.setxattr(f"{top}/dir", f"user.many.{i:04}", value(f"many{i}", 100))

def check():
    for name in files:
        p = f"{top}/{name}"
        want = set()
        for ns in ("trusted", "security") + (("user",) if name in ("file", "dir") else ()):
            for n in sizes:
                got = os.getxattr(p, f"{ns}.v{n}", follow_symlinks=False)
                assert got == value(f"{name}{ns}{n}", n), (p, ns, n, len(got))
                want.add(f"{ns}.v{n}")
        if name == "dir":
            for i in range(300):
                assert os.getxattr(p, f"user.many.{i:04}") == value(f"many{i}", 100), i
                want.add(f"user.many.{i:04}")
        got = set(os.listxattr(p, follow_symlinks=False))
        assert got == want, (p, sorted(got ^ want)[:5])

def hidden():
    # An unprivileged caller lists no trusted. names and cannot read them.
    pid = os.fork()
    if pid == 0:
        try:
            os.setresuid(1000, 1000, 1000)
            names = os.listxattr(f"{top}/file")
            assert names and not [n for n in names if n.startswith("trusted.")], names
            expect(errno.ENODATA, os.getxattr, f"{top}/file", "trusted.v1")
            os._exit(0)
        except BaseException as e:
            print(e, file=sys.stderr)
            os._exit(1)
    _, st = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(st) == 0

def limit():
    # Longest names with inline values of the largest inline size: the chain
    # reaches its 64 blocks, then ENOSPC; everything written reads back.
    p = f"{top}/limit"
    open(p, "w").close()
    n = 0
    while True:
        name = f"user.{n:06}" + "x" * (255 - 5 - 6)
        try:
            os.setxattr(p, name, value(name, inline_max))
        except OSError as e:
            assert e.errno == errno.ENOSPC, errno.errorcode.get(e.errno)
            break
        n += 1
        assert n < 10000
    per_block = (bs - 40) // (8 + 250 + inline_max)
    assert n == 64 * per_block, (n, per_block)
    for i in range(n):
        name = f"user.{i:06}" + "x" * (255 - 5 - 6)
        assert os.getxattr(p, name) == value(name, inline_max)
    print(n)

def listmax():
    # Names of the longest full length (255) with 1-byte values: the listed
    # names may add up to XATTR_LIST_MAX (64 KiB, 256 such names) and no more
    # (ENOSPC), unless the 64 blocks fill first; listxattr returns them all.
    p = f"{top}/listmax"
    open(p, "w").close()
    n = 0
    while True:
        name = f"user.{n:06}" + "y" * (255 - 5 - 6)
        try:
            os.setxattr(p, name, b"v")
        except OSError as e:
            assert e.errno == errno.ENOSPC, errno.errorcode.get(e.errno)
            break
        n += 1
        assert n < 10000
    per_block = (bs - 40) // (8 + 250 + 1)
    assert n == min(64 * per_block, 65536 // 256), (n, per_block)
    names = os.listxattr(p)
    assert len(names) == n and sum(len(x) + 1 for x in names) == 256 * n, len(names)
    # Replacing a value of a listed name is no new name: allowed at the limit.
    os.setxattr(p, names[0], b"w", os.XATTR_REPLACE)
    assert os.getxattr(p, names[0]) == b"w"
    print(n)

def remove_all():
    for name in list(files) + ["limit", "listmax"]:
        p = f"{top}/{name}"
        for a in os.listxattr(p, follow_symlinks=False):
            os.removexattr(p, a, follow_symlinks=False)
        assert os.listxattr(p, follow_symlinks=False) == [], p
    st = os.lstat(f"{top}/fastlink")
    assert st.st_blocks == 0, st.st_blocks

def drop():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3")

for m in mode.split(","):  # several steps in one interpreter: each start costs seconds under TCG
    {"setup": setup, "check": check, "hidden": hidden, "limit": limit, "listmax": listmax,
     "remove": remove_all, "drop": drop}[m]()
PY
}

for bs in 4096 1024; do
	note "block size $bs"
	mkfs.rextfs -q -f -b "$bs" "$dev" || fail "mkfs.rextfs -b $bs"
	mount -t rextfs "$dev" "$mnt" || fail "mount"
	base=$(free_blocks)
	run_py setup,check,hidden "$mnt" "$bs" ||
		fail "setting attributes, reading them back, trusted. hidden from others ($bs)"
	# The real tools agree with the system calls.
	setfattr -n user.tool -v "hello world" "$mnt/file" || fail "setfattr"
	[ "$(getfattr --only-values -n user.tool "$mnt/file" 2>/dev/null)" = "hello world" ] || fail "getfattr"
	getfattr -d -m - "$mnt/file" >/tmp/t096.dump 2>/dev/null || fail "getfattr -d"
	grep -q '^security.v17=' /tmp/t096.dump || fail "getfattr -d: $(head -c 300 /tmp/t096.dump)"
	setfattr -x user.tool "$mnt/file" || fail "setfattr -x"
	if getfattr -n user.tool "$mnt/file" 2>/tmp/t096.err; then fail "removed attribute still there"; fi
	grep -q "No such attribute" /tmp/t096.err || fail "getfattr of a removed attribute: $(cat /tmp/t096.err)"
	n=$(run_py limit,listmax "$mnt" "$bs") || fail "64-block limit or XATTR_LIST_MAX limit ($bs)"
	read -r -d '' nlimit nlist <<<"$n" || true
	note "$nlimit attributes at the limit, $nlist names at the list limit"
	umount "$mnt"
	fsck.rextfs -n "$dev" || fail "fsck -n after setting attributes ($bs)"
	mount -t rextfs "$dev" "$mnt" || fail "remount"
	run_py check,drop,check,remove "$mnt" "$bs" ||
		fail "attributes after a remount, after drop_caches, or removing them ($bs)"
	sync
	rm -f "$mnt/limit" "$mnt/listmax"
	sync
	[ "$(free_blocks)" -ge "$((base - 8))" ] || fail "blocks not given back: $base free before, $(free_blocks) after"
	umount "$mnt"
	fsck.rextfs -n "$dev" || fail "fsck -n after removing attributes ($bs)"
done

# --- unlinked with attributes: eviction and orphan processing free them ----
mkfs.rextfs -q -f "$dev" || fail "mkfs.rextfs"
mount -t rextfs "$dev" "$mnt" || fail "mount"
# The root directory's first block stays once a name was added.
touch "$mnt/first" && rm "$mnt/first" && sync
base=$(free_blocks)
run_py setup "$mnt" 4096 || fail "setting attributes"
exec 9<"$mnt/file"
rm -rf "$mnt/file" "$mnt/dir" "$mnt/fastlink" "$mnt/fifo"
exec 9<&-
sync
[ "$(free_blocks)" -eq "$base" ] || fail "unlink left blocks: $base free before, $(free_blocks) after"
umount "$mnt"
fsck.rextfs -n "$dev" || fail "fsck -n after unlinking files with attributes"
mount -t rextfs "$dev" "$mnt" || fail "mount after unlink"
run_py setup "$mnt" 4096 || fail "setting attributes again"
sync
exec 9<"$mnt/file"
rm -f "$mnt/file"
xfs_io -x -c "shutdown -f" "$mnt" || fail "shutdown -f with an open unlinked file"
exec 9<&-
umount "$mnt"
mount -t rextfs "$dev" "$mnt" || fail "mount after shutdown with an orphan"
dmesg_has "freed 1 orphan inodes" || fail "the orphan with attributes was not freed at mount"
rm -rf "$mnt/dir" "$mnt/fastlink" "$mnt/fifo"
sync
[ "$(free_blocks)" -eq "$base" ] || fail "orphan left blocks: $base free before, $(free_blocks) after"
umount "$mnt"
fsck.rextfs -n "$dev" || fail "fsck -n after freeing an orphan with attributes"

# --- journal: attributes survive a shutdown that flushes the log ----------
mount -t rextfs "$dev" "$mnt" || fail "mount"
run_py setup "$mnt" 4096 || fail "setting attributes before shutdown"
xfs_io -x -c "shutdown -f" "$mnt" || fail "shutdown -f"
umount "$mnt"
mount -t rextfs "$dev" "$mnt" || fail "mount after shutdown"
run_py check "$mnt" 4096 || fail "attributes after journal replay"
umount "$mnt"
fsck.rextfs -n "$dev" || fail "fsck -n after journal replay"

# --- fiemap -a (FIEMAP_FLAG_XATTR): the attribute blocks as extents ---------
mount -t rextfs "$dev" "$mnt" || fail "mount for fiemap -a"
touch "$mnt/fa" "$mnt/none"
sync
base=$(free_blocks)
setfattr -n user.small -v x "$mnt/fa" || fail "setfattr user.small"
python3 -c "import os; os.setxattr('$mnt/fa', 'user.big', b'v' * 20000)" || fail "setxattr user.big"
sync
used=$((base - $(free_blocks)))
bs=$(stat -f -c %S "$mnt")
# xfs_io's TOTAL column counts 512-byte sectors; the last extent has FIEMAP_EXTENT_LAST.
fiemap_a() { xfs_io -c "fiemap -a -v" "$1" | awk '$1 ~ /^[0-9]+:$/ { n++; s += $4; f = $5 } END { print n + 0, s + 0, f }'; }
read -r n sectors last <<<"$(fiemap_a "$mnt/fa")"
[ "$n" -ge 1 ] && [ "$sectors" -eq $((used * bs / 512)) ] ||
	fail "fiemap -a: $n extents of $sectors sectors, the attributes use $used blocks of $bs bytes"
[ $((last & 1)) -eq 1 ] || fail "fiemap -a: the last extent is not flagged last ($last)"
read -r n sectors last <<<"$(fiemap_a "$mnt/none")"
[ "$n" -eq 0 ] || fail "fiemap -a of a file without attributes: $n extents"
umount "$mnt"
mount -t rextfs "$dev" "$mnt" || fail "remount for fiemap -a"
read -r n sectors last <<<"$(fiemap_a "$mnt/fa")"
[ "$sectors" -eq $((used * bs / 512)) ] || fail "fiemap -a after a remount: $sectors sectors"
umount "$mnt"
