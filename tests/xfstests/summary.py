# SPDX-License-Identifier: GPL-2.0
"""Summarises one or more xfstests runs (their check.log files, e.g. the
shards of one group) against tests/xfstests/expected-failures. Exit status 1
when a test failed that is not expected to, when a test did not run that is
not listed as notrun, when a listed notrun test did not run for another
reason than the one recorded (its ``[not run]`` message, the fourth column of
the list), when a test listed as fail or skip did not run at all, or when a
run was cut short.

    summary.py [--expect EXPECTED_FAILURES] [--tests TEST_LIST] CHECK_LOG...
    summary.py --record EXPECTED_FAILURES CHECK_LOG...

--any-notrun accepts every test that did not run (for the reference file
systems, which have no list of their own).

--record prints EXPECTED_FAILURES again with the fourth column of every notrun
line set to the message the logs show for it, and lists on standard error the
tests that did not run and have no line: for a maintainer who has checked that
the new reasons are the right ones.

With --tests (a file of test names, e.g. from ``scripts/xfstests --list``),
every test of the list must have a result in one of the logs: the summary
names the ones that have none and exits 1 if there are any.

Results come from check's per-test lines (``generic/002  28s``,
``generic/020  [not run] reason``, ``generic/001  - output mismatch``,
``generic/034  [expunged]``...),
so a run killed part way still counts what it finished; the test it was
running when it stopped is reported as interrupted. A later log wins for a
test that ran twice, and a run cut short is made up for when a later log ran
the test it stopped in again.
"""
import re
import sys

args = sys.argv[1:]
expect_file = None
tests_file = None
record = False
any_notrun = False
while args and args[0] == "--any-notrun" or len(args) >= 2 and args[0] in ("--expect", "--tests", "--record"):
    if args[0] == "--any-notrun":
        any_notrun = True
        args = args[1:]
        continue
    if args[0] in ("--expect", "--record"):
        expect_file = args[1]
        record = record or args[0] == "--record"
    else:
        tests_file = args[1]
    args = args[2:]
if not args:
    sys.exit(__doc__)


def norm(text):
    """A [not run] message with its white space folded."""
    return " ".join(text.split())


# test -> (kind, reason, message or None); lines are TEST<tab>KIND<tab>REASON
# and, for notrun, <tab>MESSAGE: what check printed after "[not run]".
expected = {}
expect_lines = []
if expect_file:
    for n, raw in enumerate(open(expect_file), 1):
        expect_lines.append(raw.rstrip("\n"))
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = raw.rstrip("\n").split("\t")
        if len(parts) < 3 or parts[1] not in ("fail", "notrun", "skip") or len(parts) > 4:
            sys.exit(f"{expect_file}:{n}: want TEST<tab>fail|notrun|skip<tab>REASON[<tab>MESSAGE]")
        expected[parts[0]] = (parts[1], parts[2], norm(parts[3]) if len(parts) > 3 else None)

TEST = re.compile(r"^([a-z0-9]+/\d{3,})(?:\s+(.*))?$")
PASS = re.compile(r"^(\d+s)?(\s*\.\.\.\s*)?\s*\d+s$")
result = {}  # test -> "pass" | "fail" | "notrun" | "expunged" | "interrupted"
notrun_msg = {}  # test -> its [not run] message
source = {}  # test -> index of the log its result comes from
order = []
cut_short = []
for index, path in enumerate(args):
    last = None
    complete = False
    for line in open(path, errors="replace"):
        line = line.rstrip("\n")
        if line.startswith("Ran:") or line.startswith("Passed all"):
            complete = True
        m = TEST.match(line)
        if not m:
            # Continuation lines (diff excerpts, notes) belong to the last test.
            if last and ("_check_" in line or "dmesg" in line) and result.get(last) == "pass":
                result[last] = "fail"
            continue
        test, rest = m.group(1), (m.group(2) or "").strip()
        if test not in result:
            order.append(test)
        source[test] = index
        if not rest:
            result[test] = "interrupted"
        elif rest.startswith("[not run]"):
            result[test] = "notrun"
            notrun_msg[test] = norm(rest[len("[not run]"):])
        elif rest.startswith("[expunged]"):
            result[test] = "expunged"
        elif PASS.match(rest):
            result[test] = "pass"
        else:
            result[test] = "fail"
        last = test
    if not complete:
        cut_short.append((index, path, last))

if record:
    # Rewrite the list with the messages seen; everything else as it was.
    for line in expect_lines:
        parts = line.split("\t")
        if len(parts) >= 3 and not line.startswith("#") and parts[1] == "notrun" and parts[0] in notrun_msg:
            line = "\t".join(parts[:3] + [notrun_msg[parts[0]]])
        print(line)
    for t in sorted(notrun_msg):
        if t not in expected:
            print(f"not listed: {t}\tnotrun\t?\t{notrun_msg[t]}", file=sys.stderr)
    sys.exit(0)

kinds = ("pass", "fail", "notrun", "expunged", "interrupted")
by = {k: [t for t in order if result.get(t) == k] for k in kinds}
passed, failed, notrun, interrupted = by["pass"], by["fail"], by["notrun"], by["interrupted"]
expunged = by["expunged"]
# A skipped test that is run anyway (XFSTESTS_RUN_SKIPPED=1) may fail.
unexpected = [t for t in failed + interrupted if expected.get(t, ("", ""))[0] not in ("fail", "skip")]
# Only tests the list skips, with a reason, may be expunged.
unlisted_expunged = [t for t in expunged if expected.get(t, ("", ""))[0] != "skip"]
print(
    f"xfstests: {len(passed)} passed, {len(failed)} failed, {len(notrun)} not run"
    + (f", {len(expunged)} skipped (expunged)" if expunged else "")
    + (f", {len(interrupted)} interrupted" if interrupted else "")
    + (f" ({len(args)} logs)" if len(args) > 1 else "")
)
if failed:
    print("  failed: " + " ".join(failed))
for t in interrupted:
    print(f"  INTERRUPTED (run cut short in this test): {t}")
for t in failed:
    if t in unexpected:
        print(f"  UNEXPECTED failure: {t}")
    else:
        print(f"  expected failure: {t} ({expected[t][1]})")
if expunged:
    reasons = {}
    for t in expunged:
        reasons.setdefault(expected.get(t, ("", "not in the list"))[1], []).append(t)
    for why, ts in reasons.items():
        print(f"  skipped ({why}): {len(ts)}")
for t in unlisted_expunged:
    print(f"  EXPUNGED but not listed as skip in expected-failures: {t}")
# A test that newly does not run is a regression as much as a new failure:
# a broken feature trips a _require_* and the test's failure disappears.
new_notrun = [t for t in notrun if t not in expected and not any_notrun]
for t in new_notrun:
    print(f"  UNEXPECTED not run (not listed in expected-failures): {t}: {notrun_msg[t]}")
# Listed tests that did not run although the list expects a result.
lost = [t for t in notrun if t in expected and expected[t][0] in ("fail", "skip")]
for t in lost:
    print(f"  UNEXPECTED not run (listed as {expected[t][0]}): {t}: {notrun_msg[t]}")
# A listed notrun test must not run for the reason recorded, not another one.
unrecorded = [t for t in notrun if t in expected and expected[t][0] == "notrun" and expected[t][2] is None]
for t in unrecorded:
    print(f"  listed as notrun without the message to compare (summary.py --record): {t}: {notrun_msg[t]}")
changed = [t for t in notrun if t in expected and expected[t][0] == "notrun"
           and expected[t][2] is not None and expected[t][2] != notrun_msg[t]]
for t in changed:
    print(f"  CHANGED reason for not running: {t}: '{notrun_msg[t]}', the list says '{expected[t][2]}'")
fixed = [t for t in passed if t in expected]
if fixed:
    print("  listed in expected-failures but passed (trim the list): " + " ".join(fixed))
missing = []
if tests_file:
    wanted = [t.strip() for t in open(tests_file) if t.strip() and not t.startswith("#")]
    missing = [t for t in wanted if t not in result]
    if missing:
        print(f"  NO RESULT for {len(missing)} of the {len(wanted)} tests listed: " + " ".join(missing))
    else:
        print(f"  every one of the {len(wanted)} tests listed has a result")
# A run cut short is made up for when a later log ran the test it stopped in
# (the shards and their fix-up runs); otherwise the tests after it never ran.
unfinished = []
for index, p, last in cut_short:
    if last is not None and source.get(last, index) > index and result[last] != "interrupted":
        print(f"  run cut short in {last}, which a later log ran again: {p}")
    elif tests_file and not missing and not interrupted:
        # Whatever it did not reach, another log ran: every listed test has a result.
        print(f"  run cut short, the tests it did not reach ran in other logs: {p}")
    else:
        unfinished.append(p)
        print(f"  run did not finish (no final summary in {p})")
if not order:
    print("  no test ran: see the check log")
    sys.exit(1)
bad = unexpected or unlisted_expunged or unfinished or missing or new_notrun or lost or unrecorded or changed
sys.exit(1 if bad else 0)
