#!/usr/bin/env python3
"""Module import graph of src/ (file level) and its cycles. A file depends on another when it
names `crate::a::b` (or `super::x`, `self::x` resolved) and the longest prefix that is a module
file is that other file. Parent modules re-exporting children are not edges by themselves."""
import os, re, sys
root = sys.argv[1] if len(sys.argv) > 1 else 'src'
mods = {}  # module path tuple -> file
for dp, _, fs in os.walk(root):
    for f in fs:
        if not f.endswith('.rs'): continue
        p = os.path.join(dp, f)
        rel = os.path.relpath(p, root)[:-3].split(os.sep)
        if rel[-1] == 'mod': rel = rel[:-1]
        if rel in (['lib'],): rel = []
        if rel == ['main']: continue
        mods[tuple(rel)] = p
def strip_comments(text):
    # drop // comments (doc comments included: intra-doc links are not imports)
    out = []
    for line in text.split('\n'):
        i = line.find('//')
        out.append(line if i < 0 else line[:i])
    return '\n'.join(out)
def strip_tests(text):
    # drop #[cfg(test)] mod ... { } blocks crudely: everything after '#[cfg(test)]\nmod'
    i = text.find('#[cfg(test)]\nmod ')
    return text if i < 0 else text[:i]
edges = {m: set() for m in mods}
pat = re.compile(r'\b(crate|super|self)((?:::\w+)+)')
for m, p in mods.items():
    text = strip_comments(strip_tests(open(p).read()))
    # expand `use crate::x::{a, b::c}` groups crudely
    for g in re.finditer(r'\b(crate|super|self)((?:::\w+)*)::\{([^}]*)\}', text):
        for item in g.group(3).split(','):
            item = item.strip().split(' as ')[0]
            if not item or item == 'self': 
                text += f"\n{g.group(1)}{g.group(2)}"; continue
            text += f"\n{g.group(1)}{g.group(2)}::{item}"
    for k in pat.finditer(text):
        head, rest = k.group(1), k.group(2).split('::')[1:]
        is_modfile = p.endswith('mod.rs') or p.endswith('lib.rs')
        if head == 'crate': base = []
        elif head == 'self': base = list(m) if is_modfile else list(m[:-1]) + [m[-1]] if False else list(m)
        else: base = list(m[:-1]) if is_modfile else list(m[:-2]) if False else list(m[:-1])
        if head == 'self' and not is_modfile: base = list(m)
        if head == 'super' and not is_modfile: base = list(m[:-1])
        if head == 'super' and is_modfile: base = list(m[:-1])
        full = base + rest
        best = None
        for n in range(len(full), 0, -1):
            if tuple(full[:n]) in mods: best = tuple(full[:n]); break
        if best and best != m and not (len(best) < len(m) and m[:len(best)] == best):
            edges[m].add(best)
# Tarjan
idx = {}; low = {}; st = []; on = set(); out = []; c = [0]
sys.setrecursionlimit(10000)
def sc(v):
    idx[v] = low[v] = c[0]; c[0] += 1; st.append(v); on.add(v)
    for w in edges[v]:
        if w not in idx: sc(w); low[v] = min(low[v], low[w])
        elif w in on: low[v] = min(low[v], idx[w])
    if low[v] == idx[v]:
        comp = []
        while True:
            w = st.pop(); on.discard(w); comp.append(w)
            if w == v: break
        if len(comp) > 1: out.append(comp)
for v in mods:
    if v not in idx: sc(v)
print(f"{len(mods)} module files, {sum(len(e) for e in edges.values())} edges, {len(out)} cycles")
for comp in out:
    print("  cycle:", ", ".join("::".join(x) for x in comp))
    for a in comp:
        for b in edges[a]:
            if b in comp: print(f"     {'::'.join(a)} -> {'::'.join(b)}")
