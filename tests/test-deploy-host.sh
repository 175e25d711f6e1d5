#!/bin/bash
# deploy/host: install.sh into a DESTDIR twice leaves the same tree, with
# the modes and owners it promises, keeps what the operator edited, puts
# right a mode changed since, and touches nothing outside DESTDIR; its
# systemd units pass 'systemd-analyze verify'.  onboard-tenant.sh then
# takes on a certificate tenant and a PSK tenant in that tree: the
# Secrets it prints parse, and their credentials reach the volumes of the
# servers 'sealvol tenant serve' starts from what it laid out.  Running
# it again makes only a new token.
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires test "$(id -u)" = 0
requires certtool --version
requires nbdkit --version
requires nbdinfo --version
requires "$PY" -c 'import yaml'
requires getent group daemon

HOST=$top_srcdir/deploy/host
DEST=$TMP/dest
# The units run PREFIX/bin/sealvol, which must exist for systemd-analyze:
# a real directory, as a prefix is, with the sealvol just built.
PREFIX=$TMP/prefix
mkdir -p "$PREFIX/bin"
ln -s "$SEALVOL" "$PREFIX/bin/sealvol"

# Outside DESTDIR: the host's accounts and units, before and after.
outside () {
    getent passwd sealvol || true
    getent group sealvol || true
    ls /etc/systemd/system/sealvol* /etc/default/sealvol* /var/lib/sealvol 2>/dev/null || true
}
outside >"$TMP/outside.before"
tree () { (cd "$DEST" && find . -printf '%p %m %u %g %s\n' | sort); }
install_host () {
    DESTDIR=$DEST SEALVOL_USER=daemon bash "$HOST/install.sh" --prefix "$PREFIX" >"$TMP/install.out" 2>&1 ||
        fail "install.sh: $(cat "$TMP/install.out")"
}

install_host
tree >"$TMP/tree1"
install_host
tree >"$TMP/tree2"
diff "$TMP/tree1" "$TMP/tree2" >/dev/null || fail "a second run changed: $(diff "$TMP/tree1" "$TMP/tree2")"
diff "$TMP/outside.before" <(outside) >/dev/null || fail "install.sh changed the host outside DESTDIR"

# mode_is PATH MODE OWNER GROUP
mode_is () {
    [ "$(stat -c '%a %U %G' "$DEST$1")" = "$2 $3 $4" ] ||
        fail "$1 is $(stat -c '%a %U %G' "$DEST$1"), not $2 $3 $4"
}
mode_is /etc/sealvol 750 root daemon
mode_is /etc/sealvol/pki 700 root root
mode_is /etc/sealvol/api-tls 700 root root
mode_is /var/lib/sealvol 711 root root
mode_is /etc/systemd/system/sealvol-api.service 644 root root
mode_is /etc/systemd/system/sealvol@.service 644 root root
mode_is /etc/default/sealvol-api 644 root root
mode_is "$PREFIX/lib/sealvol/onboard-tenant.sh" 755 root root
mode_is "$PREFIX/lib/sealvol/sealvol-certs" 755 root root
grep -q "^ExecStart=$PREFIX/bin/sealvol .*tenant serve %i .*--user sealvol-%i" \
    "$DEST/etc/systemd/system/sealvol@.service" || fail "sealvol@.service: ExecStart"
grep -q "^ExecStart=$PREFIX/bin/sealvol .*api serve" \
    "$DEST/etc/systemd/system/sealvol-api.service" || fail "sealvol-api.service: ExecStart"

# What the operator edited stays; a mode changed since is put right.
echo "LISTEN=192.0.2.1:8443" >"$DEST/etc/default/sealvol-api"
chmod 0777 "$DEST/etc/sealvol"
install_host
[ "$(cat "$DEST/etc/default/sealvol-api")" = "LISTEN=192.0.2.1:8443" ] || fail "install.sh overwrote /etc/default/sealvol-api"
mode_is /etc/sealvol 750 root daemon
expect_fail 2 "unknown argument" bash "$HOST/install.sh" --prefx /usr
expect_fail 2 "absolute path" bash "$HOST/install.sh" --root var/lib/sealvol

if command -v systemd-analyze >/dev/null; then
    mkdir "$TMP/units"
    cp "$DEST/etc/systemd/system/sealvol-api.service" "$DEST/etc/systemd/system/sealvol@.service" "$TMP/units/"
    ln -s sealvol@.service "$TMP/units/sealvol@acme.service"
    for u in sealvol-api.service sealvol@.service sealvol@acme.service; do
        systemd-analyze verify "$TMP/units/$u" >"$TMP/verify" 2>&1 ||
            fail "systemd-analyze verify $u: $(cat "$TMP/verify")"
        [ ! -s "$TMP/verify" ] || fail "systemd-analyze verify $u: $(cat "$TMP/verify")"
    done
else
    echo "$0: systemd-analyze is missing: the units are not verified"
fi

# ---- onboarding, into the installed tree ----
ROOT=$DEST/var/lib/sealvol
ONBOARD=$DEST$PREFIX/lib/sealvol/onboard-tenant.sh
nbd_port=$(free_port)
psk_port=$(free_port)
onboard () { "$ONBOARD" "$@" --root "$ROOT" --etc "$DEST/etc" --no-user; }

expect_fail 2 "bad --namespace" onboard acme Team-A --attach "127.0.0.1:$nbd_port"
[ ! -e "$ROOT/acme" ] || fail "a bad namespace still made the tenant"
expect_fail 2 "--attach HOST:PORT is required" onboard acme team-a

onboard acme team-a --attach "127.0.0.1:$nbd_port" --host alpha >"$TMP/acme.yaml" 2>"$TMP/onboard.err" ||
    fail "onboard-tenant.sh: $(cat "$TMP/onboard.err")"
grep -q "^\[serve\]" "$ROOT/acme/tenant.conf" && grep -q "^attach = 127.0.0.1:$nbd_port$" "$ROOT/acme/tenant.conf" ||
    fail "tenant.conf has no [serve] attach: $(cat "$ROOT/acme/tenant.conf")"
grep -qx "LISTEN=0.0.0.0:$nbd_port" "$DEST/etc/default/sealvol-acme" || fail "no LISTEN in /etc/default/sealvol-acme"
mode_is /etc/sealvol/pki 700 root root
[ "$(stat -c %a "$DEST/etc/sealvol/pki/server-ca/ca-key.pem")" = 600 ] || fail "the CA key is not 0600"
cert_sum=$(md5sum <"$ROOT/acme/tls/server-cert.pem")

# secret_files NAME: the keys of the Secret $TMP/NAME.yaml (all filled
# in), its node credentials as files in the directory $TMP/NAME.
secret_files () {
    $PY - "$TMP/$1.yaml" "$TMP/$1" <<'PYEOF' || fail "$1: not a Secret: $(cat "$TMP/$1.yaml")"
import os, sys, yaml
(s,) = list(yaml.safe_load_all(open(sys.argv[1])))
assert s["kind"] == "Secret", s
os.makedirs(sys.argv[2], mode=0o700)
names = {"ca-cert": "ca-cert.pem", "client-cert": "client-cert.pem",
         "client-key": "client-key.pem", "psk": "psk"}
for k, v in s["stringData"].items():
    assert v, "empty " + k
    open(os.path.join(sys.argv[2], names.get(k, k)), "w").write(v)
print(" ".join(sorted(s["stringData"])))
PYEOF
}
[ "$(secret_files acme)" = "access-token.alpha ca-cert client-cert client-key" ] ||
    fail "acme's Secret keys: $(cat "$TMP/acme.yaml")"

# serve TENANT PORT: 'tenant serve' from the laid-out tree, one volume
# VOL (the tenant's name with "-vol") made first; stopped at exit.
serve () {
    sv volume create "$1/$1-vol" --size 1M >/dev/null
    "$SEALVOL" --root "$ROOT" tenant serve "$1" --listen "127.0.0.1:$2" --foreground 2>"$TMP/serve-$1.log" &
    cleanup_fn "end_process $!"
    wait_port "$2" || fail "tenant serve $1: $(cat "$TMP/serve-$1.log")"
}
# lists TENANT URI: URI (the Secret's credentials) lists the tenant's volume.
lists () {
    nbdinfo --list "$2" >"$TMP/list" || fail "$1's Secret does not attach: $(cat "$TMP/serve-$1.log")"
    grep -q "export=\"$1-vol\"" "$TMP/list" || fail "$1: no volume listed: $(cat "$TMP/list")"
}

# The tenant serves from what onboarding laid out; the Secret reaches it.
serve acme "$nbd_port"
lists acme "nbds://127.0.0.1:$nbd_port?tls-certificates=$TMP/acme"

# Again: the same certificate, one more token, a Secret that works.
onboard acme team-a --attach "127.0.0.1:$nbd_port" --host alpha >"$TMP/acme2.yaml" 2>"$TMP/onboard.err" ||
    fail "onboard-tenant.sh again: $(cat "$TMP/onboard.err")"
[ "$(md5sum <"$ROOT/acme/tls/server-cert.pem")" = "$cert_sum" ] || fail "a second run made a new server certificate"
[ "$(sv tenant token list acme | tail -n +2 | wc -l)" = 2 ] || fail "tokens after two runs: $(sv tenant token list acme)"
[ "$(grep -c '^\[serve\]' "$ROOT/acme/tenant.conf")" = 1 ] || fail "a second [serve] section"
secret_files acme2 >/dev/null
lists acme "nbds://127.0.0.1:$nbd_port?tls-certificates=$TMP/acme2"

# A PSK tenant.
onboard bravo team-b --attach "127.0.0.1:$psk_port" --psk >"$TMP/bravo.yaml" 2>"$TMP/onboard.err" ||
    fail "onboard-tenant.sh --psk: $(cat "$TMP/onboard.err")"
[ "$(secret_files bravo)" = "access-token psk" ] || fail "bravo's Secret keys: $(cat "$TMP/bravo.yaml")"
serve bravo "$psk_port"
lists bravo "nbds://bravo-nodes@127.0.0.1:$psk_port?tls-psk-file=$TMP/bravo/psk"
diff "$TMP/outside.before" <(outside) >/dev/null || fail "onboarding changed the host outside DESTDIR"
echo "ok: install.sh is idempotent, its units verify, and onboarding gives working Secrets"
