#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Crash-consistency runs, inside the VM (scripts/crash-test boots one; the
# VM tests 06x call it directly). For each filesystem and each cut point:
#   1. mkfs on a dm-flakey device over the first SIZE of DEV, writes passing;
#   2. mount, run `rextfs-crash write`: a seeded workload with fsyncs that
#      journals (in /tmp, which survives) what each sync made durable, and at
#      op N switches dm-flakey to drop_writes (the power cut: every later
#      write, flushes included, is silently lost), then goes on a little;
#   3. unmount (its writes are lost too), let writes through again, drop the
#      caches; rextfs: fsck.rextfs -y (it has no journal: an unclean
#      filesystem must be repaired; what it fixed is printed), then -n;
#   4. mount, `rextfs-crash check`: all durable data intact, no garbage;
#   5. unmount and fsck -n (e2fsck -fn, xfs_repair -n, fsck.rextfs -n): clean.
#
#   crash-run.sh [--fs ext4,xfs,rextfs] [--points N] [--ops N] [--seed S]
#                [--size MiB] [--files N] [--control] DEV
# --control adds, per filesystem, one negative-control point whose workload
# keeps journaling after the cut (as if the lost syncs had worked): the check
# must catch it, which shows the cut really drops writes and the checker sees it.
# Prints one line per point and "crash-test: FS: P passed, F failed"; a file
# system that does not mount when freshly made fails all its points.
# Exit status 1 when any point failed.
set -uo pipefail

fslist=ext4 points=10 ops=300 seed=1 size_mb=256 files=3 control=0
while [ $# -gt 1 ]; do
	case "$1" in
	--fs) fslist=$2; shift 2 ;;
	--points) points=$2; shift 2 ;;
	--ops) ops=$2; shift 2 ;;
	--seed) seed=$2; shift 2 ;;
	--size) size_mb=$2; shift 2 ;;
	--files) files=$2; shift 2 ;;
	--control) control=1; shift ;;
	*) echo "crash-run: unknown option $1" >&2; exit 2 ;;
	esac
done
dev=${1:?usage: crash-run.sh [options] DEV}
name=rxcrash
map=/dev/mapper/$name
mnt=/tmp/rxcrash-mnt
work=/tmp/rxcrash-work
mkdir -p "$mnt" "$work"
load() { dmsetup suspend --nolockfs $name && dmsetup load $name --table "$1" && dmsetup resume $name; }
cleanup() {
	mountpoint -q "$mnt" && umount "$mnt"
	dmsetup remove $name 2>/dev/null
}
trap cleanup EXIT
cleanup

mkfs_of() {
	case $1 in
	ext4) mkfs.ext4 -q -F "$map" ;;
	xfs) mkfs.xfs -q -f "$map" ;;
	rextfs) mkfs.rextfs -q -f "$map" ;;
	esac
}
mount_of() {
	case $1 in
	rextfs) mount -t rextfs "$map" "$mnt" ;;
	*) mount -t "$1" "$map" "$mnt" ;;
	esac
}
fsck_n() {
	case $1 in
	ext4) e2fsck -fn "$map" ;;
	xfs) xfs_repair -n "$map" ;;
	rextfs) fsck.rextfs -n -f "$map" ;;
	esac
}

status=0
RANDOM=$seed
for fs in ${fslist//,/ }; do
	pass=0 fail=0
	mb=$size_mb
	[ "$fs" = xfs ] && [ "$mb" -lt 320 ] && mb=320 # mkfs.xfs needs more than 300 MB
	sectors=$((mb * 2048))
	table_up="0 $sectors flakey $dev 0 3600 0"
	table_cut="0 $sectors flakey $dev 0 0 3600 1 drop_writes"
	dmsetup create $name --table "$table_up" || { echo "crash-run: dmsetup create failed" >&2; exit 1; }
	mkfs_of "$fs" >/dev/null || { echo "crash-run: mkfs $fs failed" >&2; exit 1; }
	# A file system that does not even mount fresh fails every point: no
	# silent skip that would let a broken mount pass the crash test.
	if ! mount_of "$fs" >"$work/$fs.mount.log" 2>&1; then
		echo "FAIL $fs: a freshly made file system does not mount: $(tail -n 3 "$work/$fs.mount.log" | tr '\n' ' ')"
		echo "crash-test: $fs: 0 passed, $((points + control)) failed"
		dmsetup remove $name
		status=1
		continue
	fi
	umount "$mnt"
	for ((i = 0; i < points + control; i++)); do
		# Spread the cut points over the run, with jitter.
		span=$(((ops + points - 1) / points))
		cut=$((i * span + RANDOM % span))
		lie=
		if [ $i = $points ]; then
			lie=--lie cut=$((ops / 3))
		fi
		wseed=$((seed * 1000 + i))
		why=
		log="$work/$fs.$i.log"
		: >"$log"
		load "$table_up" && mkfs_of "$fs" >>"$log" 2>&1 || why="mkfs failed"
		[ -z "$why" ] && { mount_of "$fs" >>"$log" 2>&1 || why="mount failed"; }
		if [ -z "$why" ]; then
			mkdir -p "$mnt/d"
			rextfs-crash write $lie --journal "$work/journal" --seed $wseed --ops $cut --after 60 \
				--files "$files" --cut-cmd "dmsetup suspend --nolockfs $name && dmsetup load $name --table '$table_cut' && dmsetup resume $name" \
				"$mnt/d" >>"$log" 2>&1 || why="workload failed"
			umount "$mnt" >>"$log" 2>&1 || why="${why:-umount after the cut failed}"
		fi
		load "$table_up" >>"$log" 2>&1 || why="${why:-dmsetup reload failed}"
		echo 3 >/proc/sys/vm/drop_caches
		repaired=
		if [ -z "$why" ] && [ "$fs" = rextfs ]; then
			if ! fsck.rextfs -n -f "$map" >>"$log" 2>&1; then
				fsck.rextfs -y -f "$map" >"$work/repair.out" 2>&1
				repaired=" (fsck.rextfs -y fixed: $(grep -v '^$' "$work/repair.out" | head -n 5 | tr '\n' ';'))"
				cat "$work/repair.out" >>"$log"
				fsck.rextfs -n -f "$map" >>"$log" 2>&1 || why="fsck.rextfs -y did not make it clean"
			fi
		fi
		if [ -z "$why" ]; then
			if mount_of "$fs" >>"$log" 2>&1; then
				rextfs-crash check --journal "$work/journal" "$mnt/d" >>"$log" 2>&1 ||
					why="fsynced data lost or garbage after the crash"
				umount "$mnt" >>"$log" 2>&1 || why="${why:-umount failed}"
			else
				why="mount after the crash failed"
			fi
		fi
		if [ -z "$why" ]; then
			fsck_n "$fs" >>"$log" 2>&1 || why="fsck -n not clean after the crash"
		fi
		if [ -n "$lie" ]; then
			if [ "$why" = "fsynced data lost or garbage after the crash" ]; then
				echo "ok $fs negative control: writes after the cut were lost and the check noticed"
				pass=$((pass + 1))
			else
				echo "FAIL $fs negative control: ${why:-the check did not notice the lost writes}"
				fail=$((fail + 1))
				status=1
			fi
		elif [ -z "$why" ]; then
			pass=$((pass + 1))
			echo "ok $fs cut at op $cut (seed $wseed)$repaired"
		else
			fail=$((fail + 1))
			status=1
			echo "FAIL $fs cut at op $cut (seed $wseed): $why"
			sed 's/^/    /' "$log" | tail -n 25
			[ -n "${REXTFS_OUT:-}" ] && cp "$log" "$REXTFS_OUT/crash-$fs-$i.log" && cp "$work/journal" "$REXTFS_OUT/crash-$fs-$i.journal"
		fi
	done
	dmsetup remove $name
	echo "crash-test: $fs: $pass passed, $fail failed"
done
exit $status
