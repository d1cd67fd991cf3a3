# SPDX-License-Identifier: GPL-2.0
# Mount options and super block state changes: unknown options and bad values
# are refused with EINVAL and a message; errors= is shown in /proc/mounts only
# when not the default; remount ro stops writes (EROFS) and leaves an image
# fsck finds clean while still mounted; remount rw allows writes again; a
# freeze blocks writers until the thaw and leaves a clean image meanwhile;
# corruption found at run time is recorded in the super block and, with the
# default errors=remount-ro, makes the file system read-only (errors=continue
# keeps it writable).
# Expects rextfs errors: bad options are refused, a corrupted directory block is reported.
. "$REPO/tests/vm/lib.sh"

mnt=/tmp/t090
mkdir -p "$mnt"
state() { rextfs-dump "$1" sb | awk '$1 == "state" {print $2}'; }
opts() { awk -v m="$mnt" '$2 == m {print $4}' /proc/mounts; }
# expect_fail ERRNO_TEXT CMD...: the command fails and says why.
expect_fail() {
	local want=$1 out
	shift
	if out=$("$@" 2>&1); then fail "$* succeeded, expected '$want'"; fi
	[ -n "$want" ] || fail "expect_fail needs the message it expects"
	echo "$out" | grep -q "$want" || fail "$*: '$out', expected '$want'"
}

mkfs.rextfs -q -f /dev/vda || fail "mkfs.rextfs failed"

# Unknown options and bad values: EINVAL, a clear message, nothing mounted.
expect_errno EINVAL mount /dev/vda "$mnt" rextfs "bogus"
dmesg_has "Unknown parameter 'bogus'" || fail "no message for an unknown option"
expect_errno EINVAL mount /dev/vda "$mnt" rextfs "errors=panic"
dmesg_has "Bad value for 'errors'" || fail "no message for a bad errors= value"
expect_errno EINVAL mount /dev/vda "$mnt" rextfs "errors"
! grep -q " $mnt " /proc/mounts || fail "mounted despite a bad option"
[ "$(state /dev/vda)" = clean ] || fail "a refused mount changed the state: $(state /dev/vda)"

# errors=: the default (remount-ro) is not shown, continue is, remount changes it.
mount -t rextfs /dev/vda "$mnt" || fail "mount failed"
case ",$(opts)," in *,errors=*) fail "default errors= shown: $(opts)" ;; esac
umount "$mnt"
mount -t rextfs -o errors=continue /dev/vda "$mnt" || fail "mount -o errors=continue failed"
case ",$(opts)," in *,errors=continue,*) ;; *) fail "errors=continue not shown: $(opts)" ;; esac
mount -o remount,errors=remount-ro "$mnt" || fail "remount errors=remount-ro failed"
case ",$(opts)," in *,errors=*) fail "errors= still shown after remount: $(opts)" ;; esac
mount -o remount,errors=continue "$mnt" || fail "remount errors=continue failed"
case ",$(opts)," in *,errors=continue,*) ;; *) fail "errors=continue not shown: $(opts)" ;; esac
# A remount that does not mention errors= keeps it; a bad one changes nothing.
mount -o remount "$mnt" || fail "plain remount failed"
case ",$(opts)," in *,errors=continue,*) ;; *) fail "remount lost errors=continue: $(opts)" ;; esac
expect_errno EINVAL remount "$mnt" "bogus"
dmesg_has "Unknown parameter 'bogus'" || fail "no message for an unknown option at remount"
case ",$(opts)," in *,errors=continue,*) ;; *) fail "failed remount changed options: $(opts)" ;; esac

# Remount read-only: data written before is on disk, the image is clean and
# fsck agrees while it is still mounted; writes fail with EROFS.
head -c 1M /dev/urandom >/tmp/t090.data
cp /tmp/t090.data "$mnt/f" || fail "write failed"
mkdir "$mnt/d" && echo hello >"$mnt/d/g" || fail "mkdir/write failed"
mount -o remount,ro "$mnt" || fail "remount ro failed"
case ",$(opts)," in *,ro,*) ;; *) fail "not read-only after remount: $(opts)" ;; esac
[ "$(state /dev/vda)" = clean ] || fail "state after remount ro: $(state /dev/vda)"
fsck.rextfs -n /dev/vda >/tmp/t090.fsck 2>&1 || fail "fsck -n not clean while mounted ro: $(cat /tmp/t090.fsck)"
expect_fail "Read-only file system" sh -c "echo x >'$mnt/new'"
expect_fail "Read-only file system" sh -c "echo x >>'$mnt/f'"
expect_fail "Read-only file system" mkdir "$mnt/d2"
expect_fail "Read-only file system" rm "$mnt/d/g"
cmp /tmp/t090.data "$mnt/f" || fail "data differs after remount ro"

# Remount read-write: in use again, writes work.
mount -o remount,rw "$mnt" || fail "remount rw failed"
[ "$(state /dev/vda)" = dirty ] || fail "state after remount rw: $(state /dev/vda)"
echo again >"$mnt/new" || fail "write after remount rw failed"
[ "$(cat "$mnt/new")" = again ] || fail "read back after remount rw"

# Freeze: the image is clean while frozen, a writer blocks until the thaw.
fsfreeze -f "$mnt" || fail "fsfreeze -f failed"
[ "$(state /dev/vda)" = clean ] || fail "state while frozen: $(state /dev/vda)"
fsck.rextfs -n /dev/vda >/tmp/t090.fsck 2>&1 || fail "fsck -n not clean while frozen: $(cat /tmp/t090.fsck)"
(echo frozen-write >"$mnt/frozen") &
writer=$!
sleep 2
kill -0 "$writer" 2>/dev/null || fail "a write completed while the file system was frozen"
[ ! -s "$mnt/frozen" ] || fail "frozen file has data before the thaw"
fsfreeze -u "$mnt" || fail "fsfreeze -u failed"
wait "$writer" || fail "the blocked writer failed after the thaw"
[ "$(cat "$mnt/frozen")" = frozen-write ] || fail "data written across the freeze: $(cat "$mnt/frozen")"
[ "$(state /dev/vda)" = dirty ] || fail "state after thaw: $(state /dev/vda)"
cmp /tmp/t090.data "$mnt/f" || fail "data differs after the freeze"
umount "$mnt" || fail "umount failed"
[ "$(state /dev/vda)" = clean ] || fail "state after umount: $(state /dev/vda)"
fsck.rextfs -n /dev/vda || fail "fsck.rextfs -n is not clean at the end"
mount -t rextfs -o ro /dev/vda "$mnt" && cmp /tmp/t090.data "$mnt/f" || fail "data after remount"
umount "$mnt"

# Corruption found while mounted. The file system keeps the metadata it has
# read in its own buffer cache, so the directory block is overwritten while it
# is unmounted; the mount does not read directory blocks, the first lookup in
# the directory does.
corrupt_dir() { # corrupt_dir DEV MOUNT_OPTIONS: garbage over the block of directory $mnt/d
	local ino blk
	ino=$(stat -c %i "$mnt/d")
	umount "$mnt" || fail "umount before the corruption"
	blk=$(rextfs-dump "$1" inode "$ino" | awk '/->/ {print $3; exit}')
	[ -n "$blk" ] || fail "no block for directory inode $ino"
	head -c 4096 /dev/urandom | dd of="$1" bs=4096 seek="$blk" conv=notrunc,fsync status=none
	# shellcheck disable=SC2086
	mount -t rextfs $2 "$1" "$mnt" || fail "mount after the corruption"
}
for mode in default continue; do
	mkfs.rextfs -q -f /dev/vdb || fail "mkfs.rextfs failed"
	o=; [ $mode = continue ] && o="-o errors=continue"
	# shellcheck disable=SC2086
	mount -t rextfs $o /dev/vdb "$mnt" || fail "mount ($mode) failed"
	mkdir "$mnt/d" && touch "$mnt/d/a" "$mnt/keep" || fail "setup ($mode) failed"
	corrupt_dir /dev/vdb "$o"
	expect_fail "Structure needs cleaning" ls "$mnt/d"
	dmesg_has "rextfs: vdb: corrupted directory block" || fail "no corruption message"
	[ "$(state /dev/vdb)" = "dirty,errors" ] || fail "errors not recorded ($mode): $(state /dev/vdb)"
	if [ $mode = default ]; then
		# rextfs refuses writes at once; the VFS's SB_RDONLY (what /proc/mounts
		# shows) is set by a work item under s_umount, moments later.
		expect_fail "Read-only file system" touch "$mnt/new"
		for _ in $(seq 50); do
			case ",$(opts)," in *,ro,*) break ;; esac
			sleep 0.2
		done
		case ",$(opts)," in *,ro,*) ;; *) fail "not read-only after corruption: $(opts)" ;; esac
		dmesg_has "rextfs: vdb: errors=remount-ro: file system is now read-only" ||
			fail "no message for the switch to read-only"
		expect_fail "Read-only file system" touch "$mnt/new"
		# Made read-only after an error: read-write only after a new mount
		# (which the recorded error refuses until fsck has run, below).
		expect_errno EROFS remount "$mnt"
		case ",$(opts)," in *,ro,*) ;; *) fail "remount rw after an error made it writable: $(opts)" ;; esac
	else
		case ",$(opts)," in *,rw,*) ;; *) fail "errors=continue went read-only: $(opts)" ;; esac
		touch "$mnt/new" || fail "errors=continue: write after the error failed"
	fi
	[ -e "$mnt/keep" ] || fail "lookup of an intact entry failed ($mode)"
	umount "$mnt" || fail "umount ($mode) failed"
	[ "$(state /dev/vdb)" = "dirty,errors" ] || fail "state after umount ($mode): $(state /dev/vdb)"
	expect_errno EUCLEAN mount /dev/vdb "$mnt" rextfs
	if fsck.rextfs -n /dev/vdb >/dev/null 2>&1; then fail "fsck -n finds the corrupted image clean"; fi
done
exit 0
