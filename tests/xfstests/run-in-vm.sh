#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Inside the VM (started by scripts/xfstests): writes local.config from
# tests/xfstests/local.config.in, formats TEST_DEV, makes the kernel's
# modules (scsi_debug) loadable with modprobe, runs xfstests' check with the
# given arguments, results under $REXTFS_OUT/results. Disks: TEST_DEV
# /dev/vda, SCRATCH_DEV /dev/vdb, LOGWRITES_DEV /dev/vdc (dm-log-writes).
#
#   run-in-vm.sh XFSTESTS_DIR FSTYP check-args...
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
xdir=$1 fstyp=$2
shift 2
out=${REXTFS_OUT:?}
test_dev=/dev/vda scratch_dev=/dev/vdb logwrites_dev=/dev/vdc
test_dir=/tmp/xfstests-test scratch_mnt=/tmp/xfstests-scratch
mkdir -p "$test_dir" "$scratch_mnt" "$out/results"

# MKFS_OPTIONS for the tests' own mkfs: mkfs.rextfs refuses to overwrite an
# existing filesystem without -f.
case $fstyp in
rextfs)
	mkfs_opts="-q -f" fsck_opts="-n"
	: "${XFSTESTS_MKFS_OPTIONS=-f}"
	;;
ext4) mkfs_opts="-q -F" fsck_opts="-n" ;;
xfs) mkfs_opts="-f" fsck_opts="" ;;
*) mkfs_opts="" fsck_opts="-n" ;;
esac
sed -e "s|@FSTYP@|$fstyp|" -e "s|@TEST_DEV@|$test_dev|" -e "s|@TEST_DIR@|$test_dir|" \
	-e "s|@SCRATCH_DEV@|$scratch_dev|" -e "s|@LOGWRITES_DEV@|$logwrites_dev|" -e "s|@SCRATCH_MNT@|$scratch_mnt|" \
	-e "s|@RESULT_BASE@|$out/results|" -e "s|@MKFS_PROG@|$(command -v mkfs)|" \
	-e "s|@FSCK_PROG@|$(command -v fsck)|" -e "s|@MKFS_OPTIONS@|${XFSTESTS_MKFS_OPTIONS:-}|" \
	-e "s|@FSCK_OPTIONS@|$fsck_opts|" -e "s|@MOUNT_OPTIONS@|${XFSTESTS_MOUNT_OPTIONS:-}|" \
	"$here/local.config.in" | grep -v '^#' >"$out/local.config"
# shellcheck disable=SC2086
if [ "$fstyp" = rextfs ]; then mkfs.rextfs $mkfs_opts "$test_dev"; else mkfs -t "$fstyp" $mkfs_opts "$test_dev"; fi >/dev/null ||
	{ echo "xfstests: formatting TEST_DEV $test_dev as $fstyp failed" >&2; exit 1; }
# The test kernel's loadable modules other than rextfs (already loaded; a
# second copy must not be found by modprobe), e.g. scsi_debug, which
# xfstests finds with modinfo and loads with modprobe. The guest sees the
# host's /lib/modules read-only and without this kernel's tree: a tmpfs over
# it gets one, indexed by depmod.
build=${REXTFS_KO%/fs/rextfs/rextfs.ko}
kver=$(uname -r)
if [ -f "$build/modules.order" ]; then
	mount -t tmpfs -o mode=0755 rextfs-modules /lib/modules &&
		mkdir -p "/lib/modules/$kver/kernel" || { echo "xfstests: cannot set up /lib/modules" >&2; exit 1; }
	while read -r m; do
		ko=${m%.o}; ko=${ko%.ko}.ko
		case $ko in fs/rextfs/*) continue ;; esac
		[ -f "$build/$ko" ] && install -D -m 0644 "$build/$ko" "/lib/modules/$kver/kernel/$ko"
	done <"$build/modules.order"
	depmod -a "$kver" || { echo "xfstests: depmod failed" >&2; exit 1; }
fi
# xfstests wants a few users and groups; create them if missing (guest only).
# virtme-ng bind-mounts a tmpfs file over /etc/shadow, so useradd writes
# /etc/passwd but cannot replace /etc/shadow or finish /etc/group: add what it
# left out by appending, or su refuses the user and tests needing fsgqa do
# not run ("fsgqa cannot execute commands"). Their homes are in the guest's
# /tmp (the host's /home is read-only there), or su warns into test output.
for u in fsgqa fsgqa2 123456-fsgqa; do
	id "$u" >/dev/null 2>&1 || useradd -M -d "/tmp/home/$u" "$u" >/dev/null 2>&1 || true
	grep -q "^$u:" /etc/shadow || echo "$u:!:::::::" >>/etc/shadow
	gid=$(id -g "$u" 2>/dev/null) || continue
	getent group "$u" >/dev/null || echo "$u:x:$gid:" >>/etc/group
	home=$(getent passwd "$u" | cut -d: -f6)
	mkdir -p "$home" 2>/dev/null && chown "$u:$gid" "$home" 2>/dev/null
done
export HOST_OPTIONS=$out/local.config
cd "$xdir" || exit 1
./check "$@" 2>&1 | tee "$out/check.log"
exit "${PIPESTATUS[0]}"
