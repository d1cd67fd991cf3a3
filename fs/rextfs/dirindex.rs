// SPDX-License-Identifier: GPL-2.0

//! The directory hash index: a B+tree of kind 2 ("Directory hash index" in
//! `Documentation/filesystems/rextfs.rst`) whose root is the block `dir_index_root` of the
//! directory inode. Leaves hold bare u64 keys `(hash32(name) << 32) | (entry_offset >> 3)`,
//! interior nodes `{key, child}` records. The root never moves: it grows by pushing its records
//! down into a new block and shrinks by pulling a single child back up.
//!
//! Every node read is fully checked (checksum, block number, owner, kind, level, key order);
//! anything wrong is `EFSCORRUPTED` with a log line.

use crate::journal::Handle;
use crate::meta::{BlockFail, NodeRead, NodeStore};
use crate::{alloc, format, RextFs};
use format::{DirKey, IndexRec, NodeForm, TreeKind};
use kernel::fs::SuperBlock;
use kernel::prelude::*;

/// Keys or blocks gathered under a buffer lock and used after it: the first few live in the
/// value itself, so that the usual lookup (one key, one child a level) allocates nothing.
pub(crate) struct Gathered {
    inline: [u64; Self::INLINE],
    n: usize,
    more: KVec<u64>,
}

impl Gathered {
    const INLINE: usize = 4;

    /// An empty list.
    pub(crate) fn new() -> Self {
        Gathered {
            inline: [0; Self::INLINE],
            n: 0,
            more: KVec::new(),
        }
    }

    /// Appends `v`.
    pub(crate) fn push(&mut self, v: u64) -> Result {
        match self.inline.get_mut(self.n) {
            Some(slot) => *slot = v,
            None => self.more.push(v, GFP_KERNEL)?,
        }
        self.n += 1;
        Ok(())
    }

    /// The values, in the order they were pushed.
    pub(crate) fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        let first = self.inline[..self.n.min(Self::INLINE)].iter();
        Iterator::chain(first, self.more.iter()).copied()
    }
}

/// State of one update (or scan) of the hash index of directory `dir`, whose node blocks live
/// in `S` (the transaction handle of an update, the super block for a scan, or memory in the
/// KUnit tests).
pub(crate) struct IndexCtx<'a, S: NodeRead = Handle<'a>> {
    /// The node store.
    pub(crate) sb: &'a S,
    /// The directory owning the index.
    pub(crate) dir: u64,
    /// Allocation goal for new node blocks.
    pub(crate) goal: u64,
    /// Blocks owned by the directory, kept up to date as nodes are allocated and removed.
    pub(crate) blocks: &'a mut u64,
    /// Node blocks allocated by this update (to give back if the update is abandoned).
    pub(crate) allocated: KVec<u64>,
    /// Node blocks removed from the index, to free once the index is on disk.
    pub(crate) freed: KVec<u64>,
    /// Node blocks an insertion allocated before changing anything, for its splits.
    spare: KVec<u64>,
}

impl<'a, S: NodeRead> IndexCtx<'a, S> {
    /// A new update of the index of directory `dir`, whose block count is `blocks`.
    pub(crate) fn new(sb: &'a S, dir: u64, goal: u64, blocks: &'a mut u64) -> Self {
        IndexCtx {
            sb,
            dir,
            goal,
            blocks,
            allocated: KVec::new(),
            freed: KVec::new(),
            spare: KVec::new(),
        }
    }

    fn err(&self, e: format::FormatError) -> Error {
        pr_err!(
            "{}: directory {}: bad hash index\n",
            self.sb.dev_id(),
            self.dir
        );
        self.sb.corrupt("directory hash index node", e)
    }

    /// Reads and checks node `blockno`; `level` is the level it must have, if known.
    fn read_node(&self, blockno: u64, level: Option<u8>) -> Result<KVec<u8>> {
        if !self.sb.in_data_area(blockno, 1) {
            return Err(self.err(format::FormatError::Invalid(
                "index node outside the data area",
            )));
        }
        let buf = self.sb.read_node_block(blockno)?;
        let h =
            format::node_check_fields(&buf, NodeForm::Block, TreeKind::DirIndex, blockno, self.dir)
                .map_err(|e| self.err(e))?;
        if level.is_some_and(|l| l != h.level) {
            return Err(self.err(format::FormatError::Invalid("wrong child level")));
        }
        Ok(buf)
    }

    fn level_of(&self, buf: &[u8]) -> Result<u8> {
        Ok(format::node_header(buf, NodeForm::Block)
            .map_err(|e| self.err(e))?
            .level)
    }

    /// Runs `f` on node `blockno` in place, under its buffer lock (see
    /// [`NodeRead::with_node_block`]: `f` must not use the store), after the checks of
    /// [`IndexCtx::read_node`]; `f` gets the node's header too.
    fn with_node<R>(
        &self,
        blockno: u64,
        level: Option<u8>,
        f: impl FnOnce(&[u8], format::NodeHeader) -> core::result::Result<R, BlockFail>,
    ) -> Result<R> {
        if !self.sb.in_data_area(blockno, 1) {
            return Err(self.err(format::FormatError::Invalid(
                "index node outside the data area",
            )));
        }
        let dir = self.dir;
        let r = self.sb.with_node_block(blockno, |buf| {
            let h =
                format::node_check_fields(buf, NodeForm::Block, TreeKind::DirIndex, blockno, dir)?;
            if level.is_some_and(|l| l != h.level) {
                return Err(format::FormatError::Invalid("wrong child level").into());
            }
            f(buf, h)
        });
        r.map_err(|e| e.logged(|e| self.err(e)))
    }

    /// Appends to `out` every key in `lo..=hi` below node `blockno` (of `level`, when known),
    /// in order.
    fn scan_rec(
        &self,
        blockno: u64,
        level: Option<u8>,
        lo: u64,
        hi: u64,
        out: &mut Gathered,
    ) -> Result {
        // The children to visit, gathered under the node's buffer lock and visited after it
        // is dropped.
        let mut children = Gathered::new();
        let level = self.with_node(blockno, level, |node, h| {
            if h.level == 0 {
                let start = match format::node_search(node, NodeForm::Block, lo)? {
                    Ok(i) | Err(i) => i,
                };
                for i in start..usize::from(h.nr) {
                    let k = format::node_key(node, NodeForm::Block, i)?;
                    if k > hi {
                        break;
                    }
                    out.push(k)?;
                }
                return Ok(0);
            }
            let start = format::node_find_le(node, NodeForm::Block, lo)?.unwrap_or(0);
            for i in start..usize::from(h.nr) {
                let rec: IndexRec = format::node_get(node, NodeForm::Block, i)?;
                if rec.key > hi {
                    break;
                }
                children.push(rec.child)?;
            }
            Ok(h.level)
        })?;
        for child in children.iter() {
            self.scan_rec(child, Some(level - 1), lo, hi, out)?;
        }
        Ok(())
    }

    /// Appends to `out` every key in `lo..=hi` of the index rooted at `root`, in order.
    pub(crate) fn scan(&self, root: u64, lo: u64, hi: u64, out: &mut Gathered) -> Result {
        self.scan_rec(root, None, lo, hi, out)
    }

    fn nodes_rec(&self, node: &[u8], level: u8, out: &mut KVec<u64>) -> Result {
        if level == 0 {
            return Ok(());
        }
        let h = format::node_header(node, NodeForm::Block).map_err(|e| self.err(e))?;
        for i in 0..usize::from(h.nr) {
            let rec: IndexRec =
                format::node_get(node, NodeForm::Block, i).map_err(|e| self.err(e))?;
            out.push(rec.child, GFP_KERNEL)?;
            let child = self.read_node(rec.child, Some(level - 1))?;
            self.nodes_rec(&child, level - 1, out)?;
        }
        Ok(())
    }

    /// Lists every node block of the index rooted at `root`, the root included.
    pub(crate) fn nodes(&self, root: u64, out: &mut KVec<u64>) -> Result {
        let rbuf = self.read_node(root, None)?;
        let level = self.level_of(&rbuf)?;
        out.push(root, GFP_KERNEL)?;
        self.nodes_rec(&rbuf, level, out)
    }
}

impl<S: NodeStore> IndexCtx<'_, S> {
    /// Changes node `blockno` of `level` in place (see [`NodeStore::modify_node_block`]),
    /// after the checks of [`IndexCtx::read_node`]; `f` gets the node's header too.
    fn modify_node<R>(
        &self,
        blockno: u64,
        level: u8,
        f: impl FnOnce(&mut [u8], format::NodeHeader) -> core::result::Result<(R, bool), BlockFail>,
    ) -> Result<R> {
        if !self.sb.in_data_area(blockno, 1) {
            return Err(self.err(format::FormatError::Invalid(
                "index node outside the data area",
            )));
        }
        let dir = self.dir;
        self.sb.modify_node_block(blockno, |buf| {
            let h =
                format::node_check_fields(buf, NodeForm::Block, TreeKind::DirIndex, blockno, dir)?;
            if h.level != level {
                return Err(format::FormatError::Invalid("wrong child level").into());
            }
            f(buf, h)
        })
    }

    /// The leaf of the index rooted at `root` that `key` belongs to, walked down in place, if
    /// no record on the way is above `key` (no lower bound above it must change) and
    /// `go_on(node header, is_root)` agrees at every interior node; `None` otherwise.
    fn leaf_for(
        &self,
        root: u64,
        key: u64,
        go_on: impl Fn(&format::NodeHeader, bool) -> bool,
    ) -> Result<Option<u64>> {
        let mut blockno = root;
        let mut level = None;
        loop {
            let next = self.with_node(blockno, level, |node, h| {
                if h.level == 0 {
                    return Ok(Some(None));
                }
                if !go_on(&h, level.is_none()) {
                    return Ok(None);
                }
                Ok(match format::node_find_le(node, NodeForm::Block, key)? {
                    Some(i) => {
                        let rec: IndexRec = format::node_get(node, NodeForm::Block, i)?;
                        Some(Some((rec.child, h.level - 1)))
                    }
                    None => None,
                })
            })?;
            match next {
                None => return Ok(None),
                Some(None) => return Ok(Some(blockno)),
                Some(Some((child, l))) => {
                    blockno = child;
                    level = Some(l);
                }
            }
        }
    }

    /// The usual insertion, made in place without copying a node: `key` goes into a leaf
    /// with room and no record above it changes. Returns whether it was made; when not,
    /// nothing changed.
    fn insert_in_place(&mut self, root: u64, key: u64) -> Result<bool> {
        let Some(leaf) = self.leaf_for(root, key, |_, _| true)? else {
            return Ok(false);
        };
        self.modify_node(leaf, 0, |node, h| {
            if h.nr >= h.max {
                return Ok((false, false));
            }
            match format::node_search(node, NodeForm::Block, key)? {
                Ok(_) => Err(format::FormatError::Invalid("duplicate index key").into()),
                Err(pos) => {
                    format::node_insert(node, NodeForm::Block, pos, &DirKey(key))?;
                    Ok((true, true))
                }
            }
        })
    }

    /// The usual removal, made in place without copying a node: `key` leaves a leaf that
    /// keeps a key (or is the root), and the root is not one that could absorb its only
    /// child. Returns whether it was made; when not, nothing changed.
    fn remove_in_place(&mut self, root: u64, key: u64) -> Result<bool> {
        let Some(leaf) = self.leaf_for(root, key, |h, is_root| !is_root || h.nr != 1)? else {
            return Ok(false);
        };
        let is_root = leaf == root;
        self.modify_node(leaf, 0, |node, h| {
            if h.nr <= 1 && !is_root {
                return Ok((false, false));
            }
            match format::node_search(node, NodeForm::Block, key)? {
                Ok(i) => {
                    format::node_remove(node, NodeForm::Block, i)?;
                    Ok((true, true))
                }
                Err(_) => Err(format::FormatError::Invalid("entry missing from index").into()),
            }
        })
    }

    fn new_node(&mut self, level: u8) -> Result<(u64, KVec<u8>)> {
        self.allocated.reserve(1, GFP_KERNEL)?;
        let mut buf = KVec::from_elem(0u8, self.sb.node_size(), GFP_KERNEL)?;
        let b = match self.spare.pop() {
            Some(b) => b,
            None => self.sb.alloc_node_block(self.goal)?,
        };
        self.allocated.push(b, GFP_KERNEL)?;
        *self.blocks = self.blocks.saturating_add(1);
        self.goal = b + 1;
        format::node_init(
            &mut buf,
            NodeForm::Block,
            TreeKind::DirIndex,
            level,
            b,
            self.dir,
        )
        .map_err(|e| self.err(e))?;
        Ok((b, buf))
    }

    /// Writes node block `blockno` (the store computes its checksum).
    fn write_node(&self, blockno: u64, buf: &mut [u8]) -> Result {
        self.sb.write_node_block(blockno, buf)
    }

    fn insert_sorted<R: format::Record>(&self, buf: &mut [u8], rec: &R) -> Result {
        let pos =
            match format::node_search(buf, NodeForm::Block, rec.key()).map_err(|e| self.err(e))? {
                Ok(_) => return Err(self.err(format::FormatError::Invalid("duplicate index key"))),
                Err(p) => p,
            };
        format::node_insert(buf, NodeForm::Block, pos, rec).map_err(|e| self.err(e))
    }

    /// Inserts `rec` into `node`, splitting it when full: returns the separator and the block of
    /// the new right sibling for the parent.
    fn insert_at<R: format::Record>(
        &mut self,
        node: &mut [u8],
        rec: &R,
    ) -> Result<Option<(u64, u64)>> {
        let h = format::node_header(node, NodeForm::Block).map_err(|e| self.err(e))?;
        if h.nr < h.max {
            self.insert_sorted(node, rec)?;
            return Ok(None);
        }
        let (rb, mut right) = self.new_node(h.level)?;
        let sep = format::node_split(node, NodeForm::Block, &mut right, rb, self.dir)
            .map_err(|e| self.err(e))?;
        if rec.key() >= sep {
            self.insert_sorted(&mut right, rec)?;
        } else {
            self.insert_sorted(node, rec)?;
        }
        self.write_node(rb, &mut right)?;
        Ok(Some((sep, rb)))
    }

    /// Inserts `key` below `node` (of `level`), writing the nodes below it; sets `changed`
    /// when `node` itself changed (and must be written by the caller).
    fn insert_rec(
        &mut self,
        node: &mut [u8],
        level: u8,
        key: u64,
        changed: &mut bool,
    ) -> Result<Option<(u64, u64)>> {
        if level == 0 {
            *changed = true;
            return self.insert_at(node, &DirKey(key));
        }
        let i = format::node_find_le(node, NodeForm::Block, key)
            .map_err(|e| self.err(e))?
            .unwrap_or(0);
        let mut rec: IndexRec =
            format::node_get(node, NodeForm::Block, i).map_err(|e| self.err(e))?;
        let mut child = self.read_node(rec.child, Some(level - 1))?;
        let mut child_changed = false;
        let split = self.insert_rec(&mut child, level - 1, key, &mut child_changed)?;
        if child_changed {
            self.write_node(rec.child, &mut child)?;
        }
        if key < rec.key {
            // The new key is the smallest of the child: keep the record a lower bound.
            rec.key = key;
            format::node_set(node, NodeForm::Block, i, &rec).map_err(|e| self.err(e))?;
            *changed = true;
        }
        match split {
            None => Ok(None),
            Some((key, child)) => {
                *changed = true;
                self.insert_at(node, &IndexRec { key, child })
            }
        }
    }

    /// How many new node blocks inserting `key` below `rbuf` (the root, of `level`) takes: a
    /// split carries up from the leaf through full nodes only, each taking a block for its
    /// new right half, and a split of the root takes one more (its lower half moves down).
    /// `ENOSPC` when the root would have to split at the deepest level.
    fn blocks_for_insert(&self, rbuf: &[u8], level: u8, key: u64) -> Result<usize> {
        let mut full = KVec::with_capacity(usize::from(level) + 1, GFP_KERNEL)?;
        let h = format::node_header(rbuf, NodeForm::Block).map_err(|e| self.err(e))?;
        full.push(h.nr >= h.max, GFP_KERNEL)?;
        let child_of = |node: &[u8]| -> core::result::Result<u64, format::FormatError> {
            let i = format::node_find_le(node, NodeForm::Block, key)?.unwrap_or(0);
            let rec: IndexRec = format::node_get(node, NodeForm::Block, i)?;
            Ok(rec.child)
        };
        let mut next = if level > 0 {
            child_of(rbuf).map_err(|e| self.err(e))?
        } else {
            0
        };
        for l in (1..=level).rev() {
            // Read in place: only the fullness and the next child are needed.
            let (is_full, child) = self.with_node(next, Some(l - 1), |node, ch| {
                let child = if l > 1 { child_of(node)? } else { 0 };
                Ok((ch.nr >= ch.max, child))
            })?;
            full.push(is_full, GFP_KERNEL)?;
            next = child;
        }
        crate::meta::split_blocks(&full, level)
    }

    /// Adds `key` to the index rooted at block `root`.
    ///
    /// The node blocks the splits need are allocated first, so that an insertion that finds
    /// no room (`ENOSPC`) fails before it has changed anything: a split carried half way up
    /// would leave keys in a block no parent points at.
    pub(crate) fn insert(&mut self, root: u64, key: u64) -> Result {
        if self.insert_in_place(root, key)? {
            return Ok(());
        }
        let mut rbuf = self.read_node(root, None)?;
        let level = self.level_of(&rbuf)?;
        let need = self.blocks_for_insert(&rbuf, level, key)?;
        let sb = self.sb;
        crate::meta::with_spare_blocks(sb, self.goal, need, |spare| {
            // `new_node` takes them from `self.spare`.
            core::mem::swap(&mut self.spare, spare);
            let r = self.insert_split(root, &mut rbuf, level, key);
            core::mem::swap(&mut self.spare, spare);
            r
        })
    }

    /// The insertion of [`IndexCtx::insert`], with the blocks of its splits in `self.spare`.
    fn insert_split(&mut self, root: u64, rbuf: &mut [u8], level: u8, key: u64) -> Result {
        let mut changed = false;
        if let Some((key, child)) = self.insert_rec(rbuf, level, key, &mut changed)? {
            // The root split: its lower half moves into a new block one level down.
            if level >= format::MAX_LEVEL {
                return Err(ENOSPC);
            }
            let (lb, mut left) = self.new_node(level)?;
            format::node_push_down(rbuf, NodeForm::Block, &mut left, lb, self.dir)
                .map_err(|e| self.err(e))?;
            self.write_node(lb, &mut left)?;
            self.insert_sorted(rbuf, &IndexRec { key, child })?;
        }
        if !changed {
            // Only a node below the root changed.
            return Ok(());
        }
        self.write_node(root, rbuf)
    }

    /// Removes `key` below `node` (of `level`), writing the nodes below it; returns whether
    /// `node` itself changed (and must be written by the caller).
    fn remove_rec(&mut self, node: &mut [u8], level: u8, key: u64) -> Result<bool> {
        if level == 0 {
            return match format::node_search(node, NodeForm::Block, key).map_err(|e| self.err(e))? {
                Ok(i) => format::node_remove(node, NodeForm::Block, i)
                    .map(|()| true)
                    .map_err(|e| self.err(e)),
                Err(_) => Err(self.err(format::FormatError::Invalid("entry missing from index"))),
            };
        }
        let i = format::node_find_le(node, NodeForm::Block, key)
            .map_err(|e| self.err(e))?
            .ok_or_else(|| self.err(format::FormatError::Invalid("entry missing from index")))?;
        let rec: IndexRec = format::node_get(node, NodeForm::Block, i).map_err(|e| self.err(e))?;
        let mut child = self.read_node(rec.child, Some(level - 1))?;
        let child_changed = self.remove_rec(&mut child, level - 1, key)?;
        let nr = format::node_header(&child, NodeForm::Block)
            .map_err(|e| self.err(e))?
            .nr;
        if nr == 0 {
            // Non-root nodes are never empty: drop it from its parent, free it later.
            format::node_remove(node, NodeForm::Block, i).map_err(|e| self.err(e))?;
            self.freed.push(rec.child, GFP_KERNEL)?;
            *self.blocks = self.blocks.saturating_sub(1);
            return Ok(true);
        }
        if child_changed {
            self.write_node(rec.child, &mut child)?;
        }
        Ok(false)
    }

    /// Removes `key` from the index rooted at block `root`. Emptied nodes are listed in
    /// `self.freed` (see [`free_nodes`]).
    pub(crate) fn remove(&mut self, root: u64, key: u64) -> Result {
        if self.remove_in_place(root, key)? {
            return Ok(());
        }
        let mut rbuf = self.read_node(root, None)?;
        let level = self.level_of(&rbuf)?;
        let mut changed = self.remove_rec(&mut rbuf, level, key)?;
        loop {
            let h = format::node_header(&rbuf, NodeForm::Block).map_err(|e| self.err(e))?;
            if h.level == 0 {
                break;
            }
            if h.nr == 0 {
                // An empty root must be a leaf.
                format::node_init(
                    &mut rbuf,
                    NodeForm::Block,
                    TreeKind::DirIndex,
                    0,
                    root,
                    self.dir,
                )
                .map_err(|e| self.err(e))?;
                changed = true;
                break;
            }
            if h.nr != 1 {
                break;
            }
            let rec: IndexRec =
                format::node_get(&rbuf, NodeForm::Block, 0).map_err(|e| self.err(e))?;
            let child = self.read_node(rec.child, Some(h.level - 1))?;
            if !format::node_pull_up(&mut rbuf, NodeForm::Block, &child).map_err(|e| self.err(e))? {
                break;
            }
            self.freed.push(rec.child, GFP_KERNEL)?;
            *self.blocks = self.blocks.saturating_sub(1);
            changed = true;
        }
        if !changed {
            // Only a node below the root changed.
            return Ok(());
        }
        self.write_node(root, &mut rbuf)
    }

    /// Gives back every node block allocated by this update (the update is abandoned and
    /// nothing on disk points at them).
    pub(crate) fn undo_allocations(&mut self) {
        for &b in self.allocated.iter() {
            let _ = self.sb.free_node_block(b);
            *self.blocks = self.blocks.saturating_sub(1);
        }
        self.allocated.clear();
    }

    /// Builds a new index holding `keys` (any order, unique); returns its root block.
    pub(crate) fn build(&mut self, keys: &[u64]) -> Result<u64> {
        let (root, mut rbuf) = self.new_node(0)?;
        self.write_node(root, &mut rbuf)?;
        for &k in keys {
            self.insert(root, k)?;
        }
        Ok(root)
    }
}

/// Frees node blocks an update removed from an index (see [`IndexCtx::freed`]), once
/// nothing on disk points at them, in the transaction of `h`.
pub(crate) fn free_nodes(h: &Handle<'_>, nodes: &[u64]) -> Result {
    let mut r = Ok(());
    for &b in nodes {
        if let Err(e) = alloc::free_blocks(h, b, 1) {
            r = Err(e);
        }
    }
    r
}

/// Lists every block of the hash index rooted at `root` of directory `dir` (to free them when
/// the directory is freed).
pub(crate) fn index_nodes(sb: &SuperBlock<RextFs>, dir: u64, root: u64) -> Result<KVec<u64>> {
    let mut blocks = 0u64;
    let ctx = IndexCtx::new(sb, dir, 0, &mut blocks);
    let mut nodes = KVec::new();
    ctx.nodes(root, &mut nodes)?;
    Ok(nodes)
}

#[cfg(CONFIG_REXTFS_KUNIT_TEST)]
#[kunit_tests(rextfs_dirindex)]
mod tests {
    use super::{Gathered, IndexCtx};
    use crate::format::{self, IndexRec, NodeForm, TreeKind};
    use crate::meta::{NodeRead, NodeStore};
    use crate::testing::{check, vec_insert, vec_remove, MemStore, Rng};
    use kernel::prelude::*;

    /// The directory owning the index.
    const DIR: u64 = 77;
    /// Small nodes, for deep trees: 12 keys a leaf, 6 records an interior node.
    const BS: usize = 128;

    /// Checks the subtree at `block` (of `level`, when known) and appends its keys to `keys`:
    /// every node passes `node_check` (checksum, block number, owner, kind, key order), levels
    /// go down by one, nodes other than the root are not empty and the keys lie in
    /// `[lo, hi)` (the bounds from the parent). Returns the number of nodes.
    fn walk(
        store: &MemStore,
        block: u64,
        level: Option<u8>,
        lo: u64,
        hi: Option<u64>,
        keys: &mut KVec<u64>,
    ) -> Result<usize> {
        let buf = store.read_node_block(block)?;
        let h = format::node_check(&buf, NodeForm::Block, TreeKind::DirIndex, block, DIR);
        check!(h.is_ok(), "node {}: {:?}", block, h);
        let h = h.map_err(|_| EINVAL)?;
        check!(
            level.is_none_or(|l| l == h.level),
            "node {} has level {}, parent wants {:?}",
            block,
            h.level,
            level
        );
        check!(level.is_none() || h.nr > 0, "empty non-root node {}", block);
        let nr = usize::from(h.nr);
        let mut nodes = 1;
        for i in 0..nr {
            let k = format::node_key(&buf, NodeForm::Block, i).map_err(|_| EINVAL)?;
            check!(
                k >= lo && hi.is_none_or(|b| k < b),
                "node {}: key {:#x} outside [{:#x}, {:?})",
                block,
                k,
                lo,
                hi
            );
            if h.level == 0 {
                keys.push(k, GFP_KERNEL)?;
                continue;
            }
            let rec: IndexRec = format::node_get(&buf, NodeForm::Block, i).map_err(|_| EINVAL)?;
            let next = if i + 1 < nr {
                Some(format::node_key(&buf, NodeForm::Block, i + 1).map_err(|_| EINVAL)?)
            } else {
                hi
            };
            nodes += walk(store, rec.child, Some(h.level - 1), rec.key, next, keys)?;
        }
        Ok(nodes)
    }

    /// The index at `root` holds exactly `model` (sorted); its nodes are exactly the blocks
    /// in use in `store` and the directory's block count. Returns the root's level.
    fn consistent(
        ctx: &IndexCtx<'_, MemStore>,
        store: &MemStore,
        root: u64,
        model: &[u64],
    ) -> Result<u8> {
        let mut keys = KVec::new();
        let nodes = walk(store, root, None, 0, None, &mut keys)?;
        check!(
            keys.as_slice() == model,
            "index holds {} keys, model {}",
            keys.len(),
            model.len()
        );
        check!(
            nodes == store.in_use(),
            "{} nodes in the index, {} blocks allocated",
            nodes,
            store.in_use()
        );
        check!(
            *ctx.blocks == nodes as u64,
            "block count {}, nodes {}",
            *ctx.blocks,
            nodes
        );
        let mut listed = KVec::new();
        ctx.nodes(root, &mut listed)?;
        check!(
            listed.len() == nodes,
            "nodes() lists {} of {}",
            listed.len(),
            nodes
        );
        for &b in listed.iter() {
            check!(store.allocated(b), "nodes() lists free block {}", b);
        }
        let buf = store.read_node_block(root)?;
        Ok(format::node_header(&buf, NodeForm::Block)
            .map_err(|_| EINVAL)?
            .level)
    }

    /// Frees what an update removed, as `free_nodes` does once the index is on disk.
    fn free_removed(ctx: &mut IndexCtx<'_, MemStore>, store: &MemStore) -> Result {
        for &b in ctx.freed.iter() {
            store.free_node_block(b)?;
        }
        ctx.freed.clear();
        ctx.allocated.clear();
        Ok(())
    }

    /// A key as directories make them: few distinct hashes, so that keys share them.
    fn random_key(rng: &mut Rng) -> u64 {
        let hash = (rng.below(64) as u32).wrapping_mul(0x9E37_79B9);
        let off = rng.below(1 << 20) * 8;
        format::dir_index_key(hash, off).unwrap_or(0)
    }

    #[test]
    fn insert_remove_scan_match_model() -> Result {
        let mut rng = Rng::new(21);
        let store = MemStore::new(BS, 4096)?;
        let mut blocks = 0u64;
        let mut ctx = IndexCtx::new(&store, DIR, 1, &mut blocks);
        let root = ctx.build(&[])?;
        let mut model: KVec<u64> = KVec::new();
        let mut max_level = 0;
        for round in 0..4000 {
            // Grow to about a thousand keys, then shrink again.
            let grow = if round < 2500 { 65 } else { 30 };
            if model.is_empty() || rng.chance(grow) {
                let key = random_key(&mut rng);
                let Err(pos) = model.binary_search(&key) else {
                    continue;
                };
                ctx.insert(root, key)?;
                vec_insert(&mut model, pos, key)?;
            } else {
                let pos = rng.below(model.len() as u64) as usize;
                ctx.remove(root, model[pos])?;
                vec_remove(&mut model, pos)?;
            }
            free_removed(&mut ctx, &store)?;
            // The whole index is walked every fourth round and at the end (every
            // round took 25 s at insmod under TCG and lockdep); the scan below
            // checks the keys of a range every round.
            if round % 4 == 3 {
                let level = consistent(&ctx, &store, root, &model)?;
                max_level = max_level.max(level);
            }
            // A lookup scans one hash's range; readdir scans from a position on.
            let probe = random_key(&mut rng);
            let (lo, hi) = if rng.chance(50) {
                format::dir_hash_range(format::dir_key_hash(probe))
            } else {
                (probe, probe.saturating_add(rng.below(1 << 40)))
            };
            let mut got = Gathered::new();
            ctx.scan(root, lo, hi, &mut got)?;
            let want = model.iter().copied().filter(|&k| k >= lo && k <= hi);
            check!(
                got.iter().eq(want),
                "scan [{:#x}, {:#x}]: {} keys",
                lo,
                hi,
                got.iter().count()
            );
        }
        consistent(&ctx, &store, root, &model)?;
        check!(
            max_level >= 2,
            "the index never grew past level {}",
            max_level
        );
        Ok(())
    }

    /// An insertion that needs more new node blocks than the store has fails with `ENOSPC`
    /// before it changes anything: the keys, the node blocks and the block count stay as they
    /// were, whichever level of the split chain runs out.
    #[test]
    fn insert_without_room_changes_nothing() -> Result {
        let mut rng = Rng::new(24);
        let store = MemStore::new(BS, 4096)?;
        let mut blocks = 0u64;
        let mut ctx = IndexCtx::new(&store, DIR, 1, &mut blocks);
        let root = ctx.build(&[])?;
        let mut model: KVec<u64> = KVec::new();
        let (mut refused, mut deep_refused, mut max_level) = (0, 0, 0);
        while model.len() < 700 {
            let key = random_key(&mut rng);
            let Err(pos) = model.binary_search(&key) else {
                continue;
            };
            let used = store.in_use();
            // No room, then room for one block, then enough.
            for spare in [0, 1, usize::MAX - used] {
                store.set_limit(used + spare);
                match ctx.insert(root, key) {
                    Ok(()) => {
                        vec_insert(&mut model, pos, key)?;
                        break;
                    }
                    Err(e) if e == ENOSPC => {
                        check!(spare != usize::MAX - used, "ENOSPC with room to spare");
                        check!(store.in_use() == used, "a refused insertion kept blocks");
                        consistent(&ctx, &store, root, &model)?;
                        refused += 1;
                        if spare == 1 {
                            deep_refused += 1;
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
            store.set_limit(usize::MAX);
            max_level = max_level.max(consistent(&ctx, &store, root, &model)?);
        }
        check!(
            max_level >= 2,
            "the index never grew past level {}",
            max_level
        );
        check!(
            refused > 0 && deep_refused > 0,
            "{} refused, {} needing two blocks or more",
            refused,
            deep_refused
        );
        Ok(())
    }

    #[test]
    fn build_then_empty_shrinks_to_root() -> Result {
        let mut rng = Rng::new(22);
        let store = MemStore::new(BS, 4096)?;
        let mut blocks = 0u64;
        let mut keys: KVec<u64> = KVec::new();
        while keys.len() < 600 {
            let k = random_key(&mut rng);
            if !keys.contains(&k) {
                keys.push(k, GFP_KERNEL)?;
            }
        }
        let mut ctx = IndexCtx::new(&store, DIR, 1, &mut blocks);
        let root = ctx.build(&keys)?;
        let mut model = KVec::new();
        model.extend_from_slice(&keys, GFP_KERNEL)?;
        model.sort_unstable();
        let level = consistent(&ctx, &store, root, &model)?;
        check!(level >= 2, "600 keys in a tree of level {}", level);
        // Remove in the order of insertion, which is random in key order.
        for &k in keys.iter() {
            ctx.remove(root, k)?;
            free_removed(&mut ctx, &store)?;
            let pos = model.binary_search(&k).map_err(|_| EINVAL)?;
            vec_remove(&mut model, pos)?;
            consistent(&ctx, &store, root, &model)?;
        }
        let level = consistent(&ctx, &store, root, &[])?;
        check!(level == 0, "empty index of level {}", level);
        check!(store.in_use() == 1, "{} blocks left", store.in_use());
        // A key that is not there is corruption, and nothing changes.
        ctx.insert(root, 0x10)?;
        let r = ctx.remove(root, 0x18);
        check!(r == Err(EFSCORRUPTED), "removing a missing key: {:?}", r);
        consistent(&ctx, &store, root, &[0x10])?;
        Ok(())
    }

    #[test]
    fn index_keys_order_by_hash() -> Result {
        let mut rng = Rng::new(23);
        for _ in 0..5000 {
            let hash = rng.next_u64() as u32;
            let off = rng.below(format::DIR_MAX_SIZE + 64);
            let key = format::dir_index_key(hash, off);
            if off % 8 != 0 || off >= format::DIR_MAX_SIZE {
                check!(key.is_none(), "offset {} accepted", off);
                continue;
            }
            check!(key.is_some(), "offset {} refused", off);
            let key = key.ok_or(EINVAL)?;
            check!(format::dir_key_hash(key) == hash, "hash of {:#x}", key);
            check!(format::dir_key_offset(key) == off, "offset of {:#x}", key);
            let (lo, hi) = format::dir_hash_range(hash);
            check!(lo <= key && key <= hi, "{:#x} outside its hash range", key);
            // Keys of a larger hash sort after every key of this one.
            if let Some(h2) = hash.checked_add(1) {
                let (lo2, _) = format::dir_hash_range(h2);
                check!(hi < lo2, "hash ranges {:#x} and {:#x} overlap", hash, h2);
            }
            // The key matters.
            let name = key.to_le_bytes();
            let mut k = [0u8; 16];
            k[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
            let h1 = format::name_hash(&k, &name);
            k[15] ^= 1;
            check!(
                h1 != format::name_hash(&k, &name),
                "the key does not change the hash"
            );
        }
        // The hash is part of the format: a known answer (SipHash-2-4 of the empty name under
        // the key 00..0f is 0x726fdb47dd0e0e31, folded to 32 bits) catches a change of the
        // function, which would need a new format version.
        let mut key = [0u8; 16];
        for (i, b) in key.iter_mut().enumerate() {
            *b = i as u8;
        }
        check!(
            format::name_hash(&key, b"") == 0xaf61_d576,
            "name_hash changed: {:#x}",
            format::name_hash(&key, b"")
        );
        check!(format::name_valid(b"a"), "a");
        check!(!format::name_valid(b""), "empty name");
        check!(!format::name_valid(b"."), ".");
        check!(!format::name_valid(b".."), "..");
        check!(format::name_valid(b"..."), "...");
        check!(!format::name_valid(b"a/b"), "slash");
        check!(!format::name_valid(b"a\0b"), "NUL");
        check!(format::name_valid(&[b'x'; 255]), "255 bytes");
        check!(!format::name_valid(&[b'x'; 256]), "256 bytes");
        check!(format::dirent_size(1) == 16, "dirent_size(1)");
        check!(format::dirent_size(4) == 16, "dirent_size(4)");
        check!(format::dirent_size(5) == 24, "dirent_size(5)");
        Ok(())
    }
}
