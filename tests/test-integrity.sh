#!/usr/bin/env bash
# Integrity, against the backing files described in docs/format.md.
# The cases, numbered for the rest of this file:
#
#   1  flipped ciphertext byte      -> EIO on that block only, logged,
#                                      reported by verify, healed by rewrite
#   2  flipped tag / nonce byte     -> same
#   3  block A (data+pair) over B   -> EIO on B
#   4  block spliced from another volume of the tenant, and from the
#      same-named volume of another tenant, same address -> EIO
#   7  truncated data / meta / superblock -> volume refused, nbdkit lives
#   8  wrong tenant key, flipped wrapped-key byte, flipped header byte
#                                   -> volume refused with one line, nothing
#                                      served
# 1-4 run for the AEAD ciphers; 7 and 8 for all three (XTS has no meta
# file).  Servers are started few times: every volume is set up first,
# tampered with while no server runs, then checked together.
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"

requires nbdkit --version
requires "$PY" -c 'import nbd'
requires test -x "$SEALVOL"
requires test -f "$SEALVOL_PLUGIN"

BS=4096
SIZE=1M
NBLOCKS=256

short () {
    case $1 in
        aes-256-gcm) echo g ;;
        xchacha20-poly1305) echo x ;;
        aes-256-xts) echo t ;;
    esac
}

# ---- helpers ----

# mkvol TENANT VOL CIPHER: create it and its plaintext image $TMP/TENANT-VOL.img
mkvol () {
    sv volume create "$1/$2" --size $SIZE --cipher "$3" >/dev/null
    head -c $SIZE /dev/urandom >"$TMP/$1-$2.img"
}

# extract FILE BLOCK COUNT OUT
extract () {
    dd if="$1" of="$4" bs=$BS skip="$2" count="$3" status=none
}

# expect_block TENANT VOL BLOCK: reading BLOCK over NBD gives the bytes of
# the plaintext image.
expect_block () {
    local img="$TMP/$1-$2.img"
    extract "$img" "$3" 1 "$TMP/want"
    rm -f "$TMP/got"
    nbd_read_to "$(uri "$2")" $(( $3 * BS )) $BS "$TMP/got" 2>"$TMP/rerr" ||
        fail "$1/$2 block $3: read failed: $(cat "$TMP/rerr")"
    cmp -s "$TMP/want" "$TMP/got" ||
        fail "$1/$2 block $3: read back wrong bytes"
}

# expect_eio VOL OFFSET LENGTH: the read fails with EIO and returns nothing.
expect_eio () {
    rm -f "$TMP/got"
    if nbd_read_to "$(uri "$1")" "$2" "$3" "$TMP/got" 2>"$TMP/rerr"; then
        fail "$1: read of $3 bytes at $2 succeeded, expected EIO"
    fi
    grep -q "nbd_pread: .*Input/output error" "$TMP/rerr" ||
        fail "$1: read at $2 failed, but not with EIO: $(cat "$TMP/rerr")"
    [ ! -e "$TMP/got" ] || fail "$1: failed read produced data"
}

# expect_logged TENANT VOL BLOCK: the server log names exactly this block
# of this volume as an integrity failure.
expect_logged () {
    local lines
    grep -qF "integrity failure: tenant $1 volume $2 block $3:" "$TMP/nbdkit.log" ||
        fail "$1/$2: no integrity failure logged for block $3"
    lines=$(grep -F "integrity failure: tenant $1 volume $2 block " "$TMP/nbdkit.log" |
                grep -vF "block $3:" || true)
    [ -z "$lines" ] || fail "$1/$2: unexpected failures logged: $lines"
}

# expect_verify TENANT VOL [BLOCK...]: 'volume verify' reports exactly
# these blocks (none: clean, exit 0).
expect_verify () {
    local t=$1 v=$2 status=0 b want=""
    shift 2
    sv volume verify "$t/$v" >"$TMP/vout" 2>"$TMP/verr" || status=$?
    for b in "$@"; do want+="$t/$v: block $b: authentication failed"$'\n'; done
    if [ $# = 0 ]; then
        [ $status = 0 ] || fail "verify $t/$v exited $status: $(cat "$TMP/verr")"
        grep -qxF "$t/$v: 0 integrity failures" "$TMP/vout" ||
            fail "verify $t/$v: unexpected output: $(cat "$TMP/vout")"
    else
        [ $status = 1 ] || fail "verify $t/$v exited $status, wanted 1: $(cat "$TMP/vout" "$TMP/verr")"
    fi
    [ "$(grep 'authentication failed' "$TMP/vout" || true)" = "${want%$'\n'}" ] ||
        fail "verify $t/$v reported: $(cat "$TMP/vout"), wanted blocks: $*"
}

# expect_refused VOL "log message": connecting to the export fails during
# the handshake, the server logs why, and it is still running.
expect_refused () {
    if nbd_read_to "$(uri "$1")" 0 $BS "$TMP/got" 2>"$TMP/rerr"; then
        fail "$1: export was served, expected it to be refused"
    fi
    grep -q "nbd_connect_uri" "$TMP/rerr" ||
        fail "$1: expected the connection to fail: $(tail -1 "$TMP/rerr")"
    grep -F "volume acme/$1" "$TMP/nbdkit.log" | grep -qF -- "$2" ||
        fail "$1: server log lacks '$2' for acme/$1"
    kill -0 "$NBDKIT_PID" 2>/dev/null || fail "nbdkit died after refusing $1"
}

fresh_server () {
    : >"$TMP/nbdkit.log"
    start_server "$@"
}

# ---- the volumes ----
# Tamper table for cases 1-4: "VOL BLOCK" per line, VOL without the
# cipher prefix.  Byte offsets follow docs/format.md.
AEAD_CASES="data 41
tag 42
noncelo 100
noncehi 83
move 50
splice 60
xtenant 61"
MOVE_FROM=5

sv tenant create acme >/dev/null
sv tenant create other >/dev/null

for c in $CIPHERS; do
    p=$(short $c)
    for v in good trd trs wkey hdr sb; do mkvol acme $p-$v $c; done
    if [ $c = aes-256-xts ]; then
        mkvol acme $p-flip $c
        continue
    fi
    mkvol acme $p-trm $c
    mkvol acme $p-donor $c
    mkvol other $p-xtenant $c       # same name as acme's target
    while read -r v _; do mkvol acme $p-$v $c; done <<<"$AEAD_CASES"
done

# Write every image.
fresh_server acme io=$IO
for img in "$TMP"/acme-*.img; do
    v=${img#"$TMP/acme-"}; v=${v%.img}
    nbd_write_from "$(uri "$v")" 0 "$img"
done
stop_server
fresh_server other io=$IO
for img in "$TMP"/other-*.img; do
    v=${img#"$TMP/other-"}; v=${v%.img}
    nbd_write_from "$(uri "$v")" 0 "$img"
done
stop_server

# Everything verifies clean before tampering.
for c in $AEAD_CIPHERS; do
    p=$(short $c)
    expect_verify acme $p-good
    expect_verify other $p-xtenant
    while read -r v _; do expect_verify acme $p-$v; done <<<"$AEAD_CASES"
done

# ---- tamper (no server running) ----
for c in $AEAD_CIPHERS; do
    p=$(short $c)
    # 1: one ciphertext byte
    flip_byte "$(voldir acme $p-data)/data" $(( 41 * BS + 1234 ))
    # 2: one tag byte, one nonce byte (start of the nonce field: GCM salt;
    #    end of it: GCM counter / XChaCha's last bytes).  A block written
    #    once is described by slot A.
    flip_byte "$(voldir acme $p-tag)/meta" $(( $(meta_pair_offset 42) + 32 + 5 ))
    flip_byte "$(voldir acme $p-noncelo)/meta" $(( $(meta_pair_offset 100) + 8 ))
    flip_byte "$(voldir acme $p-noncehi)/meta" $(( $(meta_pair_offset 83) + 8 + 20 ))
    # 3: block 5 (data and pair) over block 50 of the same volume
    copy_bytes "$(voldir acme $p-move)/data" $(( MOVE_FROM * BS )) "$(voldir acme $p-move)/data" $(( 50 * BS )) $BS
    copy_bytes "$(voldir acme $p-move)/meta" "$(meta_pair_offset $MOVE_FROM)" "$(voldir acme $p-move)/meta" "$(meta_pair_offset 50)" 96
    # 4: same address from another volume of the tenant, and from the
    #    same-named volume of another tenant
    copy_bytes "$(voldir acme $p-donor)/data" $(( 60 * BS )) "$(voldir acme $p-splice)/data" $(( 60 * BS )) $BS
    copy_bytes "$(voldir acme $p-donor)/meta" "$(meta_pair_offset 60)" "$(voldir acme $p-splice)/meta" "$(meta_pair_offset 60)" 96
    copy_bytes "$(voldir other $p-xtenant)/data" $(( 61 * BS )) "$(voldir acme $p-xtenant)/data" $(( 61 * BS )) $BS
    copy_bytes "$(voldir other $p-xtenant)/meta" "$(meta_pair_offset 61)" "$(voldir acme $p-xtenant)/meta" "$(meta_pair_offset 61)" 96
    # 7: metadata file one page short
    truncate -s -4096 "$(voldir acme $p-trm)/meta"
done
for c in $CIPHERS; do
    p=$(short $c)
    # 7: data file one block short; superblock cut in half
    truncate -s -4096 "$(voldir acme $p-trd)/data"
    truncate -s 2048 "$(voldir acme $p-trs)/superblock"
    # 8: a byte of the wrapped key's ciphertext; a byte of the size field
    #    (size + 64 KiB: still a valid size, so only the MAC catches it)
    flip_byte "$(voldir acme $p-wkey)/superblock" 260
    flip_byte "$(voldir acme $p-hdr)/superblock" 34
done
# XTS has no integrity: a flipped byte decrypts to garbage, without error.
flip_byte "$(voldir acme t-flip)/data" $(( 41 * BS + 1234 ))

# ---- offline checks: verify, info ----
for c in $AEAD_CIPHERS; do
    p=$(short $c)
    while read -r v b; do expect_verify acme $p-$v $b; done <<<"$AEAD_CASES"
    expect_verify acme $p-donor
    expect_verify other $p-xtenant
    expect_verify acme $p-good
    expect_fail 1 "truncated" sv volume verify acme/$p-trm
    expect_fail 1 "truncated" sv volume info acme/$p-trm
done
for c in $CIPHERS; do
    p=$(short $c)
    for cmd in info verify; do
        expect_fail 1 "truncated" sv volume $cmd acme/$p-trd
        expect_fail 1 "truncated" sv volume $cmd acme/$p-trs
        expect_fail 1 "cannot unwrap" sv volume $cmd acme/$p-wkey
        expect_fail 1 "MAC" sv volume $cmd acme/$p-hdr
        # 8: wrong tenant key, given explicitly ...
        expect_fail 1 "wrong key for tenant acme" sv --kek "$ROOT/other/tenant.key" volume $cmd acme/$p-good
    done
    # ... or in place of the tenant's own key file
    cp -p "$ROOT/acme/tenant.key" "$TMP/acme.key"
    cp "$ROOT/other/tenant.key" "$ROOT/acme/tenant.key"
    expect_fail 1 "wrong key for tenant acme" sv volume info acme/$p-good
    cp -p "$TMP/acme.key" "$ROOT/acme/tenant.key"
    sv volume info acme/$p-good >/dev/null || fail "acme/$p-good: info fails with the right key"

    # 8: every flipped superblock byte below refuses the volume, with the
    #    expected reason; restoring it makes the volume open again.
    sb="$(voldir acme $p-sb)/superblock"
    cp "$sb" "$TMP/sb.orig"
    for case in "0 bad magic" "8 unsupported format version" \
                "16 MAC" "20 " "34 MAC" "41 belongs to another tenant" \
                "57 cannot unwrap" "72 belongs to another tenant" "136 MAC" \
                "168 MAC" "176 MAC" "184 MAC" "192 MAC" "200 MAC" \
                "208 tenant key version" "212 cannot unwrap" \
                "216 cannot unwrap" "250 cannot unwrap" \
                "303 cannot unwrap" "304 cannot unwrap" \
                "319 cannot unwrap" "320 reserved" "2000 reserved" \
                "4063 reserved" "4064 MAC" "4095 MAC"; do
        off=${case%% *} msg=${case#* }
        flip_byte "$sb" "$off"
        expect_fail 1 "acme/$p-sb" sv volume info acme/$p-sb
        grep -qF -- "$msg" "$TMP/err" || fail "flip at $off: stderr lacks '$msg': $(cat "$TMP/err")"
        expect_fail 1 "acme/$p-sb" sv volume verify acme/$p-sb
        cp "$TMP/sb.orig" "$sb"
    done
    sv volume info acme/$p-sb >/dev/null || fail "acme/$p-sb does not open after restoring"
done

# ---- online checks ----
fresh_server acme io=$IO
for c in $AEAD_CIPHERS; do
    p=$(short $c)
    while read -r v b; do
        expect_eio $p-$v $(( b * BS )) $BS
        expect_block acme $p-$v $(( b - 1 ))
        expect_block acme $p-$v $(( b + 1 ))
        expect_logged acme $p-$v $b
    done <<<"$AEAD_CASES"
    # A multi-block read over the bad block and a partial read inside it
    # fail too, and return nothing.
    expect_eio $p-data $(( 40 * BS )) $(( 3 * BS ))
    expect_eio $p-data $(( 41 * BS + 100 )) 50
    # The source of the move is intact; the donors are untouched.
    expect_block acme $p-move $MOVE_FROM
    expect_block acme $p-donor 60
    expect_block acme $p-good 41
    # Rewriting the bad block heals it.
    while read -r v b; do
        head -c $BS /dev/urandom >"$TMP/new"
        nbd_write_from "$(uri $p-$v)" $(( b * BS )) "$TMP/new"
        dd if="$TMP/new" of="$TMP/acme-$p-$v.img" bs=$BS seek="$b" conv=notrunc status=none
        expect_block acme $p-$v "$b"
        expect_block acme $p-$v $(( b - 1 ))
    done <<<"$AEAD_CASES"
    # 7: truncated metadata
    expect_refused $p-trm "truncated"
done
for c in $CIPHERS; do
    p=$(short $c)
    # 7 and 8: refused, nothing served, the server stays up
    expect_refused $p-trd "truncated"
    expect_refused $p-trs "truncated"
    expect_refused $p-wkey "cannot unwrap"
    expect_refused $p-hdr "MAC"
    expect_block acme $p-good 0
    expect_block acme $p-good $(( NBLOCKS - 1 ))
done
# XTS: confidentiality only, as documented: garbage, no error.
nbd_read_to "$(uri t-flip)" $(( 41 * BS )) $BS "$TMP/got" ||
    fail "t-flip: XTS read of a modified block failed"
extract "$TMP/acme-t-flip.img" 41 1 "$TMP/want"
! cmp -s "$TMP/want" "$TMP/got" || fail "t-flip: modified XTS block decrypted to the original"
expect_block acme t-flip 40
expect_block acme t-flip 42
kill -0 "$NBDKIT_PID" || fail "nbdkit died"
stop_server

# Healed volumes verify clean and keep their rewritten contents.
for c in $AEAD_CIPHERS; do
    p=$(short $c)
    while read -r v _; do expect_verify acme $p-$v; done <<<"$AEAD_CASES"
done

# 8: served with another tenant's key, nbdkit refuses to start at all.
if timeout 20 nbdkit -f -U "$TMP/wrongkey.sock" "$SEALVOL_PLUGIN" root="$ROOT" \
        tenant=acme io=$IO kek="$ROOT/other/tenant.key" 2>"$TMP/wrongkey.log"; then
    fail "nbdkit started with another tenant's key"
fi
grep -q "wrong key for tenant acme" "$TMP/wrongkey.log" \
    || fail "no clear message for a wrong key: $(cat "$TMP/wrongkey.log")"

# The tenant's own key still serves everything, contents intact.
fresh_server acme io=$IO
for c in $CIPHERS; do
    p=$(short $c)
    nbd_read_to "$(uri $p-good)" 0 $(( NBLOCKS * BS )) "$TMP/got" ||
        fail "$p-good: read failed after the wrong-key server"
    cmp -s "$TMP/got" "$TMP/acme-$p-good.img" || fail "$p-good: contents changed"
done
for c in $AEAD_CIPHERS; do
    p=$(short $c)
    nbd_read_to "$(uri $p-data)" 0 $(( NBLOCKS * BS )) "$TMP/got" ||
        fail "$p-data: read of healed volume failed"
    cmp -s "$TMP/got" "$TMP/acme-$p-data.img" || fail "$p-data: healed contents wrong"
done
stop_server
grep -q "integrity failure" "$TMP/nbdkit.log" && fail "integrity failures after healing"

echo "$0: PASS"
exit 0
