// SPDX-License-Identifier: GPL-2.0

//! Superblock and filesystem layout.

use super::bitmap::bitmap_bits_per_block;
use super::bytes::*;
use super::crc::crc32c_with_hole;
use super::inode::INODE_SIZE;
use super::{block_log2_valid, FormatError, Result};

/// Superblock magic, the bytes "RXSB" on disk.
pub const SB_MAGIC: u32 = u32::from_le_bytes(*b"RXSB");
/// Size of the superblock structure at byte 0 of block 0.
pub const SB_SIZE: usize = 1024;
/// Byte offset of the superblock on the device.
pub const SB_OFFSET: u64 = 0;
/// Offset of the checksum inside the superblock.
pub const SB_CRC_OFFSET: usize = 4;
/// The format version this implementation reads and writes. Version 2 added the
/// journal and the keyed directory name hash; version 1 images are refused.
pub const FORMAT_VERSION: u32 = 2;

/// State flag: the filesystem was cleanly unmounted (or freshly checked).
pub const STATE_CLEAN: u32 = 1;
/// State flag: errors were detected while mounted; fsck is needed.
pub const STATE_ERRORS: u32 = 2;
/// All state flags known to this version.
pub const STATE_KNOWN: u32 = STATE_CLEAN | STATE_ERRORS;

/// Compatible features known to this version (none yet).
pub const FEATURE_COMPAT_SUPP: u32 = 0;
/// Incompatible features known to this version (none yet). A filesystem
/// with any other incompat bit set must not be mounted or repaired.
pub const FEATURE_INCOMPAT_SUPP: u32 = 0;
/// Read-only compatible features known to this version (none yet). A
/// filesystem with any other ro_compat bit set may only be mounted read-only.
pub const FEATURE_RO_COMPAT_SUPP: u32 = 0;

/// Inode number of the root directory.
pub const ROOT_INO: u64 = 1;
/// First inode number available to ordinary files; inodes 2..FIRST_INO are
/// reserved (marked used in the inode bitmap, slots left zero).
pub const FIRST_INO: u64 = 8;
/// Smallest number of inodes a filesystem may have.
pub const MIN_INODES: u64 = 64;
/// Largest number of inodes a filesystem may have.
pub const MAX_INODES: u64 = (1 << 32) - 1;
/// Largest device size in blocks.
pub const MAX_BLOCKS: u64 = 1 << 48;
/// Minimum number of data blocks after the metadata regions.
pub const MIN_DATA_BLOCKS: u64 = 16;
/// Size of the volume label field.
pub const LABEL_SIZE: usize = 32;

/// Location of the metadata regions. Every region starts right after the
/// previous one: block 0 (superblock), block bitmap, inode bitmap, inode
/// table, journal, then data blocks up to the end of the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Layout {
    /// First block of the block bitmap (always 1).
    pub block_bitmap_start: u64,
    /// Number of block bitmap blocks.
    pub block_bitmap_blocks: u64,
    /// First block of the inode bitmap.
    pub inode_bitmap_start: u64,
    /// Number of inode bitmap blocks.
    pub inode_bitmap_blocks: u64,
    /// First block of the inode table.
    pub inode_table_start: u64,
    /// Number of inode table blocks.
    pub inode_table_blocks: u64,
    /// First block of the journal (its journal super block).
    pub journal_start: u64,
    /// Number of journal blocks, journal super block included.
    pub journal_blocks: u64,
    /// First block available for file data and tree nodes.
    pub data_start: u64,
}

fn div_ceil(a: u64, b: u64) -> Option<u64> {
    if b == 0 {
        return None;
    }
    Some(a / b + u64::from(a % b != 0))
}

impl Layout {
    /// Computes the one valid layout for a device of `total_blocks` blocks of
    /// `1 << log2` bytes holding `total_inodes` inodes and a journal of
    /// `journal_blocks` blocks. Fails if the geometry is out of the supported
    /// range or leaves fewer than [`MIN_DATA_BLOCKS`] data blocks.
    pub fn compute(
        total_blocks: u64,
        log2: u32,
        total_inodes: u64,
        journal_blocks: u64,
    ) -> Result<Layout> {
        if !block_log2_valid(log2) {
            return Err(FormatError::Invalid("unsupported block size"));
        }
        if total_blocks > MAX_BLOCKS {
            return Err(FormatError::Invalid("too many blocks"));
        }
        if !(MIN_INODES..=MAX_INODES).contains(&total_inodes) {
            return Err(FormatError::Invalid("inode count out of range"));
        }
        if !(super::journal::MIN_JOURNAL_BLOCKS..=super::journal::MAX_JOURNAL_BLOCKS)
            .contains(&journal_blocks)
        {
            return Err(FormatError::Invalid("journal size out of range"));
        }
        let bs = 1u64 << log2;
        let bits = bitmap_bits_per_block(bs as usize);
        let bad = FormatError::Invalid("layout overflow");
        let bbm = div_ceil(total_blocks, bits).ok_or(bad)?;
        let ibm = div_ceil(total_inodes, bits).ok_or(bad)?;
        let itab =
            div_ceil(total_inodes.checked_mul(INODE_SIZE as u64).ok_or(bad)?, bs).ok_or(bad)?;
        let ibm_start = bbm.checked_add(1).ok_or(bad)?;
        let itab_start = ibm_start.checked_add(ibm).ok_or(bad)?;
        let journal_start = itab_start.checked_add(itab).ok_or(bad)?;
        let data_start = journal_start.checked_add(journal_blocks).ok_or(bad)?;
        let min_total = data_start.checked_add(MIN_DATA_BLOCKS).ok_or(bad)?;
        if total_blocks < min_total {
            return Err(FormatError::Invalid("device too small for its metadata"));
        }
        Ok(Layout {
            block_bitmap_start: 1,
            block_bitmap_blocks: bbm,
            inode_bitmap_start: ibm_start,
            inode_bitmap_blocks: ibm,
            inode_table_start: itab_start,
            inode_table_blocks: itab,
            journal_start,
            journal_blocks,
            data_start,
        })
    }
}

/// Decoded superblock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Superblock {
    /// Format version, [`FORMAT_VERSION`].
    pub version: u32,
    /// log2 of the block size (10..=16).
    pub block_log2: u32,
    /// Compatible feature flags.
    pub feature_compat: u32,
    /// Incompatible feature flags.
    pub feature_incompat: u32,
    /// Read-only compatible feature flags.
    pub feature_ro_compat: u32,
    /// State flags ([`STATE_CLEAN`], [`STATE_ERRORS`]).
    pub state: u32,
    /// Size of the device in blocks.
    pub total_blocks: u64,
    /// Number of free blocks.
    pub free_blocks: u64,
    /// Number of inode slots.
    pub total_inodes: u64,
    /// Number of free inodes.
    pub free_inodes: u64,
    /// Region layout.
    pub layout: Layout,
    /// Inode number of the root directory, always [`ROOT_INO`].
    pub root_ino: u64,
    /// First inode of the orphan list, 0 if empty.
    pub orphan_head: u64,
    /// First non-reserved inode number, always [`FIRST_INO`].
    pub first_ino: u64,
    /// Filesystem UUID.
    pub uuid: [u8; 16],
    /// Volume label, NUL padded.
    pub label: [u8; LABEL_SIZE],
    /// Key of the directory name hash ([`super::name_hash`]), random per file system.
    pub hash_key: [u8; 16],
    /// Inode size in bytes, always [`INODE_SIZE`].
    pub inode_size: u32,
    /// Number of mounts since mkfs.
    pub mount_count: u32,
    /// Creation time (seconds since the epoch).
    pub mkfs_time: i64,
    /// Last mount time.
    pub mount_time: i64,
    /// Last superblock write time.
    pub write_time: i64,
    /// Last full check time (fsck).
    pub check_time: i64,
}

impl Superblock {
    /// Block size in bytes.
    pub fn block_size(&self) -> usize {
        1usize << self.block_log2.min(super::MAX_BLOCK_LOG2)
    }

    /// Decodes and fully validates a superblock from the first
    /// [`SB_SIZE`] bytes of `buf`.
    pub fn decode(buf: &[u8]) -> Result<Superblock> {
        let sb = Self::decode_raw(buf)?;
        if !Self::checksum_ok(buf) {
            return Err(FormatError::BadChecksum);
        }
        sb.validate()?;
        Ok(sb)
    }

    /// Returns true if the stored checksum matches.
    pub fn checksum_ok(buf: &[u8]) -> bool {
        let Some(b) = buf.get(..SB_SIZE) else {
            return false;
        };
        get_u32(b, SB_CRC_OFFSET) == Some(crc32c_with_hole(0, b, SB_CRC_OFFSET))
    }

    /// Decodes the fields after checking only the length and magic; neither
    /// the checksum nor the field values are checked.
    pub fn decode_raw(buf: &[u8]) -> Result<Superblock> {
        let b = buf.get(..SB_SIZE).ok_or(FormatError::Short)?;
        if get_u32(b, 0) != Some(SB_MAGIC) {
            return Err(FormatError::BadMagic);
        }
        let u32f = |o| get_u32(b, o).unwrap_or(0);
        let u64f = |o| get_u64(b, o).unwrap_or(0);
        let i64f = |o| get_i64(b, o).unwrap_or(0);
        let mut uuid = [0u8; 16];
        if let Some(s) = b.get(0x90..0xA0) {
            uuid.copy_from_slice(s);
        }
        let mut label = [0u8; LABEL_SIZE];
        if let Some(s) = b.get(0xA0..0xC0) {
            label.copy_from_slice(s);
        }
        let mut hash_key = [0u8; 16];
        if let Some(s) = b.get(0x100..0x110) {
            hash_key.copy_from_slice(s);
        }
        Ok(Superblock {
            version: u32f(0x08),
            block_log2: u32f(0x0C),
            feature_compat: u32f(0x10),
            feature_incompat: u32f(0x14),
            feature_ro_compat: u32f(0x18),
            state: u32f(0x1C),
            total_blocks: u64f(0x20),
            free_blocks: u64f(0x28),
            total_inodes: u64f(0x30),
            free_inodes: u64f(0x38),
            layout: Layout {
                block_bitmap_start: u64f(0x40),
                block_bitmap_blocks: u64f(0x48),
                inode_bitmap_start: u64f(0x50),
                inode_bitmap_blocks: u64f(0x58),
                inode_table_start: u64f(0x60),
                inode_table_blocks: u64f(0x68),
                journal_start: u64f(0xF0),
                journal_blocks: u64f(0xF8),
                data_start: u64f(0x70),
            },
            root_ino: u64f(0x78),
            orphan_head: u64f(0x80),
            first_ino: u64f(0x88),
            uuid,
            label,
            hash_key,
            inode_size: u32f(0xC4),
            mount_count: u32f(0xC8),
            mkfs_time: i64f(0xD0),
            mount_time: i64f(0xD8),
            write_time: i64f(0xE0),
            check_time: i64f(0xE8),
        })
    }

    /// Checks every field for consistency (not the checksum).
    pub fn validate(&self) -> Result<()> {
        if self.version != FORMAT_VERSION {
            return Err(FormatError::Unsupported);
        }
        if self.feature_incompat & !FEATURE_INCOMPAT_SUPP != 0 {
            return Err(FormatError::Unsupported);
        }
        if !block_log2_valid(self.block_log2) {
            return Err(FormatError::Invalid("unsupported block size"));
        }
        if self.inode_size != INODE_SIZE as u32 {
            return Err(FormatError::Invalid("bad inode size"));
        }
        if self.state & !STATE_KNOWN != 0 {
            return Err(FormatError::Invalid("unknown state flags"));
        }
        let layout = Layout::compute(
            self.total_blocks,
            self.block_log2,
            self.total_inodes,
            self.layout.journal_blocks,
        )?;
        if layout != self.layout {
            return Err(FormatError::Invalid(
                "region layout does not match geometry",
            ));
        }
        let data_blocks = self.total_blocks - layout.data_start;
        if self.free_blocks > data_blocks {
            return Err(FormatError::Invalid("free block count too large"));
        }
        if self.root_ino != ROOT_INO {
            return Err(FormatError::Invalid("bad root inode number"));
        }
        if self.first_ino != FIRST_INO {
            return Err(FormatError::Invalid("bad first inode number"));
        }
        if self.free_inodes > self.total_inodes - (FIRST_INO - 1) {
            return Err(FormatError::Invalid("free inode count too large"));
        }
        if self.orphan_head != 0 && !self.ino_valid(self.orphan_head) {
            return Err(FormatError::Invalid("orphan list head out of range"));
        }
        Ok(())
    }

    /// Returns true if the read-only compatible features require a
    /// read-only mount.
    pub fn needs_readonly(&self) -> bool {
        self.feature_ro_compat & !FEATURE_RO_COMPAT_SUPP != 0
    }

    /// Encodes the superblock into the first [`SB_SIZE`] bytes of `buf`,
    /// including its checksum. Bytes 0x0C0..0x0C4 and 0x110..0x400 are zeroed
    /// (reserved).
    pub fn encode(&self, buf: &mut [u8]) -> Result<()> {
        let b = buf.get_mut(..SB_SIZE).ok_or(FormatError::Short)?;
        b.fill(0);
        put_u32(b, 0x00, SB_MAGIC);
        put_u32(b, 0x08, self.version);
        put_u32(b, 0x0C, self.block_log2);
        put_u32(b, 0x10, self.feature_compat);
        put_u32(b, 0x14, self.feature_incompat);
        put_u32(b, 0x18, self.feature_ro_compat);
        put_u32(b, 0x1C, self.state);
        put_u64(b, 0x20, self.total_blocks);
        put_u64(b, 0x28, self.free_blocks);
        put_u64(b, 0x30, self.total_inodes);
        put_u64(b, 0x38, self.free_inodes);
        put_u64(b, 0x40, self.layout.block_bitmap_start);
        put_u64(b, 0x48, self.layout.block_bitmap_blocks);
        put_u64(b, 0x50, self.layout.inode_bitmap_start);
        put_u64(b, 0x58, self.layout.inode_bitmap_blocks);
        put_u64(b, 0x60, self.layout.inode_table_start);
        put_u64(b, 0x68, self.layout.inode_table_blocks);
        put_u64(b, 0x70, self.layout.data_start);
        put_u64(b, 0x78, self.root_ino);
        put_u64(b, 0x80, self.orphan_head);
        put_u64(b, 0x88, self.first_ino);
        put_bytes(b, 0x90, &self.uuid);
        put_bytes(b, 0xA0, &self.label);
        put_u32(b, 0xC4, self.inode_size);
        put_u32(b, 0xC8, self.mount_count);
        put_i64(b, 0xD0, self.mkfs_time);
        put_i64(b, 0xD8, self.mount_time);
        put_i64(b, 0xE0, self.write_time);
        put_i64(b, 0xE8, self.check_time);
        put_u64(b, 0xF0, self.layout.journal_start);
        put_u64(b, 0xF8, self.layout.journal_blocks);
        put_bytes(b, 0x100, &self.hash_key);
        let crc = crc32c_with_hole(0, b, SB_CRC_OFFSET);
        put_u32(b, SB_CRC_OFFSET, crc);
        Ok(())
    }

    /// Returns true if `ino` names an inode slot of this filesystem.
    pub fn ino_valid(&self, ino: u64) -> bool {
        ino >= 1 && ino <= self.total_inodes
    }

    /// Location of inode `ino`: (block number, byte offset in that block).
    pub fn inode_location(&self, ino: u64) -> Option<(u64, usize)> {
        if !self.ino_valid(ino) {
            return None;
        }
        let byte = (ino - 1).checked_mul(INODE_SIZE as u64)?;
        let bs = self.block_size() as u64;
        let block = self.layout.inode_table_start.checked_add(byte / bs)?;
        Some((block, (byte % bs) as usize))
    }

    /// Location of the bitmap bit for block `blockno`: (bitmap block number,
    /// index of that block in the region, bit number inside the block).
    pub fn block_bit_location(&self, blockno: u64) -> Option<(u64, u64, u64)> {
        if blockno >= self.total_blocks {
            return None;
        }
        let bits = bitmap_bits_per_block(self.block_size());
        let idx = blockno / bits;
        Some((
            self.layout.block_bitmap_start.checked_add(idx)?,
            idx,
            blockno % bits,
        ))
    }

    /// Location of the bitmap bit for inode `ino` (bit `ino - 1`): (bitmap
    /// block number, index of that block in the region, bit number).
    pub fn inode_bit_location(&self, ino: u64) -> Option<(u64, u64, u64)> {
        if !self.ino_valid(ino) {
            return None;
        }
        let bits = bitmap_bits_per_block(self.block_size());
        let n = ino - 1;
        let idx = n / bits;
        Some((
            self.layout.inode_bitmap_start.checked_add(idx)?,
            idx,
            n % bits,
        ))
    }

    /// Returns true if block `blockno` lies in the journal region.
    pub fn in_journal(&self, blockno: u64) -> bool {
        let l = &self.layout;
        blockno >= l.journal_start && blockno - l.journal_start < l.journal_blocks
    }

    /// Returns true if `[start, start + len)` lies entirely inside the data
    /// region.
    pub fn data_range_valid(&self, start: u64, len: u64) -> bool {
        match start.checked_add(len) {
            Some(end) => len > 0 && start >= self.layout.data_start && end <= self.total_blocks,
            None => false,
        }
    }

    /// Largest logical block count of a file: byte offsets must fit in i64.
    pub fn max_file_blocks(&self) -> u64 {
        1u64 << (63 - self.block_log2.min(super::MAX_BLOCK_LOG2))
    }
}
