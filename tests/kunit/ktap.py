#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Reads KUnit's KTAP output from a kernel log and checks it.

Usage: ktap.py [--skip-reasons FILE] DMESG EXPECTED_SUITES_FILE

EXPECTED_SUITES_FILE names one suite a line with the exact number of its
cases ("rextfs_format 3"; "#" starts a comment).

Prints one line per test case of the expected suites ("ok kunit suite.case",
"ok kunit suite.case # SKIP reason" or "not ok kunit suite.case"), then
"kunit: N passed, N failed, N skipped". Exits non-zero when a case or suite
failed, when an expected suite did not run at all or ran another number of cases
than listed, when the suites file is malformed, or when the log holds no KTAP
output. A skipped case is not a pass: it is reported and counted apart, and
only when its reason matches one of the patterns of --skip-reasons (the
documented properties of the test environment, tests/skip-reasons); any other
skip fails. A suite that ran more than once is checked run by run. Suites
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
    """Returns {suite: [run, ...]}, a run being {"ok": bool|None, "cases": [(ok, name, rest)]}.

    A suite that runs more than once (a module loaded twice) keeps every run: a failure in
    an early run must not be hidden by a later one that passed.
    """
    suites = {}
    current = None  # the run being read
    for raw in lines:
        line = TS.sub("", raw.rstrip("\n"))
        m = SUITE_START.match(line)
        if m:
            current = {"ok": None, "cases": []}
            suites.setdefault(m.group(1), []).append(current)
            continue
        m = CASE.match(line)
        if m and current is not None:
            current["cases"].append((m.group(1) == "ok", m.group(2), m.group(3)))
            continue
        m = SUITE_END.match(line)
        if m and m.group(2) in suites:
            run = suites[m.group(2)][-1]
            if run["ok"] is None:
                run["ok"] = m.group(1) == "ok"
            if run is current:
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
    if not expected:
        raise ValueError(f"{path}: names no suite")
    return expected


def read_skip_reasons(path):
    """Returns the compiled patterns of the allowed skip reasons (one regex a line)."""
    if path is None:
        return []
    with open(path) as f:
        return [re.compile(l.rstrip("\n")) for l in f if l.strip() and not l.startswith("#")]


def main():
    args = sys.argv[1:]
    reasons_file = None
    if len(args) == 4 and args[0] == "--skip-reasons":
        reasons_file = args[1]
        args = args[2:]
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(args[0], errors="replace") as f:
        suites = parse(f)
    try:
        expected = read_expected(args[1])
        allowed = read_skip_reasons(reasons_file)
    except (ValueError, OSError, re.error) as e:
        print(f"not ok kunit: bad suites or skip-reasons file: {e}")
        print("kunit: 0 passed, 1 failed, 0 skipped")
        return 1
    names = {name for name, _ in expected}
    passed = failed = skipped = 0

    def skip_ok(reason):
        return any(p.search(reason) for p in allowed)

    for name, want in expected:
        runs = suites.get(name)
        if not runs:
            print(f"not ok kunit suite {name} did not run")
            failed += 1
            continue
        for i, s in enumerate(runs, 1):
            tag = f" (run {i} of {len(runs)})" if len(runs) > 1 else ""
            if len(s["cases"]) != want:
                print(f"not ok kunit suite {name}{tag} ran {len(s['cases'])} cases, "
                      f"tests/kunit/suites lists {want}")
                failed += 1
            for ok, case, rest in s["cases"]:
                skip = SKIP.search(rest)
                reason = skip.group(1).strip() if skip else ""
                if ok and skip and skip_ok(reason):
                    print(f"ok kunit {name}.{case}{tag} # SKIP {reason}")
                    skipped += 1
                elif ok and skip:
                    print(f"not ok kunit {name}.{case}{tag} skipped for a reason that is not "
                          f"a documented property of the environment: {reason or '(none)'}")
                    failed += 1
                elif ok:
                    print(f"ok kunit {name}.{case}{tag}")
                    passed += 1
                else:
                    print(f"not ok kunit {name}.{case}{tag}")
                    failed += 1
            if s["ok"] is None:
                print(f"not ok kunit suite {name}{tag} never reported its result (crashed or hung?)")
                failed += 1
            elif s["ok"] is False and all(ok for ok, _, _ in s["cases"]):
                print(f"not ok kunit suite {name}{tag} reported failure")
                failed += 1
    for name, runs in suites.items():
        if name in names:
            continue
        for s in runs:
            if s["ok"] is not True:
                print(f"not ok kunit {name} (upstream suite failed or did not finish)")
                failed += 1
            for ok, case, rest in s["cases"]:
                if ok and SKIP.search(rest):
                    print(f"ok kunit {name}.{case} # SKIP {SKIP.search(rest).group(1).strip()} (upstream)")
                    skipped += 1
    if not suites:
        print("not ok kunit: no KTAP output in the kernel log")
        failed += 1
    print(f"kunit: {passed} passed, {failed} failed, {skipped} skipped")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
