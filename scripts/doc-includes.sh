#!/bin/bash
# Rewrites every included file in docs/kubernetes.md from the file itself:
# a line "<!-- include: PATH -->" followed by a ```yaml block gets PATH's
# text as that block.  tests/test-deploy.sh fails while any block differs.
# Usage: scripts/doc-includes.sh [SRCDIR]
set -euo pipefail
srcdir=${1:-$(cd "$(dirname "$0")/.." && pwd)}
exec /usr/bin/python3 - "$srcdir" <<'PY'
import os, re, sys
src = sys.argv[1]
doc = os.path.join(src, "docs", "kubernetes.md")
pat = re.compile(r"(<!-- include: (\S+) -->\n```yaml\n)(.*?)(```\n)", re.S)
def body(m):
    with open(os.path.join(src, m.group(2))) as f:
        return m.group(1) + f.read() + m.group(4)
with open(doc) as f:
    text = f.read()
new = pat.sub(body, text)
if new != text:
    with open(doc, "w") as f:
        f.write(new)
    print("docs/kubernetes.md: included files rewritten")
PY
