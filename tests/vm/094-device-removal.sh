# SPDX-License-Identifier: GPL-2.0
# A disk removed under a mounted rextfs (the shutdown super operation; the
# case of xfstests generic/730): the file system shuts down, reads of data
# still in the page cache fail with EIO as on ext4 and XFS, changes fail with
# EIO, and it unmounts. The disk is a scsi_debug device: when it comes back
# (a new host on the same store), the file system mounts without fsck,
# replays its journal, keeps what was fsynced, and fsck finds it clean. Then
# the same with a disk that fails every I/O before it goes (a surprise
# removal: the VFS's last sync fails too).
# Expects rextfs errors: the writes of the last sync (and of a commit that runs then) fail with the disk gone, and are logged.
. "$REPO/tests/vm/lib.sh"

build=${REXTFS_KO%/fs/rextfs/rextfs.ko}
ko=$build/drivers/scsi/scsi_debug.ko
[ -f "$ko" ] || fail "no scsi_debug module beside rextfs.ko ($ko)"
# insmod with the modules it depends on (crc-t10dif), from the same build.
load_module() {
	local path=$1 dep file
	shift
	for dep in $(modinfo -F depends "$path" | tr , ' '); do
		grep -q "^${dep//-/_} " /proc/modules && continue
		file=$(find "$build" -path "$build/.virtme_mods" -prune -o -name "$dep.ko" -print | head -n 1)
		[ -n "$file" ] || fail "no module $dep.ko in $build"
		load_module "$file"
	done
	insmod "$path" "$@"
}
mnt=/tmp/t094
mkdir -p "$mnt"

# Removes the scsi_debug disks and unloads it (a held reference to a removed
# disk, e.g. a file system that kept its block device, makes this fail).
unload() {
	local d i
	for d in /sys/block/sd*; do
		if grep -q scsi_debug "$d/device/model" 2>/dev/null; then
			echo 1 >"$d/device/delete" || return 1
		fi
	done
	for i in $(seq 50); do
		rmmod scsi_debug 2>/dev/null && return 0
		sleep 0.2
	done
	return 1
}
cleanup() {
	umount "$mnt" 2>/dev/null || true
	unload || true
}
trap cleanup EXIT

# The scsi_debug disk: the only sd device in the VM (the others are virtio),
# once its device node exists too (it comes after the sysfs entry).
sd_disk() {
	local d i
	for i in $(seq 100); do
		for d in /sys/block/sd*; do
			[ -e "$d" ] && grep -q scsi_debug "$d/device/model" 2>/dev/null &&
				[ -b "/dev/${d##*/}" ] && { echo "${d##*/}"; return 0; }
		done
		sleep 0.1
	done
	return 1
}

# One removal: $1 is "orderly" (the disk works until it is deleted) or
# "surprise" (it is offline first, so the VFS's last sync fails).
removal() {
	local how=$1 sd
	sd=$(sd_disk) || fail "$how: no scsi_debug disk"
	mkfs.rextfs -q -f "/dev/$sd" || fail "$how: mkfs.rextfs /dev/$sd"
	# No periodic commit during the removal: its failure is not what is tested.
	mount -t rextfs -o commit=3600 "/dev/$sd" "$mnt" || fail "$how: mount /dev/$sd"
	head -c 300000 /dev/urandom >/tmp/t094.data
	cp /tmp/t094.data "$mnt/synced" && sync "$mnt/synced" || fail "$how: write synced"
	xfs_io -f -c "pwrite -q 0 1M" "$mnt/testfile" || fail "$how: write testfile"
	exec 3<"$mnt/testfile"

	[ "$how" = surprise ] && { echo offline >"/sys/block/$sd/device/state" || fail "offline $sd"; }
	echo 1 >"/sys/block/$sd/device/delete" || fail "$how: delete $sd"
	dmesg_has "rextfs: $sd: file system shut down" || fail "$how: no shutdown message after the disk was removed"
	cat <&3 >/dev/null 2>/tmp/t094.err && fail "$how: read of a cached file succeeded after the disk was removed"
	grep -q "Input/output error" /tmp/t094.err || fail "$how: read after removal: $(cat /tmp/t094.err)"
	exec 3<&-
	touch "$mnt/new" 2>/tmp/t094.err && fail "$how: create succeeded after the disk was removed"
	grep -q "Input/output error" /tmp/t094.err || fail "$how: create after removal: $(cat /tmp/t094.err)"
	umount "$mnt" || fail "$how: umount after the disk was removed"

	# The same store comes back as a new disk: mount replays, fsynced data is there.
	echo 1 >/sys/bus/pseudo/drivers/scsi_debug/add_host || fail "$how: add_host"
	sd=$(sd_disk) || fail "$how: the scsi_debug disk did not come back"
	mount -t rextfs "/dev/$sd" "$mnt" || fail "$how: mount after the disk came back"
	cmp /tmp/t094.data "$mnt/synced" || fail "$how: fsynced file after the disk came back"
	umount "$mnt" || fail "$how: umount"
	fsck.rextfs -n "/dev/$sd" || fail "$how: fsck -n after recovery"
}

# per_host_store=0: a host added later gets the same store (the disk "comes back").
load_module "$ko" dev_size_mb=64 per_host_store=0 || fail "insmod scsi_debug"
removal orderly
removal surprise
trap - EXIT
unload || fail "scsi_debug cannot be unloaded after the disks were removed"
echo "094-device-removal: ok"
