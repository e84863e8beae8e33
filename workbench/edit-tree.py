#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Apply the series' edits to existing kernel files, by anchor, not by line.

An edit file names one kernel file and one anchor; the text after the `--`
line is inserted relative to the anchor. Anchors are whole lines that exist
unchanged in every tree the series supports, so that the edit survives drift
around them. Operations:

  after: LINE          insert after the only line equal to LINE
  before: LINE         insert before the only line equal to LINE
  replace: LINE        replace the only line equal to LINE with the text;
                       with "through: LAST", the lines from LINE to the
                       first line after it equal to LAST
  append-to: VAR       append the words of the text to the make variable
                       assignment starting with VAR (continuation lines
                       followed), wrapping at 80 columns like its neighbours
  within: HEADING      optional: look for the anchor only in the block of
                       lines that starts with HEADING and ends at a blank line
                       (a MAINTAINERS entry)

An edit whose text is already there is an error: the tree is not the clean
base the series expects.
"""

import argparse
import os
import sys


class EditError(Exception):
    pass


def parse(path):
    head, sep, body = open(path, encoding="utf-8").read().partition("\n--\n")
    if not sep:
        raise EditError(f"{path}: no '--' line between header and text")
    fields = {}
    for line in head.splitlines():
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition(": ")
        if not sep:
            raise EditError(f"{path}: cannot parse header line {line!r}")
        fields[key] = value
    ops = [k for k in ("after", "before", "append-to", "replace") if k in fields]
    if "file" not in fields or len(ops) != 1:
        raise EditError(f"{path}: needs 'file:' and exactly one of after/before/append-to/replace")
    if "through" in fields and ops[0] != "replace":
        raise EditError(f"{path}: 'through:' goes with 'replace:' only")
    return fields, ops[0], body


def block(lines, heading, path):
    starts = [i for i, line in enumerate(lines) if line == heading]
    if len(starts) != 1:
        raise EditError(f"{path}: heading {heading!r} found {len(starts)} times, expected once")
    end = starts[0]
    while end < len(lines) and lines[end].strip():
        end += 1
    return starts[0], end


def find_one(lines, anchor, lo, hi, path):
    hits = [i for i in range(lo, hi) if lines[i] == anchor]
    if len(hits) != 1:
        raise EditError(f"{path}: anchor {anchor!r} found {len(hits)} times, expected once; "
                        "is this a kernel tree the series supports?")
    return hits[0]


def append_to(lines, var, words, path):
    starts = [i for i, line in enumerate(lines) if line.startswith(var + " ")]
    if len(starts) != 1:
        raise EditError(f"{path}: assignment {var!r} found {len(starts)} times, expected once")
    last = starts[0]
    while lines[last].endswith("\\"):
        last += 1
    existing = " ".join(lines[starts[0]:last + 1]).split()
    for word in words:
        if word in existing:
            raise EditError(f"{path}: {word} is already in {var}; tree already patched?")
    line = lines[last]
    for word in words:
        if len(line.expandtabs()) + 1 + len(word) <= 80:
            line += " " + word
        else:
            indent = line[:len(line) - len(line.lstrip())] if last > starts[0] else "\t "
            lines[last] = line + " \\"
            last += 1
            line = indent + word
            lines.insert(last, line)
    lines[last] = line


def apply(tree, edit_path, texts, new_files_from=None):
    """Apply one edit to the text of its file in texts, read on first use."""
    fields, op, body = parse(edit_path)
    name = fields["file"]
    if name not in texts:
        target = f"{tree}/{name}"
        if new_files_from and not os.path.exists(target):
            target = f"{new_files_from}/{name}"
        try:
            texts[name] = open(target, encoding="utf-8").read()
        except FileNotFoundError:
            raise EditError(f"{edit_path}: {target} does not exist; is {tree} a kernel tree?")
    lines = texts[name].split("\n")
    # The text ends with the newline of its last line; a blank line before
    # that newline is part of the text (Kconfig entries end with one).
    new = (body[:-1] if body.endswith("\n") else body).split("\n")

    if op == "append-to":
        append_to(lines, fields[op], " ".join(new).split(), edit_path)
    else:
        if all(line in lines for line in new if line.strip()) and \
                any(line.strip() for line in new):
            raise EditError(f"{edit_path}: text already in {fields['file']}; tree already patched?")
        lo, hi = 0, len(lines)
        if "within" in fields:
            lo, hi = block(lines, fields["within"], edit_path)
        at = find_one(lines, fields[op], lo, hi, edit_path)
        if op == "replace":
            end = at
            if "through" in fields:
                end = next((i for i in range(at + 1, hi) if lines[i] == fields["through"]), None)
                if end is None:
                    raise EditError(f"{edit_path}: no line {fields['through']!r} after the anchor")
            lines[at:end + 1] = new
        else:
            at = at + 1 if op == "after" else at
            lines[at:at] = new

    texts[name] = "\n".join(lines)
    return name


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tree", help="kernel tree to edit")
    ap.add_argument("edits", nargs="+", help="edit files to apply, in order")
    ap.add_argument("--check", action="store_true",
                    help="only check that the edits apply, in order; write nothing")
    ap.add_argument("--new-files-from", metavar="DIR",
                    help="with --check: read files the tree lacks from DIR "
                         "(files an earlier patch adds)")
    args = ap.parse_args()
    texts = {}
    try:
        for path in args.edits:
            apply(args.tree, path, texts, args.new_files_from)
    except EditError as e:
        print(f"edit-tree: {e}", file=sys.stderr)
        sys.exit(1)
    if not args.check:
        for name, text in texts.items():
            with open(f"{args.tree}/{name}", "w", encoding="utf-8") as f:
                f.write(text)
            print(name)


if __name__ == "__main__":
    main()
