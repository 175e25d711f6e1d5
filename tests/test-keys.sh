#!/bin/bash
# Key lifecycle: crypto-erase on delete, tenant key
# rotation, the per-key write limit; and crash safety of delete and
# rotate-key, killed at every step (crash points need --enable-test-hooks).
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires $PY -c 'import nbd'

hooks_built () {
    SEALVOL_FAULT_POINT=none sv --help >/dev/null
    # A hooks build exits 99 at a named point; probe with a real one.
    sv tenant create probe-hooks >/dev/null
    local st=0
    SEALVOL_FAULT_POINT=rotate:after-next-key sv tenant rotate-key probe-hooks >/dev/null 2>&1 || st=$?
    [ $st = 99 ]
}
head -c 1M /dev/urandom > "$TMP/data"

# ---- delete is a crypto-erase ----
sv tenant create acme >/dev/null
sv volume create acme/gone --size 1M >/dev/null
fill acme gone "$TMP/data"
vd=$(voldir acme gone)
dd if="$vd/superblock" of="$TMP/wrapped" bs=1 skip=216 count=104 status=none
cp "$vd/data" "$TMP/old-data"; cp "$vd/meta" "$TMP/old-meta"
sv volume delete acme/gone >/dev/null
expect_fail 1 "no such volume: acme/gone" sv volume info acme/gone
$PY - "$ROOT" "$TMP/wrapped" <<'PYEOF' || fail "wrapped key bytes survive under ROOT"
import os, sys
needle = open(sys.argv[2], "rb").read()
for d, _, files in os.walk(sys.argv[1]):
    for f in files:
        assert needle not in open(os.path.join(d, f), "rb").read(), os.path.join(d, f)
PYEOF
# The saved data and metadata, under any key that remains: unreadable.
sv volume create acme/gone --size 1M >/dev/null
cp "$TMP/old-data" "$vd/data"; cp "$TMP/old-meta" "$vd/meta"
start_server acme io=$IO
nbd_read_to "$(uri gone)" 0 4096 "$TMP/x" 2>/dev/null && fail "old data decrypted after delete"
stop_server
sv volume verify acme/gone >/dev/null && fail "old data verified after delete"
echo "delete: key gone, data undecryptable"

# ---- rotate-key ----
cipher_volumes acme/r- 1M
for c in $CIPHERS; do fill acme "r-$c" "$TMP/data"; done
cp "$ROOT/acme/tenant.key" "$TMP/old.key"
cp "$(voldir acme r-aes-256-gcm)/superblock" "$TMP/old-superblock"
sv tenant rotate-key acme | grep -q "rotated the key of tenant acme"
cmp -s "$TMP/old.key" "$ROOT/acme/tenant.key" && fail "key file unchanged by rotation"
[ ! -e "$ROOT/acme/tenant.key.next" ] || fail "next key left behind"
grep -rqF "$(cat "$TMP/old.key")" "$ROOT" && fail "old key still under ROOT"
for c in $CIPHERS; do
    served_equals acme "r-$c" "$TMP/data"
    sv volume info "acme/r-$c" --json | grep -q '"tenant_key_version": 2' || fail "r-$c not re-wrapped"
done
expect_fail 1 "wrong key for tenant acme" sv --kek "$TMP/old.key" volume info acme/r-aes-256-gcm
# The old wrapped key with the new tenant key: useless.
cp -a "$(voldir acme r-aes-256-gcm)" "$TMP/copy"
cp "$TMP/old-superblock" "$(voldir acme r-aes-256-gcm)/superblock"
expect_fail 1 "not loaded" sv volume info acme/r-aes-256-gcm
rm -rf "$(voldir acme r-aes-256-gcm)"; cp -a "$TMP/copy" "$(voldir acme r-aes-256-gcm)"
grep -q '"event":"key-rotation"' "$ROOT/acme/log/audit.log" || fail "rotation not audited"
echo "rotate-key: volumes re-wrapped, old key destroyed"

# Rotation never writes tenant.conf, the operator's file: comments, odd
# spacing and sections around [tenant] stay byte for byte, and its [caps]
# stay in force; the key version moves in tenant.state.
sv tenant create conf >/dev/null
sv volume create conf/v --size 1M >/dev/null
{ printf '; ops notes\n[caps]\n   volumes = 9   ; at most\n  # more later\n\n'
  cat "$ROOT/conf/tenant.conf"; printf '\n[notes]\nowner = ops   \n'; } > "$TMP/conf"
cp "$TMP/conf" "$ROOT/conf/tenant.conf"
sum=$(sha256sum <"$ROOT/conf/tenant.conf")
sv tenant rotate-key conf >/dev/null
sv tenant rotate-key conf >/dev/null
[ "$(sha256sum <"$ROOT/conf/tenant.conf")" = "$sum" ] || fail "rotate-key changed tenant.conf"
sv volume info conf/v --json | grep -q '"tenant_key_version": 3' || fail "rotation with [caps] above [tenant]"
grep -q '"key-version": 3' "$ROOT/conf/tenant.state" || fail "tenant.state does not record key version 3"
for i in 2 3 4 5 6 7 8 9; do sv volume create conf/v$i --size 1M >/dev/null; done
expect_fail 1 "volumes" sv volume create conf/v10 --size 1M
printf '%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$TMP/long.key"
expect_fail 1 "would exceed" sv tenant create longcmd --kek-command "cat $TMP/long.key #$(printf 'x%.0s' $(seq 200))"
[ ! -e "$ROOT/longcmd" ] || fail "a refused tenant create left a directory"

# ---- the per-key write limit ----
sv volume create acme/lim --size 1M --write-limit 64 >/dev/null
head -c 256K /dev/urandom > "$TMP/first"
start_server acme io=$IO
nbd_write_from "$(uri lim)" 0 "$TMP/first"            # 64 blocks: allowed
nbd_write_from "$(uri lim)" 262144 "$TMP/first" 2>/dev/null && fail "write past the key's limit accepted"
nbd_read_to "$(uri lim)" 0 262144 "$TMP/x" && cmp -s "$TMP/x" "$TMP/first" || fail "old data unreadable at the limit"
stop_server
grep -q "reached the write limit of its key (64 block writes); run 'sealvol volume rekey acme/lim'" "$TMP/nbdkit.log" \
    || fail "no clear message at the write limit"
sv volume info acme/lim --json | grep -q '"block_writes": 64' || fail "write count not kept"
start_server acme io=$IO                               # survives a restart
nbd_write_from "$(uri lim)" 0 "$TMP/first" 2>/dev/null && fail "limit forgotten after restart"
stop_server
echo "write limit: enforced and kept"

# ---- rekey: new volume key, data re-encrypted, limit reset ----
for c in $CIPHERS; do
    sv volume create "acme/k-$c" --size 1M --cipher "$c" --write-limit 600 >/dev/null
    fill acme "k-$c" "$TMP/data"                          # 256 block writes
    cp "$(voldir acme "k-$c")/superblock" "$TMP/pre-rekey-sb"
    sv volume rekey "acme/k-$c" | grep -q "has a new key"
    sv volume info "acme/k-$c" --json | $PY -c '
import json, sys
j = json.load(sys.stdin)
# the new key has encrypted the copy only (256 blocks), not 256 + 256
assert j["volume_key_version"] == 2 and j["block_writes"] == 256, j' || fail "k-$c: rekey not recorded"
    served_equals acme "k-$c" "$TMP/data"
    # The old superblock (old key) cannot read the re-encrypted data.
    cp "$TMP/pre-rekey-sb" "$(voldir acme "k-$c")/superblock"
    start_server acme io=$IO
    nbd_read_to "$(uri "k-$c")" 0 4096 "$TMP/x" 2>/dev/null && cmp -s "$TMP/x" <(head -c 4096 "$TMP/data") \
        && fail "k-$c: old key still decrypts"
    stop_server
done
ls -a "$ROOT/acme/volumes" | grep -q rekey && fail "rekey left files behind"
grep -q '"event":"volume-rekey"' "$ROOT/acme/log/audit.log" || fail "rekey not audited"
echo "rekey: re-encrypted under a new key"

# ---- crash safety: delete and rotate-key killed at every step ----
if ! hooks_built; then
    echo "SKIP crash points: built without --enable-test-hooks"; exit 0
fi
sv volume create acme/del --size 1M >/dev/null
fill acme del "$TMP/data"
st=0; SEALVOL_FAULT_POINT=delete:after-key-destroyed sv volume delete acme/del >/dev/null 2>&1 || st=$?
[ $st = 99 ] || fail "delete crash point not reached ($st)"
expect_fail 1 "bad magic" sv volume info acme/del      # never opens again
rm -rf "$(voldir acme del)"

for point in rekey:before-swap rekey:after-swap; do
    sv volume create "acme/kc" --size 1M >/dev/null
    fill acme kc "$TMP/data"
    st=0; SEALVOL_FAULT_POINT=$point sv volume rekey acme/kc >/dev/null 2>&1 || st=$?
    [ $st = 99 ] || fail "$point: crash point not reached ($st)"
    served_equals acme kc "$TMP/data"                 # old or new: either reads
    sv volume rekey acme/kc >/dev/null || fail "$point: rekey after a crash"
    served_equals acme kc "$TMP/data"
    ls -a "$ROOT/acme/volumes" | grep -q rekey && fail "$point: leftovers"
    sv volume delete acme/kc >/dev/null
    echo "rekey killed at $point: volume intact, rerun completes"
done

for point in rotate:after-next-key rotate:after-conf-begin rotate:after-rewrap \
             rotate:after-key-replaced rotate:after-conf-finish; do
    t=rot-${point#rotate:}
    sv tenant create "$t" >/dev/null
    cipher_volumes "$t/" 1M
    for c in $CIPHERS; do fill "$t" "$c" "$TMP/data"; done
    st=0; SEALVOL_FAULT_POINT=$point sv tenant rotate-key "$t" >/dev/null 2>&1 || st=$?
    [ $st = 99 ] || fail "$point: crash point not reached ($st)"
    # Each volume opens with exactly one of the (distinct) keys on disk.
    keys=$(cat "$ROOT/$t/tenant.key" "$ROOT/$t/tenant.key.next" 2>/dev/null | sort -u)
    for c in $CIPHERS; do
        n=0
        for k in $keys; do
            (umask 077; echo "$k" > "$TMP/only.key")
            sv --kek "$TMP/only.key" volume info "$t/$c" >/dev/null 2>&1 && n=$((n + 1))
        done
        [ $n = 1 ] || fail "$point: $t/$c opens with $n keys"
        served_equals "$t" "$c" "$TMP/data"
    done
    # Running it again finishes the rotation (after the last step the
    # rotation was complete, so a rerun is a new one, to version 3).
    want=2; [ "$point" = rotate:after-conf-finish ] && want=3
    sv tenant rotate-key "$t" >/dev/null || fail "$point: resuming the rotation failed"
    [ ! -e "$ROOT/$t/tenant.key.next" ] || fail "$point: next key left behind"
    for c in $CIPHERS; do
        sv volume info "$t/$c" --json | grep -q "\"tenant_key_version\": $want" || fail "$point: $t/$c not at version $want"
        served_equals "$t" "$c" "$TMP/data"
    done
    echo "rotate-key killed at $point: consistent, and finished on rerun"
done
