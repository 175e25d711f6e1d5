#!/bin/bash
# The tenant's files:
# - tenant.conf is the operator's: no command ever changes a byte of it;
#   sealvol's state lives in tenant.state.
# - A root made by sealvol 9153749 (state in tenant.conf) opens, migrates
#   once (a crash in the middle included), rotates and serves.
# - A tenant's serving user cannot make root run a command: a key-source
#   setting in a file it can write is refused, and "tenant serve --user"
#   leaves it only what its server writes.
# - kek-command runs without a shell, in a clean environment.
# - A key file belongs to one tenant.
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires $PY -c 'import nbd'
requires setpriv --version
[ "$(id -u)" = 0 ] || { echo "$0: SKIP: needs root (chown, another user)"; exit 77; }
export SEALVOL_PLUGIN
DATA=$top_srcdir/tests/data
# The serving user of these tests; it must reach ROOT.
SERVING=nobody
chmod 755 "$TMP"
as_serving () { setpriv --reuid="$SERVING" --regid=nogroup --clear-groups -- "$@"; }

# sha256 of a volume's whole contents, read over NBD.
volume_sum () {
    local tenant=$1 volume=$2
    shift 2
    start_server "$tenant" "$@"
    nbdcopy "$(uri "$volume")" - | sha256sum | cut -d' ' -f1
    stop_server
}

# ---- a root made by the previous version: migrate, crash, rotate, serve ----
tar -xzf "$DATA/root-9153749.tar.gz" -C "$TMP"
ROOT=$TMP/root
printf 'sealvol-1 phrase\n' > "$TMP/pw"
conf_sum=$(sha256sum <"$ROOT/legacy/tenant.conf")
legacy_id=$(sed -n 's/^id = //p' "$ROOT/legacy/tenant.conf")
[ -n "$legacy_id" ] && [ ! -e "$ROOT/legacy/tenant.state" ] || fail "fixture is not an old root"

# Killed before the state file is renamed into place, or before it is
# written: the next open migrates as if nothing had happened.
for point in replace:before-rename tenant:before-migrate; do
    status=0
    SEALVOL_FAULT_POINT=$point sv volume list legacy >/dev/null 2>&1 || status=$?
    [ "$status" = 99 ] || fail "fault point $point not reached (exit $status)"
    [ ! -e "$ROOT/legacy/tenant.state" ] || fail "a migration killed at $point left tenant.state"
done
sv volume list legacy | grep -q '^gcm ' || fail "old root does not list after the crashes"
grep -q "\"id\": \"$legacy_id\"" "$ROOT/legacy/tenant.state" || fail "migration lost the tenant id"
grep -q '"key-version": 1' "$ROOT/legacy/tenant.state" || fail "migration lost the key version"
[ "$(sha256sum <"$ROOT/legacy/tenant.conf")" = "$conf_sum" ] || fail "migration changed tenant.conf"
# Data written by the old version reads back; its [caps] (volumes = 4) hold.
while read -r sum name; do
    case $name in
        gcm.img) [ "$(volume_sum legacy gcm)" = "$sum" ] || fail "old gcm volume reads wrong" ;;
        xts.img) [ "$(volume_sum legacy xts)" = "$sum" ] || fail "old xts volume reads wrong" ;;
        pv.img)  [ "$(volume_sum pass v kek-passphrase=+"$TMP/pw")" = "$sum" ] \
                     || fail "old passphrase volume reads wrong" ;;
    esac
done <"$DATA/root-9153749.sha256"
grep -q '"memlimit": [1-9]' "$ROOT/pass/tenant.state" || fail "passphrase parameters not migrated"
sv tenant rotate-key legacy >/dev/null
sv tenant rotate-key legacy >/dev/null
[ "$(sha256sum <"$ROOT/legacy/tenant.conf")" = "$conf_sum" ] || fail "rotate-key changed tenant.conf"
grep -q '"key-version": 3' "$ROOT/legacy/tenant.state" || fail "rotation not recorded in tenant.state"
# The stale "key-version = 1" left in the old tenant.conf is ignored.
sv volume info legacy/gcm --json | grep -q '"tenant_key_version": 3' || fail "old root not rotated"
[ "$(volume_sum legacy gcm)" = "$(sed -n 's/ *gcm.img$//p' "$DATA/root-9153749.sha256")" ] \
    || fail "old volume reads wrong after rotation"
sv volume create legacy/c --size 1M >/dev/null
sv volume create legacy/d --size 1M >/dev/null
expect_fail 1 "volumes" sv volume create legacy/e --size 1M
echo "old root: migrated (after crashes), rotated twice, tenant.conf unchanged, data intact"

# A damaged or newer tenant.state is refused with one line, not guessed at.
cp "$ROOT/legacy/tenant.state" "$TMP/state"
sed -i 's/"version": 1/"version": 2/' "$ROOT/legacy/tenant.state"
expect_fail 1 "bad tenant state (version" sv volume list legacy
printf '{"format": "sealvol-tenant-state", "version": 1' > "$ROOT/legacy/tenant.state"
expect_fail 1 "bad tenant state" sv volume list legacy
cp "$TMP/state" "$ROOT/legacy/tenant.state"

# ---- the serving user cannot make root run a command ----
ROOT=$TMP/root2
sv tenant create c >/dev/null
sv volume create c/v --size 1M >/dev/null
# The layout the docs used to give: the tenant directory the serving user's.
chown -R "$SERVING:" "$ROOT/c"
as_serving sh -c "cat >'$ROOT/c/tenant.conf'" <<EOF
[tenant]
kek-command = sh -c "id >$TMP/pwned; cat $ROOT/c/tenant.key"
kek-command-shell = true
EOF
expect_fail 1 "refusing the key source" sv volume list c
expect_fail 1 "refusing the key source" sv tenant serve c --unix "$TMP/c.sock" --user "$SERVING"
[ ! -e "$TMP/pwned" ] || fail "root ran the serving user's kek-command"
# Replacing the file (the directory was the user's) is refused the same.
as_serving sh -c "printf '[tenant]\nkek-command = /usr/bin/touch $TMP/pwned2\n' >'$ROOT/c/.new' && mv '$ROOT/c/.new' '$ROOT/c/tenant.conf'"
chown root: "$ROOT/c/tenant.conf"
expect_fail 1 "belongs to uid" sv volume list c
[ ! -e "$TMP/pwned2" ] || fail "root ran a kek-command from a directory the serving user owns"
echo "break 1: key-source settings the serving user could write are refused"

# "tenant serve --user" arranges an old layout: the directory, tenant.conf
# and tenant.state become root's; volumes/, log/ and the key the user's.
sv tenant create d >/dev/null
sv volume create d/v --size 1M >/dev/null
chown -R "$SERVING:" "$ROOT/d"
# Not through sv (a function): in the background that would be a subshell,
# and $! its pid, not the one the CLI execs nbdkit in.
"$SEALVOL" --root "$ROOT" tenant serve d --unix "$TMP/d.sock" --user "$SERVING" --foreground 2>"$TMP/d.log" &
serve_pid=$!
cleanup_fn "end_process $serve_pid"
for _ in $(seq 50); do [ -S "$TMP/d.sock" ] && break; sleep 0.1; done
head -c 1M /dev/urandom > "$TMP/pattern"
nbdcopy "$TMP/pattern" "nbd+unix:///v?socket=$TMP/d.sock" || fail "write as the serving user: $(tail -2 "$TMP/d.log")"
# A volume root creates while it is served is the serving user's at once.
sv volume create d/w --size 1M >/dev/null
nbdcopy "$TMP/pattern" "nbd+unix:///w?socket=$TMP/d.sock" || fail "a volume root created is not servable"
kill $serve_pid; wait $serve_pid 2>/dev/null || true
uid=$(id -u "$SERVING")
[ "$(stat -c %u:%a "$ROOT/d")" = "0:711" ] || fail "tenant dir is $(stat -c %u:%a "$ROOT/d")"
[ "$(stat -c %u "$ROOT/d/tenant.conf" "$ROOT/d/tenant.state" | sort -u)" = 0 ] || fail "tenant.conf/state not root's"
[ "$(stat -c %u "$ROOT/d/volumes" "$ROOT/d/volumes/w" "$ROOT/d/volumes/w/superblock" "$ROOT/d/tenant.key" | sort -u)" = "$uid" ] \
    || fail "the serving user's files are not its own"
as_serving sh -c "echo 'kek-command = x' >>'$ROOT/d/tenant.conf'" 2>/dev/null && fail "serving user wrote tenant.conf"
as_serving sh -c "mv '$ROOT/d/tenant.conf' '$ROOT/d/x'" 2>/dev/null && fail "serving user renamed tenant.conf"
as_serving sh -c "echo '{}' >'$ROOT/d/tenant.state'" 2>/dev/null && fail "serving user wrote tenant.state"
# Root still runs every command: it may read the serving user's key.
sv volume list d | grep -q '^w ' || fail "root cannot list after the hand-over"
sv tenant rotate-key d >/dev/null
[ "$(stat -c %u "$ROOT/d/tenant.key")" = "$uid" ] || fail "rotation changed the key's owner"
echo "serve --user: the directory and its settings root's, the server's files the user's"

# ---- kek-command: no shell, a clean environment ----
printf '%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$TMP/kms.key"
cat > "$TMP/kms" <<EOF
#!/bin/sh
printf '%s\n' "\$@" >"$TMP/kms.args"
env >"$TMP/kms.env"
cat "$TMP/kms.key"
EOF
chmod +x "$TMP/kms"
SEALVOL_LEAK=visible sv tenant create k --kek-command "$TMP/kms \$HOME a;b \`id\`" >/dev/null
[ "$(cat "$TMP/kms.args")" = "$(printf '%s\n' '$HOME' 'a;b' '`id`')" ] || fail "kek-command words were expanded: $(cat "$TMP/kms.args")"
grep -q SEALVOL_LEAK "$TMP/kms.env" && fail "kek-command inherited the environment"
grep -q '^SEALVOL_TENANT=k$' "$TMP/kms.env" || fail "kek-command lacks SEALVOL_TENANT"
grep -q '^HOME=' "$TMP/kms.env" && fail "kek-command inherited HOME"
sv tenant create k2 --kek-command "cat $TMP/kms.key" >/dev/null
# A pipe needs the shell, which only the operator can ask for.
printf '[tenant]\nkek-command = cat %s | cat\n' "$TMP/kms.key" > "$ROOT/k2/tenant.conf"
# (The command's own stderr is passed through, for the operator.)
sv volume list k2 2>"$TMP/err" && fail "a pipe ran without the shell"
grep -q "kek-command failed, it exited with status 1" "$TMP/err" || fail "no clear kek-command error: $(cat "$TMP/err")"
printf 'kek-command-shell = true\n' >> "$ROOT/k2/tenant.conf"
sv volume list k2 >/dev/null || fail "kek-command-shell = true did not run the pipe"
echo "kek-command: words passed as they are, environment clean, shell only on request"

# ---- a key file belongs to one tenant ----
sv tenant create a >/dev/null
sv volume create a/v --size 1M >/dev/null
expect_fail 1 "belongs to tenant a" sv tenant create e --kek-file "$ROOT/a/tenant.key"
ln "$ROOT/a/tenant.key" "$TMP/alias.key"
expect_fail 1 "belongs to tenant a" sv tenant create e --kek-file "$TMP/alias.key"
ln -s "$ROOT/a/tenant.key" "$TMP/sym.key"
expect_fail 1 "belongs to tenant a" sv tenant create e --kek-file "$TMP/sym.key"
expect_fail 1 "belongs to tenant a" sv tenant create e --kek-file "$ROOT/a/tenant.key.next"
[ ! -e "$ROOT/e" ] || fail "a refused tenant create left a directory"
# A key file two tenants name (an operator's edit) is never rotated.
sv tenant create f --kek-file "$TMP/f.key" >/dev/null
sv tenant create g >/dev/null
printf '[tenant]\nkek-file = %s\n' "$TMP/f.key" > "$ROOT/g/tenant.conf"
cp "$TMP/f.key" "$TMP/f.before"
expect_fail 1 "belongs to tenant g" sv tenant rotate-key f
cmp -s "$TMP/f.key" "$TMP/f.before" || fail "a shared key file was rewritten"
sv volume list a >/dev/null || fail "tenant a broken"
echo "break 3: a key file of another tenant is refused, and never rotated"

# A relative --kek-file is stored absolute, so it works from anywhere.
(cd "$TMP" && sv tenant create rel --kek-file rel.key >/dev/null)
grep -qx "kek-file = $(realpath "$TMP")/rel.key" "$ROOT/rel/tenant.conf" || fail "relative kek-file stored as given"
(cd / && sv volume create rel/v --size 1M >/dev/null) || fail "relative kek-file does not work from /"
echo "relative --kek-file stored absolute"
# The length limit applies to the path as stored (absolute), not as given.
deep=$TMP/$(printf 'd%.0s' $(seq 190))
mkdir "$deep"
(cd "$deep" && expect_fail 1 "would exceed" sv tenant create deep --kek-file k.key)
[ ! -e "$ROOT/deep" ] && [ ! -e "$deep/k.key" ] || fail "a refused tenant create left files"
echo "a relative --kek-file too long once absolute is refused at create"
