#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Turn a kunit.py --json result and the kernel log into ledger lines.

Prints "pass|fail|skip RUN/suite/case[/param]" for every test case, then one
line for the kernel log. The whole log is checked, boot included, for a
report from a sanitizer or a debug option (KASAN, UBSAN, KCSAN, lockdep,
KFENCE, kmemleak, debugobjects), a BUG, a WARNING (refcount_t's included),
an Oops or a panic, and for a line that says "deprecated" (7.3 warns once
per boot of a work item queued on a deprecated workqueue). Each report
belongs to the test case (or parameter) whose KTAP result line follows it,
and fails that case: "fail RUN/suite/case: kernel log: <the report's first
line>"; a report after a suite's last case fails "RUN/suite", and one
outside any suite (at boot, between the suites, at shutdown) fails
"RUN/kernel-log". A case may provoke as many WARNINGs as it announces with
"# expect WARNING: <what>" before its result line (the misuse tests on
kernels whose KUnit cannot suppress them, see workbench/compat/); on 7.3
KUnit suppresses them and nothing is printed. With --kmemleak=1, the
kmemleak report /init prints after the suite must be empty but for objects
allocated in start_kernel, which get one skip line.
"""

import json
import re
import sys

REPORTS = re.compile(
    r"(BUG: |UBSAN: |WARNING: |KFENCE: |ODEBUG: |INFO: task .* blocked|"
    r"refcount_t: |kernel BUG at |Oops: |Unable to handle kernel |"
    r"possible circular locking|inconsistent lock state|"
    r"possible recursive locking|suspicious RCU usage|"
    r"[Dd]eprecated|"
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


# KTAP as KUnit prints it, once the printk prefix of a QEMU console (a
# timestamp, a caller id) is taken off: a document's suites end with an
# unindented result line, a suite's cases with one indented by four spaces,
# a parameterised case's parameters with one indented by eight.
PRINTK_PREFIX = re.compile(r"^(?:\[ *\d+\.\d+\] ?)?(?:\[ *[TC]\d+\] ?)?")
KTAP_RESULT = re.compile(r"^( *)(?:not )?ok \d+ (.*?)(?: # .*)?$")
KTAP_SUBTEST = re.compile(r"^( *)# Subtest: (.*)$")
KTAP_DIAGNOSTIC = re.compile(r"^ *#")


def sections(lines):
    """Yield (key, lines) for the parts of the log that each KTAP result
    line ends: key is (suite, case, param) for a parameter, (suite, case,
    None) for a case, (suite, None, None) for what follows a suite's last
    case, and None for what is outside every suite (the boot, the lines
    between two KTAP documents, what follows the last result)."""
    suite = case = None
    part = []
    for raw in lines:
        line = PRINTK_PREFIX.sub("", raw)
        if KTAP_START.match(line) and not line.startswith(" "):
            yield None, part        # a new document (a module of /init)
            suite = case = None
            part = []
            continue
        m = KTAP_SUBTEST.match(line)
        if m:
            if len(m.group(1)) == 4:
                suite, case = m.group(2), None
            elif len(m.group(1)) >= 8:
                case = m.group(2)   # the parameters of this case follow
            continue
        m = KTAP_RESULT.match(line)
        if not m:
            part.append(line)
            continue
        depth, name = len(m.group(1)) // 4, m.group(2)
        if depth == 0:
            yield (suite, None, None) if suite else None, part
            suite = case = None
        elif depth == 1:
            yield (suite, name, None), part
            case = None
        else:
            yield (suite, case or name, name if case else None), part
        part = []
    yield None, part


# What a base kernel itself reports while it boots, before any test runs,
# each with why it is not the series': nothing else is let through.
KNOWN_AT_BOOT = [
    # 6.12's UML as kunit.py configures it (UML_PCI_OVER_VIRTIO, for
    # logic_iomem, with no device ID): "No virtio device ID configured for
    # PCI - no PCI support". 7.3's virt-pci no longer warns.
    re.compile(r"WARNING: CPU: \d+ PID: 1 at arch/um/drivers/virt-pci\.c:\d+ "),
]


def judge(part, boot_objects, known=()):
    """The reports of one part of the log, less the WARNINGs it announces
    and those that known matches."""
    expected = sum(1 for line in part if EXPECT.search(line))
    reports = []
    for line in part:
        if KTAP_DIAGNOSTIC.match(line):
            continue    # KUnit's own output, the announcements included
        if any(k.search(line) for k in known):
            continue
        m = re.search(r"unreferenced object (0x[0-9a-f]+)", line)
        if m and m.group(1) in boot_objects:
            continue    # judged by check_kmemleak
        m = REPORTS.search(line)
        if not m:
            continue
        if m.group(1) == "WARNING: " and expected > 0:
            expected -= 1
            continue
        reports.append(line.strip())
    if expected:
        reports.append(f"{expected} announced WARNING(s) never came")
    return reports


def check_log(run, log_path):
    """(text of the log, {key: reports}) where key is as in sections(), or
    a ledger line if there is no log to check."""
    try:
        text = open(log_path, errors="replace").read().replace("\r", "")
    except FileNotFoundError:
        return None, f"fail {run}/kernel-log: no log at {log_path}"
    # The whole log, boot included: the boot of every run of the gate
    # prints none of these (checked on 7.3's um, x86_64, arm64, x86_64-rt
    # and powerpc32 logs), and a report there comes from this kernel too.
    boot_objects = {addr for addr, at_boot, _ in kmemleak_reports(text) if at_boot}
    found = {}
    for i, (key, part) in enumerate(sections(text.splitlines())):
        reports = judge(part, boot_objects, KNOWN_AT_BOOT if i == 0 else ())
        if reports:
            found.setdefault(key, []).extend(reports)
    if not any(KTAP_START.search(line) for line in text.splitlines()):
        first = f", first report: {found[None][0][:160]}" if found.get(None) else ""
        return text, f"fail {run}/kernel-log: no KTAP output in {log_path}{first}"
    return text, found


def summary(reports):
    more = f" (and {len(reports) - 1} more)" if len(reports) > 1 else ""
    return f"kernel log: {reports[0][:160]}{more}"


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
    cases = {}      # RUN/suite/case[/param] -> [verdict, detail]
    lines = []
    try:
        # One --json file per KTAP document, joined with ':'.
        results = [json.load(open(p)) for p in json_path.split(":")]
        for name, status in (leaf for r in results for leaf in leaves(r, [run])):
            detail = ""
            if status == "SKIP":
                # RUN/suite/case[/param]; a param name may hold a "/" ("I/O memory")
                detail = reasons.get(name.split("/", 3)[-1], "no reason given")
            elif status not in verdicts:
                detail = status
            cases[name] = [verdicts.get(status, "fail"), detail]
    except (FileNotFoundError, json.JSONDecodeError) as e:
        lines.append(f"fail {run}/kunit.py: no result ({e.__class__.__name__})")
    if not cases:
        lines.append(f"fail {run}/kunit.py: no test case ran")

    text, found = check_log(run, log_path)
    log_line = found if isinstance(found, str) else None
    extra = []
    for key, reports in ({} if log_line else found).items():
        if key is None:
            log_line = (f"fail {run}/kernel-log: {len(reports)} report(s) outside "
                        f"the test cases, first: {reports[0][:160]}")
            continue
        name = "/".join([run] + [k for k in key if k])
        if name in cases:
            verdict, detail = cases[name]
            cases[name] = ["fail", summary(reports) if verdict != "fail"
                           else f"{detail}; {summary(reports)}"]
        else:
            # a parameterised case's own part, or a suite's end
            extra.append(f"fail {name}: {summary(reports)}")

    for name, (verdict, detail) in cases.items():
        print(f"{verdict} {name}{': ' + detail if detail else ''}")
    for line in lines + extra:
        print(line)
    if kmemleak and text is not None:
        print(check_kmemleak(run, text))
    print(log_line or f"pass {run}/kernel-log")


if __name__ == "__main__":
    main()
