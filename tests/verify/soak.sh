#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The long version of tests 050/051 (`make soak VERIFY_OPS=200000`), inside
# the VM: the rextfs-verify suite on ext4 (/dev/vdb) and on rextfs
# (/dev/vda), fsck after each; a rextfs that does not mount fails.
# Op logs of failures go to $REXTFS_OUT.
set -uo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
export REPO
status=0
for fs in ext4 rextfs; do
	echo "=== soak: $fs, VERIFY_OPS=${VERIFY_OPS:-1500}"
	start=$SECONDS
	if [ $fs = ext4 ]; then
		bash "$REPO/tests/vm/050-verify-ext4.sh" || status=1
	else
		bash "$REPO/tests/vm/051-verify-rextfs.sh" || status=1
	fi
	echo "=== soak: $fs done in $((SECONDS - start)) s"
done
exit $status
