// SPDX-License-Identifier: GPL-2.0

//! Extent tree lookups: logical file block to physical block.

use crate::{corrupt, format, meta, RextFs};
use format::{Extent, IndexRec, NodeForm, TreeKind};
use kernel::fs::SuperBlock;
use kernel::prelude::*;

/// The answer of [`lookup`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum Mapping {
    /// The block lies inside this extent.
    Mapped(Extent),
    /// The block is not mapped; no extent starts before `end` (a logical block, `u64::MAX`
    /// when nothing follows).
    #[allow(dead_code)] // Read by the iomap mapping of regular files, not wired up yet.
    Hole {
        /// First logical block that may be mapped again.
        end: u64,
    },
}

/// Finds the mapping of logical block `lblk` in the extent tree whose inline root is `root`
/// (inode `ino`). Every node read on the way is fully checked.
pub(crate) fn lookup(sb: &SuperBlock<RextFs>, ino: u64, root: &[u8], lblk: u64) -> Result<Mapping> {
    let info = sb.data();
    let err = |e| corrupt(sb, "extent tree node", e);
    let mut upper = u64::MAX;
    let mut block: Option<KVec<u8>> = None;
    let mut level = format::node_check(root, NodeForm::Inline, TreeKind::Extent, 0, ino)
        .map_err(err)?
        .level;
    loop {
        let (buf, form): (&[u8], NodeForm) = match &block {
            None => (root, NodeForm::Inline),
            Some(b) => (b, NodeForm::Block),
        };
        let h = format::node_header(buf, form).map_err(err)?;
        if level == 0 {
            let idx = format::node_find_le(buf, form, lblk).map_err(err)?;
            if let Some(i) = idx {
                let e: Extent = format::node_get(buf, form, i).map_err(err)?;
                if lblk < e.logical_end() {
                    if !info.geo.data_range_valid(e.physical, u64::from(e.len)) {
                        pr_err!("{}: inode {}: extent outside the data area\n", sb.id(), ino);
                        return Err(EFSCORRUPTED);
                    }
                    return Ok(Mapping::Mapped(e));
                }
            }
            let next = idx.map_or(0, |i| i + 1);
            let end = if next < usize::from(h.nr) {
                format::node_key(buf, form, next).map_err(err)?
            } else {
                upper
            };
            return Ok(Mapping::Hole { end });
        }
        let i = format::node_find_le(buf, form, lblk)
            .map_err(err)?
            .unwrap_or(0);
        if usize::from(h.nr) == 0 {
            return Err(err(format::FormatError::Invalid("empty interior node")));
        }
        if i + 1 < usize::from(h.nr) {
            upper = upper.min(format::node_key(buf, form, i + 1).map_err(err)?);
        }
        let rec: IndexRec = format::node_get(buf, form, i).map_err(err)?;
        if !info.geo.data_range_valid(rec.child, 1) {
            return Err(err(format::FormatError::Invalid(
                "child node outside the data area",
            )));
        }
        let child = meta::read_block(sb, rec.child)?;
        let ch = format::node_check(&child, NodeForm::Block, TreeKind::Extent, rec.child, ino)
            .map_err(err)?;
        if ch.level + 1 != level {
            return Err(err(format::FormatError::Invalid("wrong child level")));
        }
        level = ch.level;
        block = Some(child);
    }
}

/// State of one tree update of inode `ino`.
pub(crate) struct TreeCtx<'a> {
    /// The super block.
    pub(crate) sb: &'a SuperBlock<RextFs>,
    /// The inode owning the tree.
    pub(crate) ino: u64,
    /// Allocation goal for new node blocks.
    pub(crate) goal: u64,
    /// Blocks owned by the inode, kept up to date (nodes allocated or freed).
    pub(crate) blocks: &'a mut u64,
    /// Data extents removed from the tree, to free once the tree is on disk.
    pub(crate) freed: KVec<(u64, u64)>,
}

impl TreeCtx<'_> {
    fn err(&self, e: format::FormatError) -> Error {
        corrupt(self.sb, "extent tree node", e)
    }

    fn new_node(&mut self) -> Result<(u64, KVec<u8>)> {
        let (b, _) = crate::alloc::alloc_blocks(self.sb, self.goal, 1)?;
        *self.blocks = self.blocks.saturating_add(1);
        let buf = KVec::from_elem(0u8, self.sb.block_size() as usize, GFP_KERNEL)?;
        Ok((b, buf))
    }

    fn read_node(&self, blockno: u64, level: u8) -> Result<KVec<u8>> {
        if !self.sb.data().geo.data_range_valid(blockno, 1) {
            return Err(self.err(format::FormatError::Invalid(
                "child node outside the data area",
            )));
        }
        let buf = meta::read_block(self.sb, blockno)?;
        let h = format::node_check(&buf, NodeForm::Block, TreeKind::Extent, blockno, self.ino)
            .map_err(|e| self.err(e))?;
        if h.level != level {
            return Err(self.err(format::FormatError::Invalid("wrong child level")));
        }
        Ok(buf)
    }

    fn write_node(&self, blockno: u64, buf: &mut [u8]) -> Result {
        format::node_seal(buf, NodeForm::Block).map_err(|e| self.err(e))?;
        meta::write_block(self.sb, blockno, buf)
    }

    /// Inserts `rec` (of type `R`) in a node with room, keeping keys sorted.
    fn insert_sorted<R: format::Record>(&self, buf: &mut [u8], form: NodeForm, rec: &R) -> Result {
        let pos = match format::node_search(buf, form, rec.key()).map_err(|e| self.err(e))? {
            Ok(_) => return Err(self.err(format::FormatError::OutOfOrder)),
            Err(p) => p,
        };
        format::node_insert(buf, form, pos, rec).map_err(|e| self.err(e))
    }

    /// Inserts `rec` into `node`, splitting it if full: returns the separator key and block of
    /// the new right sibling, for the parent.
    fn insert_at<R: format::Record>(
        &mut self,
        node: &mut [u8],
        form: NodeForm,
        rec: &R,
    ) -> Result<Option<(u64, u64)>> {
        let h = format::node_header(node, form).map_err(|e| self.err(e))?;
        if h.nr < h.max {
            self.insert_sorted(node, form, rec)?;
            return Ok(None);
        }
        let (rb, mut right) = self.new_node()?;
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

    /// Inserts extent `e` below `node` (of `level`); returns a split for the parent.
    fn insert_rec(
        &mut self,
        node: &mut [u8],
        form: NodeForm,
        level: u8,
        e: &Extent,
    ) -> Result<Option<(u64, u64)>> {
        if level == 0 {
            // Extend the previous extent when the new one continues it on disk.
            if let Some(i) = format::node_find_le(node, form, e.logical).map_err(|x| self.err(x))? {
                let mut prev: Extent = format::node_get(node, form, i).map_err(|x| self.err(x))?;
                if prev.logical_end() == e.logical
                    && prev.physical_end() == e.physical
                    && prev.flags == e.flags
                    && u64::from(prev.len) + u64::from(e.len) <= u64::from(format::MAX_EXTENT_LEN)
                {
                    prev.len += e.len;
                    let nr = format::node_header(node, form).map_err(|x| self.err(x))?.nr;
                    let fits_next = i + 1 >= usize::from(nr)
                        || format::node_key(node, form, i + 1).map_err(|x| self.err(x))?
                            >= prev.logical_end();
                    if fits_next {
                        format::node_set(node, form, i, &prev).map_err(|x| self.err(x))?;
                        return Ok(None);
                    }
                }
            }
            return self.insert_at(node, form, e);
        }
        let i = format::node_find_le(node, form, e.logical)
            .map_err(|x| self.err(x))?
            .unwrap_or(0);
        let mut rec: IndexRec = format::node_get(node, form, i).map_err(|x| self.err(x))?;
        let mut child = self.read_node(rec.child, level - 1)?;
        let split = self.insert_rec(&mut child, NodeForm::Block, level - 1, e)?;
        self.write_node(rec.child, &mut child)?;
        if e.logical < rec.key {
            // The new extent is the smallest key of the child: keep the lower bound.
            rec.key = e.logical;
            format::node_set(node, form, i, &rec).map_err(|x| self.err(x))?;
        }
        match split {
            None => Ok(None),
            Some((key, child)) => self.insert_at(node, form, &IndexRec { key, child }),
        }
    }

    /// Inserts extent `e` (which must not overlap any other) in the tree rooted in `root`.
    pub(crate) fn insert(&mut self, root: &mut [u8], e: &Extent) -> Result {
        let h = format::node_header(root, NodeForm::Inline).map_err(|x| self.err(x))?;
        let split = self.insert_rec(root, NodeForm::Inline, h.level, e)?;
        let Some((key, child)) = split else {
            return Ok(());
        };
        // The root split: its lower half moves to a new block one level down and the root
        // points at both halves.
        if h.level >= format::MAX_LEVEL {
            return Err(ENOSPC);
        }
        let (lb, mut left) = self.new_node()?;
        format::node_push_down(root, NodeForm::Inline, &mut left, lb, self.ino)
            .map_err(|x| self.err(x))?;
        self.write_node(lb, &mut left)?;
        self.insert_sorted(root, NodeForm::Inline, &IndexRec { key, child })
    }

    /// Removes every mapping at or after logical block `from` below `node`; the data extents go
    /// to `self.freed`, emptied child nodes are freed.
    fn truncate_rec(&mut self, node: &mut [u8], form: NodeForm, level: u8, from: u64) -> Result {
        loop {
            let h = format::node_header(node, form).map_err(|x| self.err(x))?;
            if h.nr == 0 {
                return Ok(());
            }
            let i = usize::from(h.nr) - 1;
            if level == 0 {
                let mut e: Extent = format::node_get(node, form, i).map_err(|x| self.err(x))?;
                if e.logical >= from {
                    self.freed
                        .push((e.physical, u64::from(e.len)), GFP_KERNEL)?;
                    *self.blocks = self.blocks.saturating_sub(u64::from(e.len));
                    format::node_remove(node, form, i).map_err(|x| self.err(x))?;
                    continue;
                }
                if e.logical_end() > from {
                    let keep = from - e.logical;
                    let cut = u64::from(e.len) - keep;
                    self.freed
                        .push((e.physical.saturating_add(keep), cut), GFP_KERNEL)?;
                    *self.blocks = self.blocks.saturating_sub(cut);
                    e.len = keep as u32;
                    format::node_set(node, form, i, &e).map_err(|x| self.err(x))?;
                }
                return Ok(());
            }
            let rec: IndexRec = format::node_get(node, form, i).map_err(|x| self.err(x))?;
            let mut child = self.read_node(rec.child, level - 1)?;
            self.truncate_rec(&mut child, NodeForm::Block, level - 1, from)?;
            let ch = format::node_header(&child, NodeForm::Block).map_err(|x| self.err(x))?;
            if ch.nr == 0 {
                format::node_remove(node, form, i).map_err(|x| self.err(x))?;
                self.freed.push((rec.child, 1), GFP_KERNEL)?;
                *self.blocks = self.blocks.saturating_sub(1);
                if rec.key >= from {
                    continue;
                }
                return Ok(());
            }
            self.write_node(rec.child, &mut child)?;
            if rec.key >= from {
                // Keys of this child are all >= from, so it must have emptied.
                return Err(self.err(format::FormatError::Invalid("node keys out of order")));
            }
            return Ok(());
        }
    }

    /// Removes every mapping at or after logical block `from` from the tree rooted in `root`.
    /// The removed data blocks are listed in `self.freed` (node blocks too); the caller frees
    /// them once the inode is written.
    pub(crate) fn truncate(&mut self, root: &mut [u8], from: u64) -> Result {
        let h = format::node_header(root, NodeForm::Inline).map_err(|x| self.err(x))?;
        self.truncate_rec(root, NodeForm::Inline, h.level, from)?;
        let h = format::node_header(root, NodeForm::Inline).map_err(|x| self.err(x))?;
        if h.level > 0 && h.nr == 0 {
            // An empty root must be a leaf.
            format::node_init(root, NodeForm::Inline, TreeKind::Extent, 0, 0, self.ino)
                .map_err(|x| self.err(x))?;
        }
        Ok(())
    }
}

/// Frees the blocks a tree update removed (after the inode pointing to the tree was written).
pub(crate) fn free_all(sb: &SuperBlock<RextFs>, freed: &[(u64, u64)]) -> Result {
    for &(start, len) in freed {
        crate::alloc::free_blocks(sb, start, len)?;
    }
    Ok(())
}
