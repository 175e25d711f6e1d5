#!/usr/bin/python3
"""Decrypt one block of a sealvol volume without sealvol.

An independent re-implementation of docs/format.md (version 1) using
PyNaCl (libsodium) and pyca/cryptography; nothing of sealvol's own code is
used.  A volume written by sealvol and decrypted here must give the same
plaintext.

usage: independent-decrypt.py ROOT TENANT VOLUME BLOCK OUTFILE [KEYFILE]

Writes the 4096-byte plaintext of BLOCK to OUTFILE.  Exit 0 on success,
1 with one line on stderr if anything does not check out (bad superblock,
wrong key, MAC mismatch, block failing authentication).
"""

import configparser
import json
import hashlib
import hmac
import os
import struct
import sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.exceptions import InvalidTag
import nacl.bindings
import nacl.exceptions

BLOCK = 4096
SB_LEN = 4096
MAC_OFF = 4064
SLOT = 48
PAIRS_PER_PAGE = 42
META_PAGE = 4096

CIPHERS = {1: "aes-256-gcm", 2: "xchacha20-poly1305", 3: "aes-256-xts"}
DATA_KEY_LEN = {1: 32, 2: 32, 3: 64}


class Refused(Exception):
    pass


def u32(b, off):
    return struct.unpack_from("<I", b, off)[0]


def u64(b, off):
    return struct.unpack_from("<Q", b, off)[0]


def hkdf(ikm, salt, info, length):
    # "no salt" in format.md is HKDF's default (a zero block): salt=None.
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt,
                info=info).derive(ikm)


def cstr(field):
    if b"\0" not in field:
        raise Refused("unterminated name field")
    return field.split(b"\0", 1)[0].decode()


def parse_superblock(buf):
    """The superblock table of format.md."""
    if len(buf) != SB_LEN:
        raise Refused("superblock is truncated")
    if buf[0:8] != b"SEALVOL\0":
        raise Refused("bad magic")
    sb = {
        "version": u32(buf, 8), "hdr_len": u32(buf, 12), "flags": u32(buf, 16),
        "cipher": u32(buf, 20), "block_size": u32(buf, 24),
        "slot_size": u32(buf, 28), "size": u64(buf, 32),
        "tenant_id": buf[40:56], "volume_id": buf[56:72],
        "name": cstr(buf[72:136]), "service_type": cstr(buf[136:168]),
        "created": u64(buf, 168), "seq": u64(buf, 176),
        "session": u32(buf, 184), "last_unclean": u32(buf, 188),
        "writes_reserved": u64(buf, 192), "write_limit": u64(buf, 200),
        "tenant_key_version": u32(buf, 208),
        "volume_key_version": u32(buf, 212),
        "wrapped": buf[216:320], "mac": buf[MAC_OFF:SB_LEN],
    }
    if sb["version"] != 1:
        raise Refused("unsupported format version")
    if sb["hdr_len"] != SB_LEN:
        raise Refused("bad superblock length")
    if sb["cipher"] not in CIPHERS:
        raise Refused("unknown cipher")
    aead = sb["cipher"] != 3
    if sb["block_size"] != BLOCK or sb["slot_size"] != (SLOT if aead else 0):
        raise Refused("unsupported block or slot size")
    if sb["size"] == 0 or sb["size"] % BLOCK or sb["size"] > 16 << 40:
        raise Refused("bad volume size")
    if any(buf[320:MAC_OFF]):
        raise Refused("reserved superblock bytes are not zero")
    return sb


def unwrap_volume_key(sb, tenant_key):
    """XChaCha20-Poly1305 (IETF) under the tenant key; AD of 60 bytes."""
    ad = (b"sealvol-wrap-v1\0" + sb["tenant_id"] + sb["volume_id"]
          + struct.pack("<III", sb["cipher"], sb["volume_key_version"],
                        sb["tenant_key_version"]))
    assert len(ad) == 60
    w = sb["wrapped"]
    nonce, ct_tag = w[:24], w[24:104]
    try:
        key = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
            ct_tag, ad, nonce, tenant_key)
    except nacl.exceptions.CryptoError:
        raise Refused("cannot unwrap the volume key")
    if len(key) != 64:
        raise Refused("unwrapped volume key has %d bytes" % len(key))
    return key


def block_ad(sb, block, gen, session):
    return (b"SVBLOCK1" + sb["tenant_id"] + sb["volume_id"]
            + struct.pack("<QIIII", block, gen, session, sb["cipher"],
                          sb["volume_key_version"]))


def open_slot(sb, data_key, block, slot, ct):
    gen, session = u32(slot, 0), u32(slot, 4)
    nonce, tag = slot[8:32], slot[32:48]
    ad = block_ad(sb, block, gen, session)
    assert len(ad) == 64
    if sb["cipher"] == 1:
        salt, counter = nonce[:16], nonce[16:24]
        subkey = hkdf(data_key, None, b"sealvol v1 aes-256-gcm subkey" + salt,
                      32)
        iv = counter + b"\0\0\0\0"
        try:
            return AESGCM(subkey).decrypt(iv, ct + tag, ad)
        except InvalidTag:
            return None
    try:
        return nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
            ct + tag, ad, nonce, data_key)
    except nacl.exceptions.CryptoError:
        return None


def serial_newer(a, b):
    """RFC 1982 on 32 bits: is generation a newer than b?"""
    d = (a - b) & 0xffffffff
    return d != 0 and d < 0x80000000


def decrypt_aead(sb, data_key, voldir, block, ct):
    off = (block // PAIRS_PER_PAGE) * META_PAGE + (block % PAIRS_PER_PAGE) * 2 * SLOT
    with open(os.path.join(voldir, "meta"), "rb") as f:
        f.seek(off)
        pair = f.read(2 * SLOT)
    if len(pair) != 2 * SLOT:
        raise Refused("meta file is truncated")
    slots = [pair[:SLOT], pair[SLOT:]]
    live = [s for s in slots if u32(s, 4) != 0]
    if not live:
        return bytes(BLOCK)             # never written, trimmed or zeroed
    # Newer generation first, then the other non-empty slot.
    if len(live) == 2 and serial_newer(u32(live[1], 0), u32(live[0], 0)):
        live.reverse()
    for s in live:
        pt = open_slot(sb, data_key, block, s, ct)
        if pt is not None:
            return pt
    raise Refused("block %d: authentication failed" % block)


def decrypt_xts(data_key, block, ct):
    if not any(ct):
        return bytes(BLOCK)
    if data_key[:32] == data_key[32:]:
        raise Refused("XTS key halves are equal")
    tweak = block.to_bytes(16, "little")
    d = Cipher(algorithms.AES(data_key), modes.XTS(tweak)).decryptor()
    return d.update(ct) + d.finalize()


def read_tenant(root, tenant, keyfile):
    # tenant.conf is the operator's (the key source); tenant.state, JSON,
    # is sealvol's (the id and key version).
    conf = configparser.ConfigParser()
    if not conf.read(os.path.join(root, tenant, "tenant.conf")):
        raise Refused("no such tenant: %s" % tenant)
    with open(os.path.join(root, tenant, "tenant.state")) as f:
        state = json.load(f)
    tenant_id = bytes.fromhex(state["id"])
    key_version = int(state["key-version"])
    if keyfile is None:
        keyfile = conf["tenant"].get("kek-file") or os.path.join(root, tenant, "tenant.key")
    with open(keyfile) as f:
        hexkey = f.read().strip()
    key = bytes.fromhex(hexkey)
    if len(key) != 32:
        raise Refused("tenant key must be 64 hex digits")
    return tenant_id, key_version, key


def decrypt_block(root, tenant, volume, block, keyfile=None):
    tenant_id, key_version, tenant_key = read_tenant(root, tenant, keyfile)
    voldir = os.path.join(root, tenant, "volumes", volume)
    with open(os.path.join(voldir, "superblock"), "rb") as f:
        buf = f.read(SB_LEN + 1)
    sb = parse_superblock(buf)
    if sb["tenant_id"] != tenant_id or sb["name"] != volume:
        raise Refused("superblock belongs to another tenant or volume")
    if sb["tenant_key_version"] != key_version:
        raise Refused("wrapped under tenant key version %d, tenant has %d"
                      % (sb["tenant_key_version"], key_version))
    volume_key = unwrap_volume_key(sb, tenant_key)
    mac_key = hkdf(volume_key, sb["volume_id"], b"sealvol v1 header-mac", 32)
    mac = hmac.new(mac_key, buf[:MAC_OFF], hashlib.sha256).digest()
    if not hmac.compare_digest(mac, sb["mac"]):
        raise Refused("superblock failed its MAC check")
    data_key = hkdf(volume_key, sb["volume_id"], b"sealvol v1 data-key",
                    DATA_KEY_LEN[sb["cipher"]])

    nblocks = sb["size"] // BLOCK
    if not 0 <= block < nblocks:
        raise Refused("block %d out of range (volume has %d)" % (block, nblocks))
    # At least the sizes the volume needs: an interrupted resize leaves
    # the files longer (docs/format.md, "Resize").
    data_path = os.path.join(voldir, "data")
    if os.stat(data_path).st_size < sb["size"]:
        raise Refused("data file is truncated or damaged")
    if sb["cipher"] != 3:
        meta_size = -(-nblocks // PAIRS_PER_PAGE) * META_PAGE
        if os.stat(os.path.join(voldir, "meta")).st_size < meta_size:
            raise Refused("meta file is truncated or damaged")
    with open(data_path, "rb") as f:
        f.seek(block * BLOCK)
        ct = f.read(BLOCK)
    if sb["cipher"] == 3:
        return decrypt_xts(data_key, block, ct)
    return decrypt_aead(sb, data_key, voldir, block, ct)


def main(argv):
    if len(argv) not in (6, 7):
        sys.stderr.write("usage: independent-decrypt.py ROOT TENANT VOLUME "
                         "BLOCK OUTFILE [KEYFILE]\n")
        return 2
    root, tenant, volume, block, out = argv[1:6]
    keyfile = argv[6] if len(argv) == 7 else None
    try:
        plain = decrypt_block(root, tenant, volume, int(block), keyfile)
    except (Refused, OSError, ValueError, KeyError) as e:
        sys.stderr.write("independent-decrypt: %s/%s: %s\n" % (tenant, volume, e))
        return 1
    with open(out, "wb") as f:
        f.write(plain)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
