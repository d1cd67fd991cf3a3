// SPDX-License-Identifier: GPL-2.0

//! The orphan list ("Orphans" in `Documentation/filesystems/rextfs.rst`): inodes whose link
//! count reached zero while they may still be open. `orphan_head` in the super block points at
//! the first, each inode's `next_orphan` at the next. An inode goes on the list (head first)
//! when its last name goes or when `O_TMPFILE` creates it, leaves it when `linkat` gives it a
//! name or when it is freed at its last reference, and a writable mount frees whatever a crash
//! left there.
//!
//! List changes happen under the super block state lock; the `next_orphan` fields are changed
//! only here, on disk ([`inode::set_next_orphan`]; [`inode::write_disk`] keeps them).
//!
//! The list is singly linked on disk, so taking an inode off it needs the one before it. While
//! mounted, [`SbState::orphans`] indexes the list: every inode on it got there through
//! [`add`] or [`add_new`] in this mount (a read-write mount empties the list first,
//! [`process_at_mount`]), so the index knows each one's predecessor and neither unlinking many
//! open files nor closing them walks the list.

use crate::{alloc, dirindex, format, inode, symlink, write_super, RextFs, SbState};
use kernel::fs::{inode::INode, SuperBlock};
use kernel::prelude::*;
use kernel::rbtree::{RBTree, RBTreeNode};

/// Puts `inode`, whose link count is zero, on the orphan list. The inode is written first (with
/// its zero link count), then linked in at the head.
pub(crate) fn add(inode: &INode<RextFs>) -> Result {
    let sb = inode.super_block();
    let ino = inode.ino();
    let d = {
        let mut d = inode.data().disk.lock();
        inode::sync_disk(inode, &mut d);
        *d
    };
    let info = sb.data();
    let mut st = info.state.lock();
    inode::write_disk(sb, ino, &d)?;
    link_at_head(sb, &mut st, ino)
}

/// Puts the new inode `ino`, already written with no links, on the orphan list.
pub(crate) fn add_new(sb: &SuperBlock<RextFs>, ino: u64) -> Result {
    let info = sb.data();
    let mut st = info.state.lock();
    link_at_head(sb, &mut st, ino)
}

/// Links inode `ino` in at the head of the list and the index (state lock held).
fn link_at_head(sb: &SuperBlock<RextFs>, st: &mut SbState, ino: u64) -> Result {
    // The index entry is allocated first: without memory, nothing has changed on disk.
    let node = RBTreeNode::new(ino, 0, GFP_KERNEL)?;
    let mut disk = DevList {
        sb,
        disk: &mut st.disk,
    };
    link_in(&mut disk, &mut st.orphans, ino, node)
}

/// Takes inode `ino` off the orphan list (it got a name again, or it is being freed). An inode
/// that is not on the list is left alone.
pub(crate) fn remove(sb: &SuperBlock<RextFs>, ino: u64) -> Result {
    let info = sb.data();
    let mut st = info.state.lock();
    let st = &mut *st;
    let mut disk = DevList {
        sb,
        disk: &mut st.disk,
    };
    unlink(&mut disk, &mut st.orphans, ino)
}

/// The on-disk side of the orphan list, as [`link_in`] and [`unlink`] see it: the head in the
/// super block and the `next_orphan` field of each inode. On the device, or in memory in the
/// KUnit tests.
pub(crate) trait ListDisk {
    /// Name of the device, for log lines.
    fn dev_id(&self) -> &CStr;
    /// The first inode of the list (0: empty).
    fn head(&self) -> u64;
    /// Makes `ino` the first inode of the list (0: empty); on failure, the head is unchanged.
    fn set_head(&mut self, ino: u64) -> Result;
    /// The `next_orphan` field of inode `ino`.
    fn next_of(&self, ino: u64) -> Result<u64>;
    /// Sets the `next_orphan` field of inode `ino`.
    fn set_next(&mut self, ino: u64, next: u64) -> Result;
}

/// The orphan list of a mounted file system (state lock held).
struct DevList<'a> {
    sb: &'a SuperBlock<RextFs>,
    disk: &'a mut format::Superblock,
}

impl ListDisk for DevList<'_> {
    fn dev_id(&self) -> &CStr {
        self.sb.id()
    }

    fn head(&self) -> u64 {
        self.disk.orphan_head
    }

    fn set_head(&mut self, ino: u64) -> Result {
        let old = self.disk.orphan_head;
        self.disk.orphan_head = ino;
        if let Err(e) = write_super(self.sb, self.disk) {
            self.disk.orphan_head = old;
            return Err(e);
        }
        Ok(())
    }

    fn next_of(&self, ino: u64) -> Result<u64> {
        Ok(inode::read_disk(self.sb, ino)?.next_orphan)
    }

    fn set_next(&mut self, ino: u64, next: u64) -> Result {
        inode::set_next_orphan(self.sb, ino, next)
    }
}

/// Links inode `ino` in at the head of the list on `disk` and in `index` (inode to
/// predecessor, 0 for the head), with `node`, the index entry of `ino`. The inode points at the
/// old head before the head points at it; if that fails, neither the list nor the index
/// changed.
pub(crate) fn link_in<D: ListDisk>(
    disk: &mut D,
    index: &mut RBTree<u64, u64>,
    ino: u64,
    node: RBTreeNode<u64, u64>,
) -> Result {
    let old = disk.head();
    disk.set_next(ino, old)?;
    disk.set_head(ino)?;
    if let Some(prev) = index.get_mut(&old) {
        *prev = ino;
    }
    index.insert(node);
    Ok(())
}

/// Takes inode `ino` off the list on `disk` and out of `index`, and clears its `next_orphan`.
/// An inode that is not in the index is left alone.
pub(crate) fn unlink<D: ListDisk>(disk: &mut D, index: &mut RBTree<u64, u64>, ino: u64) -> Result {
    let Some(&prev) = index.get(&ino) else {
        return Ok(());
    };
    let next = disk.next_of(ino)?;
    if prev == 0 {
        if disk.head() != ino {
            pr_err!(
                "{}: orphan inode {} is not the list head {}\n",
                disk.dev_id(),
                ino,
                disk.head()
            );
            return Err(EFSCORRUPTED);
        }
        disk.set_head(next)?;
    } else {
        disk.set_next(prev, next)?;
    }
    if let Some(p) = index.get_mut(&next) {
        *p = prev;
    }
    index.remove(&ino);
    disk.set_next(ino, 0)
}

/// Frees every block of the on-disk inode `ino` (`d`): hash index, extent tree and data.
fn free_blocks(sb: &SuperBlock<RextFs>, ino: u64, d: &format::Inode) -> Result {
    if d.dir_index_root != 0 {
        dirindex::free_index(sb, ino, d.dir_index_root)?;
    }
    if !d.has_inline_data() {
        symlink::free_blocks_of(sb, ino, d)?;
    }
    Ok(())
}

/// Frees the inodes a crash left on the orphan list, at a writable mount: blocks, slot and
/// bitmap bit of each, the list head following along (written after each inode).
pub(crate) fn process_at_mount(sb: &SuperBlock<RextFs>) -> Result {
    let info = sb.data();
    let mut cur = info.state.lock().disk.orphan_head;
    let mut count = 0u64;
    while cur != 0 {
        count += 1;
        if count > info.geo.total_inodes || !info.geo.ino_valid(cur) || cur < format::FIRST_INO {
            pr_err!(
                "{}: invalid orphan list (inode {}); run fsck.rextfs\n",
                sb.id(),
                cur
            );
            return Err(EFSCORRUPTED);
        }
        let d = inode::read_disk(sb, cur)?;
        if d.nlink != 0 {
            pr_err!(
                "{}: orphan inode {} still has {} links; run fsck.rextfs\n",
                sb.id(),
                cur,
                d.nlink
            );
            return Err(EFSCORRUPTED);
        }
        let next = d.next_orphan;
        // The list head moves past the inode before it is freed.
        {
            let mut st = info.state.lock();
            st.disk.orphan_head = next;
            write_super(sb, &mut st.disk)?;
        }
        free_blocks(sb, cur, &d)?;
        inode::zero_slot(sb, cur)?;
        alloc::free_inode(sb, cur)?;
        pr_info!("{}: freed orphan inode {}\n", sb.id(), cur);
        cur = next;
    }
    Ok(())
}

