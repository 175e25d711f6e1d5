#!/bin/bash
# docs/api.yaml documents exactly the routes the server answers: the route
# table ('sealvol api serve --print-routes') against the yaml's paths and
# their methods, both ways.
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires $PY -c 'import yaml'

"$SEALVOL" api serve --print-routes | sort >"$TMP/server"
[ -s "$TMP/server" ] || fail "--print-routes printed nothing"
$PY - "$top_srcdir/docs/api.yaml" <<'PY' | sort >"$TMP/doc"
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
for path, ops in doc["paths"].items():
    for method in ops:
        if method in ("get", "put", "post", "patch", "delete", "head", "options"):
            print(method.upper(), path)
PY
diff "$TMP/server" "$TMP/doc" >"$TMP/diff" ||
    fail "routes: < served only, > in docs/api.yaml only: $(grep '^[<>]' "$TMP/diff" | tr '\n' ' ')"
echo "ok: $(wc -l <"$TMP/server") routes, the same in docs/api.yaml"
