#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Reads KUnit's KTAP output from a kernel log and checks it.

Usage: ktap.py DMESG EXPECTED_SUITES_FILE

EXPECTED_SUITES_FILE names one suite a line with the exact number of its
cases ("rextfs_format 3"; "#" starts a comment).

Prints one line per test case of the expected suites ("ok kunit suite.case",
"ok kunit suite.case # SKIP reason" or "not ok kunit suite.case"), then
"kunit: N passed, N failed, N skipped". Exits non-zero when a case or suite
failed, when an expected suite did not run at all or ran another number of cases
than listed, when the suites file is malformed, or when the log holds no KTAP
output. A skipped case is not a pass: it is reported and counted apart. Suites
that are not expected (upstream ones) must pass too, but only their suite line
is reported.
"""
import re
import sys

TS = re.compile(r"^\[\s*\d+\.\d+\]\s?")
SUITE_START = re.compile(r"^    # Subtest: (\S+)$")
CASE = re.compile(r"^    (not ok|ok) \d+ (\S+)(.*)$")
SKIP = re.compile(r"#\s*SKIP\b\s*(.*)$", re.IGNORECASE)
SUITE_END = re.compile(r"^(not ok|ok) \d+ (\S+)(.*)$")


def parse(lines):
    suites = {}  # name -> {"ok": bool|None, "cases": [(ok, name, rest)]}
    current = None
    for raw in lines:
        line = TS.sub("", raw.rstrip("\n"))
        m = SUITE_START.match(line)
        if m:
            current = m.group(1)
            suites[current] = {"ok": None, "cases": []}
            continue
        m = CASE.match(line)
        if m and current is not None:
            suites[current]["cases"].append((m.group(1) == "ok", m.group(2), m.group(3)))
            continue
        m = SUITE_END.match(line)
        if m and m.group(2) in suites:
            suites[m.group(2)]["ok"] = m.group(1) == "ok"
            if m.group(2) == current:
                current = None
    return suites


def read_expected(path):
    """Returns [(suite, cases)] from the suites file; raises ValueError."""
    expected = []
    with open(path) as f:
        for n, raw in enumerate(f, 1):
            line = raw.split("#")[0].strip()
            if not line:
                continue
            words = line.split()
            if len(words) != 2 or not words[1].isdigit() or int(words[1]) < 1:
                raise ValueError(f"{path}:{n}: want 'suite_name case_count', got {raw.strip()!r}")
            expected.append((words[0], int(words[1])))
    return expected


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], errors="replace") as f:
        suites = parse(f)
    try:
        expected = read_expected(sys.argv[2])
    except ValueError as e:
        print(f"not ok kunit: malformed suites file: {e}")
        print("kunit: 0 passed, 1 failed, 0 skipped")
        return 1
    names = {name for name, _ in expected}
    passed = failed = skipped = 0
    for name, want in expected:
        s = suites.get(name)
        if s is None:
            print(f"not ok kunit suite {name} did not run")
            failed += 1
            continue
        if len(s["cases"]) != want:
            print(f"not ok kunit suite {name} ran {len(s['cases'])} cases, "
                  f"tests/kunit/suites lists {want}")
            failed += 1
        for ok, case, rest in s["cases"]:
            skip = SKIP.search(rest)
            if ok and skip:
                reason = skip.group(1).strip() or "no reason given"
                print(f"ok kunit {name}.{case} # SKIP {reason}")
                skipped += 1
            elif ok:
                print(f"ok kunit {name}.{case}")
                passed += 1
            else:
                print(f"not ok kunit {name}.{case}")
                failed += 1
        if s["ok"] is None:
            print(f"not ok kunit suite {name} never reported its result (crashed or hung?)")
            failed += 1
        elif s["ok"] is False and all(ok for ok, _, _ in s["cases"]):
            print(f"not ok kunit suite {name} reported failure")
            failed += 1
    for name, s in suites.items():
        if name in names:
            continue
        if s["ok"] is not True:
            print(f"not ok kunit {name} (upstream suite failed or did not finish)")
            failed += 1
    if not suites:
        print("not ok kunit: no KTAP output in the kernel log")
        failed += 1
    print(f"kunit: {passed} passed, {failed} failed, {skipped} skipped")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
