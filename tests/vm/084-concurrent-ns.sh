# SPDX-License-Identifier: GPL-2.0
# Concurrent namespace operations: four processes create, link, rename (also
# directories, across directories) and unlink in shared and private
# directories at once (big shared directories, so their hash indexes split
# concurrently); the result must be exactly the expected set of names and
# link counts, after drop_caches and after a remount. Then four processes
# do random operations on a small shared set of names (errors like ENOENT
# are expected); fsck.rextfs -n must be clean after each phase, and removing
# everything must give back every block and inode.
. "$REPO/tests/vm/lib.sh"

mnt=/tmp/t084
mkdir -p "$mnt"
mkfs.rextfs -q -f -b 1024 /dev/vda 65536 || fail "mkfs.rextfs failed"
mount -t rextfs /dev/vda "$mnt" || fail "mount failed"
touch "$mnt/x" && rm "$mnt/x" || fail "create in the root"
fresh=$(stat -f -c '%f %d' "$mnt")
export N=200 # names a worker creates in the deterministic phase

python3 - "$mnt" <<'PY' || fail "deterministic phase"
import os, sys
from multiprocessing import Process
d = sys.argv[1]
W, N = 4, int(os.environ["N"])
pad = "p" * 60
for s in ("S", "S2"):
    os.mkdir(f"{d}/{s}")
for w in range(W):
    os.mkdir(f"{d}/D{w}")

def work(w):
    S, S2, D = f"{d}/S", f"{d}/S2", f"{d}/D{w}"
    for i in range(N):
        f = f"{S}/f-{w}-{i}-{pad}"
        with open(f, "w") as fh:
            fh.write(f"{w} {i}")
        if i % 3 == 0:
            os.link(f, f"{D}/l-{i}")
        if i % 2 == 0:
            os.rename(f, f"{S2}/g-{w}-{i}-{pad}")
        elif i % 5 == 0:
            os.unlink(f)
        if i % 10 == 0:
            x = f"{S}/X-{w}-{i}"
            os.mkdir(x)
            open(f"{x}/inside", "w").close()
            os.mkdir(f"{x}/sub")
            os.rename(x, f"{S2}/X-{w}-{i}")       # directory across directories
            if i % 20 == 0:
                os.rename(f"{S2}/X-{w}-{i}", f"{D}/X-{i}")
        if i % 7 == 0 and i % 2 == 1 and i % 5 != 0:
            os.rename(f, f"{S}/r-{w}-{i}-{pad}")   # within the big directory

ps = [Process(target=work, args=(w,)) for w in range(W)]
for p in ps: p.start()
for p in ps: p.join()
assert all(p.exitcode == 0 for p in ps), [p.exitcode for p in ps]
PY

expect() {
	python3 - <<'PY'
import os
W, N = 4, int(os.environ["N"])
pad = "p" * 60
out = []
for w in range(W):
    for i in range(N):
        if i % 3 == 0:
            out.append(f"D{w}/l-{i}")
        if i % 2 == 0:
            out.append(f"S2/g-{w}-{i}-{pad}")
        elif i % 5 == 0:
            pass
        elif i % 7 == 0:
            out.append(f"S/r-{w}-{i}-{pad}")
        else:
            out.append(f"S/f-{w}-{i}-{pad}")
        if i % 10 == 0:
            base = f"D{w}/X-{i}" if i % 20 == 0 else f"S2/X-{w}-{i}"
            out += [base, base + "/inside", base + "/sub"]
for s in ["S", "S2"] + [f"D{w}" for w in range(W)]:
    out.append(s)
print("\n".join(out))
PY
}
listing() { (cd "$mnt" && find . -mindepth 1 | sed 's|^\./||' | LC_ALL=C sort); }
expect | LC_ALL=C sort >/tmp/t084.want
check() {
	listing >/tmp/t084.got
	cmp -s /tmp/t084.want /tmp/t084.got || fail "listing ($1): $(diff /tmp/t084.want /tmp/t084.got | head -5)"
	# Link counts: files linked into D<w> have two links; directories 2 + subdirs.
	[ "$(stat -c %h "$mnt/D0/l-0")" = 2 ] || fail "nlink of a linked file ($1)"
	[ "$(stat -c %h "$mnt/S/f-0-1-$(printf 'p%.0s' $(seq 1 60))")" = 1 ] || fail "nlink ($1)"
	# Each worker makes N / 10 directories: the N / 20 of i % 20 == 0 move on
	# to D<w>, the other N / 20 stay in S2.
	[ "$(stat -c %h "$mnt/S2")" = $((2 + 4 * N / 20)) ] || fail "nlink of S2: $(stat -c %h "$mnt/S2") ($1)"
	[ "$(stat -c %h "$mnt/D1")" = $((2 + N / 20)) ] || fail "nlink of D1: $(stat -c %h "$mnt/D1") ($1)"
	[ "$(cat "$mnt/D3/l-99")" = "3 99" ] || fail "content ($1)"
	[ "$(stat -c %i "$mnt/D2/X-40/..")" = "$(stat -c %i "$mnt/D2")" ] || fail ".. of a moved directory ($1)"
}
check "after the run"
echo 3 >/proc/sys/vm/drop_caches
check "after drop_caches"
umount "$mnt" || fail "umount"
fsck.rextfs -n /dev/vda >&2 || fail "fsck after the deterministic phase"
mount -t rextfs /dev/vda "$mnt" || fail "remount"
check "after remount"

python3 - "$mnt" <<'PY' || fail "random phase"
import errno, os, random, sys, time
from multiprocessing import Process
d = sys.argv[1]
dirs = [f"{d}/S", f"{d}/S2", f"{d}/D0", f"{d}/R"]
os.mkdir(f"{d}/R")
ok_errors = {errno.ENOENT, errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR,
             errno.EINVAL, errno.EXDEV, errno.EPERM}

def work(w):
    rnd = random.Random(w)
    end = time.time() + 8
    n = 0
    while time.time() < end:
        a = f"{rnd.choice(dirs)}/n{rnd.randrange(24)}"
        b = f"{rnd.choice(dirs)}/n{rnd.randrange(24)}"
        op = rnd.randrange(8)
        try:
            if op == 0:
                open(a, "a").close()
            elif op == 1:
                os.unlink(a)
            elif op == 2:
                os.rename(a, b)
            elif op == 3:
                os.link(a, b)
            elif op == 4:
                os.mkdir(a)
            elif op == 5:
                os.rmdir(a)
            elif op == 6:
                os.rename(a, f"{b}/n{rnd.randrange(24)}")  # into a directory, maybe
            else:
                os.listdir(os.path.dirname(a))
        except OSError as e:
            if e.errno not in ok_errors:
                raise
        n += 1
    print(f"worker {w}: {n} operations", file=sys.stderr)

ps = [Process(target=work, args=(w,)) for w in range(4)]
for p in ps: p.start()
for p in ps: p.join()
assert all(p.exitcode == 0 for p in ps), [p.exitcode for p in ps]
PY
umount "$mnt" || fail "umount"
fsck.rextfs -n /dev/vda >&2 || fail "fsck after the random phase"
mount -t rextfs /dev/vda "$mnt" || fail "remount"
rm -rf "${mnt:?}"/* || fail "rm -r"
[ "$(stat -f -c '%f %d' "$mnt")" = "$fresh" ] ||
	fail "counts $(stat -f -c '%f %d' "$mnt") after removing everything, before: $fresh"
umount "$mnt" || fail "umount"
fsck.rextfs -n /dev/vda >&2 || fail "fsck after removing everything"
exit 0
