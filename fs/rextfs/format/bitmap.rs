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

/// Finds the first clear bit in `[start, end)` of a bitmap block.
pub fn bitmap_find_zero(buf: &[u8], start: u64, end: u64) -> Option<u64> {
    let end = end.min(bitmap_bits_per_block(buf.len()));
    let mut bit = start;
    while bit < end {
        let (byte, _) = bit_pos(buf, bit)?;
        let v = get_u8(buf, byte)?;
        if v == 0xff && bit % 8 == 0 {
            bit = bit.saturating_add(8);
            continue;
        }
        if v & (1u8 << (bit % 8)) == 0 {
            return Some(bit);
        }
        bit += 1;
    }
    None
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
    let end = end.min(bitmap_bits_per_block(buf.len()));
    let mut bit = start;
    while bit < end {
        let (byte, _) = bit_pos(buf, bit)?;
        let v = get_u8(buf, byte)?;
        if v == 0 && bit % 8 == 0 {
            bit = bit.saturating_add(8);
            continue;
        }
        if v & (1u8 << (bit % 8)) != 0 {
            return Some(bit);
        }
        bit += 1;
    }
    None
}

/// The length of the longest run of clear bits in `[0, nbits)` of a bitmap block.
pub fn bitmap_longest_zero_run(buf: &[u8], nbits: u64) -> u64 {
    let nbits = nbits.min(bitmap_bits_per_block(buf.len()));
    let (mut best, mut run, mut bit) = (0u64, 0u64, 0u64);
    while bit < nbits {
        let Some((byte, mask)) = bit_pos(buf, bit) else {
            break;
        };
        let v = get_u8(buf, byte).unwrap_or(0xff);
        if bit % 8 == 0 && nbits - bit >= 8 && (v == 0 || v == 0xff) {
            if v == 0 {
                run += 8;
            } else {
                best = best.max(run);
                run = 0;
            }
            bit += 8;
            continue;
        }
        if v & mask == 0 {
            run += 1;
        } else {
            best = best.max(run);
            run = 0;
        }
        bit += 1;
    }
    best.max(run)
}
