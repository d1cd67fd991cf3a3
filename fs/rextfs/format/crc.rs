// SPDX-License-Identifier: GPL-2.0

//! CRC-32C (Castagnoli), as used by every rextfs checksum.
//!
//! [`crc32c`] with seed 0 is the standard CRC-32C (reflected polynomial
//! 0x82F63B78, initial value !0, final xor !0): `crc32c(0, b"123456789")` is
//! `0xE3069283`. A non-zero seed continues a previous computation:
//! `crc32c(crc32c(0, a), b) == crc32c(0, a ++ b)`.

#[cfg(not(CONFIG_RUST))]
const POLY: u32 = 0x82F6_3B78;

#[cfg(not(CONFIG_RUST))]
const fn make_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut n = 1;
    while n < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[n - 1][i];
            t[n][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            i += 1;
        }
        n += 1;
    }
    t
}

#[cfg(not(CONFIG_RUST))]
static TABLES: [[u32; 256]; 8] = make_tables();

#[cfg(not(CONFIG_RUST))]
#[inline]
fn tab(n: usize, idx: u32) -> u32 {
    // `idx` is masked to 0..=255, so the lookup always hits.
    match TABLES.get(n) {
        Some(t) => t.get((idx & 0xff) as usize).copied().unwrap_or(0),
        None => 0,
    }
}

/// Advances a raw (non-inverted) CRC-32C register over `data`: in the kernel with the
/// kernel's library (CPU instructions where there are some), elsewhere with the tables.
pub fn crc32c_update(state: u32, data: &[u8]) -> u32 {
    #[cfg(CONFIG_RUST)]
    {
        kernel::fs::checksum::crc32c(state, data)
    }
    #[cfg(not(CONFIG_RUST))]
    {
        crc32c_update_tables(state, data)
    }
}

/// [`crc32c_update`] with slicing-by-8 tables.
#[cfg(not(CONFIG_RUST))]
fn crc32c_update_tables(mut state: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let (lo, hi) = match c {
            &[a, b, c, d, e, f, g, h] => (
                u32::from_le_bytes([a, b, c, d]) ^ state,
                u32::from_le_bytes([e, f, g, h]),
            ),
            _ => (state, 0),
        };
        state = tab(7, lo)
            ^ tab(6, lo >> 8)
            ^ tab(5, lo >> 16)
            ^ tab(4, lo >> 24)
            ^ tab(3, hi)
            ^ tab(2, hi >> 8)
            ^ tab(1, hi >> 16)
            ^ tab(0, hi >> 24);
    }
    for &b in chunks.remainder() {
        state = (state >> 8) ^ tab(0, state ^ u32::from(b));
    }
    state
}

/// CRC-32C of `data`, continuing from `seed` (0 for a fresh checksum).
pub fn crc32c(seed: u32, data: &[u8]) -> u32 {
    !crc32c_update(!seed, data)
}

/// CRC-32C of `buf`, continuing from `seed`, with the four bytes at
/// `hole..hole + 4` taken as zero (the stored checksum field).
pub fn crc32c_with_hole(seed: u32, buf: &[u8], hole: usize) -> u32 {
    let split = hole.min(buf.len());
    let (head, rest) = buf.split_at(split);
    let mut st = crc32c_update(!seed, head);
    let skip = rest.len().min(4);
    st = crc32c_update(st, &[0u8; 4][..skip]);
    let tail = rest.get(skip..).unwrap_or(&[]);
    st = crc32c_update(st, tail);
    !st
}
