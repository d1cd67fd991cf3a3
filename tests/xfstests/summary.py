# SPDX-License-Identifier: GPL-2.0
"""Summarises one or more xfstests runs (their check.log files, e.g. the
shards of one group) against tests/xfstests/expected-failures. Exit status 1
when a test failed that is not expected to, or when a run was cut short.

    summary.py [--expect EXPECTED_FAILURES] CHECK_LOG...

Results come from check's per-test lines (``generic/002  28s``,
``generic/020  [not run] reason``, ``generic/001  - output mismatch``,
``generic/034  [expunged]``...),
so a run killed part way still counts what it finished; the test it was
running when it stopped is reported as interrupted.
"""
import re
import sys

args = sys.argv[1:]
expect_file = None
if len(args) >= 2 and args[0] == "--expect":
    expect_file, args = args[1], args[2:]
if not args:
    sys.exit(__doc__)

expected = {}
if expect_file:
    for line in open(expect_file):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = re.split(r"\s+", line, maxsplit=2)
        expected[parts[0]] = (
            parts[1] if len(parts) > 1 else "fail",
            parts[2] if len(parts) > 2 else "",
        )

TEST = re.compile(r"^([a-z0-9]+/\d{3,})(?:\s+(.*))?$")
PASS = re.compile(r"^(\d+s)?(\s*\.\.\.\s*)?\s*\d+s$")
result = {}  # test -> "pass" | "fail" | "notrun" | "expunged" | "interrupted"
order = []
cut_short = []
for path in args:
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
        if not rest:
            result[test] = "interrupted"
        elif rest.startswith("[not run]"):
            result[test] = "notrun"
        elif rest.startswith("[expunged]"):
            result[test] = "expunged"
        elif PASS.match(rest):
            result[test] = "pass"
        else:
            result[test] = "fail"
        last = test
    if not complete:
        cut_short.append(path)

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
new_notrun = [t for t in notrun if t not in expected]
if new_notrun:
    print("  not run and not listed in expected-failures: " + " ".join(new_notrun))
fixed = [t for t in passed if t in expected]
if fixed:
    print("  listed in expected-failures but passed (trim the list): " + " ".join(fixed))
for p in cut_short:
    print(f"  run did not finish (no final summary in {p})")
if not order:
    print("  no test ran: see the check log")
    sys.exit(1)
sys.exit(1 if unexpected or unlisted_expunged or cut_short else 0)
