// SPDX-License-Identifier: GPL-2.0

//! The directory hash index: a B+tree of kind 2 ("Directory hash index" in
//! `Documentation/filesystems/rextfs.rst`) whose root is the block `dir_index_root` of the
//! directory inode. Leaves hold bare u64 keys `(hash32(name) << 32) | (entry_offset >> 3)`,
//! interior nodes `{key, child}` records. The root never moves: it grows by pushing its records
//! down into a new block and shrinks by pulling a single child back up.
//!
//! Every node read is fully checked (checksum, block number, owner, kind, level, key order);
//! anything wrong is `EFSCORRUPTED` with a log line.

use crate::meta::NodeStore;
use crate::{alloc, format, RextFs};
use format::{DirKey, IndexRec, NodeForm, TreeKind};
use kernel::fs::SuperBlock;
use kernel::prelude::*;

/// State of one update of the hash index of directory `dir`, whose node blocks live in `S`
/// (the super block, or memory in the KUnit tests).
pub(crate) struct IndexCtx<'a, S: NodeStore = SuperBlock<RextFs>> {
    /// The super block.
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
}

impl<'a, S: NodeStore> IndexCtx<'a, S> {
    /// A new update of the index of directory `dir`, whose block count is `blocks`.
    pub(crate) fn new(sb: &'a S, dir: u64, goal: u64, blocks: &'a mut u64) -> Self {
        IndexCtx {
            sb,
            dir,
            goal,
            blocks,
            allocated: KVec::new(),
            freed: KVec::new(),
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

    fn new_node(&mut self, level: u8) -> Result<(u64, KVec<u8>)> {
        self.allocated.reserve(1, GFP_KERNEL)?;
        let mut buf = KVec::from_elem(0u8, self.sb.node_size(), GFP_KERNEL)?;
        let b = self.sb.alloc_node_block(self.goal)?;
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

    /// Reads and checks node `blockno`; `level` is the level it must have, if known.
    fn read_node(&self, blockno: u64, level: Option<u8>) -> Result<KVec<u8>> {
        if !self.sb.in_data_area(blockno, 1) {
            return Err(self.err(format::FormatError::Invalid(
                "index node outside the data area",
            )));
        }
        let buf = self.sb.read_node_block(blockno)?;
        let h = format::node_check(&buf, NodeForm::Block, TreeKind::DirIndex, blockno, self.dir)
            .map_err(|e| self.err(e))?;
        if level.is_some_and(|l| l != h.level) {
            return Err(self.err(format::FormatError::Invalid("wrong child level")));
        }
        Ok(buf)
    }

    fn write_node(&self, blockno: u64, buf: &mut [u8]) -> Result {
        format::node_seal(buf, NodeForm::Block).map_err(|e| self.err(e))?;
        self.sb.write_node_block(blockno, buf)
    }

    fn level_of(&self, buf: &[u8]) -> Result<u8> {
        Ok(format::node_header(buf, NodeForm::Block)
            .map_err(|e| self.err(e))?
            .level)
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

    fn insert_rec(&mut self, node: &mut [u8], level: u8, key: u64) -> Result<Option<(u64, u64)>> {
        if level == 0 {
            return self.insert_at(node, &DirKey(key));
        }
        let i = format::node_find_le(node, NodeForm::Block, key)
            .map_err(|e| self.err(e))?
            .unwrap_or(0);
        let mut rec: IndexRec =
            format::node_get(node, NodeForm::Block, i).map_err(|e| self.err(e))?;
        let mut child = self.read_node(rec.child, Some(level - 1))?;
        let split = self.insert_rec(&mut child, level - 1, key)?;
        self.write_node(rec.child, &mut child)?;
        if key < rec.key {
            // The new key is the smallest of the child: keep the record a lower bound.
            rec.key = key;
            format::node_set(node, NodeForm::Block, i, &rec).map_err(|e| self.err(e))?;
        }
        match split {
            None => Ok(None),
            Some((key, child)) => self.insert_at(node, &IndexRec { key, child }),
        }
    }

    /// Adds `key` to the index rooted at block `root`.
    pub(crate) fn insert(&mut self, root: u64, key: u64) -> Result {
        let mut rbuf = self.read_node(root, None)?;
        let level = self.level_of(&rbuf)?;
        if let Some((key, child)) = self.insert_rec(&mut rbuf, level, key)? {
            // The root split: its lower half moves into a new block one level down.
            if level >= format::MAX_LEVEL {
                return Err(ENOSPC);
            }
            let (lb, mut left) = self.new_node(level)?;
            format::node_push_down(&mut rbuf, NodeForm::Block, &mut left, lb, self.dir)
                .map_err(|e| self.err(e))?;
            self.write_node(lb, &mut left)?;
            self.insert_sorted(&mut rbuf, &IndexRec { key, child })?;
        }
        self.write_node(root, &mut rbuf)
    }

    fn remove_rec(&mut self, node: &mut [u8], level: u8, key: u64) -> Result {
        if level == 0 {
            return match format::node_search(node, NodeForm::Block, key).map_err(|e| self.err(e))? {
                Ok(i) => format::node_remove(node, NodeForm::Block, i).map_err(|e| self.err(e)),
                Err(_) => Err(self.err(format::FormatError::Invalid("entry missing from index"))),
            };
        }
        let i = format::node_find_le(node, NodeForm::Block, key)
            .map_err(|e| self.err(e))?
            .ok_or_else(|| self.err(format::FormatError::Invalid("entry missing from index")))?;
        let rec: IndexRec = format::node_get(node, NodeForm::Block, i).map_err(|e| self.err(e))?;
        let mut child = self.read_node(rec.child, Some(level - 1))?;
        self.remove_rec(&mut child, level - 1, key)?;
        let nr = format::node_header(&child, NodeForm::Block)
            .map_err(|e| self.err(e))?
            .nr;
        if nr == 0 {
            // Non-root nodes are never empty: drop it from its parent, free it later.
            format::node_remove(node, NodeForm::Block, i).map_err(|e| self.err(e))?;
            self.freed.push(rec.child, GFP_KERNEL)?;
            *self.blocks = self.blocks.saturating_sub(1);
        } else {
            self.write_node(rec.child, &mut child)?;
        }
        Ok(())
    }

    /// Removes `key` from the index rooted at block `root`. Emptied nodes are listed in
    /// `self.freed` (see [`free_nodes`]).
    pub(crate) fn remove(&mut self, root: u64, key: u64) -> Result {
        let mut rbuf = self.read_node(root, None)?;
        let level = self.level_of(&rbuf)?;
        self.remove_rec(&mut rbuf, level, key)?;
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

    fn scan_rec(&self, node: &[u8], level: u8, lo: u64, hi: u64, out: &mut KVec<u64>) -> Result {
        let h = format::node_header(node, NodeForm::Block).map_err(|e| self.err(e))?;
        if level == 0 {
            let start =
                match format::node_search(node, NodeForm::Block, lo).map_err(|e| self.err(e))? {
                    Ok(i) | Err(i) => i,
                };
            for i in start..usize::from(h.nr) {
                let k = format::node_key(node, NodeForm::Block, i).map_err(|e| self.err(e))?;
                if k > hi {
                    break;
                }
                out.push(k, GFP_KERNEL)?;
            }
            return Ok(());
        }
        let start = format::node_find_le(node, NodeForm::Block, lo)
            .map_err(|e| self.err(e))?
            .unwrap_or(0);
        for i in start..usize::from(h.nr) {
            let rec: IndexRec =
                format::node_get(node, NodeForm::Block, i).map_err(|e| self.err(e))?;
            if rec.key > hi {
                break;
            }
            let child = self.read_node(rec.child, Some(level - 1))?;
            self.scan_rec(&child, level - 1, lo, hi, out)?;
        }
        Ok(())
    }

    /// Appends to `out` every key in `lo..=hi` of the index rooted at `root`, in order.
    pub(crate) fn scan(&self, root: u64, lo: u64, hi: u64, out: &mut KVec<u64>) -> Result {
        let rbuf = self.read_node(root, None)?;
        let level = self.level_of(&rbuf)?;
        self.scan_rec(&rbuf, level, lo, hi, out)
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

/// Frees node blocks an update removed from an index (see [`IndexCtx::freed`]), once
/// nothing on disk points at them.
pub(crate) fn free_nodes(sb: &SuperBlock<RextFs>, nodes: &[u64]) -> Result {
    let mut r = Ok(());
    for &b in nodes {
        if let Err(e) = alloc::free_blocks(sb, b, 1) {
            r = Err(e);
        }
    }
    r
}

/// Frees every block of the hash index rooted at `root` of directory `dir` (the directory is
/// being freed and nothing points at the index any more). Returns the number of blocks freed.
pub(crate) fn free_index(sb: &SuperBlock<RextFs>, dir: u64, root: u64) -> Result<u64> {
    let mut blocks = 0u64;
    let ctx = IndexCtx::new(sb, dir, 0, &mut blocks);
    let mut nodes = KVec::new();
    ctx.nodes(root, &mut nodes)?;
    for &b in nodes.iter() {
        alloc::free_blocks(sb, b, 1)?;
    }
    Ok(nodes.len() as u64)
}

