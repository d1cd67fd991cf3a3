# SPDX-License-Identifier: GPL-2.0
# File leases (F_SETLEASE, as Samba and the NFS server use them): a read
# lease is granted and reported by F_GETLEASE; an open for writing by another
# process breaks it (the holder gets SIGIO, the opener waits until the
# holder gives the lease up); a write lease is refused while another
# descriptor has the file open. Directories take read delegations
# (F_SETDELEG).
. "$REPO/tests/vm/lib.sh"

mnt=/tmp/t089
mkdir -p "$mnt"
mkfs.rextfs -q -f /dev/vda 4096 || fail "mkfs.rextfs failed"
mount -t rextfs /dev/vda "$mnt" || fail "mount failed"
echo data >"$mnt/f" && mkdir "$mnt/d" || fail "setup"
# The break time is what the opener waits at most for the holder. Under TCG on
# one virtual CPU beside another VM, the holder's handler once ran only after
# a 5 s break time had passed and the kernel had removed the lease itself
# (its F_UNLCK found no lease: EAGAIN). 30 s keeps the test about the handler.
echo 30 >/proc/sys/fs/lease-break-time

python3 - "$mnt" <<'PY' || fail "leases"
import errno, fcntl, os, signal, sys, time
m = sys.argv[1]
F_SETLEASE, F_GETLEASE = 1024, 1025
F_RDLCK, F_WRLCK, F_UNLCK = 0, 1, 2
broken = []
fd = os.open(f"{m}/f", os.O_RDONLY)
def on_sigio(sig, frame):
    broken.append(time.monotonic())
    fcntl.fcntl(fd, F_SETLEASE, F_UNLCK)
signal.signal(signal.SIGIO, on_sigio)
fcntl.fcntl(fd, F_SETLEASE, F_RDLCK)
assert fcntl.fcntl(fd, F_GETLEASE) == F_RDLCK
start = time.monotonic()
pid = os.fork()
if pid == 0:
    # Blocks until the holder releases the lease (or lease-break-time passes).
    w = os.open(f"{m}/f", os.O_WRONLY)
    os.write(w, b"new!\n")
    os._exit(0)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, status
assert broken, "the lease holder got no SIGIO"
# Released from the handler, not by the kernel after the 30 s break time.
assert time.monotonic() - start < 25, time.monotonic() - start
assert fcntl.fcntl(fd, F_GETLEASE) == F_UNLCK
os.close(fd)
assert open(f"{m}/f").read() == "new!\n"

# A write lease needs the only open descriptor of the file.
a = os.open(f"{m}/f", os.O_RDWR)
b = os.open(f"{m}/f", os.O_RDONLY)
try:
    fcntl.fcntl(a, F_SETLEASE, F_WRLCK)
    sys.exit("write lease granted while another descriptor is open")
except OSError as e:
    assert e.errno in (errno.EAGAIN, errno.EBUSY), e
os.close(b)
fcntl.fcntl(a, F_SETLEASE, F_WRLCK)
assert fcntl.fcntl(a, F_GETLEASE) == F_WRLCK
fcntl.fcntl(a, F_SETLEASE, F_UNLCK)
os.close(a)

# Directories: no leases (the VFS says EINVAL), but read delegations
# (F_SETDELEG with struct delegation {d_flags, d_type, pad}).
F_GETDELEG, F_SETDELEG = 1024 + 15, 1024 + 16
d = os.open(f"{m}/d", os.O_RDONLY | os.O_DIRECTORY)
try:
    fcntl.fcntl(d, F_SETLEASE, F_RDLCK)
    sys.exit("lease on a directory")
except OSError as e:
    assert e.errno == errno.EINVAL, e
import struct
fcntl.fcntl(d, F_SETDELEG, struct.pack("IHH", 0, F_RDLCK, 0))
got = fcntl.fcntl(d, F_GETDELEG, struct.pack("IHH", 0, 0, 0))
assert struct.unpack("IHH", got)[1] == F_RDLCK, got
fcntl.fcntl(d, F_SETDELEG, struct.pack("IHH", 0, F_UNLCK, 0))
os.close(d)
PY
umount "$mnt" || fail "umount"
fsck.rextfs -n /dev/vda || fail "fsck"
exit 0
