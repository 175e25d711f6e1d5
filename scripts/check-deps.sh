#!/bin/bash
# Dependency check: the folders keep their layering and no two modules use
# each other.  Usage: scripts/check-deps.sh [SRCDIR]
#
# A module is a .c file and the .h of the same name, counted as one node.
# Module A uses module B when A includes B's header or A calls a function
# (or reads a variable) that B's .c defines.  A folder uses another when
# one of its modules does.  Checked:
#   1. every folder uses only the folders LAYERS below allows it
#      (LAYERS is acyclic, so no folder cycle can pass either);
#   2. no module cycle: every strongly connected group of modules is
#      reported with the uses that close it.
# Prints what it checked; exits 1 with one line per violation.
# Generated code (*.pb-c.[ch]) and headers outside the tree are skipped.
set -euo pipefail
srcdir=${1:-$(cd "$(dirname "$0")/.." && pwd)}
exec /usr/bin/python3 - "$srcdir" <<'PY'
import os, re, sys

LOWER = {                       # folder: the folders it may use
    "common": [],
    "crypto": ["common"],
    "qos": ["common"],
    "server": ["common", "crypto", "qos"],
    "api": ["common", "crypto", "qos", "server"],
    "cli": ["common", "crypto", "qos", "server", "api"],
    "nbdkit-plugin": ["common", "crypto", "qos", "server"],
    "csi": ["common"],
    "node": ["common", "csi"],
    "controller": ["common", "csi"],
}
LAYERS = dict(LOWER, tests=list(LOWER), fuzz=list(LOWER))

src = sys.argv[1]
files = sorted(os.path.join(d, f) for d in LAYERS
               if os.path.isdir(os.path.join(src, d))
               for f in os.listdir(os.path.join(src, d))
               if f.endswith((".c", ".h")) and ".pb-c." not in f)
by_name = {}
for f in files:
    by_name.setdefault(os.path.basename(f), []).append(f)

def module(f):
    return f.rsplit(".", 1)[0]

def strip(text):
    """Comments, strings and characters blanked out; lines kept."""
    pat = r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\''
    return re.sub(pat, lambda m: "\n" * m.group(0).count("\n") + " ", text,
                  flags=re.S)

def top_level(code):
    """The code outside braces, bodies as {}, without # directives."""
    code = re.sub(r'^[ \t]*#(?:[^\n]*\\\n)*[^\n]*', "", code, flags=re.M)
    out, depth = [], 0
    for ch in code:
        if ch == "{":
            if depth == 0:
                out.append("{}")
            depth += 1
        elif ch == "}":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)

def definitions(code):
    """Names of the functions and variables a file defines for others."""
    top = re.sub(r'\)\s*\{\}', ') @;', top_level(code))   # @: a body
    names = []
    for decl in top.split(";"):
        words = re.findall(r'\w+', decl)
        if not words or {"static", "extern", "typedef"} & set(words):
            continue
        head = decl.split("=")[0]
        if decl.rstrip().endswith("@"):                  # function
            names += [n for n in re.findall(r'(\w+)\s*\(', head)
                      if n != "__attribute__"][:1]
        elif "(" not in head:                            # variable?
            m = re.search(r'(\w+|[*}\]])\s*\**\s*(\w+)\s*(\[[^]]*\]\s*)*$', head)
            if m and m.group(1) not in ("struct", "enum", "union"):
                names.append(m.group(2))
    return names

code = {f: strip(open(os.path.join(src, f)).read()) for f in files}
defined = {}                                  # name: the .c files defining it
for f in files:
    if f.endswith(".c"):
        for n in definitions(code[f]):
            defined.setdefault(n, []).append(f)
owner = {n: fs[0] for n, fs in defined.items() if len(fs) == 1}  # not main

def header(f, name):
    """The file an #include "name" finds: its own folder first."""
    here = os.path.join(os.path.dirname(f), name)
    found = [here] if here in files else by_name.get(os.path.basename(name), [])
    return found[0] if len(found) == 1 else None

includes = {f: [h for h in map(lambda n: header(f, n), re.findall(
                r'^[ \t]*#[ \t]*include[ \t]*"([^"]+)"',
                open(os.path.join(src, f)).read(), re.M)) if h]
            for f in files}

def seen(f):
    """f and every header it includes, directly or not."""
    todo, done = [f], set()
    while todo:
        g = todo.pop()
        if g not in done:
            done.add(g)
            todo += includes[g]
    return done

declared = {f: set(re.findall(r'\w+', top_level(code[f]))) for f in files}
uses = {}                              # (module, module): the first reason
for f in files:
    a = module(f)
    mine = {n for n, g in owner.items() if g == f}
    for h in includes[f]:           # not a header f implements a part of
        if module(h) != a and not mine & declared[h]:
            uses.setdefault((a, module(h)), f"{f} includes {h}")
    if not f.endswith(".c"):
        continue
    visible = set().union(*(declared[h] for h in seen(f) if h.endswith(".h")))
    for n in sorted(set(re.findall(r'\b[A-Za-z_]\w*\b', code[f])) & visible):
        if n in owner and module(owner[n]) != a:
            uses.setdefault((a, module(owner[n])), f"{f} uses {n} ({owner[n]})")

def folder(m):
    return m.split("/")[0]

def cycles(edges):
    """The strongly connected groups of more than one node (Tarjan)."""
    graph = {}
    for a, b in edges:
        graph.setdefault(a, []).append(b)
        graph.setdefault(b, [])
    index, low, stack, groups = {}, {}, [], []
    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while not group or group[-1] != v:
                group.append(stack.pop())
            groups.append(sorted(group))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(g for g in groups if len(g) > 1)

bad = [f"layering: {d}/ holds C files but has no place in LAYERS"
       for d in sorted(os.listdir(src)) if d not in LAYERS
       and os.path.isdir(os.path.join(src, d)) and not d.startswith(".")
       and not d.startswith("build") and any(f.endswith((".c", ".h"))
                                             for f in os.listdir(os.path.join(src, d)))]
across = {}                                      # (folder, folder): a reason
for (a, b), why in sorted(uses.items()):
    if folder(a) != folder(b):
        across.setdefault((folder(a), folder(b)), why)
        if folder(b) not in LAYERS[folder(a)]:
            bad.append(f"layering: {folder(a)}/ may not use {folder(b)}/: {why}")
for group in cycles(across):
    bad.append(f"folder cycle: {' <-> '.join(group)}")
for group in cycles(uses):
    inner = "; ".join(uses[a, b] for a in group for b in group if (a, b) in uses)
    bad.append(f"cycle: {' <-> '.join(group)}: {inner}")

print(f"check-deps: {len(files)} files in {len({folder(f) for f in files})} "
      f"folders, {len({module(f) for f in files})} modules, {len(uses)} uses "
      f"between modules, {len(across)} between folders")
for d in LAYERS:
    print(f"  {d}/ may use: {' '.join(LAYERS[d]) or '(nothing)'}")
for line in bad:
    print(line)
print(f"check-deps: {len(bad)} violation(s)" if bad else
      "check-deps: OK: the layering holds, no module cycles")
sys.exit(1 if bad else 0)
PY
