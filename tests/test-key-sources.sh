#!/bin/bash
# Tenant key sources: a key file (mode 0600 and owner checked, by the CLI
# and by nbdkit), a passphrase through Argon2id (parameters stored), and an
# external command whose output is the key (a KMS off the data device).
# Each: a wrong key is refused at once, a right one serves.
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires $PY -c 'import nbd'
head -c 1M /dev/urandom > "$TMP/data"

roundtrip () {   # roundtrip TENANT VOL [plugin params...]
    fill "$1" "$2" "$TMP/data" "${@:3}"
    served_equals "$1" "$2" "$TMP/data" "${@:3}"
}
nbdkit_refuses () {   # nbdkit_refuses MESSAGE TENANT [plugin params...]
    local msg=$1 t=$2; shift 2
    rm -f "$TMP/refuse.sock"
    if timeout 20 nbdkit -f -U "$TMP/refuse.sock" "$SEALVOL_PLUGIN" root="$ROOT" \
            tenant="$t" "$@" 2>"$TMP/refuse.log"; then
        fail "nbdkit started for $t ($*)"
    fi
    grep -q -- "$msg" "$TMP/refuse.log" || fail "nbdkit: no '$msg': $(cat "$TMP/refuse.log")"
}

# Key file: 0644 is refused by nbdkit too.
sv tenant create filet >/dev/null
sv volume create filet/v --size 1M >/dev/null
roundtrip filet v
chmod 644 "$ROOT/filet/tenant.key"
nbdkit_refuses "must be mode 0600" filet
nbdkit_refuses "must be mode 0600" filet kek=+"$ROOT/filet/tenant.key"
chmod 600 "$ROOT/filet/tenant.key"

# Passphrase (Argon2id): no key file anywhere; the choice in tenant.conf,
# the salt and limits in tenant.state (sealvol's, not the operator's).
echo "correct horse battery staple" > "$TMP/pass"
echo "wrong horse" > "$TMP/wrong"
sv tenant create passt --passphrase-file "$TMP/pass" >/dev/null
[ ! -e "$ROOT/passt/tenant.key" ] || fail "passphrase tenant has a key file"
grep -q "^kek-source = passphrase" "$ROOT/passt/tenant.conf" || fail "kek-source not stored"
grep -q '"salt": "[0-9a-f]\{32\}"' "$ROOT/passt/tenant.state" || fail "pwhash salt not stored"
grep -q '"memlimit": [1-9]' "$ROOT/passt/tenant.state" || fail "pwhash limits not stored"
expect_fail 1 "derives its key from a passphrase" sv volume create passt/v --size 1M
expect_fail 1 "wrong key for tenant passt" sv volume create passt/v --size 1M --passphrase-file "$TMP/wrong"
sv volume create passt/v --size 1M --passphrase-file "$TMP/pass" >/dev/null
roundtrip passt v kek-passphrase=+"$TMP/pass"
nbdkit_refuses "wrong key for tenant passt" passt kek-passphrase=+"$TMP/wrong"
nbdkit_refuses "derives its key from a passphrase" passt

# Command (a stand-in KMS that prints the key).
printf '%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$TMP/kms.key"
cat > "$TMP/kms" <<EOS
#!/bin/sh
cat "$TMP/kms.key"
EOS
chmod +x "$TMP/kms"
sv tenant create cmdt --kek-command "$TMP/kms" >/dev/null
[ ! -e "$ROOT/cmdt/tenant.key" ] || fail "command tenant has a key file"
grep -q "^kek-command = $TMP/kms" "$ROOT/cmdt/tenant.conf" || fail "kek-command not stored"
sv volume create cmdt/v --size 1M >/dev/null
roundtrip cmdt v
nbdkit_refuses "kek-command failed" cmdt kek-command=false
printf '%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$TMP/other.key"
nbdkit_refuses "wrong key for tenant cmdt" cmdt kek-command="cat $TMP/other.key"
expect_fail 1 "rotate-key works only on tenants whose key is a key file" sv tenant rotate-key cmdt
# set-service-type honours the passphrase; a kek-command with " ;" (which
# tenant.conf would cut) and a relative kek path for nbdkit are handled.
sv volume set-service-type passt/v piops --passphrase-file "$TMP/pass" | grep -q "now has service type piops"
expect_fail 1 "may not contain" sv tenant create semi --kek-command "cat $TMP/kms.key ; true"
[ ! -e "$ROOT/semi" ] || fail "a refused tenant create left a directory"
(cd "$ROOT/.." && roundtrip filet v kek=root/filet/tenant.key)
expect_fail 2 "give one of" sv tenant create both --kek-file "$TMP/x" --passphrase-file "$TMP/pass"
# Nothing secret reached the logs or the audit lines.
for f in "$TMP/nbdkit.log" "$TMP/refuse.log" "$ROOT"/*/log/audit.log; do
    grep -qF "$(cat "$TMP/kms.key")" "$f" && fail "key in $f"
    grep -qF "correct horse" "$f" && fail "passphrase in $f"
done
echo "key sources ok"
