// SPDX-License-Identifier: GPL-2.0

//! B+tree algorithms (insert with splits, remove, lookup, walks) built on the
//! single-node functions of the format module. The root is a byte buffer
//! owned by the caller: the inode area for extent trees, the root block for
//! directory indexes. The caller writes the root back.

use crate::error::{msg, Context, Result};
use crate::fs::Fs;
use rextfs_format::*;

enum Ins {
    Done,
    Split(u64, u64),
}

/// All leaf records and node blocks of a tree.
pub struct TreeContents<R> {
    /// Leaf records in key order.
    pub records: Vec<R>,
    /// Block numbers of every non-root node.
    pub nodes: Vec<u64>,
    /// Depth (root level).
    pub root_level: u8,
}

impl Fs {
    fn new_node(&mut self) -> Result<(u64, Vec<u8>)> {
        let b = self.alloc_block(0)?;
        Ok((b, vec![0u8; self.bs()]))
    }

    fn read_node(&mut self, b: u64, kind: TreeKind, owner: u64) -> Result<Vec<u8>> {
        let buf = self.read_block(b)?;
        node_check(&buf, NodeForm::Block, kind, b, owner)
            .ctx(|| format!("inode {owner}: tree node at block {b}"))?;
        Ok(buf)
    }

    /// Inserts `rec` into the tree whose root is `root`. `delta` is
    /// incremented by the number of node blocks allocated.
    pub fn tree_insert<R: Record>(
        &mut self,
        root: &mut [u8],
        form: NodeForm,
        owner: u64,
        rec: &R,
        delta: &mut i64,
    ) -> Result<()> {
        let h = node_header(root, form).ctx(|| format!("inode {owner}: tree root"))?;
        if h.nr >= h.max {
            let (cb, mut child) = self.new_node()?;
            node_push_down(root, form, &mut child, cb, owner)
                .ctx(|| format!("inode {owner}: growing tree"))?;
            self.apply_node_max(&mut child)?;
            self.write_block(cb, &child)?;
            *delta += 1;
        }
        match self.ins_node(root, form, h.kind, owner, rec, delta)? {
            Ins::Done => Ok(()),
            Ins::Split(..) => msg("internal error: root split"),
        }
    }

    fn ins_here<R: Record>(
        &mut self,
        buf: &mut [u8],
        form: NodeForm,
        owner: u64,
        rec: &R,
        delta: &mut i64,
    ) -> Result<Ins> {
        let pos = match node_search(buf, form, rec.key()).ctx(|| "node".into())? {
            Ok(_) => return msg(format!("inode {owner}: duplicate key {}", rec.key())),
            Err(p) => p,
        };
        match node_insert(buf, form, pos, rec) {
            Ok(()) => {
                node_seal(buf, form).ctx(|| "node".into())?;
                return Ok(Ins::Done);
            }
            Err(FormatError::Full) => {}
            Err(e) => return Err(e).ctx(|| format!("inode {owner}: node insert")),
        }
        if form == NodeForm::Inline {
            return msg("internal error: inline node full");
        }
        let (rb, mut right) = self.new_node()?;
        let h = node_header(buf, form).ctx(|| "node".into())?;
        if pos == usize::from(h.nr) {
            // Appending (the common case for growing files and directories):
            // leave the full node alone and start a new one.
            node_init(&mut right, NodeForm::Block, h.kind, h.level, rb, owner)
                .ctx(|| "new node".into())?;
            self.apply_node_max(&mut right)?;
            node_insert(&mut right, NodeForm::Block, 0, rec).ctx(|| "new node".into())?;
            node_seal(&mut right, NodeForm::Block).ctx(|| "node".into())?;
            self.write_block(rb, &right)?;
            *delta += 1;
            return Ok(Ins::Split(rec.key(), rb));
        }
        let sep = node_split(buf, form, &mut right, rb, owner).ctx(|| "split".into())?;
        self.apply_node_max(&mut right)?;
        let target: &mut [u8] = if rec.key() >= sep { &mut right } else { buf };
        let pos = match node_search(target, NodeForm::Block, rec.key()).ctx(|| "node".into())? {
            Ok(_) => return msg("duplicate key"),
            Err(p) => p,
        };
        node_insert(target, NodeForm::Block, pos, rec).ctx(|| "insert after split".into())?;
        node_seal(buf, form).ctx(|| "node".into())?;
        node_seal(&mut right, NodeForm::Block).ctx(|| "node".into())?;
        self.write_block(rb, &right)?;
        *delta += 1;
        Ok(Ins::Split(sep, rb))
    }

    fn ins_node<R: Record>(
        &mut self,
        buf: &mut [u8],
        form: NodeForm,
        kind: TreeKind,
        owner: u64,
        rec: &R,
        delta: &mut i64,
    ) -> Result<Ins> {
        let h = node_header(buf, form).ctx(|| "node".into())?;
        if h.level == 0 {
            return self.ins_here(buf, form, owner, rec, delta);
        }
        let idx = match node_find_le(buf, form, rec.key()).ctx(|| "node".into())? {
            Some(i) => i,
            None => {
                node_set_key(buf, form, 0, rec.key()).ctx(|| "node".into())?;
                0
            }
        };
        let child: IndexRec = node_get(buf, form, idx).ctx(|| "node".into())?;
        let mut cbuf = self.read_node(child.child, kind, owner)?;
        let r = self.ins_node(&mut cbuf, NodeForm::Block, kind, owner, rec, delta)?;
        self.write_block(child.child, &cbuf)?;
        match r {
            Ins::Done => {
                node_seal(buf, form).ctx(|| "node".into())?;
                Ok(Ins::Done)
            }
            Ins::Split(sep, rb) => {
                let ir = IndexRec {
                    key: sep,
                    child: rb,
                };
                self.ins_here(buf, form, owner, &ir, delta)
            }
        }
    }

    /// Removes the record with key `key`. Returns false if absent.
    /// `delta` is decremented by the number of node blocks freed.
    pub fn tree_remove(
        &mut self,
        root: &mut [u8],
        form: NodeForm,
        owner: u64,
        key: u64,
        delta: &mut i64,
    ) -> Result<bool> {
        let h = node_header(root, form).ctx(|| format!("inode {owner}: tree root"))?;
        let found = self.rm_node(root, form, h.kind, owner, key, delta)?;
        let h2 = node_header(root, form).ctx(|| "root".into())?;
        if h2.level > 0 && h2.nr == 0 {
            let (b, o) = match form {
                NodeForm::Block => (meta_blockno(root).unwrap_or(0), owner),
                NodeForm::Inline => (0, 0),
            };
            node_init(root, form, h.kind, 0, b, o).ctx(|| "root".into())?;
        }
        Ok(found)
    }

    fn rm_node(
        &mut self,
        buf: &mut [u8],
        form: NodeForm,
        kind: TreeKind,
        owner: u64,
        key: u64,
        delta: &mut i64,
    ) -> Result<bool> {
        let h = node_header(buf, form).ctx(|| "node".into())?;
        if h.level == 0 {
            return match node_search(buf, form, key).ctx(|| "node".into())? {
                Ok(i) => {
                    node_remove(buf, form, i).ctx(|| "node".into())?;
                    node_seal(buf, form).ctx(|| "node".into())?;
                    Ok(true)
                }
                Err(_) => Ok(false),
            };
        }
        let Some(idx) = node_find_le(buf, form, key).ctx(|| "node".into())? else {
            return Ok(false);
        };
        let child: IndexRec = node_get(buf, form, idx).ctx(|| "node".into())?;
        let mut cbuf = self.read_node(child.child, kind, owner)?;
        if !self.rm_node(&mut cbuf, NodeForm::Block, kind, owner, key, delta)? {
            return Ok(false);
        }
        let ch = node_header(&cbuf, NodeForm::Block).ctx(|| "node".into())?;
        if ch.nr == 0 {
            self.free_run(child.child, 1);
            *delta -= 1;
            node_remove(buf, form, idx).ctx(|| "node".into())?;
        } else {
            self.write_block(child.child, &cbuf)?;
        }
        node_seal(buf, form).ctx(|| "node".into())?;
        Ok(true)
    }

    /// Replaces the record with the same key as `rec`.
    pub fn tree_update<R: Record>(
        &mut self,
        root: &mut [u8],
        form: NodeForm,
        owner: u64,
        rec: &R,
    ) -> Result<bool> {
        let h = node_header(root, form).ctx(|| "root".into())?;
        self.upd_node(root, form, h.kind, owner, rec)
    }

    fn upd_node<R: Record>(
        &mut self,
        buf: &mut [u8],
        form: NodeForm,
        kind: TreeKind,
        owner: u64,
        rec: &R,
    ) -> Result<bool> {
        let h = node_header(buf, form).ctx(|| "node".into())?;
        if h.level == 0 {
            return match node_search(buf, form, rec.key()).ctx(|| "node".into())? {
                Ok(i) => {
                    node_set(buf, form, i, rec).ctx(|| "node".into())?;
                    node_seal(buf, form).ctx(|| "node".into())?;
                    Ok(true)
                }
                Err(_) => Ok(false),
            };
        }
        let Some(idx) = node_find_le(buf, form, rec.key()).ctx(|| "node".into())? else {
            return Ok(false);
        };
        let child: IndexRec = node_get(buf, form, idx).ctx(|| "node".into())?;
        let mut cbuf = self.read_node(child.child, kind, owner)?;
        let done = self.upd_node(&mut cbuf, NodeForm::Block, kind, owner, rec)?;
        if done {
            self.write_block(child.child, &cbuf)?;
        }
        Ok(done)
    }

    /// The record with the largest key `<= key`.
    pub fn tree_find_le<R: Record>(
        &mut self,
        root: &[u8],
        form: NodeForm,
        owner: u64,
        key: u64,
    ) -> Result<Option<R>> {
        let h = node_header(root, form).ctx(|| "root".into())?;
        let mut buf = root.to_vec();
        let mut f = form;
        let mut level = h.level;
        loop {
            let Some(i) = node_find_le(&buf, f, key).ctx(|| "node".into())? else {
                return Ok(None);
            };
            if level == 0 {
                return Ok(Some(node_get(&buf, f, i).ctx(|| "node".into())?));
            }
            let c: IndexRec = node_get(&buf, f, i).ctx(|| "node".into())?;
            buf = self.read_node(c.child, h.kind, owner)?;
            f = NodeForm::Block;
            level = node_header(&buf, f).ctx(|| "node".into())?.level;
        }
    }

    /// Keys of all leaf records in `[lo, hi]`.
    pub fn tree_range(
        &mut self,
        root: &[u8],
        form: NodeForm,
        owner: u64,
        lo: u64,
        hi: u64,
    ) -> Result<Vec<u64>> {
        let mut out = Vec::new();
        let h = node_header(root, form).ctx(|| "root".into())?;
        self.range_node(root, form, h.kind, owner, lo, hi, &mut out)?;
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn range_node(
        &mut self,
        buf: &[u8],
        form: NodeForm,
        kind: TreeKind,
        owner: u64,
        lo: u64,
        hi: u64,
        out: &mut Vec<u64>,
    ) -> Result<()> {
        let h = node_header(buf, form).ctx(|| "node".into())?;
        let n = usize::from(h.nr);
        for i in 0..n {
            let k = node_key(buf, form, i).ctx(|| "node".into())?;
            if h.level == 0 {
                if k >= lo && k <= hi {
                    out.push(k);
                }
                continue;
            }
            let next = if i + 1 < n {
                Some(node_key(buf, form, i + 1).ctx(|| "node".into())?)
            } else {
                None
            };
            if k > hi || next.is_some_and(|nk| nk <= lo) {
                continue;
            }
            let c: IndexRec = node_get(buf, form, i).ctx(|| "node".into())?;
            let cbuf = self.read_node(c.child, kind, owner)?;
            self.range_node(&cbuf, NodeForm::Block, kind, owner, lo, hi, out)?;
        }
        Ok(())
    }

    /// Every leaf record and node block of a tree, checking each node.
    pub fn tree_contents<R: Record>(
        &mut self,
        root: &[u8],
        form: NodeForm,
        owner: u64,
    ) -> Result<TreeContents<R>> {
        let h = node_header(root, form).ctx(|| "root".into())?;
        let mut tc = TreeContents {
            records: Vec::new(),
            nodes: Vec::new(),
            root_level: h.level,
        };
        self.collect(root, form, h.kind, owner, &mut tc)?;
        Ok(tc)
    }

    fn collect<R: Record>(
        &mut self,
        buf: &[u8],
        form: NodeForm,
        kind: TreeKind,
        owner: u64,
        tc: &mut TreeContents<R>,
    ) -> Result<()> {
        let h = node_header(buf, form).ctx(|| "node".into())?;
        for i in 0..usize::from(h.nr) {
            if h.level == 0 {
                tc.records
                    .push(node_get(buf, form, i).ctx(|| "node".into())?);
            } else {
                let c: IndexRec = node_get(buf, form, i).ctx(|| "node".into())?;
                tc.nodes.push(c.child);
                let cbuf = self.read_node(c.child, kind, owner)?;
                self.collect(&cbuf, NodeForm::Block, kind, owner, tc)?;
            }
        }
        Ok(())
    }

    /// Builds a fresh tree root (inline or block `root_blockno`) holding
    /// `records` (sorted, unique keys). Returns the number of node blocks
    /// allocated besides the root.
    pub fn tree_build<R: Record>(
        &mut self,
        root: &mut [u8],
        form: NodeForm,
        kind: TreeKind,
        root_blockno: u64,
        owner: u64,
        records: &[R],
    ) -> Result<i64> {
        let o = if form == NodeForm::Block { owner } else { 0 };
        node_init(root, form, kind, 0, root_blockno, o).ctx(|| "root".into())?;
        let mut delta = 0i64;
        for r in records {
            self.tree_insert(root, form, owner, r, &mut delta)?;
        }
        Ok(delta)
    }
}
