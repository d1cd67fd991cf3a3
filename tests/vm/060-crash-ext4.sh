# SPDX-License-Identifier: GPL-2.0
# A small sample of scripts/crash-test: power cuts (dm-flakey drop_writes) at
# a few points of an fsync-heavy workload on ext4; the fsynced data must be
# intact after remount and e2fsck clean.
. "$REPO/tests/vm/lib.sh"
"$REPO/tests/crash/crash-run.sh" --fs ext4 --points "${CRASH_POINTS:-3}" --ops 120 --seed 60 /dev/vdb ||
	fail "crash consistency on ext4"
