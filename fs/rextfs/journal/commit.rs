// SPDX-License-Identifier: GPL-2.0

//! Commit (the running transaction into the log) and checkpoint (logged blocks home, then
//! the log is emptied).
//!
//! A commit raises the barrier (no handle may start), waits for the open handles to stop,
//! logs the super block (the in-memory one is consistent while no handle is open), copies
//! every block the transaction changed, lifts the barrier and then writes the copies to the
//! log: descriptor blocks with their copies, revoke blocks, and a commit block written with
//! `PREFLUSH | FUA`, so that the transaction, and every data write that completed before it,
//! is durable when the commit block is.
//!
//! A checkpoint happens when half of the log is used, and at sync of a freeze, unmount or
//! remount read-only. It keeps the barrier raised throughout: after committing the running
//! transaction every pinned buffer holds exactly what the log holds, and that is written home,
//! flushed, and then the journal super block says the log is empty.

use super::{JState, Journal};
use crate::{format, RextFs};
use core::sync::atomic::Ordering;
use kernel::fs::bdev::{IoBuf, WriteFlags};
use kernel::fs::{memalloc::NofsScope, SuperBlock};
use kernel::prelude::*;
use kernel::rbtree::RBTreeNode;
use kernel::sync::MutexGuard;

/// A transaction taken from the running state, ready to be written to the log.
struct Snapshot {
    seq: u64,
    /// Home block numbers and copies of the changed blocks.
    copies: KVec<(u64, IoBuf)>,
    revokes: KVec<u64>,
}

/// Commits the running transaction (if it changed anything) and waits until it is durable;
/// checkpoints afterwards if half of the log is in use. Returns whether a commit block was
/// written (which flushed the device's cache before it).
pub(crate) fn commit(sb: &SuperBlock<RextFs>) -> Result<bool> {
    let j = &sb.data().journal;
    let _nofs = NofsScope::new();
    let _c = j.commit_lock.lock();
    quiesce(j)?;
    // A failed snapshot has taken the transaction out of the running state: nothing may be
    // committed after it.
    let snap = snapshot(sb).inspect_err(|_| j.abort());
    unquiesce(j);
    let committed = match snap? {
        Some(snap) => {
            write_log(sb, snap).inspect_err(|_| j.abort())?;
            true
        }
        None => false,
    };
    let full = {
        let st = j.state.lock();
        st.used.saturating_add(j.room_needed()) > j.blocks - 1
    };
    if full {
        checkpoint_locked(sb, || Ok(()))?;
    }
    Ok(committed)
}

/// Makes everything done so far durable (`fsync`, `sync_fs`): commits the running
/// transaction, or only flushes the device's cache when there is nothing to commit (data
/// written in place needs the flush as well).
pub(crate) fn force(sb: &SuperBlock<RextFs>) -> Result {
    if !commit(sb)? {
        sb.flush_device()?;
    }
    Ok(())
}

/// Makes transaction `seq` durable (`fsync` of an inode last changed in it, or that was
/// read while it ran): commits the running transaction if `seq` has not
/// committed yet; otherwise (or when there was nothing to commit) only flushes the device's
/// cache, for the data written in place. Transactions commit in order, one at a time, so a
/// commit that runs after `seq` was seen uncommitted covers it.
pub(crate) fn force_seq(sb: &SuperBlock<RextFs>, seq: u64) -> Result {
    if is_committed(sb, seq) {
        return sb.flush_device();
    }
    force(sb)
}

/// Tells whether transaction `seq` has committed. Every number is a transaction's (0 too,
/// after a wrap): none stands for "no transaction".
pub(crate) fn is_committed(sb: &SuperBlock<RextFs>, seq: u64) -> bool {
    let info = sb.data();
    let st = info.journal.state.lock();
    // Sequence numbers grow by one a transaction from the one recovery chose; they are
    // compared as distances, the way jbd2 compares tids.
    (st.committed.wrapping_sub(seq) as i64) >= 0
}

/// Commits the running transaction and writes every logged block home; the log is empty
/// afterwards (also on disk). Then runs `then` before any handle may start again (to write
/// the super block directly at unmount, freeze or remount read-only).
pub(crate) fn checkpoint(sb: &SuperBlock<RextFs>, then: impl FnOnce() -> Result) -> Result {
    let j = &sb.data().journal;
    let _nofs = NofsScope::new();
    let _c = j.commit_lock.lock();
    checkpoint_locked(sb, then)
}

/// [`checkpoint`] with the commit lock held.
fn checkpoint_locked(sb: &SuperBlock<RextFs>, then: impl FnOnce() -> Result) -> Result {
    let j = &sb.data().journal;
    quiesce(j)?;
    let r = checkpoint_quiesced(sb);
    if r.is_err() {
        j.abort();
    }
    let r = r.and_then(|()| then());
    unquiesce(j);
    r
}

fn checkpoint_quiesced(sb: &SuperBlock<RextFs>) -> Result {
    let j = &sb.data().journal;
    if let Some(snap) = snapshot(sb)? {
        write_log(sb, snap)?;
    }
    let logged = {
        let mut st = j.state.lock();
        if st.empty_on_disk && st.logged.is_empty() {
            // Nothing in the log: nothing to write (a read-only mount stays unwritten).
            return Ok(());
        }
        core::mem::take(&mut st.logged)
    };
    let bufs = &sb.data().bufs;
    let mut homes = KVec::new();
    for (&b, ()) in logged.iter() {
        homes.push(b, GFP_KERNEL)?;
    }
    let r = write_home(sb, &homes);
    // An error found while block 0 was being written was left for here, also when the
    // writes failed.
    crate::record_pending_error(sb);
    r?;
    for &b in homes.iter() {
        if let Some(r) = bufs.get_cached(b) {
            if let Ok(mut g) = r.lock() {
                g.set_pinned(false);
            }
        }
    }
    // The cache may hold far more than its limit now that nothing is pinned.
    bufs.trim();
    let seq = {
        let mut st = j.state.lock();
        st.used = 0;
        st.head = 1;
        st.empty_on_disk = true;
        st.seq
    };
    write_jsb(sb, j, 0, seq)
}

/// Writes the logged blocks `homes` home, in batches, each buffer copied under its lock, and
/// flushes the device. Block 0 is written with `sb_io` held, with the `ERRORS` an error
/// seen since it was logged recorded in it: an error record written meanwhile must not be
/// undone by an older copy.
fn write_home(sb: &SuperBlock<RextFs>, homes: &[u64]) -> Result {
    let info = sb.data();
    let j = &info.journal;
    let dev = sb.block_device();
    for chunk in homes.chunks(256) {
        let mut copies = KVec::with_capacity(chunk.len(), GFP_KERNEL)?;
        for &b in chunk {
            // Sealed by the commit that logged them.
            if let Some(io) = copy_cached(sb, b, false)? {
                copies.push((b, io), GFP_KERNEL)?;
            }
        }
        let io_lock = info.sb_io.lock();
        for (b, io) in copies.iter_mut() {
            if *b == 0 {
                crate::carry_errors(sb, io);
            }
        }
        let ((), r) = dev.batch(|bt| {
            for (b, io) in copies.iter() {
                let pos = b * j.block_size as u64;
                if let Err(e) = bt.write(pos, io, WriteFlags::NONE) {
                    pr_err!("{}: checkpoint write of block {}: {:?}\n", sb.id(), b, e);
                }
            }
        });
        drop(io_lock);
        r?;
    }
    dev.flush()
}

/// Raises the barrier and waits for every open handle to stop.
fn quiesce(j: &Journal) -> Result {
    let mut st = j.state.lock();
    loop {
        if st.aborted {
            return Err(EIO);
        }
        if !st.barrier {
            break;
        }
        // Only the holder of the commit lock raises the barrier.
        j.wait.wait(&mut st);
    }
    st.barrier = true;
    while st.handles > 0 {
        j.wait.wait(&mut st);
    }
    Ok(())
}

/// Lifts the barrier.
fn unquiesce(j: &Journal) {
    j.state.lock().barrier = false;
    j.wait.notify_all();
}

/// Takes the running transaction (barrier raised, no handle open): logs the super block,
/// copies the changed blocks, and starts the next transaction. `None` if it changed nothing.
fn snapshot(sb: &SuperBlock<RextFs>) -> Result<Option<Snapshot>> {
    let j = &sb.data().journal;
    {
        let st = j.state.lock();
        if st.nblocks == 0 && st.revokes.is_empty() && !st.super_changed {
            return Ok(None);
        }
    }
    log_super(sb)?;
    let (seq, blocks, revoked) = {
        let mut st: MutexGuard<'_, JState> = j.state.lock();
        let blocks = core::mem::take(&mut st.blocks);
        let revokes = core::mem::take(&mut st.revokes);
        st.nrevokes = 0;
        let seq = st.seq;
        st.seq = seq.wrapping_add(1);
        j.running.store(st.seq, Ordering::Release);
        st.nblocks = 0;
        st.super_changed = false;
        (seq, blocks, revokes)
    };
    let mut revokes = KVec::new();
    for (&b, ()) in revoked.iter() {
        revokes.push(b, GFP_KERNEL)?;
    }
    // The blocks are in the log from now on as far as frees are concerned: one freed while
    // this transaction is written gets a revoke record.
    let mut nodes = KVec::with_capacity(blocks.iter().count(), GFP_KERNEL)?;
    for (&b, _) in blocks.iter() {
        nodes.push(RBTreeNode::new(b, (), GFP_KERNEL)?, GFP_KERNEL)?;
    }
    {
        let mut st = j.state.lock();
        for n in nodes {
            st.logged.insert(n);
        }
    }
    let mut copies = KVec::new();
    for (&b, &seal) in blocks.iter() {
        if let Some(io) = copy_cached(sb, b, seal)? {
            copies.push((b, io), GFP_KERNEL)?;
        }
    }
    Ok(Some(Snapshot {
        seq,
        copies,
        revokes,
    }))
}

/// A copy of the cached buffer of block `b`, taken under its lock, which is sealed first
/// (the checksum of its metadata header recomputed) if `seal`; `None` if it is not cached (it
/// was freed and forgotten).
fn copy_cached(sb: &SuperBlock<RextFs>, b: u64, seal: bool) -> Result<Option<IoBuf>> {
    let info = sb.data();
    let Some(r) = info.bufs.get_cached(b) else {
        return Ok(None);
    };
    let mut g = r.lock()?;
    if seal {
        // A block changed in place carries its own number in its metadata header: anything
        // else is a stray change the checksum must not cover (the journal aborts).
        if format::meta_blockno(&g) != Some(b) {
            drop(g);
            pr_crit!(
                "{}: block {} changed in place has a bad header at commit\n",
                sb.id(),
                b
            );
            return Err(EFSCORRUPTED);
        }
        format::meta_seal(&mut g).map_err(|_| EIO)?;
    }
    let mut io = IoBuf::new(info.journal.block_size)?;
    io.copy_from_slice(&g);
    Ok(Some(io))
}

/// Puts the in-memory super block into block 0's buffer, as part of the running transaction.
fn log_super(sb: &SuperBlock<RextFs>) -> Result {
    let j = &sb.data().journal;
    let node = RBTreeNode::new(0, false, GFP_KERNEL)?;
    let info = sb.data();
    // Encoded under the state lock alone: the lock order is state, then buffer.
    let mut io = IoBuf::new(j.block_size)?;
    crate::encode_super(sb, &mut io)?;
    let b = info.bufs.get_new(sb, 0)?;
    {
        let mut g = b.lock()?;
        g.copy_from_slice(&io);
        g.set_pinned(true);
    }
    let mut st = j.state.lock();
    if st.blocks.get(&0).is_none() {
        st.blocks.insert(node);
        st.nblocks += 1;
    }
    Ok(())
}

/// Writes the journal super block: log `tail` (0: empty) and its `sequence`, with FUA.
fn write_jsb(sb: &SuperBlock<RextFs>, j: &Journal, tail: u64, sequence: u64) -> Result {
    let mut io = IoBuf::new(j.block_size)?;
    let jsb = format::Jsb {
        block_log2: j.block_log2,
        blocks: j.blocks,
        sequence,
        tail,
        uuid: j.uuid,
    };
    jsb.encode(&mut io).map_err(|_| EINVAL)?;
    sb.block_device()
        .write(j.start * j.block_size as u64, &io, WriteFlags::FUA)
}

/// A transaction encoded as log blocks.
pub(super) struct Encoded {
    /// The log blocks in order: descriptors with their copies, revoke blocks.
    pub(super) blocks: KVec<IoBuf>,
    /// The commit block, which goes after `blocks`.
    pub(super) commit: IoBuf,
}

/// Encodes transaction `seq` (block copies and revoke records) as log blocks of `bs` bytes
/// with checksums seeded with `seed`.
pub(super) fn encode_transaction(
    bs: usize,
    seed: u32,
    seq: u64,
    copies: KVec<(u64, IoBuf)>,
    revokes: &[u64],
    now: (i64, u32),
) -> Result<Encoded> {
    let cap = format::log_capacity(bs);
    if cap == 0 {
        return Err(EINVAL);
    }
    let mut blocks: KVec<IoBuf> = KVec::new();
    let mut copies = copies.into_iter().peekable();
    while copies.peek().is_some() {
        let mut desc = IoBuf::new(bs)?;
        format::log_init(&mut desc, format::LOG_DESCRIPTOR, seq).map_err(|_| EINVAL)?;
        let mut chunk = KVec::with_capacity(cap, GFP_KERNEL)?;
        while format::log_count(&desc) < cap {
            let Some((b, io)) = copies.next() else {
                break;
            };
            if io.len() != bs {
                return Err(EINVAL);
            }
            format::log_push(&mut desc, b).map_err(|_| EINVAL)?;
            chunk.push(io, GFP_KERNEL)?;
        }
        format::log_seal(&mut desc, seed);
        blocks.push(desc, GFP_KERNEL)?;
        for io in chunk {
            blocks.push(io, GFP_KERNEL)?;
        }
    }
    for rchunk in revokes.chunks(cap) {
        let mut rb = IoBuf::new(bs)?;
        format::log_init(&mut rb, format::LOG_REVOKE, seq).map_err(|_| EINVAL)?;
        for &b in rchunk {
            format::log_push(&mut rb, b).map_err(|_| EINVAL)?;
        }
        format::log_seal(&mut rb, seed);
        blocks.push(rb, GFP_KERNEL)?;
    }
    let mut crc = seed;
    for b in blocks.iter() {
        crc = format::chain_crc(crc, b);
    }
    let mut commit = IoBuf::new(bs)?;
    format::Commit {
        blocks: u32::try_from(blocks.len()).map_err(|_| EINVAL)?,
        data_crc: crc,
        sec: now.0,
        nsec: now.1,
    }
    .encode(&mut commit, seq, seed)
    .map_err(|_| EINVAL)?;
    Ok(Encoded { blocks, commit })
}

/// Writes a transaction to the log and waits until its commit block is durable; then its
/// blocks are logged (pinned until the next checkpoint) and the blocks it freed are free.
fn write_log(sb: &SuperBlock<RextFs>, snap: Snapshot) -> Result {
    let j = &sb.data().journal;
    let bs = j.block_size;
    let Snapshot {
        seq,
        copies,
        revokes,
    } = snap;
    let now = kernel::fs::super_block::now();
    let Encoded { blocks, commit: cb } = encode_transaction(
        bs,
        j.seed,
        seq,
        copies,
        &revokes,
        (now.sec, now.nsec as u32),
    )?;

    let total = blocks.len() as u64 + 1;
    let (first, empty) = {
        let st = j.state.lock();
        if st.aborted {
            // Shut down (or failed) since the snapshot: nothing more goes to the log.
            return Err(EIO);
        }
        if total > (j.blocks - 1).saturating_sub(st.used) {
            pr_err!(
                "{}: journal full: transaction of {} blocks, {} of {} in use\n",
                sb.id(),
                total,
                st.used,
                j.blocks - 1
            );
            return Err(ENOSPC);
        }
        (st.head, st.empty_on_disk)
    };
    if empty {
        // The log starts here: replay must find this transaction.
        write_jsb(sb, j, first, seq)?;
        j.state.lock().empty_on_disk = false;
    }
    let dev = sb.block_device();
    let pos = |idx: u64| (j.start + idx) * bs as u64;
    let mut idx = first;
    let ((), r) = dev.batch(|bt| {
        for b in blocks.iter() {
            if let Err(e) = bt.write(pos(idx), b, WriteFlags::NONE) {
                pr_err!("{}: journal write at {}: {:?}\n", sb.id(), idx, e);
            }
            idx = next(j, idx);
        }
    });
    r?;
    if j.state.lock().aborted {
        // Without its commit block the transaction is not replayed.
        return Err(EIO);
    }
    // Everything before it (log blocks, and data whose I/O completed) is on stable storage
    // before the commit block is.
    dev.write(pos(idx), &cb, WriteFlags::PREFLUSH_FUA)?;

    let mut st = j.state.lock();
    st.head = next(j, idx);
    st.used += total;
    st.committed = seq;
    // The blocks joined `logged` at the snapshot.
    release_busy(&mut st, seq);
    drop(st);
    j.wait.notify_all();
    Ok(())
}

/// The log index after `idx`.
fn next(j: &Journal, idx: u64) -> u64 {
    if idx + 1 >= j.blocks {
        1
    } else {
        idx + 1
    }
}

/// Extents freed by transactions up to `seq` (now committed) can be allocated again.
fn release_busy(st: &mut JState, seq: u64) {
    let mut released = false;
    let mut cur = st.busy.cursor_front_mut();
    while let Some(c) = cur {
        let (_, &(_, s)) = c.current();
        if s.wrapping_sub(seq) as i64 <= 0 {
            cur = c.remove_current().0;
            released = true;
        } else {
            cur = c.move_next();
        }
    }
    if released {
        st.busy_releases = st.busy_releases.wrapping_add(1);
    }
}
