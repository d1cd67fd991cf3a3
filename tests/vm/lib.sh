# SPDX-License-Identifier: GPL-2.0
#
# Helpers for the VM integration tests (sourced by each tests/vm/*.sh, which
# runs as root inside the VM; scratch disks are /dev/vda, /dev/vdb, ...).
set -euo pipefail

fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "# $*" >&2; }

# skip REASON: this test cannot run here for a property of the environment that
# the test itself has just checked (a missing tool or kernel feature, never "the
# file system under test does not work"). run-all prints it as
# "ok vm NAME # SKIP REASON" and scripts/test counts it apart from the passes.
# Exit status 77 alone is not a skip: the reason file must be there too.
skip() {
	[ -n "${1:-}" ] || fail "skip needs a reason"
	printf '%s\n' "$*" >"${REXTFS_OUT:?}/${TEST_NAME:?}.skip"
	echo "SKIP: $*" >&2
	exit 77
}

# expect_errno ERRNO_NAME SYSCALL ARGS...: run a libc call through Python and
# check that it fails with that errno. Calls: mount SRC DIR FSTYPE [DATA],
# remount DIR [DATA] (mount(2) with MS_REMOUNT).
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
elif call == "remount":
    dst = sys.argv[3].encode()
    data = sys.argv[4].encode() if len(sys.argv) > 4 else None
    r = libc.mount(None, dst, None, 32, data)  # MS_REMOUNT
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
# dmesg_has PATTERN: the kernel log since this test started has a line matching
# PATTERN (grep's basic regex). Not "test_dmesg | grep -q": under pipefail, grep
# -q leaving early can kill the writer with SIGPIPE and fail a test that passed.
dmesg_has() {
	local f=/tmp/.dmesg_has.$$
	test_dmesg >"$f" || return 2
	grep -q -- "$1" "$f"
	local rc=$?
	rm -f "$f"
	return $rc
}
# run-all passes the length of the log when it started the test (one reading
# of the log less a test); a test run by hand, or by another test, counts.
DMESG_START=${REXTFS_DMESG_START:-$(dmesg | wc -l)}
unset REXTFS_DMESG_START

# Mount points: the guest's root is the host's, read-only; /tmp is writable.
MNT=/tmp/rextfs-mnt
SCRATCH_MNT=/tmp/rextfs-scratch
mkdir -p "$MNT" "$SCRATCH_MNT"
