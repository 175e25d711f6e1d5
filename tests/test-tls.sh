#!/bin/bash
# NBD over TLS: only authenticated clients reach a tenant's volumes, and
# only that tenant's.
#
# Certificates come from scripts/sealvol-certs: a server CA signs the
# server's certificate (for 127.0.0.1 and localhost); tenants acme and
# bravo each have their own client CA.  The main server runs nbdkit
# --tls=require --tls-verify-peer with acme's client CA, on 127.0.0.1.
#
#  - round trip over nbds:// with certificate verification: nbdcopy both
#    ways, nbdinfo --size and --list (exactly acme's volumes), qemu-img
#    convert + compare; nbd-client -l lists exactly acme's volumes;
#  - plaintext: a plaintext client against --tls=require is refused and sees no
#    export list; with nbdkit not requiring TLS (--tls=off, --tls=on) the
#    plugin itself refuses plaintext TCP ("refusing plaintext
#    connection") unless allow-plaintext=true; a Unix socket may be
#    plaintext;
#  - certificates: the client refuses a server certificate from another CA, an
#    expired one, a not-yet-valid one, one for another host name, and a
#    server it cannot verify with its CA; the server refuses a client
#    certificate from bravo's CA, an expired one, and no certificate;
#  - PSK: with --tls-psk the right PSK works; a wrong key and an unknown
#    user are refused.
# Every refused client also tries to list exports and to write a pattern
# over the volume "guard"; at the end "guard" is read back over a Unix
# socket and must still hold what was written before, and the audit log
# must show that "guard" was never opened over TCP.
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires certtool --version
requires nbdkit --version
requires nbdinfo --version
requires nbdcopy --version
requires qemu-img --version
requires $PY -c 'import nbd'

# ------------------------------------------------------------------ helpers

# refused LABEL URI [noverify]: a libnbd client must be refused.  It first
# asks for the export list (which must fail), then connects and tries to
# overwrite the start of the volume with $TMP/evil.img (which must fail
# too; if it ever got through, the final read-back of "guard" also shows
# it).  The client's error goes to $TMP/refused.err.
refused () {
    local label=$1 status=0
    $PY - "$2" "$TMP/evil.img" >"$TMP/refused.err" 2>&1 <<'PYEOF' || status=$?
import sys, nbd
uri, evil = sys.argv[1], sys.argv[2]

def handle():
    h = nbd.NBD()
    h.set_uri_allow_local_file(True)
    return h

h = handle()
h.set_opt_mode(True)
names = []
try:
    h.connect_uri(uri)
    h.opt_list(lambda n, d: names.append(n))
    print("export list was served:", names)
    sys.exit(5)
except nbd.Error as e:
    print("list refused:", e.string)
try:
    h.opt_abort()
except nbd.Error:
    pass
del h

h = handle()
try:
    h.connect_uri(uri)
except nbd.Error as e:
    print("connect refused:", e.string)
    sys.exit(0)
try:
    h.pwrite(open(evil, "rb").read(), 0)
    h.flush()
    print("CONNECTED AND WROTE")
    sys.exit(3)
except nbd.Error as e:
    print("connected; write failed:", e.string)
    sys.exit(4)
PYEOF
    [ "$status" = 0 ] || fail "$label: not refused (status $status): $(tr '\n' ' ' <"$TMP/refused.err")"
    echo "ok: refused: $label ($(tail -1 "$TMP/refused.err" | cut -c1-150))"
}

# Assert the last refusal was the client's certificate check.
client_verify_failed () {
    grep -qi "certificate\|verif" "$TMP/refused.err" ||
        fail "$1: client error does not mention certificate verification: $(cat "$TMP/refused.err")"
}

# export_names LISTING: the export names in nbdinfo --list output, sorted.
export_names () {
    sed -n 's/^export="\(.*\)":*$/\1/p' "$1" | sort | tr '\n' ' ' | sed 's/ $//'
}

# ------------------------------------------------------------ certificates

# The server CA, $P/server, $P/acme, $P/bravo, server.psk and wrong.psk
# (alice with another key): see make_pki in functions.sh.
make_pki alice
certs ca "$P/rogue-ca" --cn "rogue CA"
SERVER_CA=$P/server-ca/ca-cert.pem
ACME_CA=$P/acme-ca/ca-cert.pem

# Server dirs: ca-cert.pem is acme's client CA (for --tls-verify-peer).
certs server "$P/rogue-ca" "$P/server-rogue" 127.0.0.1 localhost --client-ca "$ACME_CA"
certs server "$P/server-ca" "$P/server-expired" 127.0.0.1 localhost --client-ca "$ACME_CA" --expired
certs server "$P/server-ca" "$P/server-future" 127.0.0.1 localhost --client-ca "$ACME_CA" --not-yet-valid
certs server "$P/server-ca" "$P/server-wrongname" storage.example.invalid --client-ca "$ACME_CA"

# Client dirs: ca-cert.pem is the server CA.
certs client "$P/acme-ca" "$P/acme-expired" acme-client --server-ca "$SERVER_CA" --expired
# acme's own certificate, but trusting another CA for the server.
mkdir "$P/acme-othertrust" "$P/nocert"
cp "$P/acme/client-cert.pem" "$P/acme/client-key.pem" "$P/acme-othertrust/"
cp "$P/rogue-ca/ca-cert.pem" "$P/acme-othertrust/ca-cert.pem"
# qemu also checks its own client certificate against ca-cert.pem, so its
# directory holds both CAs.
mkdir "$P/acme-qemu"
cp "$P/acme/client-cert.pem" "$P/acme/client-key.pem" "$P/acme-qemu/"
cat "$SERVER_CA" "$ACME_CA" >"$P/acme-qemu/ca-cert.pem"
# Only the server CA, no client certificate.
cp "$SERVER_CA" "$P/nocert/ca-cert.pem"

# PSKs: the server knows alice; wrong.psk is alice with another key;
# mallory.psk is alice's key under an unknown user name.
sed 's/^alice:/mallory:/' "$P/server.psk" >"$P/mallory.psk"
chmod 0600 "$P/mallory.psk"
[ "$(stat -c %a "$P/server.psk")" = 600 ] || fail "PSK file is not mode 0600"
[ "$(stat -c %a "$P/server/server-key.pem")" = 600 ] || fail "server key is not mode 0600"
grep -qE '^alice:[0-9a-f]{64}$' "$P/server.psk" || fail "PSK file format"
cmp -s "$P/server.psk" "$P/wrong.psk" && fail "two PSKs are equal"

# ------------------------------------------------------------ volumes

sv tenant create acme >/dev/null
sv tenant create bravo >/dev/null
sv volume create acme/vol1 --size 16M >/dev/null
sv volume create acme/guard --size 1M >/dev/null
sv volume create acme/ctl --size 1M >/dev/null
sv volume create bravo/secret --size 1M >/dev/null
ACME_VOLS="ctl guard vol1"

head -c 1M /dev/urandom >"$TMP/guard.img"
head -c 1M /dev/zero | tr '\0' '\252' >"$TMP/evil.img"
head -c 16M /dev/urandom >"$TMP/rand1.img"
head -c 16M /dev/urandom >"$TMP/rand2.img"
head -c 1M /dev/urandom >"$TMP/small.img"

# The guard pattern goes in over a Unix socket (plaintext is fine there).
start_server acme io=$IO
nbd_write_from "$(uri guard)" 0 "$TMP/guard.img"
stop_server

# ------------------------------------------- main server: x509, verify-peer

start_tcp main --tls=require --tls-certificates="$P/server" --tls-verify-peer \
    -- tenant=acme io=$IO
M=${PORT[main]}
u_main () { echo "nbds://127.0.0.1:$M/$1?tls-certificates=$P/${2:-acme}"; }

[ "$(nbdinfo --size "$(u_main vol1)")" = 16777216 ] || fail "nbdinfo --size over TLS"
nbdinfo --list "nbds://127.0.0.1:$M?tls-certificates=$P/acme" >"$TMP/list" ||
    fail "nbdinfo --list over TLS"
[ "$(export_names "$TMP/list")" = "$ACME_VOLS" ] ||
    fail "nbdinfo --list over TLS shows '$(export_names "$TMP/list")', want '$ACME_VOLS'"
echo "ok: nbdinfo --size and --list over TLS (exactly: $ACME_VOLS)"

nbdcopy "$TMP/rand1.img" "$(u_main vol1)"
nbdcopy "$(u_main vol1)" "$TMP/out1.img"
cmp -s "$TMP/rand1.img" "$TMP/out1.img" || fail "nbdcopy over TLS: data differs"
echo "ok: nbdcopy in and out over TLS"

QOBJ="tls-creds-x509,id=tls0,dir=$P/acme-qemu,endpoint=client"
QNBD="driver=nbd,host=127.0.0.1,port=$M,export=vol1,tls-creds=tls0"
qemu-img convert -n --object "$QOBJ" -f raw "$TMP/rand2.img" \
    --target-image-opts "$QNBD" || fail "qemu-img convert over TLS"
qemu-img compare --object "$QOBJ" --image-opts \
    "driver=file,filename=$TMP/rand2.img" "$QNBD" >/dev/null ||
    fail "qemu-img compare over TLS"
nbdcopy "$(u_main vol1)" "$TMP/out2.img"
cmp -s "$TMP/rand2.img" "$TMP/out2.img" || fail "qemu-img wrote, nbdcopy read: data differs"
echo "ok: qemu-img convert and compare over TLS"

# The kernel client's tool lists exactly acme's volumes.
if command -v nbd-client >/dev/null 2>&1; then
    nbd_list () {
        nbd-client -l 127.0.0.1 "$M" "$@" >"$TMP/nbdc.out" 2>"$TMP/nbdc.err"
    }
    nbd_list -cacertfile "$SERVER_CA" -certfile "$P/acme/client-cert.pem" \
        -keyfile "$P/acme/client-key.pem" -tlshostname localhost ||
        fail "nbd-client -l over TLS failed: $(cat "$TMP/nbdc.err")"
    got=$(grep -v '^Negotiation' "$TMP/nbdc.out" | sed 's/[[:space:]].*//' | grep . | sort | tr '\n' ' ' | sed 's/ $//')
    [ "$got" = "$ACME_VOLS" ] ||
        fail "nbd-client -l lists '$got', want '$ACME_VOLS': $(cat "$TMP/nbdc.out")"
    echo "ok: nbd-client -l over TLS lists exactly: $got"
    # Without TLS, or with bravo's certificate, nothing is listed.
    for how in plain bravo; do
        if [ $how = plain ]; then
            nbd_list && st=0 || st=$?
        else
            nbd_list -cacertfile "$SERVER_CA" -certfile "$P/bravo/client-cert.pem" \
                -keyfile "$P/bravo/client-key.pem" -tlshostname localhost && st=0 || st=$?
        fi
        [ "$st" != 0 ] || fail "nbd-client -l ($how) succeeded: $(cat "$TMP/nbdc.out")"
        for v in $ACME_VOLS; do
            grep -qw "$v" "$TMP/nbdc.out" && fail "nbd-client -l ($how) listed $v"
        done
        echo "ok: nbd-client -l refused ($how)"
    done
else
    echo "$0: nbd-client not installed: skipping the nbd-client -l checks (scenario 22)"
fi

# A plaintext client against --tls=require.
if nbdinfo --list "nbd://127.0.0.1:$M" >"$TMP/list" 2>&1; then
    fail "nbdinfo --list without TLS succeeded: $(cat "$TMP/list")"
fi
grep -q '^export=' "$TMP/list" && fail "nbdinfo --list without TLS listed exports"
refused "plaintext client vs --tls=require" "nbd://127.0.0.1:$M/guard"

# Server side: client certificates acme's CA did not sign, an expired
# one, none at all.
# Each must also be the server's own refusal: a new handshake error in
# its log (matching PATTERN), written shortly after the client gave up.
server_refused () {
    local label=$1 pattern=$2 before=$3 n
    for _ in $(seq 50); do
        n=$(grep -c "error: gnutls_handshake: .*$pattern" "$TMP/main.log" || true)
        [ "$n" -gt "$before" ] && return 0
        sleep 0.1
    done
    fail "$label: the server logged no TLS handshake error matching '$pattern'"
}
hs_errors () { grep -c "error: gnutls_handshake:" "$TMP/main.log" || true; }
n=$(hs_errors)
refused "client cert from bravo's CA" "$(u_main guard bravo)"
server_refused "client cert from bravo's CA" "certificate" "$n"
n=$(hs_errors)
refused "expired client cert" "$(u_main guard acme-expired)"
server_refused "expired client cert" "certificate" "$n"
n=$(hs_errors)
refused "no client cert" "$(u_main guard nocert)"
server_refused "no client cert" "" "$n"
# Client side: acme's own certificate, but verifying the server with
# another CA.
refused "client verifies the server with another CA" "$(u_main guard acme-othertrust)"
client_verify_failed "another CA (client side)"
stop_tcp main

# -------------------------------------------------------- bad server certs
# These servers do not ask for client certificates, so the only thing
# that can refuse is the client's check of the server's certificate; the
# positive control (same server, verification off) shows each server works.
for kind in rogue expired future wrongname; do
    start_tcp "$kind" --tls=require --tls-certificates="$P/server-$kind" \
        -- tenant=acme io=$IO
    port=${PORT[$kind]}
    $PY - "nbds://127.0.0.1:$port/?tls-certificates=$P/acme" <<'PYEOF' ||
import sys, nbd
h = nbd.NBD(); h.set_uri_allow_local_file(True); h.set_tls_verify_peer(False)
h.set_opt_mode(True); h.connect_uri(sys.argv[1])
assert h.opt_list(lambda n, d: 0) >= 1
h.opt_abort()
PYEOF
        fail "server-$kind: control without verification failed"
    refused "server certificate: $kind" "nbds://127.0.0.1:$port/guard?tls-certificates=$P/acme"
    client_verify_failed "server certificate: $kind"
    stop_tcp "$kind"
done

# --------------------------------------------------------------------- PSK

start_tcp psk --tls=require --tls-psk="$P/server.psk" -- tenant=acme io=$IO
Q=${PORT[psk]}
u_psk () { echo "nbds://$1@127.0.0.1:$Q/$2?tls-psk-file=$P/$3"; }
[ "$(nbdinfo --size "$(u_psk alice ctl server.psk)")" = 1048576 ] || fail "PSK: nbdinfo --size"
nbdcopy "$TMP/small.img" "$(u_psk alice ctl server.psk)"
nbdcopy "$(u_psk alice ctl server.psk)" "$TMP/out.img"
cmp -s "$TMP/small.img" "$TMP/out.img" || fail "PSK: round trip differs"
echo "ok: PSK round trip"
refused "wrong PSK" "$(u_psk alice guard wrong.psk)"
refused "unknown PSK user" "$(u_psk mallory guard mallory.psk)"
refused "plaintext client vs PSK server" "nbd://127.0.0.1:$Q/guard"
stop_tcp psk

# ------------------------------------- plaintext refused by the plugin itself

# nbdkit not asked for TLS at all: the plugin refuses plaintext TCP.
start_tcp plain-off --tls=off -- tenant=acme io=$IO
refused "plaintext TCP, nbdkit --tls=off" "nbd://127.0.0.1:${PORT[plain-off]}/guard"
grep -q "refusing plaintext connection" "$TMP/plain-off.log" ||
    fail "--tls=off: log lacks 'refusing plaintext connection'"
stop_tcp plain-off

# nbdkit --tls=on (TLS offered, not required): plaintext refused by the
# plugin, a TLS client served.
start_tcp tls-on --tls=on --tls-certificates="$P/server" -- tenant=acme io=$IO
refused "plaintext TCP, nbdkit --tls=on" "nbd://127.0.0.1:${PORT[tls-on]}/guard"
grep -q "refusing plaintext connection" "$TMP/tls-on.log" ||
    fail "--tls=on: log lacks 'refusing plaintext connection'"
[ "$(nbdinfo --size "nbds://127.0.0.1:${PORT[tls-on]}/ctl?tls-certificates=$P/acme")" = 1048576 ] ||
    fail "--tls=on: TLS client not served"
echo "ok: --tls=on serves a TLS client"
stop_tcp tls-on

# allow-plaintext=true: the operator's explicit choice.
start_tcp plain-ok --tls=off -- tenant=acme io=$IO allow-plaintext=true
R=${PORT[plain-ok]}
head -c 1M /dev/urandom >"$TMP/small2.img"
nbdcopy "$TMP/small2.img" "nbd://127.0.0.1:$R/ctl"
nbdcopy "nbd://127.0.0.1:$R/ctl" "$TMP/out.img"
cmp -s "$TMP/small2.img" "$TMP/out.img" || fail "allow-plaintext=true: round trip differs"
nbdinfo --list "nbd://127.0.0.1:$R" >"$TMP/list" || fail "allow-plaintext=true: --list"
[ "$(export_names "$TMP/list")" = "$ACME_VOLS" ] || fail "allow-plaintext=true: --list shows $(export_names "$TMP/list")"
grep -q "refusing plaintext connection" "$TMP/plain-ok.log" &&
    fail "allow-plaintext=true: a connection was refused"
echo "ok: allow-plaintext=true serves plaintext TCP"
stop_tcp plain-ok

# ------------------------------------------- nothing flowed

# Plaintext over a Unix socket is served; "guard" still holds its pattern.
start_server acme io=$IO
nbd_read_to "$(uri guard)" 0 1048576 "$TMP/guard.out" || fail "reading guard over Unix socket"
cmp -s "$TMP/guard.img" "$TMP/guard.out" ||
    fail "guard changed: a refused client's write got through"
nbd_read_to "$(uri ctl)" 0 1048576 "$TMP/ctl.out" || fail "reading ctl over Unix socket"
cmp -s "$TMP/small2.img" "$TMP/ctl.out" || fail "ctl differs over Unix socket"
grep -q "refusing plaintext connection" "$TMP/nbdkit.log" &&
    fail "plaintext over a Unix socket was refused"
stop_server
sv volume verify acme/guard >/dev/null || fail "verify guard"
sv volume verify acme/vol1 >/dev/null || fail "verify vol1"
echo "ok: Unix socket plaintext served; guard unchanged by every refused client"

# The audit log agrees: no refused client opened guard; TLS and
# plaintext opens and the plaintext refusals are all recorded.
$PY - "$ROOT/acme/log/audit.log" <<'PYEOF' || fail "audit log"
import json, sys
events = []
for n, line in enumerate(open(sys.argv[1]), 1):
    try:
        e = json.loads(line)
    except ValueError:
        sys.exit("audit.log line %d is not JSON: %r" % (n, line))
    assert isinstance(e, dict) and "event" in e, "line %d: no event" % n
    events.append(e)

def tcp(e):
    return str(e.get("peer", "")).startswith("127.0.0.1:")

def have(what, pred):
    if not any(pred(e) for e in events):
        sys.exit("audit.log has no %s event; events: %s"
                 % (what, sorted({e["event"] for e in events})))

# nbdinfo --list opens every export in turn to show its size, so the two
# listings that were allowed (TLS on the main server, allow-plaintext)
# opened guard too, from a peer that also opened ctl and vol1.  Nothing
# else may have opened guard over TCP.
opens = [e for e in events if e["event"] == "connection-open" and tcp(e)]
guard = [e for e in opens if e.get("volume") == "guard"]
def sweep(e):
    vols = {o.get("volume") for o in opens if o["peer"] == e["peer"]}
    return {"ctl", "guard", "vol1"} <= vols
if len(guard) != 2 or not all(sweep(e) for e in guard) \
   or sorted(e.get("tls") for e in guard) != [False, True]:
    sys.exit("guard was opened over TCP other than by the two listings: %s" % guard)
have("connection-open of vol1 over TCP with TLS",
     lambda e: e["event"] == "connection-open" and e.get("volume") == "vol1"
     and tcp(e) and e.get("tls") is True)
have("connection-open of ctl over TCP without TLS (allow-plaintext)",
     lambda e: e["event"] == "connection-open" and e.get("volume") == "ctl"
     and tcp(e) and e.get("tls") is False)
have("connection-open of guard over the Unix socket",
     lambda e: e["event"] == "connection-open" and e.get("volume") == "guard"
     and not tcp(e))
have("connection-refused of plaintext TCP with a reason",
     lambda e: e["event"] == "connection-refused" and tcp(e)
     and e.get("tls") is False and e.get("reason"))
have("connection-close", lambda e: e["event"] == "connection-close")
print("ok: audit log: %d events; guard opened over TCP only by the two allowed listings" % len(events))
PYEOF
echo "$0: all TLS checks passed"
