#!/usr/bin/env bash
# The RBD store (docs/format.md, "The RBD store") on a throwaway one-OSD
# Ceph cluster: a tenant whose volumes live in pool rbd.
#
#   1  round trip, and the data image holds only ciphertext
#   2  a byte flipped in the data image's RADOS object, a tag byte in the
#      metadata image's -> EIO on that block only, verify names both,
#      the neighbours read
#   3  a byte flipped in the superblock object -> volume refused, one line
#   4  a wrong tenant key -> refused
#   5  one gateway at a time: gateway B cannot open a volume gateway A
#      serves, nor can verify, and both say who holds it; after A is
#      SIGKILLed the lock stays until 'volume break-lock' (blocklists A,
#      audited), then B serves every acknowledged write
#   6  delete: superblock, images gone
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"

requires nbdkit --version
requires "$PY" -c 'import nbd'
requires test -x "$SEALVOL"
requires test -f "$SEALVOL_PLUGIN"
SEALVOL_BACKEND=rbd
BS=4096

new_tenant acme >/dev/null
grep -q '^backend = rbd' "$ROOT/acme/tenant.conf" || fail "tenant.conf has no [store]"
sv volume create acme/g --size 4M >/dev/null
sv volume create acme/x --size 4M --cipher aes-256-xts >/dev/null
[ "$(sv volume list acme | awk 'NR > 1 { print $1 }' | xargs)" = "g x" ] ||
    fail "volume list: $(sv volume list acme)"
[ ! -e "$ROOT/acme/volumes/g" ] || fail "an rbd volume made a directory"

# ---- 1 ----
head -c 4M /dev/urandom >"$TMP/g.img"
fill acme g "$TMP/g.img"
served_equals acme g "$TMP/g.img"
rbd export --no-progress "$(rbd_spec acme g data)" "$TMP/g.data" >/dev/null 2>&1
"$PY" - "$TMP/g.img" "$TMP/g.data" <<'PYEOF' || fail "plaintext in the data image"
import sys
plain, stored = (open(p, "rb").read() for p in sys.argv[1:3])
assert len(stored) == len(plain)
for b in range(0, len(plain), 4096):
    assert plain[b:b + 64] not in stored, b
PYEOF

# ---- 2, 3 ----
store_flip acme g data $(( 5 * BS + 100 ))
store_flip acme g meta $(( $(meta_pair_offset 9) + 32 + 5 ))
start_server acme io=$IO
for b in 5 9; do
    nbd_read_to "$(uri g)" $(( b * BS )) $BS "$TMP/got" 2>/dev/null &&
        fail "block $b read after tampering"
done
nbd_read_to "$(uri g)" $(( 6 * BS )) $BS "$TMP/got" || fail "block 6 unreadable"
dd if="$TMP/g.img" bs=$BS skip=6 count=1 status=none | cmp -s - "$TMP/got" ||
    fail "block 6 wrong"
stop_server
grep -q "integrity failure: tenant acme volume g block 5" "$TMP/nbdkit.log" ||
    fail "no log line for block 5"
status=0
sv volume verify acme/g >"$TMP/verify" 2>&1 || status=$?
[ $status = 1 ] || fail "verify exited $status: $(cat "$TMP/verify")"
grep -qw 5 "$TMP/verify" && grep -qw 9 "$TMP/verify" ||
    fail "verify did not name blocks 5 and 9: $(cat "$TMP/verify")"
store_flip acme x superblock 200
expect_fail 1 "superblock failed its MAC check" sv volume info acme/x

# ---- 4 ----
head -c 32 /dev/urandom | xxd -p -c 64 >"$TMP/other.key"
chmod 600 "$TMP/other.key"
expect_fail 1 "wrong key for tenant acme" sv volume verify acme/g --kek "$TMP/other.key"

# ---- 5 ----
sv volume create acme/l --size 4M >/dev/null
head -c 1M /dev/urandom >"$TMP/l.img"
start_server acme io=$IO
A=$NBDKIT_PID
SOCK_A=$SOCK
nbd_write_and_hold "$(uri l)" 0 "$TMP/l.img"
nbdsh -u "$(uri l)" -c 'h.flush()'
start_gateway b acme io=$IO
B=$GW_PID
SOCK=$TMP/b.sock
nbd_read_to "$(uri l)" 0 $BS "$TMP/got" 2>/dev/null &&
    fail "gateway B opened a volume gateway A holds"
grep -q "volume acme/l is in use by another gateway: locked by client\.[0-9]* at .*pid $A" "$TMP/b.log" ||
    fail "B's refusal does not name A: $(grep acme/l "$TMP/b.log")"
expect_fail 1 "in use by another gateway: locked by client." sv volume verify acme/l
kill -KILL $A
wait $A 2>/dev/null || true
release_held
nbd_read_to "$(uri l)" 0 $BS "$TMP/got" 2>/dev/null &&
    fail "the lock of a dead gateway went by itself"
sv volume break-lock acme/l >"$TMP/out" || fail "break-lock failed"
grep -q "blocklisted and unlocked client\." "$TMP/out" || fail "break-lock: $(cat "$TMP/out")"
grep -q '"event":"volume-break-lock"' "$ROOT/acme/log/audit.log" ||
    fail "break-lock not in the audit log"
nbdcopy "$(uri l)" "$TMP/l.back" || fail "B cannot serve after break-lock"
cmp -s "$TMP/l.img" <(head -c 1M "$TMP/l.back") || fail "B lost acknowledged writes"
end_process $B || true
sv volume verify acme/l >/dev/null || fail "verify after the failover"
[ "$(sv volume break-lock acme/l)" = "volume acme/l was not locked" ] ||
    fail "break-lock of an unlocked volume"

# ---- 6 ----
sv volume delete acme/g >/dev/null
rbd ls "$RBD_POOL/sealvol.acme" | grep -q '^g\.' && fail "images left after delete"
rados -p "$RBD_POOL" -N sealvol.acme ls | grep -qx g.superblock &&
    fail "superblock left after delete"
sv volume list acme 2>/dev/null | grep -qw g && fail "deleted volume listed"
exit 0
