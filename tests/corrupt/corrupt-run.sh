#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Corrupted-image runs, inside the VM (scripts/corrupt-test boots one; the VM
# test 070 calls it with a small sample). For each block size:
#   1. `rextfs-corrupt base` builds a populated, fsck-clean image with the
#      rextfs-tools library; once rextfs mounts and writes, a second base is
#      populated through the kernel (mkfs.rextfs, mount, create, umount);
#   2. the base itself must mount and walk cleanly (control; while rextfs
#      cannot mount, only the mount path is exercised and this is noted);
#   3. every mutation (`rextfs-corrupt list`: targeted fields of the
#      superblock, bitmaps, inodes, extent nodes, directory blocks and hash
#      index, mostly with checksums recomputed, plus random byte flips) is
#      written to a loop device, mounted, walked by `rextfs-corrupt walk`
#      (readdir, lstat, read every file, readlink, like ls -lR + cat) and
#      written to (create, mkdir, a 256 KiB file, rm), then unmounted.
#      Errors the clean base image also gives (features the kernel does not
#      have yet) are not counted.
# Each image is "refused" (mount failed), "errors" (some walk step failed)
# or "clean". The run fails on any kernel oops/BUG/WARN (checked per image),
# a hang (timeouts), or a must-fail image that mounted and walked cleanly.
#
#   corrupt-run.sh [--block-sizes 4096,1024] [--random N] [--seed S]
#                  [--only REGEX] [--no-write]
set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
sizes=4096,1024 nrandom=40 seed=1 only= write=1
while [ $# -gt 0 ]; do
	case "$1" in
	--block-sizes) sizes=$2; shift 2 ;;
	--random) nrandom=$2; shift 2 ;;
	--seed) seed=$2; shift 2 ;;
	--only) only=$2; shift 2 ;;
	--no-write) write=0; shift ;;
	*) echo "corrupt-run: unknown option $1" >&2; exit 2 ;;
	esac
done
work=/tmp/rxcorrupt
mnt=$work/mnt
rm -rf "$work"
mkdir -p "$mnt"
out=${REXTFS_OUT:-$work}
loop=
cleanup() {
	mountpoint -q "$mnt" && umount "$mnt"
	[ -n "$loop" ] && losetup -d "$loop" 2>/dev/null
}
trap cleanup EXIT

# walk [--save FILE]: read everything (and write, unless --no-write) with
# rextfs-corrupt walk; errors the clean image also gives do not count.
walk() {
	local w=
	[ $write = 1 ] && w=--write
	timeout 120 rextfs-corrupt walk "$mnt" $w --baseline "$work/baseline" "$@" 2>&1 | tr '\n' ';'
	return "${PIPESTATUS[0]}"
}

# try IMG: mount and walk; sets $result to refused, errors or clean and
# $detail; returns 1 on a kernel problem or a hang.
try() {
	local img=$1 before
	shift
	result= detail=
	before=$(dmesg | wc -l)
	loop=$(losetup -f --show "$img") || { echo "corrupt-run: losetup failed" >&2; return 1; }
	if timeout 60 mount -t rextfs "$loop" "$mnt" 2>"$work/err"; then
		detail=$(walk "$@")
		case $? in
		0) result=clean ;;
		124 | 137) result=hang detail="the walk did not finish in 120 s: $detail" ;;
		*) result=errors ;;
		esac
		timeout 60 umount "$mnt" 2>>"$work/err" || { detail="$detail umount failed"; result=hang; }
	else
		[ $? = 124 ] && result=hang || result=refused
		detail=$(head -n 1 "$work/err")
	fi
	losetup -d "$loop"
	loop=
	dmesg | tail -n +"$((before + 1))" >"$work/dmesg"
	detail="$detail [kernel: $(grep -c rextfs "$work/dmesg") rextfs lines]"
	if ! "$repo/scripts/check-dmesg" "$work/dmesg" 2>/dev/null; then
		result=oops
		return 1
	fi
	[ "$result" = hang ] && return 1
	return 0
}

# A base populated through the kernel, once rextfs can mount and write.
kernel_base() {
	local bs=$1 img=$2
	truncate -s 8M "$img"
	mkfs.rextfs -q -f -b "$bs" "$img" || return 1
	loop=$(losetup -f --show "$img") || return 1
	if ! mount -t rextfs "$loop" "$mnt" 2>/dev/null; then
		losetup -d "$loop"; loop=
		return 1
	fi
	local ok=0
	(
		set -e
		mkdir -p "$mnt/a/b/c" "$mnt/many"
		echo hello >"$mnt/a/b/c/leaf"
		dd if=/dev/urandom of="$mnt/multi" bs=7k count=5 status=none
		for i in $(seq 0 2 40); do dd if=/dev/urandom of="$mnt/frag" bs=$bs seek=$i count=1 conv=notrunc status=none; done
		for i in $(seq 1 150); do echo "$i" >"$mnt/many/file-$i-$(printf %0$((i % 30))d 0)"; done
		ln -s a/b/c/leaf "$mnt/fast-link"
		ln -s "$(printf 'x%.0s' $(seq 1 300))" "$mnt/slow-link"
		ln "$mnt/multi" "$mnt/a/hard"
		mkfifo "$mnt/fifo"
	) 2>"$work/err" || ok=1
	umount "$mnt" && losetup -d "$loop"
	loop=
	[ $ok = 0 ] && fsck.rextfs -n "$img" >"$work/err" 2>&1
}

status=0 total=0 refused=0 errors=0 clean=0 failed=0
for bs in ${sizes//,/ }; do
	bases=()
	base=$work/base-$bs.img
	rextfs-corrupt base --block-size "$bs" "$base" || { echo "FAIL: cannot build the $bs base image"; exit 1; }
	bases+=("$base")
	: >"$work/baseline"
	try "$base" --save "$work/baseline.new" || { echo "FAIL base-$bs: $result $detail"; status=1; break; }
	[ -f "$work/baseline.new" ] && mv "$work/baseline.new" "$work/baseline"
	if [ "$result" = refused ]; then
		echo "note: the clean $bs-byte base image is refused (rextfs does not mount yet): only the mount path is exercised"
	elif [ "$result" = errors ]; then
		# Not a corruption-handling failure: the kernel cannot yet read all of a
		# valid image. Those errors become the baseline of the mutated images.
		echo "note: the uncorrupted $bs-byte image walks with errors (unimplemented features?): $detail"
	elif [ "$result" != clean ]; then
		echo "FAIL base-$bs: the uncorrupted image gives $result: $detail"
		status=1
	else
		echo "ok base-$bs: the uncorrupted image mounts and walks cleanly"
		if kernel_base "$bs" "$work/kbase-$bs.img"; then
			bases+=("$work/kbase-$bs.img")
			echo "ok kbase-$bs: populated through the kernel, fsck.rextfs -n clean"
		else
			echo "note: no kernel-populated base for $bs: $(head -n 1 "$work/err")"
		fi
	fi
	for b in "${bases[@]}"; do
		tag=$(basename "$b" .img)
		rextfs-corrupt list "$b" --seed "$seed" --random "$nrandom" --baseline "$work/baseline" >"$work/list" || { echo "FAIL: rextfs-corrupt list $b"; status=1; continue; }
		# Images are made in batches (one rextfs-corrupt run each) to save time.
		names=()
		while IFS=$'\t' read -r name expect fsck what; do
			[ -n "$only" ] && ! [[ $name =~ $only ]] && continue
			names+=("$name")
		done <"$work/list"
		for ((k = 0; k < ${#names[@]}; k += 20)); do
			rm -rf "$work/batch"
			mkdir -p "$work/batch"
			rextfs-corrupt apply-many "$b" "$work/batch" "${names[@]:k:20}" --seed "$seed" --random "$nrandom" ||
				{ echo "FAIL $tag: cannot build images ${names[*]:k:20}"; status=1; continue; }
			for name in "${names[@]:k:20}"; do
				IFS=$'\t' read -r _ expect fsck what < <(grep -P "^\Q$name\E\t" "$work/list")
				img=$work/batch/$name.img
				total=$((total + 1))
				t0=$SECONDS
				if ! try "$img"; then
					echo "FAIL $tag/$name ($what): $result $detail"
					cp "$img" "$out/corrupt-$tag-$name.img" 2>/dev/null
					cp "$work/dmesg" "$out/corrupt-$tag-$name.dmesg" 2>/dev/null
					failed=$((failed + 1))
					status=1
					[ "$result" = oops ] && break 3 # the kernel is no longer trustworthy
					continue
				fi
				case $result in
				refused) refused=$((refused + 1)) ;;
				errors) errors=$((errors + 1)) ;;
				clean)
					clean=$((clean + 1))
					if [ "$expect" = must-fail ]; then
						echo "FAIL $tag/$name ($what): mounted and walked cleanly $detail"
						cp "$img" "$out/corrupt-$tag-$name.img" 2>/dev/null
						failed=$((failed + 1))
						status=1
						continue
					fi
					;;
				esac
				echo "ok $tag/$name $expect fsck=$fsck $((SECONDS - t0))s: $result $detail"
			done
		done
	done
done
echo "corrupt-test: $total images: $refused refused, $errors with errors, $clean clean (may-pass), $failed failed"
exit $status
