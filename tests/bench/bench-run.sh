#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Benchmark runs, inside the VM started by scripts/bench: the same fio jobs
# (and a metadata job) on rextfs, ext4, xfs and the raw device, one scratch
# disk each, all disks identical, REPS times over: each repetition makes
# every file system afresh and runs every job on every target, so that the
# targets of one repetition are measured close together in time. Results of
# repetition N go to $REXTFS_OUT/bench/run-N/ as TARGET.JOB.json (fio) or
# TARGET.JOB.txt (one number); a target that cannot be set up gets
# TARGET.status with the reason.
#
#   bench-run.sh SIZE_MB RUNTIME_S REPS rextfs=/dev/vda ext4=/dev/vdb xfs=/dev/vdc raw=/dev/vdd
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
size=${1:?size in MiB}
runtime=${2:?runtime in seconds}
reps=${3:?number of repetitions}
shift 3
base=${REXTFS_OUT:?}/bench

drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }

# job NAME TARGET FILE fio-options...: one fio job on FILE.
job() {
	local name=$1 tgt=$2 file=$3
	shift 3
	drop
	if ! fio --name="$name" --filename="$file" --output-format=json --output="$res/$tgt.$name.json" \
		--group_reporting "$@" >"$res/$tgt.$name.log" 2>&1; then
		why=$(grep -h -m1 -oE 'does not support O_DIRECT|No space left on device|Operation not supported|Invalid argument|Input/output error' \
			"$res/$tgt.$name.log" 2>/dev/null | head -n 1)
		case $why in "does not support O_DIRECT") why="no O_DIRECT" ;; "") why="fio failed" ;; esac
		echo "  $name: $why"
		rm -f "$res/$tgt.$name.json"
		echo "$why" >"$res/$tgt.$name.failed"
	fi
}

run_jobs() {
	local tgt=$1 file=$2 dir=$3
	local sz=${size}M small=$((size / 4))M
	local t=(--runtime="$runtime" --time_based --ramp_time=1)
	# Lay the file out once (written, not sparse) for the read jobs.
	job prep "$tgt" "$file" --rw=write --bs=1M --size="$sz" --end_fsync=1 --ioengine=psync
	rm -f "$res/$tgt.prep.json"
	job randread-4k-dio "$tgt" "$file" --rw=randread --bs=4k --size="$sz" --direct=1 --ioengine=io_uring --iodepth=32 "${t[@]}"
	job randwrite-4k-dio "$tgt" "$file" --rw=randwrite --bs=4k --size="$sz" --direct=1 --ioengine=io_uring --iodepth=32 "${t[@]}"
	job seqread-1m-dio "$tgt" "$file" --rw=read --bs=1M --size="$sz" --direct=1 --ioengine=io_uring --iodepth=4 "${t[@]}"
	job seqwrite-1m-dio "$tgt" "$file" --rw=write --bs=1M --size="$sz" --direct=1 --ioengine=io_uring --iodepth=4 "${t[@]}"
	job seqwrite-1m-buffered "$tgt" "$file" --rw=write --bs=1M --size="$sz" --ioengine=psync --end_fsync=1
	job seqread-cold-buffered "$tgt" "$file" --rw=read --bs=1M --size="$sz" --ioengine=psync --invalidate=1
	job randwrite-4k-buffered "$tgt" "$file" --rw=randwrite --bs=4k --size="$sz" --ioengine=psync --end_fsync=1 "${t[@]}"
	if [ -n "$dir" ]; then
		rm -f "$dir/append.dat"
		job fsync-append-4k "$tgt" "$dir/append.dat" --rw=write --bs=4k --size="$small" --ioengine=psync --fsync=1 \
			--runtime="$runtime" --time_based=0
		drop
		python3 "$here/metadata.py" "$dir/meta" 2000 >"$res/$tgt.metadata.txt" 2>"$res/$tgt.metadata.log" ||
			{ echo "  metadata: $(tail -n 1 "$res/$tgt.metadata.log")"; rm -f "$res/$tgt.metadata.txt"; tail -n 1 "$res/$tgt.metadata.log" >"$res/$tgt.metadata.failed"; }
	else
		job fsync-append-4k "$tgt" "$file" --rw=write --bs=4k --size="$small" --ioengine=psync --fsync=1 \
			--runtime="$runtime" --time_based=0
	fi
}

for rep in $(seq 1 "$reps"); do
	res=$base/run-$rep
	mkdir -p "$res"
	for spec in "$@"; do
		tgt=${spec%%=*} dev=${spec#*=}
		echo "== run $rep/$reps: $tgt on $dev"
		mnt=/tmp/bench-$tgt
		mkdir -p "$mnt"
		case $tgt in
		raw)
			run_jobs raw "$dev" ""
			continue
			;;
		ext4) mkfs.ext4 -q -F "$dev" ;;
		xfs) mkfs.xfs -q -f "$dev" ;;
		rextfs) mkfs.rextfs -q -f "$dev" ;;
		esac >"$res/$tgt.mkfs.log" 2>&1 || { echo "mkfs failed" >"$res/$tgt.status"; continue; }
		if ! mount -t "$tgt" "$dev" "$mnt" 2>"$res/$tgt.mount.log"; then
			echo "does not mount" >"$res/$tgt.status"
			echo "  $tgt does not mount: $(head -n 1 "$res/$tgt.mount.log")"
			continue
		fi
		run_jobs "$tgt" "$mnt/bench.dat" "$mnt"
		umount "$mnt" || echo "umount failed" >"$res/$tgt.status"
	done
done
