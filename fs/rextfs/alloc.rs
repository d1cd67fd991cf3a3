// SPDX-License-Identifier: GPL-2.0

//! Block and inode allocation in the on-disk bitmaps.
//!
//! Every allocation and free is a read-modify-write of one bitmap block under the super block
//! state lock, which also protects the free counters. Bits are set (and written) before the
//! caller points anything at the new block or inode, and cleared only after the caller
//! removed every reference, so that a crash leaks at worst (fsck reclaims leaks).

use crate::{corrupt, format, meta, RextFs, SbState};
use core::num::NonZeroU64;
use kernel::fs::SuperBlock;
use kernel::prelude::*;

/// Bits per bitmap block, as a divisor that cannot be zero.
fn bits_per_block(geo: &format::Superblock) -> Result<NonZeroU64> {
    NonZeroU64::new(format::bitmap_bits_per_block(geo.block_size())).ok_or(EFSCORRUPTED)
}

/// Which bitmap.
#[derive(Clone, Copy)]
enum Kind {
    Blocks,
    Inodes,
}

struct Bitmap {
    kind: u32,
    start: u64,
    nblocks: u64,
    /// Number of items (blocks or inodes) the bitmap describes.
    items: u64,
}

fn bitmap(geo: &format::Superblock, kind: Kind) -> Bitmap {
    match kind {
        Kind::Blocks => Bitmap {
            kind: format::BITMAP_KIND_BLOCKS,
            start: geo.layout.block_bitmap_start,
            nblocks: geo.layout.block_bitmap_blocks,
            items: geo.total_blocks,
        },
        Kind::Inodes => Bitmap {
            kind: format::BITMAP_KIND_INODES,
            start: geo.layout.inode_bitmap_start,
            nblocks: geo.layout.inode_bitmap_blocks,
            items: geo.total_inodes,
        },
    }
}

fn read_bitmap(sb: &SuperBlock<RextFs>, bm: &Bitmap, idx: u64) -> Result<KVec<u8>> {
    let blockno = bm.start + idx;
    let buf = meta::read_block(sb, blockno)?;
    format::bitmap_check(&buf, blockno, bm.kind, idx)
        .map_err(|e| corrupt(sb, "bitmap block", e))?;
    Ok(buf)
}

fn write_bitmap(sb: &SuperBlock<RextFs>, bm: &Bitmap, idx: u64, buf: &mut [u8]) -> Result {
    format::bitmap_seal(buf).map_err(|e| corrupt(sb, "bitmap block", e))?;
    meta::write_block(sb, bm.start + idx, buf)
}

/// The blocks of one bitmap, as [`alloc_run_in`] and [`free_run_in`] see them: on the device,
/// or in memory in the KUnit tests.
pub(crate) trait BitmapBlocks {
    /// Name of the device, for log lines.
    fn dev_id(&self) -> &CStr;
    /// Kind of the bitmap (`format::BITMAP_KIND_*`), for log lines.
    fn kind(&self) -> u32;
    /// Number of items (blocks or inodes) the bitmap describes.
    fn items(&self) -> u64;
    /// Number of bitmap blocks.
    fn nblocks(&self) -> u64;
    /// Bits per bitmap block.
    fn bits(&self) -> Result<NonZeroU64>;
    /// Reads and checks bitmap block `idx`.
    fn read(&self, idx: u64) -> Result<KVec<u8>>;
    /// Seals and writes bitmap block `idx`.
    fn write(&self, idx: u64, buf: &mut [u8]) -> Result;
    /// Logs a corrupted bitmap block and returns the error to give back.
    fn corrupt(&self, e: format::FormatError) -> Error;
}

/// One of the on-disk bitmaps of a mounted file system.
struct DevBitmap<'a> {
    sb: &'a SuperBlock<RextFs>,
    bm: Bitmap,
}

impl<'a> DevBitmap<'a> {
    fn new(sb: &'a SuperBlock<RextFs>, kind: Kind) -> Self {
        DevBitmap {
            sb,
            bm: bitmap(&sb.data().geo, kind),
        }
    }
}

impl BitmapBlocks for DevBitmap<'_> {
    fn dev_id(&self) -> &CStr {
        self.sb.id()
    }

    fn kind(&self) -> u32 {
        self.bm.kind
    }

    fn items(&self) -> u64 {
        self.bm.items
    }

    fn nblocks(&self) -> u64 {
        self.bm.nblocks
    }

    fn bits(&self) -> Result<NonZeroU64> {
        bits_per_block(&self.sb.data().geo)
    }

    fn read(&self, idx: u64) -> Result<KVec<u8>> {
        read_bitmap(self.sb, &self.bm, idx)
    }

    fn write(&self, idx: u64, buf: &mut [u8]) -> Result {
        write_bitmap(self.sb, &self.bm, idx, buf)
    }

    fn corrupt(&self, e: format::FormatError) -> Error {
        corrupt(self.sb, "bitmap block", e)
    }
}

/// Finds and sets a run of up to `want` clear bits at or after item `goal` in `[lo, items)`,
/// wrapping around to `lo`. Returns (first item, count).
fn alloc_run(
    sb: &SuperBlock<RextFs>,
    kind: Kind,
    lo: u64,
    goal: u64,
    want: u64,
) -> Result<(u64, u64)> {
    alloc_run_in(&DevBitmap::new(sb, kind), lo, goal, want)
}

/// Finds and sets a run of up to `want` clear bits of `bm` at or after item `goal` in
/// `[lo, items)`, wrapping around to `lo`: the first clear bit in that order, and the clear
/// bits following it up to `want`, the end of its bitmap block or the last item. Returns
/// (first item, count).
pub(crate) fn alloc_run_in<B: BitmapBlocks>(
    bm: &B,
    lo: u64,
    goal: u64,
    want: u64,
) -> Result<(u64, u64)> {
    let bits = bm.bits()?;
    let nblocks = NonZeroU64::new(bm.nblocks()).ok_or(EFSCORRUPTED)?;
    let items = bm.items();
    let goal = if goal < lo || goal >= items { lo } else { goal };
    // Visit every bitmap block once, starting with the goal's, then once more the goal's
    // block from its start (the part before the goal).
    let first = goal / bits;
    for step in 0..=nblocks.get() {
        let idx = (first + step) % nblocks;
        let base = idx * bits.get();
        let from = if step == 0 {
            goal - base
        } else {
            lo.saturating_sub(base)
        };
        let end = (items - base).min(bits.get());
        if from >= end {
            continue;
        }
        let mut buf = bm.read(idx)?;
        let Some(bit) = format::bitmap_find_zero(&buf, from, end) else {
            continue;
        };
        let mut n = 0u64;
        while n < want && bit + n < end && format::bitmap_test(&buf, bit + n) == Some(false) {
            format::bitmap_set(&mut buf, bit + n, true).map_err(|e| bm.corrupt(e))?;
            n += 1;
        }
        bm.write(idx, &mut buf)?;
        return Ok((base + bit, n));
    }
    Err(ENOSPC)
}

/// Clears `count` bits from item `first`.
fn free_run(sb: &SuperBlock<RextFs>, kind: Kind, first: u64, count: u64) -> Result {
    free_run_in(&DevBitmap::new(sb, kind), first, count)
}

/// Clears `count` bits of `bm` from item `first`; every one of them must be set. Bitmap blocks
/// are written one by one: when a clear bit is found, the blocks before its block stay written.
pub(crate) fn free_run_in<B: BitmapBlocks>(bm: &B, first: u64, count: u64) -> Result {
    let bits = bm.bits()?;
    let mut item = first;
    let end = first.checked_add(count).ok_or(EFSCORRUPTED)?;
    if end > bm.items() {
        return Err(EFSCORRUPTED);
    }
    while item < end {
        let idx = item / bits;
        let base = idx * bits.get();
        let stop = end.min(base + bits.get());
        let mut buf = bm.read(idx)?;
        while item < stop {
            if !format::bitmap_set(&mut buf, item - base, false).map_err(|e| bm.corrupt(e))? {
                pr_err!(
                    "{}: freeing free item {} (bitmap kind {})\n",
                    bm.dev_id(),
                    item,
                    bm.kind()
                );
                return Err(EFSCORRUPTED);
            }
            item += 1;
        }
        bm.write(idx, &mut buf)?;
    }
    Ok(())
}

/// The first run of clear bits of bitmap block `buf` in `[bit, stop)`: (first bit, length),
/// the run ending at the first set bit or at `stop`.
pub(crate) fn free_run_at(buf: &[u8], bit: u64, stop: u64) -> Option<(u64, u64)> {
    let first = format::bitmap_find_zero(buf, bit, stop)?;
    let mut n = 1u64;
    while first + n < stop && format::bitmap_test(buf, first + n) == Some(false) {
        n += 1;
    }
    Some((first, n))
}

/// Allocates up to `want` contiguous data blocks, preferably at `goal`. Returns the first block
/// and the count (at least 1).
pub(crate) fn alloc_blocks(sb: &SuperBlock<RextFs>, goal: u64, want: u64) -> Result<(u64, u64)> {
    let info = sb.data();
    let mut st = info.state.lock();
    if st.disk.free_blocks == 0 {
        return Err(ENOSPC);
    }
    let want = want.clamp(1, st.disk.free_blocks).min(u64::from(u32::MAX));
    let (start, n) = alloc_run(sb, Kind::Blocks, info.geo.layout.data_start, goal, want)?;
    if !info.geo.data_range_valid(start, n) {
        pr_err!(
            "{}: block bitmap marks metadata block {} free\n",
            sb.id(),
            start
        );
        return Err(EFSCORRUPTED);
    }
    st.disk.free_blocks -= n;
    Ok((start, n))
}

/// Frees `count` blocks from `start`; the caller has removed every reference to them.
pub(crate) fn free_blocks(sb: &SuperBlock<RextFs>, start: u64, count: u64) -> Result {
    let info = sb.data();
    if !info.geo.data_range_valid(start, count) {
        pr_err!(
            "{}: freeing blocks {}+{} outside the data area\n",
            sb.id(),
            start,
            count
        );
        return Err(EFSCORRUPTED);
    }
    let mut st = info.state.lock();
    free_run(sb, Kind::Blocks, start, count)?;
    st.disk.free_blocks = st.disk.free_blocks.saturating_add(count);
    Ok(())
}

/// Allocates an inode number (bit `ino - 1`), never a reserved one.
pub(crate) fn alloc_inode(sb: &SuperBlock<RextFs>) -> Result<u64> {
    let info = sb.data();
    let mut st: kernel::sync::MutexGuard<'_, SbState> = info.state.lock();
    if st.disk.free_inodes == 0 {
        return Err(ENOSPC);
    }
    let lo = format::FIRST_INO - 1;
    let (bit, _) = alloc_run(sb, Kind::Inodes, lo, lo, 1)?;
    st.disk.free_inodes -= 1;
    Ok(bit + 1)
}

/// Frees inode `ino`; the caller has zeroed its slot.
pub(crate) fn free_inode(sb: &SuperBlock<RextFs>, ino: u64) -> Result {
    let info = sb.data();
    if ino < format::FIRST_INO || !info.geo.ino_valid(ino) {
        return Err(EFSCORRUPTED);
    }
    let mut st = info.state.lock();
    free_run(sb, Kind::Inodes, ino - 1, 1)?;
    st.disk.free_inodes = st.disk.free_inodes.saturating_add(1);
    Ok(())
}

/// Discards the free data blocks of `[start, end)` that lie in runs of at least `minlen` free
/// blocks (`FITRIM`), returning how many blocks were discarded. Each bitmap block is handled
/// with the super block state lock held, so no block of it can be allocated (and written)
/// while it is being discarded; allocations wait for at most one bitmap block's discards.
/// Runs are cut at bitmap block boundaries.
pub(crate) fn trim(sb: &SuperBlock<RextFs>, start: u64, end: u64, minlen: u64) -> Result<u64> {
    let info = sb.data();
    let geo = &info.geo;
    let bm = bitmap(geo, Kind::Blocks);
    let bits = bits_per_block(geo)?;
    let bs = geo.block_size() as u64;
    let end = end.min(bm.items);
    let minlen = minlen.max(1);
    let mut item = start.max(geo.layout.data_start);
    let mut trimmed = 0u64;
    while item < end {
        let idx = item / bits;
        let base = idx * bits.get();
        let stop = end.min(base + bits.get()) - base;
        {
            let _st = info.state.lock();
            let buf = read_bitmap(sb, &bm, idx)?;
            let mut bit = item - base;
            while let Some((first, n)) = free_run_at(&buf, bit, stop) {
                if n >= minlen {
                    sb.discard((base + first) * bs, n * bs)?;
                    trimmed += n;
                }
                bit = first + n;
            }
        }
        item = base + stop;
    }
    Ok(trimmed)
}

