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
#      caches; no fsck: every file system here has a journal;
#   4. mount (replaying the journal), `rextfs-crash check`: all durable data
#      intact, no garbage;
#   5. unmount and fsck -n (e2fsck -fn, xfs_repair -n, fsck.rextfs -n): clean.
#
#   crash-run.sh [--fs ext4,xfs,rextfs] [--points N] [--ops N] [--seed S]
#                [--size MiB] [--files N] [--control] [--jobs J]
#                [--log-writes LOGDEV] DEV
# --control adds, per filesystem, one negative-control point whose workload
# keeps journaling after the cut (as if the lost syncs had worked): the check
# must catch it, which shows the cut really drops writes and the checker sees it.
# Prints one line per point and "crash-test: FS: P passed, F failed"; a file
# system that does not mount when freshly made fails all its points.
# Exit status 1 when any point failed.
#
# --jobs J (dm-flakey mode only): run the points in J parallel jobs, job K
# on its own dm-flakey device over the K-th SIZE of DEV (which must hold J
# of them), its own mount point and work directory, taking points K, K+J,
# K+2J, ...; the cut points and workload seeds are those of --jobs 1.
#
# --log-writes LOGDEV: the dm-log-writes mode. dm-flakey keeps every write
# submitted before the cut, so it cannot catch a missing flush or FUA, or
# writes reordered in a volatile write cache. Instead, per filesystem:
#   1. zero the first SIZE of DEV and stack a dm-log-writes device over it
#      (table "0 SECTORS log-writes DEV LOGDEV"), which logs every write to
#      LOGDEV in the order it became stable (a write is logged once a FLUSH
#      issued after it completed, or at once with FUA);
#   2. mkfs, "dmsetup message rxcrash 0 mark mkfs", mount and run the same
#      seeded `rextfs-crash write` workload to completion (--ops ops, no
#      cut); at each durability point (the setup, then every sync that
#      returned) it journals "mark syncN" and marks the log "syncN" by
#      --mark-cmd, so the sync's FLUSH/FUA is in the log before the mark;
#   3. unmount, check that logging never stopped (a full LOGDEV), remove
#      the device (the kernel then writes the final log super block);
#   4. `rextfs-logreplay points` picks at most --points entries after the
#      mkfs mark: FLUSH/FUA entries, random entries between them and the
#      last entry, spread over the log (seeded), each with the last syncN
#      mark at or before it;
#   5. per point, on a dm-linear device over the same SIZE of DEV: zero it
#      and replay the log from entry 0 up to the point (`rextfs-logreplay
#      replay --wipe --to E`, discards written as zeroes), drop the caches,
#      mount with no fsck before (the journal must recover),
#      `rextfs-crash check --upto syncN` (everything durable at that mark
#      intact, nothing visible garbage; no check before the first mark),
#      unmount and fsck -n must be clean.
# The negative control (--control) replays up to the mark a third of the
# way through the syncs and checks against the last sync mark: the check
# must fail. rextfs gets no repair step in this mode: it is meant for a
# journaling rextfs.
set -uo pipefail

fslist=ext4 points=10 ops=300 seed=1 size_mb=256 files=3 control=0 logdev= jobs=1
while [ $# -gt 1 ]; do
	case "$1" in
	--fs) fslist=$2; shift 2 ;;
	--points) points=$2; shift 2 ;;
	--ops) ops=$2; shift 2 ;;
	--seed) seed=$2; shift 2 ;;
	--size) size_mb=$2; shift 2 ;;
	--files) files=$2; shift 2 ;;
	--control) control=1; shift ;;
	--log-writes) logdev=$2; shift 2 ;;
	--jobs) jobs=$2; shift 2 ;;
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
	local m d
	for m in /tmp/rxcrash-mnt*; do
		mountpoint -q "$m" && umount "$m"
	done
	for d in /dev/mapper/rxcrash*; do
		[ -e "$d" ] && dmsetup remove --retry "${d#/dev/mapper/}" 2>/dev/null
	done
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
# The workload also sets user. attributes (rextfs-crash --xattrs MAXLEN):
# values up to 20000 bytes on rextfs (value chains of several blocks), up to
# 200 on ext4 and xfs (four of them must fit ext4's one attribute block, 1 KiB
# on the small devices here).
xattrs_of() {
	case $1 in
	rextfs) echo "--xattrs 20000" ;;
	*) echo "--xattrs 200" ;;
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

# The log-writes mode (see the header).
lw_fail() { # lw_fail WHAT LOG: a point failed; show and keep its log
	fail=$((fail + 1))
	status=1
	echo "FAIL $fs $1"
	sed 's/^/    /' "$2" | tail -n 25
	if [ -n "${REXTFS_OUT:-}" ]; then
		cp "$2" "$REXTFS_OUT/crash-lw-$fs-$(basename "$2")"
		cp "$work/journal" "$REXTFS_OUT/crash-lw-$fs.journal"
		rextfs-logreplay list "$logdev" >"$REXTFS_OUT/crash-lw-$fs.entries" 2>&1
	fi
}
# lw_point ENTRY MARK LOG [UPTO]: replay the log up to ENTRY,
# mount, check as of MARK (as of UPTO for the negative control), unmount,
# fsck -n. Prints nothing; sets why.
lw_point() {
	local entry=$1 mark=$2 log=$3 upto=${4:-$2}
	why=
	: >"$log"
	rextfs-logreplay replay --wipe --to "$entry" "$logdev" "$map" >>"$log" 2>&1 || why="replay failed"
	echo 3 >/proc/sys/vm/drop_caches
	[ -n "$why" ] && return
	if ! mount_of "$fs" >>"$log" 2>&1; then
		why="mount after the crash failed"
		return
	fi
	if [ "$upto" != - ]; then
		rextfs-crash check --journal "$work/journal" --upto "$upto" "$mnt/d" >>"$log" 2>&1 ||
			why="fsynced data lost or garbage after the crash"
	fi
	umount "$mnt" >>"$log" 2>&1 || why="${why:-umount failed}"
	[ -n "$why" ] && return
	fsck_n "$fs" >>"$log" 2>&1 || why="fsck -n not clean after the crash"
}
# log_writes_fs MiB: the whole mode for one filesystem; sets pass and fail.
log_writes_fs() {
	local mb=$1 sectors=$(($1 * 2048)) log="$work/$fs.lw.log" wseed=$((seed * 1000)) why=
	local entry kind mark
	pass=0 fail=0
	: >"$log"
	# Zero the data region (replays start from zeroes too) and the old log's
	# super block.
	dmsetup create $name --table "0 $sectors linear $dev 0" >>"$log" 2>&1 &&
		rextfs-logreplay wipe "$map" >>"$log" 2>&1 &&
		dmsetup remove --retry $name >>"$log" 2>&1 &&
		dd if=/dev/zero of="$logdev" bs=4096 count=1 oflag=direct status=none >>"$log" 2>&1 &&
		dmsetup create $name --table "0 $sectors log-writes $dev $logdev" >>"$log" 2>&1 ||
		why="setting up dm-log-writes failed"
	[ -z "$why" ] && { mkfs_of "$fs" >>"$log" 2>&1 || why="mkfs failed"; }
	[ -z "$why" ] && { dmsetup message $name 0 mark mkfs >>"$log" 2>&1 || why="dmsetup message failed"; }
	if [ -z "$why" ] && ! mount_of "$fs" >>"$log" 2>&1; then
		echo "FAIL $fs: a freshly made file system does not mount: $(tail -n 3 "$log" | tr '\n' ' ')"
		fail=$((points + control))
		status=1
		dmsetup remove --retry $name
		return
	fi
	if [ -z "$why" ]; then
		mkdir -p "$mnt/d"
		rextfs-crash write $(xattrs_of "$fs") --journal "$work/journal" --seed $wseed --ops "$ops" --files "$files" \
			--mark-cmd "dmsetup message $name 0 mark \"\$1\"" "$mnt/d" >>"$log" 2>&1 || why="workload failed"
		umount "$mnt" >>"$log" 2>&1 || why="${why:-umount failed}"
	fi
	if [ -z "$why" ]; then
		dmsetup status $name >>"$log" 2>&1
		dmsetup status $name | grep -q logging_disabled && why="dm-log-writes stopped logging (is LOGDEV too small?)"
	fi
	dmsetup remove --retry $name >>"$log" 2>&1 || why="${why:-dmsetup remove failed}"
	[ -z "$why" ] && { rextfs-logreplay points --max "$points" --seed "$seed" --after-mark mkfs \
		--mark-prefix sync "$logdev" >"$work/points" 2>>"$log" || why="choosing replay points failed"; }
	[ -z "$why" ] && { dmsetup create $name --table "0 $sectors linear $dev 0" >>"$log" 2>&1 ||
		why="dmsetup create failed"; }
	if [ -n "$why" ]; then
		lw_fail "dm-log-writes run (seed $wseed): $why" "$log"
		fail=$((points + control))
		dmsetup remove --retry $name 2>/dev/null
		return
	fi
	local total flushes
	total=$(rextfs-logreplay list "$logdev" | grep -vc '^#')
	flushes=$(rextfs-logreplay flush-points --after-mark mkfs "$logdev" | wc -l)
	echo "# $fs: workload seed $wseed, $total log entries, $flushes FLUSH/FUA after the mkfs mark, $(wc -l <"$work/points") replay points"
	while read -r entry kind mark; do
		lw_point "$entry" "$mark" "$work/$fs.point.$entry.log"
		if [ -z "$why" ]; then
			pass=$((pass + 1))
			echo "ok $fs replay to entry $entry ($kind, as of ${mark/#-/no sync yet})"
		else
			lw_fail "replay to entry $entry ($kind, as of $mark): $why" "$work/$fs.point.$entry.log"
		fi
	done <"$work/points"
	if [ "$control" = 1 ]; then
		local syncs early last
		syncs=$(rextfs-logreplay marks "$logdev" | awk '$2 ~ /^sync[0-9]+$/')
		early=$(echo "$syncs" | awk -v n="$(echo "$syncs" | wc -l)" 'NR == int(n / 3) + 1')
		last=$(echo "$syncs" | tail -n 1)
		if [ -z "$early" ] || [ "$early" = "$last" ]; then
			lw_fail "negative control: too few sync marks in the log" "$log"
		else
			lw_point "${early%% *}" "${early#* }" "$work/$fs.control.log" "${last#* }"
			if [ "$why" = "fsynced data lost or garbage after the crash" ]; then
				pass=$((pass + 1))
				echo "ok $fs negative control: replayed to ${early#* } (entry ${early%% *}), checked as of ${last#* }: the check noticed"
			else
				lw_fail "negative control: replayed to ${early#* }, checked as of ${last#* }: ${why:-the check did not notice the missing writes}" "$work/$fs.control.log"
			fi
		fi
	fi
	dmsetup remove --retry $name
}

# The dm-flakey mode (see the header), one job of --jobs: flakey_job K runs
# points K, K+jobs, ... on its own device over the K-th region of DEV (its
# own $name, $map, $mnt and $work), prints a line per point, and "pass" or
# "fail" per point to file descriptor 3.
flakey_job() {
	local k=$1 i
	name=rxcrash$k map=/dev/mapper/rxcrash$k mnt=/tmp/rxcrash-mnt$k work=/tmp/rxcrash-work$k
	mkdir -p "$mnt" "$work"
	table_up="0 $sectors flakey $dev $((k * sectors)) 3600 0"
	table_cut="0 $sectors flakey $dev $((k * sectors)) 0 3600 1 drop_writes"
	dmsetup create $name --table "$table_up" >&2 || { echo "crash-run: dmsetup create failed" >&2; exit 1; }
	mkfs_of "$fs" >/dev/null || { echo "crash-run: mkfs $fs failed" >&2; exit 1; }
	# A file system that does not even mount fresh fails every point: no
	# silent skip that would let a broken mount pass the crash test.
	if ! mount_of "$fs" >"$work/$fs.mount.log" 2>&1; then
		echo "FAIL $fs: a freshly made file system does not mount: $(tail -n 3 "$work/$fs.mount.log" | tr '\n' ' ')"
		for ((i = k; i < points + control; i += jobs)); do
			echo fail >&3
		done
		dmsetup remove --retry $name
		return
	fi
	umount "$mnt"
	for ((i = k; i < points + control; i += jobs)); do
		flakey_point "$i" "${cuts[$i]}"
	done
	dmsetup remove --retry $name
}
# flakey_point I CUT: point I, cutting the power at op CUT (the negative
# control when I is --points).
flakey_point() {
	local i=$1 cut=$2 lie= wseed=$((seed * 1000 + $1)) why= log="$work/$fs.$1.log"
	if [ "$i" = "$points" ]; then
		lie=--lie cut=$((ops / 3))
	fi
	: >"$log"
	load "$table_up" && mkfs_of "$fs" >>"$log" 2>&1 || why="mkfs failed"
	[ -z "$why" ] && { mount_of "$fs" >>"$log" 2>&1 || why="mount failed"; }
	if [ -z "$why" ]; then
		mkdir -p "$mnt/d"
		rextfs-crash write $lie $(xattrs_of "$fs") --journal "$work/journal" --seed $wseed --ops $cut --after 60 \
			--files "$files" --cut-cmd "dmsetup suspend --nolockfs $name && dmsetup load $name --table '$table_cut' && dmsetup resume $name" \
			"$mnt/d" >>"$log" 2>&1 || why="workload failed"
		umount "$mnt" >>"$log" 2>&1 || why="${why:-umount after the cut failed}"
	fi
	load "$table_up" >>"$log" 2>&1 || why="${why:-dmsetup reload failed}"
	echo 3 >/proc/sys/vm/drop_caches
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
			echo pass >&3
		else
			echo "FAIL $fs negative control: ${why:-the check did not notice the lost writes}"
			echo fail >&3
		fi
	elif [ -z "$why" ]; then
		echo "ok $fs cut at op $cut (seed $wseed)"
		echo pass >&3
	else
		# One write, so that the lines of parallel jobs do not interleave.
		printf '%s\n%s\n' "FAIL $fs cut at op $cut (seed $wseed): $why" "$(sed 's/^/    /' "$log" | tail -n 25)"
		echo fail >&3
		[ -n "${REXTFS_OUT:-}" ] && cp "$log" "$REXTFS_OUT/crash-$fs-$i.log" && cp "$work/journal" "$REXTFS_OUT/crash-$fs-$i.journal"
	fi
}

RANDOM=$seed
for fs in ${fslist//,/ }; do
	if [ -n "$logdev" ]; then
		mb=$size_mb
		[ "$fs" = xfs ] && [ "$mb" -lt 320 ] && mb=320 # mkfs.xfs needs more than 300 MB
		log_writes_fs "$mb"
		echo "crash-test: $fs: $pass passed, $fail failed"
		continue
	fi
	mb=$size_mb
	[ "$fs" = xfs ] && [ "$mb" -lt 320 ] && mb=320 # mkfs.xfs needs more than 300 MB
	sectors=$((mb * 2048))
	if [ $((jobs * sectors)) -gt "$(blockdev --getsz "$dev")" ]; then
		echo "crash-run: $dev holds fewer than $jobs regions of $mb MiB" >&2
		exit 1
	fi
	# The cut points, spread over the run with jitter, drawn in point order
	# whatever the number of jobs.
	cuts=()
	for ((i = 0; i < points + control; i++)); do
		span=$(((ops + points - 1) / points))
		cuts+=($((i * span + RANDOM % span)))
	done
	tallies=()
	for ((k = 0; k < jobs; k++)); do
		tallies+=("$work/$fs.tally.$k")
		flakey_job "$k" 3>"$work/$fs.tally.$k" &
	done
	wait
	pass=$(cat "${tallies[@]}" | grep -c '^pass$')
	fail=$(cat "${tallies[@]}" | grep -c '^fail$')
	[ "$fail" -gt 0 ] && status=1
	[ $((pass + fail)) -ne $((points + control)) ] && status=1
	echo "crash-test: $fs: $pass passed, $fail failed"
done
exit $status
