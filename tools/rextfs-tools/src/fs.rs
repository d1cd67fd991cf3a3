// SPDX-License-Identifier: GPL-2.0

//! A mounted-in-userspace view of an image: superblock, allocation bitmaps
//! held in memory, and raw block and inode I/O. Tree and directory
//! operations live in [`crate::tree`] and [`crate::ops`].

use crate::bitset::Bitset;
use crate::dev::Dev;
use crate::error::{msg, Context, Error, Result};
use rextfs_format::*;

/// An open image.
pub struct Fs {
    dev: Box<dyn Dev>,
    /// Superblock (counts are kept up to date in memory; see [`Fs::flush`]).
    pub sb: Superblock,
    /// Block allocation map (bit per block).
    pub bmap: Bitset,
    /// Inode allocation map (bit `ino - 1`).
    pub imap: Bitset,
    /// Test knob: `max` given to new tree block nodes (small values build
    /// deep trees quickly). `None` means full capacity.
    pub node_max: Option<u16>,
    /// Timestamp used for new inodes.
    pub now: i64,
    /// Next allocation goal for data blocks.
    goal: u64,
}

/// Current time in seconds since the epoch.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Why these tools refuse a super block of format `version`; `None` for
/// [`FORMAT_VERSION`], the one they read and write.
pub fn version_message(version: u32) -> Option<String> {
    match version {
        FORMAT_VERSION => None,
        1 => Some(format!(
            "the image is of rextfs format version 1; these tools need format version \
             {FORMAT_VERSION} (the metadata journal and the keyed name hash). No conversion \
             exists: copy the files off with an older rextfs, run mkfs.rextfs again and copy \
             them back"
        )),
        v if v > FORMAT_VERSION => Some(format!(
            "the image is of rextfs format version {v}, newer than these tools know (version \
             {FORMAT_VERSION}): use newer rextfs tools"
        )),
        v => Some(format!(
            "unknown rextfs format version {v} (these tools need version {FORMAT_VERSION})"
        )),
    }
}

/// Reads and decodes the superblock of a device. An image of another format
/// version is refused with [`version_message`].
pub fn read_superblock(dev: &mut dyn Dev) -> Result<Superblock> {
    let mut buf = vec![0u8; SB_SIZE];
    dev.read_at(SB_OFFSET, &mut buf)?;
    if let Ok(raw) = Superblock::decode_raw(&buf) {
        if let Some(m) = version_message(raw.version) {
            return msg(m);
        }
    }
    let sb = Superblock::decode(&buf).ctx(|| "superblock".into())?;
    let bytes = sb.total_blocks.checked_mul(sb.block_size() as u64);
    if bytes.map_or(true, |b| b > dev.size()) {
        return msg(format!(
            "filesystem ({} blocks) is larger than the device ({} bytes)",
            sb.total_blocks,
            dev.size()
        ));
    }
    Ok(sb)
}

/// Loads a bitmap region into a [`Bitset`] of `n` bits, checking every
/// bitmap block. Padding bits are not returned.
pub fn load_bitmap(
    dev: &mut dyn Dev,
    sb: &Superblock,
    start: u64,
    blocks: u64,
    kind: u32,
    n: u64,
) -> Result<Bitset> {
    let bs = sb.block_size();
    let bits = bitmap_bits_per_block(bs);
    let mut set = Bitset::new(n);
    let mut buf = vec![0u8; bs];
    for k in 0..blocks {
        let b = start + k;
        dev.read_at(b * bs as u64, &mut buf)?;
        bitmap_check(&buf, b, kind, k).ctx(|| format!("bitmap block {b}"))?;
        fill_from_block(&mut set, &buf, k * bits, bits);
    }
    Ok(set)
}

/// Copies the bits of one bitmap block (covering items `base..base+bits`)
/// into `set`.
pub fn fill_from_block(set: &mut Bitset, buf: &[u8], base: u64, bits: u64) {
    let data = &buf[BITMAP_HDR_SIZE.min(buf.len())..];
    for (j, &byte) in data.iter().enumerate() {
        if byte == 0 {
            continue;
        }
        for bit in 0..8u64 {
            let i = j as u64 * 8 + bit;
            if i < bits && byte & (1 << bit) != 0 {
                set.set(base + i, true);
            }
        }
    }
}

/// Builds bitmap block `k` of a region from `set` (items past
/// `set.len()` are padding and set).
pub fn bitmap_block_from(set: &Bitset, blockno: u64, kind: u32, k: u64, bs: usize) -> Vec<u8> {
    let mut buf = vec![0u8; bs];
    let bits = bitmap_bits_per_block(bs);
    // bs is valid, so this cannot fail.
    let _ = bitmap_init(&mut buf, blockno, kind, k);
    let base = k * bits;
    for (j, byte) in buf[BITMAP_HDR_SIZE..].iter_mut().enumerate() {
        let mut v = 0u8;
        for bit in 0..8u64 {
            let i = base + j as u64 * 8 + bit;
            if i >= set.len() || set.get(i) {
                v |= 1 << bit;
            }
        }
        *byte = v;
    }
    let _ = bitmap_seal(&mut buf);
    buf
}

impl Fs {
    /// Opens an image: reads the superblock and both bitmaps.
    pub fn open(mut dev: Box<dyn Dev>) -> Result<Fs> {
        let sb = read_superblock(dev.as_mut())?;
        let l = sb.layout;
        let bmap = load_bitmap(
            dev.as_mut(),
            &sb,
            l.block_bitmap_start,
            l.block_bitmap_blocks,
            BITMAP_KIND_BLOCKS,
            sb.total_blocks,
        )?;
        let imap = load_bitmap(
            dev.as_mut(),
            &sb,
            l.inode_bitmap_start,
            l.inode_bitmap_blocks,
            BITMAP_KIND_INODES,
            sb.total_inodes,
        )?;
        Ok(Self::from_parts(dev, sb, bmap, imap))
    }

    /// Builds an `Fs` from a superblock and allocation maps computed
    /// elsewhere (mkfs, fsck repairs). Free counts in `sb` are recomputed.
    pub fn from_parts(dev: Box<dyn Dev>, mut sb: Superblock, bmap: Bitset, imap: Bitset) -> Fs {
        sb.free_blocks = sb.total_blocks - bmap.count();
        sb.free_inodes = sb.total_inodes - imap.count();
        let goal = sb.layout.data_start;
        Fs {
            dev,
            sb,
            bmap,
            imap,
            node_max: None,
            now: now_secs(),
            goal,
        }
    }

    /// Gives the device back.
    pub fn into_dev(self) -> Box<dyn Dev> {
        self.dev
    }

    /// Block size in bytes.
    pub fn bs(&self) -> usize {
        self.sb.block_size()
    }

    /// Direct access to the device.
    pub fn dev(&mut self) -> &mut dyn Dev {
        self.dev.as_mut()
    }

    /// Reads block `b`.
    pub fn read_block(&mut self, b: u64) -> Result<Vec<u8>> {
        if b >= self.sb.total_blocks {
            return msg(format!("block {b} beyond end of filesystem"));
        }
        let bs = self.bs();
        let mut buf = vec![0u8; bs];
        self.dev.read_at(b * bs as u64, &mut buf)?;
        Ok(buf)
    }

    /// Writes block `b`.
    pub fn write_block(&mut self, b: u64, data: &[u8]) -> Result<()> {
        if b >= self.sb.total_blocks || data.len() != self.bs() {
            return msg(format!("bad block write at {b}"));
        }
        self.dev.write_at(b * self.bs() as u64, data)?;
        Ok(())
    }

    fn inode_pos(&self, ino: u64) -> Result<u64> {
        let (b, off) = self
            .sb
            .inode_location(ino)
            .ok_or_else(|| Error::Msg(format!("inode {ino} out of range")))?;
        Ok(b * self.bs() as u64 + off as u64)
    }

    /// Reads the raw slot of inode `ino`.
    pub fn read_inode_raw(&mut self, ino: u64) -> Result<[u8; INODE_SIZE]> {
        let pos = self.inode_pos(ino)?;
        let mut buf = [0u8; INODE_SIZE];
        self.dev.read_at(pos, &mut buf)?;
        Ok(buf)
    }

    /// Writes the raw slot of inode `ino`.
    pub fn write_inode_raw(&mut self, ino: u64, buf: &[u8; INODE_SIZE]) -> Result<()> {
        let pos = self.inode_pos(ino)?;
        self.dev.write_at(pos, buf)?;
        Ok(())
    }

    /// Reads and validates inode `ino`.
    pub fn read_inode(&mut self, ino: u64) -> Result<Inode> {
        let buf = self.read_inode_raw(ino)?;
        Inode::decode(ino, &buf).ctx(|| format!("inode {ino}"))
    }

    /// Encodes and writes inode `ino`.
    pub fn write_inode(&mut self, ino: u64, inode: &Inode) -> Result<()> {
        let mut buf = [0u8; INODE_SIZE];
        inode.encode(ino, &mut buf).ctx(|| format!("inode {ino}"))?;
        self.write_inode_raw(ino, &buf)
    }

    /// Zeroes the slot of inode `ino` (does not touch the bitmap).
    pub fn zero_inode(&mut self, ino: u64) -> Result<()> {
        self.write_inode_raw(ino, &[0u8; INODE_SIZE])
    }

    /// Allocates up to `want` contiguous blocks, trying `goal` first.
    /// Returns `(start, len)` with `1 <= len <= want`.
    pub fn alloc_run(&mut self, goal: u64, want: u64) -> Result<(u64, u64)> {
        let ds = self.sb.layout.data_start;
        let total = self.sb.total_blocks;
        let goal = if goal < ds || goal >= total {
            self.goal
        } else {
            goal
        };
        let start = self
            .bmap
            .find_clear(goal, total)
            .or_else(|| self.bmap.find_clear(ds, goal))
            .ok_or_else(|| Error::Msg("no free blocks left".into()))?;
        let mut len = 1;
        while len < want && start + len < total && !self.bmap.get(start + len) {
            len += 1;
        }
        self.bmap.set_range(start, len);
        self.sb.free_blocks -= len;
        self.goal = start + len;
        Ok((start, len))
    }

    /// Allocates one block near `goal`.
    pub fn alloc_block(&mut self, goal: u64) -> Result<u64> {
        Ok(self.alloc_run(goal, 1)?.0)
    }

    /// Frees `len` blocks from `start` (blocks already free are ignored).
    pub fn free_run(&mut self, start: u64, len: u64) {
        let used = self.bmap.count_range(start, len);
        self.bmap.clear_range(start, len);
        self.sb.free_blocks += used;
    }

    /// Allocates an inode number (>= [`FIRST_INO`]).
    pub fn alloc_ino(&mut self) -> Result<u64> {
        let bit = self
            .imap
            .find_clear(FIRST_INO - 1, self.sb.total_inodes)
            .ok_or_else(|| Error::Msg("no free inodes left".into()))?;
        self.imap.set(bit, true);
        self.sb.free_inodes -= 1;
        Ok(bit + 1)
    }

    /// Marks inode `ino` free in the bitmap.
    pub fn free_ino(&mut self, ino: u64) {
        if ino >= 1 && self.imap.get(ino - 1) {
            self.imap.set(ino - 1, false);
            self.sb.free_inodes += 1;
        }
    }

    /// Writes both bitmaps and the superblock (with `state`) to the device.
    pub fn flush(&mut self) -> Result<()> {
        let bs = self.bs();
        let l = self.sb.layout;
        for k in 0..l.block_bitmap_blocks {
            let b = l.block_bitmap_start + k;
            let buf = bitmap_block_from(&self.bmap, b, BITMAP_KIND_BLOCKS, k, bs);
            self.write_block(b, &buf)?;
        }
        for k in 0..l.inode_bitmap_blocks {
            let b = l.inode_bitmap_start + k;
            let buf = bitmap_block_from(&self.imap, b, BITMAP_KIND_INODES, k, bs);
            self.write_block(b, &buf)?;
        }
        self.write_superblock()?;
        self.dev.flush()?;
        Ok(())
    }

    /// Writes the superblock only.
    pub fn write_superblock(&mut self) -> Result<()> {
        let mut buf = vec![0u8; SB_SIZE];
        self.sb.encode(&mut buf).ctx(|| "superblock".into())?;
        self.dev.write_at(SB_OFFSET, &buf)?;
        Ok(())
    }

    /// Applies the test knob [`Fs::node_max`] to a freshly made block node.
    pub(crate) fn apply_node_max(&self, buf: &mut [u8]) -> Result<()> {
        if let Some(m) = self.node_max {
            let h = node_header(buf, NodeForm::Block).ctx(|| "new node".into())?;
            let cap = h.max;
            let want = m.max(h.nr).max(MIN_NODE_MAX).min(cap);
            node_set_max(buf, NodeForm::Block, want).ctx(|| "new node".into())?;
            node_seal(buf, NodeForm::Block).ctx(|| "new node".into())?;
        }
        Ok(())
    }
}
