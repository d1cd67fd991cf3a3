# SPDX-License-Identifier: GPL-2.0
#
# Helpers for the VM integration tests (sourced by each tests/vm/*.sh, which
# runs as root inside the VM; scratch disks are /dev/vda, /dev/vdb, ...).
set -euo pipefail

fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "# $*" >&2; }

# expect_errno ERRNO_NAME SYSCALL ARGS...: run a libc call through Python and
# check that it fails with that errno. Calls: mount SRC DIR FSTYPE [DATA].
expect_errno() {
	local want=$1
	shift
	python3 - "$want" "$@" <<'PY'
import ctypes, errno, os, sys
want = getattr(errno, sys.argv[1])
call = sys.argv[2]
libc = ctypes.CDLL(None, use_errno=True)
if call == "mount":
    src, dst, fstype = (a.encode() for a in sys.argv[3:6])
    data = sys.argv[6].encode() if len(sys.argv) > 6 else None
    r = libc.mount(src, dst, fstype, 0, data)
else:
    sys.exit(f"expect_errno: unknown call {call}")
e = ctypes.get_errno()
if r == 0:
    sys.exit(f"{call} succeeded, expected {errno.errorcode[want]}")
if e != want:
    sys.exit(f"{call} failed with {errno.errorcode.get(e, e)}, expected {errno.errorcode[want]}")
PY
}

# The kernel log lines printed since this test started.
test_dmesg() { dmesg | tail -n +"$((${DMESG_START:-0} + 1))"; }
DMESG_START=$(dmesg | wc -l)

# Mount points: the guest's root is the host's, read-only; /tmp is writable.
MNT=/tmp/rextfs-mnt
SCRATCH_MNT=/tmp/rextfs-scratch
mkdir -p "$MNT" "$SCRATCH_MNT"
