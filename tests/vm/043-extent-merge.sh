# SPDX-License-Identifier: GPL-2.0
# Merging converted extents across leaves of the extent tree. One preallocated
# (unwritten) extent of 512 blocks is split into 512 alternating extents by
# direct writes to its odd blocks (a tree of several leaves), then the even
# blocks are written: each conversion merges the block with its written
# neighbours, also where they lie in another leaf. A merge must never grow an
# extent past the key range of its leaf: lookups would then find a hole there
# (reads return zeroes, writeback maps dirty blocks as holes and fails with
# EIO, new writes allocate overlapping extents). The data must read back after
# each pass and after a remount, a buffered overwrite must write back without
# error, and fsck.rextfs -n must stay clean (no overlaps, no leaked blocks).
. "$REPO/tests/vm/lib.sh"

mnt=/tmp/t043
mkdir -p "$mnt"
mkfs.rextfs -q -f /dev/vda || fail "mkfs.rextfs failed"
mount -t rextfs /dev/vda "$mnt" || fail "mount failed"
touch "$mnt/f" && rm "$mnt/f" || fail "create and remove a file" # the directory block
free0=$(stat -f -c %f "$mnt")
f=$mnt/f
nblk=512

xfs_io -f -c "falloc 0 $((nblk * 4096))" "$f" || fail "falloc"

# pass PARITY BYTE: direct writes of BYTE to the blocks of that parity.
pass() {
	local args=() b
	for ((b = $1; b < nblk; b += 2)); do
		args+=(-c "pwrite -q -S $2 $((b * 4096)) 4096")
	done
	xfs_io -d "${args[@]}" "$f" || fail "direct writes to blocks of parity $1"
}

# check WHAT EXPECTED-PYTHON-EXPR: every block of the file holds the byte
# the expression gives for block number b.
check() {
	python3 - "$f" "$nblk" "$2" "$1" <<'PY' || fail "data check: $1"
import sys
path, n, expr, what = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
data = open(path, "rb").read()
if len(data) != n * 4096:
    sys.exit(f"{what}: size {len(data)}")
bad = []
for b in range(n):
    want = eval(expr)
    blk = data[b * 4096:(b + 1) * 4096]
    if blk != bytes([want]) * 4096:
        bad.append(f"{b}:{blk[0]:#x}")
if bad:
    sys.exit(f"{what}: {len(bad)} bad blocks (block:first byte): {' '.join(bad[:20])}")
PY
}

pass 1 0xb1
echo 3 >/proc/sys/vm/drop_caches
check "odd blocks written" "0xb1 if b % 2 else 0"
pass 0 0xa0
echo 3 >/proc/sys/vm/drop_caches
check "all blocks written" "0xb1 if b % 2 else 0xa0"

# Buffered overwrite of everything: writeback must map every dirty block.
xfs_io -c "pwrite -q -S 0xc3 0 $((nblk * 4096))" -c fsync "$f" || fail "buffered overwrite and fsync"
echo 3 >/proc/sys/vm/drop_caches
check "buffered overwrite" "0xc3"
if dmesg_has "bad writeback mapping"; then
	fail "writeback found a hole under dirty page cache"
fi

umount "$mnt" || fail "umount"
fsck.rextfs -n /dev/vda || fail "fsck after the merges"
mount -t rextfs /dev/vda "$mnt" || fail "remount"
check "after remount" "0xc3"
rm -f "$f"
[ "$(stat -f -c %f "$mnt")" = "$free0" ] || fail "blocks leaked: $(stat -f -c %f "$mnt") free, $free0 before"
umount "$mnt" || fail "umount"
fsck.rextfs -n /dev/vda || fail "fsck at the end"
exit 0
