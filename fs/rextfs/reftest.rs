// SPDX-License-Identifier: GPL-2.0

//! A test hook, built only with `CONFIG_REXTFS_KUNIT_TEST`: the ioctl
//! [`REXTFS_IOC_TEST_INODE_REF`] keeps inode references where they outlive an unmount, so
//! that tests/vm/104-inode-refs.sh can check what the VFS abstractions promise: an
//! `ARef<INode>` keeps its super block active (not shut down, its inodes not declared busy)
//! until it is dropped, wherever it is kept, and its release never sleeps where the
//! context may not. Safe code only, as everywhere in rextfs: whatever it asks for, the
//! abstractions must make it sound.
//!
//! The argument (a value, not a pointer) says what to do, on the inode of the open file:
//!
//! - [`KEEP_ROOT_IN_INODE`]: the inode's private data keeps a reference to the root; it is
//!   dropped when the inode is freed, from an RCU callback (softirq).
//! - [`KEEP_IN_WORK`]: a work item keeps a reference to the inode for ten seconds.
//! - [`KEEP_IN_SB_DATA`]: the super block's private data keeps a reference to the inode;
//!   [`RELEASE_SB_DATA`] drops it.
//! - [`IGET_AT_PUT_SUPER`]: `put_super` (at unmount) asks for the root inode and logs the
//!   answer (refused: the super block is being shut down).
//! - [`DROP_UNDER_SPINLOCK`]: a work item takes references to the inode and, two seconds
//!   later, drops them with a spin lock held, where the release may not sleep: their `iput`s
//!   are deferred to another work item. The inode's eviction is slowed down (eight seconds)
//!   and logged, so that when the test unlinks and closes the file first, the last `iput`
//!   (and the eviction) is still running in that work item when the test unmounts: the
//!   unmount must wait for it.
//! - [`INIT_SECURITY_ON_READ`] in the low byte, an inode number above it: asks for that
//!   inode, which must not be cached (`EAGAIN` if it is), and calls
//!   `NewINode::init_security` on the new inode being read, which the abstraction must
//!   refuse (`EINVAL`: only an inode that `new_inode` made gets labels from the security
//!   modules); logs the answer and drops the inode unread.

use crate::{format, RextFs};
use core::sync::atomic::Ordering;
use kernel::fs::{
    file_ops::{self, cap},
    inode::{Either, INode, INodeView},
    Ready, SuperBlock,
};
use kernel::ioctl::_IO;
use kernel::prelude::*;
use kernel::sync::{aref::ARef, new_spinlock, SpinLock};
use kernel::time::{delay::fsleep, Delta};
use kernel::workqueue::{self, impl_has_work, new_work, Work, WorkItem};

/// The test ioctl (`_IO('r', 0xf0)`); the argument is one of the values below.
pub(crate) const REXTFS_IOC_TEST_INODE_REF: u32 = _IO(b'r' as u32, 0xf0);
/// The inode's private data keeps a reference to the root inode.
const KEEP_ROOT_IN_INODE: usize = 1;
/// A work item keeps a reference to the inode for ten seconds.
const KEEP_IN_WORK: usize = 2;
/// The super block's private data keeps a reference to the inode.
const KEEP_IN_SB_DATA: usize = 3;
/// The super block's private data drops the reference of [`KEEP_IN_SB_DATA`].
const RELEASE_SB_DATA: usize = 4;
/// `put_super` asks for the root inode.
const IGET_AT_PUT_SUPER: usize = 5;
/// A work item drops references to the inode with a spin lock held; its eviction is slow.
const DROP_UNDER_SPINLOCK: usize = 6;
/// `NewINode::init_security` on an inode being read (the inode number is `arg >> 8`).
const INIT_SECURITY_ON_READ: usize = 7;
/// How many references [`DROP_UNDER_SPINLOCK`] drops.
const SPINLOCK_REFS: usize = 8;

/// A work item that holds an inode reference, sleeps, and drops it.
#[pin_data]
struct Holder {
    inode: ARef<INode<RextFs>>,
    #[pin]
    work: Work<Holder>,
}

impl_has_work! {
    impl HasWork<Self> for Holder { self.work }
}

impl WorkItem for Holder {
    type Pointer = Pin<KBox<Holder>>;

    fn run(this: Pin<KBox<Holder>>) {
        fsleep(Delta::from_secs(10));
        pr_info!(
            "test: work item drops its reference to inode {}\n",
            this.inode.ino()
        );
        drop(this);
    }
}

/// A work item that holds references to an inode, and drops them two seconds later with a
/// spin lock held (the one that protects them).
#[pin_data]
struct SpinDropper {
    #[pin]
    refs: SpinLock<Option<[ARef<INode<RextFs>>; SPINLOCK_REFS]>>,
    #[pin]
    work: Work<SpinDropper>,
}

impl_has_work! {
    impl HasWork<Self> for SpinDropper { self.work }
}

impl WorkItem for SpinDropper {
    type Pointer = Pin<KBox<SpinDropper>>;

    fn run(this: Pin<KBox<SpinDropper>>) {
        fsleep(Delta::from_secs(2));
        let mut guard = this.refs.lock();
        // Released with the spin lock held, where they may not sleep.
        drop(guard.take());
        drop(guard);
    }
}

/// Called by `evict`: slows down and logs the eviction of the inode [`DROP_UNDER_SPINLOCK`]
/// named.
pub(crate) fn at_evict(inode: &INodeView<RextFs>) {
    let sb = inode.super_block();
    if sb.data().test_slow_evict.load(Ordering::SeqCst) != inode.ino() {
        return;
    }
    pr_info!(
        "{}: test: slow eviction of inode {} starts\n",
        sb.id(),
        inode.ino()
    );
    fsleep(Delta::from_secs(8));
    pr_info!(
        "{}: test: slow eviction of inode {} done\n",
        sb.id(),
        inode.ino()
    );
}

/// Handles [`REXTFS_IOC_TEST_INODE_REF`] on `inode`.
pub(crate) fn ioctl(inode: &INode<RextFs>, arg: usize) -> Result<i32> {
    if !file_ops::capable(cap::SYS_ADMIN) {
        return Err(EPERM);
    }
    let sb = inode.super_block();
    match arg {
        KEEP_ROOT_IN_INODE => {
            let root = crate::inode::iget(sb, format::ROOT_INO)?;
            if !inode.data().test_ref.populate(root) {
                return Err(EBUSY);
            }
        }
        KEEP_IN_WORK => {
            let holder = KBox::pin_init(
                pin_init!(Holder {
                    inode: inode.into(),
                    work <- new_work!("rextfs::reftest::Holder"),
                }),
                GFP_KERNEL,
            )?;
            workqueue::system_long().enqueue(holder);
        }
        KEEP_IN_SB_DATA => {
            let old = sb.data().test_ref.lock().replace(inode.into());
            drop(old);
        }
        RELEASE_SB_DATA => {
            let old = sb.data().test_ref.lock().take();
            drop(old);
        }
        IGET_AT_PUT_SUPER => sb
            .data()
            .test_iget_at_put_super
            .store(true, Ordering::SeqCst),
        DROP_UNDER_SPINLOCK => {
            let dropper = KBox::pin_init(
                pin_init!(SpinDropper {
                    refs <- new_spinlock!(Some(core::array::from_fn(|_| inode.into()))),
                    work <- new_work!("rextfs::reftest::SpinDropper"),
                }),
                GFP_KERNEL,
            )?;
            sb.data()
                .test_slow_evict
                .store(inode.ino(), Ordering::SeqCst);
            workqueue::system_long().enqueue(dropper);
        }
        a if a & 0xff == INIT_SECURITY_ON_READ => init_security_on_read(inode, (a >> 8) as u64)?,
        _ => return Err(EINVAL),
    }
    Ok(0)
}

/// [`INIT_SECURITY_ON_READ`] for inode `ino`, asked through the open file's `inode` (of the
/// same file system; the root stands for the directory).
fn init_security_on_read(inode: &INode<RextFs>, ino: u64) -> Result {
    let sb = inode.super_block();
    if !sb.data().geo.ino_valid(ino) {
        return Err(EINVAL);
    }
    let mut new = match sb.iget(ino)? {
        // In use or cached: the caller drops the caches and asks again.
        Either::Cached(_) => return Err(EAGAIN),
        Either::New(n) => n,
    };
    let root = crate::inode::iget(sb, format::ROOT_INO)?;
    match new.init_security(&root, None) {
        Err(e) if e == EINVAL => pr_info!(
            "{}: test: init_security on inode {} being read refused: EINVAL\n",
            sb.id(),
            ino
        ),
        Ok(_) => {
            pr_err!(
                "{}: test: init_security on inode {} being read was allowed\n",
                sb.id(),
                ino
            );
            return Err(EIO);
        }
        Err(e) => {
            pr_err!(
                "{}: test: init_security on inode {} being read failed with {}\n",
                sb.id(),
                ino,
                e.to_errno()
            );
            return Err(e);
        }
    }
    // Dropped unread: the inode leaves the cache (`iget_failed`), and the next lookup reads
    // it.
    drop(new);
    Ok(())
}

/// Called by `put_super`: with [`IGET_AT_PUT_SUPER`] set, asks for the root inode (which
/// the abstractions refuse, the super block having no active reference left) and logs the
/// answer.
pub(crate) fn at_put_super(sb: &SuperBlock<RextFs, Ready>) {
    if !sb.data().test_iget_at_put_super.load(Ordering::SeqCst) {
        return;
    }
    match sb.iget(format::ROOT_INO) {
        Ok(_) => pr_err!("{}: test: iget in put_super was allowed\n", sb.id()),
        Err(e) if e == ESHUTDOWN => {
            pr_info!("{}: test: iget in put_super refused: ESHUTDOWN\n", sb.id())
        }
        Err(e) => pr_err!(
            "{}: test: iget in put_super failed with {}\n",
            sb.id(),
            e.to_errno()
        ),
    }
}
