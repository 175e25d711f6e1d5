#!/bin/bash
# The tenant key, the volume keys and the header
# MAC keys never reach nbdkit's command line or a core dump (they live in
# sodium_malloc memory, mlocked and MADV_DONTDUMP), nor any log or audit
# line.  A core is forced with SIGABRT while volumes are open.
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires $PY -c 'import nbd, nacl, cryptography'
[ "$(cat /proc/sys/kernel/core_pattern)" = core ] \
    || { echo "SKIP: core_pattern is not 'core'"; exit 77; }

sv tenant create acme >/dev/null
cipher_volumes acme/ 1M
head -c 1M /dev/urandom > "$TMP/data"

mkdir "$TMP/cwd"
cd "$TMP/cwd"
ulimit -c unlimited
# kek=+FILE: the key comes from a file, never from argv.
start_server acme io=$IO kek=+"$ROOT/acme/tenant.key"
cd - >/dev/null
for c in $CIPHERS; do nbdcopy "$TMP/data" "$(uri "$c")"; done
nbd_write_and_hold "$(uri aes-256-gcm)" 0 "$TMP/data"   # volumes open, keys loaded
grep -qaF "$(cat "$ROOT/acme/tenant.key")" "/proc/$NBDKIT_PID/cmdline" && fail "key in cmdline"
kill -ABRT "$NBDKIT_PID"
wait "$NBDKIT_PID" 2>/dev/null || true
core=$(ls "$TMP"/cwd/core* 2>/dev/null | head -1)
[ -n "$core" ] || { echo "SKIP: no core file was written"; exit 77; }
echo "core: $(stat -c %s "$core") bytes"

$PY - "$top_srcdir/tests" "$ROOT" "$core" "$TMP/nbdkit.log" "$ROOT/acme/log/audit.log" <<'PYEOF' || fail "key material found"
import importlib.util, os, sys
spec = importlib.util.spec_from_file_location("fmt", os.path.join(sys.argv[1], "independent-decrypt.py"))
fmt = importlib.util.module_from_spec(spec); spec.loader.exec_module(fmt)
root, core = sys.argv[2], open(sys.argv[3], "rb").read()
logs = open(sys.argv[4], "rb").read() + open(sys.argv[5], "rb").read()
tenant_id, _, tenant_key = fmt.read_tenant(root, "acme", None)
secrets = {"tenant key": tenant_key, "tenant key (hex)": tenant_key.hex().encode()}
for vol in os.listdir(os.path.join(root, "acme", "volumes")):
    sb = fmt.parse_superblock(open(os.path.join(root, "acme", "volumes", vol, "superblock"), "rb").read())
    vk = fmt.unwrap_volume_key(sb, tenant_key)
    secrets[vol + " volume key"] = vk
    secrets[vol + " MAC key"] = fmt.hkdf(vk, sb["volume_id"], b"sealvol v1 header-mac", 32)
# Controls, so the search is known to work: data the server handled and
# the tenant id (ordinary memory) are in the core.
assert open(os.path.join(root, "..", "data"), "rb").read()[:64] in core, "plaintext not in core"
assert tenant_id in core, "tenant id not in core"
found = [name for name, s in secrets.items() if s in core or s in logs]
print("searched the core for %d secrets: %s" % (len(secrets), "found " + ", ".join(found) if found else "none found"))
sys.exit(1 if found else 0)
PYEOF
