// SPDX-License-Identifier: GPL-2.0

//! Symbolic links ("Symbolic links" in `Documentation/filesystems/rextfs.rst`).
//!
//! Targets of up to [`format::FAST_SYMLINK_MAX`] bytes are *fast*: kept in the inode area
//! (flag INLINE_DATA) and, in memory, in `i_link`, served by `simple_get_link` without I/O.
//! Longer targets, up to [`format::MAX_SYMLINK_LEN`] bytes, are *slow*: file data in
//! `ceil(size / block_size)` blocks mapped from logical block 0 by the extent tree, written and
//! read as whole blocks through the block device's page cache like other metadata.

use crate::journal::Handle;
use crate::{alloc, corrupt, extent, extent::TreeCtx, format, meta, RextFs};
use kernel::fs::inode::{self, INode, Link, Symlink};
use kernel::prelude::*;

/// Inode operations of fast symlinks: the target is `i_link`.
pub(crate) struct FastSymlinkOps;

#[vtable]
impl inode::Operations for FastSymlinkOps {
    type FileSystem = RextFs;
    const SYMLINK: Symlink = Symlink::Fast;
}

/// Inode operations of slow symlinks: the target is read from the link's blocks.
pub(crate) struct SlowSymlinkOps;

#[vtable]
impl inode::Operations for SlowSymlinkOps {
    type FileSystem = RextFs;

    // Reading blocks may sleep: no `get_link_rcu`, so RCU path walk gets `ECHILD` and retries
    // in ref-walk.
    fn get_link<'a>(inode: &'a INode<RextFs>) -> Result<Link<'a>> {
        let target = read_target(inode)?;
        Link::owned(&target)
    }
}

/// Checks a target given to `symlink(2)`: `ENAMETOOLONG` past the format's limit.
pub(crate) fn check_target(target: &[u8]) -> Result {
    if target.is_empty() {
        return Err(ENOENT);
    }
    if target.len() as u64 > format::MAX_SYMLINK_LEN {
        return Err(ENAMETOOLONG);
    }
    Ok(())
}

/// Reads the target of slow symlink `inode` from its blocks.
fn read_target(inode: &INode<RextFs>) -> Result<KVec<u8>> {
    let sb = inode.super_block();
    let d = *inode.data().disk.lock();
    let shift = sb.data().geo.block_log2;
    let len = d.size as usize;
    if d.size == 0 || d.size > format::MAX_SYMLINK_LEN {
        pr_err!("{}: symlink {} has size {}\n", sb.id(), inode.ino(), d.size);
        return Err(EFSCORRUPTED);
    }
    let mut target = KVec::with_capacity(len, GFP_KERNEL)?;
    let mut lblk = 0u64;
    while target.len() < len {
        let phys = match extent::lookup(sb, inode.ino(), &d.area, lblk)? {
            extent::Mapping::Mapped(e) if !e.unwritten() => e.map(lblk).ok_or(EFSCORRUPTED)?,
            _ => {
                pr_err!(
                    "{}: symlink {} has no block {}\n",
                    sb.id(),
                    inode.ino(),
                    lblk
                );
                return Err(EFSCORRUPTED);
            }
        };
        let buf = meta::read_block(sb, phys)?;
        let take = (len - target.len()).min(1usize << shift);
        target.extend_from_slice(&buf[..take], GFP_KERNEL)?;
        lblk += 1;
    }
    if target.contains(&0) {
        pr_err!(
            "{}: symlink {} target holds a NUL byte\n",
            sb.id(),
            inode.ino()
        );
        return Err(EFSCORRUPTED);
    }
    Ok(target)
}

/// Stores `target` in the new symlink inode `ino` (on-disk inode `d`, not yet written), in the
/// transaction of `h`: in the area when it fits, else in newly allocated blocks that are
/// written before the extent tree maps them. On failure every block taken is given back.
pub(crate) fn store_target(
    h: &Handle<'_>,
    ino: u64,
    d: &mut format::Inode,
    target: &[u8],
) -> Result {
    let sb = h.sb();
    if target.len() <= format::FAST_SYMLINK_MAX {
        return d
            .set_inline_target(target)
            .map_err(|e| corrupt(sb, "fast symlink", e));
    }
    let shift = sb.data().geo.block_log2;
    let bs = 1usize << shift;
    let nblocks = target.len().div_ceil(bs) as u64;
    let mut runs: KVec<(u64, u64)> = KVec::new();
    let mut root = d.area;
    let mut blocks = d.blocks;
    let r = (|| -> Result {
        let mut goal = sb.data().geo.layout.data_start;
        let mut lblk = 0u64;
        let mut buf = KVec::from_elem(0u8, bs, GFP_KERNEL)?;
        while lblk < nblocks {
            runs.reserve(1, GFP_KERNEL)?;
            let (start, n) = alloc::alloc_meta_blocks(h, goal, nblocks - lblk)?;
            runs.push((start, n), GFP_KERNEL)?;
            blocks += n;
            for i in 0..n {
                let from = ((lblk + i) as usize) << shift;
                let part = &target[from..target.len().min(from + bs)];
                buf.fill(0);
                buf[..part.len()].copy_from_slice(part);
                h.write_block(start + i, &buf)?;
            }
            let mut ctx = TreeCtx {
                sb: h,
                ino,
                goal: start + n,
                blocks: &mut blocks,
                freed: KVec::new(),
            };
            let e = format::Extent {
                logical: lblk,
                physical: start,
                len: n as u32,
                flags: 0,
            };
            ctx.insert(&mut root, &e)?;
            lblk += n;
            goal = start + n;
        }
        Ok(())
    })();
    if let Err(e) = r {
        for &(start, n) in runs.iter() {
            let _ = alloc::free_blocks(h, start, n);
        }
        return Err(e);
    }
    d.area = root;
    d.blocks = blocks;
    d.size = target.len() as u64;
    Ok(())
}

/// Frees every block mapped by the extent tree of inode `ino` (on-disk copy `d`), which nothing
/// references any more (a symlink whose creation failed: a few blocks), in the transaction of
/// `h`.
pub(crate) fn free_blocks_of(h: &Handle<'_>, ino: u64, d: &format::Inode) -> Result {
    let mut root = d.area;
    let mut blocks = d.blocks;
    let mut ctx = TreeCtx {
        sb: h,
        ino,
        goal: 0,
        blocks: &mut blocks,
        freed: KVec::new(),
    };
    ctx.truncate(&mut root, 0)?;
    let freed = core::mem::take(&mut ctx.freed);
    extent::free_all(h, &freed)
}
