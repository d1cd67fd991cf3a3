// SPDX-License-Identifier: GPL-2.0

//! Block and inode allocation in the on-disk bitmaps.
//!
//! Every allocation and free is a read-modify-write of one bitmap block under the super block
//! state lock, which also protects the free counters, as part of the caller's transaction
//! handle (the counters are in the super block, which the journal logs at commit). Bits are
//! set (and written) before the caller points anything at the new block or inode, and cleared
//! only after the caller removed every reference, so that without the journal a crash leaks at
//! worst (fsck reclaims leaks).

use crate::journal::Handle;
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
    meta::read_block_verified(sb, blockno, meta::BlockKind::Bitmap, |buf| {
        format::bitmap_check(buf, blockno, bm.kind, idx).map_err(|e| corrupt(sb, "bitmap block", e))
    })
}

fn write_bitmap(h: &Handle<'_>, bm: &Bitmap, idx: u64, buf: &mut [u8]) -> Result {
    format::bitmap_seal(buf).map_err(|e| corrupt(h.sb(), "bitmap block", e))?;
    h.write_block(bm.start + idx, buf)
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
    /// The first extent (start, end) of items `item..item + len` that must not be allocated
    /// although their bits are clear: blocks freed by a transaction that has not committed
    /// (see [`crate::journal::busy_overlap`]).
    fn busy(&self, _item: u64, _len: u64) -> Option<(u64, u64)> {
        None
    }
}

/// One of the on-disk bitmaps of a mounted file system, changed in the transaction of `h`.
struct DevBitmap<'a, 'b> {
    h: &'a Handle<'b>,
    bm: Bitmap,
    /// Skip busy blocks (every allocation of data or metadata blocks does).
    skip_busy: bool,
}

impl<'a, 'b> DevBitmap<'a, 'b> {
    fn new(h: &'a Handle<'b>, kind: Kind) -> Self {
        DevBitmap {
            h,
            bm: bitmap(&h.sb().data().geo, kind),
            skip_busy: false,
        }
    }
}

impl BitmapBlocks for DevBitmap<'_, '_> {
    fn dev_id(&self) -> &CStr {
        self.h.sb().id()
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
        bits_per_block(&self.h.sb().data().geo)
    }

    fn read(&self, idx: u64) -> Result<KVec<u8>> {
        read_bitmap(self.h.sb(), &self.bm, idx)
    }

    fn write(&self, idx: u64, buf: &mut [u8]) -> Result {
        write_bitmap(self.h, &self.bm, idx, buf)
    }

    fn corrupt(&self, e: format::FormatError) -> Error {
        corrupt(self.h.sb(), "bitmap block", e)
    }

    fn busy(&self, item: u64, len: u64) -> Option<(u64, u64)> {
        if !self.skip_busy {
            return None;
        }
        crate::journal::busy_overlap(self.h.sb(), item, len)
    }
}

/// Finds and sets a run of up to `want` clear bits at or after item `goal` in `[lo, items)`,
/// wrapping around to `lo`. Returns (first item, count).
fn alloc_run(h: &Handle<'_>, kind: Kind, lo: u64, goal: u64, want: u64) -> Result<(u64, u64)> {
    alloc_run_in(&DevBitmap::new(h, kind), lo, goal, want)
}

/// [`alloc_run`] of blocks, which skips busy blocks.
fn alloc_data_run(h: &Handle<'_>, lo: u64, goal: u64, want: u64) -> Result<(u64, u64)> {
    let mut bm = DevBitmap::new(h, Kind::Blocks);
    bm.skip_busy = true;
    alloc_run_in(&bm, lo, goal, want)
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
        // The first clear bit that is not busy.
        let mut from = from;
        let found = loop {
            let Some(bit) = format::bitmap_find_zero(&buf, from, end) else {
                break None;
            };
            match bm.busy(base + bit, 1) {
                Some((_, busy_end)) => from = busy_end.saturating_sub(base),
                None => break Some(bit),
            }
            if from >= end {
                break None;
            }
        };
        let Some(bit) = found else {
            continue;
        };
        // Up to the next busy extent.
        let want = match bm.busy(base + bit, want) {
            Some((busy_start, _)) => want.min(busy_start.saturating_sub(base + bit)),
            None => want,
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
fn free_run(h: &Handle<'_>, kind: Kind, first: u64, count: u64) -> Result {
    free_run_in(&DevBitmap::new(h, kind), first, count)
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

/// The number of bits of one bitmap block of the mounted file system: the most blocks a step
/// of a long operation frees at once, so that each run it frees spans at most two bitmap
/// blocks (see [`crate::credits::FREE_RUN`]).
pub(crate) fn bits_per_bitmap_block(sb: &SuperBlock<RextFs>) -> u64 {
    bits_per_block(&sb.data().geo).map_or(1, NonZeroU64::get)
}

/// Allocates up to `want` contiguous blocks for file data, preferably at `goal`, in the
/// transaction of `h`. Returns the first block and the count (at least 1); the blocks lie in
/// one bitmap block. Blocks freed by transactions that have not committed are not used (file
/// data is written in place, and a crash could give them back to their old owner): `ENOSPC`
/// when only those are left, after which the caller commits ([`Handle::restart`]) and tries
/// again.
pub(crate) fn alloc_blocks(h: &Handle<'_>, goal: u64, want: u64) -> Result<(u64, u64)> {
    alloc_blocks_as(h, goal, want)
}

/// Allocates up to `want` contiguous blocks for metadata (tree nodes, directory and symlink
/// blocks, all written through the journal), as [`alloc_blocks`]. Busy blocks are not used
/// either: a block freed and allocated again in one transaction would need its busy extent
/// split and its revoke record kept, which the journal does not do (yet).
pub(crate) fn alloc_meta_blocks(h: &Handle<'_>, goal: u64, want: u64) -> Result<(u64, u64)> {
    alloc_blocks_as(h, goal, want)
}

fn alloc_blocks_as(h: &Handle<'_>, goal: u64, want: u64) -> Result<(u64, u64)> {
    let sb = h.sb();
    let info = sb.data();
    let mut st = info.state.lock();
    if st.disk.free_blocks == 0 {
        return Err(ENOSPC);
    }
    let want = want.clamp(1, st.disk.free_blocks).min(u64::from(u32::MAX));
    let lo = info.geo.layout.data_start;
    let (start, n) = alloc_data_run(h, lo, goal, want)?;
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

/// Frees `count` blocks from `start` in the transaction of `h`; the caller has removed every
/// reference to them.
pub(crate) fn free_blocks(h: &Handle<'_>, start: u64, count: u64) -> Result {
    let sb = h.sb();
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
    // Whatever metadata the blocks held is gone: a later owner (file data written by iomap,
    // or new metadata) must never meet a cached copy of it. Dropped before the blocks can be
    // allocated again (under the state lock, which allocation takes).
    h.forget_blocks(start, count)?;
    free_run(h, Kind::Blocks, start, count)?;
    st.disk.free_blocks = st.disk.free_blocks.saturating_add(count);
    Ok(())
}

/// Allocates an inode number (bit `ino - 1`), never a reserved one, in the transaction of `h`.
pub(crate) fn alloc_inode(h: &Handle<'_>) -> Result<u64> {
    let info = h.sb().data();
    let mut st: kernel::sync::MutexGuard<'_, SbState> = info.state.lock();
    if st.disk.free_inodes == 0 {
        return Err(ENOSPC);
    }
    let lo = format::FIRST_INO - 1;
    let (bit, _) = alloc_run(h, Kind::Inodes, lo, lo, 1)?;
    st.disk.free_inodes -= 1;
    Ok(bit + 1)
}

/// Frees inode `ino` in the transaction of `h`; the caller has zeroed its slot.
pub(crate) fn free_inode(h: &Handle<'_>, ino: u64) -> Result {
    let info = h.sb().data();
    if ino < format::FIRST_INO || !info.geo.ino_valid(ino) {
        return Err(EFSCORRUPTED);
    }
    let mut st = info.state.lock();
    free_run(h, Kind::Inodes, ino - 1, 1)?;
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
                // Blocks freed by a transaction that has not committed keep their contents:
                // a crash gives them back to their owner.
                let (mut cur, run_end) = (base + first, base + first + n);
                while cur < run_end {
                    let (piece_end, next) =
                        match crate::journal::busy_overlap(sb, cur, run_end - cur) {
                            Some((b, e)) => (b.max(cur), e.min(run_end)),
                            None => (run_end, run_end),
                        };
                    let len = piece_end - cur;
                    if len >= minlen {
                        sb.discard(cur * bs, len * bs)?;
                        trimmed += len;
                    }
                    cur = next;
                }
                bit = first + n;
            }
        }
        item = base + stop;
    }
    Ok(trimmed)
}

#[cfg(CONFIG_REXTFS_KUNIT_TEST)]
#[kunit_tests(rextfs_alloc)]
mod tests {
    use super::{alloc_run_in, free_run_at, free_run_in, BitmapBlocks};
    use crate::format;
    use crate::testing::{check, Rng};
    use core::cell::{Cell, RefCell};
    use core::num::NonZeroU64;
    use kernel::prelude::*;

    /// Bitmap blocks of 40 bytes: a 32-byte header and 64 bits.
    const BS: usize = 40;
    const BITS: u64 = 64;

    /// A bitmap in memory; `writes` counts block writes.
    struct MemBitmap {
        items: u64,
        blocks: RefCell<KVec<KVec<u8>>>,
        writes: Cell<u64>,
    }

    impl MemBitmap {
        /// All items free; the bits past the last item are set, as mkfs does.
        fn new(items: u64) -> Result<Self> {
            let mut blocks = KVec::new();
            for idx in 0..items.div_ceil(BITS) {
                let mut b = KVec::from_elem(0u8, BS, GFP_KERNEL)?;
                format::bitmap_init(&mut b, 100 + idx, format::BITMAP_KIND_BLOCKS, idx)
                    .map_err(|_| EINVAL)?;
                for bit in 0..BITS {
                    if idx * BITS + bit >= items {
                        format::bitmap_set(&mut b, bit, true).map_err(|_| EINVAL)?;
                    }
                }
                blocks.push(b, GFP_KERNEL)?;
            }
            Ok(MemBitmap {
                items,
                blocks: RefCell::new(blocks),
                writes: Cell::new(0),
            })
        }

        /// Every bit equals the model's (`true`: in use), and the bits past the end stay set.
        fn matches(&self, model: &[bool]) -> Result {
            let blocks = self.blocks.try_borrow().map_err(|_| EBUSY)?;
            for (idx, b) in blocks.iter().enumerate() {
                for bit in 0..BITS {
                    let item = idx as u64 * BITS + bit;
                    let want = model.get(item as usize).copied().unwrap_or(true);
                    let got = format::bitmap_test(b, bit);
                    check!(
                        got == Some(want),
                        "item {}: bitmap {:?}, model {}",
                        item,
                        got,
                        want
                    );
                }
            }
            Ok(())
        }
    }

    impl BitmapBlocks for MemBitmap {
        fn dev_id(&self) -> &CStr {
            c"kunit"
        }

        fn kind(&self) -> u32 {
            format::BITMAP_KIND_BLOCKS
        }

        fn items(&self) -> u64 {
            self.items
        }

        fn nblocks(&self) -> u64 {
            self.blocks.try_borrow().map_or(0, |b| b.len() as u64)
        }

        fn bits(&self) -> Result<NonZeroU64> {
            NonZeroU64::new(format::bitmap_bits_per_block(BS)).ok_or(EINVAL)
        }

        fn read(&self, idx: u64) -> Result<KVec<u8>> {
            let blocks = self.blocks.try_borrow().map_err(|_| EBUSY)?;
            let b = blocks.get(idx as usize).ok_or(EIO)?;
            let mut copy = KVec::new();
            copy.extend_from_slice(b, GFP_KERNEL)?;
            Ok(copy)
        }

        fn write(&self, idx: u64, buf: &mut [u8]) -> Result {
            format::bitmap_seal(buf).map_err(|_| EIO)?;
            let mut blocks = self.blocks.try_borrow_mut().map_err(|_| EBUSY)?;
            blocks
                .get_mut(idx as usize)
                .ok_or(EIO)?
                .copy_from_slice(buf);
            self.writes.set(self.writes.get() + 1);
            Ok(())
        }

        fn corrupt(&self, _e: format::FormatError) -> Error {
            EFSCORRUPTED
        }
    }

    /// What `alloc_run_in` must return: the first free item from the goal (or `lo` when the
    /// goal is outside `[lo, items)`) up to the end, then from `lo`; and the free items after
    /// it up to `want`, the end of its bitmap block and the last item.
    fn expected_run(model: &[bool], lo: u64, goal: u64, want: u64) -> Option<(u64, u64)> {
        let items = model.len() as u64;
        let g = if goal < lo || goal >= items { lo } else { goal };
        let free = |i: u64| !model[i as usize];
        let first = Iterator::chain(g..items, lo..g).find(|&i| free(i))?;
        let block_end = (first / BITS + 1) * BITS;
        let mut n = 0;
        while n < want && first + n < items && first + n < block_end && free(first + n) {
            n += 1;
        }
        Some((first, n))
    }

    fn alloc_random(seed: u64, items: u64) -> Result {
        let mut rng = Rng::new(seed);
        let bm = MemBitmap::new(items)?;
        let mut model = KVec::from_elem(false, items as usize, GFP_KERNEL)?;
        let mut allocs = 0;
        for _ in 0..3000 {
            if rng.chance(60) {
                // Allocations mostly start from a fixed floor, as data blocks do.
                let lo = if rng.chance(70) { 5 } else { rng.below(items) };
                let goal = rng.below(items + 20);
                let most = if rng.chance(20) { 200 } else { 9 };
                let want = rng.range(1, most);
                let writes = bm.writes.get();
                let got = alloc_run_in(&bm, lo, goal, want);
                match expected_run(&model, lo, goal, want) {
                    None => {
                        check!(
                            got == Err(ENOSPC),
                            "full [{}, {}): got {:?}",
                            lo,
                            items,
                            got
                        );
                        check!(bm.writes.get() == writes, "ENOSPC wrote a block");
                    }
                    Some((first, n)) => {
                        check!(
                            got == Ok((first, n)),
                            "lo {} goal {} want {}: got {:?}, model ({}, {})",
                            lo,
                            goal,
                            want,
                            got,
                            first,
                            n
                        );
                        for i in first..first + n {
                            model[i as usize] = true;
                        }
                        allocs += 1;
                    }
                }
            } else {
                // Free a run of items in use, of random length.
                let start = rng.below(items);
                if !model[start as usize] {
                    continue;
                }
                let mut count = 0;
                let max = rng.range(1, 100);
                while count < max && start + count < items && model[(start + count) as usize] {
                    count += 1;
                }
                check!(
                    free_run_in(&bm, start, count).is_ok(),
                    "freeing {}+{} failed",
                    start,
                    count
                );
                for i in start..start + count {
                    model[i as usize] = false;
                }
            }
            bm.matches(&model)?;
        }
        check!(allocs > 1000, "only {} allocations succeeded", allocs);
        Ok(())
    }

    #[test]
    fn alloc_run_follows_goal_and_wraps() -> Result {
        // Several bitmap blocks, the last one partial; and a single partial block.
        alloc_random(1, 4 * BITS + 17)?;
        alloc_random(2, 3 * BITS)?;
        alloc_random(3, 40)
    }

    #[test]
    fn alloc_run_until_full() -> Result {
        let items = 5 * BITS + 3;
        let lo = 7;
        let bm = MemBitmap::new(items)?;
        let mut model = KVec::from_elem(false, items as usize, GFP_KERNEL)?;
        let mut rng = Rng::new(4);
        let mut total = 0;
        loop {
            let goal = rng.below(items);
            let want = rng.range(1, 100);
            let got = alloc_run_in(&bm, lo, goal, want);
            let Some((first, n)) = expected_run(&model, lo, goal, want) else {
                check!(got == Err(ENOSPC), "expected ENOSPC, got {:?}", got);
                break;
            };
            check!(
                got == Ok((first, n)),
                "got {:?}, model ({}, {})",
                got,
                first,
                n
            );
            check!(n >= 1, "empty run");
            for i in first..first + n {
                model[i as usize] = true;
            }
            total += n;
        }
        check!(total == items - lo, "allocated {} of {}", total, items - lo);
        // Below `lo` nothing was taken.
        for i in 0..lo {
            check!(!model[i as usize], "item {} below lo was allocated", i);
        }
        bm.matches(&model)
    }

    #[test]
    fn free_run_refuses_free_items() -> Result {
        let items = 3 * BITS;
        let bm = MemBitmap::new(items)?;
        let mut model = KVec::from_elem(false, items as usize, GFP_KERNEL)?;
        let got = alloc_run_in(&bm, 0, 0, 1000);
        check!(got == Ok((0, BITS)), "first block: {:?}", got);
        let got = alloc_run_in(&bm, 0, 0, 1000);
        check!(got == Ok((BITS, BITS)), "second block: {:?}", got);
        for i in 0..2 * BITS {
            model[i as usize] = true;
        }
        // Across a block boundary.
        check!(
            free_run_in(&bm, BITS - 3, 6).is_ok(),
            "freeing across blocks"
        );
        for i in BITS - 3..BITS + 3 {
            model[i as usize] = false;
        }
        bm.matches(&model)?;
        // Freeing a free item fails and leaves its block alone.
        let writes = bm.writes.get();
        check!(
            free_run_in(&bm, BITS + 2, 4) == Err(EFSCORRUPTED),
            "double free accepted"
        );
        check!(bm.writes.get() == writes, "a failed free wrote");
        bm.matches(&model)?;
        // Past the end, or wrapping around.
        check!(
            free_run_in(&bm, items - 1, 2) == Err(EFSCORRUPTED),
            "free past the end accepted"
        );
        check!(
            free_run_in(&bm, 1, u64::MAX) == Err(EFSCORRUPTED),
            "wrapping free accepted"
        );
        bm.matches(&model)
    }

    #[test]
    fn free_runs_and_bits_match_model() -> Result {
        let mut rng = Rng::new(5);
        let nbits = format::bitmap_bits_per_block(BS);
        let mut buf = KVec::from_elem(0u8, BS, GFP_KERNEL)?;
        let mut model = KVec::from_elem(false, nbits as usize, GFP_KERNEL)?;
        for round in 0..2000 {
            // Random density, so that runs of every length and whole 0xff bytes appear.
            let density = rng.below(101);
            for bit in 0..nbits {
                let v = rng.chance(density);
                let old = format::bitmap_set(&mut buf, bit, v);
                check!(old == Ok(model[bit as usize]), "bit {}: old {:?}", bit, old);
                model[bit as usize] = v;
            }
            check!(
                format::bitmap_set(&mut buf, nbits, true).is_err(),
                "set past the end accepted"
            );
            check!(
                format::bitmap_test(&buf, nbits).is_none(),
                "bit past the end"
            );
            let set = model.iter().filter(|&&v| v).count() as u64;
            check!(
                format::bitmap_count_set(&buf, nbits) == set,
                "round {}: count",
                round
            );
            let start = rng.below(nbits + 1);
            let stop = rng.range(start, nbits + 4);
            let zero = (start..stop.min(nbits)).find(|&i| !model[i as usize]);
            let got = format::bitmap_find_zero(&buf, start, stop);
            check!(
                got == zero,
                "find_zero [{}, {}): {:?}, model {:?}",
                start,
                stop,
                got,
                zero
            );
            // The runs trim discards: every maximal run of free bits in [start, stop).
            let stop = stop.min(nbits);
            let mut bit = start;
            let mut runs = 0;
            while let Some((first, n)) = free_run_at(&buf, bit, stop) {
                check!(
                    first >= bit && n >= 1 && first + n <= stop,
                    "run {}+{}",
                    first,
                    n
                );
                for i in bit..first {
                    check!(model[i as usize], "free bit {} skipped", i);
                }
                for i in first..first + n {
                    check!(!model[i as usize], "bit {} in use inside a run", i);
                }
                check!(
                    first + n == stop || model[(first + n) as usize],
                    "run {}+{} stops before a set bit",
                    first,
                    n
                );
                bit = first + n;
                runs += 1;
            }
            for i in bit..stop {
                check!(model[i as usize], "free bit {} after the last run", i);
            }
            check!(runs <= nbits, "too many runs");
        }
        Ok(())
    }
}
