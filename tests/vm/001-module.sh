# SPDX-License-Identifier: GPL-2.0
# The module registers the rextfs type, refuses a device without a rextfs super
# block with EINVAL and a clear message, and unloads and reloads cleanly.
# Expects rextfs errors: a device without a super block; KUnit error paths at insmod.
. "$REPO/tests/vm/lib.sh"

grep -qw rextfs /proc/filesystems || fail "rextfs is not in /proc/filesystems after insmod"

dd if=/dev/zero of=/dev/vda bs=1M count=4 status=none
expect_errno EINVAL mount /dev/vda $MNT rextfs
dmesg_has "rextfs: vda: no rextfs super block found" ||
	fail "no clear kernel message for a device without rextfs"
! grep -q " $MNT " /proc/mounts || fail "something got mounted"

# The module's KUnit suites ran (and were checked) when the VM loaded it; on
# the reload they are filtered out (kunit's filter_glob, a glob no suite
# matches), so that they neither run nor count twice.
glob=/sys/module/kunit/parameters/filter_glob
saved=
if [ -w "$glob" ]; then
	saved=$(cat "$glob")
	echo "001-reload-runs-no-suite" >"$glob" || fail "cannot set kunit.filter_glob"
fi
restore_glob() {
	# An unset glob reads "(null)"; "*.*" is what kunit uses for it.
	[ -z "$saved" ] || { [ "$saved" = "(null)" ] && echo "*.*" || echo "$saved"; } >"$glob" || true
}
trap restore_glob EXIT
rmmod rextfs || fail "rmmod rextfs failed"
! grep -qw rextfs /proc/filesystems || fail "rextfs still registered after rmmod"
insmod "$REXTFS_KO" || fail "insmod after rmmod failed"
grep -qw rextfs /proc/filesystems || fail "rextfs not registered again"
