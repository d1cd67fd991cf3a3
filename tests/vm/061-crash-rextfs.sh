# SPDX-License-Identifier: GPL-2.0
# The same sample of crash points as 060, on rextfs: after each cut the file
# system mounts without fsck (the journal is replayed), the fsynced data must
# survive and fsck.rextfs -n must then be clean. A rextfs that does not mount
# fails.
. "$REPO/tests/vm/lib.sh"
"$REPO/tests/crash/crash-run.sh" --fs rextfs --points "${CRASH_POINTS:-3}" --ops 120 --seed 61 /dev/vdb ||
	fail "crash consistency on rextfs"
