#!/bin/bash
# The crash rule of docs/format.md, driven through its hardest case: the
# server dies after a block's new metadata slot was written but before its
# data ("phantom" slot), and later dies the same way again on the next
# overwrite of that block.  Each crash is produced by SIGKILL and then
# putting back the block's old ciphertext, which is exactly the disk state
# such a crash leaves.  The block must read its old content every time,
# never EIO.
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires $PY -c 'import nbd'

N=5
sv tenant create acme >/dev/null
for c in $AEAD_CIPHERS; do
    sv volume create "acme/$c" --size 1M --cipher "$c" >/dev/null
    data=$(voldir acme "$c")/data
    u() { uri "$c"; }
    for i in 1 2 3; do head -c 4096 /dev/urandom > "$TMP/D$i"; done

    # D1 written in a session that ends cleanly.
    start_server acme io=$IO
    nbd_write_from "$(u)" $((N * 4096)) "$TMP/D1"
    stop_server
    copy_bytes "$data" $((N * 4096)) "$TMP/ct1" 0 4096

    # D2 written, server killed, D2's data "never reached the disk".
    start_server acme io=$IO
    nbd_write_and_hold "$(u)" $((N * 4096)) "$TMP/D2"
    stop_server KILL
    copy_bytes "$TMP/ct1" 0 "$data" $((N * 4096)) 4096

    start_server acme io=$IO
    nbd_read_to "$(u)" $((N * 4096)) 4096 "$TMP/r1" || fail "$c: EIO after the first crash"
    cmp -s "$TMP/r1" "$TMP/D1" || fail "$c: block is not its old content after the first crash"

    # The next overwrite must replace the phantom slot, not the one that
    # describes the data; crash again before its data lands.
    nbd_write_and_hold "$(u)" $((N * 4096)) "$TMP/D3"
    stop_server KILL
    copy_bytes "$TMP/ct1" 0 "$data" $((N * 4096)) 4096

    start_server acme io=$IO
    nbd_read_to "$(u)" $((N * 4096)) 4096 "$TMP/r2" || fail "$c: EIO after the second crash"
    cmp -s "$TMP/r2" "$TMP/D1" || fail "$c: block is not its old content after the second crash"
    # And a normal overwrite afterwards sticks.
    nbd_write_from "$(u)" $((N * 4096)) "$TMP/D3"
    nbd_read_to "$(u)" $((N * 4096)) 4096 "$TMP/r3"
    cmp -s "$TMP/r3" "$TMP/D3" || fail "$c: overwrite after crashes lost"
    stop_server
    sv volume verify "acme/$c" >/dev/null || fail "$c: verify"
    echo "$c: phantom slots handled"
done

# The first write of a never-written block, cut short by a crash after its
# slot and before its data (found by the crash soak): the block must read
# as zeros, its old content, not EIO.  Zeroing the data of a block written
# in a clean session is still an integrity failure.
for c in $AEAD_CIPHERS; do
    sv volume create "acme/first-$c" --size 1M --cipher "$c" >/dev/null
    data=$(voldir acme "first-$c")/data
    head -c 4096 /dev/urandom > "$TMP/F"
    start_server acme io=$IO
    nbd_write_and_hold "$(uri "first-$c")" $((N * 4096)) "$TMP/F"
    stop_server KILL
    dd if=/dev/zero of="$data" bs=4096 seek=$N count=1 conv=notrunc status=none
    start_server acme io=$IO
    nbd_read_to "$(uri "first-$c")" $((N * 4096)) 4096 "$TMP/z" || fail "$c: EIO for a first write cut short"
    cmp -s "$TMP/z" <(head -c 4096 /dev/zero) || fail "$c: a first write cut short is not zeros"
    nbd_write_from "$(uri "first-$c")" $((N * 4096)) "$TMP/F"
    stop_server
    sv volume verify "acme/first-$c" >/dev/null || fail "$c: verify"
    dd if=/dev/zero of="$data" bs=4096 seek=$N count=1 conv=notrunc status=none
    start_server acme io=$IO
    nbd_read_to "$(uri "first-$c")" $((N * 4096)) 4096 "$TMP/z" 2>/dev/null \
        && fail "$c: zeroed data of a cleanly written block was accepted"
    stop_server
    echo "$c: first write cut short reads zeros; zeroed data still detected"
done
