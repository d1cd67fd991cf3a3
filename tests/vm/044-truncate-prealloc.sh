# SPDX-License-Identifier: GPL-2.0
# Truncate and blocks preallocated past the end of file (FALLOC_FL_KEEP_SIZE),
# as xfstests generic/092 expects: truncating to the same size drops them,
# truncating up keeps them all, truncating down frees what lies past the new
# end; data below the size is intact and fsck.rextfs -n is clean.
. "$REPO/tests/vm/lib.sh"

mnt=/tmp/t044
f=$mnt/f
mkdir -p "$mnt"
mkfs.rextfs -q -f /dev/vda || fail "mkfs.rextfs failed"
mount -t rextfs /dev/vda "$mnt" || fail "mount failed"
blocks() { echo $(( $(stat -c %b "$f") * 512 / 1048576 )); } # MiB allocated

xfs_io -f -c "falloc -k 0 10m" -c "pwrite -S 0x5a 0 5m" "$f" >/dev/null || fail "falloc/pwrite"
[ "$(blocks)" = 10 ] || fail "after falloc -k 10m + pwrite 5m: $(blocks) MiB allocated, want 10"
xfs_io -c "truncate 5m" "$f" || fail "truncate to the same size"
[ "$(blocks)" = 5 ] || fail "truncate to the same size kept $(blocks) MiB, want 5 (post-EOF blocks dropped)"
xfs_io -c "falloc -k 5m 5m" -c "truncate 7m" "$f" || fail "falloc -k + truncate up"
[ "$(stat -c %s "$f")" = $((7 << 20)) ] || fail "size after truncate up: $(stat -c %s "$f")"
[ "$(blocks)" = 10 ] || fail "truncate up kept $(blocks) MiB, want 10 (preallocation past the new end stays)"
xfs_io -c "fiemap -v" "$f" | grep -q "10240..20479" || fail "fiemap after truncate up: $(xfs_io -c 'fiemap -v' "$f")"
cmp -n $((5 << 20)) "$f" <(yes Z | tr -d '\n' | head -c $((5 << 20))) || fail "data below 5 MiB changed"
cmp -i $((5 << 20)) -n $((2 << 20)) "$f" /dev/zero || fail "5..7 MiB does not read as zeroes"
xfs_io -c "truncate 3m" "$f" || fail "truncate down"
[ "$(blocks)" = 3 ] || fail "truncate down left $(blocks) MiB, want 3"
umount "$mnt" || fail "umount"
fsck.rextfs -n /dev/vda || fail "fsck"
mount -t rextfs /dev/vda "$mnt" || fail "remount"
[ "$(stat -c %s "$f")" = $((3 << 20)) ] && [ "$(blocks)" = 3 ] || fail "after remount: size $(stat -c %s "$f"), $(blocks) MiB"
cmp -n $((3 << 20)) "$f" <(yes Z | tr -d '\n' | head -c $((3 << 20))) || fail "data after remount"
umount "$mnt" || fail "umount 2"
echo "ok: truncate and post-EOF preallocation"
