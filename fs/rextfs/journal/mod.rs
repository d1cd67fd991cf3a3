// SPDX-License-Identifier: GPL-2.0

//! The metadata journal (in the spirit of jbd2): every metadata change happens inside a
//! transaction [`Handle`].
//!
//! A handle is started with [`start`] before the change and stopped (dropped) after it; every
//! handle joins the running compound transaction. A block a handle changes is changed in its
//! buffer (in [`kernel::fs::buffer`]), which is pinned in memory; the transaction is committed
//! as a whole ([`commit`]): its blocks are copied into the log (the journal region, format in
//! `format::journal`), followed by a commit block written with `PREFLUSH | FUA`. Only a
//! checkpoint ([`checkpoint`]) writes the blocks home, after which the log is empty again.
//! After a crash, mount replays the committed transactions ([`recovery`]): either all the
//! changes of a handle are on disk or none of them is.
//!
//! Blocks freed by a transaction are *busy* until it has committed: the allocator does not
//! hand them out ([`busy_until`]), so that nothing is written into a block that a crash could
//! still give back to its old owner. A freed block that the log holds a copy of is *revoked*
//! (a record in the transaction), so that replay never writes the old copy over the block's
//! next contents.
//!
//! Rules for the callers (they are the rules of jbd2):
//! - A task holds at most one handle: a function called with a handle gets it as a parameter
//!   and never starts another one (starting may wait for a commit, which waits for every open
//!   handle).
//! - A handle is started after the VFS locks (`i_rwsem`, `invalidate_lock`) and before every
//!   lock of rextfs (the super block state lock, buffer locks); it is never held while
//!   waiting for page cache I/O (writeback, `truncate_pagecache`): writeback completion needs
//!   a handle of its own. While a handle is open the task allocates as `GFP_NOFS`.
//! - `credits` is the largest number of distinct metadata blocks the handle may change.
//!   Long operations (truncating or punching many extents) use [`Handle::extend`] between
//!   steps that leave the file system consistent.

mod commit;
pub(crate) mod recovery;
#[cfg(CONFIG_REXTFS_KUNIT_TEST)]
mod tests;

pub(crate) use commit::{checkpoint, commit, force, force_seq, is_committed};

use crate::{format, meta, RextFs};
use core::cell::Cell;
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::fs::{buffer::BufGuard, memalloc::NofsScope, SuperBlock};
use kernel::prelude::*;
use kernel::rbtree::{RBTree, RBTreeNode};
use kernel::sync::{CondVar, Mutex};

/// Mutable state of the journal, behind [`Journal::state`].
struct JState {
    /// Sequence number of the running transaction.
    seq: u64,
    /// Number of open handles (all of them in the running transaction).
    handles: u32,
    /// The tasks that hold them (task addresses, only compared): a task that starts a
    /// handle while it holds one joins without waiting for the barrier (which would wait for
    /// it), as jbd2 lets nested handles do.
    owners: KVec<usize>,
    /// Credits the open handles may still use.
    reserved: u32,
    /// A commit waits for the open handles: no handle may start.
    barrier: bool,
    /// Blocks the running transaction changed, each with whether the commit seals it
    /// (recomputes the checksum of its metadata header): it was changed in place by
    /// [`Handle::modify_block`], which leaves the checksum to the commit.
    blocks: RBTree<u64, bool>,
    /// Number of entries of `blocks`.
    nblocks: u32,
    /// The running transaction changed the in-memory super block alone (no block).
    super_changed: bool,
    /// Blocks the running transaction revoked (and did not log again since).
    revokes: RBTree<u64, ()>,
    /// Number of entries of `revokes`.
    nrevokes: u32,
    /// Freed extents not reusable yet: start to (end, sequence of the freeing transaction).
    busy: RBTree<u64, (u64, u64)>,
    /// How many times a commit made busy extents reusable ([`busy_mark`]).
    busy_releases: u64,
    /// Log index where the next transaction goes.
    head: u64,
    /// Log blocks in use (from the tail to `head`).
    used: u64,
    /// The journal super block on disk says the log is empty (`tail == 0`).
    empty_on_disk: bool,
    /// Sequence number of the last committed transaction.
    committed: u64,
    /// Blocks committed to the log and not written home yet.
    logged: RBTree<u64, ()>,
    /// The journal failed (I/O error) or the file system was shut down: nothing is written
    /// any more.
    aborted: bool,
}

/// The journal of a mounted file system.
#[pin_data]
pub(crate) struct Journal {
    /// First block of the journal region (its super block).
    start: u64,
    /// Size of the region in blocks.
    blocks: u64,
    /// Block size in bytes.
    block_size: usize,
    /// log2 of the block size.
    block_log2: u32,
    /// File system UUID (in the journal super block).
    uuid: [u8; 16],
    /// Seed of the log checksums.
    seed: u32,
    /// Largest number of blocks of one transaction.
    max_trans: u32,
    /// A copy of [`JState::seq`], stored under the state lock whenever it changes, for
    /// [`running_seq`] (every `iget`), which needs no other field of the state.
    running: AtomicU64,
    #[pin]
    state: Mutex<JState>,
    /// Signalled when the barrier is lifted, the last handle stops, or a commit ends.
    #[pin]
    wait: CondVar,
    /// Held by the task that commits or checkpoints.
    #[pin]
    commit_lock: Mutex<()>,
}

impl Journal {
    /// The journal of a file system with geometry `geo`, whose log is empty and whose next
    /// transaction gets sequence number `sequence` (as [`recovery::recover`] left it).
    pub(crate) fn new(geo: &format::Superblock, sequence: u64) -> impl PinInit<Self, Error> {
        let blocks = geo.layout.journal_blocks;
        // A transaction takes at most a quarter of the log; a checkpoint starts when half of
        // the log is used, so the running transaction always fits, descriptors included. The
        // geometry was checked: the journal has `MIN_JOURNAL_BLOCKS` at least, so the
        // largest step (`credits::MAX_STEP`) fits one transaction.
        let max_trans = (blocks / 4).clamp(8, u64::from(u32::MAX)) as u32;
        let (start, block_size, block_log2, uuid) = (
            geo.layout.journal_start,
            geo.block_size(),
            geo.block_log2,
            geo.uuid,
        );
        let seed = format::log_seed(&uuid);
        try_pin_init!(Journal {
            start,
            blocks,
            block_size,
            block_log2,
            uuid,
            seed,
            max_trans,
            running: AtomicU64::new(sequence),
            state <- kernel::new_mutex!(JState {
                seq: sequence,
                handles: 0,
                owners: KVec::new(),
                reserved: 0,
                barrier: false,
                blocks: RBTree::new(),
                nblocks: 0,
                super_changed: false,
                revokes: RBTree::new(),
                nrevokes: 0,
                busy: RBTree::new(),
                busy_releases: 0,
                head: 1,
                used: 0,
                empty_on_disk: true,
                committed: sequence.wrapping_sub(1),
                logged: RBTree::new(),
                aborted: false,
            }),
            wait <- kernel::new_condvar!(),
            commit_lock <- kernel::new_mutex!(()),
        }? Error)
    }

    /// Log blocks the next transaction may need: a transaction is cut at `max_trans` blocks
    /// (changed blocks and revoke blocks, [`Journal::log_size`]) by [`start`] and refused past
    /// twice that (a handle that used more than its credits), plus its descriptors, the commit
    /// block and one block of slack. A checkpoint follows any commit
    /// that leaves less room than this.
    fn room_needed(&self) -> u64 {
        let most = 2 * u64::from(self.max_trans);
        let cap = core::num::NonZeroU64::new(format::log_capacity(self.block_size) as u64)
            .unwrap_or(core::num::NonZeroU64::MIN);
        most + (most + cap.get() - 1) / cap + 2
    }

    /// Log blocks the revoke records of `revokes` blocks take.
    fn revoke_blocks(&self, revokes: u64) -> u64 {
        let cap = core::num::NonZeroU64::new(format::log_capacity(self.block_size) as u64)
            .unwrap_or(core::num::NonZeroU64::MIN);
        revokes.div_ceil(cap.get())
    }

    /// Blocks of the log the running transaction takes so far, not counting its descriptors
    /// and commit block: its changed blocks and its revoke blocks. Revoke records are
    /// charged to the handles like changed blocks: every revoked block is a freed metadata
    /// block, and the credits of a step count a bitmap change for each block it frees.
    fn log_size(&self, st: &JState) -> u64 {
        u64::from(st.nblocks) + self.revoke_blocks(u64::from(st.nrevokes))
    }

    /// Stops every later transaction: handles fail with `EIO` from now on, and nothing more
    /// is committed (a shutdown, or a journal write that failed).
    pub(crate) fn abort(&self) {
        let mut st = self.state.lock();
        st.aborted = true;
        drop(st);
        self.wait.notify_all();
    }

    /// Waits until a commit or checkpoint that is writing has finished (after [`abort`]
    /// nothing starts writing again, so nothing is written once this returns).
    ///
    /// [`abort`]: Journal::abort
    pub(crate) fn wait_idle(&self) {
        drop(self.commit_lock.lock());
    }
}

/// What [`Handle::modify_range`] starts from when the block is not cached.
pub(crate) enum Uncached {
    /// The block as read from the device.
    Read,
    /// Zeroes, without reading: the caller knows the block holds zeroes on disk.
    Zeroes,
}

/// An open transaction handle: the right to change metadata blocks (at most `credits` of
/// them) as part of the running transaction.
pub(crate) struct Handle<'a> {
    sb: &'a SuperBlock<RextFs>,
    /// Credits not used yet.
    credits: Cell<u32>,
    /// Credits the handle asked for (at start or the last [`Handle::extend`]).
    want: u32,
    /// The handle is part of the running transaction (not after a failed restart).
    joined: bool,
    /// Sequence number of the transaction the handle is part of.
    seq: u64,
    /// Tree nodes allocated in the handle may come from the block reserve (see
    /// [`Handle::use_reserve`]).
    reserve: Cell<bool>,
    /// Allocations of the task do not recurse into the file system while the handle is open.
    _nofs: NofsScope,
}

/// Starts a handle that may change up to `credits` metadata blocks. Fails with `EIO` after a
/// shutdown or a journal error. May wait for a commit.
pub(crate) fn start(sb: &SuperBlock<RextFs>, credits: u32) -> Result<Handle<'_>> {
    let nofs = NofsScope::new();
    let seq = join(sb, credits)?;
    Ok(Handle {
        sb,
        credits: Cell::new(credits),
        want: credits,
        joined: true,
        seq,
        reserve: Cell::new(false),
        _nofs: nofs,
    })
}

/// Joins the running transaction with `credits`, committing it first when it has no room.
/// Returns its sequence number.
fn join(sb: &SuperBlock<RextFs>, credits: u32) -> Result<u64> {
    let j = &sb.data().journal;
    let credits = credits.min(j.max_trans);
    let me = kernel::task::Task::current_raw() as usize;
    loop {
        let mut st = j.state.lock();
        if st.aborted {
            return Err(EIO);
        }
        let nested = st.owners.contains(&me);
        if st.barrier && !nested {
            j.wait.wait(&mut st);
            continue;
        }
        let want = j.log_size(&st) + u64::from(st.reserved) + u64::from(credits);
        if want > u64::from(j.max_trans) && (st.nblocks > 0 || st.handles > 0) && !nested {
            drop(st);
            commit(sb)?;
            continue;
        }
        st.owners.push(me, GFP_NOFS_ALLOC)?;
        st.handles += 1;
        st.reserved += credits;
        return Ok(st.seq);
    }
}

/// Tells whether the current task holds a transaction handle of `sb` (then it already has
/// freeze protection, and must not wait for more).
pub(crate) fn current_holds_handle(sb: &SuperBlock<RextFs>) -> bool {
    let me = kernel::task::Task::current_raw() as usize;
    sb.data().journal.state.lock().owners.contains(&me)
}

/// Leaves the running transaction with `unused` credits left.
fn leave(j: &Journal, unused: u32) {
    let me = kernel::task::Task::current_raw() as usize;
    let mut st = j.state.lock();
    st.handles -= 1;
    if let Some(i) = st.owners.iter().position(|&t| t == me) {
        let _ = st.owners.remove(i);
    }
    st.reserved = st.reserved.saturating_sub(unused);
    let wake = st.handles == 0 && st.barrier;
    drop(st);
    if wake {
        j.wait.notify_all();
    }
}

impl<'a> Handle<'a> {
    /// The super block the handle changes.
    pub(crate) fn sb(&self) -> &'a SuperBlock<RextFs> {
        self.sb
    }

    /// Sequence number of the transaction the handle's changes go to now (a restart moves
    /// them to a later one).
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    /// Lets the tree nodes that the handle allocates come from the block reserve
    /// ([`crate::alloc::alloc_tree_block`]): for the operations that must not fail for want
    /// of space that file data took (an unwritten conversion after the data reached the disk,
    /// truncation, punching, collapsing or inserting a range, freeing an inode).
    pub(crate) fn use_reserve(&self) {
        self.reserve.set(true);
    }

    /// Whether [`Handle::use_reserve`] was called.
    pub(crate) fn may_use_reserve(&self) -> bool {
        self.reserve.get()
    }

    /// The handle changed the in-memory super block (`SbState::disk`) without changing a
    /// block: the commit logs the super block anyway.
    pub(crate) fn super_changed(&self) {
        self.sb.data().journal.state.lock().super_changed = true;
    }

    /// Makes sure the handle may change `credits` more blocks: if the running transaction has
    /// no room for them, the handle's changes so far are committed (the caller must have left
    /// the file system consistent) and the handle goes on in a new transaction.
    pub(crate) fn extend(&mut self, credits: u32) -> Result {
        let j = &self.sb.data().journal;
        let credits = credits.min(j.max_trans);
        let have = self.credits.get();
        if have >= credits {
            return Ok(());
        }
        {
            let mut st = j.state.lock();
            let want = j.log_size(&st) + u64::from(st.reserved) + u64::from(credits - have);
            if want <= u64::from(j.max_trans) && !st.aborted {
                st.reserved += credits - have;
                self.credits.set(credits);
                self.want = self.want.max(credits);
                return Ok(());
            }
        }
        self.want = credits;
        self.restart()
    }

    /// Commits the running transaction, with the handle's changes so far (the caller must
    /// have left the file system consistent), and goes on in the next transaction with the
    /// credits asked for. Afterwards the blocks freed before are free for file data too.
    pub(crate) fn restart(&mut self) -> Result {
        let j = &self.sb.data().journal;
        if self.joined {
            leave(j, self.credits.get());
            self.joined = false;
        }
        self.credits.set(0);
        commit(self.sb)?;
        self.seq = join(self.sb, self.want)?;
        self.joined = true;
        self.credits.set(self.want);
        Ok(())
    }

    /// Checks that `blockno` may be changed through the journal: a block of the file system
    /// outside the journal region.
    fn check_target(&self, blockno: u64) -> Result {
        if !self.joined {
            // A restart failed: the handle is no part of any transaction.
            return Err(EIO);
        }
        let geo = &self.sb.data().geo;
        if blockno >= geo.total_blocks || geo.in_journal(blockno) {
            pr_err!(
                "{}: metadata write to block {} outside the metadata\n",
                self.sb.id(),
                blockno
            );
            return Err(EFSCORRUPTED);
        }
        Ok(())
    }

    /// Adds `blockno`, just changed in its (pinned) buffer, to the running transaction, with
    /// `node` allocated before the change (nothing here may fail and leave a changed buffer
    /// outside the transaction, but the journal being aborted). The node's value says whether
    /// the commit must seal the block.
    fn dirty(&self, blockno: u64, node: RBTreeNode<u64, bool>, seal: bool) -> Result {
        let j = &self.sb.data().journal;
        let mut st = j.state.lock();
        if let Some(s) = st.blocks.get_mut(&blockno) {
            *s |= seal;
            return Ok(());
        }
        st.blocks.insert(node);
        st.nblocks += 1;
        let c = self.credits.get();
        if c > 0 {
            self.credits.set(c - 1);
            st.reserved = st.reserved.saturating_sub(1);
        } else if self.overrun(j, &st) {
            drop(st);
            j.abort();
            return Err(EIO);
        }
        Ok(())
    }

    /// Whether the running transaction, grown by a handle out of credits, is so far past
    /// every reservation that the log may not have room for it (logged; the caller aborts).
    fn overrun(&self, j: &Journal, st: &JState) -> bool {
        if j.log_size(st) <= 2 * u64::from(j.max_trans) {
            return false;
        }
        pr_err!(
            "{}: transaction too large for the journal (handle out of credits)\n",
            self.sb.id()
        );
        true
    }

    /// A change the handle has begun (some of its blocks written) cannot be finished with
    /// error `e`: the transaction would commit half of it, so the journal stops here (as XFS
    /// shuts down when it cancels a dirty transaction) and the error is recorded. What was
    /// committed before stays; the next mount replays it. Returns `e`.
    pub(crate) fn abort_changed(&self, e: Error) -> Error {
        let sb = self.sb;
        pr_crit!(
            "{}: a metadata change failed half way ({:?}): journal aborted\n",
            sb.id(),
            e
        );
        sb.data().journal.abort();
        crate::fs_error(sb);
        e
    }

    /// Writes a whole metadata block (`buf` must be one block long, `EINVAL` otherwise) as
    /// part of the transaction; its old contents are not read.
    pub(crate) fn write_block(&self, blockno: u64, buf: &[u8]) -> Result {
        self.write_whole(blockno, buf, None)
    }

    /// Writes a whole metadata block of `kind` with a metadata header, as
    /// [`Handle::write_block`] does, but with its checksum left to the commit (as
    /// [`Handle::modify_block`] leaves it): the cached block counts as checked as a `kind`.
    pub(crate) fn write_block_unsealed(
        &self,
        blockno: u64,
        buf: &[u8],
        kind: meta::BlockKind,
    ) -> Result {
        self.write_whole(blockno, buf, Some(kind))
    }

    /// [`Handle::write_block`], or with `unsealed` [`Handle::write_block_unsealed`].
    fn write_whole(&self, blockno: u64, buf: &[u8], unsealed: Option<meta::BlockKind>) -> Result {
        self.check_target(blockno)?;
        let sb = self.sb;
        let info = sb.data();
        let node = RBTreeNode::new(blockno, unsealed.is_some(), GFP_NOFS_ALLOC)?;
        let b = info.bufs.get_new(sb, blockno)?;
        let mut g = b.lock()?;
        if buf.len() != g.len() {
            return Err(EINVAL);
        }
        g.copy_from_slice(buf);
        if let Some(kind) = unsealed {
            g.set_verified(kind as u32);
        }
        g.set_pinned(true);
        drop(g);
        self.dirty(blockno, node, unsealed.is_some())
    }

    /// Read-modify-write of bytes `range` of metadata block `blockno` (a slot of an inode
    /// table block) under its buffer lock, as part of the transaction: `f` changes them in
    /// place. If `f` fails, they are left as they were (only they are saved for that, not the
    /// whole block). `EFSCORRUPTED` if the range lies outside the block. The buffer cache
    /// must not be used from `f` (the buffer locks do not nest).
    ///
    /// With `uncached` [`Uncached::Zeroes`] a block that is not cached is not read: the caller
    /// knows that it holds zeroes on disk (an inode table block whose slots are all free).
    pub(crate) fn modify_range(
        &self,
        blockno: u64,
        range: core::ops::Range<usize>,
        uncached: Uncached,
        f: impl FnOnce(&mut [u8]) -> Result,
    ) -> Result {
        self.check_target(blockno)?;
        let sb = self.sb;
        let info = sb.data();
        let node = RBTreeNode::new(blockno, false, GFP_NOFS_ALLOC)?;
        let mut old = KVec::with_capacity(range.len(), GFP_NOFS_ALLOC)?;
        let change = |mut g: BufGuard<'_>| -> Result {
            let part = g.get_mut(range).ok_or(EFSCORRUPTED)?;
            old.extend_from_slice(part, GFP_NOFS_ALLOC)?;
            if let Err(e) = f(part) {
                part.copy_from_slice(&old);
                return Err(e);
            }
            g.set_pinned(true);
            Ok(())
        };
        match uncached {
            Uncached::Read => info
                .bufs
                .with_block(sb, blockno, None, |_| Ok(()), change)??,
            // Cached contents win (they may hold slots set up meanwhile); otherwise the
            // buffer starts zeroed, as the block is on disk.
            Uncached::Zeroes => change(info.bufs.get_new(sb, blockno)?.lock()?)?,
        }
        self.dirty(blockno, node, false)
    }

    /// Changes metadata block `blockno` in place, under its buffer lock, as part of the
    /// transaction, without copying it: the block is read and checked as
    /// [`meta::with_block_checked`] does (`check`, once per `kind`), then `f` changes it and
    /// returns its result with whether it changed the block (a block left alone does not join
    /// the transaction). `f` leaves the checksum of the block's metadata header alone: the
    /// commit recomputes it ([`format::meta_seal`]), once for all the changes the transaction
    /// made to the block. When `f` fails it must leave the block as it found it; corruption
    /// it reports is logged as corruption of a `what`. `f` must not use the buffer cache (the
    /// buffer locks do not nest) nor take a lock that comes before the buffer locks.
    ///
    /// For blocks with a metadata header ([`format::meta_init`]) only.
    pub(crate) fn modify_block<R>(
        &self,
        blockno: u64,
        kind: meta::BlockKind,
        what: &str,
        check: impl FnOnce(&[u8]) -> core::result::Result<(), format::FormatError>,
        f: impl FnOnce(&mut [u8]) -> core::result::Result<(R, bool), meta::BlockFail>,
    ) -> Result<R> {
        self.check_target(blockno)?;
        let sb = self.sb;
        let node = RBTreeNode::new(blockno, true, GFP_NOFS_ALLOC)?;
        let r = meta::with_guard_checked(sb, blockno, kind, what, check, |mut g| {
            let r = f(&mut g);
            if let Ok((_, true)) = r {
                g.set_pinned(true);
            }
            r
        })?;
        let (r, changed) = r.map_err(|e| e.logged(|e| crate::corrupt(sb, what, e)))?;
        if changed {
            self.dirty(blockno, node, true)?;
        }
        Ok(r)
    }

    /// Blocks `start..start + count` are being freed in this transaction: whatever metadata
    /// they held is dropped from the cache and from the transaction, the copies the log holds
    /// are revoked, and the blocks stay busy (not allocated again) until the transaction has
    /// committed.
    pub(crate) fn forget_blocks(&self, start: u64, count: u64) -> Result {
        let Some(end) = start.checked_add(count) else {
            return Err(EINVAL);
        };
        if count == 0 {
            return Ok(());
        }
        let sb = self.sb;
        let j = &sb.data().journal;
        let busy = RBTreeNode::new(start, (end, self.seq), GFP_NOFS_ALLOC)?;
        let r = self.forget_known(start, end, busy);
        if r.is_err() {
            // A pinned buffer may be gone, or a revoke record missing: nothing more may be
            // committed.
            j.abort();
        }
        r
    }

    /// The part of [`Handle::forget_blocks`] after which a failure aborts the journal.
    fn forget_known(&self, start: u64, end: u64, busy: RBTreeNode<u64, (u64, u64)>) -> Result {
        let sb = self.sb;
        let j = &sb.data().journal;
        sb.data().bufs.forget(start, end - start);
        let mut st = j.state.lock();
        // Blocks of this range the journal knows: changed in the running transaction, or
        // with a copy in the log.
        let mut known = KVec::new();
        keys_in(&st.blocks, start, end, &mut known)?;
        keys_in(&st.logged, start, end, &mut known)?;
        let revoke_blocks = j.revoke_blocks(u64::from(st.nrevokes));
        for &b in known.iter() {
            if st.blocks.remove(&b).is_some() {
                st.nblocks -= 1;
            }
            if st.logged.remove(&b).is_some()
                && st
                    .revokes
                    .insert(RBTreeNode::new(b, (), GFP_NOFS_ALLOC)?)
                    .is_none()
            {
                st.nrevokes += 1;
            }
        }
        // A new revoke block takes a credit, as a newly changed block does.
        let grown = j.revoke_blocks(u64::from(st.nrevokes)) - revoke_blocks;
        let take = self
            .credits
            .get()
            .min(u32::try_from(grown).unwrap_or(u32::MAX));
        self.credits.set(self.credits.get() - take);
        st.reserved = st.reserved.saturating_sub(take);
        if u64::from(take) < grown && self.overrun(j, &st) {
            // The caller aborts the journal.
            return Err(EIO);
        }
        st.busy.insert(busy);
        Ok(())
    }
}

/// Appends the keys of `tree` in `start..end` to `out`.
fn keys_in<V>(tree: &RBTree<u64, V>, start: u64, end: u64, out: &mut KVec<u64>) -> Result {
    let mut k = start;
    while let Some(c) = tree.cursor_lower_bound(&k) {
        let b = *c.current().0;
        if b >= end {
            break;
        }
        out.push(b, GFP_NOFS_ALLOC)?;
        k = b + 1;
    }
    Ok(())
}

impl Drop for Handle<'_> {
    fn drop(&mut self) {
        if self.joined {
            leave(&self.sb.data().journal, self.credits.get());
        }
    }
}

/// Sequence number of the running transaction (the one a handle started now would join).
///
/// Read without the state lock. A caller that saw a change made by a handle of transaction
/// `t` (through the lock of a buffer the handle changed, say) gets `t` or a later sequence:
/// the handle read `t` under the state lock after it was stored here.
pub(crate) fn running_seq(sb: &SuperBlock<RextFs>) -> u64 {
    sb.data().journal.running.load(Ordering::Acquire)
}

/// Log blocks the revoke records of `revokes` freed metadata blocks may take (for the
/// credits of a step that frees that many).
pub(crate) fn revoke_blocks(sb: &SuperBlock<RextFs>, revokes: usize) -> usize {
    let j = &sb.data().journal;
    usize::try_from(j.revoke_blocks(revokes as u64)).unwrap_or(usize::MAX)
}

/// The first extent (start, end) freed by a transaction that has not committed yet that
/// overlaps blocks `start..start + len`: the allocator must not use those blocks yet.
pub(crate) fn busy_overlap(sb: &SuperBlock<RextFs>, start: u64, len: u64) -> Option<(u64, u64)> {
    let end = start.saturating_add(len);
    let info = sb.data();
    let st = info.journal.state.lock();
    // Busy extents never overlap each other: only the one starting last before `start` and
    // the first one starting at or after it can be the first to overlap.
    let (before, after) = match st.busy.cursor_lower_bound(&start) {
        Some(c) => (
            c.peek_prev().map(|(&s, &(e, _))| (s, e)),
            Some({
                let (&s, &(e, _)) = c.current();
                (s, e)
            }),
        ),
        None => (
            st.busy.cursor_back().map(|c| {
                let (&s, &(e, _)) = c.current();
                (s, e)
            }),
            None,
        ),
    };
    if let Some((s, e)) = before {
        if e > start {
            return Some((s, e));
        }
    }
    after.filter(|&(s, _)| s < end)
}

/// A mark of the busy extents, taken before an allocation: if it finds no space,
/// [`busy_may_help`] tells whether committing and trying again may find some.
pub(crate) fn busy_mark(sb: &SuperBlock<RextFs>) -> u64 {
    sb.data().journal.state.lock().busy_releases
}

/// Whether an allocation that found no space after [`busy_mark`] gave `mark` may find some
/// once the running transaction committed: extents freed by transactions that have not
/// committed yet exist, or a commit made some reusable since the mark (its blocks were busy
/// when the allocation looked, and are free now, although nothing is busy any more).
pub(crate) fn busy_may_help(sb: &SuperBlock<RextFs>, mark: u64) -> bool {
    let info = sb.data();
    let st = info.journal.state.lock();
    !st.busy.is_empty() || st.busy_releases != mark
}

/// Allocation flags of the journal: the task is in a NOFS scope whenever this is used (a
/// handle is open, or the journal commits), so `GFP_KERNEL` does not recurse into the file
/// system.
const GFP_NOFS_ALLOC: kernel::alloc::Flags = GFP_KERNEL;
