# SPDX-License-Identifier: GPL-2.0
# Big directories: thousands of long names in one directory (the directory
# grows block by block and gets its hash index), lookups of each, removal of
# half, renames and links across two big directories, readdir after
# drop_caches and after a remount equal to the expected set, readdir cookies
# stable while entries are removed, an emptied directory shrinking back to one
# block, everything freed at the end (free counts
# of a fresh file system) and fsck.rextfs -n clean after each umount.
. "$REPO/tests/vm/lib.sh"

mnt=/tmp/t080
mkdir -p "$mnt"
# 1 KiB blocks: many directory blocks and a hash index of several levels.
mkfs.rextfs -q -f -b 1024 /dev/vda 65536 || fail "mkfs.rextfs failed"
mount -t rextfs /dev/vda "$mnt" || fail "mount failed"
# The root gets its first block (which a directory keeps), then the counts.
touch "$mnt/x" && rm "$mnt/x" || fail "create in the root"
fresh=$(stat -f -c '%f %d' "$mnt")
mkdir "$mnt/d1" "$mnt/d2" || fail "mkdir"

n=3000
long=$(printf 'x%.0s' $(seq 1 90))
# Names created by one xargs touch (real commands, few processes).
seq -f "f-%05g-$long" 1 $n | (cd "$mnt/d1" && xargs touch) || fail "touch $n files"
[ "$(ls "$mnt/d1" | wc -l)" = $n ] || fail "ls counts $(ls "$mnt/d1" | wc -l) of $n"
[ "$(find "$mnt/d1" -type f | wc -l)" = $n ] || fail "find counts a wrong number of files"
blocks=$(stat -c %s "$mnt/d1")
[ "$blocks" -gt $((100 * 1024)) ] || fail "d1 is only $blocks bytes"
note "d1: $blocks bytes for $n entries"

# Every name looked up (stat), inode numbers unique, a missing name is ENOENT.
python3 - "$mnt/d1" $n "$long" <<'PY' || fail "stat of every entry"
import os, sys, errno
d, n, long = sys.argv[1], int(sys.argv[2]), sys.argv[3]
inos = set()
for i in range(1, n + 1):
    st = os.stat(f"{d}/f-{i:05d}-{long}")
    inos.add(st.st_ino)
assert len(inos) == n, f"{len(inos)} distinct inodes"
try:
    os.stat(f"{d}/f-{n + 1:05d}-{long}")
    sys.exit("missing name found")
except OSError as e:
    assert e.errno == errno.ENOENT, e
PY

# Remove the even ones, then fill d2 and move, rename and link across.
seq -f "f-%05g-$long" 2 2 $n | (cd "$mnt/d1" && xargs rm) || fail "rm half"
seq -f "g-%05g-$long" 1 2000 | (cd "$mnt/d2" && xargs touch) || fail "touch d2"
seq -f "f-%05g-$long" 1 4 1000 | (cd "$mnt/d1" && xargs mv -t "$mnt/d2") || fail "mv d1 -> d2"
seq -f "g-%05g-$long" 2 4 800 | (cd "$mnt/d2" && xargs mv -t "$mnt/d1") || fail "mv d2 -> d1"
for i in 1 3 5 7 9; do
	mv "$mnt/d2/g-0000$i-$long" "$mnt/d2/renamed-$i" || fail "rename in d2"
	ln "$mnt/d1/f-0100$i-$long" "$mnt/d2/link-$i" || fail "link into d2"
done
echo data >"$mnt/d1/f-01003-$long"
mv "$mnt/d1/f-01003-$long" "$mnt/d2/g-00011-$long" || fail "rename over an existing file"
[ "$(cat "$mnt/d2/g-00011-$long")" = data ] || fail "content after rename over"
[ "$(stat -c %h "$mnt/d1/f-01001-$long")" = 2 ] || fail "nlink after link"

expect() { # the expected listing of both directories
	python3 - "$n" "$long" <<'PY'
import sys
n, long = int(sys.argv[1]), sys.argv[2]
d1 = {f"f-{i:05d}-{long}" for i in range(1, n + 1, 2)}
d2 = {f"g-{i:05d}-{long}" for i in range(1, 2001)}
moved = {f"f-{i:05d}-{long}" for i in range(1, 1001, 4)}
d1 -= moved; d2 |= moved
back = {f"g-{i:05d}-{long}" for i in range(2, 801, 4)}
d2 -= back; d1 |= back
for i in (1, 3, 5, 7, 9):
    d2.discard(f"g-{i:05d}-{long}"); d2.add(f"renamed-{i}"); d2.add(f"link-{i}")
d1.discard(f"f-01003-{long}")
for name in sorted(d1): print("d1/" + name)
for name in sorted(d2): print("d2/" + name)
PY
}
listing() { (cd "$mnt" && find d1 d2 -mindepth 1 | LC_ALL=C sort); }
expect | LC_ALL=C sort >/tmp/t080.want
listing >/tmp/t080.got
cmp -s /tmp/t080.want /tmp/t080.got || fail "listing differs: $(diff /tmp/t080.want /tmp/t080.got | head -5)"
echo 3 >/proc/sys/vm/drop_caches
listing >/tmp/t080.got
cmp -s /tmp/t080.want /tmp/t080.got || fail "listing after drop_caches differs"
umount "$mnt" || fail "umount"
fsck.rextfs -n /dev/vda >&2 || fail "fsck after building big directories"
mount -t rextfs /dev/vda "$mnt" || fail "remount"
listing >/tmp/t080.got
cmp -s /tmp/t080.want /tmp/t080.got || fail "listing after remount differs"
[ "$(cat "$mnt/d2/g-00011-$long")" = data ] || fail "content after remount"

# readdir cookies stay valid while entries go: every entry not removed
# before readdir reached it is returned exactly once.
python3 - "$mnt/d2" <<'PY' || fail "readdir while unlinking"
import os, sys, random
d = sys.argv[1]
start = set(os.listdir(d))
seen, gone_early = [], set()
rnd = random.Random(80)
with os.scandir(d) as it:
    for e in it:
        seen.append(e.name)
        if e.name in gone_early:
            continue  # removed after getdents returned it: allowed
        os.unlink(e.path)
        # Also remove a few names readdir has not reached yet.
        for victim in rnd.sample(sorted(start - set(seen) - gone_early), min(2, len(start - set(seen) - gone_early))) if rnd.random() < 0.1 else []:
            os.unlink(os.path.join(d, victim))
            gone_early.add(victim)
assert len(seen) == len(set(seen)), "an entry was returned twice"
assert set(seen) <= start, "readdir returned a name that never existed"
missing = start - gone_early - set(seen)
assert not missing, f"{len(missing)} entries never returned"
assert os.listdir(d) == [], "entries left"
print(f"readdir returned {len(seen)} of {len(start)}, {len(gone_early)} removed early", file=sys.stderr)
PY
# The emptied directory shrank back to its first block (its blocks freed as
# the last ones emptied, as XFS does); it keeps its hash index; fsck agrees.
size=$(stat -c %s "$mnt/d2")
note "d2 emptied: $size bytes"
[ "$size" = 1024 ] || fail "d2 is $size bytes once empty, not one block"
umount "$mnt" || fail "umount"
fsck.rextfs -n /dev/vda >&2 || fail "fsck after emptying d2"
mount -t rextfs /dev/vda "$mnt" || fail "remount"
touch "$mnt/d2/again" && [ "$(ls "$mnt/d2")" = again ] || fail "reuse of an emptied directory"
rm -r "$mnt/d1" "$mnt/d2" || fail "rm -r"
[ -z "$(ls -A "$mnt")" ] || fail "root not empty"
sync
[ "$(stat -f -c '%f %d' "$mnt")" = "$fresh" ] ||
	fail "free blocks/inodes $(stat -f -c '%f %d' "$mnt") after removing everything, before: $fresh"
umount "$mnt" || fail "umount"
fsck.rextfs -n /dev/vda >&2 || fail "fsck after removing everything"
exit 0
