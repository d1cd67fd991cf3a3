#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Checks tests/kunit/ktap.py and tests/kunit/check-kunit themselves on small
# KTAP logs: a passing run is accepted; a failing case, a missing expected
# suite, a suite that crashed before its result line, a suite that ran fewer
# cases than listed, a malformed suites file and a log without KTAP are all
# refused; a skipped case is counted as skipped, not passed, and only for a
# listed reason; a suite run twice is checked run by run; a checker that
# crashes or prints no verdict fails check-kunit.
# Prints one "ok"/"not ok" line per check.
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'suite_a 2\nsuite_b 1\n' >"$tmp/expected"
printf '# allowed\n^no such device$\n' >"$tmp/reasons"
export SKIP_REASONS=$tmp/reasons

ktap() { # ktap NAME: write a log with suite_a (cases given by $cases) and suite_b
	cat >"$tmp/$1" <<LOG
[    1.000000] KTAP version 1
[    1.000001] 1..2
[    1.000002]     KTAP version 1
[    1.000003]     # Subtest: suite_a
[    1.000004]     1..2
[    1.000005]     ok 1 first_case
[    1.000006]     $case2 2 second_case
[    1.000007] # suite_a: pass:1 fail:1 skip:0 total:2
[    1.000008] $suite_a 1 suite_a
[    1.000009]     KTAP version 1
[    1.000010]     # Subtest: suite_b
[    1.000011]     1..1
[    1.000012]     ok 1 only_case
[    1.000013] ok 2 suite_b
LOG
}
check() { # check DESCRIPTION WANT_EXIT LOG [EXPECTED]
	"$here/check-kunit" "$tmp/$3" "$tmp/${4:-expected}" >"$tmp/out" 2>&1
	local rc=$?
	if { [ "$2" = 0 ] && [ $rc = 0 ]; } || { [ "$2" != 0 ] && [ $rc != 0 ]; }; then
		echo "ok ktap-selftest $1"
	else
		echo "not ok ktap-selftest $1 (exit $rc)"
		sed 's/^/    /' "$tmp/out"
	fi
}

case2=ok suite_a=ok ktap pass.log
check "passing run accepted" 0 pass.log
grep -q '^kunit: 3 passed, 0 failed, 0 skipped$' "$tmp/out" && echo "ok ktap-selftest counts cases" ||
	echo "not ok ktap-selftest counts cases"

case2="not ok" suite_a="not ok" ktap fail.log
check "failing case refused" 1 fail.log

case2=ok suite_a=ok ktap missing.log
sed -i '/suite_b/d; /only_case/d' "$tmp/missing.log"
check "missing suite refused" 1 missing.log

case2=ok suite_a=ok ktap crash.log
sed -i '/second_case/,/ok 1 suite_a/d' "$tmp/crash.log"
check "suite cut short refused" 1 crash.log

echo "[    0.000000] Linux version 7.3.4" >"$tmp/none.log"
check "log without KTAP refused" 1 none.log

case2="ok" suite_a=ok ktap skip.log
sed -i 's/ok 2 second_case/ok 2 second_case # SKIP no such device/' "$tmp/skip.log"
check "skipped case accepted" 0 skip.log
if grep -q '^ok kunit suite_a.second_case # SKIP no such device$' "$tmp/out" &&
	grep -q '^kunit: 2 passed, 0 failed, 1 skipped$' "$tmp/out"; then
	echo "ok ktap-selftest skipped case counted apart"
else
	echo "not ok ktap-selftest skipped case counted apart"
	sed 's/^/    /' "$tmp/out"
fi

case2=ok suite_a=ok ktap lost.log
printf 'suite_a 3\nsuite_b 1\n' >"$tmp/expected3"
check "suite with fewer cases than listed refused" 1 lost.log expected3

printf 'suite_a\nsuite_b 1\n' >"$tmp/malformed"
check "suites file without a case count refused" 1 pass.log malformed

# check-kunit must fail when the checker itself breaks.
printf '#!/bin/sh\necho Traceback >&2\nexit 1\n' >"$tmp/crash.py"
printf '#!/bin/sh\nexit 0\n' >"$tmp/silent.py"
chmod +x "$tmp/crash.py" "$tmp/silent.py"
for c in crash silent; do
	KTAP_PY="$tmp/$c.py" "$here/check-kunit" "$tmp/pass.log" "$tmp/expected" >"$tmp/out" 2>&1
	rc=$?
	if [ $rc != 0 ] && grep -q '^not ok kunit: the KTAP checker' "$tmp/out"; then
		echo "ok ktap-selftest a $c checker fails the run"
	else
		echo "not ok ktap-selftest a $c checker fails the run (exit $rc)"
	fi
done

case2=ok suite_a=ok ktap badskip.log
sed -i 's/ok 2 second_case/ok 2 second_case # SKIP rextfs did not mount/' "$tmp/badskip.log"
check "skip for an unlisted reason refused" 1 badskip.log

# A module loaded twice runs its suites twice: a failure in the first run must
# not be hidden by a passing second run.
case2="not ok" suite_a="not ok" ktap twice.log
case2=ok suite_a=ok ktap twice2.log
cat "$tmp/twice2.log" >>"$tmp/twice.log"
check "failure in an earlier run of a suite refused" 1 twice.log

case2=ok suite_a=ok ktap more.log
printf 'suite_a 1\nsuite_b 1\n' >"$tmp/expected1"
check "suite with more cases than listed refused" 1 more.log expected1

printf '# nothing\n' >"$tmp/empty"
check "suites file that names no suite refused" 1 pass.log empty

case2=ok suite_a=ok ktap upstream.log
sed -i 's/suite_b/suite_up/; s/ok 1 only_case/not ok 1 only_case/; s/^\(\[[ 0-9.]*\] \)ok 2 suite_up/\1not ok 2 suite_up/' "$tmp/upstream.log"
printf 'suite_a 2\n' >"$tmp/expected_a"
check "failing upstream suite refused" 1 upstream.log expected_a
