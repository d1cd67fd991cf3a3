// SPDX-License-Identifier: GPL-2.0

//! On-disk format of rextfs.
//!
//! This module is shared verbatim between the kernel module (as `mod format;`
//! of the `rextfs` crate) and the userspace tools (through the
//! `tools/rextfs-format` crate). It uses only `core`, never allocates, never
//! leaves safe Rust and never panics on any input: every decoder takes a byte
//! slice and returns a [`Result`], every encoder writes into a caller-provided
//! buffer.
//!
//! The format itself is described in `Documentation/filesystems/rextfs.rst`.

#![allow(dead_code, unreachable_pub, unused_imports)]

pub mod bitmap;
mod bytes;
pub mod crc;
pub mod dir;
pub mod inode;
pub mod journal;
pub mod siphash;
pub mod superblock;
pub mod tree;
pub mod xattr;

pub use bitmap::*;
pub use crc::*;
pub use dir::*;
pub use inode::*;
pub use journal::*;
pub use superblock::*;
pub use tree::*;
pub use xattr::*;

/// Errors returned by the decoders, validators and node operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatError {
    /// The buffer is shorter than the structure it should hold.
    Short,
    /// The magic number does not match.
    BadMagic,
    /// The stored checksum does not match the contents.
    BadChecksum,
    /// The block number recorded in a block header is not where it was read.
    WrongBlock,
    /// The owner recorded in a block header is not the expected inode.
    WrongOwner,
    /// Version or incompatible feature not supported by this implementation.
    Unsupported,
    /// A field holds an invalid value; the text names the check that failed.
    Invalid(&'static str),
    /// A node or directory block has no room for the new record or entry.
    Full,
    /// Inserting the record at that position would break the key ordering.
    OutOfOrder,
    /// A record index or position is out of range.
    BadIndex,
}

impl FormatError {
    /// Short static description, suitable for log messages.
    pub fn as_str(&self) -> &'static str {
        match self {
            FormatError::Short => "structure truncated",
            FormatError::BadMagic => "bad magic number",
            FormatError::BadChecksum => "checksum mismatch",
            FormatError::WrongBlock => "block number in header does not match location",
            FormatError::WrongOwner => "owner in header does not match",
            FormatError::Unsupported => "unsupported version or feature",
            FormatError::Invalid(what) => what,
            FormatError::Full => "no room left",
            FormatError::OutOfOrder => "record out of order",
            FormatError::BadIndex => "index out of range",
        }
    }
}

/// Result type of this module.
pub type Result<T> = core::result::Result<T, FormatError>;

/// Smallest supported block size, log2 (1 KiB).
pub const MIN_BLOCK_LOG2: u32 = 10;
/// Largest supported block size, log2 (64 KiB).
pub const MAX_BLOCK_LOG2: u32 = 16;
/// Default block size, log2 (4 KiB).
pub const DEFAULT_BLOCK_LOG2: u32 = 12;

/// Size of the common metadata block header: magic u32, crc u32,
/// block number u64, owner (or index) u64.
pub const META_HDR_SIZE: usize = 24;
/// Offset of the checksum field inside every metadata header.
pub const META_CRC_OFFSET: usize = 4;

/// Reads the magic number (first 4 bytes) of a metadata block.
pub fn meta_magic(buf: &[u8]) -> Option<u32> {
    bytes::get_u32(buf, 0)
}

/// Checks the common header of a metadata block: magic, checksum over the
/// whole buffer with the crc field taken as zero, and the recorded block
/// number. The owner is returned for the caller to check.
pub fn meta_check(buf: &[u8], magic: u32, blockno: u64) -> Result<u64> {
    meta_check_with(buf, magic, blockno, true)
}

/// [`meta_check`] without the checksum, for a block whose checksum was verified when it was
/// read and that only this code changed since (and sealed).
pub fn meta_check_fields(buf: &[u8], magic: u32, blockno: u64) -> Result<u64> {
    meta_check_with(buf, magic, blockno, false)
}

fn meta_check_with(buf: &[u8], magic: u32, blockno: u64, crc: bool) -> Result<u64> {
    if buf.len() < META_HDR_SIZE {
        return Err(FormatError::Short);
    }
    if bytes::get_u32(buf, 0) != Some(magic) {
        return Err(FormatError::BadMagic);
    }
    let stored = bytes::get_u32(buf, META_CRC_OFFSET).ok_or(FormatError::Short)?;
    if crc && crc::crc32c_with_hole(0, buf, META_CRC_OFFSET) != stored {
        return Err(FormatError::BadChecksum);
    }
    if bytes::get_u64(buf, 8) != Some(blockno) {
        return Err(FormatError::WrongBlock);
    }
    bytes::get_u64(buf, 16).ok_or(FormatError::Short)
}

/// Writes the common header fields (magic, block number, owner) of a
/// metadata block. The checksum is left untouched; call [`meta_seal`] once
/// the block is complete.
pub fn meta_init(buf: &mut [u8], magic: u32, blockno: u64, owner: u64) -> Result<()> {
    if buf.len() < META_HDR_SIZE {
        return Err(FormatError::Short);
    }
    bytes::put_u32(buf, 0, magic);
    bytes::put_u32(buf, META_CRC_OFFSET, 0);
    bytes::put_u64(buf, 8, blockno);
    bytes::put_u64(buf, 16, owner);
    Ok(())
}

/// Recomputes and stores the checksum of a metadata block (whole buffer).
pub fn meta_seal(buf: &mut [u8]) -> Result<()> {
    if buf.len() < META_HDR_SIZE {
        return Err(FormatError::Short);
    }
    let crc = crc::crc32c_with_hole(0, buf, META_CRC_OFFSET);
    bytes::put_u32(buf, META_CRC_OFFSET, crc);
    Ok(())
}

/// Returns the block number recorded in a metadata header.
pub fn meta_blockno(buf: &[u8]) -> Option<u64> {
    bytes::get_u64(buf, 8)
}

/// Returns the owner (or index) recorded in a metadata header.
pub fn meta_owner(buf: &[u8]) -> Option<u64> {
    bytes::get_u64(buf, 16)
}

/// Returns true if `log2` is a supported block size.
pub fn block_log2_valid(log2: u32) -> bool {
    (MIN_BLOCK_LOG2..=MAX_BLOCK_LOG2).contains(&log2)
}
