#!/usr/bin/env python3
"""Crude function-length count: a line starting (after indentation) with an optional
visibility/qualifiers and `fn NAME` opens a function; it ends at the first later line with the
same indentation that starts with `}`. Lengths include both lines."""
import re, sys, os, statistics
pat = re.compile(r'^(\s*)(pub(\([^)]*\))?\s+)?((const|async|unsafe|extern\s+"C")\s+)*fn\s+(\w+)')
def scan(path):
    lines = open(path, encoding='utf-8').read().split('\n')
    out = []
    for i, l in enumerate(lines):
        m = pat.match(l)
        if not m: continue
        ind = m.group(1)
        # one-line or declaration without body
        if l.rstrip().endswith(';'): continue
        if l.rstrip().endswith('}') and '{' in l: out.append((m.group(6), 1, i+1)); continue
        for j in range(i+1, len(lines)):
            if lines[j].startswith(ind + '}'):
                out.append((m.group(6), j - i + 1, i+1)); break
    return out
roots = sys.argv[1:] or ['src']
allf = []
for r in roots:
    for dp, _, fs in os.walk(r):
        for f in fs:
            if f.endswith('.rs'):
                p = os.path.join(dp, f)
                allf += [(p, *x) for x in scan(p)]
lens = sorted(x[2] for x in allf)
n = len(lens); over = [x for x in allf if x[2] > 60]
p90 = lens[int(0.9 * (n - 1))]
print(f"functions {n}, median {statistics.median(lens)}, p90 {p90}, over 60: {len(over)} ({100*len(over)/n:.1f} %)")
if '-v' in os.environ.get('FNLEN', ''):
    for x in sorted(over, key=lambda x: -x[2]): print(f"  {x[2]:4} {x[0]}:{x[3]} {x[1]}")
