#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The scale jobs of the benchmark, inside the VM started by scripts/bench
# (tests/bench/scale.py does the work): the files job on every target, then
# the aging job on every target, each on a file system made afresh, so that
# one job's targets are measured close together in time. Once, not per
# repetition. Results go to $REXTFS_OUT/scale/ as TARGET.scale-files.json
# and TARGET.aging.json, with TARGET.JOB.log (progress, errors) beside them;
# a job that fails leaves TARGET.JOB.failed with the reason (one that never
# ends, e.g. cut off by the VM's timeout, leaves "did not finish").
#
#   scale-run.sh FILES DIRS AGING_GB AGING_FILE_MB SEED rextfs=/dev/vda ext4=/dev/vdb xfs=/dev/vdc
#
# FILES = 0 skips the files job, AGING_GB = 0 the aging job. The files job's
# file systems get FILES + DIRS + 1024 inodes (mkfs.ext4 -N, mkfs.rextfs
# -N; xfs allocates inodes as it goes); the aging job's are AGING_GB GiB
# (mkfs's size argument), made with default options, at the start of the
# disk. mkfs.ext4 runs with lazy_itable_init=0,lazy_journal_init=0 so that
# no ext4lazyinit thread zeroes inode tables in the background during a job.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
files=${1:?number of files}
dirs=${2:?number of directories}
aging_gb=${3:?aging file system size in GiB}
file_mb=${4:?size of the aging job file in MiB}
seed=${5:?seed}
shift 5
res=${REXTFS_OUT:?}/scale
mkdir -p "$res"
ext4_opts=(-E lazy_itable_init=0,lazy_journal_init=0)

# Every job starts on a disk that reads back zeroes, and gives the blocks it
# wrote back when it is done: the disk images are sparse files on the host
# (discard=unmap), and the aging job writes most of its file system.
discard() { blkdiscard -f "$1" 2>/dev/null || blkdiscard "$1" 2>/dev/null || true; }

# mkfs_job JOB TARGET DEV: a fresh file system for JOB.
mkfs_job() {
	local job=$1 tgt=$2 dev=$3 inodes=$((files + dirs + 1024)) gib=${aging_gb}G
	case $job.$tgt in
	scale-files.ext4) mkfs.ext4 -q -F "${ext4_opts[@]}" -N "$inodes" "$dev" ;;
	scale-files.xfs) mkfs.xfs -q -f "$dev" ;;
	scale-files.rextfs) mkfs.rextfs -q -f -N "$inodes" "$dev" ;;
	aging.ext4) mkfs.ext4 -q -F "${ext4_opts[@]}" "$dev" "$gib" ;;
	aging.xfs) mkfs.xfs -q -f -d size="${aging_gb}g" "$dev" ;;
	# 4 KiB blocks, mkfs.rextfs's default: the size is in blocks.
	aging.rextfs) mkfs.rextfs -q -f "$dev" $((aging_gb * 262144)) ;;
	esac
}

# scale JOB TARGET DEV scale.py-arguments...: one job on a fresh file system.
scale() {
	local job=$1 tgt=$2 dev=$3 mnt=/tmp/scale-$2 why
	shift 3
	echo "did not finish" >"$res/$tgt.$job.failed"
	echo "== $job on $tgt ($dev), $(date -u +%H:%M:%S)"
	discard "$dev"
	if ! mkfs_job "$job" "$tgt" "$dev" >"$res/$tgt.$job.mkfs.log" 2>&1; then
		echo "mkfs failed" >"$res/$tgt.$job.failed"
		echo "  mkfs failed: $(tail -n 1 "$res/$tgt.$job.mkfs.log")"
		return
	fi
	mkdir -p "$mnt"
	if ! mount -t "$tgt" "$dev" "$mnt" 2>"$res/$tgt.$job.mount.log"; then
		echo "does not mount" >"$res/$tgt.$job.failed"
		echo "  $tgt does not mount: $(head -n 1 "$res/$tgt.$job.mount.log")"
		return
	fi
	sync
	echo 3 >/proc/sys/vm/drop_caches
	if python3 "$here/scale.py" "${job#scale-}" "$mnt" "$@" >"$res/$tgt.$job.json" 2>"$res/$tgt.$job.log"; then
		rm -f "$res/$tgt.$job.failed"
		python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print("  " + ", ".join(f"{k} {d[k]}" for k in sys.argv[2:]))' \
			"$res/$tgt.$job.json" $([ "$job" = aging ] && echo mibps extents files_written used_after_fill used_after_delete ||
				echo create stat unlink total)
	else
		why=$(tail -n 1 "$res/$tgt.$job.log")
		echo "  $job failed: $why"
		rm -f "$res/$tgt.$job.json"
		echo "${why:-failed}" >"$res/$tgt.$job.failed"
	fi
	umount "$mnt" || echo "  umount failed"
	discard "$dev"
}

if [ "$files" -gt 0 ]; then
	for spec in "$@"; do
		scale scale-files "${spec%%=*}" "${spec#*=}" "$files" "$dirs"
	done
fi
if [ "$aging_gb" -gt 0 ]; then
	for spec in "$@"; do
		scale aging "${spec%%=*}" "${spec#*=}" --seed "$seed" --file-mb "$file_mb"
	done
fi
echo "== scale jobs done, $(date -u +%H:%M:%S)"
