#!/bin/bash
# sealvol tenant kube-secret: the Secret it prints parses as YAML (Python
# yaml, and kubectl where installed) and works.  Without --with-secrets it
# holds no secret (no token made, no key read, only the public ca-cert);
# with it, the token authenticates at the control API for its tenant only,
# the ca-cert verifies the server, and the client certificate and key, as
# a libnbd certificate directory, list the tenant's volumes over TLS; a
# PSK tenant's Secret carries a PSK line that does the same.  Bad input
# is one line on stderr, exit 2 for usage, 1 otherwise, and leaves no
# token behind.
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires certtool --version
requires nbdkit --version
requires nbdinfo --version
requires curl --version
requires "$PY" -c 'import yaml'

make_pki node1
sv tenant create acme >/dev/null
sv tenant create other >/dev/null
sv tenant create pskt >/dev/null
sv volume create acme/db --size 1M >/dev/null
sv volume create other/theirs --size 1M >/dev/null
sv volume create pskt/blob --size 1M >/dev/null
# acme serves with certificates from its tls/ (client certificates signed
# by acme's CA), pskt with a PSK file in its tls/.
mkdir -p "$ROOT/acme/tls" "$ROOT/pskt/tls"
cp "$P"/server/*.pem "$ROOT/acme/tls/"
certs psk "$ROOT/pskt/tls/psk" node1
certs psk "$ROOT/pskt/tls/psk" node2

start_tcp acme --tls=require --tls-certificates="$ROOT/acme/tls" --tls-verify-peer -- \
    tenant=acme io="$IO"
start_tcp pskt --tls=require --tls-psk="$ROOT/pskt/tls/psk" -- tenant=pskt io="$IO"
start_api "$P/server"

ntokens () { sv tenant token list "$1" | tail -n +2 | wc -l; }

# kube NAME ARGS...: the Secret of 'tenant kube-secret ARGS' in
# $TMP/NAME.yaml (stderr in $TMP/NAME.err), checked to parse, and its
# stringData as JSON in $TMP/NAME.json.
kube () {
    local name=$1
    shift
    sv tenant kube-secret "$@" >"$TMP/$name.yaml" 2>"$TMP/$name.err" ||
        fail "kube-secret $*: $(cat "$TMP/$name.err")"
    $PY - "$TMP/$name.yaml" "$TMP/$name.json" <<'PYEOF' || fail "$name: not the Secret: $(cat "$TMP/$name.yaml")"
import json, sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1])))
assert len(docs) == 1, "one document"
s = docs[0]
assert s["apiVersion"] == "v1" and s["kind"] == "Secret" and s["type"] == "Opaque", s
assert set(s) == {"apiVersion", "kind", "metadata", "type", "stringData"}, s.keys()
m = s["metadata"]
assert m["labels"] == {"app.kubernetes.io/part-of": "sealvol"}, m
for k, v in list(m.items()) + list(m["annotations"].items()) + list(s["stringData"].items()):
    assert isinstance(v, (str, dict)), (k, v)
json.dump(s, open(sys.argv[2], "w"))
PYEOF
    if command -v kubectl >/dev/null; then
        kubectl annotate --local -o yaml -f "$TMP/$name.yaml" check=1 >"$TMP/$name.kubectl" 2>&1 ||
            fail "$name: kubectl cannot read it: $(cat "$TMP/$name.kubectl")"
    fi
}
# get NAME EXPR: a field of the Secret, as Python indexes it.
get () { $PY -c "import json; print(json.load(open('$TMP/$1.json'))$2)"; }
# keys NAME: its stringData keys, sorted, on one line.
keys () { $PY -c "import json; print(' '.join(sorted(json.load(open('$TMP/$1.json'))['stringData'])))"; }
# save NAME KEY FILE: one value into a file.
save () { $PY -c "import json; open('$3', 'w').write(json.load(open('$TMP/$1.json'))['stringData']['$2'])"; }
# The base64 lines of acme's client key (certtool writes a text dump of
# the key before its PEM block, which the Secret leaves out).
key_body () { sed -n '/-----BEGIN/,/-----END/p' "${1:-$P/acme/client-key.pem}" | grep -v -- -----; }
secret_lines () { { key_body; grep -v -- ----- "$P/server.psk" || true; } | grep -E '[A-Za-z0-9+/]{16}'; }

# ---- without --with-secrets: placeholders, nothing read, no token ----
before=$(ntokens acme)
# A client directory whose key cannot be read at all: it is not read.
mkdir -p "$TMP/nokey"
cp "$P/acme/ca-cert.pem" "$P/acme/client-cert.pem" "$TMP/nokey/"
mkdir "$TMP/nokey/client-key.pem"
kube plain acme --namespace team-a --client-dir "$TMP/nokey"
[ "$(ntokens acme)" = "$before" ] || fail "a token was made without --with-secrets"
[ ! -s "$TMP/plain.err" ] || fail "stderr without --with-secrets: $(cat "$TMP/plain.err")"
[ "$(keys plain)" = "access-token ca-cert client-cert client-key" ] || fail "keys: $(keys plain)"
for k in access-token client-cert client-key; do
    [ -z "$(get plain "['stringData']['$k']")" ] || fail "$k is filled in without --with-secrets"
done
grep -q "^  # .*client-key" "$TMP/plain.yaml" || fail "no comment says what goes in client-key"
save plain ca-cert "$TMP/plain-ca.pem"
cmp -s "$TMP/plain-ca.pem" "$P/server-ca/ca-cert.pem" || fail "ca-cert is not the server's CA"
[ "$(get plain "['metadata']['name']")" = sealvol-tenant ] || fail "name"
[ "$(get plain "['metadata']['namespace']")" = team-a ] || fail "namespace"
[ "$(get plain "['metadata']['annotations']['sealvol.org/tenant']")" = acme ] || fail "tenant annotation"
[[ $(get plain "['metadata']['annotations']['sealvol.org/tenant-id']") =~ ^[0-9a-f]{32}$ ]] ||
    fail "tenant-id annotation: $(cat "$TMP/plain.yaml")"
if grep -qF -f <(secret_lines) "$TMP/plain.yaml"; then fail "key material without --with-secrets"; fi
grep -q PRIVATE "$TMP/plain.yaml" && fail "a private key without --with-secrets"
# No client directory: no ca-cert either; a PSK tenant gets a psk key.
kube bare acme --namespace team-a
[ -z "$(get bare "['stringData']['ca-cert']")" ] || fail "ca-cert from nowhere"
kube pskplain pskt --namespace team-p
[ "$(keys pskplain)" = "access-token psk" ] || fail "PSK tenant's keys: $(keys pskplain)"
[ -z "$(get pskplain "['stringData']['psk']")" ] || fail "psk filled in without --with-secrets"
if grep -qF -f <(grep -oE '[0-9a-f]{32,}' "$ROOT/pskt/tls/psk") "$TMP/pskplain.yaml"; then
    fail "PSK without --with-secrets"
fi
# A namespace of digits stays a string; --name and --host.
kube digits acme --namespace 123 --name sealvol.acme --host alpha-1
[ "$(get digits "['metadata']['namespace']")" = 123 ] || fail "namespace 123"
[ "$(get digits "['metadata']['name']")" = sealvol.acme ] || fail "--name"
[ "$(keys digits)" = "access-token.alpha-1 ca-cert client-cert client-key" ] || fail "--host: $(keys digits)"

# ---- with --with-secrets ----
kube full acme --namespace team-a --client-dir "$P/acme" --with-secrets
[ "$(ntokens acme)" = $((before + 1)) ] || fail "--with-secrets made no token"
token=$(get full "['stringData']['access-token']")
[[ $token =~ ^acme~[0-9a-f]{12}\.[0-9a-f]{64}$ ]] || fail "token: $token"
[ "$(get full "['metadata']['annotations']['sealvol.org/access-token-id']")" = "${token%.*}" ] ||
    fail "access-token-id annotation"
[ "$(wc -l <"$TMP/full.err")" = 1 ] && grep -qF "${token%.*}" "$TMP/full.err" ||
    fail "stderr does not name the new token once: $(cat "$TMP/full.err")"
grep -qF "${token#*.}" "$TMP/full.err" "$ROOT"/acme/log/* "$ROOT/acme/tokens.json" &&
    fail "the token's secret is on stderr, in the audit log or stored"
grep -q '"token-create"' "$ROOT"/acme/log/* || fail "the new token is not audited"
mkdir -m 0700 "$TMP/fromsecret"
save full ca-cert "$TMP/fromsecret/ca-cert.pem"
save full client-cert "$TMP/fromsecret/client-cert.pem"
save full client-key "$TMP/fromsecret/client-key.pem"
cmp -s "$TMP/fromsecret/client-cert.pem" "$P/acme/client-cert.pem" || fail "client-cert differs"
diff <(key_body) <(key_body "$TMP/fromsecret/client-key.pem") >/dev/null || fail "client-key differs"

# The token: acme's volumes at the API, verified with the Secret's CA;
# nothing of another tenant's.
api () {
    curl -sS --cacert "$TMP/fromsecret/ca-cert.pem" -o "$TMP/body" -w '%{http_code}' \
        -H "Authorization: Bearer $1" "$API_URL$2"
}
[ "$(api "$token" /v1/volumes)" = 200 ] || fail "the token is refused: $(cat "$TMP/body")"
grep -q '"db"' "$TMP/body" || fail "the token does not list acme's volume: $(cat "$TMP/body")"
grep -q theirs "$TMP/body" && fail "the token lists another tenant's volume"
[ "$(api "$token" /v1/volumes/theirs)" = 404 ] || fail "another tenant's volume answered: $(cat "$TMP/body")"
other=$(sv tenant token create other)
[ "$(api "$other" /v1/volumes/db)" = 404 ] || fail "other's token reached acme's volume"
# The CA verifies the storage host; the certificate and key attach.
nbdinfo --list "nbds://127.0.0.1:${PORT[acme]}?tls-certificates=$TMP/fromsecret" >"$TMP/list" ||
    fail "the Secret's TLS material does not attach: $(tail -3 "$TMP/acme.log")"
grep -q 'export="db"' "$TMP/list" || fail "no volume db listed: $(cat "$TMP/list")"
# ... and the check is real: bravo's certificate is refused.
if nbdinfo --list "nbds://127.0.0.1:${PORT[acme]}?tls-certificates=$P/bravo" >/dev/null 2>&1; then
    fail "another CA's client certificate attached"
fi

# An existing token instead of a new one; only a live volumes token of
# this tenant.
sv tenant token create acme >"$TMP/acme.token"
n=$(ntokens acme)
kube given acme --namespace team-a --client-dir "$P/acme" --with-secrets --token-file "$TMP/acme.token"
[ "$(get given "['stringData']['access-token']")" = "$(cat "$TMP/acme.token")" ] || fail "--token-file not used"
[ "$(ntokens acme)" = "$n" ] && [ ! -s "$TMP/given.err" ] || fail "--token-file made a token"
echo "$other" >"$TMP/other.token"
sv tenant token create acme --scope admin >"$TMP/admin.token"
echo "${token%.*}.$(printf %064d 0)" >"$TMP/bad.token"
n=$(ntokens acme)
expect_fail 1 "a token of tenant other, not acme" \
    sv tenant kube-secret acme --namespace a --ca-cert "$P/server-ca/ca-cert.pem" --with-secrets --token-file "$TMP/other.token"
expect_fail 1 "a tenant's Secret gets a volumes token" \
    sv tenant kube-secret acme --namespace a --ca-cert "$P/server-ca/ca-cert.pem" --with-secrets --token-file "$TMP/admin.token"
expect_fail 1 "not a valid token" \
    sv tenant kube-secret acme --namespace a --ca-cert "$P/server-ca/ca-cert.pem" --with-secrets --token-file "$TMP/bad.token"

# A PSK tenant: the node's line, which lists the tenant's volumes.
kube psk pskt --namespace team-p --with-secrets --psk-user node2
[ "$(get psk "['stringData']['psk']")" = "$(grep '^node2:' "$ROOT/pskt/tls/psk")" ] || fail "psk is not node2's line"
save psk psk "$TMP/node2.psk"
nbdinfo --list "nbds://node2@127.0.0.1:${PORT[pskt]}?tls-psk-file=$TMP/node2.psk" >"$TMP/list" ||
    fail "the Secret's PSK does not attach: $(tail -3 "$TMP/pskt.log")"
grep -q 'export="blob"' "$TMP/list" || fail "no volume blob listed: $(cat "$TMP/list")"

# ---- bad input: one line, exit 2 (usage) or 1, no token made ----
n=$(ntokens acme)
expect_fail 1 "no such tenant: nobody" sv tenant kube-secret nobody --namespace a
expect_fail 2 "--namespace is required" sv tenant kube-secret acme
for ns in Team-A team_a -team team- "" "$(printf 'a%.0s' {1..64})" 'a.b' 'a
b'; do
    expect_fail 2 "bad --namespace" sv tenant kube-secret acme --namespace "$ns"
done
expect_fail 2 "bad --name" sv tenant kube-secret acme --namespace a --name Sealvol
expect_fail 2 "bad --name" sv tenant kube-secret acme --namespace a --name a..b
expect_fail 2 "bad --host" sv tenant kube-secret acme --namespace a --host 'a/b'
expect_fail 1 "cannot read $TMP/missing/ca-cert.pem" \
    sv tenant kube-secret acme --namespace a --client-dir "$TMP/missing"
expect_fail 1 "cannot read $TMP/missing/ca-cert.pem" \
    sv tenant kube-secret acme --namespace a --client-dir "$TMP/missing" --with-secrets
expect_fail 1 "client-key.pem: not a regular file" \
    sv tenant kube-secret acme --namespace a --client-dir "$TMP/nokey" --with-secrets
mkdir "$TMP/swapped"
cp "$P/acme/ca-cert.pem" "$TMP/swapped/"
cp "$P/acme/client-cert.pem" "$TMP/swapped/client-key.pem"
cp "$P/acme/client-key.pem" "$TMP/swapped/client-cert.pem"
expect_fail 1 "is not a certificate" \
    sv tenant kube-secret acme --namespace a --client-dir "$TMP/swapped" --with-secrets
expect_fail 2 "needs --client-dir DIR or --ca-cert FILE" \
    sv tenant kube-secret acme --namespace a --with-secrets
expect_fail 2 "needs --psk-user USER" sv tenant kube-secret pskt --namespace a --with-secrets
expect_fail 1 "has no line for PSK user node3" \
    sv tenant kube-secret pskt --namespace a --with-secrets --psk-user node3
expect_fail 2 "--token-file goes with --with-secrets" \
    sv tenant kube-secret acme --namespace a --token-file "$TMP/acme.token"
expect_fail 2 "exclude each other" \
    sv tenant kube-secret acme --namespace a --client-dir "$P/acme" --psk-user node1
expect_fail 2 "bad --expires" \
    sv tenant kube-secret acme --namespace a --client-dir "$P/acme" --with-secrets --expires soon
expect_fail 2 "--namespace goes with 'tenant kube-secret' only" \
    sv tenant token create acme --namespace a
[ "$(ntokens acme)" = "$n" ] || fail "a failed kube-secret left a token"
echo "ok: kube-secret's Secret parses, holds secrets only on request, and its credentials work"
