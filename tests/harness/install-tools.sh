#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Checks `make install-tools` into a staging directory (DESTDIR, PREFIX):
# the three tools under their installed names, runnable, and their manual
# pages, which groff formats without a warning and man(1) renders. One
# "ok"/"not ok" line per check.
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
check() { # NAME CMD...
	local name=$1
	shift
	if "$@" >"$tmp/out" 2>&1; then
		echo "ok install-tools $name"
	else
		echo "not ok install-tools $name"
		sed 's/^/#   /' "$tmp/out"
		fails=$((fails + 1))
	fi
}
check "make install-tools" make -s -C "$repo" install-tools DESTDIR="$tmp/stage" PREFIX=/opt/rx
for t in mkfs.rextfs fsck.rextfs rextfs-dump; do
	check "$t installed" test -x "$tmp/stage/opt/rx/sbin/$t"
	check "$t.8 installed" test -f "$tmp/stage/opt/rx/share/man/man8/$t.8"
done
check "mkfs.rextfs -V runs" "$tmp/stage/opt/rx/sbin/mkfs.rextfs" -V
check "fsck.rextfs -V runs" "$tmp/stage/opt/rx/sbin/fsck.rextfs" -V
check "nothing outside PREFIX" test "$(cd "$tmp/stage" && find . -mindepth 1 -maxdepth 2)" = "$(printf './opt\n./opt/rx')"
if command -v groff >/dev/null; then
	for p in "$tmp"/stage/opt/rx/share/man/man8/*.8; do
		n=$(basename "$p")
		check "$n formats without warnings" sh -c '[ -z "$(groff -man -ww -z "$1" 2>&1)" ]' _ "$p"
		command -v man >/dev/null &&
			check "$n renders its NAME" sh -c 'MANWIDTH=80 man -l "$1" 2>/dev/null | grep -q "^NAME"' _ "$p"
	done
else
	echo "# groff not installed: the manual pages were not formatted"
fi
[ $fails = 0 ]
