// SPDX-License-Identifier: GPL-2.0

//! Extent trees: lookups (logical file block to physical block) and updates (insertion,
//! truncation, removal of a range, conversion of unwritten extents to written ones).
//!
//! Range updates are built from two primitives that each walk the tree from the root:
//! [`TreeCtx::insert`] and [`TreeCtx::set_extent`] (replace or remove one extent, freeing
//! emptied nodes). Node blocks are written as they change; the caller writes the inode (the
//! inline root) afterwards and frees [`TreeCtx::freed`] only then, so that a crash between
//! the writes leaks blocks at worst and never leaves a block referenced after it was freed.
//! On a mounted file system the node store is a transaction handle, so all of an update is
//! part of one transaction.
//!
//! Updates of unbounded size (truncation, hole punching, conversion, moving extents) also come
//! as steps ([`TreeCtx::truncate_step`], [`TreeCtx::punch_step`],
//! [`TreeCtx::mark_written_step`], [`TreeCtx::shift_step`]) that do a bounded part of the work
//! and leave a valid tree, so that the caller can write the inode and free the blocks removed
//! after each step, and the transaction can be committed in between (the credits of a step
//! are in [`crate::credits`]).

use crate::format;
use crate::journal::Handle;
use crate::meta::{BlockFail, NodeRead, NodeStore};
use format::{Extent, IndexRec, NodeForm, TreeKind};
use kernel::prelude::*;

/// The answer of [`lookup`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum Mapping {
    /// The block lies inside this extent.
    Mapped(Extent),
    /// The block is not mapped; no extent starts before `end` (a logical block, `u64::MAX`
    /// when nothing follows). `end` is a lower bound: the next extent may start later.
    Hole {
        /// First logical block that may be mapped again.
        end: u64,
    },
}

/// Finds the mapping of logical block `lblk` in the extent tree whose inline root is `root`
/// (inode `ino`). Every node read on the way is fully checked.
pub(crate) fn lookup<S: NodeRead>(sb: &S, ino: u64, root: &[u8], lblk: u64) -> Result<Mapping> {
    lookup_leaf(sb, ino, root, lblk).map(|(m, _)| m)
}

/// Whether the extent tree whose inline root is `root` maps nothing: its root is a leaf
/// without records. A root that does not decode is not empty (the caller's walk reports it).
pub(crate) fn is_empty(root: &[u8]) -> bool {
    format::node_header(root, NodeForm::Inline).is_ok_and(|h| h.level == 0 && h.nr == 0)
}

/// Like [`lookup`], but also returns the strict upper bound of the keys of the leaf searched
/// (the next index key on the path from the root, `u64::MAX` for the last leaf): every extent
/// of that leaf ends at or before it, so an extent of the leaf may grow only up to there.
/// Node blocks are searched in place, not copied.
fn lookup_leaf<S: NodeRead>(sb: &S, ino: u64, root: &[u8], lblk: u64) -> Result<(Mapping, u64)> {
    let err = |e| sb.corrupt("extent tree node", e);
    let mut upper = u64::MAX;
    let mut level = format::node_check(root, NodeForm::Inline, TreeKind::Extent, 0, ino)
        .map_err(err)?
        .level;
    let mut step = lookup_step(sb, ino, root, NodeForm::Inline, level, lblk, &mut upper);
    loop {
        let child = match step {
            Ok(LookupStep::Found(m)) => return Ok((m, upper)),
            Ok(LookupStep::Down(child)) => child,
            Err(e) => return Err(e.logged(err)),
        };
        // `Down` comes from interior nodes only: `level` is at least 1.
        let want = level - 1;
        step = sb.with_node_block(child, |buf| {
            let ch = format::node_check_fields(buf, NodeForm::Block, TreeKind::Extent, child, ino)?;
            if ch.level != want {
                return Err(format::FormatError::Invalid("wrong child level").into());
            }
            lookup_step(sb, ino, buf, NodeForm::Block, want, lblk, &mut upper)
        });
        level = want;
    }
}

/// Where [`lookup_step`] leads.
enum LookupStep {
    /// The mapping of the block (found in a leaf).
    Found(Mapping),
    /// The child node to search next.
    Down(u64),
}

/// One node of [`lookup_leaf`]'s search: node `buf` (of `form` and `level`) of inode `ino`'s
/// tree, with `upper` the bound of its keys so far (lowered here by an interior node). Runs
/// under the node's buffer lock: uses nothing of `sb` but its geometry.
fn lookup_step<S: NodeRead>(
    sb: &S,
    ino: u64,
    buf: &[u8],
    form: NodeForm,
    level: u8,
    lblk: u64,
    upper: &mut u64,
) -> core::result::Result<LookupStep, BlockFail> {
    let h = format::node_header(buf, form)?;
    if level == 0 {
        let idx = format::node_find_le(buf, form, lblk)?;
        if let Some(i) = idx {
            let e: Extent = format::node_get(buf, form, i)?;
            if lblk < e.logical_end() {
                if !sb.in_data_area(e.physical, u64::from(e.len)) {
                    pr_err!(
                        "{}: inode {}: extent outside the data area\n",
                        sb.dev_id(),
                        ino
                    );
                    return Err(EFSCORRUPTED.into());
                }
                return Ok(LookupStep::Found(Mapping::Mapped(e)));
            }
        }
        let next = idx.map_or(0, |i| i + 1);
        let end = if next < usize::from(h.nr) {
            format::node_key(buf, form, next)?
        } else {
            *upper
        };
        return Ok(LookupStep::Found(Mapping::Hole { end }));
    }
    let i = format::node_find_le(buf, form, lblk)?.unwrap_or(0);
    if usize::from(h.nr) == 0 {
        return Err(format::FormatError::Invalid("empty interior node").into());
    }
    if i + 1 < usize::from(h.nr) {
        *upper = (*upper).min(format::node_key(buf, form, i + 1)?);
    }
    let rec: IndexRec = format::node_get(buf, form, i)?;
    if !sb.in_data_area(rec.child, 1) {
        return Err(format::FormatError::Invalid("child node outside the data area").into());
    }
    Ok(LookupStep::Down(rec.child))
}

/// What one step of a long tree update may still do: handle `extents` more extents, and
/// remove `blocks` more blocks in all.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Budget {
    /// Extents the step may still remove, cut or convert.
    pub(crate) extents: u64,
    /// Blocks the step may still remove.
    pub(crate) blocks: u64,
}

impl Budget {
    /// No limit: the whole update in one step.
    pub(crate) const UNLIMITED: Budget = Budget {
        extents: u64::MAX,
        blocks: u64::MAX,
    };

    /// Whether nothing more may be done.
    fn exhausted(&self) -> bool {
        self.extents == 0 || self.blocks == 0
    }

    /// Counts one extent handled, `blocks` of its blocks removed.
    fn take(&mut self, blocks: u64) {
        self.extents = self.extents.saturating_sub(1);
        self.blocks = self.blocks.saturating_sub(blocks);
    }
}

/// State of one tree update of inode `ino`, whose node blocks live in `S` (the transaction
/// handle of the update, or memory in the KUnit tests).
pub(crate) struct TreeCtx<'a, S: NodeStore = Handle<'a>> {
    /// The node store: the transaction handle every change is part of.
    pub(crate) sb: &'a S,
    /// The inode owning the tree.
    pub(crate) ino: u64,
    /// Allocation goal for new node blocks.
    pub(crate) goal: u64,
    /// Blocks owned by the inode, kept up to date (nodes allocated or freed).
    pub(crate) blocks: &'a mut u64,
    /// Data extents removed from the tree, to free once the tree is on disk.
    pub(crate) freed: KVec<(u64, u64)>,
}

impl<S: NodeStore> TreeCtx<'_, S> {
    fn err(&self, e: format::FormatError) -> Error {
        self.sb.corrupt("extent tree node", e)
    }

    /// A new node block for a split: one of the blocks `spare` holds (allocated before the
    /// insertion changed anything), or a new one.
    fn new_node(&mut self, spare: &mut KVec<u64>) -> Result<(u64, KVec<u8>)> {
        // The buffer first: a block taken from `spare` must not be lost to a failed allocation.
        let buf = KVec::from_elem(0u8, self.sb.node_size(), GFP_KERNEL)?;
        let b = match spare.pop() {
            Some(b) => b,
            None => self.sb.alloc_node_block(self.goal)?,
        };
        *self.blocks = self.blocks.saturating_add(1);
        Ok((b, buf))
    }

    fn read_node(&self, blockno: u64, level: u8) -> Result<KVec<u8>> {
        if !self.sb.in_data_area(blockno, 1) {
            return Err(self.err(format::FormatError::Invalid(
                "child node outside the data area",
            )));
        }
        let buf = self.sb.read_node_block(blockno)?;
        let h =
            format::node_check_fields(&buf, NodeForm::Block, TreeKind::Extent, blockno, self.ino)
                .map_err(|e| self.err(e))?;
        if h.level != level {
            return Err(self.err(format::FormatError::Invalid("wrong child level")));
        }
        Ok(buf)
    }

    /// Writes node block `blockno` (the store computes its checksum).
    fn write_node(&self, blockno: u64, buf: &mut [u8]) -> Result {
        self.sb.write_node_block(blockno, buf)
    }

    /// Inserts `rec` (of type `R`) in a node with room, keeping keys sorted.
    fn insert_sorted<R: format::Record>(&self, buf: &mut [u8], form: NodeForm, rec: &R) -> Result {
        let pos = match format::node_search(buf, form, rec.key()).map_err(|e| self.err(e))? {
            Ok(_) => return Err(self.err(format::FormatError::OutOfOrder)),
            Err(p) => p,
        };
        format::node_insert(buf, form, pos, rec).map_err(|e| self.err(e))
    }

    /// Inserts `rec` into `node`, splitting it if full (the new right sibling from `spare`):
    /// returns the separator key and block of the new right sibling, for the parent.
    fn insert_at<R: format::Record>(
        &mut self,
        node: &mut [u8],
        form: NodeForm,
        rec: &R,
        spare: &mut KVec<u64>,
    ) -> Result<Option<(u64, u64)>> {
        let h = format::node_header(node, form).map_err(|e| self.err(e))?;
        if h.nr < h.max {
            self.insert_sorted(node, form, rec)?;
            return Ok(None);
        }
        let (rb, mut right) = self.new_node(spare)?;
        let sep =
            format::node_split(node, form, &mut right, rb, self.ino).map_err(|e| self.err(e))?;
        if rec.key() >= sep {
            self.insert_sorted(&mut right, NodeForm::Block, rec)?;
        } else {
            self.insert_sorted(node, form, rec)?;
        }
        self.write_node(rb, &mut right)?;
        Ok(Some((sep, rb)))
    }

    /// The extent of leaf `node` that `e` continues logically and on disk, as position and
    /// the extent grown by `e`, when it can grow without reaching its next neighbour.
    fn grows_into(
        &self,
        node: &[u8],
        form: NodeForm,
        e: &Extent,
    ) -> Result<Option<(usize, Extent)>> {
        let Some(i) = format::node_find_le(node, form, e.logical).map_err(|x| self.err(x))? else {
            return Ok(None);
        };
        let mut prev: Extent = format::node_get(node, form, i).map_err(|x| self.err(x))?;
        if prev.logical_end() != e.logical
            || prev.physical_end() != e.physical
            || prev.flags != e.flags
            || u64::from(prev.len) + u64::from(e.len) > u64::from(format::MAX_EXTENT_LEN)
        {
            return Ok(None);
        }
        prev.len += e.len;
        let nr = format::node_header(node, form).map_err(|x| self.err(x))?.nr;
        let fits_next = i + 1 >= usize::from(nr)
            || format::node_key(node, form, i + 1).map_err(|x| self.err(x))? >= prev.logical_end();
        Ok(fits_next.then_some((i, prev)))
    }

    /// Inserts extent `e` below `node` (of `level`); returns a split for the parent. With
    /// `merge`, an extent that continues the previous one on disk extends it instead. Splits
    /// take their new blocks from `spare`.
    fn insert_rec(
        &mut self,
        node: &mut [u8],
        form: NodeForm,
        level: u8,
        e: &Extent,
        merge: bool,
        spare: &mut KVec<u64>,
    ) -> Result<Option<(u64, u64)>> {
        if level == 0 {
            // Extend the previous extent when the new one continues it on disk.
            if merge {
                if let Some((i, grown)) = self.grows_into(node, form, e)? {
                    format::node_set(node, form, i, &grown).map_err(|x| self.err(x))?;
                    return Ok(None);
                }
            }
            return self.insert_at(node, form, e, spare);
        }
        let i = format::node_find_le(node, form, e.logical)
            .map_err(|x| self.err(x))?
            .unwrap_or(0);
        let mut rec: IndexRec = format::node_get(node, form, i).map_err(|x| self.err(x))?;
        let mut child = self.read_node(rec.child, level - 1)?;
        let split = self.insert_rec(&mut child, NodeForm::Block, level - 1, e, merge, spare)?;
        self.write_node(rec.child, &mut child)?;
        if e.logical < rec.key {
            // The new extent is the smallest key of the child: keep the lower bound.
            rec.key = e.logical;
            format::node_set(node, form, i, &rec).map_err(|x| self.err(x))?;
        }
        match split {
            None => Ok(None),
            Some((key, child)) => self.insert_at(node, form, &IndexRec { key, child }, spare),
        }
    }

    /// How many new node blocks inserting `e` takes: a split carries up from the leaf through
    /// full nodes only, each taking a block for its new right half, and a split of the root
    /// takes one more (its lower half moves down a level). An extent that grows the previous
    /// one takes none. `ENOSPC` when the root would have to split at the deepest level.
    fn blocks_for_insert(&self, root: &[u8], e: &Extent, merge: bool) -> Result<usize> {
        let h = format::node_header(root, NodeForm::Inline).map_err(|x| self.err(x))?;
        // Whether each node on the path is full, from the root down.
        let mut full = KVec::with_capacity(usize::from(h.level) + 1, GFP_KERNEL)?;
        full.push(h.nr >= h.max, GFP_KERNEL)?;
        let mut node = KVec::new();
        node.extend_from_slice(root, GFP_KERNEL)?;
        let (mut form, mut level) = (NodeForm::Inline, h.level);
        while level > 0 {
            let i = format::node_find_le(&node, form, e.logical)
                .map_err(|x| self.err(x))?
                .unwrap_or(0);
            let rec: IndexRec = format::node_get(&node, form, i).map_err(|x| self.err(x))?;
            node = self.read_node(rec.child, level - 1)?;
            let ch = format::node_header(&node, NodeForm::Block).map_err(|x| self.err(x))?;
            full.push(ch.nr >= ch.max, GFP_KERNEL)?;
            (form, level) = (NodeForm::Block, level - 1);
        }
        if merge && self.grows_into(&node, form, e)?.is_some() {
            return Ok(0);
        }
        crate::meta::split_blocks(&full, h.level)
    }

    /// How many new node blocks inserting an extent that starts at logical block `lblk` takes
    /// at most (if it does not extend the previous one): none while the leaf it goes to has
    /// room.
    pub(crate) fn blocks_for_new_extent(&self, root: &[u8], lblk: u64) -> Result<u64> {
        let e = Extent {
            logical: lblk,
            physical: 0,
            len: 1,
            flags: 0,
        };
        self.blocks_for_insert(root, &e, false).map(|n| n as u64)
    }

    /// Inserts extent `e` (which must not overlap any other) in the tree rooted in `root`; it
    /// extends the previous extent if it continues it on disk.
    pub(crate) fn insert(&mut self, root: &mut [u8], e: &Extent) -> Result {
        self.insert_merging(root, e, true)
    }

    /// [`TreeCtx::insert`], optionally (`merge == false`) keeping `e` an extent of its own.
    ///
    /// The node blocks the splits need are allocated first, so that an insertion that finds
    /// no room (`ENOSPC`) fails before it has changed anything: a split carried half way up
    /// would leave the records of a new right half in a block no parent points at.
    fn insert_merging(&mut self, root: &mut [u8], e: &Extent, merge: bool) -> Result {
        let need = self.blocks_for_insert(root, e, merge)?;
        let sb = self.sb;
        crate::meta::with_spare_blocks(sb, self.goal, need, |spare| {
            self.insert_split(root, e, merge, spare)
        })
    }

    /// The insertion of [`TreeCtx::insert_merging`], with the blocks of its splits in `spare`.
    fn insert_split(
        &mut self,
        root: &mut [u8],
        e: &Extent,
        merge: bool,
        spare: &mut KVec<u64>,
    ) -> Result {
        let h = format::node_header(root, NodeForm::Inline).map_err(|x| self.err(x))?;
        let split = self.insert_rec(root, NodeForm::Inline, h.level, e, merge, spare)?;
        let Some((key, child)) = split else {
            return Ok(());
        };
        // The root split: its lower half moves to a new block one level down and the root
        // points at both halves.
        if h.level >= format::MAX_LEVEL {
            return Err(ENOSPC);
        }
        let (lb, mut left) = self.new_node(spare)?;
        format::node_push_down(root, NodeForm::Inline, &mut left, lb, self.ino)
            .map_err(|x| self.err(x))?;
        self.write_node(lb, &mut left)?;
        self.insert_sorted(root, NodeForm::Inline, &IndexRec { key, child })
    }

    /// Removes the mappings at or after logical block `from` below `node`, from the last one
    /// down, while `budget` lasts (an extent longer than the blocks left in it loses only that
    /// many blocks at its end); the data extents go to `self.freed`, emptied child nodes too.
    /// Returns whether nothing at or after `from` is left below `node`.
    fn truncate_rec(
        &mut self,
        node: &mut [u8],
        form: NodeForm,
        level: u8,
        from: u64,
        budget: &mut Budget,
    ) -> Result<bool> {
        loop {
            let h = format::node_header(node, form).map_err(|x| self.err(x))?;
            if h.nr == 0 {
                return Ok(true);
            }
            let i = usize::from(h.nr) - 1;
            if level == 0 {
                let mut e: Extent = format::node_get(node, form, i).map_err(|x| self.err(x))?;
                if e.logical_end() <= from {
                    return Ok(true);
                }
                if budget.exhausted() {
                    return Ok(false);
                }
                // Blocks `first..` of the extent go, or its last `budget.blocks` blocks.
                let first = e.logical.max(from);
                let cut = (e.logical_end() - first).min(budget.blocks);
                let keep = u64::from(e.len) - cut;
                budget.take(cut);
                self.freed
                    .push((e.physical.saturating_add(keep), cut), GFP_KERNEL)?;
                *self.blocks = self.blocks.saturating_sub(cut);
                if keep == 0 {
                    format::node_remove(node, form, i).map_err(|x| self.err(x))?;
                } else {
                    e.len = keep as u32;
                    format::node_set(node, form, i, &e).map_err(|x| self.err(x))?;
                }
                continue;
            }
            let rec: IndexRec = format::node_get(node, form, i).map_err(|x| self.err(x))?;
            let mut child = self.read_node(rec.child, level - 1)?;
            let done = self.truncate_rec(&mut child, NodeForm::Block, level - 1, from, budget)?;
            let ch = format::node_header(&child, NodeForm::Block).map_err(|x| self.err(x))?;
            if ch.nr == 0 {
                format::node_remove(node, form, i).map_err(|x| self.err(x))?;
                self.freed.push((rec.child, 1), GFP_KERNEL)?;
                *self.blocks = self.blocks.saturating_sub(1);
                if rec.key >= from {
                    continue;
                }
                return Ok(done);
            }
            self.write_node(rec.child, &mut child)?;
            if done && rec.key >= from {
                // Keys of this child are all >= from, so it must have emptied.
                return Err(self.err(format::FormatError::Invalid("node keys out of order")));
            }
            return Ok(done);
        }
    }

    /// Removes every mapping at or after logical block `from` from the tree rooted in `root`.
    /// The removed data blocks are listed in `self.freed` (node blocks too); the caller frees
    /// them once the inode is written.
    pub(crate) fn truncate(&mut self, root: &mut [u8], from: u64) -> Result {
        while !self.truncate_step(root, from, Budget::UNLIMITED)? {}
        Ok(())
    }

    /// One step of [`TreeCtx::truncate`]: removes the mappings at or after `from`, the last
    /// ones first, within `budget` (at least one extent is handled when anything is left).
    /// The tree is valid afterwards. Returns whether nothing at or after `from` is left.
    pub(crate) fn truncate_step(
        &mut self,
        root: &mut [u8],
        from: u64,
        budget: Budget,
    ) -> Result<bool> {
        let mut budget = budget;
        let h = format::node_header(root, NodeForm::Inline).map_err(|x| self.err(x))?;
        let done = self.truncate_rec(root, NodeForm::Inline, h.level, from, &mut budget)?;
        self.shrink_root(root)?;
        Ok(done)
    }

    /// Replaces (`Some`) or removes (`None`) the extent whose key is `key` below `node` (of
    /// `level`). A replacement must map a sub-range of the old extent, so that its key stays
    /// between the bounds the parents record. Returns whether `node` is now empty.
    fn set_rec(
        &mut self,
        node: &mut [u8],
        form: NodeForm,
        level: u8,
        key: u64,
        new: Option<&Extent>,
    ) -> Result<bool> {
        if level == 0 {
            let i = match format::node_search(node, form, key).map_err(|x| self.err(x))? {
                Ok(i) => i,
                Err(_) => {
                    return Err(self.err(format::FormatError::Invalid("extent to update is gone")))
                }
            };
            match new {
                Some(e) => format::node_set(node, form, i, e).map_err(|x| self.err(x))?,
                None => format::node_remove(node, form, i).map_err(|x| self.err(x))?,
            }
            let h = format::node_header(node, form).map_err(|x| self.err(x))?;
            return Ok(h.nr == 0);
        }
        let Some(i) = format::node_find_le(node, form, key).map_err(|x| self.err(x))? else {
            return Err(self.err(format::FormatError::Invalid("extent to update is gone")));
        };
        let rec: IndexRec = format::node_get(node, form, i).map_err(|x| self.err(x))?;
        let mut child = self.read_node(rec.child, level - 1)?;
        if self.set_rec(&mut child, NodeForm::Block, level - 1, key, new)? {
            // Non-root nodes are never empty: unlink the child, free it with the data.
            format::node_remove(node, form, i).map_err(|x| self.err(x))?;
            self.freed.push((rec.child, 1), GFP_KERNEL)?;
            *self.blocks = self.blocks.saturating_sub(1);
        } else {
            self.write_node(rec.child, &mut child)?;
        }
        let h = format::node_header(node, form).map_err(|x| self.err(x))?;
        Ok(h.nr == 0)
    }

    /// Makes the root a leaf again when it emptied, and pulls the records of a single child
    /// up into the root while they fit (freeing the child), so that a shrinking tree loses its
    /// levels again.
    fn shrink_root(&mut self, root: &mut [u8]) -> Result {
        loop {
            let h = format::node_header(root, NodeForm::Inline).map_err(|x| self.err(x))?;
            if h.level == 0 {
                return Ok(());
            }
            if h.nr == 0 {
                // An empty root must be a leaf.
                return format::node_init(root, NodeForm::Inline, TreeKind::Extent, 0, 0, self.ino)
                    .map_err(|x| self.err(x));
            }
            if h.nr != 1 {
                return self.collapse_leaves(root, h.level, h.nr);
            }
            let rec: IndexRec =
                format::node_get(root, NodeForm::Inline, 0).map_err(|x| self.err(x))?;
            let child = self.read_node(rec.child, h.level - 1)?;
            if !format::node_pull_up(root, NodeForm::Inline, &child).map_err(|x| self.err(x))? {
                return Ok(());
            }
            self.freed.push((rec.child, 1), GFP_KERNEL)?;
            *self.blocks = self.blocks.saturating_sub(1);
        }
    }

    /// A root of level 1 whose leaves together hold no more extents than the root can: the
    /// extents move into the root, which becomes a leaf, and the leaves are freed.
    fn collapse_leaves(&mut self, root: &mut [u8], level: u8, nr: u16) -> Result {
        let cap = format::node_capacity(root.len(), NodeForm::Inline, TreeKind::Extent, 0);
        if level != 1 || nr > cap {
            return Ok(());
        }
        let mut leaves = KVec::with_capacity(usize::from(nr), GFP_KERNEL)?;
        let mut total = 0usize;
        for i in 0..usize::from(nr) {
            let rec: IndexRec =
                format::node_get(root, NodeForm::Inline, i).map_err(|x| self.err(x))?;
            let leaf = self.read_node(rec.child, 0)?;
            total += usize::from(
                format::node_header(&leaf, NodeForm::Block)
                    .map_err(|x| self.err(x))?
                    .nr,
            );
            if total > usize::from(cap) {
                return Ok(());
            }
            leaves.push((rec.child, leaf), GFP_KERNEL)?;
        }
        let mut new = [0u8; format::INLINE_ROOT_SIZE];
        let new = new.get_mut(..root.len()).ok_or(EINVAL)?;
        format::node_init(new, NodeForm::Inline, TreeKind::Extent, 0, 0, self.ino)
            .map_err(|x| self.err(x))?;
        let mut pos = 0;
        for (_, leaf) in &leaves {
            let n = format::node_header(leaf, NodeForm::Block)
                .map_err(|x| self.err(x))?
                .nr;
            for i in 0..usize::from(n) {
                let e: Extent =
                    format::node_get(leaf, NodeForm::Block, i).map_err(|x| self.err(x))?;
                format::node_insert(new, NodeForm::Inline, pos, &e).map_err(|x| self.err(x))?;
                pos += 1;
            }
        }
        root.copy_from_slice(new);
        for (b, _) in &leaves {
            self.freed.push((*b, 1), GFP_KERNEL)?;
            *self.blocks = self.blocks.saturating_sub(1);
        }
        Ok(())
    }

    /// Shrinks the tree rooted in `root` when it has more levels than its extents need (see
    /// `shrink_root`); the freed nodes go to `self.freed`.
    ///
    /// When the tree is then a single leaf (the inline root), neighbours that continue each
    /// other on disk are merged: extents that met across a leaf boundary could not merge
    /// before (see [`TreeCtx::merge_at`]). This runs last in an update, so no caller holds
    /// on to the extents it merges.
    pub(crate) fn compact(&mut self, root: &mut [u8]) -> Result {
        self.shrink_root(root)?;
        let h = format::node_header(root, NodeForm::Inline).map_err(|x| self.err(x))?;
        if h.level != 0 {
            return Ok(());
        }
        let mut nr = usize::from(h.nr);
        let mut i = 0;
        while i + 1 < nr {
            let mut a: Extent =
                format::node_get(root, NodeForm::Inline, i).map_err(|x| self.err(x))?;
            let b: Extent =
                format::node_get(root, NodeForm::Inline, i + 1).map_err(|x| self.err(x))?;
            if continues(&a, &b) {
                // The absorbed extent goes first, so the records stay in order.
                format::node_remove(root, NodeForm::Inline, i + 1).map_err(|x| self.err(x))?;
                a.len += b.len;
                format::node_set(root, NodeForm::Inline, i, &a).map_err(|x| self.err(x))?;
                nr -= 1;
            } else {
                i += 1;
            }
        }
        Ok(())
    }

    /// Replaces (`Some`) or removes (`None`) the extent starting at logical block `key` in the
    /// tree rooted in `root`. A replacement maps a sub-range of the old extent (its key may
    /// grow). Emptied nodes are freed (listed in `self.freed`); data blocks are not.
    pub(crate) fn set_extent(&mut self, root: &mut [u8], key: u64, new: Option<&Extent>) -> Result {
        let h = format::node_header(root, NodeForm::Inline).map_err(|x| self.err(x))?;
        self.set_rec(root, NodeForm::Inline, h.level, key, new)?;
        self.shrink_root(root)
    }

    /// Returns the first extent overlapping logical blocks `from..to`, if any.
    pub(crate) fn next_extent(&self, root: &[u8], from: u64, to: u64) -> Result<Option<Extent>> {
        let mut lblk = from;
        while lblk < to {
            match lookup(self.sb, self.ino, root, lblk)? {
                Mapping::Mapped(e) => return Ok(Some(e)),
                Mapping::Hole { end } if end > lblk => lblk = end,
                Mapping::Hole { .. } => {
                    return Err(self.err(format::FormatError::Invalid("node keys out of order")))
                }
            }
        }
        Ok(None)
    }

    /// Replaces extent `old` by `pieces`: sub-ranges of it, in ascending order. The first
    /// piece takes the place of `old`; the others are inserted. If an insertion fails (no
    /// space for a new node), the pieces already inserted are removed and `old` is put back,
    /// so that the tree maps exactly what it mapped before.
    fn replace(&mut self, root: &mut [u8], old: &Extent, pieces: &[Extent]) -> Result {
        let Some((first, rest)) = pieces.split_first() else {
            return self.set_extent(root, old.logical, None);
        };
        // The pieces lie in the leaf of `old`. An insertion that finds no room for a split
        // (`ENOSPC`) fails before it changes anything, and only one of them can need a split:
        // both halves of a split leaf have room. So the undo below never follows a split
        // after `ENOSPC`, and is exact then.
        self.set_extent(root, old.logical, Some(first))?;
        for (n, p) in rest.iter().enumerate() {
            if let Err(e) = self.insert(root, p) {
                for q in &rest[..n] {
                    let _ = self.set_extent(root, q.logical, None);
                }
                let _ = self.set_extent(root, first.logical, Some(old));
                return Err(e);
            }
        }
        Ok(())
    }

    /// Removes every mapping of logical blocks `from..to` (`FALLOC_FL_PUNCH_HOLE`): extents
    /// crossing the bounds are split. The data blocks go to `self.freed` with the emptied
    /// nodes; `self.blocks` is updated.
    ///
    /// Built for the model tests only: the file system calls `punch_step` with a budget.
    #[cfg(CONFIG_REXTFS_KUNIT_TEST)]
    pub(crate) fn punch(&mut self, root: &mut [u8], from: u64, to: u64) -> Result {
        let mut lblk = from;
        while lblk < to {
            lblk = self.punch_step(root, lblk, to, Budget::UNLIMITED)?;
        }
        Ok(())
    }

    /// One step of [`TreeCtx::punch`]: removes the mappings of `from..to` from the first one
    /// on, within `budget` (an extent with more blocks in the range than the budget has left
    /// loses only that many). Returns the first logical block of the range not handled yet,
    /// `to` when the whole range is done; at least one extent is handled when one is left.
    pub(crate) fn punch_step(
        &mut self,
        root: &mut [u8],
        from: u64,
        to: u64,
        budget: Budget,
    ) -> Result<u64> {
        let mut budget = budget;
        let mut lblk = from;
        while let Some(e) = self.next_extent(root, lblk, to)? {
            if budget.exhausted() {
                return Ok(lblk);
            }
            let s = e.logical.max(lblk);
            let t = e.logical_end().min(to).min(s.saturating_add(budget.blocks));
            let mut pieces = KVec::with_capacity(2, GFP_KERNEL)?;
            if e.logical < s {
                pieces.push(sub_extent(&e, e.logical, s, e.flags), GFP_KERNEL)?;
            }
            if t < e.logical_end() {
                pieces.push(sub_extent(&e, t, e.logical_end(), e.flags), GFP_KERNEL)?;
            }
            self.replace(root, &e, &pieces)?;
            let gone = sub_extent(&e, s, t, e.flags);
            self.freed
                .push((gone.physical, u64::from(gone.len)), GFP_KERNEL)?;
            *self.blocks = self.blocks.saturating_sub(u64::from(gone.len));
            budget.take(t - s);
            lblk = t;
        }
        Ok(to)
    }

    /// Marks logical blocks `from..to` written: unwritten extents inside the range are
    /// converted (split at the bounds), then merged with written neighbours that continue
    /// them on disk. Holes in the range stay holes.
    ///
    /// Built for the model tests only: the file system calls `mark_written_step` with a budget.
    #[cfg(CONFIG_REXTFS_KUNIT_TEST)]
    pub(crate) fn mark_written(&mut self, root: &mut [u8], from: u64, to: u64) -> Result {
        let mut lblk = from;
        while lblk < to {
            lblk = self.mark_written_step(root, lblk, to, u64::MAX)?;
        }
        Ok(())
    }

    /// One step of [`TreeCtx::mark_written`]: converts at most `extents` (at least one)
    /// unwritten extents of `from..to`, from the first one on. Returns the first logical block
    /// of the range not handled yet, `to` when the whole range is done.
    pub(crate) fn mark_written_step(
        &mut self,
        root: &mut [u8],
        from: u64,
        to: u64,
        extents: u64,
    ) -> Result<u64> {
        let mut left = extents.max(1);
        let mut lblk = from;
        while let Some(e) = self.next_extent(root, lblk, to)? {
            let t = e.logical_end().min(to);
            if e.unwritten() {
                if left == 0 {
                    return Ok(lblk);
                }
                left -= 1;
                let s = e.logical.max(lblk);
                let mut pieces = KVec::with_capacity(3, GFP_KERNEL)?;
                if e.logical < s {
                    pieces.push(sub_extent(&e, e.logical, s, e.flags), GFP_KERNEL)?;
                }
                let unw = e.flags & !format::EXTENT_UNWRITTEN;
                pieces.push(sub_extent(&e, s, t, unw), GFP_KERNEL)?;
                if t < e.logical_end() {
                    pieces.push(sub_extent(&e, t, e.logical_end(), e.flags), GFP_KERNEL)?;
                }
                self.replace(root, &e, &pieces)?;
                self.merge_at(root, s)?;
            }
            lblk = t;
        }
        Ok(to)
    }

    /// Merges the extent holding logical block `lblk` with its neighbours when they continue
    /// it logically and on disk with the same flags. The absorbed extent is removed before
    /// the survivor grows, so the tree never maps a block twice.
    ///
    /// Only neighbours in the same leaf merge: the survivor stays in its leaf, whose extents
    /// must end at or before the key of the next subtree (the lookup's upper bound). Grown
    /// into the next leaf's range, its end would be invisible to lookups (they descend into
    /// the next leaf and find a hole there), and writes would map those blocks again.
    pub(crate) fn merge_at(&mut self, root: &mut [u8], lblk: u64) -> Result {
        let (Mapping::Mapped(mut e), e_upper) = lookup_leaf(self.sb, self.ino, root, lblk)? else {
            return Ok(());
        };
        if let Mapping::Mapped(n) = lookup(self.sb, self.ino, root, e.logical_end())? {
            if continues(&e, &n) && n.logical_end() <= e_upper {
                self.set_extent(root, n.logical, None)?;
                e.len += n.len;
                self.set_extent(root, e.logical, Some(&e))?;
            }
        }
        if e.logical > 0 {
            let (p, p_upper) = lookup_leaf(self.sb, self.ino, root, e.logical - 1)?;
            if let Mapping::Mapped(mut p) = p {
                if continues(&p, &e) && e.logical_end() <= p_upper {
                    self.set_extent(root, e.logical, None)?;
                    p.len += e.len;
                    self.set_extent(root, p.logical, Some(&p))?;
                }
            }
        }
        Ok(())
    }
}

/// How [`TreeCtx::shift`] moves logical blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shift {
    /// `FALLOC_FL_COLLAPSE_RANGE`: blocks at or after `from + len` move down by `len`. The
    /// tree must map nothing in `from..from + len` (punched first).
    Down { from: u64, len: u64 },
    /// `FALLOC_FL_INSERT_RANGE`: blocks at or after `from` move up by `len`. No extent may
    /// cross `from` (split first).
    Up { from: u64, len: u64 },
}

impl Shift {
    /// The new place of logical block (or node key) `x`. The map is monotonic (never
    /// decreasing), so node keys keep their order and stay at or below the extents of their
    /// subtrees: a key inside a collapsed range belongs to a subtree that maps nothing there,
    /// whose extents all move down to `from` or above.
    fn map(self, x: u64) -> u64 {
        match self {
            Shift::Down { from, len } if x >= from + len => x - len,
            Shift::Down { from, .. } if x > from => from,
            Shift::Up { from, len } if x >= from => x + len,
            _ => x,
        }
    }

    /// The first logical block (or key) that moves.
    fn start(self) -> u64 {
        match self {
            Shift::Down { from, .. } => from + 1,
            Shift::Up { from, .. } => from,
        }
    }
}

/// Where a move of extents done in steps ([`TreeCtx::shift_step`]) stands: the records are
/// moved leaf by leaf, moving up from the last leaf, moving down from the first, and a node's
/// key follows its subtree.
///
/// `mark` is the bound between the records moved and those not moved yet, in the keys they
/// had before the move. Moving up, the records from `mark` on moved (they are now at
/// `mark + len` or above, the others below `mark`), and an index record whose subtree moved
/// completely has moved too (only then). Moving down, the records below `mark` moved (they
/// are now below `mark`, the others at `mark` or above), and an index record moved as soon as
/// the first leaf of its subtree did: its key stays a lower bound of the subtree either way.
/// At every step the tree is valid and maps each extent either where it was or where it goes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ShiftState {
    /// The move.
    how: Shift,
    /// The bound between the records moved and the others, as described above.
    mark: u64,
}

impl ShiftState {
    /// A move that has not started.
    pub(crate) fn new(how: Shift) -> Self {
        let mark = match how {
            Shift::Up { .. } => u64::MAX,
            Shift::Down { .. } => 0,
        };
        ShiftState { how, mark }
    }

    /// Whether a leaf record with key `x` has still to move.
    fn pending(&self, x: u64) -> bool {
        match self.how {
            Shift::Up { from, .. } => x >= from && x < self.mark,
            Shift::Down { .. } => x >= self.mark && self.how.map(x) != x,
        }
    }
}

impl<S: NodeStore> TreeCtx<'_, S> {
    /// Moves every extent at or after the shift's start in place: leaf records and node keys
    /// are rewritten with [`Shift::map`], no node is added or removed, so this cannot fail for
    /// lack of space. The caller made sure that no extent crosses a moved boundary and that
    /// the moved extents stay below the format's largest logical block.
    ///
    /// Built for the model tests only: the file system calls `shift_step` with a budget.
    #[cfg(CONFIG_REXTFS_KUNIT_TEST)]
    pub(crate) fn shift(&mut self, root: &mut [u8], how: Shift) -> Result {
        let mut st = ShiftState::new(how);
        while !self.shift_step(root, &mut st, u32::MAX)? {}
        Ok(())
    }

    /// One step of [`TreeCtx::shift`]: moves the records of at most `leaves` leaves (at
    /// least one; a root that is a leaf moves at once) on from where `st` stands, and updates
    /// `st`. Returns whether the move is complete.
    pub(crate) fn shift_step(
        &mut self,
        root: &mut [u8],
        st: &mut ShiftState,
        leaves: u32,
    ) -> Result<bool> {
        let h = format::node_header(root, NodeForm::Inline).map_err(|x| self.err(x))?;
        let mut budget = leaves.max(1);
        self.shift_rec(root, NodeForm::Inline, h.level, 0, None, st, &mut budget)
    }

    /// [`TreeCtx::shift_step`] below `node`, whose subtree maps blocks from `lower` (its key)
    /// and below `upper` (`None`: no bound), both as they are now. `budget` is the number of
    /// leaves still allowed. Returns whether the subtree is done.
    #[allow(clippy::too_many_arguments)]
    fn shift_rec(
        &mut self,
        node: &mut [u8],
        form: NodeForm,
        level: u8,
        lower: u64,
        upper: Option<u64>,
        st: &mut ShiftState,
        budget: &mut u32,
    ) -> Result<bool> {
        let how = st.how;
        let nr = usize::from(format::node_header(node, form).map_err(|x| self.err(x))?.nr);
        // Records are rewritten one at a time and each must stay in order with its
        // neighbours: moving up, start from the last one; moving down, from the first.
        let order = |i: usize| match how {
            Shift::Up { .. } => nr - 1 - i,
            Shift::Down { .. } => i,
        };
        if level == 0 {
            for i in (0..nr).map(order) {
                let mut e: Extent = format::node_get(node, form, i).map_err(|x| self.err(x))?;
                if st.pending(e.logical) {
                    e.logical = how.map(e.logical);
                    format::node_set(node, form, i, &e).map_err(|x| self.err(x))?;
                }
            }
            // The keys of this leaf were not moved before (its records had not), so `lower`
            // and `upper` are keys from before the move.
            st.mark = match how {
                Shift::Up { .. } => lower,
                Shift::Down { .. } => upper.unwrap_or(u64::MAX),
            };
            *budget = budget.saturating_sub(1);
            return Ok(true);
        }
        for i in (0..nr).map(order) {
            let mut rec: IndexRec = format::node_get(node, form, i).map_err(|x| self.err(x))?;
            let next = if i + 1 < nr {
                Some(format::node_key(node, form, i + 1).map_err(|x| self.err(x))?)
            } else {
                upper
            };
            match how {
                Shift::Up { .. } => {
                    // Subtrees entirely below the start stay as they are; so do those before.
                    if next.is_some_and(|n| n <= how.start()) {
                        break;
                    }
                    // Moved completely in an earlier step.
                    if rec.key >= st.mark {
                        continue;
                    }
                }
                Shift::Down { .. } => {
                    // Entirely below the start, or moved completely (its successor started).
                    if next.unwrap_or(u64::MAX) <= how.start().max(st.mark) {
                        continue;
                    }
                }
            }
            if *budget == 0 {
                return Ok(false);
            }
            if matches!(how, Shift::Down { .. }) && rec.key >= st.mark {
                // Not started: its key moves with its first leaf, which this step moves.
                let moved = how.map(rec.key);
                if moved != rec.key {
                    rec.key = moved;
                    format::node_set(node, form, i, &rec).map_err(|x| self.err(x))?;
                }
            }
            let mut child = self.read_node(rec.child, level - 1)?;
            let done = self.shift_rec(
                &mut child,
                NodeForm::Block,
                level - 1,
                rec.key,
                next,
                st,
                budget,
            )?;
            self.write_node(rec.child, &mut child)?;
            if !done {
                return Ok(false);
            }
            if matches!(how, Shift::Up { .. }) {
                let moved = how.map(rec.key);
                if moved != rec.key {
                    rec.key = moved;
                    format::node_set(node, form, i, &rec).map_err(|x| self.err(x))?;
                }
            }
        }
        Ok(true)
    }

    /// Splits the extent crossing logical block `at` (if one does) into two extents meeting
    /// at `at`.
    pub(crate) fn split_at(&mut self, root: &mut [u8], at: u64) -> Result {
        if at == 0 {
            return Ok(());
        }
        if let Mapping::Mapped(e) = lookup(self.sb, self.ino, root, at - 1)? {
            if e.logical_end() > at {
                // Not `replace`: its insertion would merge the two halves again.
                let head = sub_extent(&e, e.logical, at, e.flags);
                let tail = sub_extent(&e, at, e.logical_end(), e.flags);
                self.set_extent(root, e.logical, Some(&head))?;
                if let Err(err) = self.insert_merging(root, &tail, false) {
                    let _ = self.set_extent(root, e.logical, Some(&e));
                    return Err(err);
                }
            }
        }
        Ok(())
    }

    /// The logical end of the last extent of the tree (0 if it maps nothing).
    pub(crate) fn last_end(&self, root: &[u8]) -> Result<u64> {
        let mut node = KVec::new();
        node.extend_from_slice(root, GFP_KERNEL)?;
        let mut form = NodeForm::Inline;
        loop {
            let h = format::node_header(&node, form).map_err(|x| self.err(x))?;
            if h.nr == 0 {
                return Ok(0);
            }
            let last = usize::from(h.nr) - 1;
            if h.level == 0 {
                let e: Extent = format::node_get(&node, form, last).map_err(|x| self.err(x))?;
                return Ok(e.logical_end());
            }
            let rec: IndexRec = format::node_get(&node, form, last).map_err(|x| self.err(x))?;
            node = self.read_node(rec.child, h.level - 1)?;
            form = NodeForm::Block;
        }
    }
}

/// Frees the blocks a tree update removed (after the inode pointing to the tree was written),
/// in the transaction of `h`.
pub(crate) fn free_all(h: &Handle<'_>, freed: &[(u64, u64)]) -> Result {
    crate::alloc::free_extents(h, freed)
}

/// The part of extent `e` mapping logical blocks `from..to` (inside it), with `flags`.
fn sub_extent(e: &Extent, from: u64, to: u64, flags: u32) -> Extent {
    Extent {
        logical: from,
        physical: e.physical + (from - e.logical),
        // A part of an extent is no longer than the extent.
        len: (to - from) as u32,
        flags,
    }
}

/// Whether `b` continues `a` logically and physically, with the same flags, and the two fit
/// one extent.
fn continues(a: &Extent, b: &Extent) -> bool {
    a.logical_end() == b.logical
        && a.physical_end() == b.physical
        && a.flags == b.flags
        && u64::from(a.len) + u64::from(b.len) <= u64::from(format::MAX_EXTENT_LEN)
}

#[cfg(CONFIG_REXTFS_KUNIT_TEST)]
#[kunit_tests(rextfs_extent_tree)]
mod tests {
    use super::{continues, lookup, Budget, Mapping, Shift, ShiftState, TreeCtx};
    use crate::format::{self, DirKey, Extent, FormatError, IndexRec, NodeForm, TreeKind};
    use crate::meta::{NodeRead, NodeStore};
    use crate::testing::{check, vec_insert, vec_remove, MemStore, Rng, DATA_BASE};
    use kernel::prelude::*;

    /// The inode owning the trees.
    const INO: u64 = 12;
    /// Small node blocks, for deep trees: 4 extents a leaf, 6 records an interior node (the
    /// inline root holds 5 extents or 7 records).
    const BS: usize = 128;
    /// Logical blocks the random operations start in.
    const SPAN: u64 = 600;
    /// Logical blocks an inserted range may push extents up to.
    const LIMIT: u64 = 4 * SPAN;

    fn fe<T>(r: core::result::Result<T, FormatError>) -> Result<T> {
        r.map_err(|e| {
            pr_err!("kunit: format error {}\n", e.as_str());
            EINVAL
        })
    }

    // ---- The model: a sorted list of non-overlapping extents. ----

    /// `model` with every pair that continues each other merged: two lists map the same
    /// blocks with the same flags exactly when their normal forms are equal.
    fn normal(model: &[Extent]) -> Result<KVec<Extent>> {
        let mut out: KVec<Extent> = KVec::new();
        for e in model {
            if let Some(last) = out.last_mut() {
                if continues(last, e) {
                    last.len += e.len;
                    continue;
                }
            }
            out.push(*e, GFP_KERNEL)?;
        }
        Ok(out)
    }

    /// Splits the model extent crossing `at`, if any, in two meeting at `at`.
    fn model_split(model: &mut KVec<Extent>, at: u64) -> Result {
        let Some(i) = model
            .iter()
            .position(|e| e.logical < at && at < e.logical_end())
        else {
            return Ok(());
        };
        let e = model[i];
        let head = e.logical_end() - at;
        model[i].len = (at - e.logical) as u32;
        let tail = Extent {
            logical: at,
            physical: e.physical + (at - e.logical),
            len: head as u32,
            flags: e.flags,
        };
        vec_insert(model, i + 1, tail)
    }

    /// Removes the mappings of `from..to`; returns the number of blocks removed.
    fn model_remove(model: &mut KVec<Extent>, from: u64, to: u64) -> Result<u64> {
        model_split(model, from)?;
        model_split(model, to)?;
        let mut gone = 0;
        let mut i = 0;
        while i < model.len() {
            let e = model[i];
            if e.logical >= from && e.logical_end() <= to {
                gone += u64::from(e.len);
                vec_remove(model, i)?;
            } else {
                i += 1;
            }
        }
        Ok(gone)
    }

    fn model_insert(model: &mut KVec<Extent>, e: Extent) -> Result {
        let pos = model.iter().take_while(|x| x.logical < e.logical).count();
        vec_insert(model, pos, e)
    }

    fn model_total(model: &[Extent]) -> u64 {
        model.iter().map(|e| u64::from(e.len)).sum()
    }

    fn model_find(model: &[Extent], lblk: u64) -> Option<Extent> {
        model
            .iter()
            .find(|e| e.logical <= lblk && lblk < e.logical_end())
            .copied()
    }

    // ---- The tree under test. ----

    /// Checks the subtree in `buf` and appends its extents to `out`: every node passes
    /// `node_check` (block nodes: checksum, block number, owner), levels go down by one,
    /// nodes below the root are not empty, keys are at least the parent's key `lo`, and
    /// every extent ends at or before the next key of the parent `hi` (lookups find an
    /// extent only in the leaf its first block leads to). Returns the number of node blocks.
    #[allow(clippy::too_many_arguments)]
    fn walk(
        store: &MemStore,
        buf: &[u8],
        form: NodeForm,
        blockno: u64,
        level: Option<u8>,
        lo: u64,
        hi: Option<u64>,
        out: &mut KVec<Extent>,
    ) -> Result<usize> {
        let h = format::node_check(buf, form, TreeKind::Extent, blockno, INO);
        check!(h.is_ok(), "node {}: {:?}", blockno, h);
        let h = fe(h)?;
        check!(
            level.is_none_or(|l| l == h.level),
            "node {} of level {}, parent wants {:?}",
            blockno,
            h.level,
            level
        );
        check!(
            form == NodeForm::Inline || h.nr > 0,
            "empty node {}",
            blockno
        );
        let nr = usize::from(h.nr);
        let mut nodes = 0;
        for i in 0..nr {
            if h.level == 0 {
                let e: Extent = fe(format::node_get(buf, form, i))?;
                check!(
                    e.logical >= lo && hi.is_none_or(|b| e.logical_end() <= b),
                    "extent {}+{} outside [{}, {:?}) in node {}",
                    e.logical,
                    e.len,
                    lo,
                    hi,
                    blockno
                );
                out.push(e, GFP_KERNEL)?;
                continue;
            }
            let rec: IndexRec = fe(format::node_get(buf, form, i))?;
            check!(rec.key >= lo, "index key {} below {}", rec.key, lo);
            let next = if i + 1 < nr {
                Some(fe(format::node_key(buf, form, i + 1))?)
            } else {
                hi
            };
            let child = store.read_node_block(rec.child)?;
            nodes += 1 + walk(
                store,
                &child,
                NodeForm::Block,
                rec.child,
                Some(h.level - 1),
                rec.key,
                next,
                out,
            )?;
        }
        Ok(nodes)
    }

    /// A new empty tree: an inline leaf root.
    fn empty_root() -> Result<[u8; format::INLINE_ROOT_SIZE]> {
        let mut root = [0u8; format::INLINE_ROOT_SIZE];
        fe(format::node_init(
            &mut root,
            NodeForm::Inline,
            TreeKind::Extent,
            0,
            0,
            INO,
        ))?;
        Ok(root)
    }

    fn root_level(root: &[u8]) -> Result<u8> {
        Ok(fe(format::node_header(root, NodeForm::Inline))?.level)
    }

    /// The tree at `root` passes [`walk`]'s checks and its extents do not overlap, as after
    /// every step of a long update; returns the number of blocks it maps.
    fn valid(store: &MemStore, root: &[u8]) -> Result<u64> {
        let mut got = KVec::new();
        walk(store, root, NodeForm::Inline, 0, None, 0, None, &mut got)?;
        for w in got.windows(2) {
            check!(
                w[0].logical_end() <= w[1].logical,
                "extents {:?} and {:?} overlap",
                w[0],
                w[1]
            );
        }
        Ok(got.iter().map(|e| u64::from(e.len)).sum())
    }

    /// A small random budget for one step of a long update.
    fn small_budget(rng: &mut Rng) -> Budget {
        Budget {
            extents: rng.range(1, 3),
            blocks: rng.range(1, 24),
        }
    }

    /// Moves the extents as `how` says in steps of at most `leaves` leaves (not compacting in
    /// between, as the file code does), checking that every step leaves a valid tree mapping
    /// as many blocks.
    fn shift_in_steps(
        t: &mut TreeCtx<'_, MemStore>,
        root: &mut [u8],
        how: Shift,
        leaves: u32,
    ) -> Result {
        let total = valid(t.sb, root)?;
        let mut st = ShiftState::new(how);
        let mut steps = 0;
        loop {
            let done = t.shift_step(root, &mut st, leaves)?;
            let now = valid(t.sb, root)?;
            check!(
                now == total,
                "step {}: {} blocks mapped, {} before",
                steps,
                now,
                total
            );
            steps += 1;
            check!(steps < 10_000, "the move does not end");
            if done {
                return Ok(());
            }
        }
    }

    /// One random tree and its model.
    struct Harness {
        rng: Rng,
        store: MemStore,
        root: [u8; format::INLINE_ROOT_SIZE],
        /// The inode's block count as the file code keeps it: data and node blocks.
        blocks: u64,
        model: KVec<Extent>,
        /// Next physical block for new extents.
        next_phys: u64,
        max_level: u8,
    }

    impl Harness {
        fn new(seed: u64) -> Result<Self> {
            Ok(Harness {
                rng: Rng::new(seed),
                store: MemStore::new(BS, 8192)?,
                root: empty_root()?,
                blocks: 0,
                model: KVec::new(),
                next_phys: DATA_BASE,
                max_level: 0,
            })
        }

        /// Runs `f` on the tree like the file code does, then frees what it removed as
        /// `free_all` would; checks that the data blocks freed are the `removed` the model
        /// computed.
        fn update(
            &mut self,
            removed: u64,
            f: impl FnOnce(&mut TreeCtx<'_, MemStore>, &mut [u8]) -> Result,
        ) -> Result {
            let mut ctx = TreeCtx {
                sb: &self.store,
                ino: INO,
                goal: 1,
                blocks: &mut self.blocks,
                freed: KVec::new(),
            };
            f(&mut ctx, &mut self.root)?;
            let freed = core::mem::take(&mut ctx.freed);
            let mut data = 0;
            for &(start, len) in freed.iter() {
                if start >= DATA_BASE {
                    data += len;
                } else {
                    check!(len == 1, "freed node run {}+{}", start, len);
                    self.store.free_node_block(start)?;
                }
            }
            check!(
                data == removed,
                "{} data blocks freed, the model removed {}",
                data,
                removed
            );
            Ok(())
        }

        /// The tree maps what the model maps, its node blocks are the ones allocated, the
        /// block count adds up, and lookups agree with the model.
        fn consistent(&mut self) -> Result {
            let mut got = KVec::new();
            let nodes = walk(
                &self.store,
                &self.root,
                NodeForm::Inline,
                0,
                None,
                0,
                None,
                &mut got,
            )?;
            let (a, b) = (normal(&got)?, normal(&self.model)?);
            if a != b {
                for e in got.iter() {
                    pr_err!("kunit: tree  {:?}\n", e);
                }
                for e in self.model.iter() {
                    pr_err!("kunit: model {:?}\n", e);
                }
            }
            check!(a == b, "tree and model differ");
            check!(
                nodes == self.store.in_use(),
                "{} node blocks in the tree, {} allocated",
                nodes,
                self.store.in_use()
            );
            let total = model_total(&self.model);
            check!(
                self.blocks == nodes as u64 + total,
                "block count {}, {} nodes + {} data",
                self.blocks,
                nodes,
                total
            );
            self.max_level = self.max_level.max(root_level(&self.root)?);
            for _ in 0..6 {
                let lblk = self.rng.below(LIMIT + 10);
                let m = lookup(&self.store, INO, &self.root, lblk)?;
                match m {
                    Mapping::Mapped(e) => {
                        let want = model_find(&self.model, lblk);
                        check!(
                            want.is_some_and(|w| w.map(lblk) == e.map(lblk) && w.flags == e.flags),
                            "lookup {}: {:?}, model {:?}",
                            lblk,
                            e,
                            want
                        );
                    }
                    Mapping::Hole { end } => {
                        check!(end > lblk, "hole at {} ends at {}", lblk, end);
                        let over = self
                            .model
                            .iter()
                            .find(|e| e.logical_end() > lblk && e.logical < end);
                        check!(
                            over.is_none(),
                            "hole {}..{} but the model maps {:?}",
                            lblk,
                            end,
                            over
                        );
                    }
                }
            }
            let ctx = TreeCtx {
                sb: &self.store,
                ino: INO,
                goal: 1,
                blocks: &mut 0,
                freed: KVec::new(),
            };
            let last = ctx.last_end(&self.root)?;
            let want = self.model.last().map_or(0, |e| e.logical_end());
            check!(last == want, "last_end {}, model {}", last, want);
            let from = self.rng.below(LIMIT);
            let to = from + self.rng.range(1, 50);
            let next = ctx.next_extent(&self.root, from, to)?;
            let want = self
                .model
                .iter()
                .find(|e| e.logical_end() > from && e.logical < to);
            match (next, want) {
                (None, None) => {}
                (Some(n), Some(w)) => check!(
                    n.logical <= w.logical.max(from) && w.logical.max(from) < n.logical_end(),
                    "next_extent {}..{}: {:?}, model {:?}",
                    from,
                    to,
                    n,
                    w
                ),
                _ => check!(
                    next.is_some() == want.is_some(),
                    "next_extent {}..{}: {:?}, model {:?}",
                    from,
                    to,
                    next,
                    want
                ),
            }
            Ok(())
        }

        /// After `compact`: in a single-leaf tree no two neighbours continue each other.
        fn merged(&self) -> Result {
            if root_level(&self.root)? != 0 {
                return Ok(());
            }
            let nr = usize::from(fe(format::node_header(&self.root, NodeForm::Inline))?.nr);
            for i in 1..nr {
                let a: Extent = fe(format::node_get(&self.root, NodeForm::Inline, i - 1))?;
                let b: Extent = fe(format::node_get(&self.root, NodeForm::Inline, i))?;
                check!(!continues(&a, &b), "{:?} and {:?} not merged", a, b);
            }
            Ok(())
        }

        /// Maps a new extent at a random place, in the hole `lookup` reports there and no
        /// longer, as the file code does. Often it continues the extent before it on disk.
        fn insert(&mut self) -> Result {
            let lblk = self.rng.below(SPAN);
            let Mapping::Hole { end } = lookup(&self.store, INO, &self.root, lblk)? else {
                return Ok(());
            };
            let len = self.rng.range(1, (end.min(LIMIT) - lblk).min(8));
            let flags = if self.rng.chance(30) {
                format::EXTENT_UNWRITTEN
            } else {
                0
            };
            let mut e = Extent {
                logical: lblk,
                physical: self.next_phys,
                len: len as u32,
                flags,
            };
            let prev = self.model.iter().find(|p| p.logical_end() == lblk).copied();
            match prev {
                Some(p) if self.rng.chance(50) => {
                    e.physical = p.physical_end();
                    e.flags = p.flags;
                }
                _ => self.next_phys += len + self.rng.below(3),
            }
            self.blocks += len;
            self.update(0, |t, root| t.insert(root, &e))?;
            model_insert(&mut self.model, e)
        }

        fn step(&mut self) -> Result {
            let op = self.rng.below(100);
            let from = self.rng.below(SPAN);
            let to = from + self.rng.range(1, 40);
            match op {
                0..35 => self.insert()?,
                35..47 => {
                    let gone = model_remove(&mut self.model, from, to)?;
                    let steps = self.rng.chance(50).then(|| small_budget(&mut self.rng));
                    self.update(gone, |t, root| {
                        match steps {
                            None => t.punch(root, from, to)?,
                            Some(budget) => {
                                let mut lblk = from;
                                while lblk < to {
                                    let next = t.punch_step(root, lblk, to, budget)?;
                                    check!(next > lblk, "punch step stuck at {}", lblk);
                                    lblk = next;
                                    t.compact(root)?;
                                    valid(t.sb, root)?;
                                }
                            }
                        }
                        t.compact(root)
                    })?;
                    self.merged()?;
                }
                47..50 => {
                    let from = self.rng.range(SPAN / 2, LIMIT);
                    let gone = model_remove(&mut self.model, from, u64::MAX)?;
                    let steps = self.rng.chance(50).then(|| small_budget(&mut self.rng));
                    self.update(gone, |t, root| {
                        match steps {
                            None => t.truncate(root, from)?,
                            Some(budget) => {
                                let mut left = valid(t.sb, root)?;
                                while !t.truncate_step(root, from, budget)? {
                                    let now = valid(t.sb, root)?;
                                    check!(now < left, "truncate step removed nothing");
                                    left = now;
                                }
                            }
                        }
                        t.compact(root)
                    })?;
                    self.merged()?;
                }
                50..62 => {
                    model_split(&mut self.model, from)?;
                    model_split(&mut self.model, to)?;
                    for e in self.model.iter_mut() {
                        if e.logical >= from && e.logical_end() <= to {
                            e.flags &= !format::EXTENT_UNWRITTEN;
                        }
                    }
                    let steps = self.rng.chance(50).then(|| self.rng.range(1, 2));
                    self.update(0, |t, root| {
                        match steps {
                            None => t.mark_written(root, from, to)?,
                            Some(n) => {
                                let mut lblk = from;
                                while lblk < to {
                                    let next = t.mark_written_step(root, lblk, to, n)?;
                                    check!(next > lblk, "conversion step stuck at {}", lblk);
                                    lblk = next;
                                    t.compact(root)?;
                                    valid(t.sb, root)?;
                                }
                            }
                        }
                        t.compact(root)
                    })?;
                    self.merged()?;
                }
                62..70 => {
                    self.update(0, |t, root| t.split_at(root, from))?;
                    model_split(&mut self.model, from)?;
                }
                70..79 => {
                    // Collapse: punch, move down, merge at the seam, as fallocate does.
                    let len = to - from;
                    let gone = model_remove(&mut self.model, from, to)?;
                    for e in self.model.iter_mut() {
                        if e.logical >= to {
                            e.logical -= len;
                        }
                    }
                    let steps = self.rng.chance(50).then(|| self.rng.range(1, 3) as u32);
                    self.update(gone, |t, root| {
                        t.punch(root, from, to)?;
                        match steps {
                            None => t.shift(root, Shift::Down { from, len })?,
                            Some(leaves) => {
                                shift_in_steps(t, root, Shift::Down { from, len }, leaves)?
                            }
                        }
                        t.merge_at(root, from)?;
                        t.compact(root)
                    })?;
                    self.merged()?;
                }
                79..88 => {
                    // Insert range: split at `from`, move up.
                    let len = to - from;
                    if self
                        .model
                        .last()
                        .is_some_and(|e| e.logical_end() + len > LIMIT)
                    {
                        return Ok(());
                    }
                    model_split(&mut self.model, from)?;
                    for e in self.model.iter_mut() {
                        if e.logical >= from {
                            e.logical += len;
                        }
                    }
                    let steps = self.rng.chance(50).then(|| self.rng.range(1, 3) as u32);
                    self.update(0, |t, root| {
                        t.split_at(root, from)?;
                        match steps {
                            None => t.shift(root, Shift::Up { from, len })?,
                            Some(leaves) => {
                                shift_in_steps(t, root, Shift::Up { from, len }, leaves)?
                            }
                        }
                        t.compact(root)
                    })?;
                    self.merged()?;
                }
                88..95 => {
                    self.update(0, |t, root| {
                        t.merge_at(root, from)?;
                        t.compact(root)
                    })?;
                    self.merged()?;
                }
                _ => {
                    self.update(0, |t, root| t.compact(root))?;
                    self.merged()?;
                }
            }
            self.consistent()
        }
    }

    #[test]
    fn tree_ops_match_model() -> Result {
        for seed in [31, 32] {
            let mut h = Harness::new(seed)?;
            for _ in 0..1500 {
                h.step()?;
            }
            check!(
                h.max_level >= 2,
                "seed {}: the tree never grew past level {}",
                seed,
                h.max_level
            );
            // Everything goes, every node block with it.
            let gone = model_total(&h.model);
            h.model.clear();
            h.update(gone, |t, root| t.truncate(root, 0))?;
            h.consistent()?;
            check!(
                h.store.in_use() == 0,
                "{} node blocks left",
                h.store.in_use()
            );
            check!(root_level(&h.root)? == 0, "empty tree is not a leaf");
        }
        Ok(())
    }

    /// An insertion that needs more new node blocks than the store has fails with `ENOSPC`
    /// before it changes anything: the tree, its node blocks and the block count stay as they
    /// were, whichever level of the split chain runs out.
    #[test]
    fn insert_without_room_changes_nothing() -> Result {
        let mut h = Harness::new(34)?;
        let (mut refused, mut deep_refused) = (0, 0);
        for i in 0..400u64 {
            // Extents that never continue each other (gaps on disk), inserted in an order
            // that keeps leaves full: every other slot first, then the ones between.
            let lblk = if i < 200 { 4 * i } else { 4 * (i - 200) + 2 };
            let e = Extent {
                logical: lblk,
                physical: DATA_BASE + 3 * lblk,
                len: 1,
                flags: 0,
            };
            let used = h.store.in_use();
            // No room, then room for one block, then enough.
            for spare in [0, 1, usize::MAX - used] {
                h.store.set_limit(used + spare);
                let root = h.root;
                let blocks = h.blocks;
                h.blocks += 1;
                match h.update(0, |t, root| t.insert(root, &e)) {
                    Ok(()) => {
                        model_insert(&mut h.model, e)?;
                        break;
                    }
                    Err(err) if err == ENOSPC => {
                        check!(spare != usize::MAX - used, "ENOSPC with room to spare");
                        check!(
                            h.root == root,
                            "a refused insertion of {:?} changed the root",
                            e
                        );
                        check!(h.store.in_use() == used, "a refused insertion kept blocks");
                        check!(h.blocks == blocks + 1, "a refused insertion counted blocks");
                        h.blocks = blocks;
                        h.consistent()?;
                        refused += 1;
                        if spare == 1 {
                            deep_refused += 1;
                        }
                    }
                    Err(err) => return Err(err),
                }
            }
        }
        h.store.set_limit(usize::MAX);
        h.consistent()?;
        check!(
            root_level(&h.root)? >= 2,
            "the tree never grew past level {}",
            root_level(&h.root)?
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
    fn insert_extends_previous_extent() -> Result {
        let mut h = Harness::new(33)?;
        let a = Extent {
            logical: 10,
            physical: DATA_BASE + 100,
            len: 5,
            flags: 0,
        };
        // Continues `a` logically and on disk: `a` grows.
        let b = Extent {
            logical: 15,
            physical: DATA_BASE + 105,
            len: 3,
            flags: 0,
        };
        // Continues logically only, then with other flags: separate extents.
        let c = Extent {
            logical: 18,
            physical: DATA_BASE + 200,
            len: 2,
            flags: 0,
        };
        let d = Extent {
            logical: 20,
            physical: DATA_BASE + 202,
            len: 2,
            flags: format::EXTENT_UNWRITTEN,
        };
        for e in [a, b, c, d] {
            h.blocks += u64::from(e.len);
            h.update(0, |t, root| t.insert(root, &e))?;
            model_insert(&mut h.model, e)?;
        }
        h.consistent()?;
        let nr = fe(format::node_header(&h.root, NodeForm::Inline))?.nr;
        check!(nr == 3, "{} extents, want 3", nr);
        let first: Extent = fe(format::node_get(&h.root, NodeForm::Inline, 0))?;
        check!(
            first.logical == 10 && first.len == 8,
            "merged extent {:?}",
            first
        );
        // Writing the unwritten one makes it continue `c`: compaction merges them.
        h.update(0, |t, root| {
            t.mark_written(root, 20, 22)?;
            t.compact(root)
        })?;
        h.model[3].flags = 0;
        h.consistent()?;
        h.merged()?;
        let nr = fe(format::node_header(&h.root, NodeForm::Inline))?.nr;
        check!(nr == 2, "{} extents after writing, want 2", nr);
        Ok(())
    }

    #[test]
    fn shift_moves_offsets() -> Result {
        let mut rng = Rng::new(34);
        for _ in 0..10000 {
            let from = rng.below(1000);
            let len = rng.range(1, 100);
            let x = rng.below(1200);
            let y = x + rng.below(200);
            for how in [Shift::Down { from, len }, Shift::Up { from, len }] {
                let (mx, my) = (how.map(x), how.map(y));
                check!(
                    mx <= my,
                    "{:?} not monotonic: {} -> {}, {} -> {}",
                    how,
                    x,
                    mx,
                    y,
                    my
                );
                let want = match how {
                    Shift::Down { .. } if x >= from + len => x - len,
                    Shift::Down { .. } if x > from => from,
                    Shift::Up { .. } if x >= from => x + len,
                    _ => x,
                };
                check!(mx == want, "{:?} moves {} to {}, want {}", how, x, mx, want);
                check!(
                    (mx != x) == (x >= how.start()),
                    "{:?}: {} moved to {}, start {}",
                    how,
                    x,
                    mx,
                    how.start()
                );
            }
        }
        // A tree: collapse and insert a range and compare with the model.
        let mut h = Harness::new(35)?;
        while h.model.len() < 60 {
            h.insert()?;
        }
        h.consistent()?;
        for _ in 0..200 {
            let from = h.rng.below(SPAN);
            let len = h.rng.range(1, 30);
            let mut moved = KVec::new();
            for e in h.model.iter() {
                if e.logical >= from + len {
                    moved.push((e.physical, e.logical - len), GFP_KERNEL)?;
                }
            }
            let gone = model_remove(&mut h.model, from, from + len)?;
            for e in h.model.iter_mut() {
                if e.logical >= from + len {
                    e.logical -= len;
                }
            }
            h.update(gone, |t, root| {
                t.punch(root, from, from + len)?;
                t.shift(root, Shift::Down { from, len })
            })?;
            h.consistent()?;
            // Every extent after the range is found `len` blocks lower.
            for &(phys, lblk) in moved.iter() {
                let m = lookup(&h.store, INO, &h.root, lblk)?;
                check!(
                    matches!(m, Mapping::Mapped(e) if e.map(lblk) == Some(phys)),
                    "block {} not at {} after collapse: {:?}",
                    phys,
                    lblk,
                    m
                );
            }
            // And back up again: the range is a hole.
            if h.model
                .last()
                .is_some_and(|e| e.logical_end() + len > LIMIT)
            {
                continue;
            }
            model_split(&mut h.model, from)?;
            for e in h.model.iter_mut() {
                if e.logical >= from {
                    e.logical += len;
                }
            }
            h.update(0, |t, root| {
                t.split_at(root, from)?;
                t.shift(root, Shift::Up { from, len })
            })?;
            h.consistent()?;
            let m = lookup(&h.store, INO, &h.root, from)?;
            check!(
                matches!(m, Mapping::Hole { end } if end >= from + len),
                "inserted range at {}+{}: {:?}",
                from,
                len,
                m
            );
        }
        Ok(())
    }

    #[test]
    fn node_ops_match_model() -> Result {
        let mut rng = Rng::new(36);
        let mut buf = [0u8; 256];
        let cap = format::node_capacity(buf.len(), NodeForm::Block, TreeKind::DirIndex, 0);
        for _ in 0..40 {
            let max = rng.range(u64::from(format::MIN_NODE_MAX), u64::from(cap)) as u16;
            fe(format::node_init_max(
                &mut buf,
                NodeForm::Block,
                TreeKind::DirIndex,
                0,
                max,
                9,
                INO,
            ))?;
            let mut model: KVec<u64> = KVec::new();
            for _ in 0..300 {
                let key = rng.below(500);
                let search = fe(format::node_search(&buf, NodeForm::Block, key))?;
                check!(
                    search == model.binary_search(&key),
                    "search {}: {:?}",
                    key,
                    search
                );
                let le = fe(format::node_find_le(&buf, NodeForm::Block, key))?;
                let want = model.iter().rposition(|&k| k <= key);
                check!(le == want, "find_le {}: {:?}, model {:?}", key, le, want);
                match rng.below(4) {
                    0 | 1 => {
                        let Err(pos) = model.binary_search(&key) else {
                            let r = format::node_insert(&mut buf, NodeForm::Block, 0, &DirKey(key));
                            check!(r.is_err(), "duplicate key {} inserted", key);
                            continue;
                        };
                        // A wrong place is refused, whatever the room.
                        let wrong = if pos > 0 { pos - 1 } else { pos + 1 };
                        if wrong <= model.len() && (pos > 0 || !model.is_empty()) {
                            let r =
                                format::node_insert(&mut buf, NodeForm::Block, wrong, &DirKey(key));
                            check!(
                                r.is_err(),
                                "key {} inserted at {}, belongs at {}",
                                key,
                                wrong,
                                pos
                            );
                        }
                        let r = format::node_insert(&mut buf, NodeForm::Block, pos, &DirKey(key));
                        if model.len() == usize::from(max) {
                            check!(r == Err(FormatError::Full), "full node: {:?}", r);
                        } else {
                            check!(r.is_ok(), "insert {} at {}: {:?}", key, pos, r);
                            vec_insert(&mut model, pos, key)?;
                        }
                    }
                    2 if !model.is_empty() => {
                        let pos = rng.below(model.len() as u64) as usize;
                        fe(format::node_remove(&mut buf, NodeForm::Block, pos))?;
                        vec_remove(&mut model, pos)?;
                    }
                    _ if !model.is_empty() => {
                        // Move a key between its neighbours.
                        let pos = rng.below(model.len() as u64) as usize;
                        let lo = if pos > 0 { model[pos - 1] + 1 } else { 0 };
                        let hi = model.get(pos + 1).map_or(600, |&k| k - 1);
                        let k = rng.range(lo, hi);
                        fe(format::node_set_key(&mut buf, NodeForm::Block, pos, k))?;
                        model[pos] = k;
                        if hi < 600 {
                            let r = format::node_set_key(&mut buf, NodeForm::Block, pos, hi + 1);
                            check!(
                                r == Err(FormatError::OutOfOrder),
                                "key order broken: {:?}",
                                r
                            );
                        }
                    }
                    _ => {}
                }
                fe(format::node_seal(&mut buf, NodeForm::Block))?;
                let h = format::node_check(&buf, NodeForm::Block, TreeKind::DirIndex, 9, INO);
                check!(h.is_ok(), "node check: {:?}", h);
                check!(fe(h)?.nr as usize == model.len(), "record count");
                for (i, &k) in model.iter().enumerate() {
                    let got = fe(format::node_key(&buf, NodeForm::Block, i))?;
                    check!(got == k, "record {}: {}, model {}", i, got, k);
                }
            }
        }
        // Overlapping extents pass the key order but not the node check.
        let mut leaf = [0u8; 256];
        fe(format::node_init(
            &mut leaf,
            NodeForm::Block,
            TreeKind::Extent,
            0,
            9,
            INO,
        ))?;
        for (i, (logical, len)) in [(0u64, 4u32), (3, 2)].into_iter().enumerate() {
            let e = Extent {
                logical,
                physical: 100,
                len,
                flags: 0,
            };
            fe(format::node_insert(&mut leaf, NodeForm::Block, i, &e))?;
        }
        fe(format::node_seal(&mut leaf, NodeForm::Block))?;
        let r = format::node_check(&leaf, NodeForm::Block, TreeKind::Extent, 9, INO);
        check!(r.is_err(), "overlapping extents accepted");
        Ok(())
    }

    #[test]
    fn split_push_down_pull_up_keep_records() -> Result {
        let mut rng = Rng::new(37);
        for _ in 0..500 {
            let mut left = [0u8; BS];
            let mut right = [0u8; BS];
            let kind = if rng.chance(50) {
                TreeKind::Extent
            } else {
                TreeKind::DirIndex
            };
            let level = if rng.chance(30) { 1 } else { 0 };
            fe(format::node_init(
                &mut left,
                NodeForm::Block,
                kind,
                level,
                5,
                INO,
            ))?;
            let cap = u64::from(fe(format::node_header(&left, NodeForm::Block))?.max);
            let n = rng.range(2, cap) as usize;
            let mut keys: KVec<u64> = KVec::new();
            let mut k = rng.below(10);
            for i in 0..n {
                k += rng.range(1, 20);
                keys.push(k, GFP_KERNEL)?;
                let r = match (kind, level) {
                    (_, 1) => format::node_insert(
                        &mut left,
                        NodeForm::Block,
                        i,
                        &IndexRec {
                            key: k,
                            child: 1000 + k,
                        },
                    ),
                    (TreeKind::Extent, _) => format::node_insert(
                        &mut left,
                        NodeForm::Block,
                        i,
                        &Extent {
                            logical: k,
                            physical: 1000 + k,
                            len: 1,
                            flags: 0,
                        },
                    ),
                    _ => format::node_insert(&mut left, NodeForm::Block, i, &DirKey(k)),
                };
                fe(r)?;
            }
            let at = if rng.chance(50) {
                rng.range(1, n as u64 - 1) as usize
            } else {
                n.div_ceil(2)
            };
            let sep = if at == n.div_ceil(2) && rng.chance(50) {
                fe(format::node_split(
                    &mut left,
                    NodeForm::Block,
                    &mut right,
                    6,
                    INO,
                ))?
            } else {
                fe(format::node_split_at(
                    &mut left,
                    NodeForm::Block,
                    at,
                    &mut right,
                    6,
                    INO,
                ))?
            };
            check!(sep == keys[at], "separator {}, want {}", sep, keys[at]);
            let lh = format::node_check(&left, NodeForm::Block, kind, 5, INO);
            let rh = format::node_check(&right, NodeForm::Block, kind, 6, INO);
            check!(lh.is_ok() && rh.is_ok(), "after split: {:?} {:?}", lh, rh);
            let (lh, rh) = (fe(lh)?, fe(rh)?);
            check!(
                usize::from(lh.nr) == at && usize::from(rh.nr) == n - at,
                "split {} at {}: {} + {}",
                n,
                at,
                lh.nr,
                rh.nr
            );
            check!(lh.level == level && rh.level == level, "levels change");
            for (i, &k) in keys.iter().enumerate() {
                let got = if i < at {
                    fe(format::node_key(&left, NodeForm::Block, i))?
                } else {
                    fe(format::node_key(&right, NodeForm::Block, i - at))?
                };
                check!(
                    got == k,
                    "record {} is {} after the split, was {}",
                    i,
                    got,
                    k
                );
            }
        }
        // The inline root of an extent tree pushes its extents down and pulls them back.
        for n in 1..=5u64 {
            let mut root = empty_root()?;
            let mut want: KVec<Extent> = KVec::new();
            for i in 0..n {
                let e = Extent {
                    logical: i * 10,
                    physical: 500 + i * 10,
                    len: 3,
                    flags: (i % 2) as u32,
                };
                fe(format::node_insert(
                    &mut root,
                    NodeForm::Inline,
                    i as usize,
                    &e,
                ))?;
                want.push(e, GFP_KERNEL)?;
            }
            let mut child = [0u8; 2 * BS];
            fe(format::node_push_down(
                &mut root,
                NodeForm::Inline,
                &mut child,
                77,
                INO,
            ))?;
            let rh = fe(format::node_check(
                &root,
                NodeForm::Inline,
                TreeKind::Extent,
                0,
                INO,
            ))?;
            check!(
                rh.level == 1 && rh.nr == 1,
                "root after push down: {:?}",
                rh
            );
            let rec: IndexRec = fe(format::node_get(&root, NodeForm::Inline, 0))?;
            check!(rec.key == 0 && rec.child == 77, "root record {:?}", rec);
            let ch = fe(format::node_check(
                &child,
                NodeForm::Block,
                TreeKind::Extent,
                77,
                INO,
            ))?;
            check!(usize::from(ch.nr) == want.len(), "child holds {}", ch.nr);
            for (i, w) in want.iter().enumerate() {
                let e: Extent = fe(format::node_get(&child, NodeForm::Block, i))?;
                check!(e == *w, "child record {}: {:?}, want {:?}", i, e, w);
            }
            let pulled = fe(format::node_pull_up(&mut root, NodeForm::Inline, &child))?;
            check!(pulled, "records of {} extents not pulled up", n);
            let rh = fe(format::node_check(
                &root,
                NodeForm::Inline,
                TreeKind::Extent,
                0,
                INO,
            ))?;
            check!(
                rh.level == 0 && usize::from(rh.nr) == want.len(),
                "root after pull up"
            );
            for (i, w) in want.iter().enumerate() {
                let e: Extent = fe(format::node_get(&root, NodeForm::Inline, i))?;
                check!(e == *w, "root record {}: {:?}, want {:?}", i, e, w);
            }
        }
        Ok(())
    }
}
