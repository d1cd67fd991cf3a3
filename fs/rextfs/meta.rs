// SPDX-License-Identifier: GPL-2.0

//! Metadata block I/O through the block device's page cache.

use crate::RextFs;
use kernel::fs::SuperBlock;
use kernel::prelude::*;

/// Byte offset of block `blockno`.
pub(crate) fn block_pos(sb: &SuperBlock<RextFs>, blockno: u64) -> Result<u64> {
    blockno
        .checked_mul(u64::from(sb.block_size()))
        .ok_or(EFSCORRUPTED)
}

/// Reads metadata block `blockno` into a new buffer of one block.
pub(crate) fn read_block(sb: &SuperBlock<RextFs>, blockno: u64) -> Result<KVec<u8>> {
    let mut buf = KVec::from_elem(0u8, sb.block_size() as usize, GFP_KERNEL)?;
    sb.read_bytes(block_pos(sb, blockno)?, &mut buf)?;
    Ok(buf)
}

/// Writes a whole metadata block.
pub(crate) fn write_block(sb: &SuperBlock<RextFs>, blockno: u64, buf: &[u8]) -> Result {
    sb.write_bytes(block_pos(sb, blockno)?, buf)
}
