// SPDX-License-Identifier: GPL-2.0

//! Directories: lookup and readdir, and the namespace operations.
//!
//! Each namespace operation (create, mkdir, mknod, symlink, link, unlink, rmdir, rename with
//! its flags, tmpfile) runs in one transaction handle, started after the VFS took its locks
//! and before any lock of rextfs (the inodes' disk mutexes, the super block state, buffers);
//! the functions below it take the handle as a parameter. The link counts an operation
//! changes are written in its handle, so that its transaction holds the whole change. After
//! a removal (unlink, rmdir, rename) the directory may shrink ([`shrink`]), in handles of
//! its own: the removal is complete and consistent without them.

use crate::journal::{self, Handle};
use crate::{
    alloc, corrupt, credits, dirindex, extent,
    extent::TreeCtx,
    format,
    inode::{iget, params, sync_disk, write_new_disk, zero_slot, RxInode},
    meta, orphan, symlink, RextFs,
};
use kernel::fs::{
    acl,
    dentry::NewDEntry,
    file_ops::{self, DirEmitter, DirEntryType},
    inode::{self, mode, FileAttr, INode, Idmap, Kstat, Locked, NewINode, SharedLocked},
    DEntry, LocalFile, SuperBlock,
};
use kernel::prelude::*;
use kernel::sync::aref::ARef;

/// Operations of directory inodes.
pub(crate) struct DirOps;

/// Physical block of logical block `lblk` of directory `dir` (on-disk inode `d`); a hole or
/// an unwritten extent there is corruption. The extent found is kept for the next call
/// ([`RxInode::dir_extent`]).
///
/// [`RxInode::dir_extent`]: crate::inode::RxInode::dir_extent
fn dir_block_mapped(dir: &INode<RextFs>, d: &format::Inode, lblk: u64) -> Result<u64> {
    dir_block_extent(dir, d, lblk).map(|(p, _)| p)
}

/// [`dir_block_mapped`], with the extent that maps the block.
fn dir_block_extent(
    dir: &INode<RextFs>,
    d: &format::Inode,
    lblk: u64,
) -> Result<(u64, format::Extent)> {
    let sb = dir.super_block();
    let ino = dir.ino();
    if let Some(e) = *dir.data().dir_extent.lock() {
        if let Some(p) = e.map(lblk) {
            return Ok((p, e));
        }
    }
    match extent::lookup(sb, ino, &d.area, lblk)? {
        extent::Mapping::Mapped(e) if !e.unwritten() => {
            let p = e.map(lblk).ok_or(EFSCORRUPTED)?;
            *dir.data().dir_extent.lock() = Some(e);
            Ok((p, e))
        }
        _ => {
            pr_err!(
                "{}: directory {} has a hole at block {}\n",
                sb.id(),
                ino,
                lblk
            );
            Err(EFSCORRUPTED)
        }
    }
}

/// Physical block of logical block `lblk` of directory `dir` (on-disk inode `d`), as
/// [`dir_block_mapped`], for a block about to be read: if it is not cached, the blocks of
/// the directory around it in the same extent are read ahead with it, in one I/O (an aligned
/// window of at most [`BufCache::READAHEAD_MAX`] blocks, the directory's blocks only: see
/// [`meta::readahead_around`]). A lookup lands on the block its name's hash points at, so
/// the blocks of a directory are needed in no order: read one at a time, a cold directory
/// of a few thousand names costs a synchronous read per block.
///
/// The callers hold the directory's `i_rwsem` (shared at least), so its blocks stay its
/// own, and change only through the buffer cache ([`BufCache::readahead`]'s condition).
///
/// [`BufCache::READAHEAD_MAX`]: kernel::fs::buffer::BufCache::READAHEAD_MAX
/// [`BufCache::readahead`]: kernel::fs::buffer::BufCache::readahead
fn dir_block_to_read(dir: &INode<RextFs>, d: &format::Inode, lblk: u64) -> Result<u64> {
    let (phys, e) = dir_block_extent(dir, d, lblk)?;
    let sb = dir.super_block();
    // The extent's blocks that are the directory's (an extent never starts past its size
    // unless the image is corrupt: then nothing is read ahead).
    let len = e
        .logical_end()
        .min(dir_blocks(sb, d.size))
        .saturating_sub(e.logical);
    meta::readahead_around(
        sb,
        e.physical,
        len,
        lblk - e.logical,
        kernel::fs::buffer::BufCache::READAHEAD_MAX as u64,
    );
    Ok(phys)
}

/// Reads and checks logical block `lblk` of directory `dir`.
fn read_dir_block(dir: &INode<RextFs>, d: &format::Inode, lblk: u64) -> Result<KVec<u8>> {
    let (sb, ino) = (dir.super_block(), dir.ino());
    let phys = dir_block_to_read(dir, d, lblk)?;
    // The checksum and the entries are checked once while the block stays cached (changes
    // made since are this file system's own); the owner every time.
    let buf = meta::read_block_checked(
        sb,
        phys,
        meta::BlockKind::DirBlock,
        "directory block",
        |b| format::dirblock_check(b, phys, ino),
    )?;
    format::dirblock_check_fields(&buf, phys, ino)
        .map_err(|e| corrupt(sb, "directory block", e))?;
    Ok(buf)
}

/// Runs `f` on logical block `lblk` of directory `dir` in place, checked as
/// [`read_dir_block`] checks it, under its buffer lock (see [`meta::with_block_checked`]: `f`
/// must not use the buffer cache); corruption `f` reports is logged as corruption of a
/// directory block.
fn with_dir_block<R>(
    dir: &INode<RextFs>,
    d: &format::Inode,
    lblk: u64,
    f: impl FnOnce(&[u8]) -> core::result::Result<R, meta::BlockFail>,
) -> Result<R> {
    let (sb, ino) = (dir.super_block(), dir.ino());
    let phys = dir_block_to_read(dir, d, lblk)?;
    meta::with_block_checked(
        sb,
        phys,
        meta::BlockKind::DirBlock,
        "directory block",
        |b| format::dirblock_check(b, phys, ino),
        |b| {
            format::dirblock_check_fields(b, phys, ino)?;
            f(b)
        },
    )
    .map_err(|e| e.logged(|e| corrupt(sb, "directory block", e)))
}

/// Number of blocks of a directory of `size` bytes.
fn dir_blocks(sb: &SuperBlock<RextFs>, size: u64) -> u64 {
    size >> sb.data().geo.block_log2
}

/// A used entry found in a directory.
struct Found {
    /// Logical block of the directory holding the entry.
    lblk: u64,
    /// Physical block holding the entry (0 unless asked for).
    phys: u64,
    /// Offset of the entry in the block.
    off: usize,
    /// Inode number the entry points at.
    ino: u64,
}

/// Name hash of `name` with the file system's key.
fn hash(sb: &SuperBlock<RextFs>, name: &[u8]) -> u32 {
    format::name_hash(&sb.data().geo.hash_key, name)
}

/// Index key of entry `name` at byte offset `dir_off` of its directory.
fn index_key(sb: &SuperBlock<RextFs>, name: &[u8], dir_off: u64) -> Result<u64> {
    format::dir_index_key(hash(sb, name), dir_off).ok_or(EFSCORRUPTED)
}

/// Finds `name` in directory `dir` (on-disk inode `d`): through the hash index when the
/// directory has one, by scanning its blocks otherwise. The blocks are searched in place.
///
/// `want_phys` is for the callers that change the entry found: the physical block holding
/// it is looked up (otherwise [`Found::phys`] is 0). An entry found through the index is
/// trusted at the index key's offset once it decodes there with the name and hash sought,
/// as XFS trusts the addresses of its leaf entries: an image forged to point into a name
/// gives a lookup nothing that a forged entry would not. The changes check the offset
/// against the block's entries before they touch it (`dirblock_remove`,
/// `dirent_set_target`).
fn locate_in(
    dir: &INode<RextFs>,
    d: &format::Inode,
    name: &[u8],
    want_phys: bool,
) -> Result<Option<Found>> {
    let (sb, ino) = (dir.super_block(), dir.ino());
    let shift = sb.data().geo.block_log2;
    let nblocks = dir_blocks(sb, d.size);
    let found = |lblk: u64, off: usize, eino: u64| -> Result<Option<Found>> {
        // The callers that want the block hold the directory's `i_rwsem` exclusively, so
        // the entry stays where it was found.
        let phys = if want_phys {
            dir_block_mapped(dir, d, lblk)?
        } else {
            0
        };
        Ok(Some(Found {
            lblk,
            phys,
            off,
            ino: eino,
        }))
    };
    if d.dir_index_root == 0 {
        if nblocks >= 2 {
            pr_err!(
                "{}: directory {} has {} blocks but no hash index\n",
                sb.id(),
                ino,
                nblocks
            );
            return Err(EFSCORRUPTED);
        }
        for lblk in 0..nblocks {
            let hit = with_dir_block(dir, d, lblk, |buf| {
                Ok(format::dirblock_find(buf, name)?.map(|(off, e)| (off, e.ino)))
            })?;
            if let Some((off, eino)) = hit {
                return found(lblk, off, eino);
            }
        }
        return Ok(None);
    }
    let h = hash(sb, name);
    let (lo, hi) = format::dir_hash_range(h);
    let mut keys = dirindex::Gathered::new();
    let mut blocks = d.blocks;
    dirindex::IndexCtx::new(sb, ino, 0, &mut blocks).scan(d.dir_index_root, lo, hi, &mut keys)?;
    for k in keys.iter() {
        let dir_off = format::dir_key_offset(k);
        let lblk = dir_off >> shift;
        let off = (dir_off & ((1u64 << shift) - 1)) as usize;
        if lblk >= nblocks {
            pr_err!(
                "{}: directory {}: index key {:#x} past the last block\n",
                sb.id(),
                ino,
                k
            );
            return Err(EFSCORRUPTED);
        }
        // The entry's inode number if it is `name`; `None` if it is another name of the
        // same hash. Checked in place: nothing but the geometry is used under the lock.
        let hit = with_dir_block(dir, d, lblk, |buf| {
            let e = match format::dirent_at(buf, off) {
                Ok(e) if !e.is_free() => e,
                _ => {
                    pr_err!(
                        "{}: directory {}: index key {:#x} does not point at an entry\n",
                        sb.id(),
                        ino,
                        k
                    );
                    return Err(EFSCORRUPTED.into());
                }
            };
            if e.name == name {
                return Ok(Some(e.ino));
            }
            if hash(sb, e.name) != h {
                pr_err!(
                    "{}: directory {}: index key {:#x} has the wrong hash\n",
                    sb.id(),
                    ino,
                    k
                );
                return Err(EFSCORRUPTED.into());
            }
            Ok(None)
        })?;
        if let Some(eino) = hit {
            return found(lblk, off, eino);
        }
    }
    Ok(None)
}

/// Finds `name` in directory `dir`: returns the inode number of the entry.
pub(crate) fn find(dir: &INode<RextFs>, name: &[u8]) -> Result<Option<u64>> {
    let d = *dir.data().disk.lock();
    Ok(locate_in(dir, &d, name, false)?.map(|f| f.ino))
}

/// Finds entry `name` in `dir` or fails with `ENOENT`.
fn locate(dir: &INode<RextFs>, name: &[u8]) -> Result<Found> {
    let d = *dir.data().disk.lock();
    locate_in(dir, &d, name, true)?.ok_or(ENOENT)
}

/// Writes directory inode `dir` (with on-disk copy `d`) after its blocks changed, in the
/// transaction of `h`.
fn write_dir_inode(h: &Handle<'_>, dir: &INode<RextFs>, d: &mut format::Inode) -> Result {
    let sb = dir.super_block();
    dir.set_bytes(d.blocks << sb.data().geo.block_log2);
    sync_disk(dir, d);
    crate::inode::write(h, dir, d)
}

/// Adds entry `name` -> `ino` to directory `dir` (locked) in the transaction of `h` (at most
/// [`credits::DIR_ADD`] blocks), growing it by a block when no block has room. The hash index,
/// when there is one, gets the new key.
pub(crate) fn add_entry(
    h: &Handle<'_>,
    dir: &Locked<'_, RextFs>,
    name: &[u8],
    ino: u64,
    ft: u8,
) -> Result {
    let sb = dir.super_block();
    let shift = sb.data().geo.block_log2;
    let mut d = dir.data().disk.lock();
    let nblocks = d.size >> shift;
    if nblocks >= 2 && d.dir_index_root == 0 {
        pr_err!(
            "{}: directory {} has {} blocks but no hash index\n",
            sb.id(),
            dir.ino(),
            nblocks
        );
        return Err(EFSCORRUPTED);
    }
    let need = format::dirent_size(name.len());
    let mut space = dir.data().dir_space.lock();
    space_resize(&mut space, nblocks)?;
    for lblk in 0..nblocks {
        let known = space[lblk as usize];
        if known != SPACE_UNKNOWN && usize::from(known) < need {
            continue;
        }
        let phys = dir_block_mapped(dir, &d, lblk)?;
        // In place; `None` (and the block left alone) when it has no room.
        let added = modify_dir_block(h, dir.ino(), phys, |b| {
            let (off, slot) = format::dirblock_insert_slot(b, name, ino, ft)?;
            Ok(((off, space_of(slot)), off.is_some()))
        })?;
        space[lblk as usize] = added.1;
        let Some(off) = added.0 else {
            continue;
        };
        if d.dir_index_root == 0 {
            return Ok(());
        }
        let key = index_key(sb, name, (lblk << shift) + off as u64)?;
        let old_blocks = d.blocks;
        let mut blocks = d.blocks;
        let mut ctx = dirindex::IndexCtx::new(h, dir.ino(), phys, &mut blocks);
        if let Err(e) = ctx.insert(d.dir_index_root, key) {
            // Take the entry back out: the index must match the entries. If that fails, the
            // transaction must not commit the entry without its key.
            space[lblk as usize] = SPACE_UNKNOWN;
            let undone = modify_dir_block(h, dir.ino(), phys, |b| {
                format::dirblock_remove(b, off)?;
                Ok(((), true))
            });
            return Err(match undone {
                Ok(()) => e,
                Err(undo) => h.abort_changed(undo),
            });
        }
        d.blocks = blocks;
        if d.blocks != old_blocks {
            write_dir_inode(h, dir, &mut d)?;
        }
        return Ok(());
    }
    drop(space);
    grow(h, dir, &mut d, name, ino, ft)
}

/// What [`RxInode::dir_space`] holds for a block not read since the inode was.
///
/// [`RxInode::dir_space`]: crate::inode::RxInode::dir_space
pub(crate) const SPACE_UNKNOWN: u16 = u16::MAX;

/// Makes the space map of a directory cover its `nblocks` blocks.
fn space_resize(space: &mut KVec<u16>, nblocks: u64) -> Result {
    let n = usize::try_from(nblocks).map_err(|_| EFSCORRUPTED)?;
    space.truncate(n);
    while space.len() < n {
        space.push(SPACE_UNKNOWN, GFP_KERNEL)?;
    }
    Ok(())
}

/// The entry for the space map of the checked directory block `buf`, for use under its
/// buffer lock: unknown if the block cannot be walked (which a checked block always can).
fn slot_in(buf: &[u8]) -> u16 {
    format::dirblock_largest_slot(buf).map_or(SPACE_UNKNOWN, space_of)
}

/// The entry for the space map of a block whose largest slot is `slot` bytes.
fn space_of(slot: usize) -> u16 {
    u16::try_from(slot).unwrap_or(SPACE_UNKNOWN - 1)
}

/// Changes block `phys` of directory `ino` in place in the transaction of `h` (see
/// [`Handle::modify_block`]: `f` returns its result and whether it changed the block, and
/// leaves the block as it found it when it fails), checked as [`read_dir_block`] checks it.
fn modify_dir_block<R>(
    h: &Handle<'_>,
    ino: u64,
    phys: u64,
    f: impl FnOnce(&mut [u8]) -> core::result::Result<(R, bool), meta::BlockFail>,
) -> Result<R> {
    h.modify_block(
        phys,
        meta::BlockKind::DirBlock,
        "directory block",
        |b| format::dirblock_check(b, phys, ino),
        |b| {
            format::dirblock_check_fields(b, phys, ino)?;
            f(b)
        },
    )
}

/// Blocks that growing a directory may need at most: the new block, a split at every level of
/// the extent tree and of the hash index plus a new root level each, or building a new index.
fn grow_reserve(sb: &SuperBlock<RextFs>, d: &format::Inode) -> u64 {
    let ext_level = format::node_header(&d.area, format::NodeForm::Inline)
        .map_or(u64::from(format::MAX_LEVEL), |h| u64::from(h.level));
    let idx = if d.dir_index_root == 0 {
        3
    } else {
        match meta::read_block(sb, d.dir_index_root) {
            Ok(b) => {
                format::node_header(&b, format::NodeForm::Block)
                    .map_or(u64::from(format::MAX_LEVEL), |h| u64::from(h.level))
                    + 2
            }
            Err(_) => u64::from(format::MAX_LEVEL) + 2,
        }
    };
    1 + ext_level + 2 + idx
}

/// Adds a block holding entry `name` -> `ino` at the end of directory `dir`, in the
/// transaction of `h`; creates the hash index when this is the second block. A failure
/// before the extent tree's node blocks change (the usual case of a full file system: the
/// check below, or a tree whose root is in the inode and did not grow) changes nothing and
/// gives the blocks taken back; one after it aborts the journal.
fn grow(
    h: &Handle<'_>,
    dir: &Locked<'_, RextFs>,
    d: &mut format::Inode,
    name: &[u8],
    ino: u64,
    ft: u8,
) -> Result {
    let sb = dir.super_block();
    let shift = sb.data().geo.block_log2;
    let nblocks = d.size >> shift;
    if (nblocks + 1) << shift > format::DIR_MAX_SIZE {
        return Err(ENOSPC);
    }
    // Refuse early rather than fail halfway through the tree updates: the blocks come from
    // the ordinary pool, without the reserve.
    let available = alloc::available_blocks(&sb.data().state.lock().disk);
    if available < grow_reserve(sb, d) {
        return Err(ENOSPC);
    }
    // Whether the tree has node blocks, which an insertion changes in the transaction.
    let tree_nodes =
        format::node_header(&d.area, format::NodeForm::Inline).map_or(true, |h| h.level > 0);
    let goal = if nblocks == 0 {
        alloc::data_goal(&sb.data().geo, dir.ino())
    } else {
        dir_block_mapped(dir, d, nblocks - 1)? + 1
    };
    // Keys of the entries already there, when this block makes the index necessary.
    let mut keys = KVec::new();
    if nblocks == 1 && d.dir_index_root == 0 {
        let buf = read_dir_block(dir, d, 0)?;
        for r in format::DirIter::new(&buf) {
            let (off, e) = r.map_err(|e| corrupt(sb, "directory block", e))?;
            if !e.is_free() {
                keys.push(index_key(sb, e.name, off as u64)?, GFP_KERNEL)?;
            }
        }
    }
    // From the second block on, the directory's next blocks are set aside in memory after
    // the new one (at least 8, as many as it has, at most a readahead window), as for a file
    // written sequentially (the directory's reservation, see `alloc::Reservations`), so that
    // the index and extent tree nodes allocated below go after them and do not cut the
    // directory into extents of a block or two: a cold directory is then read in a few
    // windows of readahead. A directory of one block (most of them) sets nothing aside.
    let ahead = if nblocks == 0 {
        1
    } else {
        (nblocks + 1).clamp(8, kernel::fs::buffer::BufCache::READAHEAD_MAX as u64)
    };
    let (blk, _) = alloc::alloc_blocks(h, dir.ino(), goal, 1, ahead, 0)?;
    let mut root = d.area;
    let mut blocks = d.blocks.saturating_add(1);
    let mut new_index = 0u64;
    let mut ictx_alloc: KVec<u64> = KVec::new();
    let mut inserted = false;
    let r = (|| -> Result {
        let mut buf = KVec::from_elem(0u8, 1usize << shift, GFP_KERNEL)?;
        format::dirblock_init(&mut buf, blk, dir.ino())
            .map_err(|e| corrupt(sb, "new directory block", e))?;
        let off = format::dirblock_insert(&mut buf, name, ino, ft)
            .map_err(|e| corrupt(sb, "new directory block", e))?;
        format::dirblock_seal(&mut buf).map_err(|e| corrupt(sb, "new directory block", e))?;
        h.write_block(blk, &buf)?;
        if nblocks >= 1 {
            keys.push(
                index_key(sb, name, (nblocks << shift) + off as u64)?,
                GFP_KERNEL,
            )?;
        }
        let mut ctx = TreeCtx {
            sb: h,
            ino: dir.ino(),
            goal: blk + 1,
            blocks: &mut blocks,
            freed: KVec::new(),
        };
        let e = format::Extent {
            logical: nblocks,
            physical: blk,
            len: 1,
            flags: 0,
        };
        let before = *ctx.blocks;
        ctx.insert(&mut root, &e)?;
        // Only `root`, a copy, changed unless the tree has or grew node blocks.
        inserted = tree_nodes || *ctx.blocks != before;
        if keys.is_empty() {
            return Ok(());
        }
        let mut ictx = dirindex::IndexCtx::new(h, dir.ino(), blk + 1, &mut blocks);
        let r = if d.dir_index_root == 0 {
            ictx.build(&keys).map(|root| new_index = root)
        } else {
            ictx.insert(d.dir_index_root, keys[0])
        };
        if r.is_err() {
            ictx.undo_allocations();
        }
        core::mem::swap(&mut ictx_alloc, &mut ictx.allocated);
        r
    })();
    if let Err(e) = r {
        if inserted {
            // The tree's node blocks map the new block already, in this transaction: what
            // failed after that cannot be taken back.
            return Err(h.abort_changed(e));
        }
        let _ = alloc::free_blocks(h, blk, 1);
        return Err(e);
    }
    d.area = root;
    d.blocks = blocks;
    if new_index != 0 {
        d.dir_index_root = new_index;
    }
    dir.set_size(((nblocks + 1) << shift) as i64);
    // The new block is found again when an insertion next looks for room.
    let mut space = dir.data().dir_space.lock();
    if space_resize(&mut space, nblocks + 1).is_err() {
        space.clear();
    }
    write_dir_inode(h, dir, d).map_err(|e| h.abort_changed(e))
}

/// Removes entry `name` from `dir` (locked) in the transaction of `h` (at most
/// [`credits::DIR_REMOVE`] blocks); returns the inode number it pointed to.
pub(crate) fn remove_entry(h: &Handle<'_>, dir: &Locked<'_, RextFs>, name: &[u8]) -> Result<u64> {
    let sb = dir.super_block();
    let shift = sb.data().geo.block_log2;
    let Found {
        lblk,
        phys,
        off,
        ino,
    } = locate(dir, name)?;
    let mut d = dir.data().disk.lock();
    let mut space = dir.data().dir_space.lock();
    // Sized here too (not only by insertions), so that `shrink` learns of emptied blocks in
    // a directory nothing was added to since it was read.
    if space_resize(&mut space, d.size >> shift).is_err() {
        space.clear();
    }
    let known = space.get(lblk as usize).copied().unwrap_or(SPACE_UNKNOWN);
    // `dirblock_remove` checks `off` before it changes anything. The block's largest slot
    // is the free entry the removal left, or one it had already.
    let slot = modify_dir_block(h, dir.ino(), phys, |b| {
        let freed = format::dirblock_remove(b, off)?;
        let slot = if known == SPACE_UNKNOWN {
            slot_in(b)
        } else {
            space_of(freed).max(known)
        };
        Ok((slot, true))
    })?;
    if let Some(s) = space.get_mut(lblk as usize) {
        *s = slot;
    }
    drop(space);
    if d.dir_index_root != 0 {
        let key = index_key(sb, name, (lblk << shift) + off as u64)?;
        let old_blocks = d.blocks;
        let mut blocks = d.blocks;
        let mut ctx = dirindex::IndexCtx::new(h, dir.ino(), phys, &mut blocks);
        ctx.remove(d.dir_index_root, key)?;
        let freed = core::mem::take(&mut ctx.freed);
        d.blocks = blocks;
        if d.blocks != old_blocks {
            write_dir_inode(h, dir, &mut d)?;
        }
        // The emptied nodes are free once the index and the inode no longer count them.
        dirindex::free_nodes(h, &freed)?;
    }
    Ok(ino)
}

/// Frees the empty blocks at the end of directory `dir` (locked, its last entry removal
/// done and its handle stopped), one block a transaction handle of its own, as XFS gives
/// back the blocks of a directory that shrank (ext4 keeps them until `e2fsck -D`). The last
/// block goes when it holds no entry (the space map says so, or a read of the block when the
/// map does not know), and so on backwards; the first block stays, and so does the hash index
/// (a one-block directory may keep one). The removal before it stands whatever happens here:
/// a failure before anything changed leaves the directory as long as it was, one after the
/// tree changed aborts the journal (as every change that fails half way does).
fn shrink(dir: &Locked<'_, RextFs>) {
    let _ = shrink_tail(dir);
}

/// Whether block `lblk` of directory `dir` (on-disk inode `d`) holds no entry, from the
/// space map, which learns it from the block if it did not know.
fn block_is_empty(dir: &Locked<'_, RextFs>, d: &format::Inode, lblk: u64) -> Result<bool> {
    let sb = dir.super_block();
    let shift = sb.data().geo.block_log2;
    // What the space map holds for a block without a used entry: its entries merged into
    // one free entry covering it all.
    let empty = (1usize << shift) - format::DIR_HDR_SIZE;
    let known = dir.data().dir_space.lock().get(lblk as usize).copied();
    let slot = match known {
        Some(s) if s != SPACE_UNKNOWN => s,
        _ => {
            let s = with_dir_block(dir, d, lblk, |b| Ok(slot_in(b)))?;
            let mut space = dir.data().dir_space.lock();
            if space_resize(&mut space, d.size >> shift).is_ok() {
                if let Some(e) = space.get_mut(lblk as usize) {
                    *e = s;
                }
            }
            s
        }
    };
    Ok(usize::from(slot) == empty)
}

/// The loop of [`shrink`].
fn shrink_tail(dir: &Locked<'_, RextFs>) -> Result {
    let sb = dir.super_block();
    let shift = sb.data().geo.block_log2;
    loop {
        let last = {
            let d = dir.data().disk.lock();
            let nblocks = d.size >> shift;
            if nblocks < 2 || !block_is_empty(dir, &d, nblocks - 1)? {
                return Ok(());
            }
            nblocks - 1
        };
        let h = journal::start(sb, credits::DIR_SHRINK)?;
        let mut d = dir.data().disk.lock();
        // The directory's `i_rwsem` is held: nothing changed it since the check above, but
        // the block is checked itself before it goes.
        if d.size >> shift != last + 1
            || !with_dir_block(dir, &d, last, |b| Ok(format::dirblock_is_empty(b)?))?
        {
            return Ok(());
        }
        // One block, one extent at most to cut: done in one step. It writes the inode with
        // the block gone (its size follows below, in the same handle). The block may come
        // back elsewhere: the extent kept for lookups must not map it.
        *dir.data().dir_extent.lock() = None;
        match crate::file::truncate_step(&h, dir.ino(), &mut d, last) {
            Ok(true) => {}
            Ok(false) => return Err(h.abort_changed(EFSCORRUPTED)),
            Err(e) => return Err(h.abort_changed(e)),
        }
        dir.set_size((last << shift) as i64);
        {
            let mut space = dir.data().dir_space.lock();
            if space_resize(&mut space, last).is_err() {
                space.clear();
            }
        }
        write_dir_inode(&h, dir, &mut d).map_err(|e| h.abort_changed(e))?;
    }
}

/// `rename` ([`DirOps`]), its handle stopped before [`shrink`] runs on the old directory.
fn rename_entries(
    idmap: &Idmap,
    old_dir: &Locked<'_, RextFs>,
    old: &DEntry<RextFs>,
    new_dir: &Locked<'_, RextFs>,
    new: &DEntry<RextFs>,
    replaced: Option<&Locked<'_, RextFs>>,
    flags: u32,
) -> Result {
    const RENAME_NOREPLACE: u32 = 1;
    const RENAME_EXCHANGE: u32 = 2;
    const RENAME_WHITEOUT: u32 = 4;
    if flags & RENAME_EXCHANGE != 0 {
        if flags != RENAME_EXCHANGE {
            return Err(EINVAL);
        }
        let h = journal::start(old_dir.super_block(), credits::RENAME)?;
        return exchange(&h, old_dir, old, new_dir, new);
    }
    if flags & !(RENAME_NOREPLACE | RENAME_WHITEOUT) != 0 {
        return Err(EINVAL);
    }
    check_name(new.name())?;
    let inode = old.inode().ok_or(ENOENT)?;
    let is_dir = inode.file_type() == mode::S_IFDIR;
    let ft = format::file_type_of_mode(inode.mode());
    let same_dir = old_dir.ino() == new_dir.ino();
    if let Some(target) = new.inode() {
        if target.file_type() == mode::S_IFDIR && !is_empty(target)? {
            return Err(ENOTEMPTY);
        }
    }
    let sb = old_dir.super_block();
    // Before the handle: reading the directory's default ACL may do I/O.
    let mut wm = mode::S_IFCHR;
    let whiteout_acls = if flags & RENAME_WHITEOUT != 0 {
        Some(acl::CreateAcls::new(old_dir, &mut wm)?)
    } else {
        None
    };
    let mut h = journal::start(sb, credits::RENAME)?;
    // RENAME_WHITEOUT (overlayfs): the old name is left pointing at a whiteout, a
    // character device numbered 0/0, written before any entry changes.
    let mut whiteout = match &whiteout_acls {
        Some(acls) => Some(new_whiteout(&mut h, idmap, old_dir, old, acls, wm)?),
        None => None,
    };
    // Gives the whiteout back, its VFS inode first (it leaves the inode hash before its
    // number is free again, see `prepare_inode_xattrs`).
    let drop_whiteout = |h: &Handle<'_>, w: &mut Option<(NewINode<RextFs>, u64, format::Inode)>| {
        if let Some((new, ino, d)) = w.take() {
            drop(new);
            discard_xattrs(h, (d.xattr != 0).then_some(d.xattr));
            discard_inode(h, ino);
        }
    };
    // The new name is written before the old one goes: without the journal, a crash
    // leaves two links at worst.
    if let Some(target) = replaced {
        let target_dir = target.file_type() == mode::S_IFDIR;
        retarget_entry(&h, new_dir, new.name(), inode.ino(), ft)
            .inspect_err(|_| drop_whiteout(&h, &mut whiteout))?;
        if target_dir {
            target.set_nlink(0);
            new_dir.drop_nlink();
        } else {
            target.drop_nlink();
        }
        target.touch_ctime();
        target.mark_dirty();
        if target.nlink() == 0 {
            orphan::add(&h, target)
        } else {
            write_now(&h, target)
        }
        .inspect_err(|_| drop_whiteout(&h, &mut whiteout))?;
    } else {
        add_entry(&h, new_dir, new.name(), inode.ino(), ft)
            .inspect_err(|_| drop_whiteout(&h, &mut whiteout))?;
    }
    match whiteout {
        None => {
            remove_entry(&h, old_dir, old.name())?;
        }
        Some((mut w, ino, d)) => {
            if let Err(e) = retarget_entry(&h, old_dir, old.name(), ino, format::FT_CHR) {
                drop(w);
                discard_xattrs(&h, (d.xattr != 0).then_some(d.xattr));
                discard_inode(&h, ino);
                return Err(e);
            }
            if let Some(acls) = &whiteout_acls {
                // While the inode is still new and locked.
                acls.cache(&mut w);
            }
            // The VFS sees the whiteout at its next lookup of the old name.
            let seq = h.seq();
            drop(w.init(params(sb, &d), RxInode::new(&d, seq))?);
        }
    }
    if is_dir && !same_dir {
        new_dir.inc_nlink();
        write_now(&h, new_dir)?;
        old_dir.drop_nlink();
        write_now(&h, old_dir)?;
        inode.data().disk.lock().parent = new_dir.ino();
        write_now(&h, inode)?;
    } else if is_dir && new.inode().is_some_and(|t| t.file_type() == mode::S_IFDIR) {
        // A directory replaced in its own parent: one subdirectory less.
        write_now(&h, new_dir)?;
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

/// Points the existing entry `name` of `dir` at another inode (rename over a name), in the
/// transaction of `h`. The entry keeps its name and offset, so its index key does not change.
fn retarget_entry(
    h: &Handle<'_>,
    dir: &Locked<'_, RextFs>,
    name: &[u8],
    ino: u64,
    ft: u8,
) -> Result {
    let f = locate(dir, name)?;
    modify_dir_block(h, dir.ino(), f.phys, |b| {
        format::dirent_set_target(b, f.off, ino, ft)?;
        Ok(((), true))
    })
}

/// Tells whether directory `dir` has no entries.
fn is_empty(dir: &INode<RextFs>) -> Result<bool> {
    let sb = dir.super_block();
    let d = *dir.data().disk.lock();
    for lblk in 0..dir_blocks(sb, d.size) {
        let buf = read_dir_block(dir, &d, lblk)?;
        if !format::dirblock_is_empty(&buf).map_err(|e| corrupt(sb, "directory block", e))? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Writes an inode's current attributes to disk at once, in the transaction of `h`.
fn write_now(h: &Handle<'_>, inode: &INode<RextFs>) -> Result {
    let mut d = inode.data().disk.lock();
    sync_disk(inode, &mut d);
    crate::inode::write(h, inode, &d)
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

/// Allocates an inode number in the transaction of `h` and builds a new inode of `mode_in`
/// (owner from `parent` and the caller's ids through the mount's `idmap`), not yet written:
/// link count 2 for directories (parent `parent`), else 1.
fn prepare_inode(
    h: &Handle<'_>,
    idmap: &Idmap,
    parent: &INode<RextFs>,
    mode_in: u16,
) -> Result<(NewINode<RextFs>, u64, format::Inode)> {
    let sb = parent.super_block();
    // Top-level directories spread over the inode table; everything else stays near its
    // parent (as ext4's Orlov allocator does).
    let spread = mode_in & mode::S_IFMT == mode::S_IFDIR && parent.ino() == format::ROOT_INO;
    let ino = if spread {
        alloc::alloc_inode(h, alloc::dir_inode_goal(&sb.data().geo), None)?
    } else {
        alloc::alloc_inode(h, parent.ino(), Some(&parent.data().child_cursor))?
    };
    let mut new = match sb.new_inode(ino) {
        Ok(n) => n,
        Err(e) => {
            let _ = alloc::free_inode(h, ino);
            return Err(e);
        }
    };
    let (uid, gid, m) = new.init_owner(idmap, parent, mode_in);
    let is_dir = m & mode::S_IFMT == mode::S_IFDIR;
    let t = new.current_time();
    let ts = format::Timestamp {
        sec: t.sec,
        nsec: t.nsec,
    };
    let mut d = format::Inode::new(m);
    d.uid = uid;
    d.gid = gid;
    d.nlink = if is_dir { 2 } else { 1 };
    d.parent = if is_dir { parent.ino() } else { 0 };
    // A handle of an earlier inode with this number must go stale (NFS export).
    d.generation = kernel::fs::export::new_generation();
    d.atime = ts;
    d.mtime = ts;
    d.ctime = ts;
    d.btime = ts;
    d.flags = parent.data().disk.lock().flags & crate::inode::INHERITED_FLAGS;
    crate::file::prepare_new_inode(&mut new, d.mode);
    Ok((new, ino, d))
}

/// A new inode from [`prepare_inode_xattrs`], not written yet.
struct Prepared<'a> {
    /// The VFS inode, new and locked.
    new: NewINode<RextFs>,
    /// Its number, allocated in the transaction.
    ino: u64,
    /// Its disk copy.
    d: format::Inode,
    /// The attributes it is created with.
    xattrs: crate::xattr::NewXattrs<'a>,
    /// The xattr block allocated for them, if any.
    xblock: Option<u64>,
}

/// [`prepare_inode`], then the attributes the new inode is created with: the ACLs `acls` it
/// inherits and the labels the security modules give it under `dentry`'s name (`None` for
/// `O_TMPFILE`), with the xattr block that will hold them (`None` when there are none; see
/// [`crate::xattr::init_new`]), allocated in the transaction of `h`. When no block is free but
/// some are once the running transaction commits, the inode is given back (its number
/// allocated and freed again, its slot zeroed: a consistent state), the transaction committed
/// and everything tried once more.
fn prepare_inode_xattrs<'a>(
    h: &mut Handle<'_>,
    idmap: &Idmap,
    parent: &INode<RextFs>,
    dentry: Option<&DEntry<RextFs>>,
    mode_in: u16,
    acls: &'a acl::CreateAcls,
) -> Result<Prepared<'a>> {
    use crate::xattr::{alloc_new_block, NewBlock, NewXattrs};
    let mut retried = false;
    loop {
        let mark = journal::busy_mark(h.sb());
        let (mut new, ino, d) = prepare_inode(h, idmap, parent, mode_in)?;
        let got = new
            .init_security(parent, dentry)
            .map(|sec| NewXattrs::new(acls, sec))
            .and_then(|x| Ok((alloc_new_block(h, &x)?, x)));
        // On failure the VFS inode leaves the inode hash (dropped: `iget_failed`) before its
        // number is freed, so that a creation that is given the number next does not find it
        // there (`insert_inode_locked` would fail with `EBUSY`).
        let (block, xattrs) = match got {
            Ok(r) => r,
            Err(e) => {
                drop(new);
                discard_inode(h, ino);
                return Err(e);
            }
        };
        let xblock = match block {
            NewBlock::None => None,
            NewBlock::Block(b) => Some(b),
            NewBlock::NoFreeBlocks => {
                drop(new);
                discard_inode(h, ino);
                if retried || !journal::busy_may_help(h.sb(), mark) {
                    return Err(ENOSPC);
                }
                retried = true;
                h.restart()?;
                continue;
            }
        };
        return Ok(Prepared {
            new,
            ino,
            d,
            xattrs,
            xblock,
        });
    }
}

/// Creates an unnamed regular file for `O_TMPFILE`, in one transaction handle: written with
/// no links and put on the orphan list before the VFS sees it, so that a crash frees it and
/// `linkat` can name it.
fn tmpfile_node(idmap: &Idmap, dir: &INode<RextFs>, mode_in: u16) -> Result<ARef<INode<RextFs>>> {
    let sb = dir.super_block();
    let mut m = (mode_in & !mode::S_IFMT) | mode::S_IFREG;
    // Before the handle: reading the directory's default ACL may do I/O.
    let acls = acl::CreateAcls::new(dir, &mut m)?;
    let mut h = journal::start(sb, credits::TMPFILE)?;
    let Prepared {
        mut new,
        ino,
        mut d,
        xattrs,
        xblock,
    } = prepare_inode_xattrs(&mut h, idmap, dir, None, m, &acls)?;
    // Gives the inode back; its VFS inode must be gone first.
    let give_back = |e: Error| -> Error {
        let _ = orphan::remove(&h, ino);
        discard_xattrs(&h, xblock);
        discard_inode(&h, ino);
        e
    };
    let r = (|| -> Result<format::Inode> {
        if let Some(b) = xblock {
            crate::xattr::init_new(&h, b, ino, &mut d, &xattrs)?;
        }
        let mut on_disk = d;
        on_disk.nlink = 0;
        write_new_disk(&h, ino, &on_disk)?;
        orphan::add_new(&h, ino)?;
        Ok(on_disk)
    })();
    let on_disk = match r {
        Ok(on_disk) => on_disk,
        Err(e) => {
            // The VFS inode leaves the inode hash before its number is free again (see
            // `prepare_inode_xattrs`).
            drop(new);
            return Err(give_back(e));
        }
    };
    // The VFS inode starts with one link; the glue's d_tmpfile() drops it to zero.
    let seq = h.seq();
    // While the inode is still new and locked.
    acls.cache(&mut new);
    new.init(params(sb, &d), RxInode::new(&on_disk, seq))
        // A failed `init` has dropped the VFS inode.
        .map_err(give_back)
}

/// Creates a new inode of `mode` named by `dentry` in `parent`, in one transaction handle;
/// `link` is the target of a symlink; `idmap` is the mapping of the caller's mount.
fn create_node(
    idmap: &Idmap,
    parent: &Locked<'_, RextFs>,
    dentry: NewDEntry<'_, RextFs>,
    mode_in: u16,
    link: Option<&[u8]>,
    rdev: u32,
) -> Result {
    let sb = parent.super_block();
    let name = dentry.name();
    check_name(name)?;
    if let Some(target) = link {
        symlink::check_target(target)?;
    }
    let mut m = mode_in;
    // Before the handle: reading the directory's default ACL may do I/O.
    let acls = acl::CreateAcls::new(parent, &mut m)?;
    let mut h = journal::start(sb, credits::CREATE)?;
    let Prepared {
        mut new,
        ino,
        mut d,
        xattrs,
        xblock,
    } = prepare_inode_xattrs(&mut h, idmap, parent, Some(&*dentry), m, &acls)?;
    d.rdev = format::rdev_to_disk(rdev);
    let m = d.mode;
    let is_dir = m & mode::S_IFMT == mode::S_IFDIR;
    // Blocks of a slow symlink, given back if the inode cannot be linked in.
    let mut symlink_blocks = false;
    let r = (|| -> Result {
        if let Some(b) = xblock {
            crate::xattr::init_new(&h, b, ino, &mut d, &xattrs)?;
        }
        if let Some(target) = link {
            symlink::store_target(&h, ino, &mut d, target)?;
            symlink_blocks = !d.has_inline_data();
            if d.has_inline_data() {
                new.set_fast_link(target)?;
            }
        }
        // The inode is on disk before any entry points at it.
        write_new_disk(&h, ino, &d)?;
        add_entry(&h, parent, name, ino, format::file_type_of_mode(m))
    })();
    if let Err(e) = r {
        // The VFS inode leaves the inode hash before its number is free again (see
        // `prepare_inode_xattrs`).
        drop(new);
        if symlink_blocks {
            let _ = symlink::free_blocks_of(&h, ino, &d);
        }
        discard_xattrs(&h, xblock);
        discard_inode(&h, ino);
        return Err(e);
    }
    parent.touch_cmtime();
    if is_dir {
        // The parent's link count must never be lower on disk than the number of its
        // subdirectories: write it in this transaction rather than at writeback.
        parent.inc_nlink();
        write_now(&h, parent)?;
    }
    parent.mark_dirty();
    let seq = h.seq();
    // While the inode is still new and locked.
    acls.cache(&mut new);
    let inode = new.init(params(sb, &d), RxInode::new(&d, seq))?;
    dentry.instantiate(inode)
}

/// Gives back the xattr block of the attributes of a creation that then failed (best effort,
/// as [`discard_inode`]).
fn discard_xattrs(h: &Handle<'_>, block: Option<u64>) {
    if let Some(b) = block {
        let _ = alloc::free_blocks(h, b, 1);
    }
}

/// Gives back inode `ino`, written or allocated by a creation that then failed, in the
/// transaction of `h`: its slot is zeroed and freed (best effort: fsck finds an inode this
/// leaves behind).
fn discard_inode(h: &Handle<'_>, ino: u64) {
    let _ = zero_slot(h, ino);
    let _ = alloc::free_inode(h, ino);
}

/// Allocates and writes a whiteout inode (`S_IFCHR`, mode 0, device 0/0, one link) for
/// `rename(RENAME_WHITEOUT)` in `dir`, in the transaction of `h`; its VFS inode is initialised
/// once an entry points at it.
///
/// Like a created inode, it gets the ACLs `acls` it inherits (as the old name, `old`, would)
/// and the security modules' labels, in an xattr block freed with the inode if the rename
/// then fails.
fn new_whiteout(
    h: &mut Handle<'_>,
    idmap: &Idmap,
    dir: &Locked<'_, RextFs>,
    old: &DEntry<RextFs>,
    acls: &acl::CreateAcls,
    m: u16,
) -> Result<(NewINode<RextFs>, u64, format::Inode)> {
    let Prepared {
        new,
        ino,
        mut d,
        xattrs,
        xblock,
    } = prepare_inode_xattrs(h, idmap, dir, Some(old), m, acls)?;
    let r = match xblock {
        Some(b) => crate::xattr::init_new(h, b, ino, &mut d, &xattrs),
        None => Ok(()),
    }
    .and_then(|()| write_new_disk(h, ino, &d));
    if let Err(e) = r {
        drop(new);
        discard_xattrs(h, xblock);
        discard_inode(h, ino);
        return Err(e);
    }
    Ok((new, ino, d))
}

/// `rename(RENAME_EXCHANGE)`, in the transaction of `h`: the two names swap their inodes (the
/// VFS checked that both exist and swaps the dentries). Each entry is rewritten in place;
/// without the journal, a crash in between leaves both names on one inode, a link count fsck
/// repairs. Directories moved to the other parent get it as their `parent`, and the parents'
/// link counts follow the subdirectories.
fn exchange(
    h: &Handle<'_>,
    old_dir: &Locked<'_, RextFs>,
    old: &DEntry<RextFs>,
    new_dir: &Locked<'_, RextFs>,
    new: &DEntry<RextFs>,
) -> Result {
    let a = old.inode().ok_or(ENOENT)?;
    let b = new.inode().ok_or(ENOENT)?;
    let a_dir = a.file_type() == mode::S_IFDIR;
    let b_dir = b.file_type() == mode::S_IFDIR;
    retarget_entry(
        h,
        new_dir,
        new.name(),
        a.ino(),
        format::file_type_of_mode(a.mode()),
    )?;
    retarget_entry(
        h,
        old_dir,
        old.name(),
        b.ino(),
        format::file_type_of_mode(b.mode()),
    )?;
    if old_dir.ino() != new_dir.ino() {
        if a_dir {
            a.data().disk.lock().parent = new_dir.ino();
            write_now(h, a)?;
        }
        if b_dir {
            b.data().disk.lock().parent = old_dir.ino();
            write_now(h, b)?;
        }
        if a_dir != b_dir {
            // One directory changed parent, the other entry is not a directory.
            let (gains, loses) = if a_dir {
                (new_dir, old_dir)
            } else {
                (old_dir, new_dir)
            };
            gains.inc_nlink();
            loses.drop_nlink();
            write_now(h, gains)?;
            write_now(h, loses)?;
        }
        new_dir.touch_cmtime();
        new_dir.mark_dirty();
    }
    old_dir.touch_cmtime();
    old_dir.mark_dirty();
    for i in [a, b] {
        i.touch_ctime();
        i.mark_dirty();
    }
    Ok(())
}

#[vtable]
impl inode::Operations for DirOps {
    type FileSystem = RextFs;

    fn getattr(inode: &INode<RextFs>, stat: &mut Kstat, _request_mask: u32, _flags: u32) -> Result {
        crate::inode::statx_attributes(inode, stat);
        Ok(())
    }

    fn fileattr_get(inode: &INode<RextFs>, fa: &mut FileAttr) -> Result {
        crate::inode::fileattr_get(inode, fa)
    }

    fn fileattr_set(inode: &Locked<'_, RextFs>, fa: &FileAttr) -> Result {
        crate::inode::fileattr_set(inode, fa)
    }

    fn create(
        idmap: &Idmap,
        parent: &Locked<'_, RextFs>,
        dentry: NewDEntry<'_, RextFs>,
        m: u16,
    ) -> Result {
        create_node(
            idmap,
            parent,
            dentry,
            (m & !mode::S_IFMT) | mode::S_IFREG,
            None,
            0,
        )
    }

    fn mknod(
        idmap: &Idmap,
        parent: &Locked<'_, RextFs>,
        dentry: NewDEntry<'_, RextFs>,
        m: u16,
        rdev: u32,
    ) -> Result {
        match m & mode::S_IFMT {
            // Only devices have a number; the format keeps it 0 for the others.
            mode::S_IFCHR | mode::S_IFBLK => create_node(idmap, parent, dentry, m, None, rdev),
            mode::S_IFIFO | mode::S_IFSOCK => create_node(idmap, parent, dentry, m, None, 0),
            _ => Err(EINVAL),
        }
    }

    fn mkdir(
        idmap: &Idmap,
        parent: &Locked<'_, RextFs>,
        dentry: NewDEntry<'_, RextFs>,
        m: u16,
    ) -> Result {
        create_node(
            idmap,
            parent,
            dentry,
            (m & !mode::S_IFMT) | mode::S_IFDIR,
            None,
            0,
        )
    }

    fn symlink(
        idmap: &Idmap,
        parent: &Locked<'_, RextFs>,
        dentry: NewDEntry<'_, RextFs>,
        target: &CStr,
    ) -> Result {
        create_node(
            idmap,
            parent,
            dentry,
            mode::S_IFLNK | 0o777,
            Some(target.to_bytes()),
            0,
        )
    }

    fn unlink(
        parent: &Locked<'_, RextFs>,
        dentry: &DEntry<RextFs>,
        inode: &Locked<'_, RextFs>,
    ) -> Result {
        {
            let h = journal::start(parent.super_block(), credits::UNLINK)?;
            remove_entry(&h, parent, dentry.name())?;
            inode.drop_nlink();
            inode.touch_ctime();
            inode.mark_dirty();
            parent.touch_cmtime();
            parent.mark_dirty();
            if inode.nlink() == 0 {
                // It may still be open: freed at its last reference, or at mount after a
                // crash. Putting it on the orphan list writes it with its link count.
                orphan::add(&h, inode)?;
            } else {
                write_now(&h, inode)?;
            }
        }
        shrink(parent);
        Ok(())
    }

    fn tmpfile(idmap: &Idmap, dir: &INode<RextFs>, m: u16) -> Result<ARef<INode<RextFs>>> {
        tmpfile_node(idmap, dir, m)
    }

    fn rmdir(
        parent: &Locked<'_, RextFs>,
        dentry: &DEntry<RextFs>,
        inode: &Locked<'_, RextFs>,
    ) -> Result {
        if !is_empty(inode)? {
            return Err(ENOTEMPTY);
        }
        {
            let h = journal::start(parent.super_block(), credits::RMDIR)?;
            remove_entry(&h, parent, dentry.name())?;
            inode.set_nlink(0);
            inode.touch_ctime();
            inode.mark_dirty();
            parent.drop_nlink();
            parent.touch_cmtime();
            write_now(&h, parent)?;
            parent.mark_dirty();
            orphan::add(&h, inode)?;
        }
        shrink(parent);
        Ok(())
    }

    fn rename(
        idmap: &Idmap,
        old_dir: &Locked<'_, RextFs>,
        old: &DEntry<RextFs>,
        new_dir: &Locked<'_, RextFs>,
        new: &DEntry<RextFs>,
        replaced: Option<&Locked<'_, RextFs>>,
        flags: u32,
    ) -> Result {
        rename_entries(idmap, old_dir, old, new_dir, new, replaced, flags)?;
        // An entry left the old directory (an exchange or a whiteout keeps its size).
        shrink(old_dir);
        Ok(())
    }

    fn link(
        inode: &Locked<'_, RextFs>,
        dir: &Locked<'_, RextFs>,
        new: NewDEntry<'_, RextFs>,
    ) -> Result {
        if inode.file_type() == mode::S_IFDIR {
            return Err(EPERM);
        }
        check_name(new.name())?;
        let h = journal::start(dir.super_block(), credits::LINK)?;
        add_entry(
            &h,
            dir,
            new.name(),
            inode.ino(),
            format::file_type_of_mode(inode.mode()),
        )?;
        let was_orphan = inode.nlink() == 0;
        inode.inc_nlink();
        inode.touch_ctime();
        inode.mark_dirty();
        // The link count is never lower on disk than the number of names: written in this
        // transaction. An O_TMPFILE file gets its first name: on disk with its link, then
        // off the list.
        write_now(&h, inode)?;
        if was_orphan {
            orphan::remove(&h, inode.ino())?;
        }
        dir.touch_cmtime();
        dir.mark_dirty();
        new.instantiate(ARef::from(&**inode))
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

    // Everything changes through the VFS, which breaks leases as it should.
    const LEASES: bool = true;

    fn ioctl(file: &LocalFile, inode: &INode<RextFs>, cmd: u32, arg: usize) -> Result<i32> {
        crate::ioctl::ioctl(file, inode, cmd, arg)
    }

    fn fsync(
        _file: &LocalFile,
        dir: &INode<RextFs>,
        _start: i64,
        _end: i64,
        _datasync: bool,
    ) -> Result {
        // Directory blocks change in transactions: write the inode if it is dirty, and commit.
        dir.sync_metadata()?;
        crate::journal::force(dir.super_block())
    }

    fn read_dir(_file: &LocalFile, dir: &INode<RextFs>, emitter: &mut DirEmitter) -> Result {
        crate::check_live(dir.super_block())?;
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
            let buf = read_dir_block(dir, &d, lblk)?;
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
