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
use core::sync::atomic::{AtomicU64, Ordering};
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

/// Changes bitmap block `idx` of `bm` in place in the transaction of `h` (see
/// [`Handle::modify_block`]; the commit seals it).
fn modify_bitmap<R>(
    h: &Handle<'_>,
    bm: &Bitmap,
    idx: u64,
    f: impl FnOnce(&mut [u8]) -> core::result::Result<(R, bool), meta::BlockFail>,
) -> Result<R> {
    let blockno = bm.start + idx;
    h.modify_block(
        blockno,
        meta::BlockKind::Bitmap,
        "bitmap block",
        |b| format::bitmap_check(b, blockno, bm.kind, idx),
        f,
    )
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
    /// Changes bitmap block `idx` in place with `f`, which returns its result and whether it
    /// changed the block, and must leave the block as it found it when it fails; the block's
    /// checksum is seen to (by the commit, on the device). `f` runs under the block's buffer
    /// lock: it must not use the bitmap.
    fn modify<R>(
        &self,
        idx: u64,
        f: impl FnOnce(&mut [u8]) -> core::result::Result<(R, bool), meta::BlockFail>,
    ) -> Result<R>;
    /// The first extent (start, end) of items `item..item + len` that must not be allocated
    /// although their bits are clear: blocks freed by a transaction that has not committed
    /// (see [`crate::journal::busy_overlap`]).
    fn busy(&self, _item: u64, _len: u64) -> Option<(u64, u64)> {
        None
    }
    /// Whether [`BitmapBlocks::busy`] may find anything: when it cannot, a search takes the
    /// run it finds in place, under the block's buffer lock, without a copy of the block.
    fn may_be_busy(&self) -> bool {
        true
    }
}

/// One of the on-disk bitmaps of a mounted file system, changed in the transaction of `h`.
struct DevBitmap<'a, 'b> {
    h: &'a Handle<'b>,
    bm: Bitmap,
    /// Skip busy blocks (every allocation of data or metadata blocks does).
    skip_busy: bool,
    /// Free blocks that `FITRIM` is discarding (see [`SbState::trimming`]); skipped too.
    trimming: Option<(u64, u64)>,
    /// Blocks reserved for files (skipped unless reserved for `owner`).
    resv: Option<&'a Reservations>,
    /// The inode the blocks are for, if they are file data.
    owner: Option<u64>,
}

impl<'a, 'b> DevBitmap<'a, 'b> {
    fn new(h: &'a Handle<'b>, kind: Kind) -> Self {
        DevBitmap {
            h,
            bm: bitmap(&h.sb().data().geo, kind),
            skip_busy: false,
            trimming: None,
            resv: None,
            owner: None,
        }
    }

    /// The block bitmap, for allocations (of data for `owner`, or metadata) that skip busy
    /// blocks, those being discarded and those reserved for other files.
    fn blocks_skipping_busy(
        h: &'a Handle<'b>,
        trimming: Option<(u64, u64)>,
        resv: &'a Reservations,
        owner: Option<u64>,
    ) -> Self {
        DevBitmap {
            skip_busy: true,
            trimming,
            resv: Some(resv),
            owner,
            ..Self::new(h, Kind::Blocks)
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

    fn modify<R>(
        &self,
        idx: u64,
        f: impl FnOnce(&mut [u8]) -> core::result::Result<(R, bool), meta::BlockFail>,
    ) -> Result<R> {
        modify_bitmap(self.h, &self.bm, idx, f)
    }

    fn may_be_busy(&self) -> bool {
        self.skip_busy
    }

    fn busy(&self, item: u64, len: u64) -> Option<(u64, u64)> {
        if !self.skip_busy {
            return None;
        }
        let end = item.saturating_add(len);
        let busy = crate::journal::busy_overlap(self.h.sb(), item, len);
        let trim = self.trimming.filter(|&(s, e)| s < end && e > item);
        let resv = self.resv.and_then(|r| r.overlap(self.owner, item, len));
        // The one that starts first.
        [busy, trim, resv].into_iter().flatten().min()
    }
}

/// Most files that hold a reservation at once.
const MAX_RESERVATIONS: usize = 64;

/// One file's reservation: free blocks `start..end` set aside in memory for inode `ino`.
#[derive(Clone, Copy)]
struct Reservation {
    ino: u64,
    start: u64,
    end: u64,
}

/// Free blocks set aside in memory for files being written sequentially, as ext4's inode
/// preallocations are: when a file's allocation looks for a longer run than it takes (see
/// [`alloc_blocks`]), the rest of the run is reserved for it, and the allocations of other
/// files and of metadata go around it. Files written side by side by small appends then stay
/// contiguous instead of interleaving block by block. Nothing of it is on disk: the blocks
/// stay free in the bitmap and in the free count, a crash loses nothing, and when nothing
/// else is free the reservations are dropped. Kept under the super block state lock; at most
/// [`MAX_RESERVATIONS`] (the oldest goes first), one per inode, dropped at eviction.
pub(crate) struct Reservations(KVec<Reservation>);

impl Reservations {
    /// No reservations, with room for [`MAX_RESERVATIONS`].
    pub(crate) fn new() -> Result<Self> {
        Ok(Reservations(KVec::with_capacity(
            MAX_RESERVATIONS,
            GFP_KERNEL,
        )?))
    }

    /// The reserved range that starts first among those of inodes other than `owner` that
    /// overlap `[item, item + len)`.
    fn overlap(&self, owner: Option<u64>, item: u64, len: u64) -> Option<(u64, u64)> {
        let end = item.saturating_add(len);
        self.0
            .iter()
            .filter(|r| Some(r.ino) != owner && r.start < end && r.end > item)
            .map(|r| (r.start, r.end))
            .min()
    }

    /// Reserves `start..end` for `ino`, in place of what it had.
    fn set(&mut self, ino: u64, start: u64, end: u64) {
        self.drop_ino(ino);
        if start >= end {
            return;
        }
        if self.0.len() >= MAX_RESERVATIONS {
            let _ = self.0.remove(0);
        }
        let _ = self.0.push_within_capacity(Reservation { ino, start, end });
    }

    /// Drops the reservation of `ino`, if any.
    fn drop_ino(&mut self, ino: u64) {
        self.0.retain(|r| r.ino != ino);
    }
}

/// Drops the block reservation of inode `ino` (its last writer closed it, or its in-memory
/// inode is going away).
pub(crate) fn drop_reservation(sb: &SuperBlock<RextFs>, ino: u64) {
    sb.data().state.lock().resv.drop_ino(ino);
}

/// The longest run of a bitmap block that nothing has measured yet.
pub(crate) const RUN_UNKNOWN: u32 = u32::MAX;

/// What [`Runs`] keeps for a block whose bits were set since it was last measured: its
/// longest run may have shrunk, and is measured again when a search needs it.
const RUN_STALE: u32 = u32::MAX - 1;

/// What the allocator knows of each block of one bitmap without reading it: the longest run
/// of clear bits, or [`RUN_UNKNOWN`] until the block is first read. Kept in memory under the
/// super block state lock, so that a search skips the bitmap blocks that cannot hold the run
/// it wants (full ones above all) without reading them. Blocks freed by uncommitted
/// transactions count as clear: the figure is an upper bound of what the block can give.
///
/// A free keeps the figure exact cheaply (the longest run is the old one or the one the
/// freed bits joined), an allocation does not (the run it took from may have been the only
/// longest one): it marks the figure stale, and the block is measured again (a scan of the
/// whole block) only when a search needs the figure, not at every allocation.
pub(crate) struct Runs(KVVec<u32>);

impl Runs {
    /// Nothing known of `nblocks` bitmap blocks.
    pub(crate) fn new(nblocks: u64) -> Result<Self> {
        let n = usize::try_from(nblocks).map_err(|_| EFSCORRUPTED)?;
        Ok(Runs(KVVec::from_elem(RUN_UNKNOWN, n, GFP_KERNEL)?))
    }

    /// The longest run of block `idx`, if known and not stale.
    fn get(&self, idx: u64) -> Option<u64> {
        match usize::try_from(idx).ok().and_then(|i| self.0.get(i)) {
            Some(&v) if v != RUN_UNKNOWN && v != RUN_STALE => Some(u64::from(v)),
            _ => None,
        }
    }

    /// Records the longest run of block `idx`, measured in `buf` (its first `bits` bits).
    fn measure(&mut self, idx: u64, buf: &[u8], bits: u64) -> u64 {
        let run = format::bitmap_longest_zero_run(buf, bits);
        self.record(idx, run);
        run
    }

    /// Records `run` as the exact longest run of block `idx`.
    fn record(&mut self, idx: u64, run: u64) {
        if let Some(v) = usize::try_from(idx).ok().and_then(|i| self.0.get_mut(i)) {
            *v = u32::try_from(run).map_or(RUN_STALE - 1, |r| r.min(RUN_STALE - 1));
        }
    }

    /// Bits of block `idx` were set: its longest run may be shorter than recorded.
    fn allocated(&mut self, idx: u64) {
        if let Some(v) = usize::try_from(idx).ok().and_then(|i| self.0.get_mut(i)) {
            if *v != RUN_UNKNOWN {
                *v = RUN_STALE;
            }
        }
    }

    /// The bit ranges `parts` of block `idx` (`buf`, its first `bits` bits) were cleared: the
    /// longest run is the recorded one or one of the runs that hold them. A stale or unknown
    /// figure stays so.
    fn freed(&mut self, idx: u64, buf: &[u8], bits: u64, parts: &[(u64, u64)]) {
        let Some(old) = self.get(idx) else {
            return;
        };
        let mut run = old;
        for &(start, end) in parts {
            if start < end {
                run = run.max(format::bitmap_zero_run_around(buf, bits, start, end));
            }
        }
        self.record(idx, run);
    }
}

/// Finds and sets a run of up to `want` clear bits in `[lo, items)`, near item `goal`
/// (returns (first item, count)):
///
/// 1. at `goal` itself, if its bit is clear: the clear bits from it, however few (the caller
///    continues what it allocated last, and contiguity beats a longer run elsewhere);
/// 2. else the first run of at least `need` clear bits at or after `goal`, wrapping around
///    to `lo`: each bitmap block from the goal's on (the goal's own from `goal`, the others
///    from `lo` or their start), then the goal's block up to `goal`;
/// 3. failing that, the same search for runs half as long (or as long as the longest run
///    seen, if that is shorter), down to single bits.
///
/// Runs stop at the end of a bitmap block, at the last item and at busy items; the count is
/// at most `want`. `runs` holds what is known of the bitmap's blocks and is kept up to date.
pub(crate) fn alloc_run_in<B: BitmapBlocks>(
    bm: &B,
    runs: &mut Runs,
    lo: u64,
    goal: u64,
    want: u64,
    need: u64,
) -> Result<(u64, u64)> {
    let bits = bm.bits()?;
    let items = bm.items();
    let goal = if goal < lo || goal >= items { lo } else { goal };
    let want = want.max(1);
    if let Some(r) = take_at_goal(bm, runs, goal, want)? {
        return Ok(r);
    }
    let mut need = need.clamp(1, bits.get());
    loop {
        let (found, longest) = search(bm, runs, lo, goal, want, need)?;
        if let Some(r) = found {
            return Ok(r);
        }
        if need == 1 || longest == 0 {
            return Err(ENOSPC);
        }
        need = (need / 2).min(longest).max(1);
    }
}

/// Step 1 of [`alloc_run_in`]: the clear bits at `goal`, if its bit is clear and not busy,
/// found and set in place.
fn take_at_goal<B: BitmapBlocks>(
    bm: &B,
    runs: &mut Runs,
    goal: u64,
    want: u64,
) -> Result<Option<(u64, u64)>> {
    let bits = bm.bits()?;
    let idx = goal / bits;
    // A block known to be full is not opened; one whose figure is stale is (its goal bit is
    // looked at in place, which costs no scan of the block).
    if runs.get(idx) == Some(0) || bm.busy(goal, 1).is_some() {
        return Ok(None);
    }
    // Up to the next busy extent, found before the block is locked (the busy extents are
    // behind the journal's lock).
    let want = match bm.busy(goal, want) {
        Some((busy_start, _)) => want.min(busy_start.saturating_sub(goal)),
        None => want,
    };
    let base = idx * bits.get();
    let bit = goal - base;
    let end = (bm.items() - base).min(bits.get());
    let n = bm.modify(idx, |b| {
        let mut n = 0u64;
        while n < want && bit + n < end && format::bitmap_test(b, bit + n) == Some(false) {
            n += 1;
        }
        if n == 0 {
            return Ok((0, false));
        }
        for i in bit..bit + n {
            format::bitmap_set(b, i, true)?;
        }
        runs.allocated(idx);
        Ok((n, true))
    })?;
    Ok((n > 0).then_some((goal, n)))
}

/// Sets the clear bits of bitmap block `idx` (read into `buf` under the allocator's lock, so
/// that the block is still the same) from item `first`, up to `want`, the first set bit or the
/// end of the block, in place.
fn take<B: BitmapBlocks>(
    bm: &B,
    runs: &mut Runs,
    idx: u64,
    buf: &[u8],
    first: u64,
    want: u64,
) -> Result<(u64, u64)> {
    let bits = bm.bits()?.get();
    let base = idx * bits;
    let bit = first - base;
    let end = (bm.items() - base).min(bits);
    let mut n = 0u64;
    while n < want && bit + n < end && format::bitmap_test(buf, bit + n) == Some(false) {
        n += 1;
    }
    if n == 0 {
        return Err(EFSCORRUPTED);
    }
    let (dev, kind) = (bm.dev_id(), bm.kind());
    bm.modify(idx, |b| {
        // Checked before anything changes: the block cannot have changed since it was read
        // under the allocator's lock.
        if (bit..bit + n).any(|i| format::bitmap_test(b, i) != Some(false)) {
            pr_err!(
                "{}: bitmap block {} changed under the allocator (kind {})\n",
                dev,
                idx,
                kind
            );
            return Err(meta::BlockFail::Err(EFSCORRUPTED));
        }
        for i in bit..bit + n {
            format::bitmap_set(b, i, true)?;
        }
        runs.allocated(idx);
        Ok(((), true))
    })?;
    Ok((first, n))
}

/// Steps 2 and 3 of [`alloc_run_in`] for one length: the allocated run, if a run of `need`
/// was found, and the longest run that the blocks it visited may hold.
fn search<B: BitmapBlocks>(
    bm: &B,
    runs: &mut Runs,
    lo: u64,
    goal: u64,
    want: u64,
    need: u64,
) -> Result<(Option<(u64, u64)>, u64)> {
    let bits = bm.bits()?;
    let nblocks = NonZeroU64::new(bm.nblocks()).ok_or(EFSCORRUPTED)?;
    let items = bm.items();
    let first = goal / bits;
    let mut longest = 0u64;
    for step in 0..=nblocks.get() {
        let idx = (first + step) % nblocks;
        let base = idx * bits.get();
        let from = if step == 0 {
            goal - base
        } else {
            lo.saturating_sub(base)
        };
        let end = if step == nblocks.get() {
            goal - base
        } else {
            (items.saturating_sub(base)).min(bits.get())
        };
        if from >= end {
            continue;
        }
        if let Some(known) = runs.get(idx) {
            longest = longest.max(known);
            if known < need {
                continue;
            }
        }
        if !bm.may_be_busy() {
            // Nothing to skip but set bits (inode allocations): the block is searched and the
            // run taken in place, under its buffer lock, as `take_at_goal` does.
            match search_in_place(bm, runs, idx, from, end, want, need)? {
                Ok(r) => return Ok((Some(r), longest)),
                Err(known) => {
                    longest = longest.max(known);
                    continue;
                }
            }
        }
        let buf = bm.read(idx)?;
        // Measured the first time, and again after allocations made the figure stale.
        let known = match runs.get(idx) {
            Some(known) => known,
            None => runs.measure(idx, &buf, bits.get()),
        };
        longest = longest.max(known);
        if known < need {
            continue;
        }
        let mut bit = from;
        while let Some((first, n)) = free_run_at(&buf, bit, end) {
            // The pieces of the run between busy extents.
            let (mut cur, run_end) = (base + first, base + first + n);
            while cur < run_end {
                let (piece_end, next) = match bm.busy(cur, run_end - cur) {
                    Some((b, e)) => (b.max(cur), e.min(run_end)),
                    None => (run_end, run_end),
                };
                if piece_end - cur >= need {
                    let want = want.min(piece_end - cur);
                    return take(bm, runs, idx, &buf, cur, want).map(|r| (Some(r), longest));
                }
                cur = next;
            }
            bit = first + n;
        }
    }
    Ok((None, longest))
}

/// The part of [`search`] for one bitmap block `idx` when nothing is busy: in place, under
/// the block's buffer lock, the first clear run of `need` bits or more between bits `from`
/// and `end` of the block is found and up to `want` of its bits set. `Ok((first item, n))`,
/// or `Err(longest run the block holds)` if it has no run of `need` there (nothing changed).
fn search_in_place<B: BitmapBlocks>(
    bm: &B,
    runs: &mut Runs,
    idx: u64,
    from: u64,
    end: u64,
    want: u64,
    need: u64,
) -> Result<core::result::Result<(u64, u64), u64>> {
    let bits = bm.bits()?.get();
    let base = idx * bits;
    bm.modify(idx, |b| {
        // A block whose figure is known too small is passed over without a look. One whose
        // figure is unknown or stale (allocations were made in it since it was measured) is
        // searched first, and measured only if the search fails: measuring it before every
        // search would scan the whole block at each allocation in it (an inode allocation
        // that did not find its goal free).
        if let Some(known) = runs.get(idx) {
            if known < need {
                return Ok((Err(known), false));
            }
        }
        let mut bit = from;
        while let Some((first, n)) = free_run_at(b, bit, end) {
            if n >= need {
                let n = want.min(n);
                for i in first..first + n {
                    format::bitmap_set(b, i, true)?;
                }
                runs.allocated(idx);
                return Ok((Ok((base + first, n)), true));
            }
            bit = first + n;
        }
        let known = match runs.get(idx) {
            Some(known) => known,
            None => runs.measure(idx, b, bits),
        };
        Ok((Err(known), false))
    })
}

/// Clears `count` bits from item `first`.
fn free_run(h: &Handle<'_>, kind: Kind, runs: &mut Runs, first: u64, count: u64) -> Result {
    free_run_in(&DevBitmap::new(h, kind), runs, first, count)
}

/// Clears `count` bits of `bm` from item `first`; every one of them must be set. Bitmap blocks
/// are written one by one: when a clear bit is found, the blocks before its block stay written.
/// `runs` is kept up to date.
pub(crate) fn free_run_in<B: BitmapBlocks>(
    bm: &B,
    runs: &mut Runs,
    first: u64,
    count: u64,
) -> Result {
    free_runs_in(bm, runs, &[(first, count)])
}

/// Clears the bits of the runs `ranges` (first item, count; sorted by first item, not
/// overlapping) of `bm`, every one of which must be set, reading and writing each bitmap block
/// once however many of the runs it holds. As in [`free_run_in`], the blocks written before a
/// clear bit is found stay written. `runs` is kept up to date.
pub(crate) fn free_runs_in<B: BitmapBlocks>(
    bm: &B,
    runs: &mut Runs,
    ranges: &[(u64, u64)],
) -> Result {
    let bits = bm.bits()?;
    // The bitmap block being gathered, and the bit ranges to clear in it.
    let mut cur = None;
    let mut parts = KVec::new();
    for &(first, count) in ranges {
        let end = first.checked_add(count).ok_or(EFSCORRUPTED)?;
        if end > bm.items() {
            return Err(EFSCORRUPTED);
        }
        let mut item = first;
        while item < end {
            let idx = item / bits;
            let base = idx * bits.get();
            if cur != Some(idx) {
                if let Some(i) = cur {
                    clear_parts(bm, runs, i, &parts)?;
                }
                parts.clear();
                cur = Some(idx);
            }
            let stop = end.min(base + bits.get());
            parts.push((item - base, stop - base), GFP_KERNEL)?;
            item = stop;
        }
    }
    if let Some(i) = cur {
        clear_parts(bm, runs, i, &parts)?;
    }
    Ok(())
}

/// Clears the bit ranges `parts` (sorted, not overlapping) of bitmap block `idx` in place:
/// every bit must be set, which is checked before anything changes.
fn clear_parts<B: BitmapBlocks>(bm: &B, runs: &mut Runs, idx: u64, parts: &[(u64, u64)]) -> Result {
    let bits = bm.bits()?.get();
    let (dev, kind) = (bm.dev_id(), bm.kind());
    bm.modify(idx, |b| {
        let mut prev = 0;
        for &(start, end) in parts {
            if start < prev {
                pr_err!(
                    "{}: item {} freed twice or out of order in a batch (bitmap kind {})\n",
                    dev,
                    idx * bits + start,
                    kind
                );
                return Err(meta::BlockFail::Err(EFSCORRUPTED));
            }
            prev = end;
            for bit in start..end {
                match format::bitmap_test(b, bit) {
                    Some(true) => {}
                    Some(false) => {
                        pr_err!(
                            "{}: freeing free item {} (bitmap kind {})\n",
                            dev,
                            idx * bits + bit,
                            kind
                        );
                        return Err(meta::BlockFail::Err(EFSCORRUPTED));
                    }
                    None => return Err(format::FormatError::BadIndex.into()),
                }
            }
        }
        for &(start, end) in parts {
            for bit in start..end {
                format::bitmap_set(b, bit, false)?;
            }
        }
        runs.freed(idx, b, bits, parts);
        Ok(((), true))
    })
}

/// The first run of clear bits of bitmap block `buf` in `[bit, stop)`: (first bit, length),
/// the run ending at the first set bit or at `stop`.
pub(crate) fn free_run_at(buf: &[u8], bit: u64, stop: u64) -> Option<(u64, u64)> {
    let stop = stop.min(format::bitmap_bits_per_block(buf.len()));
    let first = format::bitmap_find_zero(buf, bit, stop)?;
    let end = format::bitmap_find_set(buf, first + 1, stop).unwrap_or(stop);
    Some((first, end - first))
}

/// The number of bits of one bitmap block of the mounted file system: the most blocks a step
/// of a long operation frees at once, so that each run it frees spans at most two bitmap
/// blocks (see [`crate::credits::FREE_RUN`]).
pub(crate) fn bits_per_bitmap_block(sb: &SuperBlock<RextFs>) -> u64 {
    bits_per_block(&sb.data().geo).map_or(1, NonZeroU64::get)
}

/// Allocates up to `want` contiguous blocks for file data near `goal`, in the transaction of
/// `h`: at `goal` if it is free, else in the first free run of at least `need` blocks after it
/// (see [`alloc_run_in`]; a writer that streams into a file asks for more than it takes, so
/// that its next allocations find room after this one). Returns the first block and the count
/// (at least 1); the blocks lie in one bitmap block. Blocks freed by transactions that have
/// not committed are not used (file data is written in place, and a crash could give them
/// back to their old owner): `ENOSPC` when only those are left, after which the caller
/// commits ([`Handle::restart`]) and tries again.
///
/// `leave` blocks of the available ones are left for the node blocks that recording the
/// new extent may take: an allocation that took every block would leave the extent tree's
/// split no room, however many times the caller committed and tried again.
pub(crate) fn alloc_blocks(
    h: &Handle<'_>,
    ino: u64,
    goal: u64,
    want: u64,
    need: u64,
    leave: u64,
) -> Result<(u64, u64)> {
    alloc_blocks_as(h, Some(ino), Pool::Ordinary, goal, want, need, leave)
}

/// Allocates up to `want` contiguous blocks for metadata that is new content (directory,
/// symbolic link and xattr blocks, all written through the journal), as [`alloc_blocks`]
/// with `need` equal to `want`. Busy blocks are not used either: a block freed and allocated
/// again in one transaction would need its busy extent split and its revoke record kept,
/// which the journal does not do (yet).
pub(crate) fn alloc_meta_blocks(h: &Handle<'_>, goal: u64, want: u64) -> Result<(u64, u64)> {
    alloc_blocks_as(h, None, Pool::Ordinary, goal, want, want, 0)
}

/// Allocates one block for a tree node (extent tree or directory index). In a handle that
/// may use the reserve ([`Handle::use_reserve`]) it may come from the reserve (see
/// [`reserved_blocks`]): an unwritten-to-written conversion after the data reached the disk,
/// a punch or a truncate splits extents, and must not fail for want of space that ordinary
/// allocations have taken. Elsewhere (creating, writing) it is an ordinary allocation.
pub(crate) fn alloc_tree_block(h: &Handle<'_>, goal: u64) -> Result<u64> {
    let pool = if h.may_use_reserve() {
        Pool::Reserve
    } else {
        Pool::Ordinary
    };
    alloc_blocks_as(h, None, pool, goal, 1, 1, 0).map(|(b, _)| b)
}

/// Which free blocks an allocation may take.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pool {
    /// All but the reserve.
    Ordinary,
    /// The reserve too.
    Reserve,
}

/// The free blocks that only tree nodes of the operations that may not fail for want of space
/// may take ([`alloc_tree_block`]), as ext4 keeps `s_resv_clusters` and XFS its reserve pool:
/// a fiftieth of the data area, at most 4096 blocks. `statfs` counts them as free but not as
/// available (as ext4 does).
pub(crate) fn reserved_blocks(geo: &format::Superblock) -> u64 {
    (geo.total_blocks.saturating_sub(geo.layout.data_start) / 50).min(4096)
}

/// The free blocks of the super block `disk` that files may take: all but the reserve.
pub(crate) fn available_blocks(disk: &format::Superblock) -> u64 {
    disk.free_blocks.saturating_sub(reserved_blocks(disk))
}

/// The blocks files may take now ([`available_blocks`] of the mounted file system): a hint,
/// other allocations may take them the next moment.
pub(crate) fn available_now(sb: &SuperBlock<RextFs>) -> u64 {
    let info = sb.data();
    let st = info.state.lock();
    available_blocks(&st.disk)
}

fn alloc_blocks_as(
    h: &Handle<'_>,
    owner: Option<u64>,
    pool: Pool,
    goal: u64,
    want: u64,
    need: u64,
    leave: u64,
) -> Result<(u64, u64)> {
    let sb = h.sb();
    let info = sb.data();
    let lo = info.geo.layout.data_start;
    let mut guard = info.state.lock();
    loop {
        let st = &mut *guard;
        let avail = match pool {
            Pool::Ordinary => available_blocks(&st.disk),
            Pool::Reserve => st.disk.free_blocks,
        }
        .saturating_sub(leave);
        if avail == 0 {
            return Err(ENOSPC);
        }
        let want = want.clamp(1, avail).min(u64::from(u32::MAX));
        let need = need.max(want);
        let r = {
            let bm = DevBitmap::blocks_skipping_busy(h, st.trimming, &st.resv, owner);
            alloc_run_in(&bm, &mut st.block_runs, lo, goal, want, need)
        };
        if r == Err(ENOSPC) {
            if !st.resv.0.is_empty() {
                // Reserved blocks are free: give them out rather than fail.
                st.resv.0.clear();
            } else if st.trimming.is_some() {
                // The only free blocks may be those FITRIM is discarding: wait for them.
                while guard.trimming.is_some() {
                    info.trim_wait.wait(&mut guard);
                }
            } else {
                return Err(ENOSPC);
            }
            continue;
        }
        let (start, n) = r?;
        if !info.geo.data_range_valid(start, n) {
            pr_err!(
                "{}: block bitmap marks metadata block {} free\n",
                sb.id(),
                start
            );
            return Err(EFSCORRUPTED);
        }
        st.disk.free_blocks -= n;
        if let Some(ino) = owner {
            // A file that looked for more than it takes is being written sequentially: set
            // aside what it will want next, the free blocks after these, up to `need` of them.
            let end = if need > want {
                let bm = DevBitmap::blocks_skipping_busy(h, st.trimming, &st.resv, owner);
                // Best effort: the blocks are allocated already, whatever happens here.
                reservable_after(&bm, start + n, need).unwrap_or(start + n)
            } else {
                start + n
            };
            st.resv.set(ino, start + n, end);
        }
        return Ok((start, n));
    }
}

/// The end of the free, unreserved and not busy blocks of `bm` from `item` on, at most `most`
/// of them and none past the end of the bitmap block of `item`.
fn reservable_after(bm: &DevBitmap<'_, '_>, item: u64, most: u64) -> Result<u64> {
    let bits = bm.bits()?;
    if item >= bm.items() || most == 0 {
        return Ok(item);
    }
    let idx = item / bits;
    let base = idx * bits.get();
    let buf = bm.read(idx)?;
    let stop = (bm.items() - base).min(bits.get()).min(item - base + most);
    let end = match free_run_at(&buf, item - base, stop) {
        Some((first, n)) if first == item - base => base + first + n,
        _ => return Ok(item),
    };
    Ok(match bm.busy(item, end - item) {
        Some((s, _)) => s.max(item),
        None => end,
    })
}

/// `EFSCORRUPTED`, logged, unless blocks `start..start + count` lie in the data area: nothing
/// else may be freed.
fn check_free_range(sb: &SuperBlock<RextFs>, start: u64, count: u64) -> Result {
    if sb.data().geo.data_range_valid(start, count) {
        return Ok(());
    }
    pr_err!(
        "{}: freeing blocks {}+{} outside the data area\n",
        sb.id(),
        start,
        count
    );
    Err(EFSCORRUPTED)
}

/// Frees `count` blocks from `start` in the transaction of `h`; the caller has removed every
/// reference to them.
pub(crate) fn free_blocks(h: &Handle<'_>, start: u64, count: u64) -> Result {
    let sb = h.sb();
    let info = sb.data();
    check_free_range(sb, start, count)?;
    let mut st = info.state.lock();
    // Whatever metadata the blocks held is gone: a later owner (file data written by iomap,
    // or new metadata) must never meet a cached copy of it. Dropped before the blocks can be
    // allocated again (under the state lock, which allocation takes).
    h.forget_blocks(start, count)?;
    free_run(h, Kind::Blocks, &mut st.block_runs, start, count)?;
    st.disk.free_blocks = st.disk.free_blocks.saturating_add(count);
    Ok(())
}

/// Frees the extents `freed` (first block, count) in the transaction of `h`, as
/// [`free_blocks`] frees one; the caller has removed every reference to them. Each bitmap
/// block is read and written once, however many of the extents lie in it.
pub(crate) fn free_extents(h: &Handle<'_>, freed: &[(u64, u64)]) -> Result {
    if let [(start, count)] = freed {
        return free_blocks(h, *start, *count);
    }
    let sb = h.sb();
    let info = sb.data();
    let mut sorted = KVec::with_capacity(freed.len(), GFP_KERNEL)?;
    let mut total = 0u64;
    for &(start, count) in freed {
        check_free_range(sb, start, count)?;
        total = total.saturating_add(count);
        sorted.push((start, count), GFP_KERNEL)?;
    }
    sorted.sort_unstable();
    let mut st = info.state.lock();
    // As in `free_blocks`: no cached copy of what the blocks held survives their freeing.
    for &(start, count) in sorted.iter() {
        h.forget_blocks(start, count)?;
    }
    free_runs_in(
        &DevBitmap::new(h, Kind::Blocks),
        &mut st.block_runs,
        &sorted,
    )?;
    st.disk.free_blocks = st.disk.free_blocks.saturating_add(total);
    Ok(())
}

/// Allocates an inode number (bit `ino - 1`), never a reserved one, in the transaction of `h`:
/// a free one at or after `near` (the parent directory's inode, so that the inodes of one
/// directory share inode table blocks), wrapping around.
///
/// With `cursor` (the directory's [`RxInode::child_cursor`]) the search starts where the
/// directory's last one ended, when that lies after `near` within a bitmap block's worth of
/// inodes: creating many files in a directory finds the next free inode where the last
/// creation left off instead of scanning every inode of the directory again. Numbers freed
/// behind it are used once the cursor has gone a bitmap block further (the search starts at
/// `near` again) or after a wrap. The cursor is a hint: nothing relies on it.
///
/// [`RxInode::child_cursor`]: crate::inode::RxInode::child_cursor
pub(crate) fn alloc_inode(h: &Handle<'_>, near: u64, cursor: Option<&AtomicU64>) -> Result<u64> {
    let info = h.sb().data();
    let mut st: kernel::sync::MutexGuard<'_, SbState> = info.state.lock();
    if st.disk.free_inodes == 0 {
        return Err(ENOSPC);
    }
    let lo = format::FIRST_INO - 1;
    let span = bits_per_block(&info.geo)?.get();
    let hint = cursor.map_or(0, |c| c.load(Ordering::Relaxed));
    let goal = if hint > near && hint - near <= span {
        hint
    } else {
        near
    };
    let bm = DevBitmap::new(h, Kind::Inodes);
    let (bit, _) = alloc_run_in(&bm, &mut st.inode_runs, lo, goal.saturating_sub(1), 1, 1)?;
    st.disk.free_inodes -= 1;
    let ino = bit + 1;
    if let Some(c) = cursor {
        // After a wrap, from the directory again.
        c.store(if ino > near { ino + 1 } else { 0 }, Ordering::Relaxed);
    }
    Ok(ino)
}

/// Where the data of inode `ino` goes when nothing else says (its first blocks, a directory's
/// first block): the same fraction of the data area as `ino` is of the inode table. The
/// inodes of a directory are allocated together and new top-level directories are spread
/// over the table ([`dir_inode_goal`]), so that this keeps the files of one directory together and
/// leaves the rest of the data area in long free runs, as ext4's block groups do.
pub(crate) fn data_goal(geo: &format::Superblock, ino: u64) -> u64 {
    let span = geo.total_blocks.saturating_sub(geo.layout.data_start);
    let (i, n) = (ino.saturating_sub(1), geo.total_inodes.max(1));
    // `span * i / n` without overflow: `n` and `i` are below 2^32.
    let at = (span / n)
        .saturating_mul(i)
        .saturating_add((span % n).saturating_mul(i) / n);
    geo.layout.data_start + at.min(span.saturating_sub(1))
}

/// The inode number a new top-level directory's inode is looked for from: a random one, so
/// that these directories, with what they hold (see [`data_goal`]), spread over the file
/// system, as ext4's Orlov allocator spreads top-level directories over the block groups.
pub(crate) fn dir_inode_goal(geo: &format::Superblock) -> u64 {
    let span = geo
        .total_inodes
        .saturating_sub(format::FIRST_INO - 1)
        .max(1);
    format::FIRST_INO + u64::from(kernel::fs::export::new_generation()) % span
}

/// Whether every inode that shares inode `ino`'s inode table block, but `ino` itself, is
/// free: then the block holds zeroes on disk but for `ino`'s slot (free slots are zeroed), so
/// a new `ino` can be written without reading it. `false` when the block's inodes span two
/// bitmap blocks. The bitmap block is read in place.
pub(crate) fn inode_block_free_but(sb: &SuperBlock<RextFs>, ino: u64) -> Result<bool> {
    let geo = &sb.data().geo;
    let per = (geo.block_size() / format::INODE_SIZE) as u64;
    let bits = bits_per_block(geo)?.get();
    let Some(own) = ino
        .checked_sub(1)
        .filter(|&b| b < geo.total_inodes && per > 0)
    else {
        pr_err!("{}: inode {} outside the inode table\n", sb.id(), ino);
        return Err(EFSCORRUPTED);
    };
    let first = own - own % per;
    let end = (first + per).min(geo.total_inodes);
    let idx = first / bits;
    if (end - 1) / bits != idx {
        return Ok(false);
    }
    let bm = bitmap(geo, Kind::Inodes);
    let blockno = bm.start + idx;
    let base = idx * bits;
    let (lo, own, hi) = (first - base, own - base, end - base);
    meta::with_block_checked(
        sb,
        blockno,
        meta::BlockKind::Bitmap,
        "bitmap block",
        |b| format::bitmap_check(b, blockno, bm.kind, idx),
        |b| {
            Ok(format::bitmap_find_set(b, lo, own).is_none()
                && format::bitmap_find_set(b, own + 1, hi).is_none())
        },
    )
    .map_err(|e| e.logged(|e| corrupt(sb, "bitmap block", e)))
}

/// Frees inode `ino` in the transaction of `h`; the caller has zeroed its slot.
pub(crate) fn free_inode(h: &Handle<'_>, ino: u64) -> Result {
    let info = h.sb().data();
    if ino < format::FIRST_INO || !info.geo.ino_valid(ino) {
        return Err(EFSCORRUPTED);
    }
    let mut st = info.state.lock();
    free_run(h, Kind::Inodes, &mut st.inode_runs, ino - 1, 1)?;
    st.disk.free_inodes = st.disk.free_inodes.saturating_add(1);
    Ok(())
}

/// Most bytes `FITRIM` discards in one request, so that the free blocks that allocations must
/// go around (or, when nothing else is free, wait for) are few.
const TRIM_CHUNK_BYTES: u64 = 4 << 20;

/// Discards the free data blocks of `[start, end)` that lie in runs of at least `minlen` free
/// blocks (`FITRIM`), returning how many blocks were discarded. Runs are cut at bitmap block
/// boundaries. The super block state lock is held only to find the next piece of a run (at
/// most [`TRIM_CHUNK_BYTES`]), which is then recorded in [`SbState::trimming`] and discarded
/// with no lock held: allocations go around it, and wait for it only when nothing else is
/// free. One `FITRIM` runs at a time. Its allocations do not recurse into the file system
/// (the state lock is held while bitmap blocks are read, and reclaim may evict inodes).
pub(crate) fn trim(sb: &SuperBlock<RextFs>, start: u64, end: u64, minlen: u64) -> Result<u64> {
    let info = sb.data();
    let geo = &info.geo;
    let bm = bitmap(geo, Kind::Blocks);
    let bits = bits_per_block(geo)?;
    let bs = geo.block_size() as u64;
    let chunk = (TRIM_CHUNK_BYTES >> geo.block_log2).max(1);
    let end = end.min(bm.items);
    let minlen = minlen.max(1);
    let _nofs = kernel::fs::memalloc::NofsScope::new();
    let _one = info.trim_lock.lock();
    let mut item = start.max(geo.layout.data_start);
    let mut trimmed = 0u64;
    // Where the run of the last piece went on (its piece was cut at `chunk`): the rest of it
    // is discarded whatever its length.
    let mut cont = None;
    while item < end {
        let Some((cur, len)) = next_trim_piece(sb, &bm, bits, item, end, minlen, cont, chunk)?
        else {
            break;
        };
        let r = sb.discard(cur * bs, len * bs);
        info.state.lock().trimming = None;
        info.trim_wait.notify_all();
        r?;
        trimmed += len;
        item = cur + len;
        cont = (len == chunk).then_some(item);
    }
    Ok(trimmed)
}

/// The next piece for [`trim`] to discard at or after `item` and before `end`: a run of free
/// blocks, not busy, at least `minlen` long (or any length if it starts at `cont`), at most
/// `chunk` of it, recorded in [`SbState::trimming`] before the state lock is dropped. Blocks
/// freed by a transaction that has not committed keep their contents: a crash gives them back
/// to their owner.
#[allow(clippy::too_many_arguments)]
fn next_trim_piece(
    sb: &SuperBlock<RextFs>,
    bm: &Bitmap,
    bits: NonZeroU64,
    mut item: u64,
    end: u64,
    minlen: u64,
    cont: Option<u64>,
    chunk: u64,
) -> Result<Option<(u64, u64)>> {
    let info = sb.data();
    let mut st = info.state.lock();
    while item < end {
        let idx = item / bits;
        let base = idx * bits.get();
        let stop = end.min(base + bits.get()) - base;
        if cont.is_none() && st.block_runs.get(idx).is_some_and(|r| r < minlen) {
            item = base + stop;
            continue;
        }
        let buf = read_bitmap(sb, bm, idx)?;
        st.block_runs.measure(idx, &buf, bits.get());
        let mut bit = item - base;
        while let Some((first, n)) = free_run_at(&buf, bit, stop) {
            let (mut cur, run_end) = (base + first, base + first + n);
            while cur < run_end {
                let (piece_end, next) = match crate::journal::busy_overlap(sb, cur, run_end - cur) {
                    Some((b, e)) => (b.max(cur), e.min(run_end)),
                    None => (run_end, run_end),
                };
                let len = piece_end - cur;
                if len >= minlen || (len > 0 && Some(cur) == cont) {
                    let len = len.min(chunk);
                    st.trimming = Some((cur, cur + len));
                    return Ok(Some((cur, len)));
                }
                cur = next;
            }
            bit = first + n;
        }
        item = base + stop;
    }
    Ok(None)
}

#[cfg(CONFIG_REXTFS_KUNIT_TEST)]
#[kunit_tests(rextfs_alloc)]
mod tests {
    use super::{alloc_run_in, free_run_at, free_run_in, free_runs_in, BitmapBlocks, Runs};
    use crate::testing::{check, Rng};
    use crate::{format, meta};
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
        /// Blocks looked at: read, or changed (or searched) in place.
        reads: Cell<u64>,
        /// Busy extents (start, end), sorted and apart, as the journal's.
        busy: RefCell<KVec<(u64, u64)>>,
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
                reads: Cell::new(0),
                busy: RefCell::new(KVec::new()),
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
            self.reads.set(self.reads.get() + 1);
            let mut copy = KVec::new();
            copy.extend_from_slice(b, GFP_KERNEL)?;
            Ok(copy)
        }

        fn modify<R>(
            &self,
            idx: u64,
            f: impl FnOnce(&mut [u8]) -> core::result::Result<(R, bool), meta::BlockFail>,
        ) -> Result<R> {
            let mut blocks = self.blocks.try_borrow_mut().map_err(|_| EBUSY)?;
            let b = blocks.get_mut(idx as usize).ok_or(EIO)?;
            self.reads.set(self.reads.get() + 1);
            // A change that fails must leave the block as it found it.
            let mut before = KVec::new();
            before.extend_from_slice(b, GFP_KERNEL)?;
            let (r, changed) = match f(b) {
                Ok(r) => r,
                Err(e) => {
                    if b[..] != before[..] {
                        pr_err!("kunit bitmap: a failed change changed block {}\n", idx);
                        return Err(EIO);
                    }
                    return Err(e.logged(|_| EFSCORRUPTED));
                }
            };
            if !changed && b[..] != before[..] {
                pr_err!("kunit bitmap: an unreported change of block {}\n", idx);
                return Err(EIO);
            }
            if changed {
                format::bitmap_seal(b).map_err(|_| EIO)?;
                self.writes.set(self.writes.get() + 1);
            }
            Ok(r)
        }

        fn may_be_busy(&self) -> bool {
            self.busy.try_borrow().map_or(true, |b| !b.is_empty())
        }

        fn busy(&self, item: u64, len: u64) -> Option<(u64, u64)> {
            let busy = self.busy.try_borrow().ok()?;
            let end = item.saturating_add(len);
            busy.iter().copied().find(|&(s, e)| s < end && e > item)
        }
    }

    /// Whether item `i` lies in one of the busy extents.
    fn is_busy(busy: &[(u64, u64)], i: u64) -> bool {
        busy.iter().any(|&(s, e)| s <= i && i < e)
    }

    /// The maximal runs of free items in `[from, end)` outside the extents `busy`, cut at
    /// bitmap block boundaries.
    fn runs_in(model: &[bool], busy: &[(u64, u64)], from: u64, end: u64) -> KVec<(u64, u64)> {
        let free = |i: u64| !model[i as usize] && !is_busy(busy, i);
        let mut out = KVec::new();
        let mut i = from;
        while i < end {
            if !free(i) {
                i += 1;
                continue;
            }
            let block_end = (i / BITS + 1) * BITS;
            let mut n = 0;
            while i + n < end && i + n < block_end && free(i + n) {
                n += 1;
            }
            let _ = out.push((i, n), GFP_KERNEL);
            i += n;
        }
        out
    }

    /// What `alloc_run_in` must return, written from its documentation: the free items at the
    /// goal (or `lo` when the goal is outside `[lo, items)`) if it is free, up to `want` and
    /// the end of its block; else the first run of `need` free items visiting the goal's block
    /// from the goal, the following blocks (from `lo`), then the goal's block up to the goal,
    /// and the same for shorter runs: half as long, or the longest run of a visited block
    /// (busy items counted as free there, as the kept runs count them). Busy items are never
    /// taken.
    fn expected_run(
        model: &[bool],
        busy: &[(u64, u64)],
        lo: u64,
        goal: u64,
        want: u64,
        need: u64,
    ) -> Option<(u64, u64)> {
        let items = model.len() as u64;
        let g = if goal < lo || goal >= items { lo } else { goal };
        let want = want.max(1);
        let free = |i: u64| !model[i as usize] && !is_busy(busy, i);
        if free(g) {
            let block_end = (g / BITS + 1) * BITS;
            let mut n = 0;
            while n < want && g + n < items && g + n < block_end && free(g + n) {
                n += 1;
            }
            return Some((g, n));
        }
        let nb = items.div_ceil(BITS);
        let first = g / BITS;
        let mut segs = KVec::new();
        let mut longest = 0;
        for step in 0..=nb {
            let idx = (first + step) % nb;
            let base = idx * BITS;
            let from = if step == 0 { g } else { lo.max(base) };
            let end = if step == nb {
                g
            } else {
                items.min(base + BITS)
            };
            if from < end {
                let _ = segs.push((from, end), GFP_KERNEL);
                for &(_, n) in runs_in(model, &[], base, items.min(base + BITS)).iter() {
                    longest = core::cmp::max(longest, n);
                }
            }
        }
        let mut need = need.clamp(1, BITS);
        loop {
            for &(from, end) in segs.iter() {
                for &(s, n) in runs_in(model, busy, from, end).iter() {
                    if n >= need {
                        return Some((s, n.min(want)));
                    }
                }
            }
            if need == 1 || longest == 0 {
                return None;
            }
            need = (need / 2).min(longest).max(1);
        }
    }

    /// Every bitmap block's longest free run that `runs` knows is the model's.
    fn runs_match(runs: &Runs, model: &[bool]) -> Result {
        let items = model.len() as u64;
        for (idx, &known) in runs.0.iter().enumerate() {
            if known == super::RUN_UNKNOWN || known == super::RUN_STALE {
                continue;
            }
            let base = idx as u64 * BITS;
            let longest = runs_in(model, &[], base, items.min(base + BITS))
                .iter()
                .map(|&(_, n)| n)
                .max()
                .unwrap_or(0);
            check!(
                u64::from(known) == longest,
                "block {}: known longest run {}, model {}",
                idx,
                known,
                longest
            );
        }
        Ok(())
    }

    fn alloc_random(seed: u64, items: u64) -> Result {
        let mut rng = Rng::new(seed);
        let bm = MemBitmap::new(items)?;
        let mut runs = Runs::new(bm.nblocks())?;
        let mut model = KVec::from_elem(false, items as usize, GFP_KERNEL)?;
        let mut allocs = 0;
        for _ in 0..3000 {
            if rng.chance(60) {
                // Allocations mostly start from a fixed floor, as data blocks do.
                let lo = if rng.chance(70) { 5 } else { rng.below(items) };
                let goal = rng.below(items + 20);
                let most = if rng.chance(20) { 200 } else { 9 };
                let want = rng.range(1, most);
                // Half of them look for longer runs than they take, as file data does.
                let need = if rng.chance(50) {
                    want
                } else {
                    rng.range(want, 90)
                };
                if rng.chance(5) {
                    // New busy extents, over any items (the allocator must skip them
                    // whatever the bitmap says), or none.
                    let mut busy = KVec::new();
                    let mut at = rng.below(items);
                    for _ in 0..rng.below(6) {
                        let len = rng.range(1, 70);
                        if at + len > items {
                            break;
                        }
                        busy.push((at, at + len), GFP_KERNEL)?;
                        at += len + rng.range(1, 100);
                    }
                    *bm.busy.try_borrow_mut().map_err(|_| EBUSY)? = busy;
                }
                let mut busy = KVec::new();
                busy.extend_from_slice(&bm.busy.try_borrow().map_err(|_| EBUSY)?, GFP_KERNEL)?;
                let writes = bm.writes.get();
                let got = alloc_run_in(&bm, &mut runs, lo, goal, want, need);
                if let Ok((first, n)) = got {
                    for i in first..first + n {
                        check!(!is_busy(&busy, i), "busy item {} allocated", i);
                    }
                } else {
                    let any = (lo..items).any(|i| !model[i as usize] && !is_busy(&busy, i));
                    check!(!any, "{:?} with free items that are not busy", got);
                }
                match expected_run(&model, &busy, lo, goal, want, need) {
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
                            "lo {} goal {} want {} need {}: got {:?}, model ({}, {})",
                            lo,
                            goal,
                            want,
                            need,
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
                    free_run_in(&bm, &mut runs, start, count).is_ok(),
                    "freeing {}+{} failed",
                    start,
                    count
                );
                for i in start..start + count {
                    model[i as usize] = false;
                }
            }
            bm.matches(&model)?;
            runs_match(&runs, &model)?;
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
        let mut runs = Runs::new(bm.nblocks())?;
        let mut model = KVec::from_elem(false, items as usize, GFP_KERNEL)?;
        let mut rng = Rng::new(4);
        let mut total = 0;
        loop {
            let goal = rng.below(items);
            let want = rng.range(1, 100);
            let got = alloc_run_in(&bm, &mut runs, lo, goal, want, want);
            let Some((first, n)) = expected_run(&model, &[], lo, goal, want, want) else {
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
    fn alloc_run_skips_blocks_without_room() -> Result {
        // Eight blocks; fill all but the last, then free one item in the third.
        let items = 8 * BITS;
        let bm = MemBitmap::new(items)?;
        let mut runs = Runs::new(bm.nblocks())?;
        for i in 0..7 {
            let got = alloc_run_in(&bm, &mut runs, 0, 0, BITS, BITS);
            check!(got == Ok((i * BITS, BITS)), "block {}: {:?}", i, got);
        }
        check!(
            free_run_in(&bm, &mut runs, 2 * BITS + 5, 1).is_ok(),
            "free failed"
        );
        // A run of 10 from the start: only the last block has one. This first search reads
        // and measures the blocks whose figures are stale (allocated since they were
        // measured) or unknown.
        let got = alloc_run_in(&bm, &mut runs, 0, 0, 10, 10);
        check!(got == Ok((7 * BITS, 10)), "run of 10: {:?}", got);
        // The next one reads the last block only (stale after the allocation): what the
        // others hold is known now.
        let reads = bm.reads.get();
        let got = alloc_run_in(&bm, &mut runs, 0, 0, 10, 10);
        check!(
            got == Ok((7 * BITS + 10, 10)),
            "second run of 10: {:?}",
            got
        );
        check!(
            bm.reads.get() - reads == 1,
            "{} reads for a run in the last block",
            bm.reads.get() - reads
        );
        // A free keeps an exact figure exact: the third block's hole grows to two items.
        check!(runs.get(2) == Some(1), "third block: {:?}", runs.get(2));
        check!(
            free_run_in(&bm, &mut runs, 2 * BITS + 6, 1).is_ok(),
            "free failed"
        );
        check!(runs.get(2) == Some(2), "third block: {:?}", runs.get(2));
        // A free in a block whose figure is stale leaves it stale.
        check!(
            free_run_in(&bm, &mut runs, 7 * BITS + 10, 10).is_ok(),
            "free failed"
        );
        check!(runs.get(7).is_none(), "last block: {:?}", runs.get(7));
        // A single item: the hole in the third block, the first one after the goal.
        let got = alloc_run_in(&bm, &mut runs, 0, BITS, 1, 1);
        check!(got == Ok((2 * BITS + 5, 1)), "single item: {:?}", got);
        // Asking for 40 with only short runs left beside the rest of the last block.
        let got = alloc_run_in(&bm, &mut runs, 0, 3, 40, 200);
        check!(
            got == Ok((7 * BITS + 10, 40)),
            "falls back to a shorter run: {:?}",
            got
        );
        Ok(())
    }

    #[test]
    fn free_runs_batch_matches_model() -> Result {
        let items = 6 * BITS + 9;
        let bm = MemBitmap::new(items)?;
        let mut runs = Runs::new(bm.nblocks())?;
        let mut model = KVec::from_elem(false, items as usize, GFP_KERNEL)?;
        let mut rng = Rng::new(6);
        for _ in 0..300 {
            // Allocate some runs, then free a random sorted selection of the items in use
            // as runs (which may cross block boundaries) in one batch.
            for _ in 0..rng.range(1, 10) {
                let want = rng.range(1, 40);
                if let Ok((first, n)) =
                    alloc_run_in(&bm, &mut runs, 0, rng.below(items), want, want)
                {
                    for i in first..first + n {
                        model[i as usize] = true;
                    }
                }
            }
            let mut ranges = KVec::new();
            let mut i = 0;
            while i < items {
                if model[i as usize] && rng.chance(30) {
                    let mut n = 0;
                    let most = rng.range(1, 80);
                    while n < most && i + n < items && model[(i + n) as usize] {
                        n += 1;
                    }
                    ranges.push((i, n), GFP_KERNEL)?;
                    i += n + 1;
                } else {
                    i += 1;
                }
            }
            let mut touched = KVec::new();
            for &(first, n) in ranges.iter() {
                for item in first..first + n {
                    model[item as usize] = false;
                    let idx = item / BITS;
                    if !touched.contains(&idx) {
                        touched.push(idx, GFP_KERNEL)?;
                    }
                }
            }
            let writes = bm.writes.get();
            check!(
                free_runs_in(&bm, &mut runs, &ranges).is_ok(),
                "batch free of {} runs failed",
                ranges.len()
            );
            check!(
                bm.writes.get() - writes == touched.len() as u64,
                "{} writes for {} bitmap blocks",
                bm.writes.get() - writes,
                touched.len()
            );
            bm.matches(&model)?;
            runs_match(&runs, &model)?;
        }
        // An item freed twice in one batch is refused, and nothing is written.
        let bm = MemBitmap::new(2 * BITS)?;
        let mut runs = Runs::new(bm.nblocks())?;
        let got = alloc_run_in(&bm, &mut runs, 0, 0, 3, 3);
        check!(got == Ok((0, 3)), "allocation: {:?}", got);
        let writes = bm.writes.get();
        check!(
            free_runs_in(&bm, &mut runs, &[(0, 3), (2, 1)]) == Err(EFSCORRUPTED),
            "overlapping batch accepted"
        );
        check!(bm.writes.get() == writes, "a refused batch wrote");
        Ok(())
    }

    #[test]
    fn free_run_refuses_free_items() -> Result {
        let items = 3 * BITS;
        let bm = MemBitmap::new(items)?;
        let mut runs = Runs::new(bm.nblocks())?;
        let mut model = KVec::from_elem(false, items as usize, GFP_KERNEL)?;
        let got = alloc_run_in(&bm, &mut runs, 0, 0, 1000, 1000);
        check!(got == Ok((0, BITS)), "first block: {:?}", got);
        let got = alloc_run_in(&bm, &mut runs, 0, 0, 1000, 1000);
        check!(got == Ok((BITS, BITS)), "second block: {:?}", got);
        for i in 0..2 * BITS {
            model[i as usize] = true;
        }
        // Across a block boundary.
        check!(
            free_run_in(&bm, &mut runs, BITS - 3, 6).is_ok(),
            "freeing across blocks"
        );
        for i in BITS - 3..BITS + 3 {
            model[i as usize] = false;
        }
        bm.matches(&model)?;
        // Freeing a free item fails and leaves its block alone.
        let writes = bm.writes.get();
        check!(
            free_run_in(&bm, &mut runs, BITS + 2, 4) == Err(EFSCORRUPTED),
            "double free accepted"
        );
        check!(bm.writes.get() == writes, "a failed free wrote");
        bm.matches(&model)?;
        // Past the end, or wrapping around.
        check!(
            free_run_in(&bm, &mut runs, items - 1, 2) == Err(EFSCORRUPTED),
            "free past the end accepted"
        );
        check!(
            free_run_in(&bm, &mut runs, 1, u64::MAX) == Err(EFSCORRUPTED),
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
