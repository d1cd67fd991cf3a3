// SPDX-License-Identifier: GPL-2.0

//! Block and inode bitmap blocks.
//!
//! Each bitmap block starts with a 32-byte header: magic u32, crc u32,
//! block number u64, index of the block within its region u64, kind u32,
//! reserved u32. Bit `j` of the block with index `k` describes item
//! `k * bits_per_block + j`; bit `j` lives in byte `32 + j / 8`, bit
//! `j % 8` (least significant first). A set bit means "in use". Bits past the
//! last item of the region are set.

use super::bytes::*;
use super::{meta_check, meta_init, meta_seal, FormatError, Result};

/// Magic of bitmap blocks, "RXBM" on disk.
pub const BITMAP_MAGIC: u32 = u32::from_le_bytes(*b"RXBM");
/// Size of the bitmap block header.
pub const BITMAP_HDR_SIZE: usize = 32;
/// Kind value of block bitmap blocks.
pub const BITMAP_KIND_BLOCKS: u32 = 1;
/// Kind value of inode bitmap blocks.
pub const BITMAP_KIND_INODES: u32 = 2;

/// Number of bits held by one bitmap block of `block_size` bytes.
pub fn bitmap_bits_per_block(block_size: usize) -> u64 {
    (block_size.saturating_sub(BITMAP_HDR_SIZE) as u64) * 8
}

/// Initialises a bitmap block: header, all bits clear. The checksum is set.
pub fn bitmap_init(buf: &mut [u8], blockno: u64, kind: u32, index: u64) -> Result<()> {
    meta_init(buf, BITMAP_MAGIC, blockno, index)?;
    if buf.len() < BITMAP_HDR_SIZE {
        return Err(FormatError::Short);
    }
    put_u32(buf, 24, kind);
    put_u32(buf, 28, 0);
    zero(buf, BITMAP_HDR_SIZE, buf.len());
    meta_seal(buf)
}

/// Validates a bitmap block read from `blockno`: magic, checksum, block
/// number, kind and index.
pub fn bitmap_check(buf: &[u8], blockno: u64, kind: u32, index: u64) -> Result<()> {
    if buf.len() <= BITMAP_HDR_SIZE {
        return Err(FormatError::Short);
    }
    let owner = meta_check(buf, BITMAP_MAGIC, blockno)?;
    if owner != index {
        return Err(FormatError::WrongOwner);
    }
    if get_u32(buf, 24) != Some(kind) {
        return Err(FormatError::Invalid("wrong bitmap kind"));
    }
    Ok(())
}

/// Recomputes the checksum of a bitmap block after changing bits.
pub fn bitmap_seal(buf: &mut [u8]) -> Result<()> {
    meta_seal(buf)
}

fn bit_pos(buf: &[u8], bit: u64) -> Option<(usize, u8)> {
    let byte = usize::try_from(bit / 8)
        .ok()?
        .checked_add(BITMAP_HDR_SIZE)?;
    if byte >= buf.len() {
        return None;
    }
    Some((byte, 1u8 << (bit % 8)))
}

/// Returns bit `bit` of a bitmap block, or `None` if out of range.
pub fn bitmap_test(buf: &[u8], bit: u64) -> Option<bool> {
    let (byte, mask) = bit_pos(buf, bit)?;
    Some(get_u8(buf, byte)? & mask != 0)
}

/// Sets bit `bit` to `val` and returns its previous value. The checksum is
/// not updated (see [`bitmap_seal`]).
pub fn bitmap_set(buf: &mut [u8], bit: u64, val: bool) -> Result<bool> {
    let (byte, mask) = bit_pos(buf, bit).ok_or(FormatError::BadIndex)?;
    let old = get_u8(buf, byte).ok_or(FormatError::BadIndex)?;
    let new = if val { old | mask } else { old & !mask };
    put_u8(buf, byte, new);
    Ok(old & mask != 0)
}

/// Bits `64 * w..64 * w + 64` of the bit area `data` of a bitmap block, least significant
/// first (bit `j` of the word is bit `64 * w + j` of the block); bytes past the end of the
/// block read as set.
#[inline]
fn word(data: &[u8], w: usize) -> u64 {
    let at = w.saturating_mul(8);
    if let Some(b) = data.get(at..at.saturating_add(8)) {
        if let Ok(b) = <[u8; 8]>::try_from(b) {
            return u64::from_le_bytes(b);
        }
    }
    // The last, partial word of a block whose bit area is not a whole number of words.
    let mut b = [0xffu8; 8];
    for (d, s) in b.iter_mut().zip(data.get(at..).unwrap_or(&[])) {
        *d = *s;
    }
    u64::from_le_bytes(b)
}

/// Finds the first bit in `[start, end)` of a bitmap block that is set (`set`) or clear,
/// a word of 64 bits at a time.
fn find_bit(buf: &[u8], start: u64, end: u64, set: bool) -> Option<u64> {
    let end = end.min(bitmap_bits_per_block(buf.len()));
    if start >= end {
        return None;
    }
    let data = buf.get(BITMAP_HDR_SIZE..)?;
    let mut w = usize::try_from(start / 64).ok()?;
    // Bits of the first word before `start` do not count.
    let mut mask = !0u64 << (start % 64);
    loop {
        let base = (w as u64).checked_mul(64)?;
        if base >= end {
            return None;
        }
        let v = word(data, w);
        let hits = if set { v } else { !v } & mask;
        if hits != 0 {
            let bit = base + u64::from(hits.trailing_zeros());
            return (bit < end).then_some(bit);
        }
        mask = !0;
        w = w.checked_add(1)?;
    }
}

/// Finds the last set bit before bit `end` of a bitmap block, a word of 64 bits at a time.
fn last_set_before(buf: &[u8], end: u64) -> Option<u64> {
    let end = end.min(bitmap_bits_per_block(buf.len()));
    let data = buf.get(BITMAP_HDR_SIZE..)?;
    let last = end.checked_sub(1)?;
    let mut w = usize::try_from(last / 64).ok()?;
    // Bits of the last word from `end` on do not count.
    let mut mask = !0u64 >> (63 - last % 64);
    loop {
        let hits = word(data, w) & mask;
        if hits != 0 {
            return Some(w as u64 * 64 + 63 - u64::from(hits.leading_zeros()));
        }
        mask = !0;
        w = w.checked_sub(1)?;
    }
}

/// The length of the run of clear bits of a bitmap block that holds bits `[start, end)`
/// (clear, `start < end <= nbits`): from the set bit before `start` (or the first bit) to
/// the set bit from `end` on (or `nbits`).
pub fn bitmap_zero_run_around(buf: &[u8], nbits: u64, start: u64, end: u64) -> u64 {
    let nbits = nbits.min(bitmap_bits_per_block(buf.len()));
    let first = last_set_before(buf, start).map_or(0, |b| b + 1);
    let stop = find_bit(buf, end, nbits, true).unwrap_or(nbits);
    stop.saturating_sub(first)
}

/// Finds the first clear bit in `[start, end)` of a bitmap block.
pub fn bitmap_find_zero(buf: &[u8], start: u64, end: u64) -> Option<u64> {
    find_bit(buf, start, end, false)
}

/// Counts the set bits in `[0, nbits)` of a bitmap block.
pub fn bitmap_count_set(buf: &[u8], nbits: u64) -> u64 {
    let data = buf.get(BITMAP_HDR_SIZE..).unwrap_or(&[]);
    let full = usize::try_from(nbits / 8)
        .unwrap_or(usize::MAX)
        .min(data.len());
    let mut n: u64 = data
        .get(..full)
        .unwrap_or(&[])
        .iter()
        .map(|b| u64::from(b.count_ones()))
        .sum();
    let rem = nbits % 8;
    if rem != 0 {
        if let Some(b) = data.get(full) {
            n += u64::from((b & ((1u8 << rem) - 1)).count_ones());
        }
    }
    n
}

/// Finds the first set bit in `[start, end)` of a bitmap block.
pub fn bitmap_find_set(buf: &[u8], start: u64, end: u64) -> Option<u64> {
    find_bit(buf, start, end, true)
}

/// The longest run of clear bits of word `v` (not 0) that has a set bit on both sides.
fn inner_zero_run(v: u64) -> u64 {
    let mut v = v >> v.trailing_zeros();
    let mut best = 0;
    loop {
        // Drop the set bits at the bottom; what is left starts with the next clear run,
        // unless only the clear bits above the highest set bit are left.
        v = v.checked_shr((!v).trailing_zeros()).unwrap_or(0);
        if v == 0 {
            return best;
        }
        let z = v.trailing_zeros();
        best = best.max(u64::from(z));
        v >>= z;
    }
}

/// The length of the longest run of clear bits in `[0, nbits)` of a bitmap block, a word of
/// 64 bits at a time.
pub fn bitmap_longest_zero_run(buf: &[u8], nbits: u64) -> u64 {
    let nbits = nbits.min(bitmap_bits_per_block(buf.len()));
    let Some(data) = buf.get(BITMAP_HDR_SIZE..) else {
        return 0;
    };
    let (mut best, mut run) = (0u64, 0u64);
    let mut base = 0u64;
    let mut w = 0usize;
    while base < nbits {
        let mut v = word(data, w);
        if nbits - base < 64 {
            // Bits at or past `nbits` end any run.
            v |= !0u64 << (nbits - base);
        }
        if v == 0 {
            run += 64;
        } else {
            // The clear bits at the bottom end the current run, those at the top start the
            // next one.
            best = best.max(run + u64::from(v.trailing_zeros()));
            best = best.max(inner_zero_run(v));
            run = u64::from(v.leading_zeros());
        }
        base += 64;
        w += 1;
    }
    best.max(run)
}
