// SPDX-License-Identifier: GPL-2.0

//! Super blocks (`struct super_block`).
//!
//! A [`SuperBlock`] carries a typestate: while [`FileSystem::fill_super`] runs it is
//! [`New`], and only then may the block size and other geometry be set; once mounted it is
//! [`Ready`] and gives access to the file system's private data.
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h).

use super::registration::FileSystem;
use crate::{
    bindings,
    error::to_result,
    prelude::*,
    str::CStrExt,
    types::{ForeignOwnable, Opaque},
};
use core::marker::PhantomData;

/// Size of a sector, the unit of block device I/O.
const SECTOR_SIZE: u64 = 512;

/// Typestate of a [`SuperBlock`].
pub trait SbState: private::Sealed {}

/// The super block is being filled in by [`FileSystem::fill_super`].
pub struct New;

/// The super block is fully set up and its private data is available.
pub struct Ready;

impl SbState for New {}
impl SbState for Ready {}

mod private {
    pub trait Sealed {}
    impl Sealed for super::New {}
    impl Sealed for super::Ready {}
}

/// A super block of file system `T`, in state `S`.
///
/// # Invariants
///
/// The wrapped `struct super_block` belongs to file system type `T`. In state [`Ready`] its
/// `s_fs_info` points to the registration glue's `SbGlue`,
/// which holds a `T::Data`.
#[repr(transparent)]
pub struct SuperBlock<T: FileSystem, S: SbState = Ready> {
    sb: Opaque<bindings::super_block>,
    _p: PhantomData<(T, S)>,
}

impl<T: FileSystem, S: SbState> SuperBlock<T, S> {
    /// Returns the raw `struct super_block` pointer.
    pub fn as_raw(&self) -> *mut bindings::super_block {
        self.sb.get()
    }

    /// Returns the name of the device (`s_id`), for log messages.
    pub fn id(&self) -> &CStr {
        // SAFETY: `s_id` is a NUL-terminated array that lives as long as the super block.
        unsafe { CStr::from_char_ptr((*self.as_raw()).s_id.as_ptr().cast()) }
    }

    /// Returns the block size in bytes (`s_blocksize`).
    pub fn block_size(&self) -> u32 {
        // SAFETY: `s_blocksize` is set before the super block is handed to the file system.
        unsafe { (*self.as_raw()).s_blocksize as u32 }
    }

    /// Returns the size of the underlying block device in bytes.
    pub fn device_size(&self) -> u64 {
        // SAFETY: A block-device super block has a valid `s_bdev` while it exists.
        unsafe { bindings::bdev_nr_bytes((*self.as_raw()).s_bdev) as u64 }
    }

    /// Checks that `len` bytes from `pos` are whole sectors on the device (`EINVAL` if not).
    fn check_sectors(&self, pos: u64, len: u64) -> Result {
        let end = pos.checked_add(len).ok_or(EINVAL)?;
        if end > self.device_size() || pos % SECTOR_SIZE != 0 || len % SECTOR_SIZE != 0 {
            return Err(EINVAL);
        }
        Ok(())
    }

    /// Writes zeroes to `len` bytes of the device from `pos` (`blkdev_issue_zeroout`), both
    /// multiples of 512; used to hand out allocated blocks that read as zeroes.
    pub fn zeroout(&self, pos: u64, len: u64) -> Result {
        self.check_sectors(pos, len)?;
        // SAFETY: `s_bdev` is valid; the range lies on the device.
        to_result(unsafe {
            bindings::blkdev_issue_zeroout(
                (*self.as_raw()).s_bdev,
                pos >> 9,
                len >> 9,
                bindings::GFP_KERNEL,
                0,
            )
        })
    }

    /// Whether the device accepts discards (`bdev_max_discard_sectors` is not 0), and their
    /// granularity in bytes (`bdev_discard_granularity`): `None` for a device without
    /// discard support, where `FITRIM` answers `EOPNOTSUPP`.
    pub fn discard_granularity(&self) -> Option<u32> {
        // SAFETY: `s_bdev` is valid while the super block exists.
        let bdev = unsafe { (*self.as_raw()).s_bdev };
        // SAFETY: As above; both read the queue limits of a live device.
        let (max, gran) = unsafe {
            (
                bindings::bdev_max_discard_sectors(bdev),
                bindings::bdev_discard_granularity(bdev),
            )
        };
        if max == 0 {
            None
        } else {
            Some(gran.max(SECTOR_SIZE as u32))
        }
    }

    /// Discards `len` bytes of the device from `pos` (`blkdev_issue_discard`), both
    /// multiples of 512, and waits for it: the device may forget what those sectors held.
    /// Only for ranges the file system does not use (e.g. free blocks for `FITRIM`, with
    /// allocation held off); `EOPNOTSUPP` if the device cannot discard.
    pub fn discard(&self, pos: u64, len: u64) -> Result {
        self.check_sectors(pos, len)?;
        if self.discard_granularity().is_none() {
            return Err(EOPNOTSUPP);
        }
        // SAFETY: `s_bdev` is valid; the range lies on the device.
        to_result(unsafe {
            bindings::blkdev_issue_discard(
                (*self.as_raw()).s_bdev,
                pos >> 9,
                len >> 9,
                bindings::GFP_NOFS,
            )
        })
    }

    /// Tells whether the file system is mounted read-only (`SB_RDONLY`).
    pub fn is_read_only(&self) -> bool {
        // SAFETY: `s_flags` is read atomically; it changes under `s_umount` only.
        let flags = unsafe { core::ptr::read_volatile(&raw const (*self.as_raw()).s_flags) };
        flags as u64 & bindings::SB_RDONLY as u64 != 0
    }

    /// Writes back and drops the block device's page cache (`sync_blockdev` +
    /// `invalidate_bdev`), so that its users (e.g. fsck after unmount) do not see copies made
    /// stale by the file system's own bios (metadata through [`super::bdev`], data through
    /// iomap).
    pub fn invalidate_device_cache(&self) -> Result {
        self.sync_device()?;
        // SAFETY: `s_bdev` is valid while the super block exists.
        unsafe { bindings::invalidate_bdev((*self.as_raw()).s_bdev) };
        Ok(())
    }

    /// Writes back every dirty page of the block device and waits for it (`sync_blockdev`).
    pub fn sync_device(&self) -> Result {
        // SAFETY: `s_bdev` is valid while the super block exists.
        to_result(unsafe { bindings::sync_blockdev((*self.as_raw()).s_bdev) })
    }

    /// Flushes the device's volatile write cache (`blkdev_issue_flush`), making everything
    /// written so far durable.
    pub fn flush_device(&self) -> Result {
        // SAFETY: `s_bdev` is valid while the super block exists.
        to_result(unsafe { bindings::blkdev_issue_flush((*self.as_raw()).s_bdev) })
    }

    /// Returns the largest file size in bytes (`s_maxbytes`).
    pub fn max_bytes(&self) -> i64 {
        // SAFETY: `s_maxbytes` is set before the super block is mounted and never changes.
        unsafe { (*self.as_raw()).s_maxbytes }
    }

    /// Makes the file system read-only after an error (sets `SB_RDONLY`, as ext2's and
    /// ext4's error handlers do with `errors=remount-ro`): new writers (`mnt_want_write`) fail
    /// with `EROFS` from now on, and writes that are already past that check complete. The
    /// file system must check [`SuperBlock::is_read_only`] in its own write paths that do not
    /// go through the VFS checks (e.g. on files opened for writing before). Returns `true` if
    /// it was writable before.
    pub fn force_read_only(&self) -> bool {
        let ptr = self.sb_flags_ptr();
        // SAFETY: `s_flags` is a naturally aligned `unsigned long` living as long as the super
        // block; the VFS updates it under `s_umount`, and the atomic OR only adds a bit, as C
        // error handlers do concurrently with readers.
        let old = unsafe { core::sync::atomic::AtomicUsize::from_ptr(ptr) }
            .fetch_or(bindings::SB_RDONLY, core::sync::atomic::Ordering::SeqCst);
        old & bindings::SB_RDONLY == 0
    }

    fn sb_flags_ptr(&self) -> *mut usize {
        // SAFETY: The super block is valid; `s_flags` is an `unsigned long`.
        unsafe { (&raw mut (*self.as_raw()).s_flags).cast() }
    }

    /// Returns the block device of this super block, for I/O mappings (`s_bdev`).
    pub fn bdev(&self) -> *mut bindings::block_device {
        // SAFETY: `s_bdev` is valid while the super block exists.
        unsafe { (*self.as_raw()).s_bdev }
    }
}

/// Returns the current wall-clock time (`ktime_get_real_ts64`), for on-disk time stamps.
pub fn now() -> super::inode::Timespec {
    let mut ts = bindings::timespec64 {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is valid for writes.
    unsafe { bindings::ktime_get_real_ts64(&mut ts) };
    ts.into()
}

impl<T: FileSystem> SuperBlock<T, Ready> {
    /// Creates a reference to a ready super block from a raw pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a super block of type `T` whose `s_fs_info` was set by the glue
    /// and stays valid for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::super_block) -> &'a Self {
        // SAFETY: `SuperBlock` is `repr(transparent)` over the C struct.
        unsafe { &*ptr.cast() }
    }

    /// Returns the file system's private data.
    pub fn data(&self) -> <T::Data as ForeignOwnable>::Borrowed<'_> {
        // SAFETY: By the invariants of `SbGlue`, `data` is a `T::Data` from `into_foreign`,
        // given back only in `kill_sb` after the last user of the super block is gone.
        unsafe { T::Data::borrow(self.glue().data) }
    }

    /// The glue's data of this ready super block.
    pub(crate) fn glue(&self) -> &super::registration::SbGlue<T> {
        // SAFETY: By the type invariants `s_fs_info` points to the glue data, which `kill_sb`
        // drops only after the last user of the super block is gone.
        unsafe {
            &*(*self.as_raw())
                .s_fs_info
                .cast::<super::registration::SbGlue<T>>()
        }
    }

    /// Gets freeze protection for a write the file system makes on its own, outside any
    /// system call that wrote (`sb_start_intwrite`), e.g. freeing an inode's blocks at
    /// eviction: waits while the file system is frozen, and holds a freeze off until the
    /// guard is dropped (`sb_end_intwrite`).
    ///
    /// Context: process context, may sleep. Take it before the file system's own locks and
    /// transactions (a freeze waits for them with the protection of writers already held
    /// off): holding a transaction open while waiting here deadlocks against a freeze, which
    /// lockdep reports. The guard is not `Send`: freeze protection belongs to its task.
    pub fn start_intwrite(&self) -> IntWriteGuard<'_, T> {
        // SAFETY: The super block is ready, so it is alive for the borrow and its freeze
        // protection is initialised; the guard releases it.
        unsafe { bindings::sb_start_intwrite(self.as_raw()) };
        IntWriteGuard {
            sb: self,
            _not_send: PhantomData,
        }
    }

    /// [`SuperBlock::start_intwrite`] without waiting (`sb_start_intwrite_trylock`): `None`
    /// while the file system is frozen or being frozen. Usable where waiting for a thaw could
    /// deadlock (e.g. at eviction, whose caller may hold `s_umount`, which the thaw needs).
    pub fn try_start_intwrite(&self) -> Option<IntWriteGuard<'_, T>> {
        // SAFETY: As in `start_intwrite`; on success the guard releases the protection.
        if !unsafe { bindings::sb_start_intwrite_trylock(self.as_raw()) } {
            return None;
        }
        Some(IntWriteGuard {
            sb: self,
            _not_send: PhantomData,
        })
    }

    /// Writes back every dirty inode and page cache page of the file system, waits for it and
    /// makes it durable with the file system's `sync_fs` (what `syncfs(2)` does: takes
    /// `s_umount` shared and calls `sync_filesystem`).
    ///
    /// Context: process context, may sleep; for a system call of the file system's own (an
    /// ioctl) that holds no VFS lock of this super block. Called with `s_umount` held (any
    /// super operation: `fill_super`, `init_root`, `sync_fs`, `remount`, `freeze_fs`,
    /// `shutdown`...), from inside freeze protection (`write_iter`, `page_mkwrite`, a
    /// namespace operation), from writeback or from [`FileSystem::periodic`] (which unmount
    /// waits for with `s_umount` held), it deadlocks; lockdep reports it. A deadlock is the
    /// worst that can happen: no memory is touched unsafely.
    pub fn sync_filesystem(&self) -> Result {
        let sb = self.as_raw();
        // SAFETY: The super block is ready, so it is alive for the borrow `&self` and its
        // `s_umount` is initialised; taking it shared and releasing it below is what
        // `syncfs(2)` does, and `sync_filesystem` requires it held.
        let r = unsafe {
            bindings::down_read(&raw mut (*sb).s_umount);
            let r = bindings::sync_filesystem(sb);
            bindings::up_read(&raw mut (*sb).s_umount);
            r
        };
        to_result(r)
    }
}

/// Freeze protection of an internal write ([`SuperBlock::start_intwrite`]), released when
/// dropped (`sb_end_intwrite`).
pub struct IntWriteGuard<'a, T: FileSystem> {
    sb: &'a SuperBlock<T, Ready>,
    _not_send: PhantomData<*const ()>,
}

impl<T: FileSystem> Drop for IntWriteGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: `start_intwrite` took the protection in this task for this super block.
        unsafe { bindings::sb_end_intwrite(self.sb.as_raw()) };
    }
}

impl<T: FileSystem> SuperBlock<T, New> {
    /// Creates a mutable reference to a new super block from a raw pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a super block of type `T` that is being filled in, and the caller
    /// must have exclusive access to it for `'a`.
    pub(crate) unsafe fn from_raw_mut<'a>(ptr: *mut bindings::super_block) -> &'a mut Self {
        // SAFETY: `SuperBlock` is `repr(transparent)` over the C struct; exclusivity is
        // guaranteed by the caller.
        unsafe { &mut *ptr.cast() }
    }

    /// Returns the mount options given to this mount, parsed with
    /// [`FileSystem::PARAMETERS`](super::FileSystem::PARAMETERS); `None` when the type takes no
    /// options.
    pub fn mount_options(&self) -> Option<&super::param::MountOptions> {
        // SAFETY: While the super block is new (`fill_super`), the glue lends `s_fs_info` the
        // options owned by the mount's `fs_context`, which outlives the call; it is NULL for
        // types without options.
        unsafe {
            (*self.as_raw())
                .s_fs_info
                .cast::<super::param::MountOptions>()
                .as_ref()
        }
    }

    /// Sets the file system's magic number (`s_magic`).
    pub fn set_magic(&mut self, magic: u64) -> &mut Self {
        // SAFETY: The super block is exclusively ours while it is new.
        unsafe { (*self.as_raw()).s_magic = magic as usize };
        self
    }

    /// Sets the largest file size in bytes (`s_maxbytes`).
    pub fn set_max_bytes(&mut self, max: i64) -> &mut Self {
        // SAFETY: The super block is exclusively ours while it is new.
        unsafe { (*self.as_raw()).s_maxbytes = max.clamp(0, bindings::MAX_LFS_FILESIZE) };
        self
    }

    /// Sets the time stamp granularity in nanoseconds and the supported range in seconds.
    pub fn set_time(&mut self, gran_ns: u32, min: i64, max: i64) -> &mut Self {
        // SAFETY: The super block is exclusively ours while it is new.
        unsafe {
            let sb = &mut *self.as_raw();
            sb.s_time_gran = gran_ns;
            sb.s_time_min = min;
            sb.s_time_max = max;
        }
        self
    }

    /// Sets the block size (`sb_set_blocksize`).
    ///
    /// Fails with `EINVAL` when `size` is not a power of two between 512 bytes and the largest
    /// block size the kernel supports, or smaller than the device's logical block size.
    pub fn set_block_size(&mut self, size: u32) -> Result {
        if !size.is_power_of_two() {
            return Err(EINVAL);
        }
        // SAFETY: The super block is exclusively ours while it is new.
        let r = unsafe { bindings::sb_set_blocksize(self.as_raw(), size as c_int) };
        if r as u32 != size {
            return Err(EINVAL);
        }
        Ok(())
    }
}

#[kunit_tests(rust_fs_super_block)]
pub(crate) mod tests {
    use super::*;
    use crate::fs::param::{MountOptions, Value};
    use crate::sync::aref::ARef;

    /// A file system type that is never registered, for KUnit cases that need a
    /// [`SuperBlock`] type (here and in `buffer.rs`).
    pub(crate) struct Fs;
    #[vtable]
    impl FileSystem for Fs {
        const NAME: &'static CStr = c"rust_sb_test";
        type Data = ();
        type INodeData = ();
        fn fill_super(_sb: &mut SuperBlock<Self, New>) -> Result<()> {
            Err(EINVAL)
        }
        fn init_root(_sb: &SuperBlock<Self>) -> Result<ARef<crate::fs::INode<Self>>> {
            Err(EINVAL)
        }
    }

    fn zeroed_sb() -> KBox<bindings::super_block> {
        let b = KBox::<bindings::super_block>::new_uninit(GFP_KERNEL).unwrap();
        // SAFETY: An all-zero `super_block` is a valid (unmounted) value for these tests,
        // which only touch `s_fs_info` and `s_flags`.
        unsafe {
            core::ptr::write_bytes(b.as_ptr().cast_mut(), 0, 1);
            b.assume_init()
        }
    }

    #[test]
    fn new_state_sees_lent_options_only() {
        let mut raw = zeroed_sb();
        let ptr: *mut bindings::super_block = &mut *raw;
        // SAFETY: `raw` is exclusively ours; no options are lent (types without PARAMETERS).
        let sb = unsafe { SuperBlock::<Fs, New>::from_raw_mut(ptr) };
        assert!(sb.mount_options().is_none());
        let mut opts = MountOptions::new();
        opts.set(0, Value::Flag(true)).unwrap();
        // Lend the options as the glue does during fill_super.
        // SAFETY: `raw` is ours; `opts` outlives the use below.
        unsafe { (*ptr).s_fs_info = (&raw mut opts).cast() };
        // SAFETY: As above.
        let sb = unsafe { SuperBlock::<Fs, New>::from_raw_mut(ptr) };
        assert_eq!(sb.mount_options().and_then(|o| o.flag(0)), Some(true));
        // SAFETY: Stop lending before `opts` goes away.
        unsafe { (*ptr).s_fs_info = core::ptr::null_mut() };
    }

    #[test]
    fn force_read_only_sets_the_flag_once() {
        let mut raw = zeroed_sb();
        raw.s_flags = bindings::SB_NOATIME;
        let ptr: *mut bindings::super_block = &mut *raw;
        // SAFETY: `raw` is exclusively ours and `Ready` methods used here only touch
        // `s_flags`.
        let sb = unsafe { SuperBlock::<Fs, Ready>::from_raw(ptr) };
        assert!(!sb.is_read_only());
        assert!(sb.force_read_only());
        assert!(sb.is_read_only());
        // Already read-only: reported as such, nothing else changes.
        assert!(!sb.force_read_only());
        assert_eq!(
            raw.s_flags as u64,
            (bindings::SB_NOATIME | bindings::SB_RDONLY) as u64
        );
    }

    #[test]
    fn block_size_rules() {
        let mut raw = zeroed_sb();
        let ptr: *mut bindings::super_block = &mut *raw;
        // SAFETY: `raw` is exclusively ours; the refused sizes fail before any use of the
        // (absent) block device.
        let sb = unsafe { SuperBlock::<Fs, New>::from_raw_mut(ptr) };
        assert_eq!(sb.set_block_size(3000), Err(EINVAL));
        assert_eq!(sb.set_block_size(0), Err(EINVAL));
        sb.set_magic(0x1234).set_time(1, -5, 5);
        assert_eq!(raw.s_magic, 0x1234);
        assert_eq!(
            (raw.s_time_gran, raw.s_time_min, raw.s_time_max),
            (1, -5, 5)
        );
    }
}
