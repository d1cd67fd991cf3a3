// SPDX-License-Identifier: GPL-2.0

//! The orphan list ("Orphans" in `Documentation/filesystems/rextfs.rst`): inodes whose link
//! count reached zero while they may still be open. `orphan_head` in the super block points at
//! the first, each inode's `next_orphan` at the next. An inode goes on the list (head first)
//! when its last name goes or when `O_TMPFILE` creates it, leaves it when `linkat` gives it a
//! name or when it is freed at its last reference, and a writable mount frees whatever a crash
//! left there.
//!
//! List changes happen under the super block state lock, inside the transaction handle of
//! the operation that makes them; the head lives in the in-memory super block
//! ([`SbState::disk`]), which the journal logs at commit, and the `next_orphan` fields are
//! changed only here, on disk ([`inode::set_next_orphan`], [`inode::write_orphan`];
//! [`inode::write_disk`] keeps them).
//!
//! The list is singly linked on disk, so taking an inode off it needs the one before it. While
//! mounted, [`SbState::orphans`] indexes the list: every inode on it got there through [`add`]
//! or [`add_new`] in this mount (a read-write mount empties the list first,
//! [`process_at_mount`]), so the index knows each one's neighbours, and neither unlinking
//! many open files nor closing them walks the list or reads an inode to find the next.
//!
//! [`SbState::disk`]: crate::SbState::disk
//! [`SbState::orphans`]: crate::SbState::orphans
//!
//! Freeing an inode ([`free_orphan`], at eviction and at mount) is a chain of transaction
//! steps; the inode leaves the list in the last one, so that if a crash interrupts the chain,
//! the next mount finishes it.

use crate::journal::{self, Handle};
use crate::{alloc, credits, dirindex, extent, file, format, inode, RextFs};
use kernel::fs::{inode::INode, SuperBlock};
use kernel::prelude::*;
use kernel::rbtree::{RBTree, RBTreeNodeReservation};

/// The neighbours of an inode on the orphan list, as [`crate::SbState::orphans`] keeps them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Neighbours {
    /// The inode before it (0: it is the head).
    pub(crate) prev: u64,
    /// The inode after it, its `next_orphan` on disk (0: it is the last).
    pub(crate) next: u64,
}

/// Puts `inode`, whose link count is zero, on the orphan list, in the transaction of `h`: the
/// inode is written (with its zero link count) pointing at the old head, in one write of its
/// slot, then made the head.
pub(crate) fn add(h: &Handle<'_>, inode: &INode<RextFs>) -> Result {
    let ino = inode.ino();
    // The disk lock is held until the slot is written (before the super block state lock, as
    // allocations take them): a change of the inode meanwhile, such as the conversion that
    // ends a writeback (which takes only this lock), must not be overwritten by an older
    // copy of the inode, whose extent tree root may point at nodes freed since.
    let mut d = inode.data().disk.lock();
    inode::sync_disk(inode, &mut d);
    // The index entry is allocated first: without memory, nothing has changed on disk.
    change_list(h, Some((inode, &*d)), 0, |disk, index| {
        link_in(disk, index, ino, RBTreeNodeReservation::new(GFP_KERNEL)?)
    })
}

/// Puts the new inode `ino`, already written with no links, on the orphan list, in the
/// transaction of `h`.
pub(crate) fn add_new(h: &Handle<'_>, ino: u64) -> Result {
    change_list(h, None, 0, |disk, index| {
        link_in(disk, index, ino, RBTreeNodeReservation::new(GFP_KERNEL)?)
    })
}

/// Takes inode `ino` off the orphan list (it got a name again), in the transaction of `h`. An
/// inode that is not on the list is left alone.
pub(crate) fn remove(h: &Handle<'_>, ino: u64) -> Result {
    change_list(h, None, 0, |disk, index| unlink(disk, index, ino))
}

/// Takes inode `ino` off the orphan list as [`remove`] does, for [`free_orphan`], whose next
/// step zeroes its slot in the same handle: its own `next_orphan` is left for that.
pub(crate) fn remove_to_free(h: &Handle<'_>, ino: u64) -> Result {
    change_list(h, None, ino, |disk, index| unlink(disk, index, ino))
}

/// Runs `f` on the orphan list of the mounted file system and its index, under the super
/// block state lock, in the transaction of `h` (see [`DevList`] for `whole` and `freeing`).
fn change_list<'b>(
    h: &Handle<'b>,
    whole: Option<(&INode<RextFs>, &format::Inode)>,
    freeing: u64,
    f: impl FnOnce(&mut DevList<'_, 'b>, &mut RBTree<u64, Neighbours>) -> Result,
) -> Result {
    let info = h.sb().data();
    let mut st = info.state.lock();
    let st = &mut *st;
    let mut disk = DevList {
        h,
        disk: &mut st.disk,
        whole,
        freeing,
    };
    f(&mut disk, &mut st.orphans)
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
    /// Sets the `next_orphan` field of inode `ino`.
    fn set_next(&mut self, ino: u64, next: u64) -> Result;
}

/// The orphan list of a mounted file system (state lock held), changed in the transaction of
/// `h`.
struct DevList<'a, 'b> {
    h: &'a Handle<'b>,
    disk: &'a mut format::Superblock,
    /// An inode being put on the list and its on-disk copy: its `next_orphan` is set by
    /// writing it whole.
    whole: Option<(&'a INode<RextFs>, &'a format::Inode)>,
    /// An inode being taken off the list to be freed (0: none): its `next_orphan` is not
    /// cleared, since its slot is zeroed next.
    freeing: u64,
}

impl ListDisk for DevList<'_, '_> {
    fn dev_id(&self) -> &CStr {
        self.h.sb().id()
    }

    fn head(&self) -> u64 {
        self.disk.orphan_head
    }

    fn set_head(&mut self, ino: u64) -> Result {
        // The in-memory super block is the one the journal logs at commit (the state lock is
        // held, as the transaction of `h` is open): nothing to write here.
        self.disk.orphan_head = ino;
        Ok(())
    }

    fn set_next(&mut self, ino: u64, next: u64) -> Result {
        match self.whole {
            Some((inode, d)) if inode.ino() == ino => inode::write_orphan(self.h, inode, d, next),
            _ if ino == self.freeing && next == 0 => Ok(()),
            _ => inode::set_next_orphan(self.h, ino, next),
        }
    }
}

/// Links inode `ino` in at the head of the list on `disk` and in `index` (inode to its
/// neighbours), with `node`, the memory of the index entry of `ino`. The inode points at the
/// old head before the head points at it; if that fails, neither the list nor the index
/// changed.
pub(crate) fn link_in<D: ListDisk>(
    disk: &mut D,
    index: &mut RBTree<u64, Neighbours>,
    ino: u64,
    node: RBTreeNodeReservation<u64, Neighbours>,
) -> Result {
    let old = disk.head();
    disk.set_next(ino, old)?;
    disk.set_head(ino)?;
    if let Some(n) = index.get_mut(&old) {
        n.prev = ino;
    }
    index.insert(node.into_node(ino, Neighbours { prev: 0, next: old }));
    Ok(())
}

/// Takes inode `ino` off the list on `disk` and out of `index`, and clears its `next_orphan`.
/// An inode that is not in the index is left alone.
pub(crate) fn unlink<D: ListDisk>(
    disk: &mut D,
    index: &mut RBTree<u64, Neighbours>,
    ino: u64,
) -> Result {
    let Some(&Neighbours { prev, next }) = index.get(&ino) else {
        return Ok(());
    };
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
        if let Some(p) = index.get_mut(&prev) {
            p.next = next;
        }
    }
    if let Some(n) = index.get_mut(&next) {
        n.prev = prev;
    }
    index.remove(&ino);
    disk.set_next(ino, 0)
}

/// Frees inode `ino` (on-disk copy `d`: no links, on the orphan list) and everything it owns,
/// in handle `h`, as a chain of steps that each leave the file system consistent (`h` may
/// move to a new transaction between them; no lock is held across them):
/// 1. a directory's hash index is freed, the inode written without it;
/// 2. the extent tree and the data go a few extents at a time from the end
///    ([`file::truncate_step`], the inode written after each step); a fast symlink's area
///    holds its target, not a tree: it owns no blocks;
/// 3. `unlist` takes the inode off the orphan list, its slot is zeroed and its bitmap bit
///    cleared.
///
/// Until the last step the inode stays on the orphan list, so that a mount after a crash
/// frees what is left.
pub(crate) fn free_orphan(
    h: &mut Handle<'_>,
    ino: u64,
    d: &mut format::Inode,
    unlist: impl FnOnce(&Handle<'_>) -> Result,
) -> Result {
    let sb = h.sb();
    if d.dir_index_root != 0 {
        let nodes = dirindex::index_nodes(sb, ino, d.dir_index_root)?;
        // Each node clears a bit in one bitmap block: at most one block a node, and never
        // more than the block bitmap has.
        let bitmap_blocks = usize::try_from(sb.data().geo.layout.block_bitmap_blocks)
            .unwrap_or(usize::MAX)
            .min(nodes.len());
        let revoke_blocks = journal::revoke_blocks(sb, nodes.len());
        h.extend(credits::free_index(bitmap_blocks, revoke_blocks))?;
        d.dir_index_root = 0;
        d.blocks = d.blocks.saturating_sub(nodes.len() as u64);
        inode::write_disk(h, ino, d)?;
        dirindex::free_nodes(h, &nodes)?;
    }
    // An empty file (the common case of a removed one) has nothing to truncate, and its
    // slot need not be written before it is zeroed.
    if !d.has_inline_data() && !extent::is_empty(&d.area) {
        loop {
            h.extend(credits::TRUNCATE_STEP)?;
            if file::truncate_step(h, ino, d, 0)? {
                break;
            }
        }
    }
    // Each step frees one external value or one xattr block; the whole chain is checked
    // first, so that no step meets a loop or a block freed already.
    let bs = sb.block_size() as usize;
    let most = if d.xattr != 0 {
        crate::xattr::check_for_free(sb, ino, d.xattr)?
    } else {
        0
    };
    let mut steps = 0usize;
    while d.xattr != 0 {
        steps += 1;
        if steps > most {
            return Err(crate::corrupt(
                sb,
                "extended attribute chain",
                crate::FormatError::Invalid("xattr chain looping"),
            ));
        }
        h.extend(credits::xattr_set(bs))?;
        crate::xattr::free_step(h, ino, d)?;
    }
    h.extend(credits::FREE_INODE)?;
    unlist(h)?;
    // Off the list now: its slot and its bit must go in the same transaction.
    inode::zero_slot(h, ino)
        .and_then(|()| alloc::free_inode(h, ino))
        .map_err(|e| h.abort_changed(e))
}

/// Leaves orphan `ino`, evicted while the file system was frozen or remounted read-only, for
/// [`free_deferred`] at the thaw or the read-write remount. If it cannot be remembered (no
/// memory), the next mount frees it.
pub(crate) fn defer_free(sb: &SuperBlock<RextFs>, ino: u64) {
    let _ = sb.data().deferred.lock().push(ino, GFP_KERNEL);
}

/// Frees the orphans evicted while the file system was frozen or read-only ([`defer_free`]),
/// when it is thawed or read-write again. A failure leaves the rest on the orphan list, for
/// the next mount.
pub(crate) fn free_deferred(sb: &SuperBlock<RextFs>) {
    let inos = core::mem::take(&mut *sb.data().deferred.lock());
    for &ino in inos.iter() {
        let r = inode::read_disk(sb, ino).and_then(|mut d| {
            let mut h = journal::start(sb, credits::FREE_INODE)?;
            h.use_reserve();
            free_orphan(&mut h, ino, &mut d, |h| remove_to_free(h, ino))
        });
        if let Err(e) = r {
            pr_err!("{}: cannot free inode {}: {:?}\n", sb.id(), ino, e);
            return;
        }
    }
}

/// Frees the inodes a crash left on the orphan list, at a writable mount, in one transaction
/// handle: for each inode, [`free_orphan`], whose last step moves the list head past it. The
/// head is in the in-memory super block, logged by the journal at commit.
pub(crate) fn process_at_mount(sb: &SuperBlock<RextFs>) -> Result {
    let info = sb.data();
    let mut cur = info.state.lock().disk.orphan_head;
    let mut count = 0u64;
    let mut h = journal::start(sb, credits::FREE_INODE)?;
    h.use_reserve();
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
        let mut d = inode::read_disk(sb, cur)?;
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
        free_orphan(&mut h, cur, &mut d, |_| {
            info.state.lock().disk.orphan_head = next;
            Ok(())
        })?;
        cur = next;
    }
    // One line, not one an inode: tens of thousands of orphans would flood the log.
    if count > 0 {
        pr_info!("{}: freed {} orphan inodes\n", sb.id(), count);
    }
    Ok(())
}

#[cfg(CONFIG_REXTFS_KUNIT_TEST)]
#[kunit_tests(rextfs_orphan)]
mod tests {
    use super::{link_in, unlink, ListDisk, Neighbours};
    use crate::testing::{check, vec_insert, vec_remove, Rng};
    use kernel::prelude::*;
    use kernel::rbtree::{RBTree, RBTreeNode, RBTreeNodeReservation};

    /// Inode numbers used by the tests: 1..NINO.
    const NINO: u64 = 40;

    /// The on-disk list in memory; `fail_head` makes the next head write fail.
    struct MemList {
        head: u64,
        next: KVec<u64>,
        fail_head: bool,
    }

    impl ListDisk for MemList {
        fn dev_id(&self) -> &CStr {
            c"kunit"
        }

        fn head(&self) -> u64 {
            self.head
        }

        fn set_head(&mut self, ino: u64) -> Result {
            if self.fail_head {
                self.fail_head = false;
                return Err(EIO);
            }
            self.head = ino;
            Ok(())
        }

        fn set_next(&mut self, ino: u64, next: u64) -> Result {
            *self.next.get_mut(ino as usize).ok_or(EIO)? = next;
            Ok(())
        }
    }

    impl MemList {
        /// The `next_orphan` field of inode `ino`.
        fn next_of(&self, ino: u64) -> Result<u64> {
            self.next.get(ino as usize).copied().ok_or(EIO)
        }
    }

    /// The list on disk (from the head) is the model, head first; the index maps each inode
    /// of it to its neighbours (0: none) and holds nothing else; inodes off the list point
    /// nowhere.
    fn consistent(disk: &MemList, index: &RBTree<u64, Neighbours>, model: &[u64]) -> Result {
        let mut cur = disk.head;
        for (i, &ino) in model.iter().enumerate() {
            check!(
                cur == ino,
                "list position {}: disk {}, model {}",
                i,
                cur,
                ino
            );
            let prev = if i == 0 { 0 } else { model[i - 1] };
            let next = model.get(i + 1).copied().unwrap_or(0);
            let got = index.get(&ino).copied();
            check!(
                got == Some(Neighbours { prev, next }),
                "index of {}: {:?}, neighbours {} and {}",
                ino,
                got,
                prev,
                next
            );
            cur = disk.next_of(ino)?;
        }
        check!(cur == 0, "list goes on after the model's end: {}", cur);
        let n = index.keys().count();
        check!(
            n == model.len(),
            "index holds {} inodes, list {}",
            n,
            model.len()
        );
        for ino in 1..NINO {
            if !model.contains(&ino) {
                check!(
                    disk.next_of(ino)? == 0,
                    "inode {} off the list points on",
                    ino
                );
            }
        }
        Ok(())
    }

    #[test]
    fn add_remove_match_model() -> Result {
        let mut rng = Rng::new(11);
        let mut disk = MemList {
            head: 0,
            next: KVec::from_elem(0u64, NINO as usize, GFP_KERNEL)?,
            fail_head: false,
        };
        let mut index = RBTree::new();
        let mut model: KVec<u64> = KVec::new();
        let (mut adds, mut removes) = (0, 0);
        for _ in 0..3000 {
            let ino = rng.range(1, NINO - 1);
            let on_list = model.contains(&ino);
            if !on_list && rng.chance(55) {
                let node = RBTreeNodeReservation::new(GFP_KERNEL)?;
                link_in(&mut disk, &mut index, ino, node)?;
                vec_insert(&mut model, 0, ino)?;
                adds += 1;
            } else {
                // Also for inodes not on the list, which must be left alone.
                unlink(&mut disk, &mut index, ino)?;
                if let Some(pos) = model.iter().position(|&x| x == ino) {
                    vec_remove(&mut model, pos)?;
                    removes += 1;
                }
            }
            consistent(&disk, &index, &model)?;
        }
        check!(
            adds > 500 && removes > 500,
            "{} adds, {} removes",
            adds,
            removes
        );
        // Empty it, from the head, the tail and the middle.
        while !model.is_empty() {
            let pos = rng.below(model.len() as u64) as usize;
            unlink(&mut disk, &mut index, model[pos])?;
            vec_remove(&mut model, pos)?;
            consistent(&disk, &index, &model)?;
        }
        check!(disk.head == 0, "empty list has head {}", disk.head);
        Ok(())
    }

    #[test]
    fn failed_head_write_changes_nothing() -> Result {
        let mut disk = MemList {
            head: 0,
            next: KVec::from_elem(0u64, NINO as usize, GFP_KERNEL)?,
            fail_head: false,
        };
        let mut index = RBTree::new();
        for ino in [5u64, 9, 13] {
            link_in(
                &mut disk,
                &mut index,
                ino,
                RBTreeNodeReservation::new(GFP_KERNEL)?,
            )?;
        }
        consistent(&disk, &index, &[13, 9, 5])?;
        // Linking in fails at the head write: the list and index are as before (the new
        // inode may point at the old head, which nothing reaches).
        disk.fail_head = true;
        let r = link_in(
            &mut disk,
            &mut index,
            20,
            RBTreeNodeReservation::new(GFP_KERNEL)?,
        );
        check!(r == Err(EIO), "link_in: {:?}", r);
        disk.set_next(20, 0)?;
        consistent(&disk, &index, &[13, 9, 5])?;
        // Taking the head off fails the same way.
        disk.fail_head = true;
        let r = unlink(&mut disk, &mut index, 13);
        check!(r == Err(EIO), "unlink: {:?}", r);
        consistent(&disk, &index, &[13, 9, 5])?;
        // An index that disagrees with the list head is corruption, not a silent change.
        index.remove(&9);
        index.insert(RBTreeNode::new(
            9,
            Neighbours { prev: 0, next: 5 },
            GFP_KERNEL,
        )?);
        let r = unlink(&mut disk, &mut index, 9);
        check!(r == Err(EFSCORRUPTED), "unlink of a false head: {:?}", r);
        check!(disk.head == 13, "head moved to {}", disk.head);
        Ok(())
    }
}
