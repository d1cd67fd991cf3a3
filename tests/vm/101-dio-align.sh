# SPDX-License-Identifier: GPL-2.0
# Direct I/O aligned to the device's logical sector, not the file system
# block: statx reports STATX_DIOALIGN from the device (512 on the 512-byte
# sector disks, 4096 on the 4 KiB-sector disk); seeded random direct writes
# and reads at sector-aligned offsets and lengths, from buffers aligned to
# 512 bytes only, into holes, unwritten (fallocated) blocks, written blocks
# and past the end of the file, on 4 KiB and 1 KiB blocks, match a model
# file written through the page cache, read back directly, buffered after
# drop_caches and after a remount; the same with queued AIO (fio, libaio and
# io_uring, crc32c verify); concurrent block-aligned writes from several
# processes, into written blocks, unwritten blocks and holes (the shared
# inode lock, seen in iomap's trace events), keep every block intact; on
# 4 KiB sectors a 512-byte direct write is refused and 4 KiB ones work;
# fsck.rextfs -n stays clean.
. "$REPO/tests/vm/lib.sh"

mnt=/tmp/t101
mkdir -p "$mnt"

# fio_run NAME ARGS...: one fio job; it must report no error and verify.
fio_run() {
	local name=$1
	shift
	local out
	out=$(fio --name="$name" --direct=1 --verify=crc32c --verify_fatal=1 \
		--output-format=terse --terse-version=3 "$@" 2>&1) || fail "fio $name: $out"
	# Terse v3: field 5 is the job's error code.
	[ "$(echo "$out" | tail -n 1 | cut -d';' -f5)" = 0 ] || fail "fio $name reported an error: $out"
}

# fio_quarters NAME FILE: four writers on the four 2 MiB quarters of the 8 MiB
# FILE at once, 1 MiB of random 4 KiB writes at the start of each (libaio),
# then 512 KiB of random 4-16 KiB writes after it (io_uring), into whatever
# FILE holds there (fio allocates nothing), verified.
fio_quarters() {
	fio_run "$1" --filename="$2" --ioengine=libaio --iodepth=8 --rw=randwrite --bs=4k \
		--size=1m --numjobs=4 --offset_increment=2m --randrepeat=1 --fallocate=none
	fio_run "$1-uring" --filename="$2" --ioengine=io_uring --iodepth=8 --rw=randwrite \
		--bsrange=4k-16k --size=512k --offset=1m --numjobs=4 --offset_increment=2m \
		--randrepeat=1 --fallocate=none
}

# check_quarters FILE WHAT [OFF]: after fio_quarters, every block fio wrote
# reads as data and the rest of every quarter as zeroes, but for the 4 KiB
# block at OFF, written with 0x33 beforehand.
check_quarters() {
	python3 - "$1" "${3:--1}" <<'PY' || fail "$2 after concurrent writes"
import sys
d = open(sys.argv[1], "rb").read()
first = int(sys.argv[2], 0)
assert len(d) == 8 << 20, len(d)
if first >= 0:
    assert d[first:first + 4096] == b"\x33" * 4096, "the first write is gone"
    d = d[:first] + bytes(4096) + d[first + 4096:]
for q in range(4):
    base = q * (2 << 20)
    tail = d[base + (3 << 19):base + (2 << 20)]
    assert tail == bytes(len(tail)), f"quarter {q}: a block nobody wrote reads data"
    for b in range(base, base + (3 << 19), 4096):
        assert d[b:b + 4096] != bytes(4096), f"block at {b} written by fio reads as zeroes"
PY
}

# race_writers FILE HALF WHAT P...: one direct writer per pattern byte P (hex,
# without 0x) over the first 2*HALF bytes of FILE at once, each writing the
# first HALF in 16 KiB writes and the second in 4 KiB ones.
race_writers() {
	local f=$1 half=$2 what=$3 p pids=()
	shift 3
	for p in "$@"; do
		xfs_io -d -c "pwrite -q -S 0x$p -b 16k 0 $half" -c "pwrite -q -S 0x$p -b 4k $half $half" "$f" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || fail "$what failed"; done
}

# dioalign FILE MEM OFF: statx STATX_DIOALIGN of FILE reports buffers aligned
# to MEM and offsets to OFF (xfs_io's statx does not print these fields).
dioalign() {
	python3 - "$@" <<'PY' || fail "statx dioalign of $1"
import ctypes, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
STATX_DIOALIGN, AT_FDCWD = 0x2000, -100
buf = ctypes.create_string_buffer(256)
r = libc.statx(AT_FDCWD, sys.argv[1].encode(), 0, STATX_DIOALIGN, buf)
assert r == 0, ctypes.get_errno()
mask = struct.unpack_from("I", buf, 0)[0]
mem, off = struct.unpack_from("II", buf, 152)
assert mask & STATX_DIOALIGN, hex(mask)
want = (int(sys.argv[2]), int(sys.argv[3]))
assert (mem, off) == want, ((mem, off), want)
PY
}

# queue DEV ATTR: a request queue attribute of the disk DEV.
queue() { cat "/sys/block/$(basename "$1")/queue/$2"; }
# mem_align DEV: the buffer alignment the device needs (dma_alignment + 1,
# at least 512).
mem_align() {
	local a
	a=$(($(queue "$1" dma_alignment) + 1))
	[ "$a" -ge 512 ] || a=512
	echo "$a"
}

# The random direct I/O run: DATA FILE, MODEL FILE, ALIGN, BLOCK SIZE,
# MEMORY ALIGNMENT, SEED, OPS. The data file was prepared by the caller (holes, unwritten ranges,
# written ranges, an end of file inside a block); the model holds the same
# bytes, written through the page cache. Each op is a direct write of
# ALIGN-multiple bytes at an ALIGN-multiple offset (into any kind of range,
# past the end too), the same buffered write to the model, and a direct read
# somewhere compared with the model in memory.
cat >/tmp/t101-model.py <<'PY'
import mmap, os, random, sys

data, model = sys.argv[1:3]
align, bs, mem, seed, nops = map(int, sys.argv[3:8])
rng = random.Random(seed)
with open(model, "rb") as f:
    want = bytearray(f.read())
assert os.stat(data).st_size == len(want), (os.stat(data).st_size, len(want))
fd = os.open(data, os.O_RDWR | os.O_DIRECT)
mfd = os.open(model, os.O_RDWR)
# Buffers aligned to what the device needs only (not to a page) where that is less.
area = mmap.mmap(-1, 1 << 20)
skew = mem % mmap.PAGESIZE
span = 4 << 20  # offsets up to here; files are ~3 MiB, so writes go past EOF too

def region():
    # Mostly short I/O (sub-block, block, a few blocks), sometimes long.
    n = rng.choice([1, 1, 2, 3, bs // align, bs // align + 1, 3 * bs // align - 1, 64])
    return rng.randrange(0, span // align - n) * align, max(n, 1) * align

def check(off, n):
    size = len(want)
    buf = memoryview(area)[skew:skew + n]
    got = os.preadv(fd, [buf], off)
    exp = max(0, min(n, size - off))
    assert got == exp, f"direct read {off}+{n}: {got} bytes, want {exp}"
    if got and buf[:got] != want[off:off + got]:
        first = next(i for i in range(got) if buf[i] != want[off + i])
        raise AssertionError(f"direct read {off}+{n} differs at {off + first}")

for op in range(nops):
    off, n = region()
    payload = rng.randbytes(n)
    buf = memoryview(area)[skew:skew + n]
    buf[:] = payload
    w = os.pwrite(fd, buf, off)
    assert w == n, f"direct write {off}+{n} wrote {w}"
    assert os.pwrite(mfd, payload, off) == n
    if off + n > len(want):
        want.extend(bytes(off + n - len(want)))
    want[off:off + n] = payload
    assert os.fstat(fd).st_size == len(want), (op, os.fstat(fd).st_size, len(want))
    # Right where it wrote, around it (the zeroed rest of its blocks), and anywhere.
    check(off, n)
    lo = max(0, (off // bs) * bs - bs)
    check(lo, (off + n + 2 * bs - 1) // bs * bs - lo)
    check(*region())
# Every byte, read directly.
for off in range(0, len(want), 512 << 10):
    check(off, min(512 << 10, (len(want) - off + align - 1) // align * align))
os.close(fd)
os.close(mfd)
PY

# prepare FILE MODEL BS: the data file with written, hole, unwritten and
# past-EOF unwritten ranges and an end of file inside a block; the model with
# the same bytes, buffered.
prepare() {
	local f=$1 m=$2 bs=$3
	rm -f "$f" "$m"
	head -c $((3 << 20)) /dev/urandom >/tmp/t101-seed
	# Written: 0..256k (buffered, on disk after fsync), 1m..1.5m (direct).
	xfs_io -f -c "pwrite -q -i /tmp/t101-seed 0 256k" -c fsync "$f" || fail "prepare written"
	xfs_io -d -c "pwrite -q -i /tmp/t101-seed -s 1m 1m 512k" "$f" || fail "prepare direct"
	# Unwritten inside the file: 512k..1m; past its end: 3m..3.5m. The
	# end of the file is 1000 bytes into a block, after a hole.
	xfs_io -c "falloc 512k 512k" -c "truncate $((2 * 1048576 + 4 * bs + 1000))" \
		-c "falloc -k 3m 512k" "$f" || fail "prepare falloc"
	cp --sparse=always "$f" "$m" || fail "model copy"
	cmp "$f" "$m" || fail "model copy differs"
}

# run_model MNT DEV BS SEED OPS: prepare, run the model with DEV's logical
# block size and memory alignment, then compare after drop_caches and a
# remount.
run_model() {
	local m=$1 dev=$2 bs=$3 seed=$4 ops=$5 align mem
	align=$(queue "$dev" logical_block_size)
	mem=$(mem_align "$dev")
	prepare "$m/data" "$m/model" "$bs"
	python3 /tmp/t101-model.py "$m/data" "$m/model" "$align" "$bs" "$mem" "$seed" "$ops" ||
		fail "random direct I/O at $align bytes on $bs-byte blocks"
	echo 3 >/proc/sys/vm/drop_caches
	cmp "$m/data" "$m/model" || fail "buffered read after drop_caches differs from the model ($align/$bs)"
	umount "$m" || fail "umount"
	fsck.rextfs -n "$dev" || fail "fsck after the model run ($align/$bs)"
	mount -t rextfs "$dev" "$m" || fail "remount"
	cmp "$m/data" "$m/model" || fail "data after a remount differs from the model ($align/$bs)"
	python3 /tmp/t101-model.py "$m/data" "$m/model" "$align" "$bs" "$mem" $((seed + 1)) 0 ||
		fail "direct read after a remount ($align/$bs)"
}

# --- 512-byte sectors, 4 KiB blocks.
dev=/dev/vda
[ "$(queue $dev logical_block_size)" = 512 ] || fail "$dev: logical block size $(queue $dev logical_block_size)"
mkfs.rextfs -q -f "$dev" || fail "mkfs.rextfs"
mount -t rextfs "$dev" "$mnt" || fail "mount"
touch "$mnt/empty"
dioalign "$mnt/empty" "$(mem_align $dev)" 512
run_model "$mnt" "$dev" 4096 101 300

# Queued AIO of sectors: into unwritten blocks and a hole (sub-block writes
# into new and unwritten blocks zero the rest of them, one at a time), then
# mixed reads and writes over the written file, then extending writes.
for eng in libaio io_uring; do
	f=$mnt/aio-$eng
	xfs_io -f -c "falloc 0 256k" "$f" || fail "falloc $f"
	fio_run "sectors-$eng" --filename="$f" --ioengine=$eng --iodepth=16 --rw=randwrite \
		--bsrange=512-6k --size=512k --randrepeat=1
	fio_run "mixed-$eng" --filename="$f" --ioengine=$eng --iodepth=16 --rw=randrw \
		--bs=512 --size=512k --verify_backlog=32
	fio_run "extend-$eng" --filename="$mnt/ext-$eng" --ioengine=$eng --iodepth=8 --rw=write \
		--bs=1536 --size=384k
	[ "$(stat -c %s "$mnt/ext-$eng")" = $((384 << 10)) ] || fail "$eng: extending size $(stat -c %s "$mnt/ext-$eng")"
done

# Concurrent block-aligned overwrites of one written file (the shared inode
# lock): four fio jobs on disjoint quarters, verified exactly; then four
# writers over the same range at once, after which every sector holds one
# writer's pattern whole.
f=$mnt/shared
xfs_io -f -d -c "pwrite -q -S 0x11 -b 1m 0 8m" "$f" || fail "write $f"
fio_run shared-quarters --filename="$f" --ioengine=libaio --iodepth=8 --rw=randwrite --bs=4k \
	--size=1m --numjobs=4 --offset_increment=2m --randrepeat=1
fio_run shared-quarters-uring --filename="$f" --ioengine=io_uring --iodepth=8 --rw=randrw \
	--bsrange=4k-16k --size=1m --numjobs=4 --offset_increment=2m --verify_backlog=16
race_writers "$f" 2m "a concurrent overwriter" 21 22 23 24
[ "$(stat -c %s "$f")" = $((8 << 20)) ] || fail "size after overwrites: $(stat -c %s "$f")"
python3 - "$f" <<'PY' || fail "concurrent overwrites"
import sys
d = open(sys.argv[1], "rb").read()
pats = {bytes([p]) * 512 for p in (0x21, 0x22, 0x23, 0x24)}
for i in range(0, 4 << 20, 512):
    assert d[i:i + 512] in pats, f"sector at {i} mixed: {d[i:i + 16].hex()}"
PY
# The same into preallocated (unwritten) blocks, which the shared path
# takes too when the writes cover whole blocks: their completions convert
# the blocks concurrently; what they wrote survives a remount, and the
# rest of the file still reads as zeroes.
f=$mnt/shared-unwritten
xfs_io -f -c "falloc 0 8m" "$f" || fail "falloc $f"
fio_quarters unwritten-quarters "$f"
sum=$(md5sum <"$f")
check_quarters "$f" "unwritten blocks"
umount "$mnt" || fail "umount (unwritten)"
mount -t rextfs "$dev" "$mnt" || fail "mount (unwritten)"
[ "$(md5sum <"$f")" = "$sum" ] || fail "the concurrent writes into unwritten blocks changed after a remount"
# The same into holes of a sparse file: the shared path allocates them too
# (as XFS and ext4 do), each write's allocations under the inode's disk
# mutex; what they wrote survives a remount, and the holes left read as
# zeroes. The trace shows the writes queued on the shared path (iomap gets
# IOMAP_DIO_FSBLOCK_ALIGNED only there), none failed (io_uring's first,
# non-blocking tries of writes that allocate get EAGAIN and are retried).
# A first write makes the new file S_NOSEC (no privileges to remove),
# which that path needs.
T=/sys/kernel/tracing
[ -d $T/events ] || mount -t tracefs tracefs $T 2>/dev/null
[ -d $T/events/iomap/iomap_dio_rw_begin ] || fail "no iomap trace events in $T"
f=$mnt/shared-holes
truncate -s 8m "$f" || fail "truncate $f"
xfs_io -d -c "pwrite -q -S 0x33 0x7c0000 4k" "$f" || fail "first write of $f"
echo 1 >$T/events/iomap/iomap_dio_rw_begin/enable
echo 1 >$T/events/iomap/iomap_dio_complete/enable
echo >$T/trace
fio_quarters hole-quarters "$f"
echo 0 >$T/events/iomap/enable
grep -v '^#' $T/trace >/tmp/t101-holes
n=$(grep -c 'iomap_dio_rw_begin:.* dio_flags DIO_FSBLOCK_ALIGNED aio 1' /tmp/t101-holes || true)
[ "$n" -ge 100 ] || { head -n 50 /tmp/t101-holes >&2; fail "only $n queued writes into holes ran shared"; }
grep 'iomap_dio_complete:.* error -' /tmp/t101-holes | grep -qv 'error -11 ' &&
	{ grep 'error -' /tmp/t101-holes | head >&2; fail "a write into holes failed"; }
sum=$(md5sum <"$f")
check_quarters "$f" holes 0x7c0000
# Four writers over the same holes at once: the allocations of one range
# race under the disk mutex; every sector holds one writer's pattern whole.
f2=$mnt/shared-holes-race
truncate -s 4m "$f2" || fail "truncate $f2"
xfs_io -d -c "pwrite -q -S 0x33 3m 4k" "$f2" || fail "first write of $f2"
race_writers "$f2" 1m "a concurrent writer into holes" 41 42 43 44
python3 - "$f2" <<'PY' || fail "concurrent writes into the same holes"
import sys
d = open(sys.argv[1], "rb").read()
assert len(d) == 4 << 20, len(d)
pats = {bytes([p]) * 512 for p in (0x41, 0x42, 0x43, 0x44)}
for i in range(0, 2 << 20, 512):
    assert d[i:i + 512] in pats, f"sector at {i} mixed: {d[i:i + 16].hex()}"
assert d[2 << 20:3 << 20] == bytes(1 << 20), "a hole nobody wrote reads data"
assert d[3 << 20:(3 << 20) + 4096] == b"\x33" * 4096, "the first write is gone"
PY
sum2=$(md5sum <"$f2")
umount "$mnt" || fail "umount (holes)"
fsck.rextfs -n "$dev" || fail "fsck after concurrent writes into holes"
mount -t rextfs "$dev" "$mnt" || fail "mount (holes)"
[ "$(md5sum <"$f")" = "$sum" ] || fail "the concurrent writes into holes changed after a remount"
[ "$(md5sum <"$f2")" = "$sum2" ] || fail "the racing writes into holes changed after a remount"
# The writes of whole blocks inside the file take the shared path: iomap
# sees IOMAP_DIO_FSBLOCK_ALIGNED (the exclusive path never passes it) and
# writes every byte (its completion event shows the advanced offset), into
# written blocks, into unwritten blocks and into a hole; a sub-block write
# into unwritten blocks does not try it (it would zero the rest of the
# block) and runs under the exclusive lock.
T=/sys/kernel/tracing
[ -d $T/events ] || mount -t tracefs tracefs $T 2>/dev/null
if [ -d $T/events/iomap/iomap_dio_rw_begin ]; then
	# The file was read again by the remount: its first write takes the
	# exclusive lock and finds no privileges to remove (S_NOSEC), which the
	# shared path needs.
	f=$mnt/shared
	xfs_io -d -c "pwrite -q -S 0x21 0 4k" "$f" || fail "first write after the remount"
	echo 1 >$T/events/iomap/iomap_dio_rw_begin/enable
	echo 1 >$T/events/iomap/iomap_dio_complete/enable
	echo >$T/trace
	xfs_io -d -c "pwrite -q -b 8k 8k 8k" -c "falloc 8m 64k" -c "pwrite -q 8m 4k" \
		-c "pwrite -q -S 0x5a 0x802000 512" -c "truncate 16m" -c "pwrite -q -b 8k -S 0x77 12m 8k" \
		"$f" || fail "traced writes"
	echo 0 >$T/events/iomap/enable
	grep -v '^#' $T/trace >/tmp/t101-trace
	grep -q 'offset 0x2000 length 0x2000 .* dio_flags DIO_FSBLOCK_ALIGNED' /tmp/t101-trace &&
		grep -q 'offset 0x4000 flags DIRECT .* error 0 ret 8192' /tmp/t101-trace ||
		{ cat /tmp/t101-trace >&2; fail "an overwrite did not run shared"; }
	grep -q 'offset 0x800000 length 0x1000 .* dio_flags DIO_FSBLOCK_ALIGNED' /tmp/t101-trace &&
		grep -q 'offset 0x801000 flags DIRECT .* error 0 ret 4096' /tmp/t101-trace ||
		{ cat /tmp/t101-trace >&2; fail "a write of a whole unwritten block did not run shared"; }
	grep -q 'offset 0xc00000 length 0x2000 .* dio_flags DIO_FSBLOCK_ALIGNED' /tmp/t101-trace &&
		grep -q 'offset 0xc02000 flags DIRECT .* error 0 ret 8192' /tmp/t101-trace ||
		{ cat /tmp/t101-trace >&2; fail "a write of whole blocks into a hole did not run shared"; }
	grep -Eq 'offset 0x(800000|c00000) flags DIRECT .* error -' /tmp/t101-trace &&
		{ cat /tmp/t101-trace >&2; fail "a write of whole blocks was refused on the shared path"; }
	[ "$(grep -c 'offset 0xc00000 length 0x2000 .* dio_flags' /tmp/t101-trace)" = 1 ] ||
		{ cat /tmp/t101-trace >&2; fail "the write into a hole ran twice (shared, then exclusive)"; }
	grep -q "offset 0x802000 length 0x200 .* dio_flags DIO_FORCE_WAIT" /tmp/t101-trace &&
		! grep -q 'offset 0x802000 length 0x200 .* DIO_FSBLOCK_ALIGNED' /tmp/t101-trace ||
		{ cat /tmp/t101-trace >&2; fail "a sub-block write into an unwritten block did not run exclusive"; }
	echo 3 >/proc/sys/vm/drop_caches
	python3 - "$f" <<'PY' || fail "the writes into unwritten blocks"
import sys
with open(sys.argv[1], "rb") as fh:
    fh.seek(8 << 20)
    d = fh.read(3 * 4096)
assert d[:4096] == b"\xcd" * 4096, "the whole-block write did not write"
assert d[4096:8192] == bytes(4096), "an unwritten block not written reads data"
assert d[8192:8704] == b"\x5a" * 512, "the sub-block write did not write"
assert d[8704:] == bytes(4096 - 512), "the rest of the sub-block write's block is not zero"
with open(sys.argv[1], "rb") as fh:
    fh.seek(12 << 20)
    d = fh.read(4 << 20)
assert d[:8192] == b"\x77" * 8192, "the write into a hole did not write"
assert d[8192:] == bytes(len(d) - 8192), "the hole around the write into it reads data"
PY
else
	# The test kernel has them (CONFIG_FTRACE, tracefs): without them the shared
	# path would go unobserved.
	fail "no iomap trace events in $T: the shared path cannot be observed"
fi
umount "$mnt" || fail "umount"
fsck.rextfs -n "$dev" || fail "fsck after the 4 KiB-block runs"

# --- 512-byte sectors, 1 KiB blocks.
mkfs.rextfs -q -f -b 1024 "$dev" || fail "mkfs.rextfs -b 1024"
mount -t rextfs "$dev" "$mnt" || fail "mount 1 KiB blocks"
touch "$mnt/empty"
dioalign "$mnt/empty" "$(mem_align $dev)" 512
run_model "$mnt" "$dev" 1024 1024 200
umount "$mnt" || fail "umount"
fsck.rextfs -n "$dev" || fail "fsck after the 1 KiB-block run"

# --- 4 KiB sectors (scripts/vm --disk4k): 4096 reported, sector I/O refused.
dev4k=
for q in /sys/block/vd*/queue/logical_block_size; do
	[ "$(cat "$q")" = 4096 ] || continue
	dev4k=/dev/$(basename "$(dirname "$(dirname "$q")")")
done
[ -n "$dev4k" ] || fail "no disk with 4 KiB logical sectors: scripts/vm --disk4k attaches one"
note "4 KiB-sector disk: $dev4k"
mkfs.rextfs -q -f "$dev4k" || fail "mkfs.rextfs on $dev4k"
mount -t rextfs "$dev4k" "$mnt" || fail "mount $dev4k"
touch "$mnt/empty"
dioalign "$mnt/empty" "$(mem_align "$dev4k")" 4096
python3 - "$mnt/empty" <<'PY' || fail "a 512-byte direct write on 4 KiB sectors"
import errno, mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_DIRECT)
buf = mmap.mmap(-1, 4096)
for off, n in ((512, 512), (0, 512), (512, 4096)):
    try:
        os.pwrite(fd, memoryview(buf)[:n], off)
    except OSError as e:
        assert e.errno == errno.EINVAL, e
    else:
        raise AssertionError(f"direct write {off}+{n} succeeded")
    assert os.fstat(fd).st_size == 0, f"the refused write {off}+{n} changed the size"
assert os.pwrite(fd, buf, 4096) == 4096
assert os.fstat(fd).st_size == 8192, os.fstat(fd).st_size
os.ftruncate(fd, 0)
PY
run_model "$mnt" "$dev4k" 4096 4096 120
umount "$mnt" || fail "umount $dev4k"
fsck.rextfs -n "$dev4k" || fail "fsck on $dev4k"
exit 0
