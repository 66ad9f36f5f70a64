#!/usr/bin/env bash
# The boundaries of docs/architecture.md, checked on every #include "..." of the tree:
# core/ includes nothing above it; sim/ and estimators/ never include each other
# (an estimator never sees the truth) nor anything above them; results/ is below
# experiments/; plots/ and cli/ are on top; and no header includes itself through
# others (no include cycles).  Prints every violation; exit 1 if any.
set -u
cd "$(dirname "$0")/.."
/usr/bin/python3 - <<'PY'
import glob, os, re, sys
layer = {"core": 0, "sim": 1, "estimators": 1, "results": 1, "experiments": 2, "plots": 3, "cli": 4}
graph, bad = {}, []
for f in sorted(glob.glob("*/*.[ch]")):
    top = f.split("/")[0]
    if top not in layer:
        continue
    incs = []
    for line in open(f, errors="replace"):
        m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
        if m:
            incs.append(os.path.normpath(os.path.join(os.path.dirname(f), m.group(1))))
    graph[f] = incs
    for i in incs:
        to = i.split("/")[0]
        if to not in layer:
            continue
        if layer[to] > layer[top] or {top, to} == {"sim", "estimators"} or (top == "results" and to != "core" and to != "results"):
            bad.append(f"{f} includes {i}: {to}/ is not below {top}/")
def cycle_from(start):
    stack, seen = [(start, [start])], set()
    while stack:
        node, path = stack.pop()
        for nxt in graph.get(node, []):
            if not nxt.endswith(".h"):
                continue
            if nxt == start:
                return path + [nxt]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, path + [nxt]))
    return None
for h in graph:
    if h.endswith(".h"):
        c = cycle_from(h)
        if c:
            bad.append("include cycle: " + " -> ".join(c))
for b in bad:
    print("FAIL", b)
print(f"layers: {len(graph)} files, {len(bad)} violations")
sys.exit(1 if bad else 0)
PY
