#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Turn a kunit.py --json result and the kernel log into ledger lines.

Prints "pass|fail|skip RUN/suite/case[/param]" for every test case, then one
line for the kernel log: it fails if the log holds a report from a sanitizer
or a debug option (KASAN, UBSAN, lockdep, KFENCE, kmemleak, debugobjects,
a BUG or a WARNING), except the WARNINGs a suite announces beforehand with
"# expect WARNING: <what>" in its own log (the misuse tests), counted one for
one. Only the part of the log from the first KTAP line on is checked.
"""

import json
import re
import sys

REPORTS = re.compile(
    r"(BUG: |UBSAN: |WARNING: |KFENCE: |ODEBUG: |INFO: task .* blocked|"
    r"possible circular locking|inconsistent lock state|"
    r"possible recursive locking|suspicious RCU usage|"
    r"unreferenced object 0x|"
    r"Kernel panic|general protection fault)")
# kmemleak's own "N new suspected memory leaks" line is left to the kmemleak
# check: /init scans once before the suite to drop boot-time suspects, and
# only the report printed after the suite counts.
EXPECT = re.compile(r"# (\S+: )?expect WARNING: (.*)")
KTAP_START = re.compile(r"^\s*K?TAP version \d+")


def leaves(group, path):
    name = group.get("name") or ""
    here = path + [name] if name and name != "KUnit Test Group" else path
    for case in group.get("test_cases", []):
        yield "/".join(here + [case["name"]]), case["status"]
    for sub in group.get("sub_groups", []):
        yield from leaves(sub, here)


def check_kmemleak(run, text):
    m = re.search(r"workbench-init: kmemleak scan done, (\d+) bytes of reports", text)
    if not m:
        return f"fail {run}/kmemleak: the scan after the suite did not run"
    if m.group(1) != "0":
        return f"fail {run}/kmemleak: {m.group(1)} bytes of leak reports, see the log"
    return f"pass {run}/kmemleak"


def check_log(run, log_path, kmemleak):
    try:
        text = open(log_path, errors="replace").read()
    except FileNotFoundError:
        return f"fail {run}/kernel-log: no log at {log_path}"
    expected = 0
    unexpected = []
    lines = text.splitlines()
    # From the first KTAP line on: what the boot says before is not ours.
    start = next((i for i, line in enumerate(lines) if KTAP_START.search(line)), None)
    if start is None:
        return f"fail {run}/kernel-log: no KTAP output in {log_path}"
    for line in lines[start:]:
        if EXPECT.search(line):
            expected += 1
            continue
        m = REPORTS.search(line)
        if not m:
            continue
        if m.group(1) == "WARNING: " and expected > 0:
            expected -= 1
            continue
        unexpected.append(line.strip())
    verdicts = []
    if kmemleak:
        verdicts.append(check_kmemleak(run, text))
    if unexpected:
        verdicts.append(f"fail {run}/kernel-log: {len(unexpected)} report(s), first: "
                        f"{unexpected[0][:160]}")
    elif expected:
        verdicts.append(f"fail {run}/kernel-log: {expected} announced WARNING(s) never came")
    else:
        verdicts.append(f"pass {run}/kernel-log")
    return "\n".join(verdicts)


def skip_reasons(log_path):
    """The reason KTAP gives for each skipped case: 'ok 3 name # SKIP why'."""
    try:
        text = open(log_path, errors="replace").read()
    except FileNotFoundError:
        return {}
    return dict(re.findall(r"ok \d+ (\S+) # SKIP (.+)", text))


def main():
    run, json_path, log_path = sys.argv[1:4]
    kmemleak = "--kmemleak=1" in sys.argv[4:]
    verdicts = {"PASS": "pass", "SKIP": "skip"}
    reasons = skip_reasons(log_path)
    count = 0
    try:
        result = json.load(open(json_path))
        for name, status in leaves(result, [run]):
            count += 1
            detail = ""
            if status == "SKIP":
                detail = ": " + reasons.get(name.rsplit("/", 1)[-1], "no reason given")
            elif status not in verdicts:
                detail = f": {status}"
            print(f"{verdicts.get(status, 'fail')} {name}{detail}")
    except (FileNotFoundError, json.JSONDecodeError) as e:
        print(f"fail {run}/kunit.py: no result ({e.__class__.__name__})")
    if count == 0:
        print(f"fail {run}/kunit.py: no test case ran")
    print(check_log(run, log_path, kmemleak))


if __name__ == "__main__":
    main()
