// SPDX-License-Identifier: GPL-2.0

//! Metadata block reads through the metadata buffer cache ([`kernel::fs::buffer`]): every
//! read covers a whole file system block. Writes are part of a transaction: see
//! [`crate::journal::Handle`].

use crate::journal::Handle;
use crate::RextFs;
use kernel::fs::{buffer::BufGuard, memalloc::NofsScope, SuperBlock};
use kernel::prelude::*;

/// Reads metadata block `blockno` into a new buffer of one block.
pub(crate) fn read_block(sb: &SuperBlock<RextFs>, blockno: u64) -> Result<KVec<u8>> {
    crate::check_live(sb)?;
    sb.data()
        .bufs
        .with_block(sb, blockno, None, |_| Ok(()), |g| g.to_vec(GFP_KERNEL))?
}

/// Kinds of metadata block checked once by [`read_block_verified`].
#[derive(Clone, Copy)]
pub(crate) enum BlockKind {
    /// A block of the block or inode bitmap.
    Bitmap = 1,
    /// A node block of an extent tree or a directory hash index (its header and checksum).
    Node = 2,
    /// A directory block (its header, checksum and entries).
    DirBlock = 3,
    /// An extended attribute block (its checksum; header and entries are checked at every
    /// use).
    Xattr = 4,
}

/// What a function run on a locked metadata block ([`with_block_checked`],
/// [`NodeRead::with_node_block`]) fails with: corruption it found in the block (logged by the
/// caller once the buffer lock is dropped: logging marks the file system, which takes locks
/// that come before buffer locks), or another error.
pub(crate) enum BlockFail {
    /// The block is corrupt.
    Corrupt(crate::FormatError),
    /// Another error (e.g. `ENOMEM`).
    Err(Error),
}

impl BlockFail {
    /// The error to return, corruption logged (and the file system marked) by `log`; call
    /// it once the buffer lock is dropped.
    pub(crate) fn logged(self, log: impl FnOnce(crate::FormatError) -> Error) -> Error {
        match self {
            BlockFail::Corrupt(e) => log(e),
            BlockFail::Err(e) => e,
        }
    }
}

impl From<crate::FormatError> for BlockFail {
    fn from(e: crate::FormatError) -> Self {
        BlockFail::Corrupt(e)
    }
}

impl From<Error> for BlockFail {
    fn from(e: Error) -> Self {
        BlockFail::Err(e)
    }
}

impl From<kernel::alloc::AllocError> for BlockFail {
    fn from(_: kernel::alloc::AllocError) -> Self {
        BlockFail::Err(ENOMEM)
    }
}

/// Reads metadata block `blockno` into a new buffer, with `check` run on it the first time it
/// is used as a block of `kind` after it was read from the device (see
/// [`read_block_verified`]); a failed check is reported as corruption of a `what`.
pub(crate) fn read_block_checked(
    sb: &SuperBlock<RextFs>,
    blockno: u64,
    kind: BlockKind,
    what: &str,
    check: impl FnOnce(&[u8]) -> core::result::Result<(), crate::FormatError>,
) -> Result<KVec<u8>> {
    let mut bad = None;
    let r = read_block_verified(sb, blockno, kind, |b| {
        check(b).map_err(|e| {
            bad = Some(e);
            EFSCORRUPTED
        })
    });
    match (r, bad) {
        // Logged (and the file system marked) outside the buffer lock.
        (Err(_), Some(e)) => Err(crate::corrupt(sb, what, e)),
        (r, _) => r,
    }
}

/// Runs `f` on metadata block `blockno` in place, under its buffer lock (no copy is made),
/// with `check` run on the block first as [`read_block_checked`] does (a failed check is
/// logged as corruption of a `what` and returned as [`BlockFail::Err`]). Corruption that `f`
/// reports is returned as it is, for the caller to log once the lock is dropped. `f` must not
/// use the buffer cache (the buffer locks do not nest), nor take a lock that comes before the
/// buffer locks (the super block state lock, the journal's).
pub(crate) fn with_block_checked<R>(
    sb: &SuperBlock<RextFs>,
    blockno: u64,
    kind: BlockKind,
    what: &str,
    check: impl FnOnce(&[u8]) -> core::result::Result<(), crate::FormatError>,
    f: impl FnOnce(&[u8]) -> core::result::Result<R, BlockFail>,
) -> core::result::Result<R, BlockFail> {
    with_guard_checked(sb, blockno, kind, what, check, |g| {
        // Whatever `f` allocates must not recurse into the file system (its reclaim may take
        // locks that come before the buffer locks).
        let _nofs = NofsScope::new();
        f(&g)
    })?
}

/// Runs `f` on the locked buffer of metadata block `blockno`, read if needed, with `check`
/// run on it first the first time it is used as a block of `kind` after it was read from the
/// device (see [`read_block_verified`]); a failed check is logged as corruption of a `what`,
/// once the buffer lock is dropped. `f` must not use the buffer cache.
pub(crate) fn with_guard_checked<R>(
    sb: &SuperBlock<RextFs>,
    blockno: u64,
    kind: BlockKind,
    what: &str,
    check: impl FnOnce(&[u8]) -> core::result::Result<(), crate::FormatError>,
    f: impl FnOnce(BufGuard<'_>) -> R,
) -> Result<R> {
    crate::check_live(sb)?;
    let mut bad = None;
    let verify = |b: &[u8]| {
        check(b).map_err(|e| {
            bad = Some(e);
            EFSCORRUPTED
        })
    };
    let r = sb
        .data()
        .bufs
        .with_block(sb, blockno, Some(kind as u32), verify, f);
    match (r, bad) {
        // Logged (and the file system marked) outside the buffer lock.
        (Err(_), Some(e)) => Err(crate::corrupt(sb, what, e)),
        (r, _) => r,
    }
}

/// Reads metadata block `blockno` into a new buffer of one block; `verify` checks it the
/// first time it is used as a block of `kind` after it was read from the device (not again
/// while it stays cached). `verify` runs with the buffer locked and must not use the cache.
pub(crate) fn read_block_verified(
    sb: &SuperBlock<RextFs>,
    blockno: u64,
    kind: BlockKind,
    verify: impl FnOnce(&[u8]) -> Result,
) -> Result<KVec<u8>> {
    crate::check_live(sb)?;
    sb.data()
        .bufs
        .with_block(sb, blockno, Some(kind as u32), verify, |g| {
            // The copy is allocated under the buffer lock: no recursion into the file system.
            let _nofs = NofsScope::new();
            g.to_vec(GFP_KERNEL)
        })?
}

/// Reads ahead, into the buffer cache, the aligned window of `window` blocks (a power of two,
/// at most [`BufCache::READAHEAD_MAX`]) around block `off` of the run of `len` blocks that
/// starts at block `base` of the device, clamped to the run: the blocks of one table or one
/// extent that are likely to be wanted soon after block `off`. Nothing is read when block
/// `off` is cached already (its window was read ahead, or is being used), nor for a window
/// of one block: its user reads it. Best effort, as [`BufCache::readahead`]: a block it did
/// not read is read by its user. Only for blocks whose every change goes through the buffer
/// cache ([`BufCache::readahead`]'s condition).
///
/// [`BufCache::READAHEAD_MAX`]: kernel::fs::buffer::BufCache::READAHEAD_MAX
/// [`BufCache::readahead`]: kernel::fs::buffer::BufCache::readahead
pub(crate) fn readahead_around(
    sb: &SuperBlock<RextFs>,
    base: u64,
    len: u64,
    off: u64,
    window: u64,
) {
    let bufs = &sb.data().bufs;
    if off >= len || bufs.contains(base + off) {
        return;
    }
    let window = window.clamp(1, kernel::fs::buffer::BufCache::READAHEAD_MAX as u64);
    debug_assert!(window.is_power_of_two());
    let first = off & !(window - 1);
    let count = window.min(len - first);
    if count > 1 {
        let _ = bufs.readahead(sb, base + first, count);
    }
}

/// Where the tree code (extent trees, directory hash indexes) reads its node blocks: the
/// mounted file system (through its super block, or through a transaction handle), or memory
/// in the KUnit tests. Lookups need nothing more; updates need a [`NodeStore`].
pub(crate) trait NodeRead {
    /// Name of the device, for log lines.
    fn dev_id(&self) -> &CStr;
    /// Size of a node block in bytes.
    fn node_size(&self) -> usize;
    /// Whether blocks `start..start + len` lie in the data area.
    fn in_data_area(&self, start: u64, len: u64) -> bool;
    /// Reads node block `blockno` into a new buffer, checked against its own header
    /// ([`crate::format::node_check_self`]: checksum, records): the caller checks that it is
    /// the node it wants with [`crate::format::node_check_fields`].
    fn read_node_block(&self, blockno: u64) -> Result<KVec<u8>>;
    /// Runs `f` on node block `blockno`, checked as [`NodeRead::read_node_block`] checks it,
    /// without copying it where the store can: then under the buffer lock, so `f` must not
    /// use the store. Corruption `f` reports is returned for the caller to log (failures of
    /// the read and its check are logged already, and returned as [`BlockFail::Err`]).
    fn with_node_block<R>(
        &self,
        blockno: u64,
        f: impl FnOnce(&[u8]) -> core::result::Result<R, BlockFail>,
    ) -> core::result::Result<R, BlockFail> {
        let buf = self.read_node_block(blockno)?;
        f(&buf)
    }
    /// Logs corruption of a `what` and returns the error to give back.
    fn corrupt(&self, what: &str, e: crate::FormatError) -> Error;
}

/// Where the tree code writes, allocates and frees its node blocks: a transaction handle of
/// the mounted file system (every change is part of its transaction), or memory in the KUnit
/// tests.
pub(crate) trait NodeStore: NodeRead {
    /// Writes a whole node block, whose checksum the store computes (the journal's commit on
    /// the device, at once in memory): the tree code leaves it alone.
    fn write_node_block(&self, blockno: u64, buf: &[u8]) -> Result;
    /// Changes node block `blockno` in place, checked as [`NodeRead::read_node_block`]
    /// checks it (see [`Handle::modify_block`]): `f` returns its result and whether it
    /// changed the node, must leave it as it found it when it fails, and leaves its checksum
    /// to the store. Corruption `f` reports is logged.
    fn modify_node_block<R>(
        &self,
        blockno: u64,
        f: impl FnOnce(&mut [u8]) -> core::result::Result<(R, bool), BlockFail>,
    ) -> Result<R>;
    /// Allocates one block, preferably at `goal`.
    fn alloc_node_block(&self, goal: u64) -> Result<u64>;
    /// Frees one block no longer referenced.
    fn free_node_block(&self, blockno: u64) -> Result;
}

/// How many new node blocks an insertion into a B+tree takes, given whether each node on its
/// path is full, from the root (`full[0]`, of level `root_level`) down to the leaf: a split
/// carries up from the leaf through full nodes only, each taking a block for its new right
/// half, and a split of the root takes one more (its lower half moves down a level).
/// `ENOSPC` when the root would have to split at the deepest level.
pub(crate) fn split_blocks(full: &[bool], root_level: u8) -> Result<usize> {
    let mut n = 0;
    for (depth, &f) in full.iter().enumerate().rev() {
        if !f {
            break;
        }
        n += 1;
        if depth == 0 {
            if root_level >= crate::format::MAX_LEVEL {
                return Err(ENOSPC);
            }
            n += 1;
        }
    }
    Ok(n)
}

/// Runs `insert` with the `need` node blocks it may take allocated first, in its list of
/// spare blocks, so that an insertion that finds no room (`ENOSPC`) fails before it has
/// changed anything: a split carried half way up a tree would leave records in a block no
/// parent points at. The blocks left over (only those of an insertion that failed: the
/// count is exact) are freed.
pub(crate) fn with_spare_blocks<S: NodeStore>(
    sb: &S,
    goal: u64,
    need: usize,
    insert: impl FnOnce(&mut KVec<u64>) -> Result,
) -> Result {
    let mut spare = KVec::with_capacity(need, GFP_KERNEL)?;
    let mut r = Ok(());
    for _ in 0..need {
        match sb.alloc_node_block(goal) {
            // Within the capacity reserved above: cannot fail.
            Ok(b) => {
                if spare.push_within_capacity(b).is_err() {
                    r = sb.free_node_block(b).and(Err(ENOMEM));
                    break;
                }
            }
            Err(e) => {
                r = Err(e);
                break;
            }
        }
    }
    if r.is_ok() {
        r = insert(&mut spare);
    }
    for b in spare {
        let freed = sb.free_node_block(b);
        if r.is_ok() {
            r = freed;
        }
    }
    r
}

impl NodeRead for SuperBlock<RextFs> {
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
        // The checksum is verified once while the block stays cached: changes made since
        // are this file system's own, sealed by the commit that logs them.
        read_block_checked(self, blockno, BlockKind::Node, "tree node", |b| {
            crate::format::node_check_self(b, blockno).map(|_| ())
        })
    }

    fn with_node_block<R>(
        &self,
        blockno: u64,
        f: impl FnOnce(&[u8]) -> core::result::Result<R, BlockFail>,
    ) -> core::result::Result<R, BlockFail> {
        with_block_checked(
            self,
            blockno,
            BlockKind::Node,
            "tree node",
            |b| crate::format::node_check_self(b, blockno).map(|_| ()),
            f,
        )
    }

    fn corrupt(&self, what: &str, e: crate::FormatError) -> Error {
        crate::corrupt(self, what, e)
    }
}

impl NodeRead for Handle<'_> {
    fn dev_id(&self) -> &CStr {
        self.sb().dev_id()
    }

    fn node_size(&self) -> usize {
        self.sb().node_size()
    }

    fn in_data_area(&self, start: u64, len: u64) -> bool {
        self.sb().in_data_area(start, len)
    }

    fn read_node_block(&self, blockno: u64) -> Result<KVec<u8>> {
        self.sb().read_node_block(blockno)
    }

    fn with_node_block<R>(
        &self,
        blockno: u64,
        f: impl FnOnce(&[u8]) -> core::result::Result<R, BlockFail>,
    ) -> core::result::Result<R, BlockFail> {
        self.sb().with_node_block(blockno, f)
    }

    fn corrupt(&self, what: &str, e: crate::FormatError) -> Error {
        self.sb().corrupt(what, e)
    }
}

impl NodeStore for Handle<'_> {
    fn write_node_block(&self, blockno: u64, buf: &[u8]) -> Result {
        self.write_block_unsealed(blockno, buf, BlockKind::Node)
    }

    fn modify_node_block<R>(
        &self,
        blockno: u64,
        f: impl FnOnce(&mut [u8]) -> core::result::Result<(R, bool), BlockFail>,
    ) -> Result<R> {
        self.modify_block(
            blockno,
            BlockKind::Node,
            "tree node",
            |b| crate::format::node_check_self(b, blockno).map(|_| ()),
            f,
        )
    }

    fn alloc_node_block(&self, goal: u64) -> Result<u64> {
        crate::alloc::alloc_tree_block(self, goal)
    }

    fn free_node_block(&self, blockno: u64) -> Result {
        // Nothing points at the block any more (a node the tree dropped, or a spare block an
        // insertion did not use): a block that cannot be freed would leak, so the transaction
        // must not commit.
        crate::alloc::free_blocks(self, blockno, 1).map_err(|e| self.abort_changed(e))
    }
}
