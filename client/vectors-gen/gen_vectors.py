#!/usr/bin/env python3
"""Independent generator for the Wesh test vectors in spec/vectors/.

Rendezvous and ratchet vectors use only the Python standard library (hashlib, hmac) and an
HKDF written here from RFC 5869. Contact-group and sealed-entry vectors also need X25519,
Ed25519 and ChaCha20-Poly1305, taken from the `cryptography` package.

Usage: python3 client/vectors-gen/gen_vectors.py [output_dir]   (default: spec/vectors)
"""
import hashlib
import hmac
import json
import os
import struct
import sys


def hkdf_extract(salt: bytes, ikm: bytes) -> bytes:
    return hmac.new(salt, ikm, hashlib.sha256).digest()


def hkdf_expand(prk: bytes, info: bytes, length: int) -> bytes:
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def hkdf(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    return hkdf_expand(hkdf_extract(salt, ikm), info, length)


def rendezvous_point(rid: bytes, seed: bytes, unix: int) -> bytes:
    buf = struct.pack(">Q", unix) + bytes(24)
    mac = hmac.new(seed, buf, hashlib.sha256).digest()
    return hashlib.sha256(rid + mac).digest()


def derive_next_keys(chain_key: bytes, salt: bytes, group_id: bytes):
    okm = hkdf(chain_key, salt, group_id, 64)
    return okm[:32], okm[32:]


def det(label: str, n: int) -> bytes:
    """Deterministic filler bytes so the vectors are reproducible."""
    return hashlib.sha512(label.encode()).digest()[:n]


def rendezvous_vectors():
    cases = [
        (det("rdv-id-0", 32), det("rdv-seed-0", 32), 0),
        (det("rdv-id-1", 32), det("rdv-seed-1", 32), 1_700_006_400),  # multiple of 86400
        (b"short-id", bytes(32), 86_400),
        (det("rdv-id-3", 32), bytes(range(32)), 2**40),
        (b"", det("rdv-seed-4", 32), 2**64 - 86_400),
    ]
    return [
        {"id": i.hex(), "seed": s.hex(), "unix": t, "point": rendezvous_point(i, s, t).hex()}
        for (i, s, t) in cases
    ]


def ratchet_vectors():
    out = []
    for n, (ck, salt, gid) in enumerate([
        (det("ck-0", 32), det("salt-0", 64), det("gid-0", 32)),
        (bytes(32), bytes(64), b""),
        (bytes(range(32)), bytes(range(64)), b"wesh group id"),
    ]):
        steps, cur = [], ck
        for _ in range(5):
            cur, mk = derive_next_keys(cur, salt, gid)
            steps.append({"chain_key": cur.hex(), "message_key": mk.hex()})
        out.append({"chain_key": ck.hex(), "salt": salt.hex(), "group_id": gid.hex(), "steps": steps})
    return out


# ---- vectors needing curve primitives -------------------------------------------------
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305  # noqa: E402

RAW = serialization.Encoding.Raw


def ed_pub(seed: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(RAW, serialization.PublicFormat.Raw)


def ed_sign(seed: bytes, msg: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(seed).sign(msg)


def x_scalar(ed_seed: bytes) -> bytes:
    # X25519 form of an Ed25519 key: clamped first half of SHA-512(seed) (RFC 8032 §5.1.5).
    h = bytearray(hashlib.sha512(ed_seed).digest()[:32])
    h[0] &= 248
    h[31] &= 127
    h[31] |= 64
    return bytes(h)


def x_agree(my_ed_seed: bytes, their_ed_seed: bytes) -> bytes:
    # Their X25519 public key equals the Edwards->Montgomery map of their Ed25519 public key.
    theirs = X25519PrivateKey.from_private_bytes(x_scalar(their_ed_seed)).public_key()
    return X25519PrivateKey.from_private_bytes(x_scalar(my_ed_seed)).exchange(theirs)


def group_keys(group_seed: bytes, secret: bytes):
    gid = ed_pub(group_seed)
    entry_sign_seed = hkdf(secret, gid, b"wesh/v1/entry-signing", 32)
    entry_verify = ed_pub(entry_sign_seed)
    return {
        "group_id": gid,
        "entry_sign_seed": entry_sign_seed,
        "entry_verify_key": entry_verify,
        "secret_sig": ed_sign(group_seed, b"wesh/v1/group-secret-sig" + gid + entry_verify),
        "entry_encryption_key": hkdf(secret, gid, b"wesh/v1/entry-encryption", 32),
        "ratchet_salt": hkdf(secret, gid, b"wesh/v1/ratchet-salt", 64),
    }


def contact_group_vectors():
    out = []
    for n in range(2):
        a, b = det(f"account-a-{n}", 32), det(f"account-b-{n}", 32)
        pa, pb = ed_pub(a), ed_pub(b)
        shared = x_agree(a, b)
        assert shared == x_agree(b, a)
        lo, hi = sorted([pa, pb])
        okm = hkdf(shared, lo + hi, b"wesh/v1/contact-group", 96)
        gk = group_keys(okm[:32], okm[32:64])
        out.append({
            "account_a_seed": a.hex(), "account_b_seed": b.hex(),
            "account_a_id": pa.hex(), "account_b_id": pb.hex(),
            "shared_secret": shared.hex(),
            "group_id": gk["group_id"].hex(), "group_secret": okm[32:64].hex(),
            "attachment_key": okm[64:].hex(),
            "entry_verify_key": gk["entry_verify_key"].hex(), "secret_sig": gk["secret_sig"].hex(),
            "entry_encryption_key": gk["entry_encryption_key"].hex(),
            "ratchet_salt": gk["ratchet_salt"].hex(),
        })
    return out


def sealed_entry_vectors():
    out = []
    for n, (log, time, nparents, plaintext) in enumerate([
        (1, 7, 2, b"hello wesh"),
        (0, 1, 0, b""),
    ]):
        group_seed, secret = det(f"group-seed-{n}", 32), det(f"group-secret-{n}", 32)
        attachment = det(f"attachment-{n}", 32)
        gk = group_keys(group_seed, secret)
        clock_id = det(f"clock-id-{n}", 32)
        parents = sorted(det(f"parent-{n}-{i}", 32) for i in range(nparents))
        nonce = det(f"nonce-{n}", 12)
        header = bytes([1, 0x01, log]) + gk["group_id"] + clock_id + struct.pack(">QH", time, len(parents)) + b"".join(parents)
        ct = ChaCha20Poly1305(gk["entry_encryption_key"]).encrypt(nonce, plaintext, header)
        signed = header + nonce + struct.pack(">I", len(ct)) + ct
        entry = signed + ed_sign(gk["entry_sign_seed"], signed)
        out.append({
            "group_key_seed": group_seed.hex(), "group_secret": secret.hex(), "attachment_key": attachment.hex(),
            "group_id": gk["group_id"].hex(), "secret_sig": gk["secret_sig"].hex(),
            "log": log, "clock_time": time, "clock_id": clock_id.hex(),
            "parents": [p.hex() for p in parents], "nonce": nonce.hex(), "plaintext": plaintext.hex(),
            "entry": entry.hex(), "hash": hashlib.sha256(entry).hexdigest(),
        })
    return out


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "spec/vectors"
    os.makedirs(out_dir, exist_ok=True)
    # RFC 5869 test case 1 guards the hand-written HKDF.
    okm = hkdf(bytes([0x0B] * 22), bytes(range(13)), bytes(range(0xF0, 0xFA)), 42)
    assert okm.hex().startswith("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf")
    for name, data in [
        ("rendezvous.json", rendezvous_vectors()),
        ("ratchet.json", ratchet_vectors()),
        ("contact_group.json", contact_group_vectors()),
        ("sealed_entry.json", sealed_entry_vectors()),
    ]:
        with open(os.path.join(out_dir, name), "w") as f:
            json.dump(data, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
