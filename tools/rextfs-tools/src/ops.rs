// SPDX-License-Identifier: GPL-2.0

//! File and directory operations on an image, used by the tests to build
//! non-trivial filesystems and by fsck to repair them. They follow the
//! rules of the on-disk format exactly as the kernel must.

use crate::acl::{acl_type_fault, acl_value_fault};
use crate::error::{msg, Context, Error, Result};
use crate::fs::Fs;
use rextfs_format::*;
use std::collections::HashSet;

/// One directory entry, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Byte offset in the directory (readdir cookie).
    pub offset: u64,
    /// Inode number.
    pub ino: u64,
    /// `FT_*` file type.
    pub file_type: u8,
    /// Name.
    pub name: Vec<u8>,
}

impl Fs {
    // ----- extent trees -------------------------------------------------

    /// All extents of an inode, in logical order.
    pub fn extents(&mut self, ino: u64, inode: &Inode) -> Result<Vec<Extent>> {
        if inode.has_inline_data() {
            return Ok(Vec::new());
        }
        Ok(self
            .tree_contents::<Extent>(&inode.area, NodeForm::Inline, ino)?
            .records)
    }

    /// Block numbers of the extent-tree nodes of an inode (not the root).
    pub fn extent_nodes(&mut self, ino: u64, inode: &Inode) -> Result<Vec<u64>> {
        if inode.has_inline_data() {
            return Ok(Vec::new());
        }
        Ok(self
            .tree_contents::<Extent>(&inode.area, NodeForm::Inline, ino)?
            .nodes)
    }

    /// Maps logical block `lblk`: `(physical, unwritten)`.
    pub fn map_block(&mut self, ino: u64, inode: &Inode, lblk: u64) -> Result<Option<(u64, bool)>> {
        if inode.has_inline_data() {
            return Ok(None);
        }
        let e: Option<Extent> = self.tree_find_le(&inode.area, NodeForm::Inline, ino, lblk)?;
        Ok(e.and_then(|e| e.map(lblk).map(|p| (p, e.unwritten()))))
    }

    /// Adds a mapping, merging it into the previous extent when it is
    /// logically and physically contiguous. Updates `inode.blocks` for new
    /// tree nodes only (the caller accounts the data blocks).
    pub fn add_extent(&mut self, ino: u64, inode: &mut Inode, ext: Extent) -> Result<()> {
        if ext.logical > 0 {
            let prev: Option<Extent> =
                self.tree_find_le(&inode.area, NodeForm::Inline, ino, ext.logical - 1)?;
            if let Some(mut p) = prev {
                if p.logical_end() == ext.logical
                    && p.physical_end() == ext.physical
                    && p.flags == ext.flags
                    && u64::from(p.len) + u64::from(ext.len) <= u64::from(u32::MAX)
                {
                    p.len += ext.len;
                    let next: Option<Extent> = self.tree_find_le(
                        &inode.area,
                        NodeForm::Inline,
                        ino,
                        ext.logical_end() - 1,
                    )?;
                    if next.is_none_or_before(ext.logical) {
                        self.tree_update(&mut inode.area, NodeForm::Inline, ino, &p)?;
                        return Ok(());
                    }
                }
            }
        }
        let mut delta = 0;
        self.tree_insert(&mut inode.area, NodeForm::Inline, ino, &ext, &mut delta)?;
        inode.blocks = inode.blocks.wrapping_add_signed(delta);
        Ok(())
    }

    /// Allocates and maps `len` blocks from logical block `lblk` (which
    /// must be unmapped), possibly as several extents.
    pub fn alloc_extent(
        &mut self,
        ino: u64,
        inode: &mut Inode,
        lblk: u64,
        len: u64,
        flags: u32,
    ) -> Result<()> {
        let mut done = 0;
        while done < len {
            let want = (len - done).min(u64::from(u32::MAX));
            let (start, n) = self.alloc_run(0, want)?;
            inode.blocks += n;
            self.add_extent(
                ino,
                inode,
                Extent {
                    logical: lblk + done,
                    physical: start,
                    len: n as u32,
                    flags,
                },
            )?;
            done += n;
        }
        Ok(())
    }

    /// Frees every block of an inode (data blocks, tree nodes, hash index, extended
    /// attribute and value blocks) and resets its root.
    pub fn free_inode_blocks(&mut self, ino: u64, inode: &mut Inode) -> Result<()> {
        self.free_xattrs(ino, inode)?;
        if !inode.has_inline_data() {
            let tc = self.tree_contents::<Extent>(&inode.area, NodeForm::Inline, ino)?;
            for e in tc.records {
                self.free_run(e.physical, u64::from(e.len));
            }
            for n in tc.nodes {
                self.free_run(n, 1);
            }
        }
        if inode.dir_index_root != 0 {
            let root = self.read_block(inode.dir_index_root)?;
            let tc = self.tree_contents::<DirKey>(&root, NodeForm::Block, ino)?;
            for n in tc.nodes {
                self.free_run(n, 1);
            }
            self.free_run(inode.dir_index_root, 1);
            inode.dir_index_root = 0;
        }
        inode.init_extent_root();
        inode.blocks = 0;
        Ok(())
    }

    // ----- inodes ---------------------------------------------------------

    /// Allocates an inode number and returns a fresh in-memory inode of
    /// `mode` with current timestamps (not yet written).
    pub fn new_inode(&mut self, mode: u16) -> Result<(u64, Inode)> {
        let ino = self.alloc_ino()?;
        let mut inode = Inode::new(mode);
        let t = Timestamp {
            sec: self.now,
            nsec: 0,
        };
        inode.atime = t;
        inode.mtime = t;
        inode.ctime = t;
        inode.btime = t;
        inode.generation = ino as u32;
        if let Some(m) = self.node_max {
            let cap = node_capacity(INLINE_ROOT_SIZE, NodeForm::Inline, TreeKind::Extent, 0);
            node_set_max(
                &mut inode.area,
                NodeForm::Inline,
                m.clamp(MIN_NODE_MAX, cap),
            )
            .ctx(|| "inode root".into())?;
        }
        Ok((ino, inode))
    }

    /// Frees an inode: its blocks, its slot and its bitmap bit.
    pub fn free_inode(&mut self, ino: u64) -> Result<()> {
        if let Ok(mut inode) = self.read_inode(ino) {
            self.free_inode_blocks(ino, &mut inode)?;
        }
        self.zero_inode(ino)?;
        self.free_ino(ino);
        Ok(())
    }

    // ----- directories ------------------------------------------------------

    fn dir_block(&mut self, dir: u64, inode: &Inode, lblk: u64) -> Result<(u64, Vec<u8>)> {
        let (p, _) = self
            .map_block(dir, inode, lblk)?
            .ok_or_else(|| Error::Msg(format!("directory {dir}: hole at block {lblk}")))?;
        let buf = self.read_block(p)?;
        dirblock_check(&buf, p, dir).ctx(|| format!("directory {dir} block {p}"))?;
        Ok((p, buf))
    }

    /// Looks up `name` in directory `dir`: `(ino, file type, offset)`.
    pub fn lookup(&mut self, dir: u64, name: &[u8]) -> Result<Option<(u64, u8, u64)>> {
        let inode = self.read_inode(dir)?;
        if !inode.is_dir() {
            return msg(format!("inode {dir} is not a directory"));
        }
        let bs = self.bs() as u64;
        if inode.dir_index_root != 0 {
            let root = self.read_block(inode.dir_index_root)?;
            node_check(
                &root,
                NodeForm::Block,
                TreeKind::DirIndex,
                inode.dir_index_root,
                dir,
            )
            .ctx(|| format!("directory {dir}: index root"))?;
            let (lo, hi) = dir_hash_range(name_hash(&self.sb.hash_key, name));
            for key in self.tree_range(&root, NodeForm::Block, dir, lo, hi)? {
                let off = dir_key_offset(key);
                let (_, buf) = self.dir_block(dir, &inode, off / bs)?;
                let e = dirent_at(&buf, (off % bs) as usize).ctx(|| format!("directory {dir}"))?;
                if !e.is_free() && e.name == name {
                    return Ok(Some((e.ino, e.file_type, off)));
                }
            }
            return Ok(None);
        }
        for lblk in 0..inode.size / bs {
            let (_, buf) = self.dir_block(dir, &inode, lblk)?;
            if let Some((off, e)) = dirblock_find(&buf, name).ctx(|| format!("directory {dir}"))? {
                return Ok(Some((e.ino, e.file_type, lblk * bs + off as u64)));
            }
        }
        Ok(None)
    }

    /// Every used entry of a directory, in offset order.
    pub fn read_dir(&mut self, dir: u64) -> Result<Vec<Entry>> {
        let inode = self.read_inode(dir)?;
        let bs = self.bs() as u64;
        let mut out = Vec::new();
        for lblk in 0..inode.size / bs {
            let (_, buf) = self.dir_block(dir, &inode, lblk)?;
            for e in DirIter::new(&buf) {
                let (off, e) = e.ctx(|| format!("directory {dir}"))?;
                if !e.is_free() {
                    out.push(Entry {
                        offset: lblk * bs + off as u64,
                        ino: e.ino,
                        file_type: e.file_type,
                        name: e.name.to_vec(),
                    });
                }
            }
        }
        Ok(out)
    }

    /// (Re)builds the hash index of a directory from its entries, freeing
    /// any old index. Writes the inode.
    pub fn rebuild_dir_index(&mut self, dir: u64, inode: &mut Inode) -> Result<()> {
        if inode.dir_index_root != 0 {
            // Old index blocks: free what can be read, the root always.
            if let Ok(root) = self.read_block(inode.dir_index_root) {
                if let Ok(tc) = self.tree_contents::<DirKey>(&root, NodeForm::Block, dir) {
                    for n in tc.nodes {
                        self.free_run(n, 1);
                        inode.blocks = inode.blocks.saturating_sub(1);
                    }
                }
            }
            self.free_run(inode.dir_index_root, 1);
            inode.blocks = inode.blocks.saturating_sub(1);
            inode.dir_index_root = 0;
        }
        self.write_inode(dir, inode)?;
        if inode.size / self.bs() as u64 >= 2 {
            let mut keys: Vec<DirKey> = self
                .read_dir(dir)?
                .iter()
                .filter_map(|e| {
                    dir_index_key(name_hash(&self.sb.hash_key, &e.name), e.offset).map(DirKey)
                })
                .collect();
            keys.sort_by_key(|k| k.0);
            let rb = self.alloc_block(0)?;
            let mut root = vec![0u8; self.bs()];
            node_init(&mut root, NodeForm::Block, TreeKind::DirIndex, 0, rb, dir)
                .ctx(|| "index".into())?;
            self.apply_node_max(&mut root)?;
            let mut delta = 0;
            for k in &keys {
                self.tree_insert(&mut root, NodeForm::Block, dir, k, &mut delta)?;
            }
            self.write_block(rb, &root)?;
            inode.dir_index_root = rb;
            inode.blocks = inode.blocks.wrapping_add_signed(delta) + 1;
            self.write_inode(dir, inode)?;
        }
        Ok(())
    }

    fn index_op(&mut self, dir: u64, inode: &mut Inode, key: u64, insert: bool) -> Result<()> {
        let rb = inode.dir_index_root;
        let mut root = self.read_block(rb)?;
        node_check(&root, NodeForm::Block, TreeKind::DirIndex, rb, dir)
            .ctx(|| format!("directory {dir}: index root"))?;
        let mut delta = 0;
        if insert {
            self.tree_insert(&mut root, NodeForm::Block, dir, &DirKey(key), &mut delta)?;
        } else {
            self.tree_remove(&mut root, NodeForm::Block, dir, key, &mut delta)?;
        }
        self.write_block(rb, &root)?;
        inode.blocks = inode.blocks.wrapping_add_signed(delta);
        Ok(())
    }

    /// Adds entry `name -> ino` to directory `dir`. New blocks are appended
    /// when the last block is full; the hash index is created when the
    /// directory reaches two blocks and maintained afterwards.
    pub fn add_entry(&mut self, dir: u64, name: &[u8], ino: u64, ft: u8) -> Result<u64> {
        if !name_valid(name) {
            return msg(format!("invalid name {:?}", String::from_utf8_lossy(name)));
        }
        if self.lookup(dir, name)?.is_some() {
            return msg(format!("{:?} exists", String::from_utf8_lossy(name)));
        }
        let mut inode = self.read_inode(dir)?;
        let bs = self.bs() as u64;
        let nblocks = inode.size / bs;
        let mut placed = None;
        if nblocks > 0 {
            let (p, mut buf) = self.dir_block(dir, &inode, nblocks - 1)?;
            match dirblock_insert(&mut buf, name, ino, ft) {
                Ok(off) => {
                    dirblock_seal(&mut buf).ctx(|| "dir".into())?;
                    self.write_block(p, &buf)?;
                    placed = Some((nblocks - 1) * bs + off as u64);
                }
                Err(FormatError::Full) => {}
                Err(e) => return Err(e).ctx(|| format!("directory {dir}")),
            }
        }
        let offset = match placed {
            Some(o) => o,
            None => {
                if (nblocks + 1) * bs > DIR_MAX_SIZE {
                    return msg(format!("directory {dir} is full"));
                }
                let prev = self
                    .map_block(dir, &inode, nblocks.wrapping_sub(1))?
                    .map(|x| x.0 + 1);
                let p = self.alloc_block(prev.unwrap_or(0))?;
                let mut buf = vec![0u8; bs as usize];
                dirblock_init(&mut buf, p, dir).ctx(|| "dir".into())?;
                let off = dirblock_insert(&mut buf, name, ino, ft).ctx(|| "dir".into())?;
                dirblock_seal(&mut buf).ctx(|| "dir".into())?;
                self.write_block(p, &buf)?;
                inode.blocks += 1;
                self.add_extent(
                    dir,
                    &mut inode,
                    Extent {
                        logical: nblocks,
                        physical: p,
                        len: 1,
                        flags: 0,
                    },
                )?;
                inode.size += bs;
                if nblocks + 1 >= 2 && inode.dir_index_root == 0 {
                    self.write_inode(dir, &inode)?;
                    self.rebuild_dir_index(dir, &mut inode)?;
                    return Ok(nblocks * bs + off as u64);
                }
                nblocks * bs + off as u64
            }
        };
        if inode.dir_index_root != 0 {
            let key = dir_index_key(name_hash(&self.sb.hash_key, name), offset)
                .ok_or_else(|| Error::Msg("directory too large".into()))?;
            self.index_op(dir, &mut inode, key, true)?;
        }
        self.write_inode(dir, &inode)?;
        Ok(offset)
    }

    /// Removes entry `name` from directory `dir`; returns its inode number.
    pub fn remove_entry(&mut self, dir: u64, name: &[u8]) -> Result<u64> {
        let Some((ino, _, off)) = self.lookup(dir, name)? else {
            return msg(format!("{:?} not found", String::from_utf8_lossy(name)));
        };
        let mut inode = self.read_inode(dir)?;
        let bs = self.bs() as u64;
        let (p, mut buf) = self.dir_block(dir, &inode, off / bs)?;
        dirblock_remove(&mut buf, (off % bs) as usize).ctx(|| "dir".into())?;
        dirblock_seal(&mut buf).ctx(|| "dir".into())?;
        self.write_block(p, &buf)?;
        if inode.dir_index_root != 0 {
            let key = dir_index_key(name_hash(&self.sb.hash_key, name), off).unwrap_or(0);
            self.index_op(dir, &mut inode, key, false)?;
            self.write_inode(dir, &inode)?;
        }
        Ok(ino)
    }

    // ----- namespace operations ---------------------------------------------

    /// Fails unless `name` can be added to directory `parent`.
    fn check_new_name(&mut self, parent: u64, name: &[u8]) -> Result<()> {
        if !name_valid(name) {
            return msg(format!("invalid name {:?}", String::from_utf8_lossy(name)));
        }
        if self.lookup(parent, name)?.is_some() {
            return msg(format!("{:?} exists", String::from_utf8_lossy(name)));
        }
        Ok(())
    }

    /// Creates a directory.
    pub fn mkdir(&mut self, parent: u64, name: &[u8], perm: u16) -> Result<u64> {
        self.check_new_name(parent, name)?;
        let (ino, mut inode) = self.new_inode(S_IFDIR | (perm & 0o7777))?;
        inode.nlink = 2;
        inode.parent = parent;
        self.write_inode(ino, &inode)?;
        self.add_entry(parent, name, ino, FT_DIR)?;
        let mut p = self.read_inode(parent)?;
        p.nlink += 1;
        self.write_inode(parent, &p)?;
        Ok(ino)
    }

    /// Creates an inode of any non-directory type and links it.
    pub fn mknod(&mut self, parent: u64, name: &[u8], mode: u16, rdev: u32) -> Result<u64> {
        if mode & S_IFMT == S_IFDIR {
            return msg("use mkdir for directories");
        }
        self.check_new_name(parent, name)?;
        let (ino, mut inode) = self.new_inode(mode)?;
        inode.nlink = 1;
        inode.rdev = rdev;
        self.write_inode(ino, &inode)?;
        self.add_entry(parent, name, ino, file_type_of_mode(mode))?;
        Ok(ino)
    }

    /// Creates an empty regular file.
    pub fn create(&mut self, parent: u64, name: &[u8], perm: u16) -> Result<u64> {
        self.mknod(parent, name, S_IFREG | (perm & 0o7777), 0)
    }

    /// Creates a symlink (fast if the target fits in the inode).
    pub fn symlink(&mut self, parent: u64, name: &[u8], target: &[u8]) -> Result<u64> {
        if target.is_empty() || target.len() as u64 > MAX_SYMLINK_LEN || target.contains(&0) {
            return msg("bad symlink target");
        }
        self.check_new_name(parent, name)?;
        let (ino, mut inode) = self.new_inode(S_IFLNK | 0o777)?;
        inode.nlink = 1;
        if target.len() <= FAST_SYMLINK_MAX {
            inode.set_inline_target(target).ctx(|| "symlink".into())?;
            self.write_inode(ino, &inode)?;
        } else {
            inode.size = target.len() as u64;
            self.write_inode(ino, &inode)?;
            self.write(ino, 0, target)?;
        }
        self.add_entry(parent, name, ino, FT_LNK)?;
        Ok(ino)
    }

    /// Reads a symlink target.
    pub fn readlink(&mut self, ino: u64) -> Result<Vec<u8>> {
        let inode = self.read_inode(ino)?;
        if let Some(t) = inode.inline_target() {
            return Ok(t.to_vec());
        }
        self.read(ino)
    }

    /// Adds a hard link to a non-directory.
    pub fn link(&mut self, parent: u64, name: &[u8], ino: u64) -> Result<()> {
        let mut inode = self.read_inode(ino)?;
        if inode.is_dir() {
            return msg("hard links to directories are not allowed");
        }
        self.add_entry(parent, name, ino, file_type_of_mode(inode.mode))?;
        inode.nlink += 1;
        self.write_inode(ino, &inode)
    }

    /// Removes a name. When the last link goes, the inode is freed, or put
    /// on the orphan list if `keep_open` (as the kernel does for an
    /// unlinked file that is still open).
    pub fn unlink(&mut self, parent: u64, name: &[u8], keep_open: bool) -> Result<()> {
        let Some((ino, _, _)) = self.lookup(parent, name)? else {
            return msg("not found");
        };
        let mut inode = self.read_inode(ino)?;
        if inode.is_dir() {
            if !self.read_dir(ino)?.is_empty() {
                return msg("directory not empty");
            }
            let mut p = self.read_inode(parent)?;
            p.nlink -= 1;
            self.write_inode(parent, &p)?;
            inode.nlink = 0;
        } else {
            inode.nlink -= 1;
        }
        self.remove_entry(parent, name)?;
        if inode.nlink == 0 {
            if keep_open {
                inode.next_orphan = self.sb.orphan_head;
                if inode.is_dir() {
                    inode.parent = parent;
                }
                self.sb.orphan_head = ino;
                self.write_inode(ino, &inode)?;
            } else {
                self.free_inode(ino)?;
            }
        } else {
            self.write_inode(ino, &inode)?;
        }
        Ok(())
    }

    // ----- file data ----------------------------------------------------------

    /// Writes `data` at byte offset `off` of a regular file or slow symlink,
    /// allocating blocks as needed (holes stay holes).
    pub fn write(&mut self, ino: u64, off: u64, data: &[u8]) -> Result<()> {
        let mut inode = self.read_inode(ino)?;
        let bs = self.bs() as u64;
        if data.is_empty() {
            return Ok(());
        }
        let end = off + data.len() as u64;
        let first = off / bs;
        let last = (end - 1) / bs;
        let mut lblk = first;
        while lblk <= last {
            match self.map_block(ino, &inode, lblk)? {
                Some((_, true)) => return msg("writing into unwritten extents is not supported"),
                Some(_) => lblk += 1,
                None => {
                    let mut run = 1;
                    while lblk + run <= last && self.map_block(ino, &inode, lblk + run)?.is_none() {
                        run += 1;
                    }
                    self.alloc_extent(ino, &mut inode, lblk, run, 0)?;
                    lblk += run;
                }
            }
        }
        for lblk in first..=last {
            let (p, _) = self.map_block(ino, &inode, lblk)?.unwrap_or((0, false));
            let bstart = lblk * bs;
            let lo = off.max(bstart);
            let hi = end.min(bstart + bs);
            let src = &data[(lo - off) as usize..(hi - off) as usize];
            let mut buf = if hi - lo == bs {
                vec![0u8; bs as usize]
            } else {
                self.read_block(p)?
            };
            buf[(lo - bstart) as usize..(hi - bstart) as usize].copy_from_slice(src);
            self.write_block(p, &buf)?;
        }
        inode.size = inode.size.max(end);
        self.write_inode(ino, &inode)
    }

    /// Reads the whole content of a file (holes and unwritten extents read
    /// as zeroes).
    pub fn read(&mut self, ino: u64) -> Result<Vec<u8>> {
        let inode = self.read_inode(ino)?;
        let bs = self.bs() as u64;
        let mut out = vec![0u8; inode.size as usize];
        for e in self.extents(ino, &inode)? {
            if e.unwritten() {
                continue;
            }
            for i in 0..u64::from(e.len) {
                let pos = (e.logical + i) * bs;
                if pos >= inode.size {
                    break;
                }
                let buf = self.read_block(e.physical + i)?;
                let n = (inode.size - pos).min(bs) as usize;
                out[pos as usize..pos as usize + n].copy_from_slice(&buf[..n]);
            }
        }
        Ok(out)
    }

    /// Preallocates `len` unwritten blocks at logical block `lblk`.
    pub fn fallocate(&mut self, ino: u64, lblk: u64, len: u64) -> Result<()> {
        let mut inode = self.read_inode(ino)?;
        self.alloc_extent(ino, &mut inode, lblk, len, EXTENT_UNWRITTEN)?;
        self.write_inode(ino, &inode)
    }
}

// ----- extended attributes ----------------------------------------------------

/// The prefix of namespace `index` in attribute names: `user.` ... or the whole
/// name of the two ACL namespaces; `?` for an unknown index.
pub fn xattr_prefix(index: u8) -> &'static str {
    match index {
        XATTR_INDEX_USER => "user.",
        XATTR_INDEX_TRUSTED => "trusted.",
        XATTR_INDEX_SECURITY => "security.",
        XATTR_INDEX_ACL_ACCESS => "system.posix_acl_access",
        XATTR_INDEX_ACL_DEFAULT => "system.posix_acl_default",
        _ => "?",
    }
}

/// The full name of attribute (`index`, `name`), as the VFS sees it.
pub fn xattr_full_name(index: u8, name: &[u8]) -> String {
    format!("{}{}", xattr_prefix(index), String::from_utf8_lossy(name))
}

/// Splits a full attribute name into its namespace index and the name stored on
/// disk; `None` for a namespace the format does not have.
pub fn xattr_split(full: &[u8]) -> Option<(u8, &[u8])> {
    for index in [XATTR_INDEX_ACL_ACCESS, XATTR_INDEX_ACL_DEFAULT] {
        if full == xattr_prefix(index).as_bytes() {
            return Some((index, &full[full.len()..]));
        }
    }
    for index in [XATTR_INDEX_USER, XATTR_INDEX_TRUSTED, XATTR_INDEX_SECURITY] {
        if let Some(rest) = full.strip_prefix(xattr_prefix(index).as_bytes()) {
            return Some((index, rest));
        }
    }
    None
}

/// Whether an inode of file type `ft` (`S_IF*`) may hold attributes of namespace
/// `index`: the VFS refuses `user.` attributes on anything but regular files and
/// directories.
pub fn xattr_allowed(index: u8, ft: u16) -> bool {
    index != XATTR_INDEX_USER || matches!(ft, S_IFREG | S_IFDIR)
}

/// One extended attribute of an inode as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XattrRecord {
    /// The xattr block holding its entry.
    pub block: u64,
    /// Namespace index (`XATTR_INDEX_*`).
    pub index: u8,
    /// Name without the namespace prefix.
    pub name: Vec<u8>,
    /// The value.
    pub value: Vec<u8>,
    /// Its value blocks in chain order; empty for an inline value.
    pub value_blocks: Vec<u64>,
}

impl XattrRecord {
    /// The full name (`user.foo`).
    pub fn full_name(&self) -> String {
        xattr_full_name(self.index, &self.name)
    }
}

/// The extended attributes of an inode, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XattrChain {
    /// The xattr blocks in chain order.
    pub blocks: Vec<u64>,
    /// Every attribute, in chain and entry order.
    pub attrs: Vec<XattrRecord>,
}

impl XattrChain {
    /// Blocks the attributes take: xattr blocks and value blocks.
    pub fn block_count(&self) -> u64 {
        self.blocks.len() as u64
            + self
                .attrs
                .iter()
                .map(|a| a.value_blocks.len() as u64)
                .sum::<u64>()
    }
}

/// An xattr block being changed.
struct XBlock {
    blockno: u64,
    buf: Vec<u8>,
    dirty: bool,
}

impl Fs {
    /// Reads and checks the chain of xattr blocks of `ino` (each block's header,
    /// checksum, owner and entries, block numbers in the data area, no loop, at most
    /// [`XATTR_MAX_BLOCKS`]).
    fn xattr_blocks(&mut self, ino: u64, inode: &Inode) -> Result<Vec<XBlock>> {
        let mut out: Vec<XBlock> = Vec::new();
        let mut cur = inode.xattr;
        while cur != 0 {
            if out.len() >= XATTR_MAX_BLOCKS as usize {
                return msg(format!(
                    "inode {ino}: xattr chain longer than {XATTR_MAX_BLOCKS} blocks"
                ));
            }
            if !self.sb.data_range_valid(cur, 1) {
                return msg(format!(
                    "inode {ino}: xattr block {cur} outside the data area"
                ));
            }
            if out.iter().any(|x| x.blockno == cur) {
                return msg(format!(
                    "inode {ino}: loop in the xattr chain at block {cur}"
                ));
            }
            let buf = self.read_block(cur)?;
            xattr_block_check(&buf, cur, ino).ctx(|| format!("inode {ino}: xattr block {cur}"))?;
            let next = xattr_block_next(&buf);
            out.push(XBlock {
                blockno: cur,
                buf,
                dirty: false,
            });
            cur = next;
        }
        Ok(out)
    }

    /// Reads the chain of value blocks of `ino` from `first` holding a value of `len`
    /// bytes; `seen` holds the blocks of the inode's attributes met so far (a block met
    /// twice is an error), and every block but the last must be full. Returns the value
    /// and its blocks.
    fn xvalue_read(
        &mut self,
        ino: u64,
        first: u64,
        len: usize,
        seen: &mut HashSet<u64>,
    ) -> Result<(Vec<u8>, Vec<u64>)> {
        let mut value = Vec::with_capacity(len);
        let mut blocks = Vec::new();
        let mut cur = first;
        while cur != 0 {
            if !self.sb.data_range_valid(cur, 1) {
                return msg(format!(
                    "inode {ino}: xattr value block {cur} outside the data area"
                ));
            }
            if !seen.insert(cur) {
                return msg(format!("inode {ino}: xattr value block {cur} used twice"));
            }
            let buf = self.read_block(cur)?;
            let (next, data) = xvalue_block_check(&buf, cur, ino)
                .ctx(|| format!("inode {ino}: xattr value block {cur}"))?;
            if next != 0 && data.len() != xvalue_capacity(buf.len()) {
                return msg(format!(
                    "inode {ino}: xattr value block {cur} is not full and not the last of \
                     its chain"
                ));
            }
            value.extend_from_slice(data);
            blocks.push(cur);
            if value.len() > len {
                return msg(format!(
                    "inode {ino}: xattr value chain from block {first} longer than {len} bytes"
                ));
            }
            cur = next;
        }
        if value.len() != len {
            return msg(format!(
                "inode {ino}: xattr value chain from block {first} holds {} of {len} bytes",
                value.len()
            ));
        }
        Ok((value, blocks))
    }

    /// Every extended attribute of inode `ino` (`inode`), checked as fsck does: the
    /// chain, every value chain, no name twice.
    pub fn xattr_chain(&mut self, ino: u64, inode: &Inode) -> Result<XattrChain> {
        let xb = self.xattr_blocks(ino, inode)?;
        let mut seen: HashSet<u64> = xb.iter().map(|x| x.blockno).collect();
        let mut out = XattrChain {
            blocks: xb.iter().map(|x| x.blockno).collect(),
            attrs: Vec::new(),
        };
        for x in &xb {
            for e in XattrIter::new(&x.buf) {
                if out
                    .attrs
                    .iter()
                    .any(|a| a.index == e.index && a.name == e.name)
                {
                    return msg(format!(
                        "inode {ino}: xattr {} twice",
                        xattr_full_name(e.index, e.name)
                    ));
                }
                let (value, value_blocks) = match e.value {
                    XattrValue::Inline(v) => (v.to_vec(), Vec::new()),
                    XattrValue::External { len, block } => {
                        self.xvalue_read(ino, block, len as usize, &mut seen)?
                    }
                };
                out.attrs.push(XattrRecord {
                    block: x.blockno,
                    index: e.index,
                    name: e.name.to_vec(),
                    value,
                    value_blocks,
                });
            }
        }
        Ok(out)
    }

    /// Names (`index`, `name`) of the extended attributes of `ino`.
    pub fn xattr_list(&mut self, ino: u64) -> Result<Vec<(u8, Vec<u8>)>> {
        let inode = self.read_inode(ino)?;
        Ok(self
            .xattr_chain(ino, &inode)?
            .attrs
            .into_iter()
            .map(|a| (a.index, a.name))
            .collect())
    }

    /// The value of attribute (`index`, `name`) of `ino`, `None` if it has none.
    pub fn xattr_get(&mut self, ino: u64, index: u8, name: &[u8]) -> Result<Option<Vec<u8>>> {
        let inode = self.read_inode(ino)?;
        Ok(self
            .xattr_chain(ino, &inode)?
            .attrs
            .into_iter()
            .find(|a| a.index == index && a.name == name)
            .map(|a| a.value))
    }

    /// Removes the entry (`index`, `name`) from the in-memory blocks of `ino`; returns
    /// its value blocks (to be freed by the caller), `None` if there was no such entry.
    fn xattr_take(
        &mut self,
        ino: u64,
        xb: &mut [XBlock],
        index: u8,
        name: &[u8],
    ) -> Result<Option<Vec<u64>>> {
        let mut seen = HashSet::new();
        for x in xb.iter_mut() {
            let Some(e) = xattr_block_find(&x.buf, index, name) else {
                continue;
            };
            let (off, value) = (e.off, e.value);
            let mut blocks = Vec::new();
            if let XattrValue::External { len, block } = value {
                blocks = self.xvalue_read(ino, block, len as usize, &mut seen)?.1;
            }
            xattr_block_remove(&mut x.buf, off).ctx(|| format!("inode {ino}: xattr block"))?;
            x.dirty = true;
            return Ok(Some(blocks));
        }
        Ok(None)
    }

    /// Frees the value blocks of a removed entry.
    fn xattr_free_value(&mut self, inode: &mut Inode, blocks: &[u64]) {
        for &b in blocks {
            self.free_run(b, 1);
        }
        inode.blocks = inode.blocks.saturating_sub(blocks.len() as u64);
    }

    /// Allocates `n` blocks near `goal`, all or none.
    fn alloc_blocks(&mut self, goal: u64, n: usize) -> Result<Vec<u64>> {
        let mut out = Vec::with_capacity(n);
        let mut goal = goal;
        while out.len() < n {
            match self.alloc_block(goal) {
                Ok(b) => {
                    goal = b + 1;
                    out.push(b);
                }
                Err(e) => {
                    for &b in &out {
                        self.free_run(b, 1);
                    }
                    return Err(e);
                }
            }
        }
        Ok(out)
    }

    /// Unlinks and frees the empty blocks of a chain, writes the changed blocks and the
    /// inode.
    fn xattr_commit(&mut self, ino: u64, inode: &mut Inode, xb: Vec<XBlock>) -> Result<()> {
        let mut kept: Vec<XBlock> = Vec::with_capacity(xb.len());
        for x in xb {
            if xattr_block_count(&x.buf) == 0 {
                self.free_run(x.blockno, 1);
                inode.blocks = inode.blocks.saturating_sub(1);
                if let Some(prev) = kept.last_mut() {
                    prev.dirty = true;
                }
            } else {
                kept.push(x);
            }
        }
        for i in 0..kept.len() {
            let next = kept.get(i + 1).map_or(0, |n| n.blockno);
            let x = &mut kept[i];
            if xattr_block_next(&x.buf) != next {
                xattr_block_set_next(&mut x.buf, next);
                x.dirty = true;
            }
            if x.dirty {
                meta_seal(&mut x.buf).ctx(|| format!("inode {ino}: xattr block"))?;
                let (b, buf) = (x.blockno, std::mem::take(&mut x.buf));
                self.write_block(b, &buf)?;
            }
        }
        inode.xattr = kept.first().map_or(0, |x| x.blockno);
        inode.ctime = Timestamp {
            sec: self.now,
            nsec: 0,
        };
        self.write_inode(ino, inode)
    }

    /// Sets attribute (`index`, `name`) of `ino` to `value`, replacing an old value, as
    /// the kernel does: inline when it has at most [`xattr_inline_max`] bytes, else in a
    /// chain of value blocks; in the first xattr block with room, or in a new block
    /// appended to the chain (at most [`XATTR_MAX_BLOCKS`]). `user.` attributes are
    /// refused on inodes other than regular files and directories, as the VFS does, and
    /// so is a new name that would take the listed names past [`XATTR_LIST_MAX`], as the
    /// kernel does. An ACL (`system.posix_acl_access`, `system.posix_acl_default`) is
    /// refused as the kernel refuses it: on a symlink, a default ACL on anything but a
    /// directory, a value longer than [`xattr_inline_max`] (ACLs are always inline) or
    /// not a valid ACL (see [`crate::acl::acl_parse`]).
    pub fn xattr_set(&mut self, ino: u64, index: u8, name: &[u8], value: &[u8]) -> Result<()> {
        if !xattr_name_valid(index, name) {
            return msg(format!(
                "invalid attribute name {:?}",
                xattr_full_name(index, name)
            ));
        }
        if value.len() > XATTR_VALUE_MAX {
            return msg(format!(
                "attribute value of {} bytes is too long",
                value.len()
            ));
        }
        let mut inode = self.read_inode(ino)?;
        if !xattr_allowed(index, inode.file_type()) {
            return msg(format!(
                "inode {ino}: user attributes only on regular files and directories"
            ));
        }
        let bs = self.bs();
        if matches!(index, XATTR_INDEX_ACL_ACCESS | XATTR_INDEX_ACL_DEFAULT) {
            let full = xattr_full_name(index, name);
            if let Some(w) = acl_type_fault(index, inode.file_type()) {
                return msg(format!("inode {ino}: {full} refused: {w}"));
            }
            if let Some(w) = acl_value_fault(value, bs) {
                return msg(format!("inode {ino}: {full} refused: the value {w}"));
            }
        }
        let mut xb = self.xattr_blocks(ino, &inode)?;
        let entries = || xb.iter().flat_map(|x| XattrIter::new(&x.buf));
        if !entries().any(|e| e.index == index && e.name == name) {
            let listed: usize = entries().map(|e| xattr_list_size(e.index, e.name)).sum();
            let want = listed + xattr_list_size(index, name);
            if want > XATTR_LIST_MAX {
                return msg(format!(
                    "inode {ino}: the listed attribute names would take {want} bytes, more \
                     than XATTR_LIST_MAX ({XATTR_LIST_MAX})"
                ));
            }
        }
        let old = self.xattr_take(ino, &mut xb, index, name)?;
        let inline = value.len() <= xattr_inline_max(bs);
        let size = xattr_entry_size(name.len(), inline.then_some(value.len()));
        let target = xb.iter().position(|x| xattr_block_free(&x.buf) >= size);
        if target.is_none() && xb.len() >= XATTR_MAX_BLOCKS as usize {
            // Nothing was changed, on disk or in the allocation maps.
            return msg(format!(
                "inode {ino}: no room for the attribute in {XATTR_MAX_BLOCKS} xattr blocks"
            ));
        }
        let nvalue = if inline {
            0
        } else {
            xvalue_blocks(bs, value.len())
        };
        let goal = xb.last().map_or(0, |x| x.blockno + 1);
        let mut new = self.alloc_blocks(goal, nvalue + usize::from(target.is_none()))?;
        if let Some(old) = old {
            self.xattr_free_value(&mut inode, &old);
        }
        let target = match target {
            Some(t) => t,
            None => {
                let b = new.remove(0);
                let mut buf = vec![0u8; bs];
                xattr_block_init(&mut buf, b, ino).ctx(|| "xattr block".into())?;
                inode.blocks += 1;
                xb.push(XBlock {
                    blockno: b,
                    buf,
                    dirty: true,
                });
                xb.len() - 1
            }
        };
        let v = if inline {
            XattrValue::Inline(value)
        } else {
            for (i, chunk) in value.chunks(xvalue_capacity(bs)).enumerate() {
                let next = new.get(i + 1).copied().unwrap_or(0);
                let mut buf = vec![0u8; bs];
                xvalue_block_init(&mut buf, new[i], ino, next, chunk)
                    .and_then(|()| meta_seal(&mut buf))
                    .ctx(|| "xattr value block".into())?;
                self.write_block(new[i], &buf)?;
            }
            inode.blocks += new.len() as u64;
            XattrValue::External {
                len: value.len() as u32,
                block: new[0],
            }
        };
        let x = &mut xb[target];
        xattr_block_insert(&mut x.buf, index, name, v).ctx(|| format!("inode {ino}: xattr"))?;
        x.dirty = true;
        self.xattr_commit(ino, &mut inode, xb)
    }

    /// Removes attribute (`index`, `name`) of `ino`: its entry, its value blocks, and
    /// its xattr block if that is left empty. Returns whether it existed.
    pub fn xattr_remove(&mut self, ino: u64, index: u8, name: &[u8]) -> Result<bool> {
        let mut inode = self.read_inode(ino)?;
        let mut xb = self.xattr_blocks(ino, &inode)?;
        let Some(old) = self.xattr_take(ino, &mut xb, index, name)? else {
            return Ok(false);
        };
        self.xattr_free_value(&mut inode, &old);
        self.xattr_commit(ino, &mut inode, xb)?;
        Ok(true)
    }

    /// Frees the xattr blocks and value blocks of `ino` that are validly its own, up to
    /// the first bad block of each chain, and clears `inode.xattr` (the caller accounts
    /// `blocks` and writes the inode).
    pub fn free_xattrs(&mut self, ino: u64, inode: &mut Inode) -> Result<()> {
        let mut seen = HashSet::new();
        let mut cur = inode.xattr;
        let mut n = 0;
        while cur != 0 && n < XATTR_MAX_BLOCKS && self.sb.data_range_valid(cur, 1) {
            if !seen.insert(cur) {
                break;
            }
            let buf = self.read_block(cur)?;
            if xattr_block_check(&buf, cur, ino).is_err() {
                break;
            }
            for e in XattrIter::new(&buf) {
                let XattrValue::External { block, .. } = e.value else {
                    continue;
                };
                let mut v = block;
                while v != 0 && self.sb.data_range_valid(v, 1) && seen.insert(v) {
                    let vb = self.read_block(v)?;
                    let Ok((next, _)) = xvalue_block_check(&vb, v, ino) else {
                        break;
                    };
                    self.free_run(v, 1);
                    v = next;
                }
            }
            self.free_run(cur, 1);
            n += 1;
            cur = xattr_block_next(&buf);
        }
        inode.xattr = 0;
        Ok(())
    }
}

trait NoneOrBefore {
    fn is_none_or_before(&self, at: u64) -> bool;
}

impl NoneOrBefore for Option<Extent> {
    /// True if there is no extent at or after `at`... i.e. the found extent
    /// starts before `at` (it is the one being merged into).
    fn is_none_or_before(&self, at: u64) -> bool {
        match self {
            None => true,
            Some(e) => e.logical < at,
        }
    }
}
