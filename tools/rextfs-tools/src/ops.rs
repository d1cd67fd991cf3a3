// SPDX-License-Identifier: GPL-2.0

//! File and directory operations on an image, used by the tests to build
//! non-trivial filesystems and by fsck to repair them. They follow the
//! rules of the on-disk format exactly as the kernel must.

use crate::error::{msg, Context, Error, Result};
use crate::fs::Fs;
use rextfs_format::*;

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

    /// Frees every data block and tree node of an inode and resets its root.
    pub fn free_inode_blocks(&mut self, ino: u64, inode: &mut Inode) -> Result<()> {
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
