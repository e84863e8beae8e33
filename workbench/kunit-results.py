#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Turn a kunit.py --json result and the kernel log into ledger lines.

Prints "pass|fail|skip RUN/suite/case[/param]" for every test case, then one
line for the kernel log: it fails if the log holds a report from a sanitizer
or a debug option (KASAN, UBSAN, lockdep, KFENCE, kmemleak, debugobjects,
a BUG or a WARNING), except as many WARNINGs as a suite announces with
"# expect WARNING: <what>" in its own log (the misuse tests on kernels
whose KUnit cannot suppress them). Only the part of the log from the first KTAP line on is checked. With
--kmemleak=1, the kmemleak report /init prints after the suite must be empty
but for objects allocated in start_kernel, which get one skip line.
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


# A kmemleak report as 6.1 and 6.12 print it: 6.12 adds "(crc ...)" to the
# backtrace line and leaves out the "[<address>]" before each frame.
KMEMLEAK_REPORT = re.compile(
    r"unreferenced object (0x[0-9a-f]+) \(size \d+\):\n"
    r"[ \t]+comm \"([^\"]*)\", pid (\d+)[^\n]*\n"
    r"(?:(?!unreferenced object)[^\n]*\n)*?"
    r"[ \t]+backtrace(?: \(crc [0-9a-f]+\))?:\n"
    r"((?:[ \t]+\S.*\n?)*)")
FRAME = re.compile(r"^[ \t]+(?:\[<[^>]*>\] )?(\S+)", re.M)
ALLOCATOR_FRAME = re.compile(r"kmem_cache|kmalloc|kzalloc|kstrdup|slab|kmemleak")
# On the stack of an interrupt that hit the boot CPU's idle task.
IDLE_FRAMES = {"rest_init", "arch_call_rest_init", "cpu_startup_entry", "do_idle"}


def kmemleak_reports(text):
    """(address, from_start_kernel, caller) of each kmemleak report in text.
    from_start_kernel: allocated by swapper/0, pid 0, with start_kernel on
    the stack and not the idle loop, that is during boot before the first
    initcall (not in an interrupt that hit the idle task later)."""
    for m in KMEMLEAK_REPORT.finditer(text):
        frames = [f.split("+")[0] for f in FRAME.findall(m.group(4))]
        caller = next((f for f in frames if not ALLOCATOR_FRAME.search(f)),
                      frames[0] if frames else "?")
        at_boot = (m.group(2) == "swapper/0" and int(m.group(3)) == 0 and
                   "start_kernel" in frames and not IDLE_FRAMES & set(frames))
        yield m.group(1), at_boot, caller


def check_kmemleak(run, text):
    """The report /init prints after the suite. An object allocated in
    start_kernel, before the first initcall and so before the helper's cache
    exists, cannot be the suite's (6.1 reports ACPI's early caches, long
    after boot): those are named in a skip line, all else fails."""
    m = re.search(r"workbench-init: kmemleak scan done, (\d+) bytes of reports", text)
    if not m:
        return f"fail {run}/kmemleak: the scan after the suite did not run"
    report = text[:m.start()]
    report = report[report.rfind("workbench-init: kmemleak scan start"):] \
        if "workbench-init: kmemleak scan start" in report else ""
    boot, leaks = [], []
    for addr, at_boot, caller in kmemleak_reports(report):
        (boot if at_boot else leaks).append(f"{addr} from {caller}")
    unparsed = report.count("unreferenced object") - len(boot) - len(leaks)
    verdicts = []
    if boot:
        callers = sorted({b.split(" from ")[1] for b in boot})
        verdicts.append(f"skip {run}/kmemleak-boot: {len(boot)} report(s) of objects "
                        f"allocated in start_kernel, before any initcall, "
                        f"so not by the helper or the suite; not judged: from "
                        f"{', '.join(callers)}")
    if leaks:
        verdicts.append(f"fail {run}/kmemleak: {len(leaks)} leak(s), first: {leaks[0]}")
    elif unparsed or (m.group(1) != "0" and not boot):
        verdicts.append(f"fail {run}/kmemleak: {m.group(1)} bytes of reports the "
                        f"workbench cannot parse, see the log")
    else:
        verdicts.append(f"pass {run}/kmemleak")
    return "\n".join(verdicts)


def check_log(run, log_path, kmemleak):
    try:
        text = open(log_path, errors="replace").read().replace("\r", "")
    except FileNotFoundError:
        return f"fail {run}/kernel-log: no log at {log_path}"
    expected = 0
    unexpected = []
    lines = text.splitlines()
    # From the first KTAP line on: what the boot says before is not ours.
    start = next((i for i, line in enumerate(lines) if KTAP_START.search(line)), None)
    if start is None:
        return f"fail {run}/kernel-log: no KTAP output in {log_path}"
    boot_objects = {addr for addr, at_boot, _ in kmemleak_reports(text) if at_boot}
    # On kernels whose KUnit cannot suppress a WARN, the test announces each
    # one it expects once it has counted it (workbench/compat/): the
    # announcements and the WARNING reports must match in number.
    expected = sum(1 for line in lines[start:] if EXPECT.search(line))
    for line in lines[start:]:
        m = re.search(r"unreferenced object (0x[0-9a-f]+)", line)
        if m and m.group(1) in boot_objects:
            continue    # judged by check_kmemleak
        if EXPECT.search(line):
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
    return dict(re.findall(r"ok \d+ (.+?) # SKIP (.+)", text))


def main():
    run, json_path, log_path = sys.argv[1:4]
    kmemleak = "--kmemleak=1" in sys.argv[4:]
    verdicts = {"PASS": "pass", "SKIP": "skip"}
    reasons = skip_reasons(log_path)
    count = 0
    try:
        # One --json file per KTAP document, joined with ':'.
        results = [json.load(open(p)) for p in json_path.split(":")]
        for name, status in (leaf for r in results for leaf in leaves(r, [run])):
            count += 1
            detail = ""
            if status == "SKIP":
                # RUN/suite/case[/param]; a param name may hold a "/" ("I/O memory")
                detail = ": " + reasons.get(name.split("/", 3)[-1], "no reason given")
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
