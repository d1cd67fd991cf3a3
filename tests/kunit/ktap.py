#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Reads KUnit's KTAP output from a kernel log and checks it.

Usage: ktap.py DMESG EXPECTED_SUITES_FILE

Prints one line per test case of the expected suites ("ok suite.case" or
"not ok suite.case"), then "kunit: N passed, N failed". Exits non-zero when a
case or suite failed, when an expected suite did not run at all, or when the log
holds no KTAP output. Suites that are not expected (upstream ones) must pass too,
but only their suite line is reported.
"""
import re
import sys

TS = re.compile(r"^\[\s*\d+\.\d+\]\s?")
SUITE_START = re.compile(r"^    # Subtest: (\S+)$")
CASE = re.compile(r"^    (not ok|ok) \d+ (\S+)(.*)$")
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


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], errors="replace") as f:
        suites = parse(f)
    with open(sys.argv[2]) as f:
        expected = [l.split("#")[0].strip() for l in f]
    expected = [e for e in expected if e]
    passed = failed = 0
    for name in expected:
        s = suites.get(name)
        if s is None:
            print(f"not ok kunit suite {name} did not run")
            failed += 1
            continue
        if not s["cases"]:
            print(f"not ok kunit suite {name} ran no test case")
            failed += 1
        for ok, case, rest in s["cases"]:
            skipped = "# SKIP" in rest
            print(f"{'ok' if ok else 'not ok'} kunit {name}.{case}{' (skipped)' if skipped else ''}")
            if ok:
                passed += 1
            else:
                failed += 1
        if s["ok"] is None:
            print(f"not ok kunit suite {name} never reported its result (crashed or hung?)")
            failed += 1
        elif s["ok"] is False and all(ok for ok, _, _ in s["cases"]):
            print(f"not ok kunit suite {name} reported failure")
            failed += 1
    for name, s in suites.items():
        if name in expected:
            continue
        if s["ok"] is not True:
            print(f"not ok kunit {name} (upstream suite failed or did not finish)")
            failed += 1
    if not suites:
        print("not ok kunit: no KTAP output in the kernel log")
        failed += 1
    print(f"kunit: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
