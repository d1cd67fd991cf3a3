#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""File names that share one crc32c value under every seed (tests/vm/103).

CRC-32C is linear over GF(2): for two messages of the same length,
crc32c(s, a) xor crc32c(s, b) = raw(a xor b), where raw is the CRC register
run from zero with no final xor. It depends on neither the seed nor the
bytes a and b share. Every name printed here is one base name with some of
its bits flipped; each flippable bit contributes a fixed 32-bit column
raw(e_i), and a set of flips changes no crc when its columns xor to zero,
that is when it is a vector of the kernel of the 32 x n matrix of columns.
Gaussian elimination gives a basis of that kernel (n - 32 vectors or more),
and each name is the base with a distinct combination of them applied: N
distinct names, all of one length, with the crc32c of the base under any
seed. This is how version 1 of the rextfs format, whose directory index
hashed names with crc32c(seed, name), could be flooded: every name landed
in one hash chain. Version 2 hashes with SipHash-2-4 under a per-file-system
key (Documentation/filesystems/rextfs.rst, "Directory hash index").

The names use the alphabet p..w (0x70..0x77): the low three bits of each
byte are free, the high bits fixed, so a flip never leaves the alphabet and
never makes '/' or NUL.

    crc32c-collide.py collide N [--length L] [--seed S]  N colliding names
    crc32c-collide.py random N [--length L] [--seed S]   N random names
    crc32c-collide.py check [--crc-seed X]... [--siphash-key HEX]
                            [--superblock DEV] --expect collide|spread < NAMES
    crc32c-collide.py selftest

check reads names (one a line) and, for each crc32c seed given (default
0, 0xffffffff and 0x12345678), counts the distinct crc32c(seed, name)
values: with --expect collide there must be exactly one, with --expect
spread almost as many as names (a 32-bit hash of random names: a few
birthday collisions at most). --siphash-key (32 hex digits, a superblock's
hash_key) also counts rextfs's own hash32 values, which must spread for
either kind of names. --superblock DEV reads a rextfs superblock and takes
its seeds instead: version 1's hash seed slot (the u32 at 0x0C0, zero in
version 2) and each little-endian u32 of hash_key as crc32c seeds, and
hash_key as the SipHash key. check also makes sure that the names are
distinct, of one length and of the alphabet, and that this file's crc32c
and SipHash give the known answers. Exit status 0 when everything holds.

selftest (on any machine, a second or so) checks the hashes against known
answers and the linearity, generates colliding and random names of three
lengths and checks them under six seeds, and checks that check fails
random names said to collide and a colliding set with one name changed.
"""

import argparse
import os
import random
import struct
import sys

ALPHA_BASE = 0x70  # 'p'
ALPHA_BITS = 3  # 'p'..'w'
ALPHABET = bytes(range(ALPHA_BASE, ALPHA_BASE + (1 << ALPHA_BITS)))
POLY = 0x82F63B78  # CRC-32C, reflected

TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ POLY if _c & 1 else _c >> 1
    TABLE.append(_c)
del _i, _c


# Two bytes a step (the register's low 16 bits and the next two bytes
# index one table of 65,536 entries), twice as fast as a byte a step: the
# VM test checks 100,000 names under five seeds in Python under TCG.
TABLE2 = [TABLE[TABLE[_i & 0xFF] & 0xFF ^ (_i >> 8)] ^ (TABLE[_i & 0xFF] >> 8) for _i in range(1 << 16)]


def crc32c(seed, data):
    """crc32c(seed, data) as rextfs.rst defines it: a non-zero seed
    continues an earlier checksum, crc32c(crc32c(0, a), b) = crc32c(0, a ++ b)."""
    crc = seed ^ 0xFFFFFFFF
    t2 = TABLE2
    even = len(data) & ~1
    for (w,) in struct.iter_unpack("<H", data[:even]):
        crc = t2[(crc ^ w) & 0xFFFF] ^ (crc >> 16)
    if even != len(data):
        crc = TABLE[(crc ^ data[-1]) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def crc32c_bytewise(seed, data):
    """The same a byte at a time (the selftest compares the two)."""
    crc = seed ^ 0xFFFFFFFF
    for b in data:
        crc = TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def crc_raw(data):
    """The linear part: the register from zero, no final xor."""
    crc = 0
    for b in data:
        crc = TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


M64 = (1 << 64) - 1


def _rotl(x, b):
    return ((x << b) | (x >> (64 - b))) & M64


def siphash24(key, msg):
    """SipHash-2-4 of msg under a 16-byte key (k0, k1 little-endian)."""
    k0 = int.from_bytes(key[:8], "little")
    k1 = int.from_bytes(key[8:16], "little")
    v0 = k0 ^ 0x736F6D6570736575
    v1 = k1 ^ 0x646F72616E646F6D
    v2 = k0 ^ 0x6C7967656E657261
    v3 = k1 ^ 0x7465646279746573

    def rounds(n):
        nonlocal v0, v1, v2, v3
        for _ in range(n):
            v0 = (v0 + v1) & M64; v1 = _rotl(v1, 13); v1 ^= v0; v0 = _rotl(v0, 32)
            v2 = (v2 + v3) & M64; v3 = _rotl(v3, 16); v3 ^= v2
            v0 = (v0 + v3) & M64; v3 = _rotl(v3, 21); v3 ^= v0
            v2 = (v2 + v1) & M64; v1 = _rotl(v1, 17); v1 ^= v2; v2 = _rotl(v2, 32)

    whole = len(msg) - len(msg) % 8
    for i in range(0, whole, 8):
        m = int.from_bytes(msg[i:i + 8], "little")
        v3 ^= m
        rounds(2)
        v0 ^= m
    m = int.from_bytes(msg[whole:], "little") | ((len(msg) & 0xFF) << 56)
    v3 ^= m
    rounds(2)
    v0 ^= m
    v2 ^= 0xFF
    rounds(4)
    return v0 ^ v1 ^ v2 ^ v3


def rextfs_hash32(key, name):
    h = siphash24(key, name)
    return (h ^ (h >> 32)) & 0xFFFFFFFF


def kernel_basis(columns):
    """Basis of {x : xor of columns[i] over the set bits i of x = 0}, as
    ints over the column indices (Gaussian elimination over GF(2))."""
    pivots = {}  # leading bit -> (value, combination)
    kernel = []
    for i, col in enumerate(columns):
        v, comb = col, 1 << i
        while v:
            top = v.bit_length() - 1
            if top not in pivots:
                pivots[top] = (v, comb)
                break
            pv, pc = pivots[top]
            v ^= pv
            comb ^= pc
        else:
            kernel.append(comb)
    return kernel


def flip(base, mask):
    """base with bit (i % ALPHA_BITS) of byte (i // ALPHA_BITS) flipped for
    every set bit i of mask."""
    out = bytearray(base)
    i = 0
    while mask:
        if mask & 1:
            out[i // ALPHA_BITS] ^= 1 << (i % ALPHA_BITS)
        mask >>= 1
        i += 1
    return bytes(out)


def colliding_names(n, length, seed):
    rng = random.Random(seed)
    base = bytes(rng.choice(ALPHABET) for _ in range(length))
    columns = []
    for pos in range(length):
        for bit in range(ALPHA_BITS):
            e = bytearray(length)
            e[pos] = 1 << bit
            columns.append(crc_raw(e))
    kernel = kernel_basis(columns)
    dim = len(kernel)
    if n > 1 << dim:
        sys.exit(f"crc32c-collide: only 2^{dim} colliding names of length {length}")
    # Random combinations of the basis: every byte of the name varies (a
    # counter would vary only the first few). Distinct combinations of
    # independent vectors give distinct names.
    seen = set()
    names = []
    while len(names) < n:
        t = rng.getrandbits(dim)
        if t in seen:
            continue
        seen.add(t)
        mask = 0
        j = 0
        while t:
            if t & 1:
                mask ^= kernel[j]
            t >>= 1
            j += 1
        names.append(flip(base, mask))
    return names


def random_names(n, length, seed):
    rng = random.Random(seed)
    seen = set()
    names = []
    while len(names) < n:
        name = bytes(rng.choice(ALPHABET) for _ in range(length))
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def check(names, crc_seeds, siphash_key, expect, out=sys.stdout):
    """Prints one line per hash and returns the list of problems."""
    bad = []
    n = len(names)
    if n == 0:
        return ["no names"]
    if len(set(names)) != n:
        bad.append(f"{n - len(set(names))} duplicate names")
    lengths = {len(x) for x in names}
    if len(lengths) != 1:
        bad.append(f"names of {len(lengths)} different lengths")
    if any(c not in ALPHABET for x in names for c in x):
        bad.append("a name outside the alphabet p..w")
    # A 32-bit hash of n random names: n^2 / 2^33 collisions expected
    # (1.2 for 100,000); ask for at least 99% distinct (and n - 2 for tiny n).
    spread_min = min(n - 2, n * 99 // 100) if n > 2 else n
    for s in crc_seeds:
        values = {crc32c(s, x) for x in names}
        print(f"crc32c seed {s:#010x}: {n} names, {len(values)} distinct values"
              + (f" (all {next(iter(values)):#010x})" if len(values) == 1 else ""), file=out)
        if expect == "collide" and len(values) != 1:
            bad.append(f"crc32c seed {s:#010x}: {len(values)} values, expected one")
        if expect == "spread" and len(values) < spread_min:
            bad.append(f"crc32c seed {s:#010x}: only {len(values)} values for {n} names")
    if siphash_key is not None:
        values = {rextfs_hash32(siphash_key, x) for x in names}
        print(f"rextfs hash32 (SipHash-2-4, key {siphash_key.hex()}): {n} names, "
              f"{len(values)} distinct values", file=out)
        if len(values) < spread_min:
            bad.append(f"rextfs hash32: only {len(values)} values for {n} names")
    return bad


DEFAULT_CRC_SEEDS = [0, 0xFFFFFFFF, 0x12345678]


def known_answers():
    """The values rextfs.rst gives for crc32c and SipHash-2-4."""
    bad = []
    if crc32c(0, b"123456789") != 0xE3069283:
        bad.append("crc32c(0, '123456789') is not 0xE3069283")
    if crc32c(crc32c(0, b"12345"), b"6789") != crc32c(0, b"123456789"):
        bad.append("crc32c does not chain")
    key = bytes(range(16))
    if siphash24(key, b"") != 0x726FDB47DD0E0E31:
        bad.append("SipHash-2-4 of the empty message")
    if siphash24(key, bytes(range(15))) != 0xA129CA6149BE45E5:
        bad.append("SipHash-2-4 of 00..0e")
    return bad


def superblock_seeds(dev):
    """Version 1's seed slot and the hash_key words of a rextfs superblock
    as crc32c seeds, and the hash_key."""
    with open(dev, "rb") as f:
        sb = f.read(1024)
    if len(sb) < 1024 or sb[:4] != b"RXSB":
        sys.exit(f"crc32c-collide: no rextfs superblock on {dev}")
    key = sb[0x100:0x110]
    seeds = [int.from_bytes(sb[0xC0:0xC4], "little")]
    seeds += [int.from_bytes(key[i:i + 4], "little") for i in range(0, 16, 4)]
    return seeds, key


def selftest():
    bad = known_answers()
    key = bytes(range(16))
    rng = random.Random(103)
    for n in range(0, 70):
        data, seed = rng.randbytes(n), rng.getrandbits(32)
        if crc32c(seed, data) != crc32c_bytewise(seed, data):
            bad.append(f"crc32c two bytes a step differs for {n} bytes")
    a, b = rng.randbytes(40), rng.randbytes(40)
    d = bytes(x ^ y for x, y in zip(a, b))
    for s in (0, rng.getrandbits(32)):
        if crc32c(s, a) ^ crc32c(s, b) != crc_raw(d):
            bad.append(f"linearity does not hold for seed {s:#x}")
    seeds = DEFAULT_CRC_SEEDS + [rng.getrandbits(32) for _ in range(3)]
    quiet = open(os.devnull, "w")
    for length in (16, 32, 64):
        names = colliding_names(500, length, length)
        bad += [f"collide, length {length}: {p}" for p in check(names, seeds, key, "collide", quiet)]
        names = random_names(500, length, length)
        bad += [f"random, length {length}: {p}" for p in check(names, seeds, key, "spread", quiet)]
    # The checker itself must fail when it should: random names do not
    # collide, one changed name breaks a colliding set, and colliding names
    # are no spread.
    if not check(random_names(100, 32, 1), [0], None, "collide", quiet):
        bad.append("check --expect collide passed random names")
    names = colliding_names(100, 32, 1)
    names[7] = flip(names[7], 1)
    if not check(names, [0], None, "collide", quiet):
        bad.append("check --expect collide passed a set with one name changed")
    if not check(colliding_names(100, 32, 1), [0], None, "spread", quiet):
        bad.append("check --expect spread passed colliding names")
    for p in bad:
        print(f"FAIL: {p}", file=sys.stderr)
    print("crc32c-collide selftest: " + ("ok" if not bad else f"{len(bad)} failures"))
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("collide", "random"):
        p = sub.add_parser(name)
        p.add_argument("n", type=int)
        p.add_argument("--length", type=int, default=32)
        p.add_argument("--seed", type=int, default=103)
    p = sub.add_parser("check")
    p.add_argument("--crc-seed", action="append", type=lambda s: int(s, 0) & 0xFFFFFFFF)
    p.add_argument("--siphash-key", type=bytes.fromhex)
    p.add_argument("--superblock", metavar="DEV")
    p.add_argument("--expect", choices=("collide", "spread"), required=True)
    sub.add_parser("selftest")
    args = ap.parse_args()

    if args.cmd == "selftest":
        return selftest()
    if args.cmd in ("collide", "random"):
        if args.length < 1 or args.length > 255:
            ap.error("--length: 1 to 255")
        gen = colliding_names if args.cmd == "collide" else random_names
        sys.stdout.buffer.write(b"".join(x + b"\n" for x in gen(args.n, args.length, args.seed)))
        return 0
    if args.siphash_key is not None and len(args.siphash_key) != 16:
        ap.error("--siphash-key: 32 hex digits")
    names = sys.stdin.buffer.read().split(b"\n")
    if names and names[-1] == b"":
        names.pop()
    seeds = args.crc_seed if args.crc_seed else DEFAULT_CRC_SEEDS
    key = args.siphash_key
    if args.superblock:
        seeds, key = superblock_seeds(args.superblock)
    bad = known_answers() + check(names, seeds, key, args.expect)
    for p in bad:
        print(f"FAIL: {p}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
