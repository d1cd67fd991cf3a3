# SPDX-License-Identifier: GPL-2.0
# fallocate on rextfs: preallocation as unwritten extents (mode 0 and
# KEEP_SIZE), PUNCH_HOLE, ZERO_RANGE (with and without KEEP_SIZE), UNSHARE
# refused with EOPNOTSUPP (COLLAPSE and INSERT: 045), growing past
# RLIMIT_FSIZE refused with EFBIG before anything is allocated. The same xfs_io commands run on an ext4
# reference file (/dev/vdb): the data must be equal (cmp, md5sum) from the page cache,
# after drop_caches and after a remount. fiemap -v must show the unwritten
# extents and the holes block by block, SEEK_DATA/SEEK_HOLE (xfs_io seek) the
# exact data ranges, stat the exact block count; punching dirty and mmapped
# page cache must not resurrect old data; ENOSPC leaks nothing; fsck.rextfs -n
# stays clean.
. "$REPO/tests/vm/lib.sh"

mnt=/tmp/t041
ref=/tmp/t041.ref
mkdir -p "$mnt" "$ref"
mkfs.ext4 -q -F /dev/vdb || fail "mkfs.ext4 for the reference"
mount /dev/vdb "$ref" || fail "mount the ext4 reference"
mkfs.rextfs -q -f /dev/vda || fail "mkfs.rextfs failed"
mount -t rextfs /dev/vda "$mnt" || fail "mount failed"
touch "$mnt/x" && rm "$mnt/x" || fail "create and remove a file"
free0=$(stat -f -c %f "$mnt")

# both FILE XFS_IO-ARGS...: the same xfs_io commands on the rextfs file and the
# ext4 reference; xfs_io reports failed commands on stderr, which must be empty.
both() {
	local f=$1
	shift
	local e
	for p in "$mnt/$f" "$ref/$f"; do
		e=$(xfs_io -f "$@" "$p" 2>&1 >/dev/null) || fail "xfs_io $* on $p"
		[ -z "$e" ] || fail "xfs_io $* on $p: $e"
	done
}
same() { cmp "$ref/$1" "$mnt/$1" || fail "$1 differs from the reference ($2)"; }

# blockmap FILE: one letter per 4 KiB block from fiemap -v up to the end of
# the last extent: D data, U unwritten, H hole.
# (awk, not Python: under TCG a Python start costs about a second.)
blockmap() {
	xfs_io -c "fiemap -v" "$1" | awk '
	function hex(s,  n, i) {
		n = 0
		for (i = 3; i <= length(s); i++)
			n = n * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
		return n
	}
	$1 ~ /^[0-9]+:$/ && $2 ~ /^\[[0-9]+\.\.[0-9]+\]:$/ {
		split(substr($2, 2, length($2) - 3), r, /\.\./)
		c = $3 == "hole" ? "H" : int(hex($5) / 2048) % 2 ? "U" : "D"
		for (i = 0; i < (r[2] + 1 - r[1]) / 8; i++)
			out = out c
	}
	END { print out }'
}
expect_map() {
	local got
	got=$(blockmap "$mnt/$1")
	[ "$got" = "$2" ] || fail "$1 fiemap: got $got, want $2 ($3)"
}
rep() { printf "%${2}s" "" | tr ' ' "$1"; }

# --- one file through every mode -----------------------------------------
both f -c "pwrite -S 0xaa 0 256k"
both f -c "falloc -k 256k 256k"     # unwritten past the end, size kept
both f -c "fpunch 8k 16k"           # blocks 2..5 become a hole
both f -c "fpunch 40000 3000"       # inside blocks 9/10: zeroed in place
both f -c "fzero 64k 64k"           # blocks 16..31 unwritten
both f -c "fzero 131172 8000"       # partial blocks 32, 33: zeroed in place
both f -c "falloc 512k 64k"         # mode 0: size grows to 576k
same f "after fallocate"
[ "$(stat -c %s "$mnt/f")" = $((576 * 1024)) ] || fail "size $(stat -c %s "$mnt/f")"
want="DD$(rep H 4)$(rep D 10)$(rep U 16)$(rep D 32)$(rep U 80)"
expect_map f "$want" "page cache"
# 140 blocks of data and preallocation, the five extents fit the inode.
[ "$(stat -c %b "$mnt/f")" = $((140 * 8)) ] || fail "st_blocks $(stat -c %b "$mnt/f"), want 1120"

# Unwritten ranges read as zeroes, also from the page cache.
cmp <(dd if="$mnt/f" bs=4k skip=16 count=16 status=none) <(head -c 64k /dev/zero) ||
	fail "unwritten blocks 16..31 do not read as zeroes"

sync
echo 3 >/proc/sys/vm/drop_caches
# SEEK_DATA/SEEK_HOLE: unwritten extents are holes while no page is cached
# over them (iomap counts cached pages as data; reads cache zeroed pages).
seeks=$(xfs_io -c "seek -a -r 0" "$mnt/f" | awk '$1 == "DATA" || $1 == "HOLE" {printf "%s %s,", $1, $2}')
[ "$seeks" = "DATA 0,HOLE 8192,DATA 24576,HOLE 65536,DATA 131072,HOLE 262144," ] ||
	fail "seek: $seeks"
[ "$(xfs_io -c "seek -d 300k" "$mnt/f" | awk '$1 == "DATA" {print $2}')" = EOF ] ||
	fail "SEEK_DATA in the preallocated tail"

same f "after drop_caches"
expect_map f "$want" "after drop_caches"

# --- modes refused, and the checks of the VFS ------------------------------
for c in "funshare 0 4k"; do
	e=$(xfs_io -c "$c" "$mnt/f" 2>&1) || true
	case $e in *"Operation not supported"*) ;; *) fail "$c: '$e', want EOPNOTSUPP" ;; esac
done
python3 - "$mnt/f" <<'PY' || fail "fallocate errnos"
import ctypes, errno, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
fd = os.open(sys.argv[1], os.O_RDWR)
def expect(mode, off, ln, want):
    r = libc.fallocate(fd, mode, off, ln)
    e = ctypes.get_errno()
    assert r == -1 and e == want, (mode, off, ln, r, errno.errorcode.get(e, e))
KEEP, PUNCH, COLLAPSE, ZERO, INSERT, UNSHARE = 1, 2, 8, 0x10, 0x20, 0x40
expect(PUNCH, 0, 4096, errno.EOPNOTSUPP)          # punch needs KEEP_SIZE
expect(COLLAPSE | KEEP, 0, 4096, errno.EOPNOTSUPP)  # the VFS: no flag with these
expect(INSERT | KEEP, 0, 4096, errno.EOPNOTSUPP)
expect(UNSHARE, 0, 4096, errno.EOPNOTSUPP)
expect(PUNCH | KEEP, 0, 0, errno.EINVAL)
expect(ZERO, -1, 4096, errno.EINVAL)
os.close(fd)
# Growing past RLIMIT_FSIZE is EFBIG, and nothing is allocated.
import resource, signal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
fd = os.open(sys.argv[1] + ".rlimit", os.O_RDWR | os.O_CREAT, 0o644)
expect(0, 0, 2 << 20, errno.EFBIG)
expect(ZERO, 0, 2 << 20, errno.EFBIG)
assert os.fstat(fd).st_blocks == 0, "blocks allocated by a refused fallocate"
assert libc.fallocate(fd, KEEP, 0, 2 << 20) == 0, "KEEP_SIZE does not grow the file"
assert libc.fallocate(fd, 0, 0, 1 << 20) == 0, "up to the limit"
st = os.fstat(fd)
assert st.st_size == 1 << 20 and st.st_blocks == (2 << 20) // 512, (st.st_size, st.st_blocks)
os.close(fd)
os.unlink(sys.argv[1] + ".rlimit")
PY
same f "after the refused modes"

# --- sub-block ranges at and past the end of the file ----------------------
both g -c "pwrite -S 0x5c 0 10000"
both g -c "fzero 9000 3000"          # past EOF: size 12000
both g -c "fpunch 5000 100000"       # size kept
both g -c "fzero -k 20000 9000"      # past EOF, size kept
same g "sub-block ranges"
[ "$(stat -c %s "$mnt/g")" = 12000 ] || fail "g size $(stat -c %s "$mnt/g")"
expect_map g "DDHHUUUU" "sub-block punch and zero"   # 20000..28999 allocated as blocks 4..7
both g -c "truncate 40000"
same g "grown by truncate"

# --- the page cache: dirty, mmapped ----------------------------------------
both h -c "pwrite -S 0x11 0 64k" -c "fsync" -c "pwrite -S 0x22 0 64k"
both h -c "fpunch 8k 32k"            # dirty pages over the hole are dropped
same h "punch over dirty pages"
python3 - "$mnt/h" "$ref/h" <<'PY' || fail "punch and zero under a shared mapping"
import ctypes, mmap, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
for p in sys.argv[1:]:
    fd = os.open(p, os.O_RDWR)
    m = mmap.mmap(fd, 64 * 1024)
    m[48 * 1024:52 * 1024] = b"\x33" * 4096
    assert libc.fallocate(fd, 3, 48 * 1024, 8192) == 0, ctypes.get_errno()
    assert m[48 * 1024:56 * 1024] == bytes(8192), "mapping still shows punched data"
    m[60 * 1024:61 * 1024] = b"\x44" * 1024
    assert libc.fallocate(fd, 0x10 | 1, 60 * 1024 + 100, 200) == 0, ctypes.get_errno()
    assert m[60 * 1024 + 100:60 * 1024 + 300] == bytes(200)
    # A write fault into a hole and into an unwritten range.
    m[10 * 1024] = 0x55
    assert libc.fallocate(fd, 1, 48 * 1024, 8192) == 0
    m[49 * 1024] = 0x66
    m.close()
    os.close(fd)
PY
same h "after mmap"
sync
echo 3 >/proc/sys/vm/drop_caches
for f in f g h; do same $f "after sync and drop_caches"; done

# --- remount ----------------------------------------------------------------
md5=$(md5sum <"$ref/f")
umount "$mnt" || fail "umount"
fsck.rextfs -n /dev/vda || fail "fsck after fallocate"
mount -t rextfs /dev/vda "$mnt" || fail "remount"
[ "$(md5sum <"$mnt/f")" = "$md5" ] || fail "md5 of f after remount"
for f in f g h; do same $f "after remount"; done
expect_map f "$want" "after remount"
[ "$(stat -c %b "$mnt/f")" = $((140 * 8)) ] || fail "st_blocks after remount"

# Writes into unwritten extents: buffered, partial blocks, then direct.
both f -c "pwrite -S 0x77 70000 5000" -c "pwrite -S 0x78 300k 8k"
xfs_io -d -c "pwrite -S 0x79 320k 16k" "$mnt/f" >/dev/null || fail "direct write into unwritten"
xfs_io -c "pwrite -S 0x79 320k 16k" "$ref/f" >/dev/null
same f "writes into unwritten extents"
# 70000..74999 is in blocks 17, 18; 300k..308k blocks 75, 76; 320k..336k 80..83.
want2="DD$(rep H 4)$(rep D 10)U$(rep D 2)$(rep U 13)$(rep D 32)$(rep U 11)DD$(rep U 3)$(rep D 4)$(rep U 60)"
expect_map f "$want2" "after writing into unwritten extents"
sync
echo 3 >/proc/sys/vm/drop_caches
same f "writes into unwritten extents, after drop_caches"

# --- a tree deeper than the inode: fragmenting punches, then zero all -------
both big -c "pwrite -S 0x3c 0 4m"
args=()
for i in $(seq 0 3 1000); do args+=(-c "fpunch $((i * 4096)) 4096"); done
both big "${args[@]}"
same big "after 334 punches"
[ "$(blockmap "$mnt/big" | tr -cd H | wc -c)" = 334 ] || fail "holes of big"
both big -c "fzero 0 4m"
same big "after zeroing it all"
[ "$(blockmap "$mnt/big")" = "$(rep U 1024)" ] || fail "big is not one unwritten range"
[ "$(stat -c %b "$mnt/big")" = $((1024 * 8)) ] || fail "st_blocks of big $(stat -c %b "$mnt/big")"
both big -c "fpunch 0 4m"
[ "$(stat -c %b "$mnt/big")" = 0 ] || fail "st_blocks of big after punching all"

# --- ENOSPC: what was allocated stays consistent, nothing leaks ------------
e=$(xfs_io -f -c "falloc -k 0 2g" "$mnt/huge" 2>&1) || true
case $e in *"No space left on device"*) ;; *) fail "falloc of 2g: '$e'" ;; esac
umount "$mnt" || fail "umount"
fsck.rextfs -n /dev/vda || fail "fsck after ENOSPC"
mount -t rextfs /dev/vda "$mnt" || fail "remount"
rm -f "$mnt/f" "$mnt/g" "$mnt/h" "$mnt/big" "$mnt/huge"
[ "$(stat -f -c %f "$mnt")" = "$free0" ] || fail "blocks leaked: $(stat -f -c %f "$mnt") free, $free0 before"
umount "$mnt" || fail "umount"
umount "$ref"
fsck.rextfs -n /dev/vda || fail "fsck at the end"
exit 0
