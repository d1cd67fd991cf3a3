// SPDX-License-Identifier: GPL-2.0

//! Regular files: all data I/O goes through iomap.
//!
//! Blocks are allocated when iomap asks for a write mapping (buffered write, write fault or
//! direct write), as one contiguous run per call when possible, next to the file's previous
//! blocks. They are written back by `iomap_writepages` to the blocks recorded in the extent
//! tree.
//!
//! Unwritten extents (allocated, reading as zeroes) come from `fallocate` and from direct
//! writes into holes: a direct write maps them unwritten and converts the range it wrote once
//! its bios completed, so a crash before that shows zeroes, never the blocks' old contents.
//! Buffered writes and write faults into unwritten extents convert the range when they map it.

use crate::journal::{self, Handle};
use crate::{alloc, credits, extent, format, inode::write_disk, RextFs};
use core::sync::atomic::Ordering;
use extent::{Budget, Mapping as Ext, ShiftState, TreeCtx};
use iomap::{AddressSpace, MapFlags, Mapping, OpFlags};
use journal::busy_may_help;
use kernel::fs::{
    file_ops::{self, SeekFile, VmOps},
    inode::{self, iflags, Attr, FiemapInfo, FileAttr, INode, INodeView, Kstat, Locked, NewINode},
    Kiocb, LocalFile,
};
use kernel::iov::{IovIterDest, IovIterSource};
use kernel::prelude::*;

/// Operations of regular files.
pub(crate) struct FileOps;

/// Most blocks allocated by one `iomap_begin` call.
const MAX_ALLOC: u64 = 4096;

/// Allocation goal of extent-tree node blocks: the start of the data area (an out-of-range
/// goal means that), away from file data, so that a node never lands in the block that the
/// next contiguous data allocation of its file wants.
const NODE_GOAL: u64 = 0;

/// Records `got` new blocks at `start` as the data of logical blocks `lblk..` in the inode's
/// extent tree (`d`, the in-memory disk inode, updated only on success), with extent `flags`
/// (`format::EXTENT_UNWRITTEN` or 0), in the transaction of `h`. On failure the blocks are
/// freed again: nothing points at them yet.
fn insert_new_extent(
    h: &Handle<'_>,
    inode: &INodeView<RextFs>,
    d: &mut format::Inode,
    lblk: u64,
    start: u64,
    got: u64,
    flags: u32,
) -> Result {
    let mut blocks = d.blocks.saturating_add(got);
    let mut root = d.area;
    let mut ctx = TreeCtx {
        sb: h,
        ino: inode.ino(),
        goal: NODE_GOAL,
        blocks: &mut blocks,
        freed: KVec::new(),
    };
    let e = format::Extent {
        logical: lblk,
        physical: start,
        len: got as u32,
        flags,
    };
    let inserted = ctx.insert(&mut root, &e);
    // A failed insertion may have written node blocks too: cached mappings and cookies of
    // the tree before are dropped either way.
    crate::inode::map_changed(inode);
    if let Err(err) = inserted {
        // Nothing points at the blocks yet; if they cannot be freed either, they would leak:
        // the transaction cannot commit like that.
        if let Err(e2) = alloc::free_blocks(h, start, got) {
            return Err(h.abort_changed(e2));
        }
        return Err(err);
    }
    d.area = root;
    d.blocks = blocks;
    Ok(())
}

/// Allocates up to `n` blocks for logical blocks `lblk..` of `inode` (`d`, its disk inode,
/// locked) and records them as an unwritten extent, in the transaction of `h`: the first block
/// and the count. An `ENOSPC` changes nothing but blocks allocated and freed again, so that
/// the caller may commit and try again.
fn alloc_new_extent(
    h: &Handle<'_>,
    inode: &INodeView<RextFs>,
    d: &mut format::Inode,
    lblk: u64,
    n: u64,
) -> Result<(u64, u64)> {
    let g = goal(inode, d, lblk);
    let need = stream_need(inode, d, n);
    let leave = nodes_for_new_extent(h, inode.ino(), d, lblk, n)?;
    let (start, got) = alloc::alloc_blocks(h, inode.ino(), g, n, need, leave)?;
    insert_new_extent(h, inode, d, lblk, start, got, format::EXTENT_UNWRITTEN)?;
    Ok((start, got))
}

/// How many node blocks recording a new extent of `n` blocks at logical block `lblk` in the
/// extent tree of inode `ino` (`d`) may take: an allocation of its data leaves them available
/// ([`alloc::alloc_blocks`]). The tree is walked only when the file system is nearly full: the
/// allocation then takes (nearly) all that is left.
fn nodes_for_new_extent(
    h: &Handle<'_>,
    ino: u64,
    d: &format::Inode,
    lblk: u64,
    n: u64,
) -> Result<u64> {
    /// More blocks than any insertion's splits take.
    const PLENTY: u64 = 64;
    if alloc::available_now(h.sb()) > n.saturating_add(PLENTY) {
        return Ok(0);
    }
    let mut blocks = d.blocks;
    let ctx = TreeCtx {
        sb: h,
        ino,
        goal: NODE_GOAL,
        blocks: &mut blocks,
        freed: KVec::new(),
    };
    ctx.blocks_for_new_extent(&d.area, lblk)
}

/// Most bytes of a free run that a file's allocation looks for beyond what it takes (see
/// [`stream_need`]).
const STREAM_RUN_BYTES: u64 = 32 << 20;

/// The free run an allocation of `n` blocks for the file of `d` looks for when its goal is
/// taken: as long as the file is already (at least `n`, at most [`STREAM_RUN_BYTES`]), so that
/// a file being written sequentially lands where it has room to go on growing, as ext4's
/// request normalisation does; small files take any hole that fits.
fn stream_need(inode: &INodeView<RextFs>, d: &format::Inode, n: u64) -> u64 {
    let most = STREAM_RUN_BYTES >> inode.super_block().data().geo.block_log2;
    n.max(d.blocks.min(most))
}

/// Finds the mapping of logical block `lblk` of regular file `inode` (`d`, its disk inode,
/// locked) in its extent cache ([`crate::extcache`]), or in its extent tree, which the cache
/// then records.
fn lookup(inode: &INodeView<RextFs>, d: &format::Inode, lblk: u64) -> Result<Ext> {
    let data = inode.data();
    // Read under the disk lock, which every change of the tree and of the sequence holds.
    let seq = data.map_seq.load(Ordering::Relaxed);
    if let Some(m) = data.extents.lock().get(seq, lblk) {
        return Ok(m);
    }
    // The walk takes buffer locks: not under the cache's lock.
    let m = extent::lookup(inode.super_block(), inode.ino(), &d.area, lblk)?;
    data.extents.lock().put(seq, lblk, m);
    Ok(m)
}

/// Allocation goal for logical block `lblk` of the file (`d`, its disk inode, locked): after
/// the extent before it, or where the inode number puts the file's data
/// ([`alloc::data_goal`]).
fn goal(inode: &INodeView<RextFs>, d: &format::Inode, lblk: u64) -> u64 {
    let sb = inode.super_block();
    let geo = &sb.data().geo;
    if lblk > 0 {
        if let Ok(Ext::Mapped(e)) = lookup(inode, d, lblk - 1) {
            if let Some(p) = e.map(lblk - 1) {
                return p + 1;
            }
        }
    }
    alloc::data_goal(geo, inode.ino())
}

/// Runs the tree update `f` on the extent tree of `inode` (`d` is its locked in-memory disk
/// inode) in the transaction of `h`, then (with `compact`) compacts the tree, writes the
/// inode and frees the blocks the update removed. Node blocks are written as the update goes,
/// so the new root is written even when `f` fails part way: the tree on disk then holds the
/// part of the update that was done.
///
/// Compacting merges neighbours that continue each other, so the steps of a move of extents
/// do without it: it would merge back the two halves of the extent split at the insertion
/// point before the upper half moved.
fn update_tree<T>(
    h: &Handle<'_>,
    inode: &INodeView<RextFs>,
    d: &mut format::Inode,
    compact: bool,
    f: impl FnOnce(&mut TreeCtx<'_>, &mut [u8]) -> Result<T>,
) -> Result<T> {
    let sb = h.sb();
    let mut root = d.area;
    let mut blocks = d.blocks;
    let mut ctx = TreeCtx {
        sb: h,
        ino: inode.ino(),
        goal: NODE_GOAL,
        blocks: &mut blocks,
        freed: KVec::new(),
    };
    // Shrink the tree again if the update left it with fewer extents than its levels need.
    let r = f(&mut ctx, &mut root).and_then(|v| {
        if compact {
            ctx.compact(&mut root)?;
        }
        Ok(v)
    });
    let freed = core::mem::take(&mut ctx.freed);
    d.area = root;
    d.blocks = blocks;
    crate::inode::map_changed(inode);
    d.size = inode.size() as u64;
    // The tree no longer points at the blocks of `freed`: if the inode or the bitmaps cannot
    // say so, the transaction must not commit (they would leak).
    crate::inode::write(h, inode, d).map_err(|e| h.abort_changed(e))?;
    inode.set_bytes(d.blocks << sb.data().geo.block_log2);
    extent::free_all(h, &freed).map_err(|e| h.abort_changed(e))?;
    r
}

/// The budget of one step of a hole punch: [`credits::PUNCH_EXTENTS`] extents, and no more
/// blocks than one bitmap block describes (so that each run freed spans at most two bitmap
/// blocks).
fn punch_budget(inode: &INodeView<RextFs>) -> Budget {
    Budget {
        extents: credits::PUNCH_EXTENTS.into(),
        blocks: alloc::bits_per_bitmap_block(inode.super_block()),
    }
}

/// One step of truncating the extent tree of inode `ino` (on-disk copy `d`, the caller's to
/// lock) at logical block `from`, in the transaction of `h` (at most
/// [`credits::TRUNCATE_STEP`] blocks): the last [`credits::TRUNCATE_EXTENTS`] extents at most
/// (and no more blocks than one bitmap block describes) are removed, the inode is written,
/// then their blocks are freed. The tree is valid afterwards, so the transaction may commit
/// before the next step. Returns whether nothing at or after `from` is mapped any more.
///
/// If the tree update fails, neither the inode nor the bitmaps change (the nodes it wrote
/// hold part of the update; the blocks it removed stay allocated: a leak at worst).
pub(crate) fn truncate_step(
    h: &Handle<'_>,
    ino: u64,
    d: &mut format::Inode,
    from: u64,
) -> Result<bool> {
    let mut root = d.area;
    let mut blocks = d.blocks;
    let mut ctx = TreeCtx {
        sb: h,
        ino,
        goal: NODE_GOAL,
        blocks: &mut blocks,
        freed: KVec::new(),
    };
    let budget = Budget {
        extents: credits::TRUNCATE_EXTENTS.into(),
        blocks: alloc::bits_per_bitmap_block(h.sb()),
    };
    let done = ctx.truncate_step(&mut root, from, budget)?;
    let freed = core::mem::take(&mut ctx.freed);
    d.area = root;
    d.blocks = blocks;
    // As in `update_tree`: the blocks of `freed` would leak.
    write_disk(h, ino, d).map_err(|e| h.abort_changed(e))?;
    extent::free_all(h, &freed).map_err(|e| h.abort_changed(e))?;
    Ok(done)
}

/// How often one allocation commits the running transaction and tries again when only blocks
/// that uncommitted transactions freed are left (as ext4 retries while frees are pending):
/// other tasks may keep freeing while it waits, each commit making theirs usable.
const BUSY_RETRIES: u32 = 8;

/// Allocates unwritten extents for the holes of logical blocks `from..to`, one run of blocks
/// a step of handle `h` (after each the file system is consistent: blocks past the end of
/// the file are preallocated ones), stopping at the first failure (the blocks allocated until
/// then stay). Runs with the inode lock held, the page cache of the range not in use.
fn alloc_unwritten(h: &mut Handle<'_>, inode: &INode<RextFs>, from: u64, to: u64) -> Result {
    let sb = inode.super_block();
    let mut lblk = from;
    let mut restarts = 0;
    while lblk < to {
        h.extend(credits::ALLOC_EXTENT)?;
        let mut d = inode.data().disk.lock();
        match lookup(inode, &d, lblk)? {
            Ext::Mapped(e) => lblk = e.logical_end(),
            Ext::Hole { end: hole_end } => {
                let n = (hole_end.min(to) - lblk).min(MAX_ALLOC);
                let mark = journal::busy_mark(sb);
                let got = match alloc_new_extent(h, inode, &mut d, lblk, n) {
                    Err(e) if e == ENOSPC && restarts < BUSY_RETRIES && busy_may_help(sb, mark) => {
                        // Only blocks freed by uncommitted transactions are left, for the data
                        // or for a node of the extent tree: commit them (this step changed
                        // nothing but the blocks it allocated and freed again) and try again.
                        drop(d);
                        h.restart()?;
                        restarts += 1;
                        continue;
                    }
                    r => r?.1,
                };
                // Each step may wait for the frees of others again.
                restarts = 0;
                d.size = inode.size() as u64;
                // The tree holds the new blocks now: the inode must say so.
                crate::inode::write(h, inode, &d).map_err(|e| h.abort_changed(e))?;
                inode.set_bytes(d.blocks << sb.data().geo.block_log2);
                lblk += got;
            }
        }
    }
    Ok(())
}

/// Removes the mappings of logical blocks `from..to` of `inode` (`FALLOC_FL_PUNCH_HOLE`), a
/// few extents a step of handle `h` (see [`credits::PUNCH_STEP`]), freeing their blocks. After
/// each step the file reads as zeroes in the part of the range already done.
fn punch_steps(h: &mut Handle<'_>, inode: &INode<RextFs>, from: u64, to: u64) -> Result {
    let budget = punch_budget(inode);
    let mut lblk = from;
    while lblk < to {
        h.extend(credits::PUNCH_STEP)?;
        let mut d = inode.data().disk.lock();
        lblk = update_tree(h, inode, &mut d, true, |t, root| {
            t.punch_step(root, lblk, to, budget)
        })?;
    }
    Ok(())
}

/// Moves the extents of `inode` as `how` says (collapse or insert range), a few leaves a step
/// of handle `h` (see [`credits::SHIFT_STEP`]). Every step leaves a valid tree, each extent
/// where it was or where it goes. The tree is not compacted: the caller does it at the end.
fn shift_steps(h: &mut Handle<'_>, inode: &INode<RextFs>, how: extent::Shift) -> Result {
    let mut st = ShiftState::new(how);
    loop {
        h.extend(credits::SHIFT_STEP)?;
        let mut d = inode.data().disk.lock();
        let done = update_tree(h, inode, &mut d, false, |t, root| {
            t.shift_step(root, &mut st, credits::SHIFT_LEAVES)
        })?;
        if done {
            return Ok(());
        }
    }
}

/// What [`FileOps::lookup_map`] found for a mapping request.
enum Found {
    /// The answer for iomap.
    Map(Mapping),
    /// A write into a hole: this many blocks are to be allocated.
    Alloc(u64),
}

impl FileOps {
    /// Answers a mapping request for `want` blocks from logical block `lblk` from the extent
    /// tree (`d`, locked) where it can without changing anything.
    fn lookup_map(
        inode: &INodeView<RextFs>,
        d: &format::Inode,
        lblk: u64,
        want: u64,
        flags: OpFlags,
    ) -> Result<Found> {
        let sb = inode.super_block();
        let shift = sb.data().geo.block_log2;
        match lookup(inode, d, lblk)? {
            Ext::Mapped(e) => {
                let phys = e.map(lblk).ok_or(EFSCORRUPTED)?;
                let n = (e.logical_end() - lblk).min(want);
                let (off, len, addr) = ((lblk << shift) as i64, n << shift, phys << shift);
                let overwrite = flags.contains(OpFlags::OVERWRITE_ONLY);
                let one_go = flags.contains(OpFlags::NOWAIT) || overwrite;
                if one_go && flags.is_data_write() && n < want {
                    // A non-blocking or overwrite-only direct write must be mapped in one
                    // go: iomap would otherwise submit part of it before failing with
                    // EAGAIN.
                    return Err(EAGAIN);
                }
                Ok(Found::Map(if e.unwritten() {
                    // Writes keep the blocks unwritten until their data is on the device:
                    // writeback (`ioend_done`) and direct I/O (`end_io`) convert them then.
                    // Reads see zeroes; iomap zeroes the parts of the blocks a buffered write
                    // does not cover instead of reading them.
                    Mapping::unwritten(sb, off, len, addr)
                } else if flags.is_data_write()
                    && flags.contains(OpFlags::DIRECT)
                    && (!journal::is_committed(sb, inode.data().sync_seq.load(Ordering::Relaxed))
                        || d.size != inode.size() as u64
                        || (off as u64).saturating_add(len) > d.size)
                {
                    // The extent may be in a transaction that has not committed, or the size
                    // on disk may not cover the write yet (a truncate up changes it in memory
                    // only; an extending write changes it at completion): an `O_DSYNC` direct
                    // write must then commit (`fsync`), a FUA write of the data alone would
                    // not make it readable after a crash (as XFS and ext4 do).
                    Mapping::mapped(sb, off, len, addr).with_flags(MapFlags::DIRTY)
                } else {
                    Mapping::mapped(sb, off, len, addr)
                }))
            }
            Ext::Hole { end: hole_end } => {
                let n = (hole_end - lblk).min(want);
                if !flags.is_data_write() {
                    // A hole may end at the largest file offset, short of a block boundary.
                    let off = (lblk << shift) as i64;
                    let len = (n << shift).min((i64::MAX - off) as u64);
                    return Ok(Found::Map(Mapping::hole(off, len)));
                }
                if flags.contains(OpFlags::NOWAIT) || flags.contains(OpFlags::OVERWRITE_ONLY) {
                    return Err(EAGAIN);
                }
                if lblk
                    .checked_add(n)
                    .is_none_or(|e| e > sb.data().geo.max_file_blocks())
                {
                    return Err(EFBIG);
                }
                Ok(Found::Alloc(n))
            }
        }
    }

    fn map(inode: &INodeView<RextFs>, pos: i64, length: i64, flags: OpFlags) -> Result<Mapping> {
        let sb = inode.super_block();
        crate::check_live(sb)?;
        let shift = sb.data().geo.block_log2;
        let bs = 1u64 << shift;
        let pos = u64::try_from(pos).map_err(|_| EINVAL)?;
        let lblk = pos >> shift;
        let end = pos
            .checked_add(u64::try_from(length).map_err(|_| EINVAL)?.max(1))
            .ok_or(EFBIG)?;
        // Mappings end at a block boundary that still fits a file offset.
        let last = end.div_ceil(bs).min(i64::MAX as u64 >> shift);
        let want = last.saturating_sub(lblk).max(1);
        // Every mapping carries the extent map sequence read under the disk lock that its
        // lookup held (`iomap_valid`).
        let cookie = || inode.data().map_seq.load(Ordering::Relaxed);
        {
            let d = inode.data().disk.lock();
            if let Found::Map(m) = Self::lookup_map(inode, &d, lblk, want, flags)? {
                return Ok(m.with_validity_cookie(cookie()));
            }
        }
        // A write into a hole. The blocks are allocated in a transaction handle of this call
        // (iomap holds no handle around `iomap_begin`, nor while its I/O runs), started before
        // the inode's disk lock is taken again; the tree may have changed in between.
        let mut h = journal::start(sb, credits::ALLOC_EXTENT)?;
        let mut restarts = 0;
        let (mut d, start, got) = loop {
            let mut d = inode.data().disk.lock();
            let n = match Self::lookup_map(inode, &d, lblk, want, flags)? {
                Found::Map(m) => return Ok(m.with_validity_cookie(cookie())),
                Found::Alloc(n) => n,
            };
            let mark = journal::busy_mark(sb);
            // New blocks are unwritten until the data reached them (see above), so that a
            // crash can never expose what they held before.
            match alloc_new_extent(&h, inode, &mut d, lblk, n.min(MAX_ALLOC)) {
                Err(e) if e == ENOSPC && restarts < BUSY_RETRIES && busy_may_help(sb, mark) => {
                    // Only blocks freed by uncommitted transactions are left, for the data or
                    // for a node of the extent tree: commit them and try again.
                    drop(d);
                    h.restart()?;
                    restarts += 1;
                }
                r => {
                    let (start, got) = r?;
                    break (d, start, got);
                }
            }
        };
        d.size = inode.size() as u64;
        // The tree holds the new blocks now: the inode must say so.
        crate::inode::write(&h, inode, &d).map_err(|e| h.abort_changed(e))?;
        inode.set_bytes(d.blocks << shift);
        let (off, len, addr) = ((lblk << shift) as i64, got << shift, start << shift);
        Ok(Mapping::unwritten(sb, off, len, addr)
            .with_flags(MapFlags::NEW)
            .with_validity_cookie(cookie()))
    }

    /// Marks the blocks under bytes `pos..pos + len` written, after a direct write or the
    /// writeback of them completed, in a transaction handle of the completion (a chain of
    /// steps, [`credits::CONVERT_EXTENTS`] extents each). Takes only the in-memory inode's
    /// mutex (and the allocator's for a node split), never the inode lock: completions run
    /// without it.
    fn written(inode: &INodeView<RextFs>, pos: i64, len: u64) -> Result {
        let sb = inode.super_block();
        let shift = sb.data().geo.block_log2;
        let pos = u64::try_from(pos).map_err(|_| EINVAL)?;
        let from = pos >> shift;
        let to = pos.saturating_add(len).div_ceil(1 << shift);
        let mut h = journal::start(sb, credits::CONVERT_STEP)?;
        h.use_reserve();
        let mut lblk = from;
        let mut restarts = 0;
        loop {
            let mark = journal::busy_mark(sb);
            let r = {
                let mut d = inode.data().disk.lock();
                update_tree(&h, inode, &mut d, true, |t, root| {
                    t.mark_written_step(root, lblk, to, credits::CONVERT_EXTENTS.into())
                })
            };
            lblk = match r {
                // Splitting a tree node for the conversion found only blocks that
                // uncommitted transactions freed (the insertion changed nothing; the
                // extents converted before it stay converted): commit them and go on from
                // the same block. Giving up would leave data that is on the device reading
                // as zeroes.
                Err(e) if e == ENOSPC && restarts < BUSY_RETRIES && busy_may_help(sb, mark) => {
                    h.restart()?;
                    restarts += 1;
                    continue;
                }
                r => r?,
            };
            restarts = 0;
            if lblk >= to {
                return Ok(());
            }
            h.extend(credits::CONVERT_STEP)?;
        }
    }

    /// Zeroes bytes `from..to` in the page cache (`iomap_zero_range`, which skips holes and
    /// unwritten extents), but never a folio past the end of the file.
    fn zero_partial(
        lock: &Locked<'_, RextFs>,
        ilock: &inode::InvalidateLocked<'_, RextFs>,
        from: i64,
        to: i64,
    ) -> Result {
        let bs = i64::from(lock.super_block().block_size());
        let limit = lock.size().saturating_add(bs - 1) & !(bs - 1);
        let to = to.min(limit);
        if from < to {
            iomap::zero_range::<FileOps>(lock, ilock, from, to - from)?;
        }
        Ok(())
    }

    /// Zeroes the parts of the first and last blocks of `offset..end` that the range covers
    /// partially.
    fn zero_edges(
        lock: &Locked<'_, RextFs>,
        ilock: &inode::InvalidateLocked<'_, RextFs>,
        offset: i64,
        end: i64,
    ) -> Result {
        let bs = i64::from(lock.super_block().block_size());
        let head_end = (offset.saturating_add(bs - 1) & !(bs - 1)).min(end);
        if offset & (bs - 1) != 0 {
            Self::zero_partial(lock, ilock, offset, head_end)?;
        }
        let tail = (end & !(bs - 1)).max(head_end);
        if end & (bs - 1) != 0 && tail < end {
            Self::zero_partial(lock, ilock, tail, end)?;
        }
        Ok(())
    }

    /// Changes the size, freeing the blocks beyond a smaller size.
    ///
    /// Direct I/O is drained and the page cache cut first (with the invalidate lock held);
    /// the blocks are then freed in one transaction handle, a chain of
    /// [`credits::TRUNCATE_STEP`] steps from the end of the file. The first step writes the
    /// new size: after a crash between steps, the blocks still mapped past it are
    /// preallocated ones, as after `FALLOC_FL_KEEP_SIZE`.
    fn set_size(inode: &Locked<'_, RextFs>, size: i64) -> Result {
        let sb = inode.super_block();
        // `setattr_prepare` already checked the size against `s_maxbytes`.
        if size < 0 {
            return Err(EINVAL);
        }
        inode.dio_wait();
        let ilock = inode.invalidate_lock();
        let old = inode.size();
        if size < old {
            iomap::truncate_page::<FileOps>(inode, &ilock, size)?;
            // The zeroed tail of the new last block goes to the device before the new size
            // can (as XFS does): the bytes cut off never stay there past the end of the file,
            // where a later extension of it would find them after a crash.
            let bs = i64::from(sb.block_size());
            inode.write_and_wait_range(size, (size | (bs - 1)).min(old - 1))?;
        } else {
            // Bytes past the old end in its last block (a shared mapping may have written
            // there) become file data: zero them.
            Self::zero_partial(inode, &ilock, old, size)?;
        }
        inode.truncate_setsize(size);
        let shift = sb.data().geo.block_log2;
        if size > old {
            // Growing keeps the blocks past the old end (preallocated, unwritten: they read
            // as zeroes), whether or not the new size covers them.
            drop(ilock);
            inode.touch_cmtime();
            inode.mark_dirty();
            return Ok(());
        }
        let from = (size as u64).div_ceil(1 << shift);
        {
            let mut h = journal::start(sb, credits::TRUNCATE_STEP)?;
            h.use_reserve();
            loop {
                let done = {
                    let mut d = inode.data().disk.lock();
                    d.size = size as u64;
                    let step = truncate_step(&h, inode.ino(), &mut d, from);
                    // Even a failed step may have written node blocks: cached mappings and
                    // cookies of the tree before are dropped either way.
                    crate::inode::map_changed(inode);
                    let done = step?;
                    crate::inode::note(&h, inode);
                    inode.set_bytes(d.blocks << shift);
                    done
                };
                if done {
                    break;
                }
                h.extend(credits::TRUNCATE_STEP)?;
            }
        }
        drop(ilock);
        inode.touch_cmtime();
        inode.mark_dirty();
        Ok(())
    }
}

/// Prepares a new in-memory inode of mode `mode` before [`NewINode::init`]: the page cache of
/// regular files uses large folios (iomap handles folios of any size; a large folio is
/// mapped, read and written back in one go).
pub(crate) fn prepare_new_inode(new: &mut NewINode<RextFs>, mode: u16) {
    if mode & inode::mode::S_IFMT == inode::mode::S_IFREG {
        new.set_large_folios();
    }
}

#[vtable]
impl iomap::Operations for FileOps {
    type FileSystem = RextFs;
    const WRITE_OPS: Option<iomap::WriteTable<RextFs>> = Some(iomap::WriteOps::<Self>::table());

    fn begin(inode: &INode<RextFs>, pos: i64, length: i64, flags: OpFlags) -> Result<Mapping> {
        Self::map(inode, pos, length, flags)
    }
}

#[vtable]
impl iomap::WriteOperations for FileOps {
    /// A mapping is stale once the extent tree changed after it was looked up: writeback
    /// converts unwritten extents without the inode lock that a buffered write holds.
    fn iomap_valid(inode: &INode<RextFs>, mapping: &Mapping) -> bool {
        mapping.validity_cookie() == inode.data().map_seq.load(Ordering::Relaxed)
    }
}

/// `FALLOC_FL_PUNCH_HOLE` (UAPI value): deallocate the range (with `KEEP_SIZE` only).
const FALLOC_FL_PUNCH_HOLE: i32 = 0x02;
/// `FALLOC_FL_ZERO_RANGE` (UAPI value): make the range read as zeroes, allocated.
const FALLOC_FL_ZERO_RANGE: i32 = 0x10;
/// `FALLOC_FL_COLLAPSE_RANGE` (UAPI value): remove the range, the rest of the file moves down.
const FALLOC_FL_COLLAPSE_RANGE: i32 = 0x08;
/// `FALLOC_FL_INSERT_RANGE` (UAPI value): insert a hole, the rest of the file moves up.
const FALLOC_FL_INSERT_RANGE: i32 = 0x20;

/// Checks a `fallocate` range and returns its end.
fn falloc_range(inode: &INode<RextFs>, offset: i64, len: i64) -> Result<i64> {
    if offset < 0 || len <= 0 {
        return Err(EINVAL);
    }
    let end = offset.checked_add(len).ok_or(EFBIG)?;
    let geo = &inode.super_block().data().geo;
    if (end as u64).div_ceil(1 << geo.block_log2) > geo.max_file_blocks() {
        return Err(EFBIG);
    }
    Ok(end)
}

impl FileOps {
    /// Grows the file to `end` after a `fallocate` without `KEEP_SIZE` (never shrinks it).
    fn falloc_extend(
        lock: &Locked<'_, RextFs>,
        ilock: Option<&inode::InvalidateLocked<'_, RextFs>>,
        end: i64,
    ) -> Result {
        let old = lock.size();
        if end <= old {
            return Ok(());
        }
        match ilock {
            Some(il) => Self::zero_partial(lock, il, old, end)?,
            None => Self::zero_partial(lock, &lock.invalidate_lock(), old, end)?,
        }
        lock.truncate_setsize(end);
        Ok(())
    }

    /// Preallocates `offset..offset + len` (`fallocate` modes 0 and `FALLOC_FL_KEEP_SIZE`):
    /// the holes of the range get unwritten extents, which read as zeroes; the device is not
    /// written. Mode 0 grows the file to the end of the range, after the transaction handle of
    /// the allocation stopped (growing zeroes the old last block through the page cache).
    fn preallocate(
        file: &LocalFile,
        inode: &INode<RextFs>,
        keep_size: bool,
        offset: i64,
        len: i64,
    ) -> Result {
        let end = falloc_range(inode, offset, len)?;
        let shift = inode.super_block().data().geo.block_log2;
        let lock = inode.lock();
        if !keep_size && end > lock.size() {
            // Before anything is allocated: RLIMIT_FSIZE and s_maxbytes.
            lock.newsize_ok(end)?;
        }
        file_ops::file_modified_file(&lock, file)?;
        {
            let mut h = journal::start(inode.super_block(), credits::ALLOC_EXTENT)?;
            alloc_unwritten(
                &mut h,
                inode,
                (offset as u64) >> shift,
                (end as u64).div_ceil(1 << shift),
            )?;
        }
        if !keep_size {
            Self::falloc_extend(&lock, None, end)?;
        }
        inode.touch_ctime();
        inode.mark_dirty();
        Ok(())
    }

    /// `FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE` (`zero == false`) and
    /// `FALLOC_FL_ZERO_RANGE` (`zero == true`, with or without `KEEP_SIZE`) over
    /// `offset..offset + len`.
    ///
    /// With the inode lock and the invalidate lock held and direct I/O drained, the page
    /// cache of the range is dropped (no read or fault can bring the old blocks back), the
    /// blocks wholly inside the range are unmapped and freed, and the partial blocks at its
    /// ends are zeroed through the page cache. Zeroing then maps the whole blocks of the range
    /// again as unwritten extents, so the range stays allocated and reads as zeroes.
    ///
    /// Unmapping and allocating are one transaction handle (a chain of steps); growing the
    /// file (zeroing without `KEEP_SIZE`) and zeroing the edges go through the page cache, so
    /// they come after it stopped.
    fn punch_or_zero(
        file: &LocalFile,
        inode: &INode<RextFs>,
        zero: bool,
        keep_size: bool,
        offset: i64,
        len: i64,
    ) -> Result {
        let end = falloc_range(inode, offset, len)?;
        let sb = inode.super_block();
        let shift = sb.data().geo.block_log2;
        let lock = inode.lock();
        if zero && !keep_size && end > lock.size() {
            lock.newsize_ok(end)?;
        }
        file_ops::file_modified_file(&lock, file)?;
        inode.dio_wait();
        let ilock = inode.invalidate_lock();
        lock.truncate_pagecache_range(&ilock, offset, end - 1)?;
        let from = (offset as u64).div_ceil(1 << shift);
        let to = (end as u64) >> shift;
        {
            let mut h = journal::start(sb, credits::PUNCH_STEP)?;
            h.use_reserve();
            punch_steps(&mut h, inode, from, to)?;
            if zero {
                // The blocks just freed are busy until the punch commits; commit it, so that
                // the range gets its own blocks back rather than new ones elsewhere.
                if from < to {
                    h.restart()?;
                }
                // The whole blocks the range touches are allocated, the partial ones too.
                alloc_unwritten(
                    &mut h,
                    inode,
                    (offset as u64) >> shift,
                    (end as u64).div_ceil(1 << shift),
                )?;
            }
        }
        if zero && !keep_size {
            Self::falloc_extend(&lock, Some(&ilock), end)?;
        }
        Self::zero_edges(&lock, &ilock, offset, end)?;
        drop(ilock);
        inode.touch_cmtime();
        inode.mark_dirty();
        Ok(())
    }
}

impl FileOps {
    /// `FALLOC_FL_COLLAPSE_RANGE` (`insert == false`): the blocks of `offset..offset + len`
    /// are freed and everything after them moves down by `len`, the file shrinking by `len`;
    /// `FALLOC_FL_INSERT_RANGE` (`insert == true`): everything from `offset` moves up by
    /// `len`, leaving a hole, the file growing by `len`.
    ///
    /// Both need whole blocks (`EINVAL` otherwise), a range starting inside the file and, to
    /// collapse, ending before its end (`EINVAL`); the grown file must fit (`EFBIG`). With the
    /// inode and invalidate locks held and direct I/O drained, the page cache from `offset` on
    /// is written back (its unwritten blocks converted) and dropped, then the extent tree is
    /// rewritten in place with [`extent::Shift`], in one transaction handle: a chain of steps
    /// (collapse: the range punched, then the extents after it moved down a few leaves at a
    /// time, then merged at the seam; insert: the extent at `offset` split, then the extents
    /// moved up). Between two steps the tree is valid and the size is the old one; a crash
    /// there leaves the file partly moved.
    ///
    /// The disk mutex is dropped between the steps, so writeback completions may convert
    /// extents of the file meanwhile. Moving down, they can only merge extents below `offset`
    /// and the seam, which is harmless. Moving up, merging the lower half of the split extent
    /// with its upper half before that moved would keep the upper half in place: an insert
    /// writes back the whole file first, and with the inode and invalidate locks held no page
    /// of it can be dirtied again, so no conversion runs during the move.
    fn shift_range(
        file: &LocalFile,
        inode: &INode<RextFs>,
        insert: bool,
        offset: i64,
        len: i64,
    ) -> Result {
        let end = falloc_range(inode, offset, len)?;
        let sb = inode.super_block();
        let geo = &sb.data().geo;
        let shift = geo.block_log2;
        let bs = i64::from(sb.block_size());
        if (offset | len) & (bs - 1) != 0 {
            return Err(EINVAL);
        }
        let lock = inode.lock();
        let size = lock.size();
        if offset >= size || (!insert && end >= size) {
            return Err(EINVAL);
        }
        if insert {
            lock.newsize_ok(size.checked_add(len).ok_or(EFBIG)?)?;
        }
        file_ops::file_modified_file(&lock, file)?;
        inode.dio_wait();
        let ilock = inode.invalidate_lock();
        let flush_from = if insert { 0 } else { offset };
        file_ops::write_and_wait_range(file, flush_from, i64::MAX)?;
        lock.truncate_pagecache_range(&ilock, offset, i64::MAX)?;
        let from = (offset as u64) >> shift;
        let n = (len as u64) >> shift;
        {
            let mut h = journal::start(sb, credits::SPLIT_STEP)?;
            h.use_reserve();
            if insert {
                {
                    let mut d = inode.data().disk.lock();
                    update_tree(&h, inode, &mut d, false, |t, root| {
                        // Blocks preallocated past the end move too.
                        if t.last_end(root)?.saturating_add(n) > geo.max_file_blocks() {
                            return Err(EFBIG);
                        }
                        t.split_at(root, from)
                    })?;
                }
                shift_steps(&mut h, inode, extent::Shift::Up { from, len: n })?;
                lock.set_size(size + len);
                // Compact the tree, and write the new size.
                h.extend(credits::COMPACT_STEP)?;
                let mut d = inode.data().disk.lock();
                update_tree(&h, inode, &mut d, true, |_, _| Ok(()))?;
            } else {
                punch_steps(&mut h, inode, from, from + n)?;
                shift_steps(&mut h, inode, extent::Shift::Down { from, len: n })?;
                lock.set_size(size - len);
                // The extents that now meet at `from` may continue each other on disk (a
                // collapsed hole): make them one again, and write the new size.
                h.extend(credits::MERGE_STEP)?;
                let mut d = inode.data().disk.lock();
                update_tree(&h, inode, &mut d, true, |t, root| t.merge_at(root, from))?;
            }
        }
        drop(ilock);
        inode.touch_cmtime();
        inode.mark_dirty();
        Ok(())
    }
}

#[vtable]
impl iomap::WritebackOperations for FileOps {
    const DIRECT_IO: bool = true;
    // Swap files are mapped once at swapon (written and fallocated extents alike) and their
    // blocks never move: rextfs has no defragmentation, and the VFS refuses writes, truncation
    // and fallocate on an active swap file.
    const SWAPFILE: bool = true;

    fn map_writeback(
        inode: &INodeView<RextFs>,
        pos: i64,
        len: u32,
        _end_pos: i64,
    ) -> Result<Mapping> {
        // Blocks were allocated (unwritten) when the data was written into the page cache;
        // unwritten mappings make iomap flag the ioend for `ioend_done`.
        Self::map(inode, pos, i64::from(len), OpFlags::empty())
    }

    fn ioend_done(inode: &INodeView<RextFs>, ioend: &iomap::Ioend, error: Option<Error>) -> Result {
        // After a failed write the blocks stay unwritten: they read as zeroes, never as what
        // they held before.
        if error.is_some() || !ioend.flags().contains(iomap::IoendFlags::UNWRITTEN) {
            return Ok(());
        }
        Self::written(inode, ioend.offset(), ioend.size() as u64).inspect_err(|e| {
            pr_err!(
                "{}: inode {}: cannot convert written extents at {}+{}: {:?}\n",
                inode.super_block().id(),
                inode.ino(),
                ioend.offset(),
                ioend.size(),
                e
            );
        })
    }
}

#[vtable]
impl iomap::DioOperations for FileOps {
    fn end_io(end: &iomap::DioEnd<'_, RextFs>, error: Option<Error>) -> Result {
        let f = end.flags();
        if error.is_some()
            || !f.contains(iomap::DioEndFlags::WRITE)
            || !f.contains(iomap::DioEndFlags::UNWRITTEN)
            || end.size() == 0
        {
            return Ok(());
        }
        // Every bio of the write completed: the unwritten blocks it covered hold its data.
        Self::written(end.inode(), end.offset(), end.size() as u64)
    }
}

impl FileOps {
    /// Tries a direct write under the inode lock held shared, as XFS and ext4 run block-aligned
    /// direct writes that do not extend the file (`xfs_file_dio_write_aligned`,
    /// `ext4_dio_write_checks`, allocating behind their `ILOCK` and `i_data_sem`): writes of
    /// whole blocks inside the file, into written or unwritten blocks or into holes, run in
    /// parallel with each other and with direct reads. Returns `None` when the write must take
    /// the exclusive path of `write_iter` instead (having changed nothing but maybe the
    /// position of an append, which that path sets again):
    ///
    /// - it is not block-aligned: iomap zeroes the rest of the blocks of a sub-block write
    ///   into new or unwritten blocks, which must not race with another write to them;
    /// - it does not end inside the file (an append, an extending write): the size changes,
    ///   and the bytes between the old end and the write are zeroed first;
    /// - privileges may have to be removed (not `IS_NOSEC`), which needs the exclusive lock;
    /// - the page cache of the range could not be dropped (`ENOTBLK`): the exclusive path
    ///   falls back to buffered I/O;
    /// - a non-blocking write (`IOCB_NOWAIT`) would allocate (`EAGAIN`): the exclusive path
    ///   gets `EAGAIN` too and returns it, and the caller retries without `IOCB_NOWAIT`. Both
    ///   paths take the inode lock without trying it first (unlike ext4 and XFS), so such a
    ///   write may sleep on it.
    ///
    /// iomap submits only bios of whole blocks (`IOMAP_DIO_FSBLOCK_ALIGNED`), so nothing is
    /// zeroed, and the size does not change. Holes are filled by `begin` as on the exclusive
    /// path: under the inode's disk mutex (which serialises the allocations of two writes, as
    /// it does those of page faults, which hold no inode lock), with unwritten blocks that
    /// `end_io` converts once the write's data is on the device. Conversions (these,
    /// writeback's, other writes') take only the disk mutex, a step at a time, turn unwritten
    /// blocks into written ones and never move a block, so two writes converting the same
    /// blocks convert them once. Truncate, hole punching and the `fallocate` modes that remove
    /// or move blocks take the lock exclusively and wait for direct I/O (`inode_dio_wait`), so
    /// the blocks stay the file's until the write completed.
    ///
    /// Takes the kiocb and gives it back (`Err`) when the write must go the exclusive way;
    /// otherwise the write is done or queued.
    fn dio_write_shared<'a>(
        mut iocb: Kiocb<'a, ()>,
        inode: &INode<RextFs>,
        from: &mut IovIterSource<'_>,
    ) -> Result<core::result::Result<iomap::DioResult<'a>, Kiocb<'a, ()>>> {
        let bs = i64::from(inode.super_block().block_size());
        let aligned = |pos: i64, len: usize| (pos | len as i64) & (bs - 1) == 0;
        // Unlocked first look, to leave writes that cannot go this way alone.
        if !aligned(iocb.ki_pos(), from.len())
            || iocb.ki_pos().saturating_add(from.len() as i64) > inode.size()
        {
            return Ok(Err(iocb));
        }
        let lock = inode.lock_shared();
        if inode.flags() & iflags::IMMUTABLE != 0 {
            return Err(EPERM);
        }
        // The size is stable under the shared lock (only the exclusive path changes it).
        let n = file_ops::write_checks_shared(&lock, &mut iocb, from)?;
        if n == 0 {
            return Ok(Ok(iomap::DioResult::Done(0, iocb)));
        }
        let (pos, len) = (iocb.ki_pos(), from.len());
        if !aligned(pos, len) || pos.saturating_add(len as i64) > inode.size() {
            return Ok(Err(iocb));
        }
        if !file_ops::file_modified_shared(&lock, &mut iocb)? {
            return Ok(Err(iocb));
        }
        match iomap::dio_rw_write_shared::<FileOps>(&lock, iocb, from, iomap::DioFlags::empty()) {
            Err(e) if e.error == EAGAIN || e.error == ENOTBLK => Ok(Err(e.iocb)),
            // Queued: iomap completes the kiocb after `end_io`, and it is gone.
            r => Ok(Ok(r?)),
        }
    }
}

#[vtable]
impl file_ops::Operations for FileOps {
    type FileSystem = RextFs;

    // Everything changes through the VFS, which breaks leases as it should.
    const LEASES: bool = true;

    fn ioctl(file: &LocalFile, inode: &INode<RextFs>, cmd: u32, arg: usize) -> Result<i32> {
        crate::ioctl::ioctl(file, inode, cmd, arg)
    }

    fn release(inode: &INode<RextFs>, last_writer: bool) {
        if last_writer {
            // As ext4 discards its preallocations at the last writer's close: the blocks set
            // aside for the file's next appends go back to every allocation once nobody
            // writes it (they would otherwise stay aside until the inode leaves the cache).
            crate::alloc::drop_reservation(inode.super_block(), inode.ino());
        }
    }

    const VM_OPS: Option<VmOps> = Some(AddressSpace::<FileOps>::vm_ops());

    fn read_iter(
        mut iocb: Kiocb<'_, ()>,
        inode: &INode<RextFs>,
        to: &mut IovIterDest<'_>,
    ) -> Result<usize> {
        // After a shutdown not even cached data is read (as in ext4 and XFS).
        crate::check_live(inode.super_block())?;
        if file_ops::is_direct(&iocb) {
            let lock = inode.lock_shared();
            // Asynchronous reads are queued: they need no completion work (`end_io` does
            // nothing for reads), and whatever changes the blocks under them (truncate, hole
            // punch, zeroing) waits for them with `inode_dio_wait`.
            match iomap::dio_rw_read::<FileOps>(&lock, iocb, to, iomap::DioFlags::empty()) {
                Err(e) if e.error == ENOTBLK => iocb = e.iocb,
                r => return r?.into_result(),
            }
        }
        file_ops::generic_read_iter(&mut iocb, to)
    }

    fn llseek(file: SeekFile<'_>, inode: &INode<RextFs>, offset: i64, whence: i32) -> Result<i64> {
        let pos = match whence {
            file_ops::SEEK_DATA => iomap::seek_data::<FileOps>(&inode.lock_shared(), offset)?,
            file_ops::SEEK_HOLE => iomap::seek_hole::<FileOps>(&inode.lock_shared(), offset)?,
            _ => return file.generic_llseek(offset, whence),
        };
        file.set_pos(pos, inode.super_block().max_bytes())
    }

    fn fallocate(
        file: &LocalFile,
        inode: &INode<RextFs>,
        mode: i32,
        offset: i64,
        len: i64,
    ) -> Result {
        crate::check_live(inode.super_block())?;
        let keep = mode & file_ops::FALLOC_FL_KEEP_SIZE != 0;
        match mode & !file_ops::FALLOC_FL_KEEP_SIZE {
            0 => Self::preallocate(file, inode, keep, offset, len),
            // The VFS refuses a hole punch without KEEP_SIZE.
            FALLOC_FL_PUNCH_HOLE if keep => {
                Self::punch_or_zero(file, inode, false, true, offset, len)
            }
            FALLOC_FL_ZERO_RANGE => Self::punch_or_zero(file, inode, true, keep, offset, len),
            // The VFS allows no other flag with these two.
            FALLOC_FL_COLLAPSE_RANGE if !keep => Self::shift_range(file, inode, false, offset, len),
            FALLOC_FL_INSERT_RANGE if !keep => Self::shift_range(file, inode, true, offset, len),
            // Unsharing and writing zeroes are not supported.
            _ => Err(EOPNOTSUPP),
        }
    }

    fn write_iter(
        mut iocb: Kiocb<'_, ()>,
        inode: &INode<RextFs>,
        from: &mut IovIterSource<'_>,
    ) -> Result<usize> {
        crate::check_live(inode.super_block())?;
        if file_ops::is_direct(&iocb) {
            match Self::dio_write_shared(iocb, inode, from)? {
                // iomap's completion ran `generic_write_sync` for an `O_DSYNC` write (none
                // when every bio went out with FUA and the metadata was committed); the size
                // did not change.
                Ok(iomap::DioResult::Done(n, _)) => return Ok(n),
                // iomap completes the kiocb after `end_io`.
                Ok(iomap::DioResult::Queued) => return Err(EIOCBQUEUED),
                Err(k) => iocb = k,
            }
        }
        let written = {
            let lock = inode.lock();
            // The file may have become immutable after it was opened for writing.
            if inode.flags() & iflags::IMMUTABLE != 0 {
                return Err(EPERM);
            }
            if file_ops::write_checks(&lock, &mut iocb, from)? == 0 {
                return Ok(0);
            }
            file_ops::file_modified(&lock, &mut iocb)?;
            // Bytes between the old end of the file and the write, in the old last block
            // (stored through a shared mapping past the end, or left on the device by a
            // truncate), become file data: zero them first, as XFS does
            // (`xfs_file_write_zero_eof`), and write them back before the write, so that the
            // new size cannot reach the device before the zeroes do.
            let old = inode.size();
            if iocb.ki_pos() > old {
                let ilock = lock.invalidate_lock();
                Self::zero_partial(&lock, &ilock, old, iocb.ki_pos())?;
                drop(ilock);
                lock.write_and_wait_range(old, iocb.ki_pos() - 1)?;
            }
            let mut done = None;
            if file_ops::is_direct(&iocb) {
                // An asynchronous write of whole blocks inside the file is queued: `end_io`
                // converts its unwritten blocks from the completion workqueue. Any other
                // write is waited for, after the direct I/O in flight: a sub-block write
                // zeroes the rest of its blocks, which must not race with another write to
                // them, and a write past the end sets the size only once its data is on disk.
                let bs = i64::from(inode.super_block().block_size());
                let pos = iocb.ki_pos();
                let end = pos.saturating_add(from.len() as i64);
                let dflags = if (pos | end) & (bs - 1) == 0 && end <= inode.size() {
                    iomap::DioFlags::empty()
                } else {
                    inode.dio_wait();
                    iomap::DioFlags::FORCE_WAIT
                };
                match iomap::dio_rw_write::<FileOps>(&lock, iocb, from, dflags) {
                    Err(e) if e.error == ENOTBLK => iocb = e.iocb,
                    Err(e) => return Err(e.error),
                    // iomap completes the kiocb after `end_io`.
                    Ok(iomap::DioResult::Queued) => return Err(EIOCBQUEUED),
                    Ok(iomap::DioResult::Done(n, k)) => {
                        iocb = k;
                        // The write was waited for (`end_io` converted its blocks); iomap
                        // advanced the position: extend the file if it wrote past it. iomap's
                        // completion synced an `O_DSYNC` write already, but before the new
                        // size: that needs the sync below; a write inside the file does not.
                        if iocb.ki_pos() > inode.size() {
                            lock.set_size(iocb.ki_pos());
                            inode.mark_dirty();
                        } else {
                            return Ok(n);
                        }
                        done = Some(n);
                    }
                }
            }
            match done {
                Some(n) => n,
                None => {
                    let old_size = inode.size();
                    let n = iomap::buffered_write::<FileOps>(&lock, &mut iocb, from)?;
                    // iomap updated i_size but does not dirty the inode for it: do it, so
                    // that fsync and writeback write the new size.
                    if inode.size() != old_size {
                        inode.mark_dirty();
                    }
                    n
                }
            }
        };
        file_ops::write_sync(&mut iocb, written)
    }

    fn fsync(
        file: &LocalFile,
        inode: &INode<RextFs>,
        start: i64,
        end: i64,
        _datasync: bool,
    ) -> Result {
        file_ops::write_and_wait_range(file, start, end)?;
        inode.sync_metadata()?;
        // The inode's changes, and the conversions of the data just written, are in committed
        // or running transactions: commit up to the last one that changed the inode; when it
        // has committed, only flush the data written in place.
        let seq = inode.data().sync_seq.load(Ordering::Relaxed);
        crate::journal::force_seq(inode.super_block(), seq)
    }
}

#[vtable]
impl inode::Operations for FileOps {
    type FileSystem = RextFs;

    fn fiemap(inode: &INode<RextFs>, info: &mut FiemapInfo, start: u64, len: u64) -> Result {
        if info.flags() & FiemapInfo::FLAG_XATTR != 0 {
            return crate::xattr::fiemap(inode, info, start, len);
        }
        iomap::fiemap::<FileOps>(&inode.lock_shared(), info, start, len)
    }

    fn fileattr_get(inode: &INode<RextFs>, fa: &mut FileAttr) -> Result {
        crate::inode::fileattr_get(inode, fa)
    }

    fn fileattr_set(inode: &Locked<'_, RextFs>, fa: &FileAttr) -> Result {
        crate::inode::fileattr_set(inode, fa)
    }

    fn getattr(inode: &INode<RextFs>, stat: &mut Kstat, request_mask: u32, _flags: u32) -> Result {
        crate::inode::statx_attributes(inode, stat);
        if request_mask & inode::STATX_DIOALIGN != 0 {
            // iomap takes direct I/O aligned to the device's logical block size, in buffers
            // aligned for its DMA, anywhere in the file: reads of holes and unwritten blocks
            // give zeroes; writes smaller than a block zero the rest of the block where it
            // was not written yet, under the exclusive inode lock (see `write_iter`).
            let bdev = inode.super_block().block_device();
            stat.set_dio_align(bdev.dma_alignment(), bdev.logical_block_size())?;
        }
        Ok(())
    }

    fn setattr(inode: &Locked<'_, RextFs>, attr: &Attr) -> Result {
        // The VFS refuses most changes to an immutable file, but not a truncate through a
        // descriptor opened for writing before the file became immutable.
        if inode.flags() & iflags::IMMUTABLE != 0 {
            return Err(EPERM);
        }
        if let Some(size) = attr.size() {
            // Even to the same size: truncate drops the blocks preallocated past the end
            // (`FALLOC_FL_KEEP_SIZE`), as xfs and ext4 do.
            Self::set_size(inode, size)?;
        }
        Ok(())
    }
}
