// SPDX-License-Identifier: GPL-2.0

//! File system types: registration of a `struct file_system_type` and mounting of
//! block-device file systems through the `fs_context` API.
//!
//! A file system implements [`FileSystem`] and is registered with [`Registration`], usually
//! through [`module_fs!`](crate::module_fs). Mounting follows C's `get_tree_bdev()` path:
//! the VFS opens the block device, allocates a `struct super_block` and calls
//! [`FileSystem::fill_super`] with it in the [`New`] state. `sb->s_fs_info` points to the
//! glue's `SbGlue` from the start of `fill_super` to `kill_sb`: the super block's release
//! state, its periodic work, the mount options lent to `fill_super`, and the private data
//! `fill_super` returns, which `kill_sb` drops only after `kill_block_super()` has written
//! back and evicted every inode, so no inode operation can observe it freed.
//!
//! C headers: [`include/linux/fs.h`](srctree/include/linux/fs.h),
//! [`include/linux/fs_context.h`](srctree/include/linux/fs_context.h).

use super::{
    acl, export,
    inode::{INode, INodeView, INodeWithData, SbRelease},
    param::{MountOptions, ParamTable},
    periodic::PeriodicWork,
    super_block::{New, ReadOnlySwitch, Ready, SuperBlock},
    xattr,
};
use crate::{
    bindings,
    error::{from_result, to_result},
    prelude::*,
    seq_file::SeqFile,
    str::CStrExt,
    sync::aref::ARef,
    types::{ForeignOwnable, Opaque},
    ThisModule,
};
use core::marker::PhantomData;

/// File system statistics returned by [`FileSystem::statfs`] (`struct kstatfs`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    /// Magic number of the file system type.
    pub magic: u64,
    /// Optimal transfer block size.
    pub block_size: u32,
    /// Total data blocks.
    pub blocks: u64,
    /// Free blocks.
    pub free_blocks: u64,
    /// Free blocks available to unprivileged users.
    pub avail_blocks: u64,
    /// Total inodes.
    pub files: u64,
    /// Free inodes.
    pub free_files: u64,
    /// Maximum length of a name.
    pub name_len: u32,
}

/// A block-device file system type (`struct file_system_type` with `FS_REQUIRES_DEV`) and its
/// super block operations (`struct super_operations`).
///
/// The optional methods become the hooks of a const `super_operations` table; hooks that are
/// not implemented stay `NULL`, so the VFS keeps its default behaviour.
#[macros::vtable]
pub trait FileSystem: Sized + Send + Sync + 'static {
    /// The name of the file system type, as listed in `/proc/filesystems` and given to
    /// `mount -t`.
    const NAME: &'static CStr;

    /// Whether the file system may be mounted idmapped (`FS_ALLOW_IDMAP`): it gives every
    /// inode it creates its owner with [`NewINode::init_owner`](super::inode::NewINode::init_owner)
    /// and the `idmap` of the creating hook, and keeps ids only as the VFS inode has them
    /// (the glue checks and copies attributes with the mount's mapping).
    const ALLOW_IDMAP: bool = false;

    /// Whether the file system supports blocks larger than a page (`FS_LBS`): without it,
    /// [`SuperBlock::set_block_size`](super::SuperBlock::set_block_size) refuses such sizes.
    /// With it, every inode's page cache holds whole blocks (the minimum folio order is set by
    /// [`NewINode::init`](super::inode::NewINode::init)), so the address space operations
    /// must handle large folios, as iomap's do.
    const LBS: bool = false;

    /// Private data of a mounted file system, kept in `sb->s_fs_info`.
    type Data: ForeignOwnable + Send + Sync;

    /// Private data of each inode, stored beside the C inode in the file system's inode cache.
    ///
    /// It is initialised by [`NewINode::init`](super::inode::NewINode::init) and dropped after
    /// an RCU grace period once the inode is freed, possibly in softirq context: its `Drop`
    /// must not sleep.
    type INodeData: Send + Sync;

    /// Reads and validates the on-disk super block and fills in `sb` (C's `fill_super`).
    ///
    /// Called with `sb->s_umount` held and the block device opened. An error fails the mount;
    /// the file system should log why with the device name ([`SuperBlock::id`]).
    fn fill_super(sb: &mut SuperBlock<Self, New>) -> Result<Self::Data>;

    /// Returns the root directory inode, once the private data is in place. The glue turns it
    /// into the root dentry (`d_make_root`).
    fn init_root(sb: &SuperBlock<Self, Ready>) -> Result<ARef<INode<Self>>>;

    /// Reports file system statistics (`->statfs`).
    fn statfs(_sb: &SuperBlock<Self, Ready>) -> Result<Stat> {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Writes back the file system's metadata (`->sync_fs`); `wait` asks for durability.
    fn sync_fs(_sb: &SuperBlock<Self, Ready>, _wait: bool) -> Result {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Called at unmount after every inode is evicted, before the private data is dropped
    /// (`->put_super`).
    fn put_super(_sb: &SuperBlock<Self, Ready>) {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// How many objects of the file system's own caches (metadata buffers, say)
    /// [`FileSystem::free_cached_objects`] could free now (`->nr_cached_objects`): the super
    /// block's shrinker weighs them against its unused dentries and inodes when memory runs
    /// short, as it does XFS's inodes waiting for reclaim.
    ///
    /// Context: memory reclaim, in whatever task ran short of memory, which may hold any of
    /// the file system's locks: must not wait for them nor allocate. Called with or without
    /// `s_umount`, concurrently with every operation, from the end of a successful
    /// `fill_super` until the unmount starts (never once `kill_sb` runs). An estimate: 0
    /// when it cannot tell. The super block's shrinker is NUMA- and memcg-aware, and this
    /// count is not split by node or cgroup: each node's (and each cgroup's) pass counts the
    /// whole cache, as XFS's count of its reclaimable inodes does.
    fn nr_cached_objects(_sb: &SuperBlock<Self, Ready>) -> usize {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Frees up to `nr` objects of the file system's own caches (`->free_cached_objects`),
    /// the share of a shrinker pass that [`FileSystem::nr_cached_objects`] earned them;
    /// returns how many it freed.
    ///
    /// Context: as [`FileSystem::nr_cached_objects`], with `s_umount` held shared, and only
    /// for reclaim that may enter file systems (`__GFP_FS`).
    fn free_cached_objects(_sb: &SuperBlock<Self, Ready>, _nr: usize) -> usize {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Runs when the super block's periodic work fires, about the delay after
    /// [`SuperBlock::schedule_periodic`] armed it (a journal's commit timer, for instance).
    ///
    /// Context: process context (a workqueue), may sleep; no lock held. Never runs once the
    /// unmount started (`kill_sb`), but may run concurrently with any other operation.
    fn periodic(_sb: &SuperBlock<Self, Ready>) {}

    /// Writes a dirty inode back to its on-disk location (`->write_inode`); `sync` is set for
    /// data-integrity writeback.
    ///
    /// Context: process context, may sleep; no inode lock held (the VFS holds `I_SYNC`).
    /// Called from the flusher threads for inodes whose count may be zero, and from
    /// `iput_final` (`I_WILL_FREE`), so the inode is an [`INodeView`] that cannot be turned
    /// into a reference.
    fn write_inode(_inode: &INodeView<Self>, _sync: bool) -> Result {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Called when the last reference to an inode is dropped and it leaves the cache
    /// (`->evict_inode`), after its page cache has been truncated. With `nlink == 0` the file
    /// system frees the inode on disk here.
    ///
    /// Context: process context, may sleep; no inode lock held; `i_count` is zero and the
    /// inode is `I_FREEING`, hence an [`INodeView`].
    fn evict_inode(_inode: &INodeView<Self>) {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Switches between read-only and read-write on remount (`fs_context_operations.reconfigure`
    /// when `SB_RDONLY` changes). Called after the VFS synced the file system when going
    /// read-only.
    fn remount(_sb: &SuperBlock<Self, Ready>, _read_only: bool) -> Result {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// The mount options the file system accepts (`fs_context_operations.parse_param` with
    /// this `fs_parameter_spec` table). `None`: the file system takes no options, and the VFS
    /// refuses every option but the generic ones (`ro`, `rw`, ...).
    const PARAMETERS: Option<&'static ParamTable> = None;

    /// Applies the options given to a remount (`fs_context_operations.reconfigure`), before a
    /// read-only/read-write switch is handed to [`FileSystem::remount`]. `opts` only holds the
    /// options given, so anything else keeps its current value. Called with `s_umount` held
    /// exclusively; an error fails the remount.
    fn reconfigure(_sb: &SuperBlock<Self, Ready>, _opts: &MountOptions) -> Result {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Prints the mount options that differ from the defaults (`->show_options`), each as
    /// `,name` or `,name=value`, for `/proc/mounts`.
    fn show_options(_sb: &SuperBlock<Self, Ready>, _m: &SeqFile) -> Result {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Brings the file system to a consistent state on disk for a freeze (`->freeze_fs`),
    /// after the VFS has stopped new writes, page faults and internal writers and synced the
    /// file system. Not called for a read-only mount.
    fn freeze_fs(_sb: &SuperBlock<Self, Ready>) -> Result {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Undoes [`FileSystem::freeze_fs`] when the file system is thawed (`->unfreeze_fs`). An
    /// error leaves the file system frozen.
    fn unfreeze_fs(_sb: &SuperBlock<Self, Ready>) -> Result {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// The block device went away under the mounted file system (`->shutdown`, from
    /// `fs_bdev_mark_dead` when a disk is removed, its driver dies or its media changes): the
    /// file system should stop all I/O and fail every later operation (with `EIO`), as the
    /// shutdown ioctl does.
    ///
    /// Context: process context, may sleep; `s_umount` is held shared, and block driver locks
    /// may be held (`disk_force_media_change` from the loop and nbd drivers). The VFS has
    /// tried to sync the file system first (unless the removal was a surprise; the device
    /// may already fail every I/O) and evicted the inodes nobody uses; the super block stays
    /// mounted until the user unmounts it. It may be called more than once (on every media
    /// change), so it must be idempotent, must not wait for I/O to the device to succeed,
    /// and must not take `s_umount` (nor call
    /// [`SuperBlock::sync_filesystem`](super::SuperBlock::sync_filesystem)).
    fn shutdown(_sb: &SuperBlock<Self, Ready>) {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Reads extended attribute `name` (without its prefix) of namespace `ns` into `value`
    /// (`xattr_handler->get`): announces its length with [`xattr::Value::set_len`] and fills
    /// the buffer it returns; `ENODATA` if the inode has no such attribute. Implementing it
    /// installs the file system's handlers in `sb->s_xattr`, which makes every inode support
    /// extended attributes (`IOP_XATTR`).
    ///
    /// Context: process context, may sleep. The VFS has checked the caller's permission; the
    /// inode lock may or may not be held (LSMs read labels from many paths).
    fn getxattr(
        _inode: &INode<Self>,
        _ns: xattr::Namespace,
        _name: &CStr,
        _value: &mut xattr::Value<'_>,
    ) -> Result {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Sets extended attribute `name` of namespace `ns` to `value`, or removes it when `value`
    /// is `None` (`xattr_handler->set`), honouring `flags` (`EEXIST`, `ENODATA`). The file
    /// system updates the change time itself. Without it, setting fails with `EOPNOTSUPP`.
    ///
    /// Context: process context, may sleep. The VFS has checked the caller's permission and
    /// that the mount is writable, and usually holds the inode lock — not on every path (LSMs
    /// label new inodes without it), so the file system serialises its own updates.
    fn setxattr(
        _inode: &INode<Self>,
        _ns: xattr::Namespace,
        _name: &CStr,
        _value: Option<&[u8]>,
        _flags: xattr::SetFlags,
    ) -> Result {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Reads the stored ACL of kind `kind` of `inode`, decoded with [`acl::Acl::from_value`]
    /// from its value as the VFS encodes ACLs in extended attributes (`posix_acl_to_xattr`,
    /// ids of the initial user namespace), or `None` if it has none; a value that does not
    /// decode is corruption for the file system to report. Implementing it (with
    /// [`FileSystem::set_acl`], which needs [`FileSystem::listxattr`] to list them with
    /// [`xattr::List::add_acl`]) gives the file system POSIX ACLs; see [`acl`](super::acl).
    ///
    /// Context: process context, may sleep; no transaction of the file system open (it is
    /// also called from [`acl::CreateAcls::new`]); the inode lock may or may not be held.
    fn get_acl(_inode: &INode<Self>, _kind: acl::Kind) -> Result<Option<acl::Acl>> {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Stores (`Some`) or removes (`None`) the ACL of kind `kind` of `inode` together with
    /// the inode's new `mode` (an access ACL changes the permission bits, see
    /// `posix_acl_update_mode`): the file system sets the mode with
    /// [`Locked::set_mode_bits`](super::inode::Locked::set_mode_bits), updates the change
    /// time and writes both with the ACL, atomically. Removing an ACL the inode does not have
    /// succeeds.
    ///
    /// Context: process context, may sleep; the inode lock is held. The caller's permission
    /// and the ACL were checked by the VFS.
    fn set_acl(
        _inode: &super::inode::Locked<'_, Self>,
        _kind: acl::Kind,
        _value: Option<&[u8]>,
        _mode: u16,
    ) -> Result {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// The inode with number `ino` for a file handle (NFS export, `open_by_handle_at`), if
    /// it is in use and its generation is `generation`; `ESTALE` if not (freed, or its
    /// number reused by a later file). Implementing it (with [`FileSystem::get_parent`])
    /// installs `sb->s_export_op`: handles are the VFS's 32-bit generic ones, inode number
    /// and generation (see [`export`](super::export)).
    ///
    /// Context: process context, may sleep. Handles come from user space (with
    /// `CAP_DAC_READ_SEARCH`) or from NFS clients: any number may be asked for, and only a
    /// corrupt file system, never a bad handle, may be reported as corruption.
    fn inode_for_handle(
        _sb: &SuperBlock<Self, Ready>,
        _ino: u64,
        _generation: u32,
    ) -> Result<ARef<INode<Self>>> {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// The parent of directory `dir` (`export_operations->get_parent`), to reconnect a
    /// directory found by a handle to the tree.
    ///
    /// Context: process context, may sleep; no inode lock held.
    fn get_parent(_dir: &INode<Self>) -> Result<ARef<INode<Self>>> {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Makes the metadata changes of `inode` durable, with those of every operation that
    /// changed it (`export_operations->commit_metadata`): nfsd calls it on a synchronous
    /// export after a create, a rename or a change of attributes, before it replies. Without
    /// it nfsd writes the inode back (`sync_inode_metadata`), which does nothing for an inode
    /// that is not dirty. Used only with [`FileSystem::inode_for_handle`].
    ///
    /// Context: process context, may sleep; the inode's (or its parent's) lock may be held
    /// exclusively by nfsd: the hook must not take inode locks.
    fn commit_metadata(_inode: &INode<Self>) -> Result {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Lists the inode's extended attributes (`->listxattr` of every inode operations table of
    /// this file system), each with [`xattr::List::add`].
    ///
    /// Context: process context, may sleep; no inode lock held.
    fn listxattr(_inode: &INode<Self>, _list: &mut xattr::List<'_>) -> Result {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }
}

/// What `sb->s_fs_info` points to from the start of `fill_super` until `kill_sb`: the super
/// block's release state, its periodic work, the mount options lent to `T::fill_super`, and
/// the file system's private data, all owned by the glue so that `kill_sb` always finds them
/// (also after a failed `T::fill_super`, whose inode references may outlive it).
///
/// # Invariants
///
/// `release` is first (`repr(C)`): code that does not know `T` finds it from `s_fs_info`.
/// `data` is NULL until `T::fill_super` succeeds, then comes from `T::Data::into_foreign` and
/// is given back (`from_foreign`) only when the glue data is dropped in `kill_sb`. `options`
/// points to the mount options (owned by the mount's `fs_context`) while `T::fill_super`
/// runs, and is NULL otherwise (and for types without options). `release` and `periodic`
/// belong to the super block whose `s_fs_info` points here.
#[repr(C)]
#[pin_data]
pub(crate) struct SbGlue<T: FileSystem> {
    #[pin]
    release: SbRelease,
    #[pin]
    pub(crate) periodic: PeriodicWork<T>,
    #[pin]
    pub(crate) read_only: ReadOnlySwitch,
    pub(crate) data: *mut c_void,
    pub(crate) options: *const c_void,
}

impl<T: FileSystem> SbGlue<T> {
    /// The glue data of `sb`, lending `options` (may be NULL), without private data yet.
    ///
    /// # Safety
    ///
    /// `sb` must be a super block of type `T` whose `s_fs_info` will point to the new value
    /// until `kill_sb`, and `options` must outlive its `T::fill_super`.
    pub(crate) unsafe fn new(
        sb: *mut bindings::super_block,
        options: *const c_void,
    ) -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: The glue data of `sb` holds it, first, until `kill_sb`.
            release <- unsafe { SbRelease::new(sb) },
            // SAFETY: The work lives in the glue data of `sb`, which `kill_sb` disables before
            // the super block is shut down; it is scheduled only through the ready super
            // block.
            periodic <- unsafe { PeriodicWork::new(sb) },
            // SAFETY: The glue data of `sb` holds it until `kill_sb`.
            read_only <- unsafe { ReadOnlySwitch::new(sb) },
            data: core::ptr::null_mut(),
            options,
        })
    }
}

/// The per-file-system inode cache (`struct kmem_cache` of [`INodeWithData`]).
///
/// # Invariants
///
/// `cache` is a valid cache created by `kmem_cache_create`, destroyed only in `drop`, with
/// `INodeWithData::init_once` as its constructor.
struct InodeCache(*mut bindings::kmem_cache);

impl InodeCache {
    fn new<D>(name: &'static CStr) -> Result<Self> {
        // SAFETY: An all-zero `kmem_cache_args` means "no special arguments".
        let mut args: bindings::kmem_cache_args = unsafe { core::mem::zeroed() };
        args.align = core::mem::align_of::<INodeWithData<D>>() as u32;
        // Each object's inode is initialised once, when its slab is made (`init_once`).
        args.ctor = Some(INodeWithData::<D>::init_once);
        // SAFETY: `name` is static; the arguments are valid for the call.
        let cache = unsafe {
            bindings::__kmem_cache_create_args(
                name.as_char_ptr(),
                core::mem::size_of::<INodeWithData<D>>() as u32,
                &mut args,
                bindings::SLAB_RECLAIM_ACCOUNT | bindings::SLAB_ACCOUNT,
            )
        };
        if cache.is_null() {
            return Err(ENOMEM);
        }
        Ok(Self(cache))
    }
}

impl Drop for InodeCache {
    fn drop(&mut self) {
        // SAFETY: Wait for the RCU callbacks that free inodes (`->free_inode`) before the cache
        // goes away; the cache is valid by the type invariants.
        unsafe {
            bindings::rcu_barrier();
            bindings::kmem_cache_destroy(self.0);
        }
    }
}

/// A registered file system type.
///
/// # Invariants
///
/// `fs` holds a `struct file_system_type` that is registered with `register_filesystem()` for
/// the whole lifetime of the [`Registration`]; it is unregistered exactly once, in `drop`.
/// `cache` outlives every inode of the type.
#[pin_data(PinnedDrop)]
pub struct Registration<T: FileSystem> {
    cache: InodeCache,
    #[pin]
    fs: Opaque<bindings::file_system_type>,
    _p: PhantomData<T>,
}

// SAFETY: `register_filesystem` and `unregister_filesystem` may be called from any thread, and
// the inode cache may be used from any thread.
unsafe impl<T: FileSystem> Send for Registration<T> {}

// SAFETY: A `&Registration` gives no access to the file system type.
unsafe impl<T: FileSystem> Sync for Registration<T> {}

impl<T: FileSystem> Registration<T> {
    /// Registers the file system type `T`, owned by `module`.
    ///
    /// Use [`module_fs!`](crate::module_fs), which keeps the registration in the module
    /// object.
    ///
    /// # Safety
    ///
    /// The registration must be dropped only when `module` is unloaded (it must live in
    /// `module`'s module object, as [`module_fs!`](crate::module_fs) puts it): a mounted super
    /// block holds a reference to `module` (through `file_system_type.owner`), not to the
    /// registration, so a registration dropped earlier would free the `file_system_type` and
    /// the inode cache under mounted super blocks. It embeds the type's lockdep class keys, so
    /// it must also live in static storage, which a module object is.
    pub unsafe fn new(module: &'static ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            cache: InodeCache::new::<T::INodeData>(T::NAME)?,
            fs <- Opaque::try_ffi_init(|fs_ptr: *mut bindings::file_system_type| {
                // SAFETY: `fs_ptr` is valid for writes; an all-zero `file_system_type` is valid.
                unsafe { fs_ptr.write(pin_init::zeroed()) };
                // SAFETY: `fs_ptr` was just initialised and nothing else references it yet.
                let fs = unsafe { &mut *fs_ptr };
                fs.owner = module.as_ptr();
                fs.name = T::NAME.as_char_ptr();
                fs.fs_flags = bindings::FS_REQUIRES_DEV as c_int;
                if T::ALLOW_IDMAP {
                    fs.fs_flags |= bindings::FS_ALLOW_IDMAP as c_int;
                }
                if T::LBS {
                    fs.fs_flags |= bindings::FS_LBS as c_int;
                }
                fs.init_fs_context = Some(Tables::<T>::init_fs_context);
                fs.kill_sb = Some(Tables::<T>::kill_sb);
                // SAFETY: `fs_ptr` points to a fully initialised, pinned `file_system_type`
                // whose callbacks stay valid while the module is loaded; it is unregistered in
                // `drop` before the memory goes away.
                to_result(unsafe { bindings::register_filesystem(fs_ptr) })
            }),
            _p: PhantomData,
        })
    }

    /// Returns the inode cache of the registration that `sb` belongs to.
    ///
    /// # Safety
    ///
    /// `sb` must be a valid super block of file system type `T`.
    unsafe fn cache_of(sb: *mut bindings::super_block) -> *mut bindings::kmem_cache {
        let offset = core::mem::offset_of!(Self, fs);
        // SAFETY: `s_type` points to the `fs` field of the registration of `T`, which is alive
        // while one of its super blocks exists.
        unsafe {
            let reg = (*sb).s_type.cast::<u8>().sub(offset).cast::<Self>();
            (*reg).cache.0
        }
    }
}

#[pinned_drop]
impl<T: FileSystem> PinnedDrop for Registration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: By the type invariants, `fs` is registered. The inode cache is dropped after
        // this, once no super block of the type can exist.
        unsafe { bindings::unregister_filesystem(self.fs.get()) };
    }
}

/// The C callbacks of a file system type.
pub(crate) struct Tables<T: FileSystem>(PhantomData<T>);

impl<T: FileSystem> Tables<T> {
    /// Fails the build of a file system that implements only one of the export hooks, of
    /// the ACL hooks (which also need `listxattr`), or of the cached-objects hooks.
    const EXPORT_HOOKS_AGREE: () = assert!(
        T::HAS_INODE_FOR_HANDLE == T::HAS_GET_PARENT
            && (!T::HAS_COMMIT_METADATA || T::HAS_INODE_FOR_HANDLE)
            && T::HAS_GET_ACL == T::HAS_SET_ACL
            && (!T::HAS_GET_ACL || T::HAS_LISTXATTR)
            && T::HAS_NR_CACHED_OBJECTS == T::HAS_FREE_CACHED_OBJECTS,
        "inode_for_handle and get_parent come together (commit_metadata only with them), \
         get_acl and set_acl too (with listxattr), nr_cached_objects and \
         free_cached_objects too"
    );

    pub(crate) const CONTEXT: bindings::fs_context_operations = bindings::fs_context_operations {
        free: if T::PARAMETERS.is_some() {
            Some(Self::free_fc)
        } else {
            None
        },
        dup: None,
        parse_param: if T::PARAMETERS.is_some() {
            Some(Self::parse_param)
        } else {
            None
        },
        parse_monolithic: None,
        get_tree: Some(Self::get_tree),
        // Always: a remount read-write after an error is refused.
        reconfigure: Some(Self::reconfigure),
    };

    pub(crate) const SUPER: bindings::super_operations = bindings::super_operations {
        alloc_inode: Some(Self::alloc_inode),
        free_inode: Some(Self::free_inode),
        write_inode: if T::HAS_WRITE_INODE {
            Some(Self::write_inode)
        } else {
            None
        },
        evict_inode: Some(Self::evict_inode),
        put_super: if T::HAS_PUT_SUPER {
            Some(Self::put_super)
        } else {
            None
        },
        sync_fs: if T::HAS_SYNC_FS {
            Some(Self::sync_fs)
        } else {
            None
        },
        statfs: if T::HAS_STATFS {
            Some(Self::statfs)
        } else {
            None
        },
        show_options: if T::HAS_SHOW_OPTIONS {
            Some(Self::show_options)
        } else {
            None
        },
        freeze_fs: if T::HAS_FREEZE_FS {
            Some(Self::freeze_fs)
        } else {
            None
        },
        unfreeze_fs: if T::HAS_UNFREEZE_FS {
            Some(Self::unfreeze_fs)
        } else {
            None
        },
        shutdown: if T::HAS_SHUTDOWN {
            Some(Self::shutdown)
        } else {
            None
        },
        // Both or neither (`EXPORT_HOOKS_AGREE`): the VFS calls `free_cached_objects` when
        // the count is not zero.
        nr_cached_objects: if T::HAS_NR_CACHED_OBJECTS {
            Some(Self::nr_cached_objects)
        } else {
            None
        },
        free_cached_objects: if T::HAS_FREE_CACHED_OBJECTS {
            Some(Self::free_cached_objects)
        } else {
            None
        },
        ..pin_init::zeroed()
    };

    /// # Safety
    ///
    /// `fc` must be a valid `fs_context` being set up for this file system type.
    unsafe extern "C" fn init_fs_context(fc: *mut bindings::fs_context) -> c_int {
        if T::PARAMETERS.is_some() {
            let Ok(opts) = KBox::new(MountOptions::new(), GFP_KERNEL) else {
                return -(bindings::ENOMEM as c_int);
            };
            // SAFETY: `fc` is valid; `free_fc` takes the options back.
            unsafe { (*fc).fs_private = KBox::into_raw(opts).cast() };
        }
        // SAFETY: By the safety requirements, `fc` is valid; `CONTEXT` is static.
        unsafe { (*fc).ops = &Self::CONTEXT };
        0
    }

    /// Returns the options parsed into `fc` so far.
    ///
    /// # Safety
    ///
    /// `fc` must be a valid `fs_context` of this file system type, and the options must not
    /// be used elsewhere during `'a`.
    unsafe fn options_of<'a>(fc: *mut bindings::fs_context) -> Option<&'a mut MountOptions> {
        // SAFETY: `fs_private` is NULL or set by `init_fs_context` to a `MountOptions`.
        unsafe { (*fc).fs_private.cast::<MountOptions>().as_mut() }
    }

    /// # Safety
    ///
    /// `fc` must be an `fs_context` of this file system type being freed.
    unsafe extern "C" fn free_fc(fc: *mut bindings::fs_context) {
        // SAFETY: `fc` is valid.
        let p = unsafe { (*fc).fs_private }.cast::<MountOptions>();
        if !p.is_null() {
            // SAFETY: `p` came from `KBox::into_raw` in `init_fs_context`, and is freed once.
            drop(unsafe { KBox::from_raw(p) });
            // SAFETY: `fc` is valid.
            unsafe { (*fc).fs_private = core::ptr::null_mut() };
        }
    }

    /// # Safety
    ///
    /// `fc` and `param` must be the valid arguments of a `->parse_param` call on an
    /// `fs_context` of this file system type.
    unsafe extern "C" fn parse_param(
        fc: *mut bindings::fs_context,
        param: *mut bindings::fs_parameter,
    ) -> c_int {
        from_result(|| {
            let table = T::PARAMETERS.ok_or(ENOPARAM)?;
            // SAFETY: `fc` is valid and parsing is serialised by the caller.
            let opts = unsafe { Self::options_of(fc) }.ok_or(ENOPARAM)?;
            // SAFETY: `fc->log` and `param` are valid for the call.
            unsafe { super::param::parse(table, opts, &raw mut (*fc).log, param) }?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// `fc` must be a valid `fs_context` of this file system type.
    unsafe extern "C" fn get_tree(fc: *mut bindings::fs_context) -> c_int {
        // SAFETY: By the safety requirements, `fc` is valid; `fill_super` matches the
        // signature `get_tree_bdev` expects.
        unsafe { bindings::get_tree_bdev(fc, Some(Self::fill_super)) }
    }

    /// # Safety
    ///
    /// `fc` must be a valid reconfiguration context of a mounted super block of this type.
    unsafe extern "C" fn reconfigure(fc: *mut bindings::fs_context) -> c_int {
        from_result(|| {
            // SAFETY: `fc->root` is the root of the mounted super block being reconfigured.
            let sb_ptr = unsafe { (*(*fc).root).d_sb };
            // SAFETY: The super block is mounted, so its private data is set.
            let sb = unsafe { SuperBlock::<T, Ready>::from_raw(sb_ptr) };
            if T::HAS_RECONFIGURE {
                static NONE: MountOptions = MountOptions::new();
                // SAFETY: `fc` is valid and exclusively ours during reconfiguration.
                let opts = unsafe { Self::options_of(fc) }.map_or(&NONE, |o| &*o);
                T::reconfigure(sb, opts)?;
            }
            // SAFETY: `fc` is valid.
            let (flags, mask) = unsafe { ((*fc).sb_flags, (*fc).sb_flags_mask) };
            let rdonly = bindings::SB_RDONLY as c_uint;
            if mask & rdonly != 0 {
                let ro = flags & rdonly != 0;
                if !ro && sb.glue().read_only.is_forced() {
                    // Made read-only after an error: until the next mount (as ext4 after
                    // its journal was aborted).
                    return Err(EROFS);
                }
                // A file system without `remount` takes the switch without a hook (and links:
                // the default `remount` is a build error).
                if T::HAS_REMOUNT && ro != sb.is_read_only() {
                    T::remount(sb, ro)?;
                }
            }
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by `get_tree_bdev` with a new, locked super block of this file system type.
    unsafe extern "C" fn fill_super(
        sb_ptr: *mut bindings::super_block,
        fc: *mut bindings::fs_context,
    ) -> c_int {
        // The attribute hooks of `T` come together, and so do the export hooks (checked at
        // build time).
        let () = xattr::Handlers::<T>::HOOKS_AGREE;
        let () = Self::EXPORT_HOOKS_AGREE;
        from_result(|| {
            // SAFETY: `s_fs_info` points to the glue data from here until `kill_sb`, which
            // takes it back; `fc` keeps the options alive until `fill_super` returns.
            let glue = KBox::pin_init(
                unsafe { SbGlue::<T>::new(sb_ptr, (*fc).fs_private.cast_const()) },
                GFP_KERNEL,
            )?;
            // SAFETY: The glue data is never moved out of its allocation: `kill_sb` turns the
            // pointer back into the box only to drop it.
            let glue = KBox::into_raw(unsafe { Pin::into_inner_unchecked(glue) });
            // SAFETY: The super block is new and exclusively ours until `fill_super` returns.
            // While `T::fill_super` runs, the glue data lends it the parsed mount options
            // (NULL when the type takes none); see `SuperBlock::mount_options`.
            unsafe {
                (*sb_ptr).s_fs_info = glue.cast();
                (*sb_ptr).s_op = &Self::SUPER;
                if T::HAS_GETXATTR {
                    (*sb_ptr).s_xattr = xattr::Handlers::<T>::table().as_ptr();
                }
                if T::HAS_INODE_FOR_HANDLE {
                    (*sb_ptr).s_export_op = export::Ops::<T>::table();
                }
                if T::HAS_GET_ACL {
                    (*sb_ptr).s_flags |= bindings::SB_POSIXACL;
                }
            }
            // SAFETY: As above.
            let sb = unsafe { SuperBlock::<T, New>::from_raw_mut(sb_ptr) };
            let r = T::fill_super(sb);
            // SAFETY: The glue data is ours (the super block is not published); the options
            // are no longer lent out.
            unsafe { (*glue).options = core::ptr::null() };
            // SAFETY: As above; `kill_sb` gives the data back (and skips it while NULL).
            unsafe { (*glue).data = r?.into_foreign() };
            // SAFETY: The private data is now in place, so the super block is ready.
            let ready = unsafe { SuperBlock::<T, Ready>::from_raw(sb_ptr) };
            let inode = INode::into_raw_for(T::init_root(ready)?, sb_ptr)?;
            // SAFETY: `d_make_root` takes over the inode reference, also on failure.
            let dentry = unsafe { bindings::d_make_root(inode) };
            if dentry.is_null() {
                return Err(ENOMEM);
            }
            // SAFETY: `sb_ptr` is valid and exclusively ours.
            unsafe { (*sb_ptr).s_root = dentry };
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the VFS with a super block of this file system type, once, when it dies.
    unsafe extern "C" fn kill_sb(sb_ptr: *mut bindings::super_block) {
        // SAFETY: `sb_ptr` is valid; non-NULL `s_fs_info` means `fill_super` installed the
        // glue data (NULL: it failed before, and no Rust reference was ever made).
        let glue = unsafe { (*sb_ptr).s_fs_info }.cast::<SbGlue<T>>();
        if !glue.is_null() {
            // SAFETY: The glue data lives until it is dropped below.
            let g = unsafe { &*glue };
            // Inode references whose `iput` was deferred are released before anything is
            // shut down: none is new (each was counted while an active reference was held,
            // and there are none left), and an unmount returns only after them.
            g.release.wait_pending();
            // No periodic hook may run once the shutdown starts.
            g.periodic.disable_sync();
        }
        // SAFETY: `sb_ptr` is a valid block-device super block.
        unsafe { bindings::kill_block_super(sb_ptr) };
        if !glue.is_null() {
            // SAFETY: `glue` came from `KBox::into_raw` in `fill_super`; every inode (the only
            // other users of the data) is gone after `kill_block_super`, the works are idle
            // (the periodic one disabled; the release one, if it runs this, no longer uses
            // the glue data), and nothing is pending.
            let glue = unsafe { KBox::from_raw(glue) };
            if !glue.data.is_null() {
                // SAFETY: By the invariants of `SbGlue`, non-NULL `data` came from
                // `into_foreign` and is given back only here.
                drop(unsafe { <T::Data as ForeignOwnable>::from_foreign(glue.data) });
            }
            drop(glue);
        }
    }

    /// # Safety
    ///
    /// Called by the VFS with a super block of this file system type.
    unsafe extern "C" fn alloc_inode(sb: *mut bindings::super_block) -> *mut bindings::inode {
        // SAFETY: `sb` is of type `T`.
        let cache = unsafe { Registration::<T>::cache_of(sb) };
        // SAFETY: `cache` holds objects of `INodeWithData<T::INodeData>`.
        let ptr = unsafe { bindings::alloc_inode_sb(sb, cache, bindings::GFP_KERNEL) }
            .cast::<INodeWithData<T::INodeData>>();
        if ptr.is_null() {
            return core::ptr::null_mut();
        }
        // SAFETY: `ptr` is a fresh object of the inode cache, whose constructor is
        // `INodeWithData::init_once` (`InodeCache::new`).
        unsafe {
            INodeWithData::init_empty(ptr);
            (*ptr).inode.get()
        }
    }

    /// # Safety
    ///
    /// Called by the VFS after an RCU grace period for an inode from `alloc_inode`.
    ///
    /// The super block may already be freed then (its own RCU callback can run first, on
    /// another CPU), so neither it nor the registration is looked at: `kfree` takes objects
    /// of any `kmem_cache` and finds their cache itself. The registration's `rcu_barrier`
    /// keeps the cache (and this code) alive until every such callback has run.
    unsafe extern "C" fn free_inode(inode: *mut bindings::inode) {
        // SAFETY: The inode was allocated by `alloc_inode` of this type, from the inode cache.
        unsafe {
            let ptr = INodeWithData::<T::INodeData>::from_inode(inode);
            INodeWithData::drop_data(ptr);
            bindings::kfree(ptr.cast());
        }
    }

    /// # Safety
    ///
    /// Called by the VFS with an inode of this type being evicted.
    unsafe extern "C" fn evict_inode(inode: *mut bindings::inode) {
        // SAFETY: The inode is valid and being evicted, so nobody else uses its page cache.
        unsafe { bindings::truncate_inode_pages_final(&raw mut (*inode).i_data) };
        if T::HAS_EVICT_INODE {
            // SAFETY: The inode was allocated by `alloc_inode`.
            let container = unsafe { INodeWithData::<T::INodeData>::from_inode(inode) };
            // SAFETY: As above; an inode that never got its data (failed `iget`) is skipped.
            if unsafe { INodeWithData::has_data(container) } {
                // SAFETY: The data is initialised; the VFS keeps the inode's memory until
                // `destroy_inode`, after this call. Its count is zero: only a view is given.
                T::evict_inode(unsafe { INodeView::from_raw_view(inode) });
            }
        }
        // SAFETY: The inode is valid.
        unsafe { bindings::clear_inode(inode) };
    }

    /// # Safety
    ///
    /// Called by the VFS with a dirty, initialised inode of this type.
    unsafe extern "C" fn write_inode(
        inode: *mut bindings::inode,
        wbc: *mut bindings::writeback_control,
    ) -> c_int {
        from_result(|| {
            // SAFETY: `wbc` is valid for the call.
            let sync = unsafe { (*wbc).sync_mode } == bindings::writeback_sync_modes_WB_SYNC_ALL;
            // SAFETY: Only initialised inodes are written back (an inode that failed `iget` is
            // bad and never dirty); the VFS keeps it alive for the call (`I_SYNC`), but its
            // count may be zero: only a view is given.
            T::write_inode(unsafe { INodeView::from_raw_view(inode) }, sync)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the VFS with a mounted super block of this type.
    unsafe extern "C" fn put_super(sb: *mut bindings::super_block) {
        // SAFETY: The private data is still set; it is dropped only in `kill_sb`.
        T::put_super(unsafe { SuperBlock::from_raw(sb) });
    }

    /// # Safety
    ///
    /// Called by the super block's shrinker (`super_cache_count`) with a super block of this
    /// type that has `SB_BORN` set, before `deactivate_locked_super` freed the shrinker.
    unsafe extern "C" fn nr_cached_objects(
        sb: *mut bindings::super_block,
        _sc: *mut bindings::shrink_control,
    ) -> c_long {
        // SAFETY: `SB_BORN` is set only once `fill_super` succeeded, so the private data is in
        // place; `kill_sb`, which drops it, runs only after `shrinker_free` waited for this
        // call. So the super block is ready for the whole call.
        let n = T::nr_cached_objects(unsafe { SuperBlock::from_raw(sb) });
        c_long::try_from(n).unwrap_or(c_long::MAX)
    }

    /// # Safety
    ///
    /// Called by the super block's shrinker (`super_cache_scan`) with a super block of this
    /// type that has `SB_BORN` set and not `SB_DYING`, with `s_umount` held shared, and a
    /// valid shrink control.
    unsafe extern "C" fn free_cached_objects(
        sb: *mut bindings::super_block,
        sc: *mut bindings::shrink_control,
    ) -> c_long {
        // SAFETY: `sc` is valid for the call (the kernel's `c_ulong` is `usize`).
        let nr: usize = unsafe { (*sc).nr_to_scan };
        // SAFETY: As in `nr_cached_objects`; `s_umount` held shared also keeps `kill_sb` away.
        let n = T::free_cached_objects(unsafe { SuperBlock::from_raw(sb) }, nr);
        c_long::try_from(n).unwrap_or(c_long::MAX)
    }

    /// # Safety
    ///
    /// Called by the VFS with a mounted super block of this type.
    unsafe extern "C" fn sync_fs(sb: *mut bindings::super_block, wait: c_int) -> c_int {
        from_result(|| {
            // SAFETY: The super block is mounted.
            T::sync_fs(unsafe { SuperBlock::from_raw(sb) }, wait != 0)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the VFS with a seq_file being filled for `/proc/mounts` and the root of a
    /// mounted super block of this type.
    unsafe extern "C" fn show_options(
        m: *mut bindings::seq_file,
        root: *mut bindings::dentry,
    ) -> c_int {
        from_result(|| {
            // SAFETY: The root dentry belongs to a mounted super block.
            let sb = unsafe { SuperBlock::<T, Ready>::from_raw((*root).d_sb) };
            // SAFETY: The seq_file is valid and used only by this thread during the call.
            T::show_options(sb, unsafe { SeqFile::from_raw(m) })?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by `freeze_super` with a mounted, writable super block of this type.
    unsafe extern "C" fn freeze_fs(sb: *mut bindings::super_block) -> c_int {
        from_result(|| {
            // SAFETY: The super block is mounted.
            T::freeze_fs(unsafe { SuperBlock::from_raw(sb) })?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by `thaw_super` with a frozen super block of this type.
    unsafe extern "C" fn unfreeze_fs(sb: *mut bindings::super_block) -> c_int {
        from_result(|| {
            // SAFETY: The super block is mounted.
            T::unfreeze_fs(unsafe { SuperBlock::from_raw(sb) })?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by `fs_bdev_mark_dead` with a super block of this type that is active and has a
    /// root (its `fill_super` succeeded) and is not dying (`SB_DYING` checked with `s_umount`
    /// held), with `s_umount` held shared for the whole call.
    unsafe extern "C" fn shutdown(sb: *mut bindings::super_block) {
        // SAFETY: `fill_super` succeeded, so the private data is in place; `kill_sb` drops it
        // only after `generic_shutdown_super` has set `SB_DYING` with `s_umount` held
        // exclusively, which cannot happen while this call holds it shared. So the super
        // block is ready for the whole call.
        T::shutdown(unsafe { SuperBlock::from_raw(sb) });
    }

    /// # Safety
    ///
    /// Called by the VFS with a dentry of a mounted super block of this type.
    unsafe extern "C" fn statfs(
        dentry: *mut bindings::dentry,
        buf: *mut bindings::kstatfs,
    ) -> c_int {
        from_result(|| {
            // SAFETY: The dentry is valid and belongs to a mounted super block.
            let sb_ptr = unsafe { (*dentry).d_sb };
            // SAFETY: As above.
            let sb = unsafe { SuperBlock::<T, Ready>::from_raw(sb_ptr) };
            let st = T::statfs(sb)?;
            // SAFETY: `buf` is valid for writes; `s_bdev` is valid.
            unsafe {
                let b = &mut *buf;
                b.f_type = st.magic as isize;
                b.f_bsize = st.block_size as isize;
                b.f_frsize = st.block_size as isize;
                b.f_blocks = st.blocks;
                b.f_bfree = st.free_blocks;
                b.f_bavail = st.avail_blocks;
                b.f_files = st.files;
                b.f_ffree = st.free_files;
                b.f_namelen = st.name_len as isize;
                let dev = u64::from((*(*sb_ptr).s_bdev).bd_dev);
                b.f_fsid.val = [dev as i32, (dev >> 32) as i32];
            }
            Ok(0)
        })
    }
}

/// Declares a kernel module whose only job is to register a file system type.
///
/// # Examples
///
/// ```ignore
/// use kernel::prelude::*;
/// use kernel::fs;
/// use kernel::sync::aref::ARef;
///
/// struct MyFs;
/// #[vtable]
/// impl fs::FileSystem for MyFs {
///     const NAME: &'static CStr = c"myfs";
///     type Data = ();
///     type INodeData = ();
///     fn fill_super(_sb: &mut fs::SuperBlock<Self, fs::New>) -> Result<()> {
///         Err(EINVAL)
///     }
///     fn init_root(_sb: &fs::SuperBlock<Self>) -> Result<ARef<fs::INode<Self>>> {
///         Err(EINVAL)
///     }
/// }
///
/// kernel::module_fs! {
///     type: MyFs,
///     name: "myfs",
///     authors: ["Someone"],
///     description: "My file system",
///     license: "GPL",
/// }
/// ```
#[macro_export]
macro_rules! module_fs {
    (type: $type:ty, $($f:tt)*) => {
        /// The module object: holds the file system type's registration.
        #[$crate::prelude::pin_data]
        struct FsModule {
            #[pin]
            _reg: $crate::fs::Registration<$type>,
        }

        impl $crate::InPlaceModule for FsModule {
            fn init(
                module: &'static $crate::ThisModule,
            ) -> impl ::pin_init::PinInit<Self, $crate::error::Error> {
                $crate::try_pin_init!(Self {
                    // SAFETY: The registration lives in this module object, which is dropped
                    // only when the module is unloaded, once nothing is mounted.
                    _reg <- unsafe { $crate::fs::Registration::new(module) },
                })
            }
        }

        $crate::prelude::module! {
            type: FsModule,
            $($f)*
        }
    };
}

#[kunit_tests(rust_fs_registration)]
mod tests {
    use super::*;

    struct TestFs;

    #[vtable]
    impl FileSystem for TestFs {
        const NAME: &'static CStr = c"rust_fs_test";
        type Data = ();
        type INodeData = ();

        fn fill_super(_sb: &mut SuperBlock<Self, New>) -> Result<()> {
            Err(EINVAL)
        }

        fn init_root(_sb: &SuperBlock<Self, Ready>) -> Result<ARef<INode<Self>>> {
            Err(EINVAL)
        }
    }

    struct FullFs;

    #[vtable]
    impl FileSystem for FullFs {
        const NAME: &'static CStr = c"rust_fs_full";
        type Data = ();
        type INodeData = ();

        fn fill_super(_sb: &mut SuperBlock<Self, New>) -> Result<()> {
            Err(EINVAL)
        }

        fn init_root(_sb: &SuperBlock<Self, Ready>) -> Result<ARef<INode<Self>>> {
            Err(EINVAL)
        }

        fn statfs(_sb: &SuperBlock<Self, Ready>) -> Result<Stat> {
            Ok(Stat::default())
        }

        fn sync_fs(_sb: &SuperBlock<Self, Ready>, _wait: bool) -> Result {
            Ok(())
        }

        fn put_super(_sb: &SuperBlock<Self, Ready>) {}

        fn nr_cached_objects(_sb: &SuperBlock<Self, Ready>) -> usize {
            0
        }

        fn free_cached_objects(_sb: &SuperBlock<Self, Ready>, _nr: usize) -> usize {
            0
        }

        fn write_inode(_inode: &INodeView<Self>, _sync: bool) -> Result {
            Ok(())
        }

        fn evict_inode(_inode: &INodeView<Self>) {}

        fn remount(_sb: &SuperBlock<Self, Ready>, _ro: bool) -> Result {
            Ok(())
        }

        const PARAMETERS: Option<&'static ParamTable> = Some(&PARAMS);

        fn reconfigure(_sb: &SuperBlock<Self, Ready>, _opts: &MountOptions) -> Result {
            Ok(())
        }

        fn show_options(_sb: &SuperBlock<Self, Ready>, _m: &SeqFile) -> Result {
            Ok(())
        }

        fn freeze_fs(_sb: &SuperBlock<Self, Ready>) -> Result {
            Ok(())
        }

        fn unfreeze_fs(_sb: &SuperBlock<Self, Ready>) -> Result {
            Ok(())
        }

        fn shutdown(_sb: &SuperBlock<Self, Ready>) {}
    }

    static PARAMS: ParamTable = ParamTable::new(&[super::super::param::Param::flag(c"x")]);

    /// Options but no remount hooks: options are parsed, remounts keep the C default.
    struct OptsOnlyFs;

    #[vtable]
    impl FileSystem for OptsOnlyFs {
        const NAME: &'static CStr = c"rust_fs_opts";
        type Data = ();
        type INodeData = ();

        fn fill_super(_sb: &mut SuperBlock<Self, New>) -> Result<()> {
            Err(EINVAL)
        }

        fn init_root(_sb: &SuperBlock<Self, Ready>) -> Result<ARef<INode<Self>>> {
            Err(EINVAL)
        }

        const PARAMETERS: Option<&'static ParamTable> = Some(&PARAMS);

        fn freeze_fs(_sb: &SuperBlock<Self, Ready>) -> Result {
            Ok(())
        }
    }

    #[test]
    fn context_operations_table() {
        let ops = &Tables::<TestFs>::CONTEXT;
        // Mounting goes through get_tree_bdev(); everything else keeps the C defaults.
        assert!(ops.get_tree.is_some());
        assert!(ops.free.is_none());
        assert!(ops.dup.is_none());
        assert!(ops.parse_param.is_none());
        assert!(ops.parse_monolithic.is_none());
        // Always there: it refuses a remount read-write after an error.
        assert!(ops.reconfigure.is_some());
        assert!(Tables::<FullFs>::CONTEXT.reconfigure.is_some());
        // A parameter table brings parse_param and the free hook of its options.
        let full = &Tables::<FullFs>::CONTEXT;
        assert!(full.parse_param.is_some() && full.free.is_some());
        assert!(full.parse_monolithic.is_none() && full.dup.is_none());
        let opts = &Tables::<OptsOnlyFs>::CONTEXT;
        assert!(opts.parse_param.is_some() && opts.free.is_some());
    }

    #[test]
    fn freeze_hooks_are_independent() {
        let o = &Tables::<OptsOnlyFs>::SUPER;
        assert!(o.freeze_fs.is_some());
        assert!(o.unfreeze_fs.is_none());
        assert!(o.show_options.is_none());
        let f = &Tables::<FullFs>::SUPER;
        assert!(f.freeze_fs.is_some() && f.unfreeze_fs.is_some() && f.show_options.is_some());
        // Hooks rextfs does not use stay NULL everywhere.
        assert!(f.freeze_super.is_none() && f.thaw_super.is_none());
    }

    #[test]
    fn minimal_super_operations() {
        let ops = &Tables::<TestFs>::SUPER;
        // Inode allocation always goes through the per-type cache.
        assert!(ops.alloc_inode.is_some());
        assert!(ops.free_inode.is_some());
        assert!(ops.destroy_inode.is_none());
        assert!(ops.evict_inode.is_some());
        // Optional hooks left out stay NULL.
        assert!(ops.statfs.is_none());
        assert!(ops.sync_fs.is_none());
        assert!(ops.put_super.is_none());
        assert!(ops.write_inode.is_none());
        assert!(ops.show_options.is_none());
        assert!(ops.freeze_fs.is_none());
        assert!(ops.shutdown.is_none());
        assert!(ops.nr_cached_objects.is_none() && ops.free_cached_objects.is_none());
    }

    #[test]
    fn full_super_operations() {
        let ops = &Tables::<FullFs>::SUPER;
        assert!(ops.statfs.is_some());
        assert!(ops.sync_fs.is_some());
        assert!(ops.put_super.is_some());
        assert!(ops.write_inode.is_some());
        assert!(ops.evict_inode.is_some());
        assert!(ops.shutdown.is_some());
        assert!(ops.nr_cached_objects.is_some() && ops.free_cached_objects.is_some());
    }

    #[test]
    fn error_mapping() {
        // Errors from the Rust side reach C as negative errnos.
        let r: c_int = from_result(|| -> Result<c_int> { Err(EFSCORRUPTED) });
        assert_eq!(r, -(bindings::EUCLEAN as c_int));
        let r: c_int = from_result(|| -> Result<c_int> { Err(EINVAL) });
        assert_eq!(r, -(bindings::EINVAL as c_int));
        assert_eq!(to_result(-(bindings::EIO as c_int)), Err(EIO));
    }
}
