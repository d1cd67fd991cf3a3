# SPDX-License-Identifier: GPL-2.0
# FITRIM (fstrim): the free blocks of a fragmented file system are discarded
# (the VM's disks punch holes, so a deleted file's old blocks read back as
# zeroes) while every block in use keeps its data, checked file by file after
# dropping the caches and after a remount, with fsck clean. fstrim reports no
# more than the free space and, over a sub-range or with a large minimum
# length, no more than over the whole device. A start past the end, a length
# below one block or a minimum length above the file system size is EINVAL,
# a caller without CAP_SYS_ADMIN gets EPERM, a read-only mount EROFS.
. "$REPO/tests/vm/lib.sh"

mnt=/tmp/t088
mkdir -p "$mnt"
[ "$(cat /sys/block/vda/queue/discard_max_bytes)" -gt 0 ] || fail "the VM's disk does not discard"
mkfs.rextfs -q -f /dev/vda 32768 || fail "mkfs.rextfs failed"
mount -t rextfs /dev/vda "$mnt" || fail "mount failed"

# 120 files of random sizes; every other one is deleted, leaving free runs
# of all lengths between files in use. One deleted file's blocks are noted.
python3 - "$mnt" <<'PY' || fail "filling the file system"
import hashlib, json, os, random, subprocess, sys
m = sys.argv[1]
rng = random.Random(88)
sums = {}
for i in range(120):
    data = rng.randbytes(4096 * rng.randint(1, 64) - rng.randint(0, 4095))
    with open(f"{m}/f{i}", "wb") as f:
        f.write(data)
    sums[f"f{i}"] = hashlib.sha256(data).hexdigest()
subprocess.run(["sync"], check=True)
# The physical extents of a file to be deleted (FIEMAP through filefrag).
out = subprocess.run(["filefrag", "-v", "-b4096", f"{m}/f1"], capture_output=True, text=True,
                     check=True).stdout
ext = [l.split(":")[2].split("..") for l in out.splitlines() if l.strip()[:1].isdigit()]
phys = [(int(a), int(b.strip())) for a, b in ext]
assert phys, out
for i in range(1, 120, 2):
    os.unlink(f"{m}/f{i}")
    del sums[f"f{i}"]
json.dump({"sums": sums, "phys": phys}, open("/tmp/t088.json", "w"))
PY
sync

python3 - "$mnt" <<'PY' || fail "fstrim"
import errno, fcntl, json, os, struct, subprocess, sys
m = sys.argv[1]
FITRIM = 0xC0185879
st = os.statvfs(m)
free = st.f_bfree * st.f_bsize
size = 32768 * 4096  # the whole file system, as made by mkfs
def fitrim(start, length, minlen, uid=None):
    fd = os.open(m, os.O_RDONLY)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            if uid is not None:
                os.setresuid(uid, uid, uid)
            out = fcntl.ioctl(fd, FITRIM, struct.pack("3Q", start, length, minlen))
            os.write(w, b"ok %d" % struct.unpack("3Q", out)[1])
        except OSError as e:
            os.write(w, b"err %d" % e.errno)
        os._exit(0)
    os.close(w)
    res = os.read(r, 100).split()
    os.waitpid(pid, 0)
    os.close(fd)
    return (res[0].decode(), int(res[1]))
U64 = 2**64 - 1
for args, want in (((size, U64, 0), errno.EINVAL), ((U64, 1 << 20, 0), errno.EINVAL),
                   ((0, 0, 0), errno.EINVAL), ((0, 100, 0), errno.EINVAL),
                   ((0, U64, size + 1), errno.EINVAL)):
    assert fitrim(*args) == ("err", want), (args, fitrim(*args))
assert fitrim(0, U64, 0, uid=1000) == ("err", errno.EPERM)
kind, whole = fitrim(0, U64, 0)
assert kind == "ok", whole
# Everything free lies in runs of at least one block: all of it is discarded
# (the reserve for tree nodes too: free, though not available).
assert whole == free, (whole, free)
assert st.f_bavail < st.f_bfree, (st.f_bavail, st.f_bfree)
kind, part = fitrim(10 << 20, 20 << 20, 0)
assert kind == "ok" and 0 < part <= 20 << 20, part
kind, big = fitrim(0, U64, 1 << 20)
assert kind == "ok" and big < whole, (big, whole)
# The deleted file's blocks were discarded: they read as zeroes now.
info = json.load(open("/tmp/t088.json"))
with open("/dev/vda", "rb", buffering=0) as dev:
    for a, b in info["phys"]:
        dev.seek(a * 4096)
        assert dev.read((b - a + 1) * 4096).count(0) == (b - a + 1) * 4096, (a, b)
PY

check_files() {
	python3 - "$mnt" "$1" <<'PY' || fail "file data ($1)"
import hashlib, json, sys
m, what = sys.argv[1], sys.argv[2]
sums = json.load(open("/tmp/t088.json"))["sums"]
for name, want in sums.items():
    got = hashlib.sha256(open(f"{m}/{name}", "rb").read()).hexdigest()
    assert got == want, f"{name} changed ({what})"
PY
}
echo 3 >/proc/sys/vm/drop_caches
check_files "after fstrim"
umount "$mnt" || fail "umount"
fsck.rextfs -n /dev/vda || fail "fsck after fstrim"
mount -t rextfs -o ro /dev/vda "$mnt" || fail "mount ro"
check_files "after a remount"
if fstrim "$mnt" 2>/tmp/t088.err; then fail "fstrim on a read-only mount"; fi
grep -q "Read-only file system" /tmp/t088.err || fail "read-only mount: $(cat /tmp/t088.err)"
umount "$mnt" || fail "umount"
fsck.rextfs -n /dev/vda || fail "fsck at the end"
exit 0
