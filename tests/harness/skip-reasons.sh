#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Checks tests/vm/skip-allowed, which decides whether a VM test's skip is an
# "ok ... # SKIP" or a failure: a reason that tests/skip-reasons lists is
# allowed, an unlisted or empty one is not. (Before this check existed,
# run-all fed the reason to grep as its pattern file and nothing to search,
# so no reason ever matched.) One "ok"/"not ok" line per reason.
here=$(cd "$(dirname "$0")" && pwd)
allowed=$here/../vm/skip-allowed
while IFS='|' read -r want reason; do
	if "$allowed" "$reason"; then got=yes; else got=no; fi
	if [ "$got" = "$want" ]; then
		echo "ok skip-allowed '$reason': $got"
	else
		echo "not ok skip-allowed '$reason': $got, expected $want"
	fi
done <<'REASONS'
yes|fio is not installed on the host
yes|xfs_io is not installed on the host
no|fio is not installed on the host, and more
no|setfattr/getfattr not installed (Debian package attr)
no|the file system did not mount
no|
REASONS
