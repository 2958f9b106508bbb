#!/usr/bin/env python3
"""Calls of functions in a callgrind output file: sums the `calls=` lines of every call to a
function whose name matches each regex. Usage: cg_calls.py callgrind.out REGEX..."""
import re
import sys

names = {}
counts = {}
cfn = None
with open(sys.argv[1], errors="replace") as f:
    for line in f:
        if line.startswith(("fn=", "cfn=", "cfi=", "cfl=")):
            key, _, rest = line.rstrip("\n").partition("=")
            m = re.match(r"\((\d+)\)(?: (.*))?", rest)
            if key in ("fn", "cfn") and m:
                if m.group(2) is not None:
                    names[m.group(1)] = m.group(2)
                if key == "cfn":
                    cfn = m.group(1)
        elif line.startswith("calls=") and cfn is not None:
            counts[cfn] = counts.get(cfn, 0) + int(line[6:].split()[0])
for pat in sys.argv[2:]:
    rx = re.compile(pat)
    print(f"{pat}\t{sum(n for i, n in counts.items() if rx.search(names.get(i, '')))}")
