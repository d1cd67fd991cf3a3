// SPDX-License-Identifier: GPL-2.0

//! Regular files: all data I/O goes through iomap.
//!
//! Blocks are allocated when iomap asks for a write mapping (buffered write or write fault),
//! as one contiguous run per call when possible, next to the file's previous blocks. They are
//! written back by `iomap_writepages` to the blocks recorded in the extent tree.

use crate::{extent, format, inode::write_disk, RextFs};
use extent::{Mapping as Ext, TreeCtx};
use iomap::{AddressSpace, MapFlags, Mapping, OpFlags};
use kernel::fs::{
    file_ops::{self, VmOps},
    inode::{self, Attr, FiemapInfo, INode, Locked},
    File, Kiocb,
};
use kernel::iov::{IovIterDest, IovIterSource};
use kernel::prelude::*;

/// Operations of regular files.
pub(crate) struct FileOps;

/// Most blocks allocated by one `iomap_begin` call.
const MAX_ALLOC: u64 = 4096;

/// Records `got` new blocks at `start` as the data of logical blocks `lblk..` in the inode's
/// extent tree (`d`, the in-memory disk inode, updated only on success). On failure the
/// blocks are freed again: nothing points at them yet.
fn insert_new_extent(
    inode: &INode<RextFs>,
    d: &mut format::Inode,
    lblk: u64,
    start: u64,
    got: u64,
) -> Result {
    let sb = inode.super_block();
    let mut blocks = d.blocks.saturating_add(got);
    let mut root = d.area;
    let mut ctx = TreeCtx {
        sb,
        ino: inode.ino(),
        goal: start + got,
        blocks: &mut blocks,
        freed: KVec::new(),
    };
    let e = format::Extent {
        logical: lblk,
        physical: start,
        len: got as u32,
        flags: 0,
    };
    if let Err(err) = ctx.insert(&mut root, &e) {
        let _ = crate::alloc::free_blocks(sb, start, got);
        return Err(err);
    }
    d.area = root;
    d.blocks = blocks;
    Ok(())
}

/// Allocation goal for logical block `lblk` of the file: after the extent before it, or
/// spread by inode number.
fn goal(inode: &INode<RextFs>, root: &[u8], lblk: u64) -> u64 {
    let sb = inode.super_block();
    let geo = &sb.data().geo;
    if lblk > 0 {
        if let Ok(Ext::Mapped(e)) = extent::lookup(sb, inode.ino(), root, lblk - 1) {
            if let Some(p) = e.map(lblk - 1) {
                return p + 1;
            }
        }
    }
    let span = geo.total_blocks - geo.layout.data_start;
    geo.layout.data_start + (inode.ino().wrapping_mul(2_654_435_761) % span.max(1))
}

impl FileOps {
    fn map(inode: &INode<RextFs>, pos: i64, length: i64, flags: OpFlags) -> Result<Mapping> {
        let sb = inode.super_block();
        let shift = sb.data().geo.block_log2;
        let bs = 1u64 << shift;
        let pos = u64::try_from(pos).map_err(|_| EINVAL)?;
        let lblk = pos >> shift;
        let end = pos
            .checked_add(u64::try_from(length).map_err(|_| EINVAL)?.max(1))
            .ok_or(EFBIG)?;
        // Mappings end at a block boundary that still fits a file offset.
        let last = end.div_ceil(bs).min(i64::MAX as u64 >> shift);
        let want = last.saturating_sub(lblk).max(1);
        let mut d = inode.data().disk.lock();
        match extent::lookup(sb, inode.ino(), &d.area, lblk)? {
            Ext::Mapped(e) => {
                let phys = e.map(lblk).ok_or(EFSCORRUPTED)?;
                let n = (e.logical_end() - lblk).min(want);
                let (off, len, addr) = ((lblk << shift) as i64, n << shift, phys << shift);
                Ok(if e.unwritten() {
                    Mapping::unwritten(sb, off, len, addr)
                } else {
                    Mapping::mapped(sb, off, len, addr)
                })
            }
            Ext::Hole { end: hole_end } => {
                let n = (hole_end - lblk).min(want);
                if !flags.is_data_write() {
                    // A hole may end at the largest file offset, short of a block boundary.
                    let off = (lblk << shift) as i64;
                    let len = (n << shift).min((i64::MAX - off) as u64);
                    return Ok(Mapping::hole(off, len));
                }
                if lblk
                    .checked_add(n)
                    .is_none_or(|e| e > sb.data().geo.max_file_blocks())
                {
                    return Err(EFBIG);
                }
                let g = goal(inode, &d.area, lblk);
                let (start, got) = crate::alloc::alloc_blocks(sb, g, n.min(MAX_ALLOC))?;
                insert_new_extent(inode, &mut d, lblk, start, got)?;
                // The extent must be on disk before the data can reach the new blocks, or a
                // crash could leave it pointing nowhere; write the inode now.
                d.size = inode.size() as u64;
                write_disk(sb, inode.ino(), &d)?;
                inode.set_bytes(d.blocks << shift);
                Ok(
                    Mapping::mapped(sb, (lblk << shift) as i64, got << shift, start << shift)
                        .with_flags(MapFlags::NEW),
                )
            }
        }
    }

    /// Changes the size, freeing the blocks beyond a smaller size.
    fn set_size(inode: &Locked<'_, RextFs>, size: i64) -> Result {
        let sb = inode.super_block();
        // `setattr_prepare` already checked the size against `s_maxbytes`.
        if size < 0 {
            return Err(EINVAL);
        }
        inode.dio_wait();
        let ilock = inode.invalidate_lock();
        let old = inode.size();
        if size < old {
            iomap::truncate_page::<FileOps>(inode, &ilock, size)?;
        }
        inode.truncate_setsize(size);
        let shift = sb.data().geo.block_log2;
        let from = (size as u64).div_ceil(1 << shift);
        let freed = {
            let mut d = inode.data().disk.lock();
            let mut root = d.area;
            let mut blocks = d.blocks;
            let mut ctx = TreeCtx {
                sb,
                ino: inode.ino(),
                goal: 0,
                blocks: &mut blocks,
                freed: KVec::new(),
            };
            ctx.truncate(&mut root, from)?;
            let freed = core::mem::take(&mut ctx.freed);
            d.area = root;
            d.blocks = blocks;
            d.size = size as u64;
            write_disk(sb, inode.ino(), &d)?;
            inode.set_bytes(blocks << shift);
            freed
        };
        drop(ilock);
        extent::free_all(sb, &freed)?;
        inode.touch_cmtime();
        inode.mark_dirty();
        Ok(())
    }
}

/// Frees every block of an inode whose last link and reference are gone.
pub(crate) fn free_all_blocks(inode: &INode<RextFs>) -> Result {
    let sb = inode.super_block();
    let freed = {
        let mut d = inode.data().disk.lock();
        let mut root = d.area;
        let mut blocks = d.blocks;
        let mut ctx = TreeCtx {
            sb,
            ino: inode.ino(),
            goal: 0,
            blocks: &mut blocks,
            freed: KVec::new(),
        };
        ctx.truncate(&mut root, 0)
            .map_err(|e| corrupt_note(inode, e))?;
        let freed = core::mem::take(&mut ctx.freed);
        d.area = root;
        d.blocks = blocks;
        freed
    };
    extent::free_all(sb, &freed)
}

fn corrupt_note(inode: &INode<RextFs>, e: Error) -> Error {
    pr_err!(
        "{}: cannot free the blocks of inode {}: {:?}\n",
        inode.super_block().id(),
        inode.ino(),
        e
    );
    e
}

#[vtable]
impl iomap::Operations for FileOps {
    type FileSystem = RextFs;

    fn begin(inode: &INode<RextFs>, pos: i64, length: i64, flags: OpFlags) -> Result<Mapping> {
        Self::map(inode, pos, length, flags)
    }
}

impl FileOps {
    /// Preallocates blocks for `offset..offset + len` (`fallocate` modes 0 and
    /// `FALLOC_FL_KEEP_SIZE`): holes get new blocks zeroed on the device, so they read as
    /// zeroes without unwritten extents.
    fn preallocate(
        file: &File,
        inode: &INode<RextFs>,
        keep_size: bool,
        offset: i64,
        len: i64,
    ) -> Result {
        if offset < 0 || len <= 0 {
            return Err(EINVAL);
        }
        let end = offset.checked_add(len).ok_or(EFBIG)?;
        let sb = inode.super_block();
        let shift = sb.data().geo.block_log2;
        if (end as u64).div_ceil(1 << shift) > sb.data().geo.max_file_blocks() {
            return Err(EFBIG);
        }
        let lock = inode.lock();
        file_ops::file_modified_file(&lock, file)?;
        let mut lblk = (offset as u64) >> shift;
        let last = (end as u64).div_ceil(1 << shift);
        while lblk < last {
            let mut d = inode.data().disk.lock();
            match extent::lookup(sb, inode.ino(), &d.area, lblk)? {
                Ext::Mapped(e) => lblk = e.logical_end(),
                Ext::Hole { end: hole_end } => {
                    let n = (hole_end.min(last) - lblk).min(MAX_ALLOC);
                    let g = goal(inode, &d.area, lblk);
                    let (start, got) = crate::alloc::alloc_blocks(sb, g, n)?;
                    if let Err(e) = sb.zeroout(start << shift, got << shift) {
                        let _ = crate::alloc::free_blocks(sb, start, got);
                        return Err(e);
                    }
                    insert_new_extent(inode, &mut d, lblk, start, got)?;
                    d.size = inode.size() as u64;
                    write_disk(sb, inode.ino(), &d)?;
                    inode.set_bytes(d.blocks << shift);
                    lblk += got;
                }
            }
        }
        if !keep_size && end > inode.size() {
            lock.set_size(end);
        }
        inode.touch_ctime();
        inode.mark_dirty();
        Ok(())
    }
}

#[vtable]
impl iomap::WritebackOperations for FileOps {
    const DIRECT_IO: bool = true;

    fn map_writeback(inode: &INode<RextFs>, pos: i64, len: u32, _end_pos: i64) -> Result<Mapping> {
        // Blocks were allocated when the data was written into the page cache.
        Self::map(inode, pos, i64::from(len), OpFlags::empty())
    }
}

#[vtable]
impl file_ops::Operations for FileOps {
    type FileSystem = RextFs;

    const VM_OPS: Option<VmOps> = Some(AddressSpace::<FileOps>::vm_ops());

    fn read_iter(
        iocb: &mut Kiocb<'_, ()>,
        inode: &INode<RextFs>,
        to: &mut IovIterDest<'_>,
    ) -> Result<usize> {
        if file_ops::is_direct(iocb) {
            let lock = inode.lock_shared();
            match iomap::dio_read::<FileOps>(&lock, iocb, to) {
                Err(e) if e == ENOTBLK => {}
                r => return r,
            }
        }
        file_ops::generic_read_iter(iocb, to)
    }

    fn llseek(file: &File, inode: &INode<RextFs>, offset: i64, whence: i32) -> Result<i64> {
        let pos = match whence {
            file_ops::SEEK_DATA => iomap::seek_data::<FileOps>(&inode.lock_shared(), offset)?,
            file_ops::SEEK_HOLE => iomap::seek_hole::<FileOps>(&inode.lock_shared(), offset)?,
            _ => return file_ops::generic_llseek(file, offset, whence),
        };
        file_ops::set_pos(file, pos, inode.super_block().max_bytes())
    }

    fn fallocate(file: &File, inode: &INode<RextFs>, mode: i32, offset: i64, len: i64) -> Result {
        if mode & !file_ops::FALLOC_FL_KEEP_SIZE != 0 {
            return Err(EOPNOTSUPP);
        }
        Self::preallocate(
            file,
            inode,
            mode & file_ops::FALLOC_FL_KEEP_SIZE != 0,
            offset,
            len,
        )
    }

    fn write_iter(
        iocb: &mut Kiocb<'_, ()>,
        inode: &INode<RextFs>,
        from: &mut IovIterSource<'_>,
    ) -> Result<usize> {
        let written = {
            let lock = inode.lock();
            if file_ops::write_checks(&lock, iocb, from)? == 0 {
                return Ok(0);
            }
            file_ops::file_modified(&lock, iocb)?;
            let mut done = None;
            if file_ops::is_direct(iocb) {
                match iomap::dio_write::<FileOps>(&lock, iocb, from) {
                    Err(e) if e == ENOTBLK => {}
                    r => {
                        let n = r?;
                        // iomap advanced the position; extend the file if it wrote past it.
                        if iocb.ki_pos() > inode.size() {
                            lock.set_size(iocb.ki_pos());
                            inode.mark_dirty();
                        }
                        done = Some(n);
                    }
                }
            }
            match done {
                Some(n) => n,
                None => {
                    let old_size = inode.size();
                    let n = iomap::buffered_write::<FileOps>(&lock, iocb, from)?;
                    // iomap updated i_size but does not dirty the inode for it: do it, so
                    // that fsync and writeback write the new size.
                    if inode.size() != old_size {
                        inode.mark_dirty();
                    }
                    n
                }
            }
        };
        file_ops::write_sync(iocb, written)
    }

    fn fsync(file: &File, inode: &INode<RextFs>, start: i64, end: i64, _datasync: bool) -> Result {
        file_ops::write_and_wait_range(file, start, end)?;
        inode.sync_metadata()?;
        inode.super_block().flush_device()
    }
}

#[vtable]
impl inode::Operations for FileOps {
    type FileSystem = RextFs;

    fn fiemap(inode: &INode<RextFs>, info: &mut FiemapInfo, start: u64, len: u64) -> Result {
        iomap::fiemap::<FileOps>(&inode.lock_shared(), info, start, len)
    }

    fn setattr(inode: &Locked<'_, RextFs>, attr: &Attr) -> Result {
        if let Some(size) = attr.size() {
            if size != inode.size() {
                Self::set_size(inode, size)?;
            }
        }
        Ok(())
    }
}
