// SPDX-License-Identifier: GPL-2.0

//! Inodes (`struct inode`) with per-file-system private data.
//!
//! Every inode of a file system `T` is allocated by the glue from a per-type `kmem_cache` as
//! an [`INodeWithData`]: the C `struct inode` with `T::INodeData` beside it. The data is
//! initialised (with pin-init, so it may hold locks) when a [`NewINode`] is completed and is
//! dropped in `->free_inode`, after an RCU grace period, when no RCU path walker can still
//! see the inode.
//!
//! An [`INode`] handed to a file system is always fully initialised: [`NewINode`] is the only
//! way to see an inode in the `I_NEW` state, and dropping it without completing it marks the
//! inode bad with `iget_failed()`.
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h).

use super::{
    dentry::{DEntry, NewDEntry},
    file_ops,
    periodic::init_work,
    registration::FileSystem,
    super_block::SuperBlock,
    Ready,
};
use crate::{
    bindings,
    error::{from_err_ptr, from_result, to_result},
    prelude::*,
    static_lock_class,
    sync::aref::{ARef, AlwaysRefCounted},
    types::Opaque,
};

/// Lockdep names of the release work, the deferred `iput` work and the map of pending
/// deferred `iput`s: statics of this crate, as their keys (see `periodic::init_work`).
static SB_RELEASE_WORK_NAME: &CStr = c"rust_fs_sb_release";
/// See [`SB_RELEASE_WORK_NAME`].
static DEFERRED_PUT_WORK_NAME: &CStr = c"rust_fs_deferred_iput_work";
/// See [`SB_RELEASE_WORK_NAME`].
static PENDING_MAP_NAME: &CStr = c"rust_fs_deferred_iput";
use core::{
    marker::PhantomData,
    mem::MaybeUninit,
    ptr::NonNull,
    sync::atomic::{AtomicUsize, Ordering},
};

/// An inode of file system `T` whose reference count may be zero: the view the VFS gives
/// while the inode is written back, evicted, or walked under RCU.
///
/// It has every accessor of an inode but cannot be turned into a reference (`ARef`): in those
/// contexts `i_count` may already be zero, and `ihold` would trip a VFS assertion, or the
/// matching `iput` would evict the inode a second time. An [`INode`] derefs to it, so code
/// that only reads or updates fields takes `&INodeView<T>` and serves both.
///
/// Hooks that receive it: [`FileSystem::write_inode`], [`FileSystem::evict_inode`],
/// [`Operations::get_link_rcu`], and iomap's writeback hooks.
///
/// # Invariants
///
/// The wrapped `struct inode` belongs to a super block of type `T`, was allocated by the glue
/// as part of an [`INodeWithData<T::INodeData>`], its data is initialised, and the memory is
/// valid for the borrow (the VFS keeps the inode alive for the call).
#[repr(transparent)]
pub struct INodeView<T: FileSystem> {
    inode: Opaque<bindings::inode>,
    _p: PhantomData<T>,
}

/// An inode of file system `T` on which a reference is held: `ARef<INode<T>>` owns one
/// (`ihold`/`iput`), and a `&INode<T>` is only handed out where somebody holds one for the
/// borrow (an open file, a dentry, an `ARef`). It derefs to [`INodeView`] for the accessors.
///
/// An `ARef<INode<T>>` also owns an active reference of the inode's super block
/// (`s_active`, as a mount does), so it may be kept anywhere (it is `'static` and `Send`)
/// without outliving the super block: while it lives, the super block is not shut down.
/// Kept in the file system's super block data, it therefore keeps the super block alive
/// for good (an unmount detaches it, the device stays claimed: a leak, not undefined
/// behaviour); kept in a static or a work item, until it is dropped, as a lazy unmount
/// would. Its release does not sleep where the context may not (an RCU callback dropping
/// `T::INodeData`, a spinlock held): the `iput` is then deferred to a work item and the
/// active reference dropped at once, and `kill_sb` waits for deferred `iput`s before it
/// shuts the super block down, so an unmount that drops the last active reference still
/// returns after everything is written.
/// The last active reference a Rust reference releases always goes to a work item of the
/// super block ([`SbRelease`]), which runs `kill_sb` in process context with no lock held.
/// Once the super block is being shut down, [`SuperBlock::iget`] and
/// [`SuperBlock::new_inode`] refuse with `ESHUTDOWN`.
///
/// # Invariants
///
/// Those of [`INodeView`], and `i_count` and the super block's `s_active` are not zero for
/// as long as a `&INode<T>` exists.
#[repr(transparent)]
pub struct INode<T: FileSystem>(INodeView<T>);

impl<T: FileSystem> core::ops::Deref for INode<T> {
    type Target = INodeView<T>;
    fn deref(&self) -> &INodeView<T> {
        &self.0
    }
}

/// The allocation unit of the per-file-system inode cache: the deferred-release slot, the C
/// inode and the private data.
///
/// `repr(C)` with `put` and `inode` first, so that their offsets do not depend on `D`: the
/// deferred-release work ([`DeferredPut::run`]), which is not generic, finds the inode from
/// the work item.
#[repr(C)]
pub(crate) struct INodeWithData<D> {
    put: DeferredPut,
    pub(crate) inode: Opaque<bindings::inode>,
    data: MaybeUninit<D>,
    has_data: bool,
    /// The target of a fast symlink (NUL-terminated), pointed to by `i_link`; freed with the
    /// inode, after RCU, like the data.
    link: Option<KVec<u8>>,
}

/// Inode references released where the releasing context may not sleep: a work item and a
/// count of the references it releases, in every inode container (no allocation is needed
/// to defer a release, so it cannot fail).
///
/// Each counted reference is one `i_count` reference, owned by the deferred release until
/// [`DeferredPut::run`] drops it, and counted in the super block's [`SbRelease`] too: its
/// `kill_sb` waits for the count to fall to zero before anything is shut down, so the inode,
/// its super block and the file system module stay alive until then. The work function is in
/// the `kernel` crate (built into the kernel), so it is never unloaded while it runs.
///
/// # Invariants
///
/// `work` is initialised with [`DeferredPut::run`] as its function (in `init_empty`, before
/// the inode is used). `pending` counts the references handed to the work and not yet
/// released; the work is queued (or running before its `swap`) whenever `pending` is not 0.
#[repr(C)]
struct DeferredPut {
    work: Opaque<bindings::work_struct>,
    pending: AtomicUsize,
}

/// Offset of the inode from the deferred-release slot in every [`INodeWithData`].
const PUT_TO_INODE: usize =
    core::mem::offset_of!(INodeWithData<()>, inode) - core::mem::offset_of!(INodeWithData<()>, put);

impl DeferredPut {
    /// Returns the slot of the container of `inode`.
    ///
    /// # Safety
    ///
    /// `inode` must be the `inode` field of a live [`INodeWithData`] (of any data type: the
    /// offset does not depend on it).
    unsafe fn of(inode: *mut bindings::inode) -> *mut DeferredPut {
        // SAFETY: By the safety requirements the slot is `PUT_TO_INODE` bytes before, in the
        // same allocation.
        unsafe { inode.cast::<u8>().sub(PUT_TO_INODE).cast() }
    }

    /// Hands one `i_count` reference of `inode` to the work, which releases it in process
    /// context. Does not sleep or allocate.
    ///
    /// # Safety
    ///
    /// `inode` must be the inode of a live [`INodeWithData`], and the caller must own one
    /// `i_count` reference, which it gives up, and one reference it added to the pending
    /// count of the super block's [`SbRelease`] ([`SbRelease::get_pending`]), which it gives
    /// up too.
    unsafe fn defer(inode: *mut bindings::inode) {
        // SAFETY: The container is alive (we own a reference); the slot is initialised.
        let this = unsafe { &*Self::of(inode) };
        // The first pending reference queues the work; later ones find it queued, or running
        // before its `swap` (which then takes them too). A reference added after the `swap`
        // sees 0 and queues the work again (allowed while it runs).
        if this.pending.fetch_add(1, Ordering::AcqRel) == 0 {
            // SAFETY: The work is initialised (invariant) and its memory lives as long as the
            // pending reference keeps the inode; `system_dfl_wq` always exists.
            unsafe {
                bindings::queue_work_on(
                    bindings::wq_misc_consts_WORK_CPU_UNBOUND as c_int,
                    bindings::system_dfl_wq,
                    this.work.get(),
                )
            };
        }
    }

    /// The work function: releases every pending reference, in process context.
    ///
    /// # Safety
    ///
    /// Called by the workqueue with the `work` of a [`DeferredPut`].
    unsafe extern "C" fn run(work: *mut bindings::work_struct) {
        // SAFETY: `work` is the `work` field of a `DeferredPut` (`Opaque` is
        // `repr(transparent)`), alive while references are pending, and at least the one
        // that queued this run is (only this function releases them).
        let this = unsafe {
            crate::container_of!(work.cast::<Opaque<bindings::work_struct>>(), Self, work)
        };
        // SAFETY: As above; the inode lives `PUT_TO_INODE` bytes further.
        let inode = unsafe {
            this.cast::<u8>()
                .add(PUT_TO_INODE)
                .cast::<bindings::inode>()
        };
        // SAFETY: The inode is alive (a reference is pending); `i_sb` never changes, and its
        // `kill_sb` waits for the pending count, so the super block and its glue data (where
        // the `SbRelease` is) are alive until we give our references back below.
        let release = unsafe { SbRelease::of((*inode).i_sb) };
        // SAFETY: As above. From here on `this` is not used: the references taken are ours,
        // and once they are released the container may be freed and reused.
        let n = unsafe { (*this).pending.swap(0, Ordering::AcqRel) };
        // SAFETY: `release` is alive (above); the map is initialised and released below,
        // before the references are given back.
        unsafe { bindings::rust_fs_pending_map_acquire_read((*release).map.get()) };
        for _ in 0..n {
            // SAFETY: We own `n` references to the inode (process context, may sleep); the
            // super block outlives them, since `kill_sb` waits for them.
            unsafe { bindings::iput(inode) };
        }
        // SAFETY: Taken above; `release` is still alive (our references are pending).
        unsafe { bindings::rust_fs_pending_map_release((*release).map.get()) };
        // SAFETY: `n` references were counted pending in `release` (by `put_inode_ref`); once
        // they are given back `release` is not used (`kill_sb` may free it).
        unsafe { SbRelease::put_pending(release, n) };
    }
}

/// The release state of a super block of a Rust file system, first in its glue data (which
/// `sb->s_fs_info` points to from the start of `fill_super` to the end of `kill_sb`).
///
/// - `work` releases the super block's last active reference (`deactivate_super`, which
///   runs `kill_sb`) when a Rust reference drops it: the dropping context may hold
///   `s_umount` (a hook), be a work `kill_sb` waits for (the periodic work), be in the file
///   system module (which `rmmod` may unload once `kill_sb` has returned the module
///   reference), or not be allowed to sleep. The work function is in the `kernel` crate.
/// - `pending` counts inode references whose `iput` was deferred ([`DeferredPut`]); `kill_sb`
///   waits for it to reach zero before it shuts the super block down. A reference is counted
///   before the active reference that kept the super block alive is dropped, so `kill_sb`
///   (which runs only once `s_active` is zero) always sees it. `map` tells lockdep that
///   `kill_sb` (with `s_umount` held) waits for those `iput`s, as `flush_work` does for a
///   work: an eviction that needed `s_umount` would be reported, not just hang.
///
/// `kill_sb` may run in a worker of `system_dfl_wq` (this work) and wait there for
/// [`DeferredPut`] works on the same workqueue, which has many workers; only a pile of such
/// unmounts at once could exhaust them.
///
/// # Invariants
///
/// `work` is initialised with [`SbRelease::run`] as its function, and `sb` is the super block
/// whose glue data holds this. The work is queued only by a release that found `s_active` at
/// 1, and then owns that reference; it is never pending twice (while it is pending it owns
/// one of the references, so a second release cannot find `s_active` at 1). A new mount may
/// revive the super block while the work is pending (`grab_super`); the work then drops a
/// reference that is no longer the last, and a later last release may queue it again.
#[repr(C)]
#[pin_data]
pub(crate) struct SbRelease {
    #[pin]
    work: Opaque<bindings::work_struct>,
    #[pin]
    pending: Opaque<bindings::atomic_long_t>,
    #[pin]
    map: Opaque<bindings::lockdep_map>,
    sb: *mut bindings::super_block,
}

impl SbRelease {
    /// The release state of `sb`, with nothing pending.
    ///
    /// # Safety
    ///
    /// If its work may ever be queued (through [`release_active`]), `sb` must be the super
    /// block whose glue data holds the new value, first in it.
    pub(crate) unsafe fn new(sb: *mut bindings::super_block) -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `slot` is pinned memory that lives as long as the glue data; `run` takes
            // the work of an `SbRelease`.
            work <- Opaque::ffi_init(|slot| unsafe {
                init_work(slot, Self::run, SB_RELEASE_WORK_NAME, static_lock_class!())
            }),
            pending: Opaque::new(bindings::atomic_long_t { counter: 0 }),
            // SAFETY: `lockdep_init_map` initialises the map at `slot` (nothing without
            // lockdep), pinned memory that lives as long as the glue data; the name and key
            // are statics of this crate.
            map <- Opaque::ffi_init(|slot| unsafe {
                bindings::rust_fs_pending_map_init(
                    slot,
                    PENDING_MAP_NAME.as_char_ptr(),
                    static_lock_class!().as_ptr(),
                )
            }),
            sb,
        })
    }

    /// The release state of `sb`.
    ///
    /// # Safety
    ///
    /// `sb` must be a super block of a Rust file system, from the start of its `fill_super`
    /// (once the glue data is installed) until its `kill_sb`.
    unsafe fn of(sb: *mut bindings::super_block) -> *const SbRelease {
        // SAFETY: By the safety requirements `s_fs_info` points to the glue data, which
        // starts with the `SbRelease` (`repr(C)`).
        unsafe { (*sb).s_fs_info.cast::<SbRelease>().cast_const() }
    }

    /// Counts one more deferred `iput` on `sb`. Does not sleep.
    ///
    /// # Safety
    ///
    /// The caller must own an active reference of `sb` (a super block of a Rust file system).
    unsafe fn get_pending(sb: *mut bindings::super_block) {
        // SAFETY: The active reference keeps `kill_sb` away, so the glue data is installed
        // and alive.
        unsafe { bindings::rust_fs_pending_get((*Self::of(sb)).pending.get()) };
    }

    /// Gives back `n` pending references; the last wakes `kill_sb` if it waits.
    ///
    /// # Safety
    ///
    /// `this` must be alive and `n` references counted in it must be the caller's. It may be
    /// freed as soon as this returns.
    unsafe fn put_pending(this: *const SbRelease, n: usize) {
        // SAFETY: By the safety requirements; `wake_up_var` only hashes the address.
        unsafe { bindings::rust_fs_pending_put((*this).pending.get(), n as c_long) };
    }

    /// Waits until no deferred `iput` is pending (`kill_sb`, before the shutdown).
    pub(crate) fn wait_pending(&self) {
        // SAFETY: `pending` and `map` are initialised and alive for the borrow.
        unsafe { bindings::rust_fs_pending_wait(self.pending.get(), self.map.get()) };
    }

    /// The work function: releases the last active reference of the super block.
    ///
    /// # Safety
    ///
    /// Called by the workqueue with the `work` of an [`SbRelease`], which owns the last
    /// active reference of its super block.
    unsafe extern "C" fn run(work: *mut bindings::work_struct) {
        // SAFETY: `work` is the `work` field of an `SbRelease` (`Opaque` is
        // `repr(transparent)`), alive while the last active reference is not released.
        let this = unsafe {
            crate::container_of!(work.cast::<Opaque<bindings::work_struct>>(), Self, work)
        };
        // SAFETY: As above.
        let sb = unsafe { (*this).sb };
        // SAFETY: We own the last active reference; process context, no lock held. `kill_sb`
        // frees the glue data with this work in it, which is not used after the call.
        unsafe { bindings::deactivate_super(sb) };
    }
}

/// Releases an inode reference owned by Rust (one `i_count` and one `s_active` reference):
/// `iput` where the context may sleep, otherwise through the inode's [`DeferredPut`] (counted
/// pending in the super block's [`SbRelease`] first), then the active reference
/// ([`release_active`]).
///
/// # Safety
///
/// `inode` must be the inode of a live [`INodeWithData`], and the caller must own one
/// reference of each kind, which it gives up.
pub(crate) unsafe fn put_inode_ref(inode: *mut bindings::inode) {
    // SAFETY: The inode is alive (we own a reference); `i_sb` never changes.
    let sb = unsafe { (*inode).i_sb };
    // SAFETY: No requirement.
    if unsafe { bindings::rust_fs_may_sleep() } {
        // SAFETY: We own the reference and may sleep; our active reference keeps the super
        // block from being shut down under the `iput` (it must not be released first).
        unsafe { bindings::iput(inode) };
    } else {
        // SAFETY: We own an active reference of `sb`; the pending reference is counted
        // before that active reference is dropped below, and handed to the deferred release
        // with the `i_count` reference.
        unsafe {
            SbRelease::get_pending(sb);
            DeferredPut::defer(inode);
        }
    }
    // SAFETY: We own an active reference of `sb`, which is alive because of it.
    unsafe { release_active(sb) };
}

/// Releases an active reference (`s_active`) of `sb`, a super block of a Rust file system.
/// Does not sleep.
///
/// If it is not the last one, this is an atomic decrement. The last one shuts the super
/// block down (`kill_sb`), which the caller's context may not allow (see [`SbRelease`]): it
/// is handed to the super block's release work, so `kill_sb` runs in a worker of the
/// `kernel` crate, with or without a root (a mount that failed keeps its glue data).
///
/// # Safety
///
/// The caller must own an active reference of `sb`, which it gives up.
pub(crate) unsafe fn release_active(sb: *mut bindings::super_block) {
    // SAFETY: `sb` is alive: we hold an active reference.
    if unsafe { bindings::rust_fs_sb_put_active_not_last(sb) } {
        return;
    }
    // SAFETY: We hold the last active reference, so `kill_sb` has not run and the glue data
    // (installed before any Rust reference could exist) is alive. The work is not pending (a
    // pending one owns an active reference, and we found ours to be the only one); it takes
    // our reference over. The workqueue always exists.
    unsafe {
        let release = SbRelease::of(sb);
        bindings::queue_work_on(
            bindings::wq_misc_consts_WORK_CPU_UNBOUND as c_int,
            bindings::system_dfl_wq,
            (*release).work.get(),
        )
    };
}

impl<D> INodeWithData<D> {
    /// Returns the container of a C inode.
    ///
    /// # Safety
    ///
    /// `inode` must be the `inode` field of an `INodeWithData<D>`.
    pub(crate) unsafe fn from_inode(inode: *mut bindings::inode) -> *mut Self {
        let offset = core::mem::offset_of!(Self, inode);
        // SAFETY: By the safety requirements, the container starts `offset` bytes before.
        unsafe { inode.cast::<u8>().sub(offset).cast() }
    }

    /// Initialises a freshly allocated container (`->alloc_inode`).
    ///
    /// # Safety
    ///
    /// `ptr` must be valid for writes of `Self`, an object of an inode cache whose
    /// constructor is [`Self::init_once`].
    pub(crate) unsafe fn init_empty(ptr: *mut Self) {
        // SAFETY: By the safety requirements, `ptr` is valid for writes. A previous use of the
        // slab object released every deferred reference before the inode was freed.
        unsafe {
            (&raw mut (*ptr).put.pending).write(AtomicUsize::new(0));
            init_work(
                (*ptr).put.work.get(),
                DeferredPut::run,
                DEFERRED_PUT_WORK_NAME,
                static_lock_class!(),
            );
        }
        // SAFETY: By the safety requirements, `ptr` is valid for writes.
        unsafe { (&raw mut (*ptr).has_data).write(false) };
        // SAFETY: As above; the slab object may hold a stale value, which is overwritten
        // without being dropped (it was dropped in `drop_data`).
        unsafe { (&raw mut (*ptr).link).write(None) };
        // The inode itself was initialised by the cache's constructor (`init_once`) when the
        // slab object was made, and the VFS returns every inode to its cache in that state,
        // but for `i_version`, which `inode_init_always` leaves alone: it starts at 0.
        // SAFETY: As above; nobody else sees the inode yet.
        unsafe { (*(*ptr).inode.get()).i_version.counter = 0 };
    }

    /// The inode cache's slab constructor: runs `inode_init_once` on the inode of each object
    /// once, when the slab that holds it is made, as the constructors of C file systems do
    /// (the VFS leaves the fields it initialises in that state when an inode is freed, so
    /// they need not be set up again at every allocation).
    ///
    /// # Safety
    ///
    /// `obj` must point to a new object of an inode cache of `Self`, valid for writes.
    pub(crate) unsafe extern "C" fn init_once(obj: *mut crate::ffi::c_void) {
        let ptr = obj.cast::<Self>();
        // SAFETY: By the safety requirements, `ptr` is valid for writes of `Self`, so its
        // inode is valid memory, which `inode_init_once` initialises whole.
        unsafe { bindings::inode_init_once((*ptr).inode.get()) };
    }

    /// Drops the private data if it was initialised (`->free_inode`).
    ///
    /// # Safety
    ///
    /// `ptr` must point to a container that is no longer reachable by anyone else.
    pub(crate) unsafe fn drop_data(ptr: *mut Self) {
        // SAFETY: By the safety requirements, we have exclusive access.
        let this = unsafe { &mut *ptr };
        // RCU path walkers that read `i_link` are done (this runs after a grace period).
        this.link = None;
        if this.has_data {
            this.has_data = false;
            // SAFETY: `has_data` says the data was initialised, and it is dropped only once.
            unsafe { this.data.assume_init_drop() };
        }
    }

    /// Tells whether the private data has been initialised.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a live container.
    pub(crate) unsafe fn has_data(ptr: *const Self) -> bool {
        // SAFETY: By the safety requirements `ptr` is valid.
        unsafe { (*ptr).has_data }
    }
}

// SAFETY: Inodes are reference counted by `ihold`/`iput`; the C inode lives until the count
// reaches zero and it is evicted. Each reference also holds an active reference of the super
// block (`s_active`), so the super block is not shut down (and its inodes not declared busy
// and freed under us) while an `ARef` lives, wherever it is kept.
unsafe impl<T: FileSystem> AlwaysRefCounted for INode<T> {
    fn inc_ref(&self) {
        let inode = self.as_raw();
        // A `&INode` exists only while somebody holds a reference (where `i_count` may be zero
        // hooks get an `INodeView`, which cannot be upgraded), and while `s_active` is not
        // zero: the hook was called through a path or an open file (which pin a mount), an
        // `ARef` holds one, or `fill_super` runs (`s_active` is 1); `iget` and `new_inode`
        // refuse once it is 0.
        // SAFETY: So `i_count` and `s_active` are both above zero here.
        unsafe {
            bindings::ihold(inode);
            bindings::rust_fs_sb_get_active((*inode).i_sb);
        }
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: The caller owns a reference: one `i_count` and one `s_active` reference, of
        // an inode of `T` (in an `INodeWithData`).
        unsafe { put_inode_ref(obj.as_ptr().cast()) };
    }
}

// SAFETY: The C inode is designed to be used from any thread; the private data is `Send`.
unsafe impl<T: FileSystem> Send for INodeView<T> {}
// SAFETY: Shared access only exposes thread-safe accessors; the private data is `Sync`.
unsafe impl<T: FileSystem> Sync for INodeView<T> {}

/// A time stamp (`struct timespec64`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timespec {
    /// Seconds since the epoch.
    pub sec: i64,
    /// Nanoseconds, below one billion.
    pub nsec: u32,
}

impl From<bindings::timespec64> for Timespec {
    fn from(ts: bindings::timespec64) -> Self {
        Self {
            sec: ts.tv_sec,
            nsec: ts.tv_nsec as u32,
        }
    }
}

impl From<Timespec> for bindings::timespec64 {
    fn from(ts: Timespec) -> Self {
        Self {
            tv_sec: ts.sec,
            tv_nsec: ts.nsec as isize,
        }
    }
}

/// File types, as encoded in the `S_IFMT` bits of a mode.
pub mod mode {
    /// Mask of the file type bits.
    pub const S_IFMT: u16 = 0o170000;
    /// Regular file.
    pub const S_IFREG: u16 = 0o100000;
    /// Directory.
    pub const S_IFDIR: u16 = 0o040000;
    /// Symbolic link.
    pub const S_IFLNK: u16 = 0o120000;
    /// Character device.
    pub const S_IFCHR: u16 = 0o020000;
    /// Block device.
    pub const S_IFBLK: u16 = 0o060000;
    /// FIFO.
    pub const S_IFIFO: u16 = 0o010000;
    /// Socket.
    pub const S_IFSOCK: u16 = 0o140000;
}

/// Inode attribute flags the VFS enforces (`i_flags`, the `S_*` bits of
/// [`include/linux/fs.h`](srctree/include/linux/fs.h)); a file system derives them from its
/// on-disk attributes ([`Params::flags`], [`Locked::set_flags`]).
pub mod iflags {
    use crate::bindings;

    /// Writes are synchronous (`S_SYNC`, `IS_SYNC`).
    pub const SYNC: u32 = bindings::S_SYNC;
    /// Access times are not updated (`S_NOATIME`).
    pub const NOATIME: u32 = bindings::S_NOATIME;
    /// Only appends: no overwrite, truncate, rename or unlink (`S_APPEND`).
    pub const APPEND: u32 = bindings::S_APPEND;
    /// No change at all: data, attributes, links (`S_IMMUTABLE`).
    pub const IMMUTABLE: u32 = bindings::S_IMMUTABLE;
    /// Directory changes are synchronous (`S_DIRSYNC`).
    pub const DIRSYNC: u32 = bindings::S_DIRSYNC;
    /// The flags a file system may set with [`super::Params::flags`] and
    /// [`super::Locked::set_flags`]; the VFS owns the other `i_flags` bits.
    pub const SETTABLE: u32 = SYNC | NOATIME | APPEND | IMMUTABLE | DIRSYNC;

    /// The `i_flags` bits that the user-visible `FS_*_FL` flags of `FS_IOC_GETFLAGS`
    /// (see [`super::FileAttr::flags`]) stand for, as ext2/ext4 map them.
    pub const fn from_fs_flags(fs_flags: u32) -> u32 {
        let mut f = 0;
        if fs_flags & bindings::FS_SYNC_FL != 0 {
            f |= SYNC;
        }
        if fs_flags & bindings::FS_NOATIME_FL != 0 {
            f |= NOATIME;
        }
        if fs_flags & bindings::FS_APPEND_FL != 0 {
            f |= APPEND;
        }
        if fs_flags & bindings::FS_IMMUTABLE_FL != 0 {
            f |= IMMUTABLE;
        }
        if fs_flags & bindings::FS_DIRSYNC_FL != 0 {
            f |= DIRSYNC;
        }
        f
    }
}

/// The user-visible inode flags of `FS_IOC_GETFLAGS`/`FS_IOC_SETFLAGS` (`FS_*_FL` of
/// [`include/uapi/linux/fs.h`](srctree/include/uapi/linux/fs.h)) that the VFS maps to
/// [`iflags`] and to `FS_XFLAG_*` (see [`FileAttr`]).
pub mod fsflags {
    use crate::bindings;

    /// Synchronous updates (`FS_SYNC_FL`).
    pub const SYNC: u32 = bindings::FS_SYNC_FL;
    /// Immutable file (`FS_IMMUTABLE_FL`).
    pub const IMMUTABLE: u32 = bindings::FS_IMMUTABLE_FL;
    /// Writes may only append (`FS_APPEND_FL`).
    pub const APPEND: u32 = bindings::FS_APPEND_FL;
    /// Not to be dumped (`FS_NODUMP_FL`); the VFS does not act on it.
    pub const NODUMP: u32 = bindings::FS_NODUMP_FL;
    /// No access time updates (`FS_NOATIME_FL`).
    pub const NOATIME: u32 = bindings::FS_NOATIME_FL;
    /// Synchronous directory updates (`FS_DIRSYNC_FL`).
    pub const DIRSYNC: u32 = bindings::FS_DIRSYNC_FL;
}

impl<T: FileSystem> INode<T> {
    /// Creates a reference from a raw inode pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a live, initialised inode of file system `T` on which a reference
    /// is held (see the type invariants) for the lifetime `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::inode) -> &'a Self {
        // SAFETY: `INode` is `repr(transparent)` over `INodeView`, itself over the C inode.
        unsafe { &*ptr.cast() }
    }

    /// Creates a reference from a raw inode pointer, for abstractions outside the `kernel`
    /// crate whose C callbacks receive inodes (e.g. iomap).
    ///
    /// # Safety
    ///
    /// `ptr` must point to a live inode of file system `T` that was completed with
    /// [`NewINode::init`], a reference to it (`i_count`) must be held for `'a`, and its super
    /// block must be active (`s_active` not zero: the caller reached the inode through an
    /// open file, a path or a mapping, which pin a mount, through an `ARef`, or during
    /// `fill_super`), since an `&INode` may be upgraded to an `ARef`; where the count may be
    /// zero, or the super block is being shut down, use [`INodeView::from_raw_view`].
    pub unsafe fn from_raw_inode<'a>(ptr: *mut bindings::inode) -> &'a Self {
        // SAFETY: By the safety requirements.
        unsafe { Self::from_raw(ptr) }
    }

    /// Locks the inode exclusively (`inode_lock`, the `i_rwsem`).
    pub fn lock(&self) -> Locked<'_, T> {
        // SAFETY: The inode is valid.
        unsafe { bindings::inode_lock(self.as_raw()) };
        Locked {
            inode: self,
            owned: true,
            _not_send: PhantomData,
        }
    }

    /// Locks the inode shared (`inode_lock_shared`).
    pub fn lock_shared(&self) -> SharedLocked<'_, T> {
        // SAFETY: The inode is valid.
        unsafe { bindings::inode_lock_shared(self.as_raw()) };
        SharedLocked {
            inode: self,
            owned: true,
            _not_send: PhantomData,
        }
    }

    /// Takes the mapping's invalidate lock exclusively (`filemap_invalidate_lock`).
    pub fn invalidate_lock(&self) -> InvalidateLocked<'_, T> {
        // SAFETY: The inode and its mapping are valid.
        unsafe { bindings::filemap_invalidate_lock(&raw mut (*self.as_raw()).i_data) };
        InvalidateLocked {
            inode: self,
            _not_send: PhantomData,
        }
    }

    /// Hands the reference over to a C caller that attaches the inode to a dentry of super
    /// block `sb` (`d_splice_alias`, `d_obtain_alias`, `d_make_root`). Fails with `EXDEV`,
    /// dropping the reference, if the inode is of another super block: a file system may
    /// hold inodes of several mounts of its type, and a dentry of one mount on an inode of
    /// another would outlive that other mount's unmount.
    pub(crate) fn into_raw_for(
        this: ARef<Self>,
        sb: *const bindings::super_block,
    ) -> Result<*mut bindings::inode> {
        if !core::ptr::eq(this.super_block().as_raw(), sb) {
            return Err(EXDEV);
        }
        let p = this.as_raw();
        core::mem::forget(this);
        // The `i_count` reference goes to the dentry; the active one is given back. The VFS
        // holds another (the mount the hook was called through, or the one of the mount in
        // progress), so this is never the last.
        // SAFETY: We owned an active reference of the inode's super block, `sb`.
        unsafe { release_active(sb.cast_mut()) };
        Ok(p)
    }

    /// Writes the inode back now if it is dirty (`sync_inode_metadata` with `wait`). Not
    /// offered on an [`INodeView`]: an inode being written back or evicted must not be
    /// written back again from its own hooks.
    pub fn sync_metadata(&self) -> Result {
        // SAFETY: The inode is valid and referenced.
        to_result(unsafe { bindings::sync_inode_metadata(self.as_raw(), 1) })
    }

    /// Writes back and waits for the page cache of the byte range `start..=end`
    /// (`filemap_write_and_wait_range`).
    pub fn write_and_wait_range(&self, start: i64, end: i64) -> Result {
        // SAFETY: The mapping is valid.
        to_result(unsafe { bindings::filemap_write_and_wait_range(self.mapping(), start, end) })
    }
}

impl<T: FileSystem> INodeView<T> {
    /// Returns the raw `struct inode` pointer.
    #[inline]
    pub fn as_raw(&self) -> *mut bindings::inode {
        self.inode.get()
    }

    /// Creates a view from a raw inode pointer, for hooks where the reference count may be
    /// zero (writeback, eviction, RCU walk).
    ///
    /// # Safety
    ///
    /// `ptr` must point to an inode of file system `T` that was completed with
    /// [`NewINode::init`] and whose memory stays valid for `'a` (e.g. the VFS is evicting or
    /// writing it back, or an RCU read-side critical section covers `'a`).
    pub unsafe fn from_raw_view<'a>(ptr: *mut bindings::inode) -> &'a Self {
        // SAFETY: `INodeView` is `repr(transparent)` over the C inode; validity is guaranteed
        // by the caller.
        unsafe { &*ptr.cast() }
    }

    fn container(&self) -> *mut INodeWithData<T::INodeData> {
        // SAFETY: By the type invariants, every inode of `T` is inside a container.
        unsafe { INodeWithData::from_inode(self.as_raw()) }
    }

    /// Returns the file system's private data of this inode.
    pub fn data(&self) -> &T::INodeData {
        // SAFETY: By the type invariants the data is initialised, and it lives as long as the
        // inode.
        unsafe { (*self.container()).data.assume_init_ref() }
    }

    /// Returns the super block this inode belongs to.
    pub fn super_block(&self) -> &SuperBlock<T, Ready> {
        // SAFETY: `i_sb` is valid for the inode's lifetime; inodes exist only on mounted
        // (ready) super blocks once handed out.
        unsafe { SuperBlock::from_raw((*self.as_raw()).i_sb) }
    }

    /// Returns the inode number (`i_ino`).
    pub fn ino(&self) -> u64 {
        // SAFETY: `i_ino` is immutable once the inode is hashed.
        unsafe { (*self.as_raw()).i_ino }
    }

    /// Returns the mode: file type and permission bits (`i_mode`).
    pub fn mode(&self) -> u16 {
        // SAFETY: Reading a `umode_t` is atomic; it changes under the inode lock only.
        unsafe { core::ptr::read_volatile(&raw const (*self.as_raw()).i_mode) }
    }

    /// Returns the file type bits of the mode.
    pub fn file_type(&self) -> u16 {
        self.mode() & mode::S_IFMT
    }

    /// Returns the file size (`i_size_read`).
    pub fn size(&self) -> i64 {
        // SAFETY: The inode is valid.
        unsafe { bindings::i_size_read(self.as_raw()) }
    }

    /// Returns the link count (`i_nlink`).
    pub fn nlink(&self) -> u32 {
        // SAFETY: `i_nlink` is read atomically (it is an `unsigned int`).
        unsafe { core::ptr::read_volatile(&raw const (*self.as_raw()).__bindgen_anon_1.i_nlink) }
    }

    /// Returns the owner's user id as seen in the initial namespace.
    pub fn uid(&self) -> u32 {
        // SAFETY: The inode is valid.
        unsafe { bindings::i_uid_read(self.as_raw()) }
    }

    /// Returns the owner's group id as seen in the initial namespace.
    pub fn gid(&self) -> u32 {
        // SAFETY: The inode is valid.
        unsafe { bindings::i_gid_read(self.as_raw()) }
    }

    /// Returns the number of 512-byte sectors used (`i_blocks`).
    pub fn blocks(&self) -> u64 {
        // SAFETY: The inode is valid.
        unsafe { bindings::inode_get_bytes(self.as_raw()) as u64 >> 9 }
    }

    /// Sets the number of bytes used (`inode_set_bytes`), under `i_lock` as
    /// `inode_get_bytes` reads it.
    pub fn set_bytes(&self, bytes: u64) {
        let inode = self.as_raw();
        // SAFETY: The inode is valid. `inode_set_bytes` itself takes no lock: `i_lock`, which
        // `inode_get_bytes` and `__inode_add_bytes` hold, keeps `i_blocks`/`i_bytes`
        // consistent for readers.
        unsafe {
            bindings::spin_lock(&raw mut (*inode).i_lock);
            bindings::inode_set_bytes(inode, bytes as i64);
            bindings::spin_unlock(&raw mut (*inode).i_lock);
        }
    }

    /// Returns the VFS attribute flags (`i_flags` masked with [`iflags::SETTABLE`]), e.g. to
    /// refuse a write to an [`iflags::IMMUTABLE`] file opened before it became immutable.
    /// Read without the inode lock, like C's `IS_IMMUTABLE()`.
    pub fn flags(&self) -> u32 {
        // SAFETY: The inode is valid; a racy read of `i_flags` is what C's `IS_*()` macros do,
        // and writers (`inode_set_flags`) update it atomically.
        let f = unsafe { core::ptr::addr_of!((*self.as_raw()).i_flags).read_volatile() };
        f & iflags::SETTABLE
    }

    /// Returns the device number of a special file (`i_rdev`): the kernel's internal `dev_t`,
    /// `MKDEV(major, minor)` (major in the top 12 bits, minor in the low 20), not the "new"
    /// encoding that user space sees in `st_rdev` (`new_encode_dev`).
    pub fn rdev(&self) -> u32 {
        // SAFETY: The inode is valid; `i_rdev` is set before the inode is unlocked.
        unsafe { (*self.as_raw()).i_rdev }
    }

    /// Returns the last access time.
    pub fn atime(&self) -> Timespec {
        // SAFETY: The inode is valid.
        unsafe { bindings::inode_get_atime(self.as_raw()) }.into()
    }

    /// Returns the last modification time.
    pub fn mtime(&self) -> Timespec {
        // SAFETY: The inode is valid.
        unsafe { bindings::inode_get_mtime(self.as_raw()) }.into()
    }

    /// Returns the last status change time.
    pub fn ctime(&self) -> Timespec {
        // SAFETY: The inode is valid.
        unsafe { bindings::inode_get_ctime(self.as_raw()) }.into()
    }

    /// Sets the change and modification times to now (`inode_set_ctime_current`).
    pub fn touch_cmtime(&self) {
        // SAFETY: The inode is valid.
        unsafe {
            let now = bindings::inode_set_ctime_current(self.as_raw());
            bindings::inode_set_mtime_to_ts(self.as_raw(), now);
        }
    }

    /// Sets the change time to now.
    pub fn touch_ctime(&self) {
        // SAFETY: The inode is valid.
        unsafe { bindings::inode_set_ctime_current(self.as_raw()) };
    }

    /// Waits for direct I/O in flight on the inode (`inode_dio_wait`).
    pub fn dio_wait(&self) {
        // SAFETY: The inode is valid.
        unsafe { bindings::inode_dio_wait(self.as_raw()) };
    }

    /// Marks the inode dirty so that `write_inode` writes it back (`mark_inode_dirty`).
    pub fn mark_dirty(&self) {
        // SAFETY: The inode is valid.
        unsafe { bindings::__mark_inode_dirty(self.as_raw(), bindings::I_DIRTY as i32) };
    }

    /// Tells whether the inode is unhashed and being torn down with no links left.
    pub fn is_bad(&self) -> bool {
        // SAFETY: The inode is valid.
        unsafe { bindings::is_bad_inode(self.as_raw()) }
    }

    /// Returns the inode's page cache mapping (`i_mapping`).
    pub fn mapping(&self) -> *mut bindings::address_space {
        // SAFETY: `i_mapping` is set at allocation and never changes for our inodes.
        unsafe { (*self.as_raw()).i_mapping }
    }
}

/// Proof that the inode lock (`i_rwsem`) of an inode is held exclusively.
///
/// Obtained from [`INode::lock`] (which unlocks on drop) or handed to callbacks the VFS
/// calls with the lock held (which do not unlock).
///
/// # Invariants
///
/// `i_rwsem` of `inode` is held exclusively by the current task for `'a` (taken by
/// [`INode::lock`] if `owned`, else by the VFS around the callback). The guard is neither
/// `Send` nor `Sync`: a rwsem belongs to the task that took it. Functions that act on an
/// inode reached another way (an iocb's file) check that it is this guard's inode
/// ([`Locked::is_of_raw`]).
pub struct Locked<'a, T: FileSystem> {
    inode: &'a INode<T>,
    owned: bool,
    _not_send: crate::types::NotThreadSafe,
}

impl<'a, T: FileSystem> Locked<'a, T> {
    /// Creates a proof for a callback where the VFS holds the lock.
    ///
    /// # Safety
    ///
    /// The inode lock of `inode` must be held exclusively for `'a`.
    pub(crate) unsafe fn held(inode: &'a INode<T>) -> Self {
        Self {
            inode,
            owned: false,
            _not_send: PhantomData,
        }
    }
}

/// Returns the inode of the file of `iocb` (`file_inode(iocb->ki_filp)`).
fn iocb_inode(iocb: &super::Kiocb<'_, ()>) -> *const bindings::inode {
    // SAFETY: A live kiocb has a valid file, whose inode never changes.
    unsafe { bindings::file_inode((*iocb.as_raw()).ki_filp) }
}

/// `Ok` if `guarded` (the inode a guard locks) is the inode of `iocb`'s file, `EINVAL` if not.
fn guards_iocb(guarded: *const bindings::inode, iocb: &super::Kiocb<'_, ()>) -> Result {
    if core::ptr::eq(guarded, iocb_inode(iocb)) {
        Ok(())
    } else {
        Err(EINVAL)
    }
}

impl<T: FileSystem> Locked<'_, T> {
    /// Tells whether this guard locks the inode at `inode` (a raw pointer, e.g. the inode of
    /// an iocb's file); only compared, never dereferenced.
    pub(crate) fn is_of_raw(&self, inode: *const bindings::inode) -> bool {
        core::ptr::eq(self.inode.as_raw(), inode)
    }

    /// Checks that this guard locks the inode of `iocb`'s file: `EINVAL` otherwise. Every
    /// function that takes a guard as proof for an operation on an iocb calls it, so the guard
    /// of one inode cannot stand in for another's.
    pub fn check_iocb(&self, iocb: &super::Kiocb<'_, ()>) -> Result {
        guards_iocb(self.inode.as_raw(), iocb)
    }

    /// Sets the link count (`set_nlink`, which also keeps the super block's count of
    /// inodes without links right). C changes `i_nlink` under the inode lock this guard holds.
    pub fn set_nlink(&self, nlink: u32) {
        // SAFETY: The inode is valid and locked, so no other task changes `i_nlink`.
        unsafe { bindings::set_nlink(self.inode.as_raw(), nlink) };
    }

    /// Increments the link count (`inc_nlink`), under the inode lock this guard holds.
    pub fn inc_nlink(&self) {
        // SAFETY: The inode is valid and locked, so no other task changes `i_nlink`.
        unsafe { bindings::inc_nlink(self.inode.as_raw()) };
    }

    /// Decrements the link count (`drop_nlink`), under the inode lock this guard holds; a
    /// count already zero stays zero (C would warn).
    pub fn drop_nlink(&self) {
        if self.inode.nlink() > 0 {
            // SAFETY: The inode is valid and locked, so the count, not zero just above, is
            // still not zero.
            unsafe { bindings::drop_nlink(self.inode.as_raw()) };
        }
    }

    /// Checks that the file may grow to `size` bytes (`inode_newsize_ok`): `EFBIG` past the
    /// super block's `s_maxbytes` or the caller's `RLIMIT_FSIZE` (which also sends it
    /// `SIGXFSZ`), `ETXTBSY` for a swap file. For size changes the VFS does not check itself,
    /// e.g. `fallocate` growing the file.
    pub fn newsize_ok(&self, size: i64) -> Result {
        // SAFETY: The inode is valid and locked.
        to_result(unsafe { bindings::inode_newsize_ok(self.inode.as_raw(), size) })
    }

    /// Sets the permission, set-id and sticky bits of the inode's mode to those of `mode`,
    /// keeping its file type (`i_mode`, which C changes under the inode lock this guard
    /// holds), e.g. with an access ACL ([`FileSystem::set_acl`](super::FileSystem::set_acl)).
    pub fn set_mode_bits(&self, mode: u16) {
        let raw = self.inode.as_raw();
        // SAFETY: The inode is valid and locked, so no other task writes `i_mode`; its type
        // bits stay, so the operation tables it was built with still match it. Lockless
        // readers (permission checks under RCU) read it as C's `READ_ONCE`: the write is
        // one volatile store (`WRITE_ONCE`).
        unsafe {
            let p = &raw mut (*raw).i_mode;
            let old = p.read();
            p.write_volatile((old & mode::S_IFMT) | (mode & !mode::S_IFMT));
        }
    }

    /// Replaces the VFS attribute flags ([`iflags::SETTABLE`] bits of `i_flags`) with `flags`
    /// (`inode_set_flags`), e.g. after `->fileattr_set` stored new on-disk attributes; bits
    /// outside [`iflags::SETTABLE`] are ignored.
    pub fn set_flags(&self, flags: u32) {
        // SAFETY: The inode is valid and locked; `inode_set_flags` changes only the bits of
        // the mask, atomically.
        unsafe {
            bindings::inode_set_flags(
                self.inode.as_raw(),
                flags & iflags::SETTABLE,
                iflags::SETTABLE,
            )
        };
    }

    /// Sets the file size (`i_size_write`), which needs the inode lock held exclusively.
    pub fn set_size(&self, size: i64) {
        // SAFETY: The inode is valid and `self` proves its `i_rwsem` is held exclusively.
        unsafe { bindings::i_size_write(self.inode.as_raw(), size) };
    }

    /// Sets the size and drops the page cache beyond it (`truncate_setsize`).
    pub fn truncate_setsize(&self, size: i64) {
        // SAFETY: The inode is valid and locked.
        unsafe { bindings::truncate_setsize(self.inode.as_raw(), size) };
    }
}

impl<T: FileSystem> core::ops::Deref for Locked<'_, T> {
    type Target = INode<T>;
    fn deref(&self) -> &INode<T> {
        self.inode
    }
}

impl<T: FileSystem> Drop for Locked<'_, T> {
    fn drop(&mut self) {
        if self.owned {
            // SAFETY: We locked it in `INode::lock`.
            unsafe { bindings::inode_unlock(self.inode.as_raw()) };
        }
    }
}

/// Proof that the inode lock is held at least shared.
///
/// # Invariants
///
/// `i_rwsem` of `inode` is held (shared or exclusive) by the current task for `'a`; neither
/// `Send` nor `Sync`, like [`Locked`].
pub struct SharedLocked<'a, T: FileSystem> {
    inode: &'a INode<T>,
    owned: bool,
    _not_send: crate::types::NotThreadSafe,
}

impl<'a, T: FileSystem> SharedLocked<'a, T> {
    /// Creates a proof for a callback where the VFS holds the lock shared.
    ///
    /// # Safety
    ///
    /// The inode lock of `inode` must be held (shared or exclusive) for `'a`.
    pub(crate) unsafe fn held(inode: &'a INode<T>) -> Self {
        Self {
            inode,
            owned: false,
            _not_send: PhantomData,
        }
    }
}

impl<T: FileSystem> SharedLocked<'_, T> {
    /// Checks that this guard locks the inode of `iocb`'s file: `EINVAL` otherwise (see
    /// [`Locked::check_iocb`]).
    pub fn check_iocb(&self, iocb: &super::Kiocb<'_, ()>) -> Result {
        guards_iocb(self.inode.as_raw(), iocb)
    }

    /// Tells whether the inode has no privileges that a write would have to remove
    /// (`IS_NOSEC`: `S_NOSEC` is set, which the VFS does once it found no set-id bits or
    /// security attributes, and undoes when they may change). For an inode of these
    /// abstractions both happen under the lock held exclusively, so the answer holds as long
    /// as this guard does.
    pub fn is_nosec(&self) -> bool {
        // `i_flags` of an inode of ours changes only under the exclusive lock: `S_NOSEC` is
        // set by `__file_remove_privs` (C file systems call it with the shared lock too, but
        // here it is reached only through `file_modified`, which takes `Locked`, and the VFS
        // paths that call it, remap and truncate, hold the lock exclusively), cleared by
        // `notify_change` and `__vfs_setxattr` (exclusive), and the rest by
        // `inode_set_flags` from `fileattr_set` (exclusive).
        // SAFETY: The inode is valid; this guard keeps the exclusive lock out, so the volatile
        // load of the aligned field races with no writer (see above).
        let flags = unsafe { (&raw const (*self.inode.as_raw()).i_flags).read_volatile() };
        flags & bindings::S_NOSEC != 0
    }
}

impl<T: FileSystem> core::ops::Deref for SharedLocked<'_, T> {
    type Target = INode<T>;
    fn deref(&self) -> &INode<T> {
        self.inode
    }
}

impl<T: FileSystem> Drop for SharedLocked<'_, T> {
    fn drop(&mut self) {
        if self.owned {
            // SAFETY: We locked it in `INode::lock_shared`.
            unsafe { bindings::inode_unlock_shared(self.inode.as_raw()) };
        }
    }
}

/// Guard of the mapping's invalidate lock (`filemap_invalidate_lock`), held exclusively.
///
/// # Invariants
///
/// `mapping->invalidate_lock` of `inode` is held exclusively by the current task for `'a`;
/// neither `Send` nor `Sync`.
pub struct InvalidateLocked<'a, T: FileSystem> {
    inode: &'a INode<T>,
    _not_send: crate::types::NotThreadSafe,
}

impl<T: FileSystem> InvalidateLocked<'_, T> {
    /// Tells whether this guard locks the mapping of `inode`.
    pub fn is_of(&self, inode: &INode<T>) -> bool {
        core::ptr::eq(self.inode, inode)
    }
}

impl<T: FileSystem> Drop for InvalidateLocked<'_, T> {
    fn drop(&mut self) {
        // SAFETY: Locked in `INode::invalidate_lock`.
        unsafe { bindings::filemap_invalidate_unlock(&raw mut (*self.inode.as_raw()).i_data) };
    }
}

/// What a file system fills in to bring a new inode to life.
pub struct Params<T: FileSystem> {
    /// File type and permissions.
    pub mode: u16,
    /// Size in bytes.
    pub size: i64,
    /// Link count.
    pub nlink: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Device number of a special file as the kernel's internal `dev_t` (`MKDEV`), else 0. A
    /// file system that stores the "new" encoding on disk decodes it first (`new_decode_dev`).
    pub rdev: u32,
    /// Bytes used on disk.
    pub bytes: u64,
    /// Last access time.
    pub atime: Timespec,
    /// Last modification time.
    pub mtime: Timespec,
    /// Last status change time.
    pub ctime: Timespec,
    /// Generation number.
    pub generation: u32,
    /// VFS attribute flags ([`iflags`]; bits outside [`iflags::SETTABLE`] are ignored).
    pub flags: u32,
    /// Inode operations for this kind of inode.
    pub iops: Ops<T>,
    /// File operations for this kind of inode.
    pub fops: file_ops::Ops<T>,
    /// Address space operations, if the inode has page cache data.
    pub aops: Option<super::address_space::AOps<T>>,
}

/// The id mapping of the mount an operation came through (`struct mnt_idmap`). On an
/// idmapped mount (`mount --map-users`, for file systems with
/// [`FileSystem::ALLOW_IDMAP`](super::FileSystem::ALLOW_IDMAP)) the owner of a new inode is
/// the caller's fsuid and fsgid mapped back through it, which [`NewINode::init_owner`] does;
/// the glue passes it to the VFS helpers that check permissions and copy attributes.
///
/// # Invariants
///
/// References are only made from the VFS's `idmap` arguments, valid for the call, or from the
/// static identity mapping.
#[repr(transparent)]
pub struct Idmap(Opaque<bindings::mnt_idmap>);

impl Idmap {
    /// Wraps the `idmap` argument of a VFS call.
    ///
    /// # Safety
    ///
    /// `ptr` is a valid mapping for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::mnt_idmap) -> &'a Idmap {
        // SAFETY: `Idmap` is a transparent wrapper; valid for `'a` by the safety requirements.
        unsafe { &*ptr.cast::<Idmap>() }
    }

    /// The identity mapping (`nop_mnt_idmap`), for inodes the file system creates on its own
    /// rather than for a caller.
    pub(crate) fn nop() -> &'static Idmap {
        // SAFETY: `nop_mnt_idmap` is a static the kernel never frees.
        unsafe { Self::from_raw(&raw mut bindings::nop_mnt_idmap) }
    }

    /// Returns the raw pointer.
    pub fn as_raw(&self) -> *mut bindings::mnt_idmap {
        self.0.get()
    }
}

/// An inode in the `I_NEW` state, returned by [`SuperBlock::iget`] or
/// [`SuperBlock::new_inode`]; complete it with [`NewINode::init`].
///
/// It owns a reference to the inode and an active reference of its super block, as an
/// [`ARef<INode<T>>`] does, and gives both to the one [`NewINode::init`] returns. Dropping it
/// without completing it does what `iget_failed()` does: the inode is marked bad, unlocked
/// and released (in process context, or deferred where the context may not sleep).
pub struct NewINode<T: FileSystem>(NonNull<bindings::inode>, PhantomData<T>);

impl<T: FileSystem> NewINode<T> {
    /// Returns the raw pointer to the new inode.
    pub(crate) fn as_raw(&self) -> *mut bindings::inode {
        self.0.as_ptr()
    }

    /// Returns the time stamp the VFS would give this inode now (`current_time`: the coarse
    /// clock, or a fine-grained one on multigrain file systems, truncated to the super block's
    /// granularity). New inodes must take their times from it rather than from the wall
    /// clock, or a later `touch_cmtime` of the same inode can go back in time (and `relatime`
    /// then never updates the access time).
    pub fn current_time(&self) -> Timespec {
        // SAFETY: The inode is valid and its super block is set (`new_inode`/`iget_locked`).
        unsafe { bindings::current_time(self.0.as_ptr()) }.into()
    }

    /// Returns the inode number.
    pub fn ino(&self) -> u64 {
        // SAFETY: The inode is valid.
        unsafe { (*self.0.as_ptr()).i_ino }
    }

    /// Sets the owner, group and mode of an inode being created in `dir` by the current task
    /// through a mount with mapping `idmap` (`inode_init_owner`: the fsuid and fsgid mapped
    /// back through `idmap`, set-group-ID directories, stripping of the set-group-ID bit).
    /// Returns the resulting `(uid, gid, mode)` to store in [`Params`] and on disk.
    pub fn init_owner(&mut self, idmap: &Idmap, dir: &INode<T>, mode: u16) -> (u32, u32, u16) {
        let inode = self.0.as_ptr();
        // SAFETY: The inode is new and exclusively ours; `dir` and `idmap` are valid.
        unsafe {
            bindings::inode_init_owner(idmap.as_raw(), inode, dir.as_raw(), mode);
            (
                bindings::i_uid_read(inode),
                bindings::i_gid_read(inode),
                (*inode).i_mode,
            )
        }
    }

    /// Makes the inode a fast symlink to `target`: [`NewINode::init`] points `i_link` at a
    /// copy of it (`inode_set_cached_link`), owned by the inode and freed with it after RCU, so
    /// that `simple_get_link` (an [`Operations`] table with [`Symlink::Fast`]) and `readlink`
    /// serve it without I/O.
    ///
    /// Fails with `EINVAL` if `target` is empty or holds a NUL byte, `ENAMETOOLONG` if it is
    /// longer than `PATH_MAX - 1` bytes, `ENOMEM`; [`NewINode::init`] then fails with `EINVAL`
    /// unless the mode is `S_IFLNK`.
    pub fn set_fast_link(&mut self, target: &[u8]) -> Result {
        if target.is_empty() || target.contains(&0) {
            return Err(EINVAL);
        }
        if target.len() >= bindings::PATH_MAX as usize {
            return Err(ENAMETOOLONG);
        }
        let mut buf = KVec::with_capacity(target.len() + 1, GFP_KERNEL)?;
        buf.extend_from_slice(target, GFP_KERNEL)?;
        buf.push(0, GFP_KERNEL)?;
        // SAFETY: The inode is new and locked, so its container is exclusively ours.
        unsafe {
            let container = INodeWithData::<T::INodeData>::from_inode(self.0.as_ptr());
            (*container).link = Some(buf);
        }
        Ok(())
    }

    /// Keeps the inode's page cache out of high memory (`inode_nohighmem`), as symlinks read
    /// through the page cache (`page_get_link`, [`Symlink::Page`]) need.
    pub fn set_nohighmem(&mut self) {
        // SAFETY: The inode is new and locked; its mapping has no folios yet.
        unsafe { bindings::inode_nohighmem(self.0.as_ptr()) };
    }

    /// Lets the page cache of the inode use large folios (`mapping_set_large_folios`); the
    /// address space operations must support them (iomap's do). On a file system with blocks
    /// larger than a page the page cache uses large folios anyway ([`NewINode::init`] sets
    /// the minimum order).
    pub fn set_large_folios(&mut self) {
        // SAFETY: The inode is new and locked; its mapping has no folios yet.
        unsafe { bindings::mapping_set_large_folios((*self.0.as_ptr()).i_mapping) };
    }

    /// Fills in the inode and its private data and unlocks it (`unlock_new_inode`).
    pub fn init(
        self,
        params: Params<T>,
        data: impl PinInit<T::INodeData, Error>,
    ) -> Result<ARef<INode<T>>> {
        let inode = self.0.as_ptr();
        // SAFETY: Inodes of `T` live in an `INodeWithData`.
        let container = unsafe { INodeWithData::<T::INodeData>::from_inode(inode) };
        // SAFETY: The inode is new and locked, so its container is exclusively ours.
        let has_link = unsafe { (*container).link.is_some() };
        // `i_link` shares a union with `i_pipe` and `i_cdev`: only symlinks may have one.
        if has_link && params.mode & mode::S_IFMT != mode::S_IFLNK {
            return Err(EINVAL);
        }
        check_tables(params.mode, &params.iops, has_link, params.aops.as_ref())?;
        // SAFETY: The inode is new and locked, so nobody else accesses its data; the data slot
        // is pinned in the slab object.
        unsafe { pin_init::raw_try_init((*container).data.as_mut_ptr(), data)? };
        // SAFETY: As above; the inode is exclusively ours until it is unlocked.
        unsafe {
            (*container).has_data = true;
            let i = &mut *inode;
            i.i_mode = params.mode;
            bindings::i_uid_write(inode, params.uid);
            bindings::i_gid_write(inode, params.gid);
            bindings::set_nlink(inode, params.nlink);
            bindings::i_size_write(inode, params.size);
            bindings::inode_set_bytes(inode, params.bytes as i64);
            i.i_rdev = params.rdev;
            i.i_generation = params.generation;
            i.i_flags = (i.i_flags & !iflags::SETTABLE) | (params.flags & iflags::SETTABLE);
            bindings::inode_set_atime_to_ts(inode, params.atime.into());
            bindings::inode_set_mtime_to_ts(inode, params.mtime.into());
            bindings::inode_set_ctime_to_ts(inode, params.ctime.into());
            i.i_op = params.iops.0;
            i.__bindgen_anon_3.i_fop = params.fops.as_raw();
            if let Some(aops) = params.aops {
                (*i.i_mapping).a_ops = aops.as_raw();
            }
            // Blocks larger than a page (only a file system with `FileSystem::LBS` gets
            // them: `sb_set_blocksize` refuses them otherwise): every folio of the page cache
            // must hold whole blocks, which iomap and the block layer assume. After
            // `set_large_folios`, which would reset the minimum.
            let blkbits = u32::from((*i.i_sb).s_blocksize_bits);
            if blkbits > crate::page::PAGE_SHIFT as u32 {
                bindings::mapping_set_folio_min_order(
                    i.i_mapping,
                    blkbits - crate::page::PAGE_SHIFT as u32,
                );
            }
            match params.mode & mode::S_IFMT {
                mode::S_IFCHR | mode::S_IFBLK | mode::S_IFIFO | mode::S_IFSOCK => {
                    bindings::init_special_inode(inode, params.mode, params.rdev);
                }
                _ => {}
            }
            if let Some(link) = &(*container).link {
                // The buffer lives until `free_inode`, after RCU; it is NUL-terminated with no
                // other NUL (checked by `set_fast_link`).
                bindings::inode_set_cached_link(
                    inode,
                    link.as_ptr().cast_mut().cast(),
                    (link.len() - 1) as c_int,
                );
            }
        }
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: The inode is fully initialised; unlocking it publishes it.
        unsafe { bindings::unlock_new_inode(this.0.as_ptr()) };
        // SAFETY: We own the reference `iget_locked`/`new_inode` gave us and an active
        // reference of the super block (taken by `iget`/`new_inode`), the two an `ARef` owns;
        // the data is now initialised, as `INode`'s invariants require.
        Ok(unsafe { ARef::from_raw(this.0.cast()) })
    }
}

/// The run-time checks of [`NewINode::init`] that tie the inode operations to the kind of
/// inode, so that no table the VFS calls can reach a `NULL` pointer:
///
/// - a table with `get_link` (any [`Symlink`] other than `None`, or a `get_link` hook) only
///   for `S_IFLNK` (the VFS treats every inode with `get_link` as a symlink, and `readlink`
///   on it would follow `i_link`, which shares a union with `i_cdev`);
/// - [`Symlink::Fast`] (`simple_get_link`) only with a target ([`NewINode::set_fast_link`]):
///   `readlink` would `strlen(NULL)`;
/// - [`Symlink::Page`] (`page_get_link`) only with address space operations that read
///   folios.
///
/// `EINVAL` otherwise.
fn check_tables<T: FileSystem>(
    mode: u16,
    iops: &Ops<T>,
    has_link: bool,
    aops: Option<&super::address_space::AOps<T>>,
) -> Result {
    // SAFETY: `Ops` always points to a static table.
    let get_link = unsafe { (*iops.as_raw()).get_link };
    let Some(get_link) = get_link else {
        return Ok(());
    };
    if mode & mode::S_IFMT != mode::S_IFLNK {
        return Err(EINVAL);
    }
    let f = get_link as usize;
    if f == bindings::simple_get_link as *const () as usize && !has_link {
        return Err(EINVAL);
    }
    if f == bindings::page_get_link as *const () as usize {
        // SAFETY: `AOps` always points to a static table.
        let reads = aops.is_some_and(|a| unsafe { (*a.as_raw()).read_folio }.is_some());
        if !reads {
            return Err(EINVAL);
        }
    }
    Ok(())
}

impl<T: FileSystem> Drop for NewINode<T> {
    fn drop(&mut self) {
        let inode = self.0.as_ptr();
        // `iget_failed`, whose `iput` is replaced by the release of both references (which
        // does not sleep where the context may not). Neither call sleeps.
        // SAFETY: The inode is new and locked, and we own a reference.
        unsafe {
            bindings::make_bad_inode(inode);
            bindings::unlock_new_inode(inode);
        }
        // SAFETY: The inode is in an `INodeWithData` (from `alloc_inode` of `T`); we own one
        // `i_count` and one `s_active` reference.
        unsafe { put_inode_ref(inode) };
    }
}

/// The result of [`SuperBlock::iget`].
pub enum Either<T: FileSystem> {
    /// The inode was in the inode cache, fully initialised.
    Cached(ARef<INode<T>>),
    /// The inode is new; read it and complete it with [`NewINode::init`].
    New(NewINode<T>),
}

impl<T: FileSystem> SuperBlock<T, Ready> {
    /// Takes the active reference (`s_active`) that every inode reference owns, unless the
    /// super block is being shut down (`s_active` is 0: `kill_sb`, or a hook it calls, such
    /// as [`FileSystem::put_super`], [`FileSystem::sync_fs`] or [`FileSystem::evict_inode`]
    /// during unmount), when no new reference may be made: `ESHUTDOWN`.
    fn get_active(&self) -> Result {
        // SAFETY: The super block is valid for the borrow.
        if unsafe { bindings::rust_fs_sb_tryget_active(self.as_raw()) } {
            Ok(())
        } else {
            Err(ESHUTDOWN)
        }
    }

    /// Looks up inode `ino` in the inode cache, or allocates a new one (`iget_locked`).
    ///
    /// Fails with `ESHUTDOWN` once the super block is being shut down (no active reference
    /// left; see [`ARef<INode<T>>`](INode)): from a hook that runs during unmount.
    pub fn iget(&self, ino: u64) -> Result<Either<T>> {
        self.get_active()?;
        // SAFETY: The super block is valid.
        let inode = unsafe { bindings::iget_locked(self.as_raw(), ino) };
        let Some(inode) = NonNull::new(inode) else {
            // SAFETY: We own the active reference taken above.
            unsafe { release_active(self.as_raw()) };
            return Err(ENOMEM);
        };
        // SAFETY: `iget_locked` returned a referenced inode.
        let state = unsafe { bindings::inode_state_read_once(inode.as_ptr()) };
        if state & bindings::I_NEW != 0 {
            // The new inode owns the reference and the active reference.
            return Ok(Either::New(NewINode(inode, PhantomData)));
        }
        // SAFETY: The inode is of this super block, so it lives in a container.
        let container = unsafe { INodeWithData::<T::INodeData>::from_inode(inode.as_ptr()) };
        // SAFETY: The inode is live and no longer new.
        if !unsafe { INodeWithData::has_data(container) } {
            // SAFETY: We own both references; the inode is in a container.
            unsafe { put_inode_ref(inode.as_ptr()) };
            return Err(EIO);
        }
        // SAFETY: We own the reference and the active reference, and the inode is
        // initialised.
        Ok(Either::Cached(unsafe { ARef::from_raw(inode.cast()) }))
    }

    /// Allocates a new inode with number `ino` and inserts it in the inode cache locked
    /// (`new_inode` + `insert_inode_locked`); fails with `EBUSY` if `ino` is still in use,
    /// and with `ESHUTDOWN` as [`SuperBlock::iget`] does.
    pub fn new_inode(&self, ino: u64) -> Result<NewINode<T>> {
        self.get_active()?;
        // SAFETY: The super block is valid.
        let Some(inode) = NonNull::new(unsafe { bindings::new_inode(self.as_raw()) }) else {
            // SAFETY: We own the active reference taken above.
            unsafe { release_active(self.as_raw()) };
            return Err(ENOMEM);
        };
        // SAFETY: The inode is new and not yet visible.
        unsafe { (*inode.as_ptr()).i_ino = ino };
        // SAFETY: The inode is valid; on success it is hashed and `I_NEW`.
        let r = unsafe { bindings::insert_inode_locked(inode.as_ptr()) };
        if r != 0 {
            // SAFETY: The inode is not hashed; dropping our references frees it. It was
            // allocated by `alloc_inode` of `T`, in a container.
            unsafe {
                bindings::make_bad_inode(inode.as_ptr());
                put_inode_ref(inode.as_ptr());
            }
            return Err(EBUSY);
        }
        Ok(NewINode(inode, PhantomData))
    }
}

/// Inode operations (`struct inode_operations`) of one kind of inode.
///
/// Hooks not implemented stay `NULL` in the C table, so the VFS applies its default (usually
/// `EPERM` or `EOPNOTSUPP`).
#[macros::vtable]
pub trait Operations {
    /// The file system these operations belong to.
    type FileSystem: FileSystem;

    /// Looks up `dentry` in directory `parent` (`->lookup`), called with the parent's inode lock
    /// held shared. Returns the inode, or `None` for a negative dentry.
    fn lookup(
        _parent: &SharedLocked<'_, Self::FileSystem>,
        _dentry: &DEntry<Self::FileSystem>,
    ) -> Result<Option<ARef<INode<Self::FileSystem>>>> {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Creates a regular file (`->create`), with the parent's inode lock held exclusively.
    /// On success the file system has instantiated `dentry`. `idmap` is the mapping of the
    /// mount the call came through, for [`NewINode::init_owner`] (as in every creating
    /// hook).
    fn create(
        _idmap: &Idmap,
        _parent: &Locked<'_, Self::FileSystem>,
        _dentry: NewDEntry<'_, Self::FileSystem>,
        _mode: u16,
    ) -> Result {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Creates a special file (`->mknod`): a character or block device, a FIFO or a socket.
    /// `mode` holds the file type and permissions, `rdev` the device number (the kernel's
    /// internal `dev_t`, `MKDEV`, which the syscall decoded from user space's encoding) for
    /// devices and 0 otherwise. Called with the parent's inode lock held
    /// exclusively, after the VFS checked the type and, for devices, `CAP_MKNOD`; on success
    /// the file system has instantiated `dentry`. The VFS sends regular files to
    /// [`Operations::create`] instead.
    fn mknod(
        _idmap: &Idmap,
        _parent: &Locked<'_, Self::FileSystem>,
        _dentry: NewDEntry<'_, Self::FileSystem>,
        _mode: u16,
        _rdev: u32,
    ) -> Result {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Creates a directory (`->mkdir`).
    fn mkdir(
        _idmap: &Idmap,
        _parent: &Locked<'_, Self::FileSystem>,
        _dentry: NewDEntry<'_, Self::FileSystem>,
        _mode: u16,
    ) -> Result {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Removes a non-directory entry (`->unlink`); the VFS holds the locks of the parent and
    /// of the victim, the inode of `dentry` (given as a guard).
    fn unlink(
        _parent: &Locked<'_, Self::FileSystem>,
        _dentry: &DEntry<Self::FileSystem>,
        _victim: &Locked<'_, Self::FileSystem>,
    ) -> Result {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Changes attributes (`->setattr`), with the inode locked. The glue checks the request
    /// (`setattr_prepare`) before and copies the attributes other than the size into the inode
    /// (`setattr_copy`) and marks it dirty (`I_DIRTY_SYNC`) after; the file system applies a
    /// size change (see [`Attr::size`]).
    ///
    /// Tables of a file system with ACLs get the glue's `->setattr` even without this hook
    /// (so that `chmod` reaches `posix_acl_chmod`); it then does the same without a
    /// file-system step, and refuses a size change (`EINVAL`; the VFS sends those only to
    /// regular files, whose table must implement this hook to be truncated).
    fn setattr(_inode: &Locked<'_, Self::FileSystem>, _attr: &Attr) -> Result {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Reports the extents of `start..start + len` (`->fiemap`, e.g. with
    /// `iomap::fiemap`). Called without locks.
    fn fiemap(
        _inode: &INode<Self::FileSystem>,
        _info: &mut FiemapInfo,
        _start: u64,
        _len: u64,
    ) -> Result {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Renames `old` in `old_dir` to `new` in `new_dir` (`->rename`). `flags` holds
    /// `RENAME_NOREPLACE`/`RENAME_EXCHANGE`/`RENAME_WHITEOUT`; the VFS has locked both
    /// directories. `replaced` is the guard of the inode that `new` names when it is there
    /// and the rename is not an exchange (the VFS locks it then; an exchange of two
    /// directories in one parent leaves both unlocked, so an exchange gets no guard: it
    /// changes no link count but the parents'). `idmap` is the mount's mapping, for the owner
    /// of a whiteout.
    fn rename(
        _idmap: &Idmap,
        _old_dir: &Locked<'_, Self::FileSystem>,
        _old: &DEntry<Self::FileSystem>,
        _new_dir: &Locked<'_, Self::FileSystem>,
        _new: &DEntry<Self::FileSystem>,
        _replaced: Option<&Locked<'_, Self::FileSystem>>,
        _flags: u32,
    ) -> Result {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Creates a hard link `new` in `dir` to `inode` (`->link`). The VFS holds the locks of
    /// `dir` and of `inode` (given as a guard). The source dentry is not offered: its parent
    /// is not locked, so its name may change under a concurrent rename.
    fn link(
        _inode: &Locked<'_, Self::FileSystem>,
        _dir: &Locked<'_, Self::FileSystem>,
        _new: NewDEntry<'_, Self::FileSystem>,
    ) -> Result {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Removes an empty directory (`->rmdir`); the VFS holds the locks of the parent and of
    /// the victim, the inode of `dentry` (given as a guard).
    fn rmdir(
        _parent: &Locked<'_, Self::FileSystem>,
        _dentry: &DEntry<Self::FileSystem>,
        _victim: &Locked<'_, Self::FileSystem>,
    ) -> Result {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Creates a symbolic link `dentry` in `parent` pointing to `target` (`->symlink`), with
    /// the parent locked exclusively. On success the file system has instantiated `dentry`.
    /// The target is not empty and shorter than `PATH_MAX`; the file system may refuse longer
    /// targets than it supports with `ENAMETOOLONG`.
    fn symlink(
        _idmap: &Idmap,
        _parent: &Locked<'_, Self::FileSystem>,
        _dentry: NewDEntry<'_, Self::FileSystem>,
        _target: &CStr,
    ) -> Result {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Creates an unnamed regular file in `dir` for `open(O_TMPFILE)` (`->tmpfile`); `mode`
    /// includes `S_IFREG`. Called without the directory lock.
    ///
    /// Return the new, initialised inode with a link count of 1: the glue attaches it to the
    /// open file's dentry with `d_tmpfile` (which drops the count to 0, so the file
    /// disappears on its last close unless `linkat` gives it a name) and opens the file
    /// (`finish_open_simple`). The file system records the inode as an orphan if it must
    /// survive a crash consistently. An inode with another link count is refused (`EINVAL`).
    fn tmpfile(
        _idmap: &Idmap,
        _dir: &INode<Self::FileSystem>,
        _mode: u16,
    ) -> Result<ARef<INode<Self::FileSystem>>> {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Returns the target of a symbolic link (`->get_link` in ref-walk, with a dentry).
    ///
    /// Context: process context, may sleep; no lock held; the dentry being walked holds a
    /// reference to `inode`. The dentry itself is not offered: its parent is not locked, so
    /// its name may change (and be freed) under a concurrent rename.
    ///
    /// In RCU path walk the glue calls [`Operations::get_link_rcu`] instead, or returns
    /// `ECHILD` (path walk then retries in ref-walk and calls this) if it is not implemented.
    /// Without either hook [`Operations::SYMLINK`] decides: fast symlinks
    /// ([`NewINode::set_fast_link`]) and page cache symlinks need no code.
    fn get_link<'a>(_inode: &'a INode<Self::FileSystem>) -> Result<Link<'a>> {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Returns the target of a symbolic link in RCU path walk (`->get_link` with a `NULL`
    /// dentry), when it can be had without sleeping, e.g. from the inode's private data.
    ///
    /// Context: inside `rcu_read_lock`: must not sleep (no I/O, no `GFP_KERNEL` allocation,
    /// no mutex). `inode` may have a zero count (RCU walk takes no reference), so it is an
    /// [`INodeView`]; its memory, private data included, stays valid for the walk (it is
    /// freed after a grace period). Return `ECHILD` to be called again in ref-walk
    /// ([`Operations::get_link`]). Also used in ref-walk when `get_link` is not implemented.
    fn get_link_rcu<'a>(_inode: &'a INodeView<Self::FileSystem>) -> Result<&'a CStr> {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// How `->get_link` is served when [`Operations::get_link`] is not implemented.
    const SYMLINK: Symlink = Symlink::None;

    /// Reports attributes (`->getattr`) for `stat`/`statx`. The glue fills `stat` from the
    /// inode first (`generic_fillattr`, and `generic_fill_statx_attr` for the immutable and
    /// append attributes); the file system adds what only it knows, e.g.
    /// [`Kstat::set_dio_align`] when `request_mask` asks for `STATX_DIOALIGN`, or
    /// [`Kstat::set_attributes`].
    fn getattr(
        _inode: &INode<Self::FileSystem>,
        _stat: &mut Kstat,
        _request_mask: u32,
        _query_flags: u32,
    ) -> Result {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Reports the inode's attribute flags for `FS_IOC_GETFLAGS` and `FS_IOC_FSGETXATTR`
    /// (`->fileattr_get`), usually with [`FileAttr::fill_flags`]. Called without the inode
    /// lock, or with it held when the VFS reads the flags before a change.
    fn fileattr_get(_inode: &INode<Self::FileSystem>, _attr: &mut FileAttr) -> Result {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Changes the inode's attribute flags for `FS_IOC_SETFLAGS` and `FS_IOC_FSSETXATTR`
    /// (`->fileattr_set`), with the inode lock held. The VFS has checked that the caller owns
    /// the inode and, to change [`fsflags::IMMUTABLE`] or [`fsflags::APPEND`], has
    /// `CAP_LINUX_IMMUTABLE`. The file system refuses what it cannot store (`EOPNOTSUPP`;
    /// see [`FileAttr::has_fsx`]), stores the rest, updates the VFS view with
    /// [`Locked::set_flags`] and the change time, and marks the inode dirty.
    fn fileattr_set(_inode: &Locked<'_, Self::FileSystem>, _attr: &FileAttr) -> Result {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }
}

/// A const table of inode operations for file system `T`.
#[derive(Clone, Copy)]
pub struct Ops<T: FileSystem>(*const bindings::inode_operations, PhantomData<T>);

// SAFETY: The table is immutable static data.
unsafe impl<T: FileSystem> Sync for Ops<T> {}
// SAFETY: The table is immutable static data.
unsafe impl<T: FileSystem> Send for Ops<T> {}

impl<T: FileSystem> Ops<T> {
    /// Builds the table for `U`; hooks `U` does not implement stay `NULL`.
    pub const fn new<U: Operations<FileSystem = T>>() -> Self {
        Self(&Table::<U>::TABLE, PhantomData)
    }

    /// The table without hooks of its own, e.g. for special files: only what every inode of
    /// `T` has (`->listxattr` when `T` has extended attributes).
    pub const fn empty() -> Self {
        Self(&Table::<NoOps<T>>::TABLE, PhantomData)
    }

    /// Returns the C table.
    pub fn as_raw(&self) -> *const bindings::inode_operations {
        self.0
    }
}

/// The operations of [`Ops::empty`]: none.
struct NoOps<T>(PhantomData<T>);

#[macros::vtable]
impl<T: FileSystem> Operations for NoOps<T> {
    type FileSystem = T;
}

pub(crate) struct Table<U: Operations>(PhantomData<U>);

impl<U: Operations> Table<U> {
    /// Inodes of this table have ACLs: the file system has them and the table is not a
    /// symlink's.
    const HAS_ACL: bool = <U::FileSystem as FileSystem>::HAS_GET_ACL
        && matches!(U::SYMLINK, Symlink::None)
        && !U::HAS_GET_LINK
        && !U::HAS_GET_LINK_RCU;

    pub(crate) const TABLE: bindings::inode_operations = bindings::inode_operations {
        lookup: if U::HAS_LOOKUP {
            Some(Self::lookup)
        } else {
            None
        },
        create: if U::HAS_CREATE {
            Some(Self::create)
        } else {
            None
        },
        mkdir: if U::HAS_MKDIR {
            Some(Self::mkdir)
        } else {
            None
        },
        mknod: if U::HAS_MKNOD {
            Some(Self::mknod)
        } else {
            None
        },
        unlink: if U::HAS_UNLINK {
            Some(Self::unlink)
        } else {
            None
        },
        rmdir: if U::HAS_RMDIR {
            Some(Self::rmdir)
        } else {
            None
        },
        // With ACLs, a mode change must reach `posix_acl_chmod`, so every table with ACLs
        // has the hook (`simple_setattr`, the VFS's default, does not call it).
        setattr: if U::HAS_SETATTR || Self::HAS_ACL {
            Some(Self::setattr)
        } else {
            None
        },
        rename: if U::HAS_RENAME {
            Some(Self::rename)
        } else {
            None
        },
        link: if U::HAS_LINK { Some(Self::link) } else { None },
        fiemap: if U::HAS_FIEMAP {
            Some(Self::fiemap)
        } else {
            None
        },
        symlink: if U::HAS_SYMLINK {
            Some(Self::symlink)
        } else {
            None
        },
        tmpfile: if U::HAS_TMPFILE {
            Some(Self::tmpfile)
        } else {
            None
        },
        get_link: if U::HAS_GET_LINK || U::HAS_GET_LINK_RCU {
            Some(Self::get_link)
        } else {
            match U::SYMLINK {
                Symlink::None => None,
                Symlink::Fast => Some(bindings::simple_get_link),
                Symlink::Page => Some(bindings::page_get_link),
            }
        },
        getattr: if U::HAS_GETATTR {
            Some(Self::getattr)
        } else {
            None
        },
        fileattr_get: if U::HAS_FILEATTR_GET {
            Some(Self::fileattr_get)
        } else {
            None
        },
        fileattr_set: if U::HAS_FILEATTR_SET {
            Some(Self::fileattr_set)
        } else {
            None
        },
        listxattr: if <U::FileSystem as FileSystem>::HAS_LISTXATTR {
            Some(super::xattr::listxattr::<U::FileSystem>)
        } else {
            None
        },
        // ACLs on every kind of inode but symlinks (as ext4 and XFS).
        get_inode_acl: if Self::HAS_ACL {
            Some(super::acl::get_inode_acl::<U::FileSystem>)
        } else {
            None
        },
        set_acl: if Self::HAS_ACL {
            Some(super::acl::set_acl::<U::FileSystem>)
        } else {
            None
        },
        ..pin_init::zeroed()
    };

    /// # Safety
    ///
    /// Called by the VFS with a directory inode of `U::FileSystem` locked shared and a
    /// dentry being looked up.
    unsafe extern "C" fn lookup(
        parent: *mut bindings::inode,
        dentry: *mut bindings::dentry,
        _flags: c_uint,
    ) -> *mut bindings::dentry {
        // SAFETY: By the safety requirements, the inode is ours and locked shared.
        let parent = unsafe { SharedLocked::held(INode::from_raw(parent)) };
        // SAFETY: The dentry is valid for the call.
        let d = unsafe { DEntry::from_raw(dentry) };
        let sb = parent.super_block().as_raw();
        match U::lookup(&parent, d) {
            Err(e) => e.to_ptr(),
            Ok(inode) => {
                match inode.map_or(Ok(core::ptr::null_mut()), |i| INode::into_raw_for(i, sb)) {
                    Err(e) => e.to_ptr(),
                    // SAFETY: `d_splice_alias` takes over the inode reference (or NULL), an inode
                    // of the dentry's super block.
                    Ok(ptr) => unsafe { bindings::d_splice_alias(ptr, dentry) },
                }
            }
        }
    }

    /// # Safety
    ///
    /// Called by the VFS with a locked directory of `U::FileSystem` and a negative dentry.
    unsafe extern "C" fn create(
        idmap: *mut bindings::mnt_idmap,
        parent: *mut bindings::inode,
        dentry: *mut bindings::dentry,
        mode: bindings::umode_t,
    ) -> c_int {
        from_result(|| {
            // SAFETY: As documented above.
            let parent = unsafe { Locked::held(INode::from_raw(parent)) };
            // SAFETY: As documented above; the VFS's idmap is valid for the call.
            let (idmap, dentry) = unsafe { (Idmap::from_raw(idmap), NewDEntry::from_raw(dentry)) };
            U::create(idmap, &parent, dentry, mode)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the VFS with a locked directory of `U::FileSystem` and a negative dentry.
    unsafe extern "C" fn mknod(
        idmap: *mut bindings::mnt_idmap,
        parent: *mut bindings::inode,
        dentry: *mut bindings::dentry,
        mode: bindings::umode_t,
        rdev: bindings::dev_t,
    ) -> c_int {
        from_result(|| {
            // SAFETY: As documented above.
            let parent = unsafe { Locked::held(INode::from_raw(parent)) };
            // SAFETY: As documented above; the VFS's idmap is valid for the call.
            let (idmap, dentry) = unsafe { (Idmap::from_raw(idmap), NewDEntry::from_raw(dentry)) };
            U::mknod(idmap, &parent, dentry, mode, rdev)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the VFS with a locked directory of `U::FileSystem` and a negative dentry.
    unsafe extern "C" fn mkdir(
        idmap: *mut bindings::mnt_idmap,
        parent: *mut bindings::inode,
        dentry: *mut bindings::dentry,
        mode: bindings::umode_t,
    ) -> *mut bindings::dentry {
        // SAFETY: As documented above.
        let parent = unsafe { Locked::held(INode::from_raw(parent)) };
        // SAFETY: As documented above; the VFS's idmap is valid for the call.
        let (idmap, dentry) = unsafe { (Idmap::from_raw(idmap), NewDEntry::from_raw(dentry)) };
        match U::mkdir(idmap, &parent, dentry, mode) {
            Ok(()) => core::ptr::null_mut(),
            Err(e) => e.to_ptr(),
        }
    }

    /// # Safety
    ///
    /// Called by the VFS with the directory and the victim, the inode of the positive `dentry`,
    /// locked (`vfs_unlink`).
    unsafe extern "C" fn unlink(
        parent: *mut bindings::inode,
        dentry: *mut bindings::dentry,
    ) -> c_int {
        from_result(|| {
            // SAFETY: As documented above.
            let (parent, d) = unsafe {
                (
                    Locked::held(INode::from_raw(parent)),
                    DEntry::from_raw(dentry),
                )
            };
            let victim = d.inode().ok_or(ENOENT)?;
            // SAFETY: As documented above: the victim's lock is held for the call.
            let victim = unsafe { Locked::held(victim) };
            U::unlink(&parent, d, &victim)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the VFS with the directory and the victim, the inode of the positive `dentry`,
    /// locked (`vfs_rmdir`).
    unsafe extern "C" fn rmdir(
        parent: *mut bindings::inode,
        dentry: *mut bindings::dentry,
    ) -> c_int {
        from_result(|| {
            // SAFETY: As documented above.
            let (parent, d) = unsafe {
                (
                    Locked::held(INode::from_raw(parent)),
                    DEntry::from_raw(dentry),
                )
            };
            let victim = d.inode().ok_or(ENOENT)?;
            // SAFETY: As documented above: the victim's lock is held for the call.
            let victim = unsafe { Locked::held(victim) };
            U::rmdir(&parent, d, &victim)?;
            Ok(0)
        })
    }
}

impl<U: Operations> Table<U> {
    /// # Safety
    ///
    /// Called by the VFS with a dentry of `U::FileSystem` whose inode is locked.
    unsafe extern "C" fn setattr(
        idmap: *mut bindings::mnt_idmap,
        dentry: *mut bindings::dentry,
        iattr: *mut bindings::iattr,
    ) -> c_int {
        from_result(|| {
            // SAFETY: The arguments are valid for the call.
            to_result(unsafe { bindings::setattr_prepare(idmap, dentry, iattr) })?;
            // SAFETY: A dentry being changed is positive.
            let inode_ptr = unsafe { (*dentry).d_inode };
            // SAFETY: The VFS holds the inode lock of the inode being changed.
            let inode = unsafe { Locked::held(INode::from_raw(inode_ptr)) };
            // SAFETY: `iattr` is valid for the call and not written while `attr` is used.
            let attr = unsafe { &*iattr.cast::<Attr>() };
            if U::HAS_SETATTR {
                U::setattr(&inode, attr)?;
            } else if attr.size().is_some() {
                // Only regular files are truncated (the VFS refuses the others); a table
                // without the hook has no size to apply.
                return Err(EINVAL);
            }
            // SAFETY: The request passed `setattr_prepare`; the size (if any) was applied by
            // the file system, so the copy skips it.
            unsafe {
                let ia = &mut *iattr;
                let valid = ia.ia_valid;
                ia.ia_valid &= !bindings::ATTR_SIZE;
                bindings::setattr_copy(idmap, inode_ptr, iattr);
                ia.ia_valid = valid;
                bindings::__mark_inode_dirty(inode_ptr, bindings::I_DIRTY_SYNC as i32);
            }
            // SAFETY: `iattr` is valid for the call.
            let mode_changed = unsafe { (*iattr).ia_valid } & bindings::ATTR_MODE != 0;
            if Self::HAS_ACL && mode_changed {
                // The access ACL follows the new mode (in a transaction of its own, as ext4).
                // SAFETY: The dentry is positive and its inode locked by the VFS.
                unsafe { super::acl::chmod(idmap, dentry, inode.mode()) }?;
            }
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the VFS (`vfs_rename`) with both directories locked, and the inode of `new`,
    /// if there is one, locked unless `flags` has `RENAME_EXCHANGE` (whatever the file
    /// types: `lock_two_nondirectories`, or `inode_lock` of a directory being replaced).
    unsafe extern "C" fn rename(
        idmap: *mut bindings::mnt_idmap,
        old_dir: *mut bindings::inode,
        old: *mut bindings::dentry,
        new_dir: *mut bindings::inode,
        new: *mut bindings::dentry,
        flags: c_uint,
    ) -> c_int {
        from_result(|| {
            // SAFETY: As documented above.
            let (od, nd) = unsafe {
                (
                    Locked::held(INode::from_raw(old_dir)),
                    Locked::held(INode::from_raw(new_dir)),
                )
            };
            // SAFETY: As documented above.
            let (o, n) = unsafe { (DEntry::from_raw(old), DEntry::from_raw(new)) };
            // SAFETY: The VFS's idmap is valid for the call.
            let idmap = unsafe { Idmap::from_raw(idmap) };
            let replaced = match n.inode() {
                Some(t) if flags & bindings::RENAME_EXCHANGE == 0 => {
                    // SAFETY: As documented above: the replaced inode's lock is held for the
                    // call.
                    Some(unsafe { Locked::held(t) })
                }
                _ => None,
            };
            U::rename(idmap, &od, o, &nd, n, replaced.as_ref(), flags)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by `vfs_link` with `dir` and the inode of `old` (a positive dentry of the same
    /// super block) locked, and `new` a negative dentry of `dir`.
    unsafe extern "C" fn link(
        old: *mut bindings::dentry,
        dir: *mut bindings::inode,
        new: *mut bindings::dentry,
    ) -> c_int {
        from_result(|| {
            // SAFETY: As documented above; `old`'s reference keeps its inode alive.
            let (d, i) = unsafe {
                (
                    Locked::held(INode::from_raw(dir)),
                    Locked::held(INode::from_raw((*old).d_inode)),
                )
            };
            // SAFETY: As documented above.
            U::link(&i, &d, unsafe { NewDEntry::from_raw(new) })?;
            Ok(0)
        })
    }
}

impl<U: Operations> Table<U> {
    /// # Safety
    ///
    /// Called by `ioctl(FS_IOC_FIEMAP)` with an inode of `U::FileSystem`.
    unsafe extern "C" fn fiemap(
        inode: *mut bindings::inode,
        info: *mut bindings::fiemap_extent_info,
        start: u64,
        len: u64,
    ) -> c_int {
        from_result(|| {
            // SAFETY: The inode is live; `info` is valid and exclusively ours for the call.
            let (i, f) = unsafe { (INode::from_raw(inode), &mut *info.cast::<FiemapInfo>()) };
            U::fiemap(i, f, start, len)?;
            Ok(0)
        })
    }
}

impl<U: Operations> Table<U> {
    /// # Safety
    ///
    /// Called by the VFS with a locked directory of `U::FileSystem`, a negative dentry and a
    /// NUL-terminated target.
    unsafe extern "C" fn symlink(
        idmap: *mut bindings::mnt_idmap,
        parent: *mut bindings::inode,
        dentry: *mut bindings::dentry,
        target: *const c_char,
    ) -> c_int {
        from_result(|| {
            // SAFETY: As documented above.
            let parent = unsafe { Locked::held(INode::from_raw(parent)) };
            // SAFETY: `target` is a valid C string for the call.
            let target = unsafe { CStr::from_char_ptr(target) };
            if target.is_empty() {
                return Err(ENOENT);
            }
            // SAFETY: As documented above; the VFS's idmap is valid for the call.
            let (idmap, dentry) = unsafe { (Idmap::from_raw(idmap), NewDEntry::from_raw(dentry)) };
            U::symlink(idmap, &parent, dentry, target)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by `vfs_tmpfile` with a directory of `U::FileSystem` and a file being opened
    /// whose dentry is new, unhashed and negative.
    unsafe extern "C" fn tmpfile(
        idmap: *mut bindings::mnt_idmap,
        dir: *mut bindings::inode,
        file: *mut bindings::file,
        mode: bindings::umode_t,
    ) -> c_int {
        from_result(|| {
            // SAFETY: The directory is a live inode of this file system; the VFS's idmap is
            // valid for the call.
            let (idmap, dir) = unsafe { (Idmap::from_raw(idmap), INode::from_raw(dir)) };
            let sb = dir.super_block().as_raw();
            let inode = U::tmpfile(idmap, dir, mode)?;
            // A new inode: one link, a regular file, no dentry yet (`d_tmpfile` drops the link
            // count of whatever it gets). An inode of another mount is refused by
            // `into_raw_for`. (A named inode whose dentries were all pruned would pass; the
            // file system then frees an inode it still names, which fsck finds; the VFS's
            // memory is not at stake.)
            if inode.nlink() != 1 || u32::from(inode.mode()) & bindings::S_IFMT != bindings::S_IFREG
            {
                return Err(EINVAL);
            }
            // SAFETY: The inode is live; a dentry found is referenced and put right away.
            let alias = unsafe { bindings::d_find_any_alias(inode.as_raw()) };
            if !alias.is_null() {
                // SAFETY: `d_find_any_alias` returned a reference.
                unsafe { bindings::dput(alias) };
                return Err(EINVAL);
            }
            let ptr = INode::into_raw_for(inode, sb)?;
            // SAFETY: The file's dentry is the new negative one `vfs_tmpfile` allocated;
            // `d_tmpfile` drops the link count and `d_instantiate` takes over our reference.
            unsafe { bindings::d_tmpfile(file, ptr) };
            // SAFETY: The file is being opened on its (now positive) dentry.
            to_result(unsafe { bindings::finish_open_simple(file, 0) })?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by path walk with a symlink inode of `U::FileSystem`; `dentry` is NULL in RCU
    /// mode (inside `rcu_read_lock`), else a positive dentry of the inode; `done` is valid for
    /// writes.
    unsafe extern "C" fn get_link(
        dentry: *mut bindings::dentry,
        inode: *mut bindings::inode,
        done: *mut bindings::delayed_call,
    ) -> *const c_char {
        if dentry.is_null() || !U::HAS_GET_LINK {
            if !U::HAS_GET_LINK_RCU {
                return ECHILD.to_ptr::<c_char>().cast_const();
            }
            // SAFETY: The inode is an initialised symlink inode of this file system, valid
            // for the walk (RCU, or the dentry's reference); its count may be zero in RCU
            // mode, hence a view.
            return match U::get_link_rcu(unsafe { INodeView::from_raw_view(inode) }) {
                Ok(s) => s.as_char_ptr(),
                Err(e) => e.to_ptr::<c_char>().cast_const(),
            };
        }
        // SAFETY: In ref-walk the dentry holds a reference to its inode, a live, initialised
        // symlink inode of this file system.
        match U::get_link(unsafe { INode::from_raw(inode) }) {
            Err(e) => e.to_ptr::<c_char>().cast_const(),
            Ok(Link::Borrowed(s)) => s.as_char_ptr(),
            Ok(Link::Owned(s)) => {
                // The C side reads up to the first NUL, which must be the last byte.
                if s.last() != Some(&0) || s[..s.len() - 1].contains(&0) {
                    return EINVAL.to_ptr::<c_char>().cast_const();
                }
                let (ptr, _len, _cap) = s.into_raw_parts();
                // SAFETY: `done` is valid; the buffer came from kmalloc, so `kfree_link`
                // frees it when path walk is done with the target.
                unsafe {
                    (*done).fn_ = Some(bindings::kfree_link);
                    (*done).arg = ptr.cast();
                }
                ptr.cast_const().cast()
            }
        }
    }

    /// # Safety
    ///
    /// Called by `vfs_getattr` with a path on `U::FileSystem` and a zeroed `kstat`.
    unsafe extern "C" fn getattr(
        idmap: *mut bindings::mnt_idmap,
        path: *const bindings::path,
        stat: *mut bindings::kstat,
        request_mask: u32,
        query_flags: c_uint,
    ) -> c_int {
        from_result(|| {
            // SAFETY: The path is valid and positive for the call.
            let inode = unsafe { (*(*path).dentry).d_inode };
            // SAFETY: `stat` is valid for writes and `inode` is live. The attributes the VFS
            // enforces from `i_flags` (immutable, append) are reported for every file system.
            unsafe {
                bindings::generic_fillattr(idmap, request_mask, inode, stat);
                bindings::generic_fill_statx_attr(inode, stat);
            }
            // SAFETY: The inode is a live inode of this file system; `stat` is exclusively
            // ours for the call.
            let (i, st) = unsafe { (INode::from_raw(inode), &mut *stat.cast::<Kstat>()) };
            U::getattr(i, st, request_mask, query_flags)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by `vfs_fileattr_get` with a positive dentry of `U::FileSystem` and attributes
    /// exclusively ours for the call.
    unsafe extern "C" fn fileattr_get(
        dentry: *mut bindings::dentry,
        fa: *mut bindings::file_kattr,
    ) -> c_int {
        from_result(|| {
            // SAFETY: The dentry is positive, its inode a live inode of this file system.
            let inode = unsafe { INode::from_raw((*dentry).d_inode) };
            // SAFETY: As documented above.
            U::fileattr_get(inode, unsafe { FileAttr::from_raw(fa) })?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by `vfs_fileattr_set` with a positive dentry of `U::FileSystem` whose inode it
    /// holds locked, and attributes exclusively ours for the call.
    unsafe extern "C" fn fileattr_set(
        _idmap: *mut bindings::mnt_idmap,
        dentry: *mut bindings::dentry,
        fa: *mut bindings::file_kattr,
    ) -> c_int {
        from_result(|| {
            // SAFETY: The dentry is positive and `vfs_fileattr_set` holds its inode's lock.
            let inode = unsafe { Locked::held(INode::from_raw((*dentry).d_inode)) };
            // SAFETY: As documented above.
            U::fileattr_set(&inode, unsafe { FileAttr::from_raw(fa) })?;
            Ok(0)
        })
    }
}

/// How an inode table without [`Operations::get_link`] resolves symlinks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Symlink {
    /// Not a symlink table: `get_link` stays `NULL`.
    None,
    /// `simple_get_link`: the target set with [`NewINode::set_fast_link`] (`i_link`).
    Fast,
    /// `page_get_link`: the target is the first page of the inode's data, read through the
    /// page cache with the inode's address space operations; set up the inode with
    /// [`NewINode::set_nohighmem`], and its size is the target's length. See
    /// [`INode::write_page_link`].
    Page,
}

/// The target of a symlink returned by [`Operations::get_link`].
pub enum Link<'a> {
    /// A target that lives as long as the inode (e.g. in its private data).
    Borrowed(&'a CStr),
    /// A target built for this call (a NUL-terminated kmalloc buffer); freed with
    /// `kfree_link` when path walk is done with it. Must end with the only NUL byte.
    Owned(KVec<u8>),
}

impl Link<'_> {
    /// Builds an owned target from the bytes of a link, adding the NUL terminator; `EINVAL`
    /// if `target` holds a NUL byte.
    pub fn owned(target: &[u8]) -> Result<Self> {
        if target.contains(&0) {
            return Err(EINVAL);
        }
        let mut v = KVec::with_capacity(target.len() + 1, GFP_KERNEL)?;
        v.extend_from_slice(target, GFP_KERNEL)?;
        v.push(0, GFP_KERNEL)?;
        Ok(Link::Owned(v))
    }
}

/// Attributes reported by `stat`/`statx` (`struct kstat`), filled by `generic_fillattr`
/// before [`Operations::getattr`] sees it.
#[repr(transparent)]
pub struct Kstat(Opaque<bindings::kstat>);

/// `STATX_DIOALIGN`: the `statx` mask bit of the direct I/O alignment fields.
pub const STATX_DIOALIGN: u32 = bindings::STATX_DIOALIGN;

/// File attributes `statx` reports (`STATX_ATTR_*`, see [`Kstat::set_attributes`]).
pub mod statx_attr {
    use crate::bindings;

    /// The file is immutable (`STATX_ATTR_IMMUTABLE`); the glue reports it from `i_flags`.
    pub const IMMUTABLE: u64 = bindings::STATX_ATTR_IMMUTABLE as u64;
    /// The file is append-only (`STATX_ATTR_APPEND`); the glue reports it from `i_flags`.
    pub const APPEND: u64 = bindings::STATX_ATTR_APPEND as u64;
    /// The file is not to be dumped (`STATX_ATTR_NODUMP`).
    pub const NODUMP: u64 = bindings::STATX_ATTR_NODUMP as u64;
}

impl Kstat {
    fn get(&self) -> &bindings::kstat {
        // SAFETY: The kstat is valid for the borrow.
        unsafe { &*self.0.get() }
    }

    fn get_mut(&mut self) -> &mut bindings::kstat {
        // SAFETY: The kstat is valid and exclusively ours for the borrow.
        unsafe { &mut *self.0.get() }
    }

    /// The `STATX_*` bits of the fields filled in (`result_mask`).
    pub fn result_mask(&self) -> u32 {
        self.get().result_mask
    }

    /// Reports direct I/O alignment: buffers aligned to `mem_align` bytes, file offsets and
    /// lengths to `offset_align` bytes (`dio_mem_align`, `dio_offset_align`), and sets
    /// `STATX_DIOALIGN` in the result mask. Both 0 means direct I/O is not supported.
    /// `EINVAL` unless both are powers of two, or both 0.
    pub fn set_dio_align(&mut self, mem_align: u32, offset_align: u32) -> Result {
        let ok = (mem_align == 0 && offset_align == 0)
            || (mem_align.is_power_of_two() && offset_align.is_power_of_two());
        if !ok {
            return Err(EINVAL);
        }
        let st = self.get_mut();
        st.dio_mem_align = mem_align;
        st.dio_offset_align = offset_align;
        st.result_mask |= STATX_DIOALIGN;
        Ok(())
    }

    /// The direct I/O alignment reported so far: `(dio_mem_align, dio_offset_align)`.
    pub fn dio_align(&self) -> (u32, u32) {
        (self.get().dio_mem_align, self.get().dio_offset_align)
    }

    /// The preferred I/O size (`blksize`).
    pub fn blksize(&self) -> u32 {
        self.get().blksize
    }

    /// Reports the inode's creation time (`btime`) and sets `STATX_BTIME` in the result
    /// mask.
    pub fn set_btime(&mut self, btime: Timespec) {
        let st = self.get_mut();
        st.btime = btime.into();
        st.result_mask |= bindings::STATX_BTIME;
    }

    /// The creation time reported, if any (`STATX_BTIME` in the result mask).
    pub fn btime(&self) -> Option<Timespec> {
        let st = self.get();
        (st.result_mask & bindings::STATX_BTIME != 0).then(|| st.btime.into())
    }

    /// Reports the file attributes in `mask` ([`statx_attr`]) as supported
    /// (`attributes_mask`) and those of them in `attributes` as set (`attributes`).
    pub fn set_attributes(&mut self, attributes: u64, mask: u64) {
        let st = self.get_mut();
        st.attributes_mask |= mask;
        st.attributes = (st.attributes & !mask) | (attributes & mask);
    }

    /// The file attributes reported (`attributes`) and those supported
    /// (`attributes_mask`), [`statx_attr`] bits.
    pub fn attributes(&self) -> (u64, u64) {
        (self.get().attributes, self.get().attributes_mask)
    }

    /// Sets the preferred I/O size (`blksize`).
    pub fn set_blksize(&mut self, blksize: u32) {
        self.get_mut().blksize = blksize;
    }

    /// The number of 512-byte blocks used (`blocks`).
    pub fn blocks(&self) -> u64 {
        self.get().blocks
    }

    /// The size in bytes (`size`).
    pub fn size(&self) -> i64 {
        self.get().size
    }

    /// The inode number (`ino`).
    pub fn ino(&self) -> u64 {
        self.get().ino
    }

    /// The mode (`mode`).
    pub fn mode(&self) -> u16 {
        self.get().mode
    }

    /// The link count (`nlink`).
    pub fn nlink(&self) -> u32 {
        self.get().nlink
    }
}

impl<T: FileSystem> INode<T> {
    /// Writes `target` as the contents of a page cache symlink ([`Symlink::Page`]) of this
    /// inode, like `page_symlink` but without `write_begin`: the first folio of the page cache
    /// is created, filled, zeroed past the target, marked uptodate and dirty, and reaches the
    /// disk through the address space operations' writeback. The file system sets the inode
    /// size to `target.len()`.
    ///
    /// `EINVAL` if the inode is not a symlink or `target` is empty or holds a NUL byte,
    /// `ENAMETOOLONG` if it does not fit in a page (with its NUL).
    pub fn write_page_link(&self, target: &[u8]) -> Result {
        if self.file_type() != mode::S_IFLNK || target.is_empty() || target.contains(&0) {
            return Err(EINVAL);
        }
        if target.len() >= crate::page::PAGE_SIZE {
            return Err(ENAMETOOLONG);
        }
        let folio = self.filemap_lock_folio(0, super::folio::Fgp::WRITEBEGIN)?;
        folio.fill_uptodate(target)?;
        folio.mark_dirty();
        Ok(())
    }
}

/// The user's extent buffer of a `FS_IOC_FIEMAP` call (`struct fiemap_extent_info`).
#[repr(transparent)]
pub struct FiemapInfo(Opaque<bindings::fiemap_extent_info>);

impl FiemapInfo {
    /// `FIEMAP_FLAG_XATTR`: the caller asks for the extents of the extended attributes, not
    /// of the data (the iomap helper refuses it).
    pub const FLAG_XATTR: u32 = bindings::FIEMAP_FLAG_XATTR;
    /// `FIEMAP_EXTENT_LAST`: the last extent of the file (or of its attributes).
    pub const EXTENT_LAST: u32 = bindings::FIEMAP_EXTENT_LAST;

    /// Returns the raw pointer, for the iomap abstractions.
    pub fn as_raw(&mut self) -> *mut bindings::fiemap_extent_info {
        self.0.get()
    }

    /// The flags of the request (`fi_flags`).
    pub fn flags(&self) -> u32 {
        // SAFETY: The struct is valid for the call the reference comes from; `fi_flags` is
        // not changed during it.
        unsafe { (*self.0.get()).fi_flags }
    }

    /// Checks the request against `supported`, the flags the file system handles beyond
    /// `FIEMAP_FLAG_SYNC` (which writes the data back first), and clamps `len` to the
    /// largest file size (`fiemap_prep`): `EBADR` for other flags. Call it before
    /// [`FiemapInfo::fill`] when not reporting through `iomap::fiemap`, which does.
    pub fn prep<T: FileSystem>(
        &mut self,
        inode: &INode<T>,
        start: u64,
        len: &mut u64,
        supported: u32,
    ) -> Result {
        // SAFETY: The inode and the request are valid for the call; `len` is writable.
        to_result(unsafe {
            bindings::fiemap_prep(inode.as_raw(), self.0.get(), start, len, supported)
        })
    }

    /// Reports one extent (`fiemap_fill_next_extent`): `Ok(true)` when no more are wanted
    /// (the user's buffer is full, or `flags` has [`FiemapInfo::EXTENT_LAST`]). Copying to
    /// the user's buffer may fault: no spinlock may be held.
    pub fn fill(&mut self, logical: u64, physical: u64, len: u64, flags: u32) -> Result<bool> {
        // SAFETY: The request is valid for the call; the helper checks the user buffer.
        let r = unsafe {
            bindings::fiemap_fill_next_extent(self.0.get(), logical, physical, len, flags)
        };
        to_result(r)?;
        Ok(r == 1)
    }
}

/// A `setattr` request (`struct iattr`), already checked by `setattr_prepare`.
#[repr(transparent)]
pub struct Attr(Opaque<bindings::iattr>);

impl Attr {
    /// The new size, if the request changes the size (`ATTR_SIZE`).
    pub fn size(&self) -> Option<i64> {
        // SAFETY: The request is valid for the borrow.
        let ia = unsafe { &*self.0.get() };
        if ia.ia_valid & bindings::ATTR_SIZE != 0 {
            Some(ia.ia_size)
        } else {
            None
        }
    }
}

/// Miscellaneous file attributes (`struct file_kattr`) of `FS_IOC_GETFLAGS`/`FS_IOC_SETFLAGS`
/// and `FS_IOC_FSGETXATTR`/`FS_IOC_FSSETXATTR`, as `->fileattr_get` fills them and
/// `->fileattr_set` receives them (see [`Operations::fileattr_get`]).
///
/// C header: [`include/linux/fileattr.h`](srctree/include/linux/fileattr.h).
#[repr(transparent)]
pub struct FileAttr(Opaque<bindings::file_kattr>);

impl FileAttr {
    /// Creates a reference from a raw pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must be valid for reads and writes, and not accessed by anyone else, for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::file_kattr) -> &'a mut Self {
        // SAFETY: `FileAttr` is a transparent wrapper; the caller guarantees validity and
        // exclusive access.
        unsafe { &mut *ptr.cast() }
    }

    fn get(&self) -> &bindings::file_kattr {
        // SAFETY: The attributes are valid for the borrow (type invariant of the reference).
        unsafe { &*self.0.get() }
    }

    /// The `FS_*_FL` flags ([`fsflags`]). In a set request they are complete whichever ioctl
    /// made it: the VFS derived them from `FS_XFLAG_*` for `FS_IOC_FSSETXATTR` and added the
    /// flags that request cannot express from the current ones.
    pub fn flags(&self) -> u32 {
        self.get().flags
    }

    /// The `FS_XFLAG_*` flags (`fsx_xflags`); in a set request, derived from [`Self::flags`]
    /// for `FS_IOC_SETFLAGS`.
    pub fn xflags(&self) -> u32 {
        self.get().fsx_xflags
    }

    /// Reports the inode's `FS_*_FL` flags from `->fileattr_get` (`fileattr_fill_flags`),
    /// which also sets the `FS_XFLAG_*` flags they stand for.
    pub fn fill_flags(&mut self, flags: u32) {
        // SAFETY: The attributes are valid and exclusively ours for the borrow.
        unsafe { bindings::fileattr_fill_flags(self.0.get(), flags) };
    }

    /// Whether a set request asks for more than the `FS_*_FL` flags can say
    /// (`fileattr_has_fsx`): `FS_XFLAG_*` flags without an `FS_*_FL` equivalent, an extent
    /// size hint or a project id. A file system without those refuses it with `EOPNOTSUPP`.
    pub fn has_fsx(&self) -> bool {
        // SAFETY: The attributes are valid for the borrow.
        unsafe { bindings::fileattr_has_fsx(self.0.get()) }
    }
}

/// Returns the C result of a fallible call that produced an errno or a pointer.
#[allow(dead_code)]
pub(crate) fn check_ptr<P>(p: *mut P) -> Result<*mut P> {
    from_err_ptr(p)
}

#[kunit_tests(rust_fs_inode_ops)]
mod tests {
    use super::*;
    use crate::fs::New;

    struct Fs;
    #[vtable]
    impl FileSystem for Fs {
        const NAME: &'static CStr = c"rust_iops_test";
        type Data = ();
        type INodeData = ();
        fn fill_super(_sb: &mut SuperBlock<Self, New>) -> Result<()> {
            Err(EINVAL)
        }
        fn init_root(_sb: &SuperBlock<Self>) -> Result<ARef<INode<Self>>> {
            Err(EINVAL)
        }
    }

    struct Dir;
    #[vtable]
    impl Operations for Dir {
        type FileSystem = Fs;
        fn lookup(_p: &SharedLocked<'_, Fs>, _d: &DEntry<Fs>) -> Result<Option<ARef<INode<Fs>>>> {
            Ok(None)
        }
        fn symlink(_i: &Idmap, _p: &Locked<'_, Fs>, _d: NewDEntry<'_, Fs>, _t: &CStr) -> Result {
            Err(ENOSPC)
        }
        fn tmpfile(_i: &Idmap, _d: &INode<Fs>, _m: u16) -> Result<ARef<INode<Fs>>> {
            Err(ENOSPC)
        }
        fn getattr(_i: &INode<Fs>, _s: &mut Kstat, _r: u32, _q: u32) -> Result {
            Ok(())
        }
    }

    /// Set by the work of `release_waits_for_deferred_puts` just before it gives its pending
    /// references back.
    static PUTS_DONE: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

    /// `kill_sb`'s wait for deferred `iput`s: it returns only once every counted reference is
    /// given back, by another thread and after a delay, and at once when none is pending.
    #[test]
    fn release_waits_for_deferred_puts() {
        // A release state alone: its work is never queued, so no super block is needed.
        // SAFETY: Its work is never queued.
        let release =
            KBox::pin_init(unsafe { SbRelease::new(core::ptr::null_mut()) }, GFP_KERNEL).unwrap();
        release.wait_pending();
        // SAFETY: `pending` is initialised; two references are counted, given back below.
        unsafe {
            bindings::rust_fs_pending_get(release.pending.get());
            bindings::rust_fs_pending_get(release.pending.get());
        }
        PUTS_DONE.store(false, Ordering::SeqCst);
        let addr = core::ptr::from_ref::<SbRelease>(&release) as usize;
        crate::workqueue::system_unbound()
            .try_spawn(GFP_KERNEL, move || {
                crate::time::delay::fsleep(crate::time::Delta::from_millis(100));
                PUTS_DONE.store(true, Ordering::SeqCst);
                // SAFETY: The test waits for these two references before it frees `release`.
                unsafe { SbRelease::put_pending(addr as *const SbRelease, 2) };
            })
            .unwrap();
        release.wait_pending();
        assert!(PUTS_DONE.load(Ordering::SeqCst));
        drop(release);
    }

    /// What the last `Node::mknod` call saw: mode in the high half, device number in the low.
    static MKNOD_SEEN: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

    /// Special files only: records its arguments, refuses a character device numbered 0.
    struct Node;
    #[vtable]
    impl Operations for Node {
        type FileSystem = Fs;
        fn mknod(
            _i: &Idmap,
            _p: &Locked<'_, Fs>,
            _d: NewDEntry<'_, Fs>,
            mode: u16,
            rdev: u32,
        ) -> Result {
            if mode & mode::S_IFMT == mode::S_IFCHR && rdev == 0 {
                return Err(EXDEV);
            }
            MKNOD_SEEN.store(
                (u64::from(mode) << 32) | u64::from(rdev),
                core::sync::atomic::Ordering::Relaxed,
            );
            Ok(())
        }
    }

    struct FastLink;
    #[vtable]
    impl Operations for FastLink {
        type FileSystem = Fs;
        const SYMLINK: Symlink = Symlink::Fast;
    }

    struct PageLink;
    #[vtable]
    impl Operations for PageLink {
        type FileSystem = Fs;
        const SYMLINK: Symlink = Symlink::Page;
    }

    struct OwnLink;
    #[vtable]
    impl Operations for OwnLink {
        type FileSystem = Fs;
        // `SYMLINK` is ignored when `get_link` is implemented.
        const SYMLINK: Symlink = Symlink::Fast;
        fn get_link<'a>(_i: &'a INode<Fs>) -> Result<Link<'a>> {
            Ok(Link::Borrowed(c"target"))
        }
        fn get_link_rcu<'a>(_i: &'a INodeView<Fs>) -> Result<&'a CStr> {
            Ok(c"rcu-target")
        }
    }

    struct Nothing;
    #[vtable]
    impl Operations for Nothing {
        type FileSystem = Fs;
    }

    /// The flags `Attrs::fileattr_set` last accepted.
    static ATTRS_SET: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

    /// Reports immutable + noatime; accepts plain flags and refuses extended attributes.
    struct Attrs;
    #[vtable]
    impl Operations for Attrs {
        type FileSystem = Fs;
        fn fileattr_get(_i: &INode<Fs>, fa: &mut FileAttr) -> Result {
            fa.fill_flags(fsflags::IMMUTABLE | fsflags::NOATIME);
            Ok(())
        }
        fn fileattr_set(_i: &Locked<'_, Fs>, fa: &FileAttr) -> Result {
            if fa.has_fsx() {
                return Err(EOPNOTSUPP);
            }
            ATTRS_SET.store(fa.flags(), core::sync::atomic::Ordering::Relaxed);
            Ok(())
        }
    }

    /// A link whose target is built per call, and that needs ref-walk (no RCU).
    struct SlowLink;
    #[vtable]
    impl Operations for SlowLink {
        type FileSystem = Fs;
        fn get_link<'a>(_i: &'a INode<Fs>) -> Result<Link<'a>> {
            Link::owned(b"built/target")
        }
    }

    /// A hook returning a malformed owned target.
    struct BadLink;
    #[vtable]
    impl Operations for BadLink {
        type FileSystem = Fs;
        fn get_link<'a>(_i: &'a INode<Fs>) -> Result<Link<'a>> {
            let mut v = KVec::new();
            v.extend_from_slice(b"no-nul", GFP_KERNEL)?;
            Ok(Link::Owned(v))
        }
    }

    /// Calls the C-facing `get_link` of `U` as path walk would, on a fake inode and dentry
    /// that the hooks above never look at.
    fn call_get_link<U: Operations<FileSystem = Fs>>(
        rcu: bool,
    ) -> (*const c_char, bindings::delayed_call) {
        let mut fake_inode = core::mem::MaybeUninit::<bindings::inode>::zeroed();
        let mut fake_dentry = core::mem::MaybeUninit::<bindings::dentry>::zeroed();
        let mut done = bindings::delayed_call {
            fn_: None,
            arg: core::ptr::null_mut(),
        };
        let dentry = if rcu {
            core::ptr::null_mut()
        } else {
            fake_dentry.as_mut_ptr()
        };
        // SAFETY: The hooks of these tables do not touch the inode or the dentry; `done` is
        // valid for writes.
        let r = unsafe { Table::<U>::get_link(dentry, fake_inode.as_mut_ptr(), &mut done) };
        (r, done)
    }

    fn ptr_errno(p: *const c_char) -> Option<Error> {
        // SAFETY: Only reads the pointer value.
        if unsafe { bindings::IS_ERR(p.cast()) } {
            Some(Error::from_errno(p as isize as i32))
        } else {
            None
        }
    }

    #[test]
    fn get_link_glue_maps_results() {
        // A borrowed target is returned as is, with nothing to free; RCU walk goes to
        // `get_link_rcu`, ref-walk to `get_link`.
        let (p, done) = call_get_link::<OwnLink>(false);
        assert!(ptr_errno(p).is_none());
        // SAFETY: A borrowed target is a static C string here.
        assert_eq!(unsafe { CStr::from_char_ptr(p) }.to_bytes(), b"target");
        assert!(done.fn_.is_none());
        let (p, done) = call_get_link::<OwnLink>(true);
        // SAFETY: As above.
        assert_eq!(unsafe { CStr::from_char_ptr(p) }.to_bytes(), b"rcu-target");
        assert!(done.fn_.is_none());
        // Without `get_link_rcu`, RCU walk gets ECHILD (as ERR_PTR(-ECHILD)) from the glue
        // and the sleeping hook is not called.
        let (p, done) = call_get_link::<SlowLink>(true);
        assert_eq!(ptr_errno(p), Some(ECHILD));
        assert!(done.fn_.is_none());
        // An owned target is handed over with kfree_link as its destructor.
        let (p, done) = call_get_link::<SlowLink>(false);
        assert!(ptr_errno(p).is_none());
        // SAFETY: The target is a NUL-terminated kmalloc'ed string until `done` runs.
        let target = unsafe { CStr::from_char_ptr(p) };
        assert_eq!(target.to_bytes(), b"built/target");
        assert_eq!(
            addr(done.fn_),
            addr(Some(
                bindings::kfree_link as unsafe extern "C" fn(*mut crate::ffi::c_void)
            ))
        );
        assert!(core::ptr::eq(done.arg.cast_const().cast::<c_char>(), p));
        // SAFETY: Running the delayed call frees the target, once, as path walk would.
        unsafe { (done.fn_.unwrap())(done.arg) };
        // A target without its NUL is refused, not passed to C.
        let (p, done) = call_get_link::<BadLink>(false);
        assert_eq!(ptr_errno(p), Some(EINVAL));
        assert!(done.fn_.is_none());
    }

    #[test]
    fn tables_match_the_kind_of_inode() {
        use crate::fs::address_space::AOps;
        extern "C" fn read(_f: *mut bindings::file, _folio: *mut bindings::folio) -> c_int {
            0
        }
        static READS: bindings::address_space_operations = bindings::address_space_operations {
            read_folio: Some(read),
            ..pin_init::zeroed()
        };
        static EMPTY: bindings::address_space_operations = pin_init::zeroed();
        // SAFETY: The tables are never called here.
        let (reads, empty) =
            unsafe { (AOps::<Fs>::from_static(&READS), AOps::from_static(&EMPTY)) };
        let (lnk, reg, chr) = (mode::S_IFLNK | 0o777, mode::S_IFREG | 0o644, mode::S_IFCHR);
        let fast = Ops::<Fs>::new::<FastLink>();
        let page = Ops::<Fs>::new::<PageLink>();
        // Legal: fast link with its target, page link with a page cache that reads, any
        // table without get_link for any kind.
        assert_eq!(check_tables(lnk, &fast, true, None), Ok(()));
        assert_eq!(check_tables(lnk, &page, false, Some(&reads)), Ok(()));
        assert_eq!(
            check_tables(reg, &Ops::<Fs>::new::<Nothing>(), false, None),
            Ok(())
        );
        assert_eq!(check_tables(chr, &Ops::<Fs>::empty(), false, None), Ok(()));
        // Refused: a fast link without target, a page link that cannot read its page, a
        // symlink table on anything but a symlink.
        assert_eq!(check_tables(lnk, &fast, false, None), Err(EINVAL));
        assert_eq!(check_tables(lnk, &page, false, None), Err(EINVAL));
        assert_eq!(check_tables(lnk, &page, false, Some(&empty)), Err(EINVAL));
        assert_eq!(check_tables(chr, &fast, true, None), Err(EINVAL));
        assert_eq!(
            check_tables(reg, &Ops::<Fs>::new::<OwnLink>(), false, None),
            Err(EINVAL)
        );
    }

    #[test]
    fn guards_are_branded() {
        // A shmem file provides a real file and inode for the kiocb.
        // SAFETY: All-zero VMA flags are `EMPTY_VMA_FLAGS`.
        let flags: bindings::vma_flags_t = unsafe { core::mem::zeroed() };
        // SAFETY: The name is a static C string.
        let file = unsafe {
            bindings::shmem_kernel_file_setup(c"rust_fs_inode_ops".as_char_ptr(), 4096, flags)
        };
        let file = from_err_ptr(file).unwrap();
        let mut raw: bindings::kiocb = pin_init::zeroed();
        raw.ki_filp = file;
        // SAFETY: `raw` is a valid kiocb whose file lives until the `fput` below; its private
        // data is unused.
        let iocb = unsafe { crate::fs::Kiocb::<()>::from_raw(&mut raw) };
        // SAFETY: The file is valid.
        let own = unsafe { bindings::file_inode(file) };
        let mut fake = core::mem::MaybeUninit::<bindings::inode>::zeroed();
        // The guards below are never used to touch their inodes: they do not own a lock and
        // only their inode's address is compared.
        // SAFETY: See above.
        let (mine, other) = unsafe {
            (
                Locked::held(INode::<Fs>::from_raw(own)),
                Locked::held(INode::<Fs>::from_raw(fake.as_mut_ptr())),
            )
        };
        assert_eq!(mine.check_iocb(&iocb), Ok(()));
        assert_eq!(other.check_iocb(&iocb), Err(EINVAL));
        // SAFETY: As above.
        let (mine, other) = unsafe {
            (
                SharedLocked::held(INode::<Fs>::from_raw(own)),
                SharedLocked::held(INode::<Fs>::from_raw(fake.as_mut_ptr())),
            )
        };
        assert_eq!(mine.check_iocb(&iocb), Ok(()));
        assert_eq!(other.check_iocb(&iocb), Err(EINVAL));
        drop((mine, other, iocb));
        // SAFETY: The file reference from `shmem_kernel_file_setup` is ours.
        unsafe { bindings::fput(file) };
    }

    fn addr<F: Copy>(f: Option<F>) -> Option<usize> {
        // SAFETY: Only called with function pointers, which have the size of `usize`.
        f.map(|f| unsafe { core::mem::transmute_copy::<F, usize>(&f) })
    }

    #[test]
    fn new_hooks_present_only_when_implemented() {
        let t = &Table::<Dir>::TABLE;
        assert!(t.lookup.is_some());
        assert!(t.symlink.is_some());
        assert!(t.tmpfile.is_some());
        assert!(t.getattr.is_some());
        // A directory table is no symlink table.
        assert!(t.get_link.is_none());
        assert!(t.create.is_none());
        assert!(t.setattr.is_none());
        let n = &Table::<Nothing>::TABLE;
        assert!(n.lookup.is_none());
        assert!(n.symlink.is_none());
        assert!(n.tmpfile.is_none());
        assert!(n.get_link.is_none());
        assert!(n.getattr.is_none());
        assert!(n.fiemap.is_none());
        // The empty table is all NULL.
        // SAFETY: `Ops::empty()` points to a static table.
        let e = unsafe { &*Ops::<Fs>::empty().as_raw() };
        assert!(e.get_link.is_none() && e.getattr.is_none() && e.tmpfile.is_none());
    }

    #[test]
    fn mknod_glue_passes_mode_and_device() {
        assert!(Table::<Node>::TABLE.mknod.is_some());
        assert!(Table::<Node>::TABLE.create.is_none());
        assert!(Table::<Dir>::TABLE.mknod.is_none());
        let mut fake_inode = core::mem::MaybeUninit::<bindings::inode>::zeroed();
        let mut fake_dentry = core::mem::MaybeUninit::<bindings::dentry>::zeroed();
        let (i, d) = (fake_inode.as_mut_ptr(), fake_dentry.as_mut_ptr());
        let chr = mode::S_IFCHR | 0o640;
        // MKDEV(8, 1) in the kernel's 32-bit encoding.
        let dev = (8 << 20) | 1;
        // SAFETY: `Node::mknod` does not touch the inode or the dentry.
        let r = unsafe { Table::<Node>::mknod(Idmap::nop().as_raw(), i, d, chr, dev) };
        assert_eq!(r, 0);
        let seen = MKNOD_SEEN.load(core::sync::atomic::Ordering::Relaxed);
        assert_eq!(seen, (u64::from(chr) << 32) | u64::from(dev));
        let fifo = mode::S_IFIFO | 0o600;
        // SAFETY: As above.
        let r = unsafe { Table::<Node>::mknod(Idmap::nop().as_raw(), i, d, fifo, 0) };
        assert_eq!(r, 0);
        let seen = MKNOD_SEEN.load(core::sync::atomic::Ordering::Relaxed);
        assert_eq!(seen, u64::from(fifo) << 32);
        // The hook's error is the C result.
        // SAFETY: As above.
        let r = unsafe { Table::<Node>::mknod(Idmap::nop().as_raw(), i, d, chr, 0) };
        assert_eq!(r, EXDEV.to_errno());
    }

    #[test]
    fn symlink_kinds_pick_the_c_helpers() {
        let simple: unsafe extern "C" fn(
            *mut bindings::dentry,
            *mut bindings::inode,
            *mut bindings::delayed_call,
        ) -> *const c_char = bindings::simple_get_link;
        let page: unsafe extern "C" fn(
            *mut bindings::dentry,
            *mut bindings::inode,
            *mut bindings::delayed_call,
        ) -> *const c_char = bindings::page_get_link;
        assert_eq!(addr(Table::<FastLink>::TABLE.get_link), addr(Some(simple)));
        assert_eq!(addr(Table::<PageLink>::TABLE.get_link), addr(Some(page)));
        let own = addr(Table::<OwnLink>::TABLE.get_link);
        assert!(own.is_some());
        assert!(own != addr(Some(simple)) && own != addr(Some(page)));
        // Symlink tables do not get directory hooks.
        assert!(Table::<FastLink>::TABLE.lookup.is_none());
        assert!(Table::<FastLink>::TABLE.symlink.is_none());
    }

    #[test]
    fn fileattr_glue_fills_and_passes_flags() {
        use core::sync::atomic::Ordering::Relaxed;
        assert!(Table::<Attrs>::TABLE.fileattr_get.is_some());
        assert!(Table::<Attrs>::TABLE.fileattr_set.is_some());
        assert!(Table::<Dir>::TABLE.fileattr_get.is_none());
        assert!(Table::<Nothing>::TABLE.fileattr_set.is_none());
        let mut fake_inode = core::mem::MaybeUninit::<bindings::inode>::zeroed();
        let mut fake_dentry = core::mem::MaybeUninit::<bindings::dentry>::zeroed();
        // SAFETY: Both are zeroed local objects; the hooks do not touch the inode.
        unsafe { (*fake_dentry.as_mut_ptr()).d_inode = fake_inode.as_mut_ptr() };
        let d = fake_dentry.as_mut_ptr();

        // `->fileattr_get`: the flags and the extended flags they stand for.
        let mut fa: bindings::file_kattr = pin_init::zeroed();
        // SAFETY: `Attrs::fileattr_get` only fills `fa`, which is ours.
        assert_eq!(unsafe { Table::<Attrs>::fileattr_get(d, &mut fa) }, 0);
        assert_eq!(fa.flags, fsflags::IMMUTABLE | fsflags::NOATIME);
        assert_eq!(
            fa.fsx_xflags,
            bindings::FS_XFLAG_IMMUTABLE | bindings::FS_XFLAG_NOATIME
        );
        assert!(fa.flags_valid());

        // `->fileattr_set` of plain flags (`FS_IOC_SETFLAGS`) reaches the hook.
        let mut fa: bindings::file_kattr = pin_init::zeroed();
        // SAFETY: `fa` is ours.
        unsafe { bindings::fileattr_fill_flags(&mut fa, fsflags::APPEND | fsflags::NODUMP) };
        // SAFETY: `Attrs::fileattr_set` does not touch the inode; `fa` is ours.
        let r = unsafe { Table::<Attrs>::fileattr_set(core::ptr::null_mut(), d, &mut fa) };
        assert_eq!(r, 0);
        assert_eq!(ATTRS_SET.load(Relaxed), fsflags::APPEND | fsflags::NODUMP);

        // An extent size hint is beyond the flags: the hook's `EOPNOTSUPP` is the result.
        let mut fa: bindings::file_kattr = pin_init::zeroed();
        // SAFETY: `fa` is ours.
        unsafe { bindings::fileattr_fill_xflags(&mut fa, bindings::FS_XFLAG_SYNC) };
        // SAFETY: As above.
        let attr = unsafe { FileAttr::from_raw(&mut fa) };
        assert!(!attr.has_fsx());
        assert_eq!(attr.flags(), fsflags::SYNC);
        fa.fsx_extsize = 65536;
        // SAFETY: As above.
        let r = unsafe { Table::<Attrs>::fileattr_set(core::ptr::null_mut(), d, &mut fa) };
        assert_eq!(r, EOPNOTSUPP.to_errno());
        assert_eq!(ATTRS_SET.load(Relaxed), fsflags::APPEND | fsflags::NODUMP);
    }

    #[test]
    fn fs_flags_map_to_inode_flags() {
        assert_eq!(iflags::from_fs_flags(0), 0);
        assert_eq!(
            iflags::from_fs_flags(fsflags::IMMUTABLE | fsflags::APPEND),
            iflags::IMMUTABLE | iflags::APPEND
        );
        assert_eq!(
            iflags::from_fs_flags(fsflags::SYNC | fsflags::NOATIME | fsflags::DIRSYNC),
            iflags::SYNC | iflags::NOATIME | iflags::DIRSYNC
        );
        // No-dump is for backup tools: the VFS has no bit for it.
        assert_eq!(iflags::from_fs_flags(fsflags::NODUMP), 0);
    }

    #[test]
    fn kstat_dio_align() {
        let mut raw: bindings::kstat = pin_init::zeroed();
        raw.result_mask = bindings::STATX_BASIC_STATS;
        // SAFETY: `Kstat` is `repr(transparent)` over `kstat`; `raw` is exclusively ours.
        let st = unsafe { &mut *(&raw mut raw).cast::<Kstat>() };
        assert_eq!(st.result_mask() & STATX_DIOALIGN, 0);
        assert_eq!(st.set_dio_align(3, 512), Err(EINVAL));
        assert_eq!(st.set_dio_align(512, 0), Err(EINVAL));
        assert_eq!(st.result_mask() & STATX_DIOALIGN, 0);
        st.set_dio_align(4, 4096).unwrap();
        assert_eq!(st.dio_align(), (4, 4096));
        assert_eq!(
            st.result_mask(),
            bindings::STATX_BASIC_STATS | STATX_DIOALIGN
        );
        // Both zero: direct I/O reported as unsupported.
        st.set_dio_align(0, 0).unwrap();
        assert_eq!(st.dio_align(), (0, 0));
        assert_eq!(raw.dio_offset_align, 0);
    }

    #[test]
    fn kstat_btime() {
        let mut raw: bindings::kstat = pin_init::zeroed();
        raw.result_mask = bindings::STATX_BASIC_STATS;
        // SAFETY: `Kstat` is `repr(transparent)` over `kstat`; `raw` is exclusively ours.
        let st = unsafe { &mut *(&raw mut raw).cast::<Kstat>() };
        assert!(st.btime().is_none());
        let t = Timespec {
            sec: -5,
            nsec: 999_999_999,
        };
        st.set_btime(t);
        assert_eq!(st.btime().map(|b| (b.sec, b.nsec)), Some((-5, 999_999_999)));
        assert_eq!(
            st.result_mask(),
            bindings::STATX_BASIC_STATS | bindings::STATX_BTIME
        );
    }

    #[test]
    fn kstat_attributes() {
        let mut raw: bindings::kstat = pin_init::zeroed();
        // As `generic_fill_statx_attr` leaves them for an append-only file.
        raw.attributes = statx_attr::APPEND;
        raw.attributes_mask = statx_attr::APPEND | statx_attr::IMMUTABLE;
        // SAFETY: `Kstat` is `repr(transparent)` over `kstat`; `raw` is exclusively ours.
        let st = unsafe { &mut *(&raw mut raw).cast::<Kstat>() };
        st.set_attributes(statx_attr::NODUMP, statx_attr::NODUMP);
        let all = statx_attr::APPEND | statx_attr::IMMUTABLE | statx_attr::NODUMP;
        assert_eq!(
            st.attributes(),
            (statx_attr::APPEND | statx_attr::NODUMP, all)
        );
        // Bits outside the mask are neither set nor cleared.
        st.set_attributes(statx_attr::IMMUTABLE, statx_attr::NODUMP);
        assert_eq!(st.attributes(), (statx_attr::APPEND, all));
    }

    #[test]
    fn owned_link_targets() {
        assert!(matches!(Link::owned(b"a\0b"), Err(e) if e == EINVAL));
        let l = Link::owned(b"some/where").unwrap();
        assert!(matches!(l, Link::Owned(_)));
        if let Link::Owned(v) = l {
            assert_eq!(v.len(), 11);
            assert_eq!(v[10], 0);
            assert!(&v[..10] == b"some/where");
        }
    }
}

// Page cache helpers of the data path of file systems that change the block mapping of a byte
// range (`fallocate` hole punching and zeroing).
impl<T: FileSystem> Locked<'_, T> {
    /// Drops the page cache of the byte range `start..=end` (`truncate_pagecache_range`):
    /// folios inside the range are removed (dirty ones discarded, writeback waited for), the
    /// parts of folios straddling its bounds are zeroed. Mapped pages are unmapped first.
    ///
    /// The caller holds the inode lock (this guard) and the invalidate lock `ilock` of the
    /// same inode exclusively, so that no fault or read can bring the old blocks back into
    /// the cache while it changes the mapping; it writes back the range first if dirty data
    /// there must reach the disk. `EINVAL` if `ilock` locks another inode or the range is
    /// empty or negative.
    pub fn truncate_pagecache_range(
        &self,
        ilock: &InvalidateLocked<'_, T>,
        start: i64,
        end: i64,
    ) -> Result {
        if !ilock.is_of(self.inode) || start < 0 || end < start {
            return Err(EINVAL);
        }
        // SAFETY: The inode is valid; its `i_rwsem` (this guard) and invalidate lock (`ilock`,
        // checked to be of the same inode) are held exclusively, as the page cache requires
        // for truncation of a range.
        unsafe { bindings::truncate_pagecache_range(self.inode.as_raw(), start, end) };
        Ok(())
    }
}
