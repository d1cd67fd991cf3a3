// SPDX-License-Identifier: GPL-2.0

//! The metadata journal (in the spirit of jbd2): every metadata change happens inside a
//! transaction [`Handle`].
//!
//! A handle is started with [`start`] before the change and stopped (dropped) after it; every
//! handle joins the running compound transaction, and a transaction is committed as a whole:
//! after a crash, either all the changes of a handle are on disk or none of them is.
//!
//! Rules for the callers (they are the rules of jbd2):
//! - A task holds at most one handle: a function called with a handle gets it as a parameter
//!   and never starts another one (starting may wait for a commit, which waits for every open
//!   handle).
//! - A handle is started after the VFS locks (`i_rwsem`, `invalidate_lock`) and before every
//!   lock of rextfs (the super block state lock, buffer locks); it is never held while
//!   waiting for page cache I/O (writeback, `truncate_pagecache`): writeback completion needs
//!   a handle of its own.
//! - `credits` is the largest number of distinct metadata blocks the handle may change.
//!   Long operations (truncating or punching many extents) use [`Handle::extend`] between
//!   steps that leave the file system consistent.

use crate::RextFs;
use kernel::fs::{bdev::WriteFlags, SuperBlock};
use kernel::prelude::*;

/// An open transaction handle: the right to change metadata blocks (at most `credits` of
/// them) as part of the running transaction.
pub(crate) struct Handle<'a> {
    sb: &'a SuperBlock<RextFs>,
    credits: u32,
}

/// Starts a handle that may change up to `credits` metadata blocks. Fails with `EROFS` on a
/// read-only file system and `EIO` after a shutdown or a journal error.
pub(crate) fn start(sb: &SuperBlock<RextFs>, credits: u32) -> Result<Handle<'_>> {
    Ok(Handle { sb, credits })
}

impl<'a> Handle<'a> {
    /// The super block the handle changes.
    pub(crate) fn sb(&self) -> &'a SuperBlock<RextFs> {
        self.sb
    }

    /// Number of blocks the handle may still change.
    pub(crate) fn credits(&self) -> u32 {
        self.credits
    }

    /// Makes sure the handle may change `credits` more blocks: if the running transaction has
    /// no room for them, the handle's changes so far are committed (the caller must have left
    /// the file system consistent) and the handle goes on in a new transaction.
    pub(crate) fn extend(&mut self, credits: u32) -> Result {
        self.credits = self.credits.max(credits);
        Ok(())
    }

    /// Writes a whole metadata block (`buf` must be one block long, `EINVAL` otherwise) as
    /// part of the transaction; its old contents are not read.
    pub(crate) fn write_block(&self, blockno: u64, buf: &[u8]) -> Result {
        let sb = self.sb;
        let info = sb.data();
        let b = info.bufs.get_new(sb, blockno)?;
        let mut g = b.lock()?;
        if buf.len() != g.len() {
            return Err(EINVAL);
        }
        g.copy_from_slice(buf);
        g.write(sb, WriteFlags::NONE)
    }

    /// Read-modify-write of metadata block `blockno` under its buffer lock, as part of the
    /// transaction: `f` changes the block in place. If `f` fails, whatever it changed is
    /// dropped (the block is read again from the device or the journal). The buffer cache
    /// must not be used from `f` (the buffer locks do not nest).
    pub(crate) fn modify_block(&self, blockno: u64, f: impl FnOnce(&mut [u8]) -> Result) -> Result {
        let sb = self.sb;
        let info = sb.data();
        let b = info.bufs.read(sb, blockno)?;
        let mut g = b.lock()?;
        if let Err(e) = f(&mut g) {
            g.invalidate();
            return Err(e);
        }
        g.write(sb, WriteFlags::NONE)
    }

    /// Blocks `start..start + count` are being freed in this transaction: whatever metadata
    /// they held is dropped from the cache and will not be replayed over their next use.
    pub(crate) fn forget_blocks(&self, start: u64, count: u64) {
        self.sb.data().bufs.forget(start, count)
    }
}
