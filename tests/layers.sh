#!/bin/sh
# The layering check (docs/ARCHITECTURE.md, "Layers"): fails on
#  (a) an #include "..." from one layer's folder of src/ into another that
#      ALLOWED below does not list;
#  (b) a cycle between the .c files of src/;
#  (c) a file of cli/ (its folders too) including anything but "gsread.h"
#      and cli's own headers, named from the including file's folder or
#      from cli/ (the tool uses the public API only).
#
# The allowed includes: "layer: the layers it may include" (besides
# itself), bottom to top; a layer is a folder of src/. A layer may name
# only layers listed above it, so the folders cannot form a cycle.
ALLOWED='
base:
transport: base
auth:      base transport
backend:   base transport auth
fetch:     base transport backend
read:      base transport backend fetch
api:       base transport auth backend fetch read
'
# Cycles between files (b): a .c file depends on another when it names a
# function or variable that the other defines (not static): including a
# header counts as depending on the .c files that implement what the
# includer uses of it, not on every file behind the header (a folder's .c
# files all include its header; that alone is no cycle). A macro of a
# header counts as the names its body uses.
#
# Problems being worked off, one substring of the problem's first line a
# line; each is printed but does not fail the check. Keep it empty.
TOLERATED='
'
# Usage: tests/layers.sh [source root]; exits 0 when the tree is clean.
# Needs /usr/bin/python3.
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
exec /usr/bin/python3 - "$root" "$ALLOWED" "$TOLERATED" <<'EOF'
import os, re, sys

root, allowed_text = sys.argv[1], sys.argv[2]
tolerated = [t.strip() for t in sys.argv[3].splitlines() if t.strip()]
order, allowed = [], {}
bad = []
for line in allowed_text.strip().splitlines():
    name, _, below = line.partition(":")
    name = name.strip()
    below = below.split()
    for b in below:
        if b not in order:
            bad.append("ALLOWED: %s may include %s, which is not below it"
                       % (name, b))
    order.append(name)
    allowed[name] = set(below) | {name}

def files(top, exts):
    out = []
    for d, _, names in os.walk(os.path.join(root, top)):
        out += [os.path.relpath(os.path.join(d, n), root)
                for n in sorted(names) if n.endswith(exts)]
    return sorted(out)

def strip(text):
    """Comments and string literals out (include lines are read before)."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    return re.sub(r'"(\\.|[^"\\\n])*"', '""', text)

INC = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
src = files("src", (".c", ".h"))
text = {p: open(os.path.join(root, p)).read() for p in src}

# (a) folder to folder.
def layer(path):  # src/LAYER/...; a file directly in src/ has none
    parts = path.split("/")
    return parts[1] if len(parts) > 2 else None

for p in src:
    lp = layer(p)
    if lp not in allowed:
        bad.append("%s: not in a layer folder (ALLOWED names: %s)"
                   % (p, " ".join(order)))
        continue
    for m in INC.finditer(text[p]):
        inc = m.group(1)
        target = "src/" + inc
        if inc == "gsread.h":
            continue  # the public header: every layer may include it
        if target not in text:
            bad.append('%s: #include "%s" is not a path under src/'
                       % (p, inc))
            continue
        lt = layer(target)
        if lt not in allowed[lp]:
            bad.append('%s: #include "%s": %s may not include %s '
                       '(allowed: %s)' % (p, inc, lp, lt,
                                          " ".join(sorted(allowed[lp]))))

# (b) cycles between .c files.
NAME = re.compile(r"\bgsr_\w+\b")
DEF_FN = re.compile(r"^(?!static\b|typedef\b|extern\b|#)[A-Za-z_][^;{}()=#]*?"
                    r"\b(gsr_\w+)\s*\([^;{]*?\)\s*\{", re.M)
DEF_VAR = re.compile(r"^(?!static\b|typedef\b|extern\b|#)[A-Za-z_][^;{}()=#]*?"
                     r"\b(gsr_\w+)\s*(\[[^\]]*\])?\s*=", re.M)
MACRO = re.compile(r"^\s*#\s*define\s+(\w+)\(([^\n\\]|\\\n)*", re.M)
macros = {}
for p in src:
    if p.endswith(".h"):
        for m in MACRO.finditer(strip(text[p])):
            macros[m.group(1)] = set(NAME.findall(m.group(0)[len(m.group(1)):]))
defined_in, uses = {}, {}
for p in (p for p in src if p.endswith(".c")):
    body = strip(text[p])
    for m in list(DEF_FN.finditer(body)) + list(DEF_VAR.finditer(body)):
        defined_in.setdefault(m.group(1), set()).add(p)
    used = set(NAME.findall(body))
    for mac, names in macros.items():
        if re.search(r"\b%s\s*\(" % mac, body):
            used |= names
    uses[p] = used
edges = {p: {} for p in uses}
for p, used in uses.items():
    for n in used:
        for q in defined_in.get(n, ()):
            if q != p:
                edges[p].setdefault(q, set()).add(n)

def sccs(graph):  # Tarjan, iterative
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    for v0 in sorted(graph):
        if v0 in index:
            continue
        work = [(v0, iter(sorted(graph[v0])))]
        index[v0] = low[v0] = counter[0]; counter[0] += 1
        stack.append(v0); on.add(v0)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter[0]; counter[0] += 1
                    stack.append(w); on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop(); on.discard(w); comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out

for comp in sccs(edges):
    lines = ["cycle between %d files (%s):" % (len(comp), " ".join(comp))]
    for p in comp:
        for q in sorted(edges[p]):
            if q in comp:
                lines.append("    %s -> %s (%s)"
                             % (p, q, ", ".join(sorted(edges[p][q]))))
    bad.append("\n".join(lines))

# (c) cli/ uses the public header only.
cli = files("cli", (".c", ".h"))
own = {p for p in cli if p.endswith(".h")}
# cli_help.h is cli's own too: made at build time from cli/help/*.txt.
own.add("cli/cli_help.h")
for p in cli:
    for m in INC.finditer(open(os.path.join(root, p)).read()):
        inc = m.group(1)
        # The compiler looks beside the includer first, then in cli/.
        paths = {os.path.normpath(os.path.join(os.path.dirname(p), inc)),
                 os.path.normpath(os.path.join("cli", inc))}
        if inc != "gsread.h" and not paths & own:
            bad.append('%s: #include "%s": cli/ includes only "gsread.h" '
                       'and its own headers' % (p, m.group(1)))

fails = 0
for b in bad:
    first = b.splitlines()[0]
    tol = any(t in first for t in tolerated)
    fails += not tol
    print("layers: %s%s" % ("(tolerated) " if tol else "", b))
n_inc = sum(len(INC.findall(text[p])) for p in src)
print("layers: %d files, %d includes, %d file dependencies: %s"
      % (len(src), n_inc, sum(len(e) for e in edges.values()),
         "%d problem(s), %d tolerated" % (len(bad), len(bad) - fails)
         if bad else "ok"))
sys.exit(1 if fails else 0)
EOF
