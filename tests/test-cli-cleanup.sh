#!/bin/bash
# A volume that can never open (a truncated superblock,
# a directory left by a create that crashed) is removed by "volume delete
# --force", which overwrites whatever key material is left with noise
# before it removes anything (checked through hard links to the key files,
# which keep the overwritten inodes); the ordinary delete and a create of
# the name say what is wrong and point at --force in one line; --force
# refuses bad names, foreign files, a symlink and a volume in use.  A rekey
# cut short leaves volumes/.VOL.rekey, a second wrapped key of the volume:
# both deletes erase it.  And two argument errors: "-rf" is named as the
# unknown option, and --listen '[::1' is refused.
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"

sv tenant create acme >/dev/null
VOLS=$ROOT/acme/volumes

# keep_link FILE NAME: a hard link to FILE as $TMP/NAME, and a copy of its
# bytes as $TMP/NAME.orig, to see later what became of the inode.
keep_link () {
    ln "$1" "$TMP/$2"
    cp "$1" "$TMP/$2.orig"
}

# erased NAME: the kept inode has its old length and none of its old bytes
# survive in place (noise matches a byte now and then, never a run of 8).
erased () {
    [ "$(stat -c %s "$TMP/$1")" = "$(stat -c %s "$TMP/$1.orig")" ] ||
        fail "$1: the overwrite changed its length"
    $PY - "$TMP/$1" "$TMP/$1.orig" <<'PYEOF' || fail "$1: old bytes survived the forced delete"
import sys
now, old = (open(p, "rb").read() for p in sys.argv[1:])
same = run = 0
for a, b in zip(now, old):
    run = run + 1 if a == b else 0
    same = max(same, run)
sys.exit(same >= 8)
PYEOF
}

gone () { [ ! -e "$VOLS/$1" ] || fail "$1: the directory is still there: $(ls -a "$VOLS/$1")"; }

# ------------------------------------------------ a truncated superblock

sv volume create acme/trunc --size 1M >/dev/null
truncate -s 100 "$VOLS/trunc/superblock"
keep_link "$VOLS/trunc/superblock" trunc.sb
expect_fail 1 "cannot delete volume acme/trunc: its superblock is truncated (100 of 4096 bytes); 'sealvol volume delete --force acme/trunc'" \
    sv volume delete acme/trunc
expect_fail 1 "volume acme/trunc already exists, broken: its superblock is truncated" \
    sv volume create acme/trunc --size 1M
grep -qF -- "--force acme/trunc" "$TMP/err" || fail "create does not point at --force"
sv volume delete --force acme/trunc >"$TMP/out"
grep -qx "deleted volume acme/trunc by force: overwrote superblock (100 bytes) with noise and synced it; removed superblock, data, meta and the directory" \
    "$TMP/out" || fail "forced delete said: $(cat "$TMP/out")"
gone trunc
erased trunc.sb
grep -q '"event":"volume-delete-force","tenant":"acme","volume":"trunc"' "$ROOT/acme/log/audit.log" ||
    fail "the forced delete is not audited"
sv volume create acme/trunc --size 1M >/dev/null || fail "the name cannot be used again"
echo "ok: truncated superblock: refused with a pointer to --force, then erased and removed"

# ------------------------------ directories left by a create that crashed

# Data and meta written, the superblock never: no key material at all.
mkdir "$VOLS/half"
truncate -s 1M "$VOLS/half/data"
truncate -s 8K "$VOLS/half/meta"
expect_fail 1 "cannot delete volume acme/half: it has no superblock" sv volume delete acme/half
expect_fail 1 "volume acme/half already exists, broken" sv volume create acme/half --size 1M
sv volume delete --force acme/half >"$TMP/out"
grep -qx "deleted volume acme/half by force: no key material was left; removed data, meta and the directory" \
    "$TMP/out" || fail "forced delete said: $(cat "$TMP/out")"
gone half

# Cut short while the superblock went in: a whole one in .superblock.tmp.
sv volume create acme/tmp --size 1M >/dev/null
mv "$VOLS/tmp/superblock" "$VOLS/tmp/.superblock.tmp"
keep_link "$VOLS/tmp/.superblock.tmp" tmp.sb
expect_fail 1 "cannot delete volume acme/tmp: it has no superblock" sv volume delete acme/tmp
sv volume delete --force acme/tmp | grep -q "overwrote .superblock.tmp (4096 bytes) with noise" ||
    fail "the superblock in .superblock.tmp was not overwritten"
gone tmp
erased tmp.sb

# Only the directory.
mkdir "$VOLS/empty"
expect_fail 1 "cannot delete volume acme/empty: it has no superblock" sv volume delete acme/empty
sv volume delete --force acme/empty | grep -q "no key material was left; removed the directory" ||
    fail "an empty directory"
gone empty
echo "ok: half-created volumes: the ordinary delete points at --force; --force erases and removes them"

# ------------------------------------------------ what --force refuses

expect_fail 1 "no such volume: acme/nope" sv volume delete --force acme/nope
expect_fail 2 "bad volume 'acme/../x'" sv volume delete --force acme/../x
expect_fail 2 "bad volume 'acme/.x.rekey'" sv volume delete --force acme/.x.rekey
expect_fail 2 "--force goes with 'volume delete' only" sv volume info acme/trunc --force
expect_fail 2 "--force goes with 'volume delete' only" sv tenant create other --force

mkdir "$VOLS/odd"
truncate -s 1M "$VOLS/odd/data"
echo "keep me" >"$VOLS/odd/notes.txt"
expect_fail 1 "volume acme/odd: its directory holds 'notes.txt', which is not a volume file; nothing removed" \
    sv volume delete --force acme/odd
[ -e "$VOLS/odd/notes.txt" ] && [ -e "$VOLS/odd/data" ] || fail "a refused --force removed files"

mkdir "$TMP/elsewhere"
echo "not a superblock" >"$TMP/elsewhere/superblock"
ln -s "$TMP/elsewhere" "$VOLS/link"
expect_fail 1 "volume acme/link: cannot open its directory" sv volume delete --force acme/link
grep -qx "not a superblock" "$TMP/elsewhere/superblock" || fail "--force wrote through a symlink"

requires $PY -c 'import nbd'
sv volume create acme/busy --size 1M >/dev/null
start_server acme io=$IO
head -c 4096 /dev/urandom >"$TMP/block"
nbd_write_and_hold "$(uri busy)" 0 "$TMP/block"
expect_fail 1 "volume acme/busy is in use by another process" sv volume delete --force acme/busy
[ -s "$VOLS/busy/superblock" ] && sv volume info acme/busy >/dev/null ||
    fail "a refused --force damaged a served volume"
stop_server
echo "ok: --force refuses bad names, foreign files, a symlink and a served volume"

# ------------------------------------------------------ rekey leftovers

sv volume create acme/rk --size 1M >/dev/null
cp -a "$VOLS/rk" "$VOLS/.rk.rekey"           # what a rekey cut short leaves
keep_link "$VOLS/.rk.rekey/superblock" rk.sb
sv volume delete acme/rk >/dev/null
[ ! -e "$VOLS/.rk.rekey" ] || fail "the ordinary delete left the rekey leftover"
erased rk.sb

sv volume create acme/rk --size 1M >/dev/null
truncate -s 0 "$VOLS/rk/superblock"
cp -a "$VOLS/trunc" "$VOLS/.rk.rekey"
sv volume delete --force acme/rk | grep -q "and erased a rekey leftover the same way" ||
    fail "--force did not report the rekey leftover"
[ ! -e "$VOLS/.rk.rekey" ] || fail "--force left the rekey leftover"
echo "ok: both deletes erase a rekey leftover"

# ------------------------------------------------------ argument errors

expect_fail 2 "unknown or incomplete option '-rf'" sv tenant create -rf
expect_fail 2 "unknown or incomplete option '-rf'" sv --json tenant create -rf
expect_fail 2 "unknown or incomplete option '-x'" sv tenant create x -x
expect_fail 2 "unknown or incomplete option '--root'" sv tenant create x --root
for bad in '[::1' '[::1]' '::1]:10809' '[]:10809' '[::1:10809'; do
    expect_fail 2 "bad --listen '$bad'" sv tenant serve acme --listen "$bad"
done
echo "ok: '-rf' is named as the unknown option; unclosed or stray brackets in --listen are refused"
