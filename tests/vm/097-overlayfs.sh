# SPDX-License-Identifier: GPL-2.0
# rextfs as the upper and work layer of overlayfs (lower layer: a directory of
# the same rextfs): copy-up of changed files and of a file whose attributes
# change, whiteouts for removed lower files, an opaque directory where a
# merged directory was removed and made again, a new directory tree, a
# rename within the merged view; the merged view is checked after each of an
# overlay remount, an unmount of rextfs (fsck -n clean) and drop_caches, and
# the upper layer holds what overlayfs records there (whiteout devices 0/0,
# trusted.overlay.opaque "y").
. "$REPO/tests/vm/lib.sh"

grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null
grep -qw overlay /proc/filesystems || skip "overlayfs not in the test kernel"
top=/tmp/t097
dev=/dev/vda
mkdir -p "$top/fs" "$top/merged"
L=$top/fs/lower U=$top/fs/upper W=$top/fs/work M=$top/merged

mount_ovl() { mount -t overlay overlay -o "lowerdir=$L,upperdir=$U,workdir=$W" "$M"; }

mkfs.rextfs -q -f "$dev" || fail "mkfs.rextfs"
mount -t rextfs "$dev" "$top/fs" || fail "mount rextfs"
mkdir -p "$L/keep" "$L/merged/sub" "$L/gone" "$U" "$W"
for i in 1 2 3; do head -c $((i * 5000)) /dev/urandom >"$L/keep/f$i"; done
echo "lower data" >"$L/modify"
echo "only the mode changes" >"$L/chmod"
echo "removed" >"$L/remove"
echo "in a merged directory" >"$L/merged/old"
echo "deeper" >"$L/merged/sub/deep"
echo "goes with its directory" >"$L/gone/x"
echo "renamed" >"$L/rename-me"
sync
mount_ovl || fail "overlayfs with rextfs as upper and work layer does not mount"

# Changes through the merged view.
echo "appended" >>"$M/modify" || fail "copy-up of a changed file"
chmod 600 "$M/chmod" || fail "copy-up of a mode change"
rm "$M/remove" || fail "removing a lower file (whiteout)"
rm -r "$M/gone" || fail "removing a lower directory"
# The merged directory that exists below: emptied, removed, made again.
rm -r "$M/merged/sub" "$M/merged/old" || fail "emptying a merged directory"
rmdir "$M/merged" || fail "rmdir of a merged directory that exists in the lower layer"
mkdir "$M/merged" || fail "mkdir over a removed merged directory"
echo "new in the opaque directory" >"$M/merged/new" || fail "file in the opaque directory"
mkdir -p "$M/fresh/a/b" && echo "brand new" >"$M/fresh/a/b/c" || fail "a new directory tree"
mv "$M/rename-me" "$M/renamed" || fail "rename of a lower file"
setfattr -n user.ovl -v "kept" "$M/keep/f2" || fail "setfattr through overlayfs (copy-up)"

# What the merged view must show: path -> (type, contents or xattr, mode).
view() { python3 - "$M" <<'PY'
import hashlib, os, stat, sys
top = sys.argv[1]
out = []
for d, dirs, files in os.walk(top):
    dirs.sort()
    for n in sorted(dirs + files):
        p = os.path.join(d, n)
        st = os.lstat(p)
        rel = os.path.relpath(p, top)
        if stat.S_ISDIR(st.st_mode):
            out.append(f"d {rel}")
        else:
            h = hashlib.sha256(open(p, "rb").read()).hexdigest()[:16]
            x = ""
            try:
                x = os.getxattr(p, "user.ovl").decode()
            except OSError:
                pass
            out.append(f"f {rel} {h} {stat.S_IMODE(st.st_mode):o} {x}")
print("\n".join(out))
PY
}
view >"$top.want" || fail "reading the merged view"
grep -q "^f modify " "$top.want" && ! grep -q "remove\|gone\|merged/old\|merged/sub\|rename-me" "$top.want" ||
	fail "merged view after the changes: $(cat "$top.want")"
grep -q "^f chmod .* 600 " "$top.want" || fail "mode change not seen: $(grep chmod "$top.want")"
grep -q "^f keep/f2 .* kept$" "$top.want" || fail "user. attribute not seen: $(grep f2 "$top.want")"
[ "$(cat "$M/modify")" = "$(printf 'lower data\nappended')" ] || fail "copied-up file: $(cat "$M/modify")"
[ "$(cat "$M/merged/new")" = "new in the opaque directory" ] || fail "file in the opaque directory"

# What overlayfs left in the upper layer on rextfs.
for w in remove gone rename-me; do
	[ -c "$U/$w" ] && [ "$(stat -c '%t:%T' "$U/$w")" = "0:0" ] || fail "no whiteout for $w in the upper layer"
done
[ "$(getfattr --only-values -n trusted.overlay.opaque "$U/merged" 2>/dev/null)" = "y" ] ||
	fail "the re-made directory is not opaque: $(getfattr -d -m - "$U/merged" 2>&1)"
[ "$(cat "$L/modify")" = "lower data" ] && [ -e "$L/remove" ] && [ -e "$L/merged/old" ] ||
	fail "the lower layer was changed"

check_view() {
	view >"$top.got" || fail "reading the merged view ($1)"
	cmp -s "$top.want" "$top.got" || fail "merged view differs $1: $(diff "$top.want" "$top.got" | head -n 10)"
}
umount "$M" || fail "umount overlayfs"
mount_ovl || fail "overlayfs remount"
check_view "after an overlayfs remount"
umount "$M"
umount "$top/fs" || fail "umount rextfs"
fsck.rextfs -n "$dev" || fail "fsck -n after overlayfs use"
mount -t rextfs "$dev" "$top/fs" || fail "mount rextfs again"
mount_ovl || fail "overlayfs on the remounted rextfs"
check_view "after remounting rextfs"
echo 3 >/proc/sys/vm/drop_caches
check_view "after drop_caches"
umount "$M"
umount "$top/fs"
fsck.rextfs -n "$dev" || fail "fsck -n at the end"
