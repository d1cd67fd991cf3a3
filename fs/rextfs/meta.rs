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

/// Where the tree code (extent trees, directory hash indexes) reads, writes, allocates and
/// frees its node blocks: the mounted file system, or memory in the KUnit tests.
pub(crate) trait NodeStore {
    /// Name of the device, for log lines.
    fn dev_id(&self) -> &CStr;
    /// Size of a node block in bytes.
    fn node_size(&self) -> usize;
    /// Whether blocks `start..start + len` lie in the data area.
    fn in_data_area(&self, start: u64, len: u64) -> bool;
    /// Reads node block `blockno` into a new buffer.
    fn read_node_block(&self, blockno: u64) -> Result<KVec<u8>>;
    /// Writes a whole node block.
    fn write_node_block(&self, blockno: u64, buf: &[u8]) -> Result;
    /// Allocates one block, preferably at `goal`.
    fn alloc_node_block(&self, goal: u64) -> Result<u64>;
    /// Frees one block no longer referenced.
    fn free_node_block(&self, blockno: u64) -> Result;
    /// Logs corruption of a `what` and returns the error to give back.
    fn corrupt(&self, what: &str, e: crate::FormatError) -> Error;
}

impl NodeStore for SuperBlock<RextFs> {
    fn dev_id(&self) -> &CStr {
        self.id()
    }

    fn node_size(&self) -> usize {
        self.block_size() as usize
    }

    fn in_data_area(&self, start: u64, len: u64) -> bool {
        self.data().geo.data_range_valid(start, len)
    }

    fn read_node_block(&self, blockno: u64) -> Result<KVec<u8>> {
        read_block(self, blockno)
    }

    fn write_node_block(&self, blockno: u64, buf: &[u8]) -> Result {
        write_block(self, blockno, buf)
    }

    fn alloc_node_block(&self, goal: u64) -> Result<u64> {
        crate::alloc::alloc_blocks(self, goal, 1).map(|(b, _)| b)
    }

    fn free_node_block(&self, blockno: u64) -> Result {
        crate::alloc::free_blocks(self, blockno, 1)
    }

    fn corrupt(&self, what: &str, e: crate::FormatError) -> Error {
        crate::corrupt(self, what, e)
    }
}
