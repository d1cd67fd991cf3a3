// SPDX-License-Identifier: GPL-2.0

//! File system types: registration of a `struct file_system_type` and mounting of
//! block-device file systems through the `fs_context` API.
//!
//! A file system implements [`FileSystem`] and is registered with [`Registration`], usually
//! through [`module_fs!`](crate::module_fs). Mounting follows C's `get_tree_bdev()` path:
//! the VFS opens the block device, allocates a `struct super_block` and calls
//! [`FileSystem::fill_super`] with it in the [`New`] state. The private data returned by
//! `fill_super` is stored in `sb->s_fs_info` and dropped by `kill_sb` only after
//! `kill_block_super()` has written back and evicted every inode, so no inode operation can
//! observe it freed.
//!
//! C headers: [`include/linux/fs.h`](srctree/include/linux/fs.h),
//! [`include/linux/fs_context.h`](srctree/include/linux/fs_context.h).

use super::super_block::{New, SuperBlock};
use crate::{
    bindings,
    error::{from_result, to_result},
    prelude::*,
    str::CStrExt,
    types::{ForeignOwnable, Opaque},
    ThisModule,
};
use core::marker::PhantomData;

/// A block-device file system type (`struct file_system_type` with `FS_REQUIRES_DEV`).
pub trait FileSystem: Sized + Send + Sync + 'static {
    /// The name of the file system type, as listed in `/proc/filesystems` and given to
    /// `mount -t`.
    const NAME: &'static CStr;

    /// Private data of a mounted file system, kept in `sb->s_fs_info`.
    type Data: ForeignOwnable + Send + Sync;

    /// Reads and validates the on-disk super block and fills in `sb` (C's `fill_super`).
    ///
    /// Called with `sb->s_umount` held and the block device opened. An error fails the mount;
    /// the file system should log why with the device name ([`SuperBlock::id`]).
    fn fill_super(sb: &mut SuperBlock<Self, New>) -> Result<Self::Data>;
}

/// A registered file system type.
///
/// # Invariants
///
/// `fs` holds a `struct file_system_type` that is registered with `register_filesystem()` for
/// the whole lifetime of the [`Registration`]; it is unregistered exactly once, in `drop`.
#[pin_data(PinnedDrop)]
pub struct Registration<T: FileSystem> {
    #[pin]
    fs: Opaque<bindings::file_system_type>,
    _p: PhantomData<T>,
}

// SAFETY: `register_filesystem` and `unregister_filesystem` may be called from any thread.
unsafe impl<T: FileSystem> Send for Registration<T> {}

// SAFETY: A `&Registration` gives no access to the file system type.
unsafe impl<T: FileSystem> Sync for Registration<T> {}

impl<T: FileSystem> Registration<T> {
    /// Registers the file system type `T`, owned by `module`.
    ///
    /// The registration embeds the type's lockdep class keys, so it must live in static
    /// storage (as the module object built by [`module_fs!`](crate::module_fs) does).
    pub fn new(module: &'static ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            fs <- Opaque::try_ffi_init(|fs_ptr: *mut bindings::file_system_type| {
                // SAFETY: `fs_ptr` is valid for writes; an all-zero `file_system_type` is valid.
                unsafe { fs_ptr.write(pin_init::zeroed()) };
                // SAFETY: `fs_ptr` was just initialised and nothing else references it yet.
                let fs = unsafe { &mut *fs_ptr };
                fs.owner = module.as_ptr();
                fs.name = T::NAME.as_char_ptr();
                fs.fs_flags = bindings::FS_REQUIRES_DEV as c_int;
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
}

#[pinned_drop]
impl<T: FileSystem> PinnedDrop for Registration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: By the type invariants, `fs` is registered.
        unsafe { bindings::unregister_filesystem(self.fs.get()) };
    }
}

/// The C callbacks of a file system type.
struct Tables<T: FileSystem>(PhantomData<T>);

impl<T: FileSystem> Tables<T> {
    const CONTEXT: bindings::fs_context_operations = bindings::fs_context_operations {
        free: None,
        dup: None,
        parse_param: None,
        parse_monolithic: None,
        get_tree: Some(Self::get_tree),
        reconfigure: None,
    };

    /// # Safety
    ///
    /// `fc` must be a valid `fs_context` being set up for this file system type.
    unsafe extern "C" fn init_fs_context(fc: *mut bindings::fs_context) -> c_int {
        // SAFETY: By the safety requirements, `fc` is valid; `CONTEXT` is static.
        unsafe { (*fc).ops = &Self::CONTEXT };
        0
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
    /// Called by `get_tree_bdev` with a new, locked super block of this file system type.
    unsafe extern "C" fn fill_super(
        sb_ptr: *mut bindings::super_block,
        _fc: *mut bindings::fs_context,
    ) -> c_int {
        from_result(|| {
            // SAFETY: The super block is new and exclusively ours until `fill_super` returns.
            let sb = unsafe { SuperBlock::<T, New>::from_raw_mut(sb_ptr) };
            let data = T::fill_super(sb)?;
            // SAFETY: `sb_ptr` is valid; `kill_sb` takes the data back with `from_foreign`.
            unsafe { (*sb_ptr).s_fs_info = data.into_foreign() };
            // SAFETY: `sb_ptr` is valid.
            if unsafe { (*sb_ptr).s_root }.is_null() {
                // No root dentry could be created: refuse the mount rather than let the VFS
                // find a super block without a root.
                return Err(EINVAL);
            }
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the VFS with a super block of this file system type, once, when it dies.
    unsafe extern "C" fn kill_sb(sb_ptr: *mut bindings::super_block) {
        // SAFETY: `sb_ptr` is a valid block-device super block.
        unsafe { bindings::kill_block_super(sb_ptr) };
        // SAFETY: `kill_block_super` does not free the super block itself.
        let data = unsafe { (*sb_ptr).s_fs_info };
        if !data.is_null() {
            // SAFETY: `s_fs_info` was set from `into_foreign` in `fill_super`, and every inode
            // (the only other users of the data) is gone after `kill_block_super`.
            drop(unsafe { <T::Data as ForeignOwnable>::from_foreign(data) });
        }
    }
}

/// Declares a kernel module whose only job is to register a file system type.
///
/// # Examples
///
/// ```ignore
/// use kernel::prelude::*;
/// use kernel::fs;
///
/// struct MyFs;
/// impl fs::FileSystem for MyFs {
///     const NAME: &'static CStr = c"myfs";
///     type Data = ();
///     fn fill_super(_sb: &mut fs::SuperBlock<Self, fs::New>) -> Result<()> {
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
                    _reg <- $crate::fs::Registration::new(module),
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

    impl FileSystem for TestFs {
        const NAME: &'static CStr = c"rust_fs_test";
        type Data = ();

        fn fill_super(_sb: &mut SuperBlock<Self, New>) -> Result<()> {
            Err(EINVAL)
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
        assert!(ops.reconfigure.is_none());
    }
}
