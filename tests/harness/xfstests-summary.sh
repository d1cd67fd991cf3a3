#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Checks tests/xfstests/summary.py itself on small check logs: a run whose
# failures and not-run tests are all listed (with the recorded reasons) is
# accepted; an unexpected failure, a test that newly does not run, a listed
# notrun test whose reason changed, a listed notrun line without a recorded
# reason, a test listed as fail that did not run and a run cut short are all
# refused; --any-notrun (reference file systems) accepts any not-run test.
# One "ok"/"not ok" line per check.
here=$(cd "$(dirname "$0")" && pwd)
summary=$here/../xfstests/summary.py
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
t=$'\t'
cat >"$tmp/expected" <<LIST
# a comment
generic/002${t}fail${t}a known bug
generic/003${t}notrun${t}needs xattrs${t}attrs not supported by this filesystem type: rextfs
generic/004${t}skip${t}needs a journal
LIST
# log NAME LINES...: a complete check log of the given result lines.
log() {
	local name=$1
	shift
	{
		echo "FSTYP         -- rextfs"
		printf '%s\n' "$@"
		echo "Ran: generic/001 generic/002 generic/003"
		echo "Failures: generic/002"
	} >"$tmp/$name"
}
check() { # check DESCRIPTION WANT_EXIT LOG [EXPECTED]
	python3 "$summary" ${ANY:+--any-notrun} --expect "$tmp/${4:-expected}" "$tmp/$3" >"$tmp/out" 2>&1
	local rc=$?
	if { [ "$2" = 0 ] && [ $rc = 0 ]; } || { [ "$2" != 0 ] && [ $rc != 0 ]; }; then
		echo "ok xfstests-summary $1"
	else
		echo "not ok xfstests-summary $1 (exit $rc)"
		sed 's/^/    /' "$tmp/out"
	fi
}
ok1="generic/001 3s ...  3s"
fail2="generic/002 - output mismatch (see results/generic/002.out.bad)"
nr3="generic/003       [not run] attrs not supported by this filesystem type: rextfs"
exp4="generic/004       [expunged]"

log good.log "$ok1" "$fail2" "$nr3" "$exp4"
check "listed results accepted" 0 good.log

log unexpected.log "generic/001 - output mismatch" "$fail2" "$nr3" "$exp4"
check "unexpected failure refused" 1 unexpected.log

log newnotrun.log "generic/001 [not run] this test requires a valid \$SCRATCH_DEV" "$fail2" "$nr3"
check "unlisted not-run test refused" 1 newnotrun.log

log changed.log "$ok1" "$fail2" "generic/003 [not run] this test requires a valid \$SCRATCH_DEV"
check "listed not-run test with another reason refused" 1 changed.log

log spaces.log "$ok1" "$fail2" "generic/003   [not run]   attrs not supported  by this filesystem type: rextfs"
check "reason compared with white space folded" 0 spaces.log

sed 's/\tattrs not supported.*$//' "$tmp/expected" >"$tmp/noreason"
check "notrun line without a recorded reason refused" 1 good.log noreason

log lostfail.log "$ok1" "generic/002 [not run] no such device" "$nr3"
check "test listed as fail that did not run refused" 1 lostfail.log

log cut.log "$ok1" "$fail2"
sed -i '/^Ran:/d; /^Failures:/d' "$tmp/cut.log"
check "run cut short refused" 1 cut.log

python3 "$summary" --record "$tmp/noreason" "$tmp/newnotrun.log" >"$tmp/recorded" 2>"$tmp/unlisted"
if cmp -s "$tmp/recorded" "$tmp/expected" && grep -q '^not listed: generic/001' "$tmp/unlisted"; then
	echo "ok xfstests-summary --record fills in the reasons seen"
else
	echo "not ok xfstests-summary --record fills in the reasons seen"
	diff "$tmp/expected" "$tmp/recorded" | sed 's/^/    /'
fi

log ref.log "$ok1" "generic/003 [not run] this test requires a valid \$SCRATCH_DEV"
sed -i 's/^Failures:.*//' "$tmp/ref.log"
: >"$tmp/none"
ANY=1 check "reference run: any not-run test accepted with --any-notrun" 0 ref.log none
python3 "$summary" --expect "$tmp/none" "$tmp/ref.log" >/dev/null 2>&1 &&
	echo "not ok xfstests-summary without --any-notrun an unlisted not-run test fails" ||
	echo "ok xfstests-summary without --any-notrun an unlisted not-run test fails"
