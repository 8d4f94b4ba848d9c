#!/usr/bin/env python3
"""Counts the results of `iscsi-test-cu -v` output: passed, failed and skipped tests.

CUnit counts a skipped test as passed; libiscsi prints "[SKIPPED]" inside such a test, so a
test whose block holds "[SKIPPED]" and ends in "passed" is counted as skipped here.

    scripts/cu-results.py OUTPUT            # one line: passed N failed N skipped N total N
    scripts/cu-results.py OUTPUT --list     # then one line per failed or skipped test
"""
import re
import sys


def results(text):
    suite = None
    tests = []
    parts = re.split(r"(^Suite: \S+$|  Test: \S+ \.\.\.)", text, flags=re.M)
    current = None
    for part in parts:
        if part.startswith("Suite: "):
            suite = part[len("Suite: "):].strip()
            continue
        match = re.match(r"  Test: (\S+) \.\.\.", part)
        if match:
            current = match.group(1)
            continue
        if current is None:
            continue
        # What follows the outcome word belongs to the next suite's set-up, not this test.
        end = re.search(r"(?:^|\n)(passed|FAILED)", part)
        body = part[: end.start()] if end else part
        if end and end.group(1) == "FAILED":
            outcome = "failed"
            body = part
        elif "[SKIPPED]" in body:
            outcome = "skipped"
        else:
            outcome = "passed"
        lines = [line.strip() for line in body.strip().splitlines() if line.strip()]
        reason = next((l for l in lines if l.startswith("[")), lines[0] if lines else "")
        tests.append((suite, current, outcome, reason))
        current = None
    return tests


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    with open(sys.argv[1], errors="replace") as output:
        tests = results(output.read())
    counts = {kind: sum(1 for t in tests if t[2] == kind) for kind in ("passed", "failed", "skipped")}
    print("passed {passed} failed {failed} skipped {skipped} total {total}".format(total=len(tests), **counts))
    if "--list" in sys.argv:
        for suite, test, outcome, reason in tests:
            if outcome != "passed":
                print(f"{outcome:8} {suite}.{test}: {reason}")


if __name__ == "__main__":
    main()
