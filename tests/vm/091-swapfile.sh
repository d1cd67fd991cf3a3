# SPDX-License-Identifier: GPL-2.0
# Swap files (swap_activate = iomap_swapfile_activate): a fallocated file
# (unwritten extents) and a written one both become active swap, mapped in
# as many swap extents as the file has; while active the file refuses
# writes, truncation and fallocate (ETXTBSY); a file with a hole is refused
# (EINVAL); after swapoff the file is an ordinary file again and fsck is
# clean.
. "$REPO/tests/vm/lib.sh"

mnt=/tmp/t091
mkdir -p "$mnt"
mkfs.rextfs -q -f /dev/vda 16384 || fail "mkfs.rextfs failed"
mount -t rextfs /dev/vda "$mnt" || fail "mount failed"

swap_extents() { test_dmesg | sed -n "s|.*Adding [0-9]*k swap on $1\..*extents:\([0-9]*\).*|\1|p" | tail -1; }

fallocate -l 16M "$mnt/falloc-swap" && chmod 600 "$mnt/falloc-swap" || fail "fallocate"
mkswap -q "$mnt/falloc-swap" >/dev/null || fail "mkswap"
swapon "$mnt/falloc-swap" || fail "swapon of a fallocated file"
grep -q "^$mnt/falloc-swap " /proc/swaps || fail "not in /proc/swaps: $(cat /proc/swaps)"
[ "$(swap_extents "$mnt/falloc-swap")" = 1 ] || fail "swap extents: $(test_dmesg | grep swap)"
python3 - "$mnt/falloc-swap" <<'PY' || fail "an active swap file changed"
import errno, os, sys
p = sys.argv[1]
def busy(what, fn, *a):
    try:
        fn(*a)
    except OSError as e:
        assert e.errno == errno.ETXTBSY, (what, e)
        return
    raise AssertionError(f"{what} succeeded on an active swap file")
w = os.open(p, os.O_WRONLY)
busy("write", os.pwrite, w, b"x", 0)
os.close(w)
busy("truncate", os.truncate, p, 0)
fd = os.open(p, os.O_RDWR)
busy("fallocate", os.posix_fallocate, fd, 32 << 20, 4096)
os.close(fd)
PY
swapoff "$mnt/falloc-swap" || fail "swapoff"
grep -q "^$mnt/falloc-swap " /proc/swaps && fail "still active after swapoff"
echo "ordinary again" >"$mnt/falloc-swap" || fail "write after swapoff"

# A written file: as many swap extents as the file has extents (filefrag).
dd if=/dev/zero of="$mnt/written-swap" bs=1M count=8 status=none && sync || fail "dd"
chmod 600 "$mnt/written-swap"
mkswap -q "$mnt/written-swap" >/dev/null || fail "mkswap"
swapon "$mnt/written-swap" || fail "swapon of a written file"
n=$(swap_extents "$mnt/written-swap")
frags=$(filefrag "$mnt/written-swap" | sed -n 's/.*: \([0-9]*\) extents\{0,1\} found/\1/p')
[ -n "$n" ] && [ "$n" = "$frags" ] || fail "swap extents $n, file extents $frags"
swapoff "$mnt/written-swap" || fail "swapoff"

# A hole is refused by the kernel (swapon(2) directly: swapon(8) would skip
# the file itself).
truncate -s 8M "$mnt/holey-swap" && chmod 600 "$mnt/holey-swap" && mkswap -q "$mnt/holey-swap" >/dev/null ||
	fail "setup"
python3 - "$mnt/holey-swap" <<'PY' || fail "swapon(2) of a file with a hole"
import ctypes, errno, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.swapon(sys.argv[1].encode(), 0) == 0:
    libc.swapoff(sys.argv[1].encode())
    sys.exit("a file with a hole became swap")
assert ctypes.get_errno() == errno.EINVAL, ctypes.get_errno()
PY
dmesg_has "holey-swap.*unallocated extents" ||
	fail "no reason logged for the refused swap file: $(test_dmesg | tail -3)"

umount "$mnt" || fail "umount"
fsck.rextfs -n /dev/vda || fail "fsck after swap files"
exit 0
