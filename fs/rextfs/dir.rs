// SPDX-License-Identifier: GPL-2.0

//! Directories: lookup and readdir.

use crate::{
    alloc, corrupt, extent,
    extent::TreeCtx,
    format,
    inode::{iget, params, sync_disk, write_disk, zero_slot, RxInode},
    meta, RextFs,
};
use kernel::fs::{
    file_ops::{self, DirEmitter, DirEntryType},
    inode::{self, mode, INode, Locked, SharedLocked},
    super_block::now,
    DEntry, File, SuperBlock,
};
use kernel::prelude::*;
use kernel::sync::aref::ARef;

/// Operations of directory inodes.
pub(crate) struct DirOps;

/// Reads and checks logical block `lblk` of directory `dir`.
fn read_dir_block(
    sb: &SuperBlock<RextFs>,
    ino: u64,
    d: &format::Inode,
    lblk: u64,
) -> Result<KVec<u8>> {
    let phys = match extent::lookup(sb, ino, &d.area, lblk)? {
        extent::Mapping::Mapped(e) if !e.unwritten() => e.map(lblk).ok_or(EFSCORRUPTED)?,
        _ => {
            pr_err!(
                "{}: directory {} has a hole at block {}\n",
                sb.id(),
                ino,
                lblk
            );
            return Err(EFSCORRUPTED);
        }
    };
    let buf = meta::read_block(sb, phys)?;
    format::dirblock_check(&buf, phys, ino).map_err(|e| corrupt(sb, "directory block", e))?;
    Ok(buf)
}

/// Number of blocks of a directory of `size` bytes.
fn dir_blocks(sb: &SuperBlock<RextFs>, size: u64) -> u64 {
    size >> sb.data().geo.block_log2
}

/// Finds `name` in directory `dir`: returns the inode number of the entry.
pub(crate) fn find(dir: &INode<RextFs>, name: &[u8]) -> Result<Option<u64>> {
    let sb = dir.super_block();
    let d = *dir.data().disk.lock();
    for lblk in 0..dir_blocks(sb, d.size) {
        let buf = read_dir_block(sb, dir.ino(), &d, lblk)?;
        if let Some((_, e)) =
            format::dirblock_find(&buf, name).map_err(|e| corrupt(sb, "directory block", e))?
        {
            return Ok(Some(e.ino));
        }
    }
    Ok(None)
}

/// Physical block of logical block `lblk` of directory `ino`.
fn dir_block_phys(sb: &SuperBlock<RextFs>, ino: u64, d: &format::Inode, lblk: u64) -> Result<u64> {
    match extent::lookup(sb, ino, &d.area, lblk)? {
        extent::Mapping::Mapped(e) if !e.unwritten() => e.map(lblk).ok_or(EFSCORRUPTED),
        _ => Err(EFSCORRUPTED),
    }
}

/// Adds entry `name` -> `ino` to directory `dir` (locked). Directories of this version hold at
/// most one block of entries (no hash index is ever needed): a full directory is `ENOSPC`.
pub(crate) fn add_entry(dir: &Locked<'_, RextFs>, name: &[u8], ino: u64, ft: u8) -> Result {
    let sb = dir.super_block();
    let shift = sb.data().geo.block_log2;
    let mut d = dir.data().disk.lock();
    if d.dir_index_root != 0 {
        return Err(EOPNOTSUPP);
    }
    let nblocks = d.size >> shift;
    for lblk in 0..nblocks {
        let phys = dir_block_phys(sb, dir.ino(), &d, lblk)?;
        let mut buf = read_dir_block(sb, dir.ino(), &d, lblk)?;
        match format::dirblock_insert(&mut buf, name, ino, ft) {
            Ok(_) => {
                format::dirblock_seal(&mut buf).map_err(|e| corrupt(sb, "directory block", e))?;
                return meta::write_block(sb, phys, &buf);
            }
            Err(format::FormatError::Full) => continue,
            Err(e) => return Err(corrupt(sb, "directory block", e)),
        }
    }
    if nblocks >= 1 {
        return Err(ENOSPC);
    }
    // First block of an empty directory: write it, then map it in the inode.
    let goal = sb.data().geo.layout.data_start;
    let (blk, _) = alloc::alloc_blocks(sb, goal, 1)?;
    let r = (|| -> Result {
        let mut buf = KVec::from_elem(0u8, 1usize << shift, GFP_KERNEL)?;
        format::dirblock_init(&mut buf, blk, dir.ino())
            .map_err(|e| corrupt(sb, "new directory block", e))?;
        format::dirblock_insert(&mut buf, name, ino, ft)
            .map_err(|e| corrupt(sb, "new directory block", e))?;
        format::dirblock_seal(&mut buf).map_err(|e| corrupt(sb, "new directory block", e))?;
        meta::write_block(sb, blk, &buf)?;
        let mut root = d.area;
        let mut blocks = d.blocks.saturating_add(1);
        let mut ctx = TreeCtx {
            sb,
            ino: dir.ino(),
            goal: blk + 1,
            blocks: &mut blocks,
            freed: KVec::new(),
        };
        let e = format::Extent {
            logical: 0,
            physical: blk,
            len: 1,
            flags: 0,
        };
        ctx.insert(&mut root, &e)?;
        d.area = root;
        d.blocks = blocks;
        dir.set_size(1i64 << shift);
        dir.set_bytes(blocks << shift);
        sync_disk(dir, &mut d);
        write_disk(sb, dir.ino(), &d)
    })();
    if r.is_err() {
        let _ = alloc::free_blocks(sb, blk, 1);
    }
    r
}

/// Finds entry `name` in `dir`: (physical block, block contents, offset, inode number).
fn locate(dir: &INode<RextFs>, name: &[u8]) -> Result<(u64, KVec<u8>, usize, u64)> {
    let sb = dir.super_block();
    let d = *dir.data().disk.lock();
    if d.dir_index_root != 0 {
        // Changing the entries would leave the hash index stale.
        return Err(EOPNOTSUPP);
    }
    for lblk in 0..dir_blocks(sb, d.size) {
        let buf = read_dir_block(sb, dir.ino(), &d, lblk)?;
        let found =
            format::dirblock_find(&buf, name).map_err(|e| corrupt(sb, "directory block", e))?;
        if let Some((off, e)) = found {
            let ino = e.ino;
            let phys = dir_block_phys(sb, dir.ino(), &d, lblk)?;
            return Ok((phys, buf, off, ino));
        }
    }
    Err(ENOENT)
}

/// Removes entry `name` from `dir` (locked); returns the inode number it pointed to.
pub(crate) fn remove_entry(dir: &Locked<'_, RextFs>, name: &[u8]) -> Result<u64> {
    let sb = dir.super_block();
    let (phys, mut buf, off, ino) = locate(dir, name)?;
    format::dirblock_remove(&mut buf, off).map_err(|e| corrupt(sb, "directory block", e))?;
    format::dirblock_seal(&mut buf).map_err(|e| corrupt(sb, "directory block", e))?;
    meta::write_block(sb, phys, &buf)?;
    Ok(ino)
}

/// Points the existing entry `name` of `dir` at another inode (rename over a name).
fn retarget_entry(dir: &Locked<'_, RextFs>, name: &[u8], ino: u64, ft: u8) -> Result {
    let sb = dir.super_block();
    let (phys, mut buf, off, _) = locate(dir, name)?;
    format::dirent_set_target(&mut buf, off, ino, ft)
        .map_err(|e| corrupt(sb, "directory block", e))?;
    format::dirblock_seal(&mut buf).map_err(|e| corrupt(sb, "directory block", e))?;
    meta::write_block(sb, phys, &buf)
}

/// Tells whether directory `dir` has no entries.
fn is_empty(dir: &INode<RextFs>) -> Result<bool> {
    let sb = dir.super_block();
    let d = *dir.data().disk.lock();
    for lblk in 0..dir_blocks(sb, d.size) {
        let buf = read_dir_block(sb, dir.ino(), &d, lblk)?;
        if !format::dirblock_is_empty(&buf).map_err(|e| corrupt(sb, "directory block", e))? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Writes an inode's current attributes to disk at once.
fn write_now(inode: &INode<RextFs>) -> Result {
    let mut d = inode.data().disk.lock();
    sync_disk(inode, &mut d);
    write_disk(inode.super_block(), inode.ino(), &d)
}

fn check_name(name: &[u8]) -> Result {
    if name.len() > format::MAX_NAME_LEN {
        return Err(ENAMETOOLONG);
    }
    if !format::name_valid(name) {
        return Err(EINVAL);
    }
    Ok(())
}

/// Creates a new inode of `mode` named by `dentry` in `parent`.
fn create_node(parent: &Locked<'_, RextFs>, dentry: &DEntry<RextFs>, mode_in: u16) -> Result {
    let sb = parent.super_block();
    let name = dentry.name();
    check_name(name)?;
    let ino = alloc::alloc_inode(sb)?;
    let mut new = match sb.new_inode(ino) {
        Ok(n) => n,
        Err(e) => {
            let _ = alloc::free_inode(sb, ino);
            return Err(e);
        }
    };
    let (uid, gid, m) = new.init_owner(parent, mode_in);
    let is_dir = m & mode::S_IFMT == mode::S_IFDIR;
    let t = now();
    let ts = format::Timestamp {
        sec: t.sec,
        nsec: t.nsec,
    };
    let mut d = format::Inode::new(m);
    d.uid = uid;
    d.gid = gid;
    d.nlink = if is_dir { 2 } else { 1 };
    d.parent = if is_dir { parent.ino() } else { 0 };
    d.generation = (ino as u32) ^ (t.nsec);
    d.atime = ts;
    d.mtime = ts;
    d.ctime = ts;
    d.btime = ts;
    let undo = |e: Error| -> Error {
        let _ = zero_slot(sb, ino);
        let _ = alloc::free_inode(sb, ino);
        e
    };
    // The inode is on disk before any entry points at it.
    write_disk(sb, ino, &d).map_err(undo)?;
    add_entry(parent, name, ino, format::file_type_of_mode(m)).map_err(undo)?;
    parent.touch_cmtime();
    if is_dir {
        // The parent's link count must never be lower on disk than the number of its
        // subdirectories: write it now rather than at writeback.
        parent.inc_nlink();
        write_now(parent)?;
    }
    parent.mark_dirty();
    let inode = new.init(
        params(sb, &d),
        try_pin_init!(RxInode {
            disk <- kernel::new_mutex!(d),
        }),
    )?;
    dentry.instantiate(inode);
    Ok(())
}

#[vtable]
impl inode::Operations for DirOps {
    type FileSystem = RextFs;

    fn create(parent: &Locked<'_, RextFs>, dentry: &DEntry<RextFs>, m: u16) -> Result {
        create_node(parent, dentry, (m & !mode::S_IFMT) | mode::S_IFREG)
    }

    fn mkdir(parent: &Locked<'_, RextFs>, dentry: &DEntry<RextFs>, m: u16) -> Result {
        create_node(parent, dentry, (m & !mode::S_IFMT) | mode::S_IFDIR)
    }

    fn unlink(parent: &Locked<'_, RextFs>, dentry: &DEntry<RextFs>) -> Result {
        let inode = dentry.inode().ok_or(ENOENT)?;
        remove_entry(parent, dentry.name())?;
        inode.drop_nlink();
        inode.touch_ctime();
        inode.mark_dirty();
        parent.touch_cmtime();
        parent.mark_dirty();
        Ok(())
    }

    fn rmdir(parent: &Locked<'_, RextFs>, dentry: &DEntry<RextFs>) -> Result {
        let inode = dentry.inode().ok_or(ENOENT)?;
        if !is_empty(inode)? {
            return Err(ENOTEMPTY);
        }
        remove_entry(parent, dentry.name())?;
        inode.set_nlink(0);
        inode.touch_ctime();
        inode.mark_dirty();
        parent.drop_nlink();
        parent.touch_cmtime();
        parent.mark_dirty();
        Ok(())
    }

    fn rename(
        old_dir: &Locked<'_, RextFs>,
        old: &DEntry<RextFs>,
        new_dir: &Locked<'_, RextFs>,
        new: &DEntry<RextFs>,
        flags: u32,
    ) -> Result {
        const RENAME_NOREPLACE: u32 = 1;
        if flags & !RENAME_NOREPLACE != 0 {
            return Err(EINVAL);
        }
        check_name(new.name())?;
        let inode = old.inode().ok_or(ENOENT)?;
        let is_dir = inode.file_type() == mode::S_IFDIR;
        let ft = format::file_type_of_mode(inode.mode());
        let same_dir = old_dir.ino() == new_dir.ino();
        // The new name is written before the old one goes: a crash leaves two links at worst.
        if let Some(target) = new.inode() {
            let target_dir = target.file_type() == mode::S_IFDIR;
            if target_dir && !is_empty(target)? {
                return Err(ENOTEMPTY);
            }
            retarget_entry(new_dir, new.name(), inode.ino(), ft)?;
            if target_dir {
                target.set_nlink(0);
                new_dir.drop_nlink();
            } else {
                target.drop_nlink();
            }
            target.touch_ctime();
            target.mark_dirty();
        } else {
            add_entry(new_dir, new.name(), inode.ino(), ft)?;
        }
        remove_entry(old_dir, old.name())?;
        if is_dir && !same_dir {
            new_dir.inc_nlink();
            write_now(new_dir)?;
            old_dir.drop_nlink();
            inode.data().disk.lock().parent = new_dir.ino();
            write_now(inode)?;
        }
        inode.touch_ctime();
        inode.mark_dirty();
        old_dir.touch_cmtime();
        old_dir.mark_dirty();
        if !same_dir {
            new_dir.touch_cmtime();
            new_dir.mark_dirty();
        }
        Ok(())
    }

    fn link(old: &DEntry<RextFs>, dir: &Locked<'_, RextFs>, new: &DEntry<RextFs>) -> Result {
        let inode = old.inode().ok_or(ENOENT)?;
        if inode.file_type() == mode::S_IFDIR {
            return Err(EPERM);
        }
        check_name(new.name())?;
        add_entry(
            dir,
            new.name(),
            inode.ino(),
            format::file_type_of_mode(inode.mode()),
        )?;
        inode.inc_nlink();
        inode.touch_ctime();
        inode.mark_dirty();
        dir.touch_cmtime();
        dir.mark_dirty();
        new.instantiate(ARef::from(inode));
        Ok(())
    }

    fn lookup(
        parent: &SharedLocked<'_, RextFs>,
        dentry: &DEntry<RextFs>,
    ) -> Result<Option<ARef<INode<RextFs>>>> {
        let name = dentry.name();
        if name.len() > format::MAX_NAME_LEN {
            return Err(ENAMETOOLONG);
        }
        match find(parent, name)? {
            None => Ok(None),
            Some(ino) => Ok(Some(iget(parent.super_block(), ino)?)),
        }
    }
}

#[vtable]
impl file_ops::Operations for DirOps {
    type FileSystem = RextFs;

    fn fsync(_file: &File, dir: &INode<RextFs>, _start: i64, _end: i64, _datasync: bool) -> Result {
        // Directory blocks are written synchronously when they change; write the inode if
        // it is dirty and flush the device cache.
        dir.sync_metadata()?;
        dir.super_block().flush_device()
    }

    fn read_dir(_file: &File, dir: &INode<RextFs>, emitter: &mut DirEmitter) -> Result {
        let sb = dir.super_block();
        let d = *dir.data().disk.lock();
        if !emitter.emit_dots(dir.ino(), d.parent) {
            return Ok(());
        }
        let shift = sb.data().geo.block_log2;
        let bs = 1u64 << shift;
        let size = d.size;
        loop {
            let pos = emitter.pos() as u64;
            if pos >= size {
                return Ok(());
            }
            let lblk = pos >> shift;
            let buf = read_dir_block(sb, dir.ino(), &d, lblk)?;
            let mut from = ((pos & (bs - 1)) as usize).max(format::DIR_HDR_SIZE);
            while let Some((off, e)) = format::dirblock_next_used(&buf, from)
                .map_err(|e| corrupt(sb, "directory block", e))?
            {
                emitter.set_pos((lblk * bs + off as u64) as i64);
                if !emitter.emit(e.name, e.ino, DirEntryType::from_dt(e.file_type)) {
                    return Ok(());
                }
                from = off + 1;
            }
            emitter.set_pos(((lblk + 1) * bs) as i64);
        }
    }
}
