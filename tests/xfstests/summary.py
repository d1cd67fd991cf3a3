# SPDX-License-Identifier: GPL-2.0
"""Summarises an xfstests run (check.log and the results directory) against
tests/xfstests/expected-failures. Exit status 1 when a test failed that is
not expected to.

    summary.py CHECK_LOG EXPECTED_FAILURES
"""
import re
import sys

log = open(sys.argv[1], errors="replace").read()
expected = {}
for line in open(sys.argv[2]):
    line = line.strip()
    if not line or line.startswith("#"):
        continue
    parts = re.split(r"\s+", line, maxsplit=2)
    expected[parts[0]] = (parts[1] if len(parts) > 1 else "fail", parts[2] if len(parts) > 2 else "")


def listed(word):
    """Tests on the 'Word: a b c' lines of check's summary (may wrap)."""
    out = []
    for m in re.finditer(rf"^{word}:((?:.*\n)(?:\s+\S.*\n)*)", log, re.M):
        out += m.group(1).split()
    seen = []
    for t in out:
        if "/" in t and t not in seen:
            seen.append(t)
    return seen


ran = listed("Ran")
notrun = listed("Not run")
failed = listed("Failures")
passed = [t for t in ran if t not in failed and t not in notrun]
unexpected = [t for t in failed if expected.get(t, ("", ""))[0] != "fail"]
fixed = [t for t in passed if t in expected]
print(f"xfstests: {len(passed)} passed, {len(failed)} failed, {len(notrun)} not run")
if failed:
    print("  failed: " + " ".join(failed))
for t in unexpected:
    print(f"  UNEXPECTED failure: {t}")
for t in failed:
    if t not in unexpected:
        print(f"  expected failure: {t} ({expected[t][1]})")
new_notrun = [t for t in notrun if t not in expected]
if new_notrun:
    print("  not run and not listed in expected-failures: " + " ".join(new_notrun))
if fixed:
    print("  listed in expected-failures but passed (trim the list): " + " ".join(fixed))
if not ran and not notrun:
    print("  no test ran: see the check log")
    sys.exit(1)
sys.exit(1 if unexpected else 0)
