#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Corrupted-image runs, inside the VM (scripts/corrupt-test boots one; the VM
# test 070 calls it with a small sample). For each block size:
#   1. two base images: `rextfs-corrupt base` builds a populated, fsck-clean
#      image with the rextfs-tools library, and the same tree is made through
#      the kernel (mkfs.rextfs, mount, create, umount; fsck.rextfs -n clean);
#   2. control: each base must mount, walk and write without a single error,
#      every file reading back what the library reads (`rextfs-corrupt walk
#      --base`), and be fsck-clean afterwards. A base that fails the control
#      fails the run: its mutations would prove nothing;
#   3. `rextfs-corrupt list --must-fail tests/corrupt/must-fail` lists the
#      mutations of the base (targeted fields of the superblock, bitmaps,
#      inodes, extent nodes, directory blocks, hash index, xattr blocks,
#      value blocks and ACLs, mostly with checksums recomputed, plus random
#      byte flips) with their expectation from that fixed list; a listed
#      name the base does not have, or a must-fail mutation fsck.rextfs -n
#      finds nothing wrong with, fails the run;
#   4. each selected mutation is written to a loop device and mounted; if the
#      mount succeeds it is walked (every object read, its extended
#      attributes and ACLs too) and written to (`rextfs-corrupt walk
#      --mutation`, which judges what it read against the base: the rule is
#      in tools/rextfs-verify/src/corrupt_check.rs) and unmounted, then
#      mounted again read-only and walked again (`walk --reread`, rule 4):
#      the kernel's writes must not have changed or broken an undamaged
#      file (the read-only mount also works after recorded errors, which
#      make rextfs refuse a read-write mount with EUCLEAN);
#   5. fsck.rextfs -n then checks the image the kernel had (see fsck_after).
# Each image is "refused" (mount failed with EUCLEAN or EINVAL, or with a
# rextfs kernel line saying why), "errors" (allowed errors) or "clean". The
# run fails on a kernel oops/BUG/WARN (checked per image), a hang
# (timeouts), a mount failure that is no refusal (ENOMEM, EBUSY, unknown
# file system type, or any error without a rextfs kernel line), a broken
# walk rule (a must-fail image mounted without an error on the damaged
# object, garbage read without an error, an undamaged file changed or
# failing, before or after the writes), or a fsck verdict the kernel made
# worse.
#
#   corrupt-run.sh [--block-sizes 4096,1024] [--random N] [--seed S]
#                  [--only REGEX | --names 'NAME NAME...'] [--knames 'NAME...']
#                  [--no-write]
# --names selects exact mutation names, each of which must exist for every
# base (test 070: a renamed mutation fails instead of shrinking the sample);
# --knames gives the kernel-made base a list of its own (default: --names).
set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
sizes=4096,1024 nrandom=40 seed=1 only= names_opt= knames_opt= write=1
while [ $# -gt 0 ]; do
	case "$1" in
	--block-sizes) sizes=$2; shift 2 ;;
	--random) nrandom=$2; shift 2 ;;
	--seed) seed=$2; shift 2 ;;
	--only) only=$2; shift 2 ;;
	--names) names_opt=$2; shift 2 ;;
	--knames) knames_opt=$2; shift 2 ;;
	--no-write) write=0; shift ;;
	*) echo "corrupt-run: unknown option $1" >&2; exit 2 ;;
	esac
done
must_fail=$repo/tests/corrupt/must-fail
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

# reread BASE [walk options]: after the walk with writes, mount $loop again
# read-only and walk it again (rule 4 in corrupt_check.rs); updates $result
# and $detail, and appends broken rules to $work/walk.
reread() {
	local base=$1 rc
	shift
	if timeout 60 mount -t rextfs -o ro "$loop" "$mnt" 2>"$work/err2"; then
		timeout 120 rextfs-corrupt walk "$mnt" --base "$base" --reread "$@" >"$work/reread" 2>&1
		rc=$?
		timeout 60 umount "$mnt" 2>>"$work/err" || { detail="$detail reread: umount failed"; result=hang; }
	else
		rc=$?
		if [ $rc = 124 ]; then
			detail="$detail reread: the read-only mount did not finish in 60 s"
			result=hang
			return
		fi
		rextfs-corrupt walk "$mnt" --base "$base" --reread --unmounted "$(head -n 1 "$work/err2")" "$@" >"$work/reread" 2>&1
		rc=$?
	fi
	case $rc in
	0) ;;
	3) [ "$result" = clean ] && result=errors ;;
	124 | 137) detail="$detail reread: the walk did not finish in 120 s:" result=hang ;;
	*) [ "$result" = hang ] || result=broken ;;
	esac
	detail="$detail $(grep -v '^BROKEN' "$work/reread" | tr '\n' ';')"
	grep '^BROKEN' "$work/reread" >>"$work/walk"
}

# refusal: classifies a failed mount (the mount's stderr in $work/err, the
# kernel lines since it in $work/dmesg): a refusal is EUCLEAN ("Structure
# needs cleaning") or EINVAL (util-linux: "wrong fs type, bad option, bad
# superblock"), or else an error that rextfs explained in the kernel log;
# ENOMEM, EBUSY, an unknown file system type... are not (EROFS, a rw mount
# of unsupported read-only features, counts with its rextfs kernel line).
refusal() {
	if grep -qE 'Structure needs cleaning|wrong fs type, bad option, bad superblock|Invalid argument' "$work/err"; then
		result=refused
	elif grep -qiE 'unknown filesystem type|No such device|Cannot allocate memory|already mounted|busy' "$work/err"; then
		result=unexplained
	elif grep -q rextfs "$work/dmesg"; then
		result=refused
	else
		result=unexplained
	fi
	[ $result = refused ] || detail="not a refusal: $detail"
}

# klog_since N FILE: the kernel log after its first N lines into FILE, its
# length into klog_len, the number of those lines naming rextfs into
# klog_rextfs. One dmesg a call, the rest in the shell: under TCG every
# process started costs about 0.2 s, and this runs three times an image.
klog_since() {
	local lines line
	mapfile -t lines < <(dmesg)
	klog_len=${#lines[@]} klog_rextfs=0
	[ "$2" = /dev/null ] && return 0
	: >"$2"
	[ "$klog_len" -gt "$1" ] || return 0
	printf '%s\n' "${lines[@]:$1}" >"$2"
	for line in "${lines[@]:$1}"; do
		[[ $line == *rextfs* ]] && klog_rextfs=$((klog_rextfs + 1))
	done
	return 0
}

# try IMG BASE [walk options]: mount and walk; sets $result to refused,
# unexplained (a failed mount that is no refusal), errors, clean, broken,
# hang or oops and $detail; returns 1 on a kernel problem or a hang.
try() {
	local img=$1 base=$2 before w= rc
	shift 2
	[ $write = 1 ] && w=--write
	result= detail= mounted=0
	klog_since 0 /dev/null
	before=$klog_len
	loop=$(losetup -f --show "$img") || { echo "corrupt-run: losetup failed" >&2; return 1; }
	if timeout 60 mount -t rextfs "$loop" "$mnt" 2>"$work/err"; then
		mounted=1
		timeout 120 rextfs-corrupt walk "$mnt" --base "$base" $w "$@" >"$work/walk" 2>&1
		case $? in
		0) result=clean ;;
		3) result=errors ;;
		124 | 137) result=hang detail="the walk did not finish in 120 s:" ;;
		*) result=broken ;;
		esac
		detail="$detail $(grep -v '^BROKEN' "$work/walk" | tr '\n' ';')"
		timeout 60 umount "$mnt" 2>>"$work/err" || { detail="$detail umount failed"; result=hang; }
		[ $write = 1 ] && [ "$result" != hang ] && reread "$base" "$@"
	else
		rc=$?
		detail=$(head -n 1 "$work/err")
		klog_since "$before" "$work/dmesg"
		[ $rc = 124 ] && result=hang || refusal
	fi
	losetup -d "$loop"
	loop=
	klog_since "$before" "$work/dmesg"
	detail="$detail [kernel: $klog_rextfs rextfs lines]"
	if ! "$repo/scripts/check-dmesg" "$work/dmesg" 2>/dev/null; then
		result=oops
		return 1
	fi
	[ "$result" = hang ] && return 1
	return 0
}

# fsck_after IMG BEFORE REPAIR: fsck.rextfs -n on the image the kernel has
# mounted, walked and written to (or refused). BEFORE is the exit code of
# fsck -n on the mutated image before the kernel saw it, REPAIR whether
# fsck -y then made it clean. The kernel's writes must not take the image
# beyond what fsck can explain: an image fsck found clean must still be
# clean (so the kernel must neither damage it nor record errors fsck cannot
# see); otherwise fsck must still complete its check (exit 4: problems
# found) unless it could not check the image before either, and an image
# fsck -y could repair must still be repairable. Sets $fsck_detail; returns
# 1 when the kernel made things worse.
fsck_after() {
	local img=$1 before=$2 repair=$3 after
	fsck.rextfs -n "$img" >"$work/fsck" 2>&1
	after=$?
	fsck_detail="fsck -n $before->$after"
	if [ "$before" = 0 ] && [ $after != 0 ]; then
		fsck_detail="$fsck_detail: the image was fsck-clean, now: $(head -n 3 "$work/fsck" | tr '\n' ';')"
		return 1
	fi
	if [ $after -gt 4 ] && [ $after != "$before" ]; then
		fsck_detail="$fsck_detail: fsck can no longer check it: $(head -n 3 "$work/fsck" | tr '\n' ';')"
		return 1
	fi
	# (fsck -y on an in-memory copy, then -n: one process under TCG)
	if [ "$repair" = repairable ] && [ $mounted = 1 ] && [ $after != 0 ]; then
		if ! rextfs-corrupt repairable "$img" >"$work/fsck" 2>&1; then
			fsck_detail="$fsck_detail: fsck -y repaired it before the kernel wrote to it, no longer"
			return 1
		fi
		fsck_detail="$fsck_detail, still repairable"
	fi
	return 0
}

# The tree of `rextfs-corrupt base` (build_base in corrupt.rs), made through
# the kernel, so that every mutation of the fixed list exists for it too.
kernel_base() {
	local bs=$1 img=$2
	truncate -s 8M "$img"
	mkfs.rextfs -q -f -b "$bs" "$img" >"$work/err" 2>&1 || return 1
	loop=$(losetup -f --show "$img") || return 1
	if ! mount -t rextfs "$loop" "$mnt" 2>"$work/err"; then
		losetup -d "$loop"
		loop=
		return 1
	fi
	local ok=0
	python3 - "$mnt" "$bs" <<'PY' 2>"$work/err" || ok=1
import os, struct, subprocess, sys
root, bs = sys.argv[1], int(sys.argv[2])
def p(*a):
    return os.path.join(root, *a)
def put(path, off, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    os.pwrite(fd, data, off)
    os.close(fd)
os.umask(0)
os.mkdir(p("dir"), 0o755)
os.mkdir(p("dir/sub"), 0o750)
os.mkdir(p("dir/sub/deep"), 0o700)
put(p("dir/sub/deep/leaf.txt"), 0, b"hello from the bottom of the tree\n")
put(p("small"), 0, os.urandom(100))
put(p("multi"), 0, os.urandom(5 * bs + 123))
for i in range(24):  # every other block: more extents than the inode holds
    put(p("dir/fragmented"), 2 * i * bs, os.urandom(bs))
os.chmod(p("dir/fragmented"), 0o600)
put(p("sparse"), 40 * bs, os.urandom(300))
subprocess.run(["fallocate", "-o", str(4 * bs), "-l", str(3 * bs), p("sparse")], check=True)
put(p("sparse"), 2, b"x")
os.mkdir(p("big"), 0o755)
put(p("big", "first"), 0, b"")
os.mkdir(p("big2"), 0o755)
put(p("big2", "x"), 0, b"")
for i in range(bs // 24):
    name = "name-%04d-%s" % (i, "y" * (i % 13))
    put(p("big", name), 0, os.urandom(17 + i) if i % 9 == 0 else b"")
# A directory growing past its first block sets its next blocks aside (8 of
# them, as many as it has past that), and the hash index made with its
# second block goes right after those: long names give big a dozen blocks
# more, which cannot all follow the second, so big has two extents and its
# extent mutations (inode-bigdir-ext-order) exist.
for i in range(12 * bs // 256):
    put(p("big", "long-%03d-%s" % (i, "z" * 240)), 0, b"")
os.symlink("dir/sub/deep/leaf.txt", p("fast-link"))
os.symlink("long-component" * 20 + "/target", p("dir/slow-link"))
os.link(p("multi"), p("dir/sub/hard-link"))
os.mknod(p("null-dev"), 0o20666, os.makedev(1, 3))
os.mkfifo(p("fifo"), 0o644)
# Extended attributes (build_base's BASE_INLINE_XATTRS, BASE_BIG_XATTR_LEN,
# BASE_CHAIN_XATTRS and base_acls): inline values of three namespaces, a
# 10 KiB value in value blocks, six values of the largest inline size (two
# xattr blocks), a directory with an access and a default ACL.
put(p("xattrs"), 0, b"a file with attributes\n")
for name, value in (("user.color", b"blue"), ("user.empty", b""),
                    ("trusted.rextfs", b"a trusted value"), ("security.rextfs", b"label")):
    os.setxattr(p("xattrs"), name, value)
put(p("bigxattr"), 0, os.urandom(50))
os.setxattr(p("bigxattr"), "user.big", os.urandom(10240))
put(p("manyxattrs"), 0, b"")
for i in range(6):
    os.setxattr(p("manyxattrs"), "user.chain-%d" % i, os.urandom((bs - 40) // 4))
def acl(*entries):  # the VFS encoding: version 2, then (tag, perm, id)
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)
U = 0xffffffff
os.mkdir(p("acl-dir"), 0o750)
os.setxattr(p("acl-dir"), "system.posix_acl_access",
            acl((0x01, 7, U), (0x02, 5, 1000), (0x04, 5, U), (0x10, 5, U), (0x20, 0, U)))
os.setxattr(p("acl-dir"), "system.posix_acl_default",
            acl((0x01, 7, U), (0x04, 5, U), (0x08, 7, 100), (0x10, 7, U), (0x20, 5, U)))
PY
	umount "$mnt" && losetup -d "$loop"
	loop=
	[ $ok = 0 ] && fsck.rextfs -n "$img" >"$work/err" 2>&1
}

status=0 total=0 refused=0 errors=0 clean=0 failed=0
fail() {
	echo "FAIL $*"
	failed=$((failed + 1))
	status=1
}
for bs in ${sizes//,/ }; do
	bases=()
	base=$work/base-$bs.img
	rextfs-corrupt base --block-size "$bs" "$base" || { fail "base-$bs: cannot build the base image"; continue; }
	bases+=("$base")
	if kernel_base "$bs" "$work/kbase-$bs.img"; then
		bases+=("$work/kbase-$bs.img")
	else
		fail "kbase-$bs: cannot populate a base through the kernel: $(head -n 3 "$work/err" | tr '\n' ';')"
	fi
	for b in "${bases[@]}"; do
		tag=$(basename "$b" .img)
		want=$names_opt
		[ "$tag" = "kbase-$bs" ] && [ -n "$knames_opt" ] && want=$knames_opt
		# Control: the uncorrupted base must mount, walk and write cleanly.
		cp "$b" "$work/control.img"
		try "$work/control.img" "$b" || { fail "$tag: the uncorrupted image: $result $detail"; break 2; }
		if [ "$result" != clean ]; then
			fail "$tag: the uncorrupted image must mount and walk cleanly, it gives $result:$detail"
			grep '^BROKEN' "$work/walk" | head -n 20
			continue
		fi
		if ! fsck.rextfs -n "$work/control.img" >"$work/fsck" 2>&1; then
			fail "$tag: the uncorrupted image is not fsck-clean after the walk: $(head -n 3 "$work/fsck" | tr '\n' ';')"
			continue
		fi
		echo "ok $tag: the uncorrupted image mounts, reads back identical, takes writes, reads back identical after them, stays fsck-clean"
		# With --names, fsck runs on those mutations only (the whole list's
		# fsck verdicts are for scripts/corrupt-test and the cargo tests).
		sel=()
		[ -n "$want" ] && sel=(--names "$want")
		if ! rextfs-corrupt list "$b" --seed "$seed" --random "$nrandom" --must-fail "$must_fail" "${sel[@]}" >"$work/list" 2>"$work/err"; then
			fail "$tag: rextfs-corrupt list: $(tr '\n' ';' <"$work/err")"
			[ -s "$work/list" ] || continue
		fi
		declare -A listed=()
		while IFS=$'\t' read -r name rest || [ -n "$name" ]; do
			[ -n "$name" ] && [ -z "${listed[$name]+set}" ] && listed[$name]=$rest
		done <"$work/list"
		names=()
		if [ -n "$want" ]; then
			for name in $want; do
				if [ -n "${listed[$name]+set}" ]; then
					names+=("$name")
				else
					fail "$tag/$name: no such mutation (renamed or lost?)"
				fi
			done
		else
			while IFS=$'\t' read -r name _; do
				[ -n "$only" ] && ! [[ $name =~ $only ]] && continue
				names+=("$name")
			done <"$work/list"
			[ ${#names[@]} -gt 0 ] || fail "$tag: no mutation matches '$only'"
		fi
		# Images are made in batches (one rextfs-corrupt run each) to save time.
		for ((k = 0; k < ${#names[@]}; k += 20)); do
			rm -rf "$work/batch"
			mkdir -p "$work/batch"
			rextfs-corrupt apply-many "$b" "$work/batch" "${names[@]:k:20}" --seed "$seed" --random "$nrandom" ||
				{ fail "$tag: cannot build images ${names[*]:k:20}"; continue; }
			for name in "${names[@]:k:20}"; do
				IFS=$'\t' read -r expect fsck repair what <<<"${listed[$name]}"
				img=$work/batch/$name.img
				total=$((total + 1))
				t0=$SECONDS
				keep() {
					cp "$img" "$out/corrupt-$tag-$name.img" 2>/dev/null
					cp "$work/dmesg" "$out/corrupt-$tag-$name.dmesg" 2>/dev/null
				}
				if ! try "$img" "$b" --mutation "$name" --expect "$expect" --seed "$seed" --random "$nrandom"; then
					fail "$tag/$name ($what): $result $detail"
					keep
					[ "$result" = oops ] && break 3 # the kernel is no longer trustworthy
					continue
				fi
				if [ "$result" = unexplained ]; then
					fail "$tag/$name $expect ($what): the mount failed, but not as a refusal: $detail"
					keep
					continue
				fi
				if [ "$result" = broken ]; then
					fail "$tag/$name $expect ($what): the walk broke the rules:"
					grep '^BROKEN' "$work/walk" | head -n 20 | sed 's/^/    /'
					keep
					continue
				fi
				if ! fsck_after "$img" "$fsck" "$repair"; then
					fail "$tag/$name $expect ($what): $result; $fsck_detail"
					keep
					continue
				fi
				case $result in
				refused) refused=$((refused + 1)) ;;
				errors) errors=$((errors + 1)) ;;
				clean) clean=$((clean + 1)) ;;
				esac
				echo "ok $tag/$name $expect $((SECONDS - t0))s: $result, $fsck_detail;$detail"
			done
		done
	done
done
echo "corrupt-test: $total images: $refused refused, $errors with errors, $clean clean, $failed failures"
exit $status
