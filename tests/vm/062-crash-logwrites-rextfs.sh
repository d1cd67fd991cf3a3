# SPDX-License-Identifier: GPL-2.0
# A small sample of scripts/crash-test --log-writes on rextfs: the workload
# runs on a dm-log-writes device, then the log is replayed to FLUSH/FUA
# entries and points in between; at each the file system mounts without fsck
# (journal replay), everything durable at that point is intact, and
# fsck.rextfs -n is clean. The negative control (a check against a later
# durability point) must fail.
. "$REPO/tests/vm/lib.sh"
"$REPO/tests/crash/crash-run.sh" --fs rextfs --points "${CRASH_POINTS:-6}" --ops 120 --seed 62 \
	--control --log-writes /dev/vdb /dev/vda ||
	fail "crash consistency on rextfs (dm-log-writes)"
