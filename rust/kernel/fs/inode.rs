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

use super::{dentry::DEntry, file_ops, registration::FileSystem, super_block::SuperBlock, Ready};
use crate::{
    bindings,
    error::{from_err_ptr, from_result, to_result},
    prelude::*,
    sync::aref::{ARef, AlwaysRefCounted},
    types::Opaque,
};
use core::{marker::PhantomData, mem::MaybeUninit, ptr::NonNull};

/// An inode of file system `T`.
///
/// # Invariants
///
/// The wrapped `struct inode` belongs to a super block of type `T`, was allocated by the glue
/// as part of an [`INodeWithData<T::INodeData>`] and its data is initialised.
#[repr(transparent)]
pub struct INode<T: FileSystem> {
    inode: Opaque<bindings::inode>,
    _p: PhantomData<T>,
}

/// The allocation unit of the per-file-system inode cache: the private data and the C inode.
#[repr(C)]
pub(crate) struct INodeWithData<D> {
    data: MaybeUninit<D>,
    has_data: bool,
    pub(crate) inode: Opaque<bindings::inode>,
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
    /// `ptr` must be valid for writes of `Self`.
    pub(crate) unsafe fn init_empty(ptr: *mut Self) {
        // SAFETY: By the safety requirements, `ptr` is valid for writes.
        unsafe { (&raw mut (*ptr).has_data).write(false) };
        // SAFETY: `inode_init_once` initialises the whole inode, which is valid memory.
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
// reaches zero and it is evicted.
unsafe impl<T: FileSystem> AlwaysRefCounted for INode<T> {
    fn inc_ref(&self) {
        // SAFETY: The existence of `&self` means the refcount is not zero.
        unsafe { bindings::ihold(self.as_raw()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: The caller owns a reference.
        unsafe { bindings::iput(obj.as_ptr().cast()) };
    }
}

// SAFETY: The C inode is designed to be used from any thread; the private data is `Send`.
unsafe impl<T: FileSystem> Send for INode<T> {}
// SAFETY: Shared access only exposes thread-safe accessors; the private data is `Sync`.
unsafe impl<T: FileSystem> Sync for INode<T> {}

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

impl<T: FileSystem> INode<T> {
    /// Returns the raw `struct inode` pointer.
    pub fn as_raw(&self) -> *mut bindings::inode {
        self.inode.get()
    }

    /// Creates a reference from a raw inode pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a live, initialised inode of file system `T` (see the type
    /// invariants) for the lifetime `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::inode) -> &'a Self {
        // SAFETY: `INode` is `repr(transparent)` over the C inode.
        unsafe { &*ptr.cast() }
    }

    /// Creates a reference from a raw inode pointer, for abstractions outside the `kernel`
    /// crate whose C callbacks receive inodes (e.g. iomap).
    ///
    /// # Safety
    ///
    /// `ptr` must point to a live inode of file system `T` that was completed with
    /// [`NewINode::init`], and stay so for `'a`.
    pub unsafe fn from_raw_inode<'a>(ptr: *mut bindings::inode) -> &'a Self {
        // SAFETY: By the safety requirements.
        unsafe { Self::from_raw(ptr) }
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

    /// Sets the link count (`set_nlink`).
    pub fn set_nlink(&self, nlink: u32) {
        // SAFETY: The inode is valid; `set_nlink` keeps the super block's orphan count right.
        unsafe { bindings::set_nlink(self.as_raw(), nlink) };
    }

    /// Increments the link count (`inc_nlink`).
    pub fn inc_nlink(&self) {
        // SAFETY: The inode is valid.
        unsafe { bindings::inc_nlink(self.as_raw()) };
    }

    /// Decrements the link count (`drop_nlink`).
    pub fn drop_nlink(&self) {
        if self.nlink() > 0 {
            // SAFETY: The inode is valid and its link count is not zero.
            unsafe { bindings::drop_nlink(self.as_raw()) };
        }
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

    /// Sets the number of bytes used (`inode_set_bytes`).
    pub fn set_bytes(&self, bytes: u64) {
        // SAFETY: The inode is valid; `inode_set_bytes` takes `i_lock`.
        unsafe { bindings::inode_set_bytes(self.as_raw(), bytes as i64) };
    }

    /// Returns the device number of a special file (`i_rdev`), in the 32-bit "new" encoding.
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

    /// Writes the inode back now if it is dirty (`sync_inode_metadata` with `wait`).
    pub fn sync_metadata(&self) -> Result {
        // SAFETY: The inode is valid.
        to_result(unsafe { bindings::sync_inode_metadata(self.as_raw(), 1) })
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

    /// Locks the inode exclusively (`inode_lock`, the `i_rwsem`).
    pub fn lock(&self) -> Locked<'_, T> {
        // SAFETY: The inode is valid.
        unsafe { bindings::inode_lock(self.as_raw()) };
        Locked {
            inode: self,
            owned: true,
        }
    }

    /// Locks the inode shared (`inode_lock_shared`).
    pub fn lock_shared(&self) -> SharedLocked<'_, T> {
        // SAFETY: The inode is valid.
        unsafe { bindings::inode_lock_shared(self.as_raw()) };
        SharedLocked {
            inode: self,
            owned: true,
        }
    }

    /// Takes the mapping's invalidate lock exclusively (`filemap_invalidate_lock`).
    pub fn invalidate_lock(&self) -> InvalidateLocked<'_, T> {
        // SAFETY: The inode and its mapping are valid.
        unsafe { bindings::filemap_invalidate_lock(&raw mut (*self.as_raw()).i_data) };
        InvalidateLocked { inode: self }
    }

    /// Returns the inode's page cache mapping (`i_mapping`).
    pub fn mapping(&self) -> *mut bindings::address_space {
        // SAFETY: `i_mapping` is set at allocation and never changes for our inodes.
        unsafe { (*self.as_raw()).i_mapping }
    }

    /// Writes back and waits for the page cache of the byte range `start..=end`
    /// (`filemap_write_and_wait_range`).
    pub fn write_and_wait_range(&self, start: i64, end: i64) -> Result {
        // SAFETY: The mapping is valid.
        to_result(unsafe { bindings::filemap_write_and_wait_range(self.mapping(), start, end) })
    }
}

/// Proof that the inode lock (`i_rwsem`) of an inode is held exclusively.
///
/// Obtained from [`INode::lock`] (which unlocks on drop) or handed to callbacks the VFS
/// calls with the lock held (which do not unlock).
pub struct Locked<'a, T: FileSystem> {
    inode: &'a INode<T>,
    owned: bool,
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
        }
    }
}

impl<T: FileSystem> Locked<'_, T> {
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
pub struct SharedLocked<'a, T: FileSystem> {
    inode: &'a INode<T>,
    owned: bool,
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
        }
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
pub struct InvalidateLocked<'a, T: FileSystem> {
    inode: &'a INode<T>,
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
    /// Device number of a special file (new 32-bit encoding), else 0.
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
    /// Inode operations for this kind of inode.
    pub iops: Ops<T>,
    /// File operations for this kind of inode.
    pub fops: file_ops::Ops<T>,
    /// Address space operations, if the inode has page cache data.
    pub aops: Option<super::address_space::AOps<T>>,
}

/// An inode in the `I_NEW` state, returned by [`SuperBlock::iget`] or
/// [`SuperBlock::new_inode`]; complete it with [`NewINode::init`].
///
/// Dropping it without completing it calls `iget_failed()`: the inode is marked bad, unlocked
/// and released.
pub struct NewINode<T: FileSystem>(NonNull<bindings::inode>, PhantomData<T>);

impl<T: FileSystem> NewINode<T> {
    /// Returns the inode number.
    pub fn ino(&self) -> u64 {
        // SAFETY: The inode is valid.
        unsafe { (*self.0.as_ptr()).i_ino }
    }

    /// Sets the owner, group and mode of an inode being created in `dir` by the current task
    /// (`inode_init_owner`: fsuid, set-group-ID directories, stripping of the set-group-ID
    /// bit). Returns the resulting `(uid, gid, mode)` to store in [`Params`] and on disk.
    pub fn init_owner(&mut self, dir: &INode<T>, mode: u16) -> (u32, u32, u16) {
        let inode = self.0.as_ptr();
        // SAFETY: The inode is new and exclusively ours; `dir` is valid; the file system does
        // not support idmapped mounts, so the idmap is always `nop_mnt_idmap`.
        unsafe {
            bindings::inode_init_owner(&raw mut bindings::nop_mnt_idmap, inode, dir.as_raw(), mode);
            (
                bindings::i_uid_read(inode),
                bindings::i_gid_read(inode),
                (*inode).i_mode,
            )
        }
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
            bindings::inode_set_atime_to_ts(inode, params.atime.into());
            bindings::inode_set_mtime_to_ts(inode, params.mtime.into());
            bindings::inode_set_ctime_to_ts(inode, params.ctime.into());
            i.i_op = params.iops.0;
            i.__bindgen_anon_3.i_fop = params.fops.as_raw();
            if let Some(aops) = params.aops {
                (*i.i_mapping).a_ops = aops.as_raw();
            }
            match params.mode & mode::S_IFMT {
                mode::S_IFCHR | mode::S_IFBLK | mode::S_IFIFO | mode::S_IFSOCK => {
                    bindings::init_special_inode(inode, params.mode, params.rdev);
                }
                _ => {}
            }
        }
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: The inode is fully initialised; unlocking it publishes it.
        unsafe { bindings::unlock_new_inode(this.0.as_ptr()) };
        // SAFETY: We own the reference `iget_locked`/`new_inode` gave us; the data is now
        // initialised, as `INode`'s invariants require.
        Ok(unsafe { ARef::from_raw(this.0.cast()) })
    }
}

impl<T: FileSystem> Drop for NewINode<T> {
    fn drop(&mut self) {
        // SAFETY: The inode is new and locked, and we own a reference.
        unsafe { bindings::iget_failed(self.0.as_ptr()) };
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
    /// Looks up inode `ino` in the inode cache, or allocates a new one (`iget_locked`).
    pub fn iget(&self, ino: u64) -> Result<Either<T>> {
        // SAFETY: The super block is valid.
        let inode = unsafe { bindings::iget_locked(self.as_raw(), ino) };
        let inode = NonNull::new(inode).ok_or(ENOMEM)?;
        // SAFETY: `iget_locked` returned a referenced inode.
        let state = unsafe { bindings::inode_state_read_once(inode.as_ptr()) };
        if state & bindings::I_NEW != 0 {
            return Ok(Either::New(NewINode(inode, PhantomData)));
        }
        // SAFETY: The inode is of this super block, so it lives in a container.
        let container = unsafe { INodeWithData::<T::INodeData>::from_inode(inode.as_ptr()) };
        // SAFETY: The inode is live and no longer new.
        if !unsafe { INodeWithData::has_data(container) } {
            // SAFETY: We own the reference.
            unsafe { bindings::iput(inode.as_ptr()) };
            return Err(EIO);
        }
        // SAFETY: We own the reference and the inode is initialised.
        Ok(Either::Cached(unsafe { ARef::from_raw(inode.cast()) }))
    }

    /// Allocates a new inode with number `ino` and inserts it in the inode cache locked
    /// (`new_inode` + `insert_inode_locked`); fails with `EBUSY` if `ino` is still in use.
    pub fn new_inode(&self, ino: u64) -> Result<NewINode<T>> {
        // SAFETY: The super block is valid.
        let inode = NonNull::new(unsafe { bindings::new_inode(self.as_raw()) }).ok_or(ENOMEM)?;
        // SAFETY: The inode is new and not yet visible.
        unsafe { (*inode.as_ptr()).i_ino = ino };
        // SAFETY: The inode is valid; on success it is hashed and `I_NEW`.
        let r = unsafe { bindings::insert_inode_locked(inode.as_ptr()) };
        if r != 0 {
            // SAFETY: The inode is not hashed; dropping our reference frees it.
            unsafe {
                bindings::make_bad_inode(inode.as_ptr());
                bindings::iput(inode.as_ptr());
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
    /// On success the file system has instantiated `dentry`.
    fn create(
        _parent: &Locked<'_, Self::FileSystem>,
        _dentry: &DEntry<Self::FileSystem>,
        _mode: u16,
    ) -> Result {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Creates a directory (`->mkdir`).
    fn mkdir(
        _parent: &Locked<'_, Self::FileSystem>,
        _dentry: &DEntry<Self::FileSystem>,
        _mode: u16,
    ) -> Result {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Removes a non-directory entry (`->unlink`); parent and victim are locked.
    fn unlink(
        _parent: &Locked<'_, Self::FileSystem>,
        _dentry: &DEntry<Self::FileSystem>,
    ) -> Result {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Changes attributes (`->setattr`), with the inode locked. The glue checks the request
    /// (`setattr_prepare`) before and copies the attributes other than the size into the inode
    /// (`setattr_copy`) and marks it dirty after; the file system applies a size change (see
    /// [`Attr::size`]).
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
    /// directories and the inodes involved.
    fn rename(
        _old_dir: &Locked<'_, Self::FileSystem>,
        _old: &DEntry<Self::FileSystem>,
        _new_dir: &Locked<'_, Self::FileSystem>,
        _new: &DEntry<Self::FileSystem>,
        _flags: u32,
    ) -> Result {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Creates a hard link `new` in `dir` to the inode of `old` (`->link`).
    fn link(
        _old: &DEntry<Self::FileSystem>,
        _dir: &Locked<'_, Self::FileSystem>,
        _new: &DEntry<Self::FileSystem>,
    ) -> Result {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Removes an empty directory (`->rmdir`); parent and victim are locked.
    fn rmdir(_parent: &Locked<'_, Self::FileSystem>, _dentry: &DEntry<Self::FileSystem>) -> Result {
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

    /// The empty table (all hooks `NULL`), e.g. for special files.
    pub const fn empty() -> Self {
        Self(&EMPTY_IOPS, PhantomData)
    }

    /// Returns the C table.
    pub fn as_raw(&self) -> *const bindings::inode_operations {
        self.0
    }
}

const EMPTY_IOPS: bindings::inode_operations = pin_init::zeroed();

pub(crate) struct Table<U: Operations>(PhantomData<U>);

impl<U: Operations> Table<U> {
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
        setattr: if U::HAS_SETATTR {
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
        match U::lookup(&parent, d) {
            Err(e) => e.to_ptr(),
            Ok(inode) => {
                let ptr = inode.map_or(core::ptr::null_mut(), |i| {
                    let p = i.as_raw();
                    core::mem::forget(i);
                    p
                });
                // SAFETY: `d_splice_alias` takes over the inode reference (or NULL).
                unsafe { bindings::d_splice_alias(ptr, dentry) }
            }
        }
    }

    /// # Safety
    ///
    /// Called by the VFS with a locked directory of `U::FileSystem` and a negative dentry.
    unsafe extern "C" fn create(
        _idmap: *mut bindings::mnt_idmap,
        parent: *mut bindings::inode,
        dentry: *mut bindings::dentry,
        mode: bindings::umode_t,
    ) -> c_int {
        from_result(|| {
            // SAFETY: As documented above.
            let parent = unsafe { Locked::held(INode::from_raw(parent)) };
            // SAFETY: As documented above.
            U::create(&parent, unsafe { DEntry::from_raw(dentry) }, mode)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the VFS with a locked directory of `U::FileSystem` and a negative dentry.
    unsafe extern "C" fn mkdir(
        _idmap: *mut bindings::mnt_idmap,
        parent: *mut bindings::inode,
        dentry: *mut bindings::dentry,
        mode: bindings::umode_t,
    ) -> *mut bindings::dentry {
        // SAFETY: As documented above.
        let parent = unsafe { Locked::held(INode::from_raw(parent)) };
        // SAFETY: As documented above.
        match U::mkdir(&parent, unsafe { DEntry::from_raw(dentry) }, mode) {
            Ok(()) => core::ptr::null_mut(),
            Err(e) => e.to_ptr(),
        }
    }

    /// # Safety
    ///
    /// Called by the VFS with the directory and the victim locked.
    unsafe extern "C" fn unlink(
        parent: *mut bindings::inode,
        dentry: *mut bindings::dentry,
    ) -> c_int {
        from_result(|| {
            // SAFETY: As documented above.
            let parent = unsafe { Locked::held(INode::from_raw(parent)) };
            // SAFETY: As documented above.
            U::unlink(&parent, unsafe { DEntry::from_raw(dentry) })?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the VFS with the directory and the victim locked.
    unsafe extern "C" fn rmdir(
        parent: *mut bindings::inode,
        dentry: *mut bindings::dentry,
    ) -> c_int {
        from_result(|| {
            // SAFETY: As documented above.
            let parent = unsafe { Locked::held(INode::from_raw(parent)) };
            // SAFETY: As documented above.
            U::rmdir(&parent, unsafe { DEntry::from_raw(dentry) })?;
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
            // SAFETY: `iattr` is valid for the call.
            U::setattr(&inode, unsafe { &*iattr.cast::<Attr>() })?;
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
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the VFS with both directories (and the inodes involved) locked.
    unsafe extern "C" fn rename(
        _idmap: *mut bindings::mnt_idmap,
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
            U::rename(&od, o, &nd, n, flags)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the VFS with `dir` locked and `old` a positive dentry of the same file system.
    unsafe extern "C" fn link(
        old: *mut bindings::dentry,
        dir: *mut bindings::inode,
        new: *mut bindings::dentry,
    ) -> c_int {
        from_result(|| {
            // SAFETY: As documented above.
            let d = unsafe { Locked::held(INode::from_raw(dir)) };
            // SAFETY: As documented above.
            U::link(unsafe { DEntry::from_raw(old) }, &d, unsafe {
                DEntry::from_raw(new)
            })?;
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

/// The user's extent buffer of a `FS_IOC_FIEMAP` call (`struct fiemap_extent_info`).
#[repr(transparent)]
pub struct FiemapInfo(Opaque<bindings::fiemap_extent_info>);

impl FiemapInfo {
    /// Returns the raw pointer, for the iomap abstractions.
    pub fn as_raw(&mut self) -> *mut bindings::fiemap_extent_info {
        self.0.get()
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

/// Returns the C result of a fallible call that produced an errno or a pointer.
#[allow(dead_code)]
pub(crate) fn check_ptr<P>(p: *mut P) -> Result<*mut P> {
    from_err_ptr(p)
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
