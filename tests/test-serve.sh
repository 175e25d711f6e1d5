#!/bin/bash
# sealvol tenant serve: starts the tenant's nbdkit with the right flags,
# refuses TCP without TLS material, and the plugin itself refuses a
# plaintext TCP client unless allow-plaintext=true (audited).  The audit
# log records the session's events and never a key.
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires $PY -c 'import nbd'
requires certtool --version
export SEALVOL_PLUGIN

sv tenant create acme >/dev/null
sv volume create acme/db --size 1M >/dev/null
head -c 1M /dev/urandom > "$TMP/pattern"

# Usage errors and missing TLS material.
expect_fail 2 "exactly one of --listen" sv tenant serve acme
expect_fail 2 "bad --listen" sv tenant serve acme --listen 127.0.0.1
expect_fail 1 "has no TLS material" sv tenant serve acme --listen 127.0.0.1:1

# Over a Unix socket, plaintext is fine.
sv tenant serve acme --unix "$TMP/serve.sock" --foreground --io sync 2>"$TMP/serve.log" &
serve_pid=$!
cleanup_fn "end_process $serve_pid"
for _ in $(seq 50); do [ -S "$TMP/serve.sock" ] && break; sleep 0.1; done
nbdcopy "$TMP/pattern" "nbd+unix:///db?socket=$TMP/serve.sock"
nbdcopy "nbd+unix:///db?socket=$TMP/serve.sock" "$TMP/back"
cmp "$TMP/pattern" "$TMP/back" || fail "round trip through tenant serve"
kill $serve_pid; wait $serve_pid 2>/dev/null || true

# The plugin refuses plaintext TCP by itself (nbdkit started without TLS).
port=$(free_port)
nbdkit -f -i 127.0.0.1 -p "$port" "$SEALVOL_PLUGIN" root="$ROOT" tenant=acme 2>"$TMP/tcp.log" &
tcp_pid=$!
cleanup_fn "end_process $tcp_pid"
wait_port $port
if nbdcopy "$TMP/pattern" "nbd://127.0.0.1:$port/db" 2>/dev/null; then
    fail "plaintext TCP write was accepted"
fi
if nbdinfo --list "nbd://127.0.0.1:$port" 2>/dev/null | grep -q 'export="db"'; then
    fail "plaintext TCP client saw the export list"
fi
grep -q "refusing plaintext connection from 127.0.0.1" "$TMP/tcp.log" || fail "no refusal logged"
kill $tcp_pid; wait $tcp_pid 2>/dev/null || true
# ... and the volume is unchanged.
start_server acme io=$IO
nbdcopy "$(uri db)" "$TMP/back"
cmp "$TMP/pattern" "$TMP/back" || fail "refused client changed the volume"
stop_server

# allow-plaintext=true is the operator's explicit opt-in.
nbdkit -f -i 127.0.0.1 -p "$port" "$SEALVOL_PLUGIN" root="$ROOT" tenant=acme allow-plaintext=true 2>>"$TMP/tcp.log" &
tcp_pid=$!
cleanup_fn "end_process $tcp_pid"
wait_port $port
nbdcopy "nbd://127.0.0.1:$port/db" "$TMP/back" || fail "allow-plaintext=true did not allow"
kill $tcp_pid; wait $tcp_pid 2>/dev/null || true

# Client authentication over TCP.  By default tenant
# serve makes nbdkit check client certificates against the tenant's client
# CA: a client without a certificate can neither read nor write; with
# --allow-any-client it can (the operator's explicit choice); without
# ca-cert.pem to check against, the server does not start.
make_pki alice
mkdir "$P/nocert" "$P/no-ca"
cp "$P/server-ca/ca-cert.pem" "$P/nocert/"
cp "$P/server/server-cert.pem" "$P/server/server-key.pem" "$P/no-ca/"
# serve_tcp LOG OPTIONS...: tenant serve acme on a free port (TCP_PORT).
serve_tcp () {
    local log=$1
    shift
    TCP_PORT=$(free_port)
    sv tenant serve acme --listen "127.0.0.1:$TCP_PORT" --foreground --io sync "$@" 2>"$log" &
    serve_pid=$!
    cleanup_fn "end_process $serve_pid"
    wait_port "$TCP_PORT" || fail "tenant serve $*: no server: $(cat "$log")"
}
tls_uri () { echo "nbds://127.0.0.1:$TCP_PORT/db?tls-certificates=$P/$1"; }
for how in default --tls-verify-peer; do
    opts=(--tls-certificates "$P/server")
    [ $how = default ] || opts+=("$how")
    serve_tcp "$TMP/verify.log" "${opts[@]}"
    if nbdcopy "$TMP/pattern" "$(tls_uri nocert)" 2>/dev/null; then
        fail "tenant serve ($how): a client without a certificate wrote the volume"
    fi
    if nbdinfo --size "$(tls_uri nocert)" >/dev/null 2>&1; then
        fail "tenant serve ($how): a client without a certificate was served"
    fi
    nbdcopy "$(tls_uri acme)" "$TMP/back" || fail "tenant serve ($how): acme's client refused"
    cmp -s "$TMP/pattern" "$TMP/back" || fail "tenant serve ($how): volume changed"
    kill $serve_pid; wait $serve_pid 2>/dev/null || true
done
serve_tcp "$TMP/any.log" --tls-certificates "$P/server" --allow-any-client
[ "$(nbdinfo --size "$(tls_uri nocert)")" = 1048576 ] ||
    fail "--allow-any-client: a client without a certificate was refused"
kill $serve_pid; wait $serve_pid 2>/dev/null || true
expect_fail 1 "$P/no-ca has no ca-cert.pem" \
    sv tenant serve acme --listen 127.0.0.1:1 --tls-certificates "$P/no-ca"
expect_fail 2 "exclude each other" sv tenant serve acme --listen 127.0.0.1:1 \
    --tls-certificates "$P/server" --tls-verify-peer --allow-any-client
expect_fail 1 "has no TLS material" \
    sv tenant serve acme --unix "$TMP/x.sock" --tls-verify-peer
echo "ok: tenant serve checks client certificates over TCP by default"

# The audit log: JSON lines with the expected events, and no key bytes.
$PY - "$ROOT/acme/log/audit.log" "$ROOT/acme/tenant.key" <<'PYEOF' || fail "audit log"
import json, sys
lines = open(sys.argv[1]).read().splitlines()
events = [json.loads(l) for l in lines]
kinds = [e["event"] for e in events]
for want in ["tenant-create", "volume-create", "connection-open", "connection-close",
             "connection-refused"]:
    assert want in kinds, (want, kinds)
assert all(e["tenant"] == "acme" and "time" in e for e in events)
refused = [e for e in events if e["event"] == "connection-refused"]
assert any(e["reason"] == "plaintext over TCP" and e["peer"].startswith("127.0.0.1:") for e in refused), refused
opened = [e for e in events if e["event"] == "connection-open"]
assert any(e["volume"] == "db" and e["peer"] == "unix" for e in opened), opened
key = open(sys.argv[2]).read().strip()
text = open(sys.argv[1]).read()
assert key not in text and key[:16] not in text, "key material in the audit log"
print("audit events:", sorted(set(kinds)))
PYEOF
