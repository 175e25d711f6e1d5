#!/bin/bash
# Round trip with real clients, for every cipher: qemu-img convert a random
# 64 MiB image into a volume and qemu-img compare it back; nbdcopy both
# ways; nbdinfo shows the size and the export list.
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires qemu-img --version
requires nbdcopy --version
requires nbdinfo --version

head -c 64M /dev/urandom > "$TMP/random.img"
sv tenant create acme >/dev/null
for c in $CIPHERS; do
    sv volume create "acme/$c" --size 64M --cipher "$c" >/dev/null
done
start_server acme io=$IO

nbdinfo --list "nbd+unix://?socket=$SOCK" > "$TMP/list"
for c in $CIPHERS; do
    grep -q "export=\"$c\"" "$TMP/list" || fail "nbdinfo --list lacks $c"
done
[ "$(grep -c '^export=' "$TMP/list")" = 3 ] || fail "nbdinfo lists $(grep -c '^export=' "$TMP/list") exports, want 3"

for c in $CIPHERS; do
    u=$(uri "$c")
    [ "$(nbdinfo --size "$u")" = 67108864 ] || fail "$c: nbdinfo --size"

    qemu-img convert -n -f raw -O raw "$TMP/random.img" "$u"
    qemu-img compare -f raw -F raw "$TMP/random.img" "$u" >/dev/null \
        || fail "$c: qemu-img compare after convert"

    # nbdcopy out, compare; nbdcopy a different image in, compare.
    nbdcopy "$u" "$TMP/out.img"
    cmp "$TMP/random.img" "$TMP/out.img" || fail "$c: nbdcopy out differs"
    head -c 64M /dev/urandom > "$TMP/random2.img"
    nbdcopy "$TMP/random2.img" "$u"
    nbdcopy "$u" "$TMP/out2.img"
    cmp "$TMP/random2.img" "$TMP/out2.img" || fail "$c: nbdcopy in/out differs"
    echo "$c: round trip ok"
done

stop_server
for c in $AEAD_CIPHERS; do
    sv volume verify "acme/$c" >/dev/null || fail "$c: verify after round trip"
done
