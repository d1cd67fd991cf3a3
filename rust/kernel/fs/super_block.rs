// SPDX-License-Identifier: GPL-2.0

//! Super blocks (`struct super_block`).
//!
//! A [`SuperBlock`] carries a typestate: while [`FileSystem::fill_super`] runs it is
//! [`New`], and only then may the block size and other geometry be set; once mounted it is
//! [`Ready`] and gives access to the file system's private data.
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h).

use super::{periodic::init_work, registration::FileSystem};
use crate::{
    bindings,
    error::to_result,
    prelude::*,
    static_lock_class,
    str::CStrExt,
    types::{ForeignOwnable, Opaque},
};
use core::marker::PhantomData;

/// Lockdep name of the read-only switch's work: a static of this crate, as its key (see
/// `periodic::init_work`).
static READ_ONLY_WORK_NAME: &CStr = c"rust_fs_read_only_switch";

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
/// The wrapped `struct super_block` belongs to file system type `T`, and its `s_fs_info`
/// points to the registration glue's `SbGlue`, which holds a `T::Data` in state [`Ready`]
/// and lends the mount options in state [`New`].
#[repr(transparent)]
pub struct SuperBlock<T: FileSystem, S: SbState = Ready> {
    sb: Opaque<bindings::super_block>,
    _p: PhantomData<(T, S)>,
}

impl<T: FileSystem, S: SbState> SuperBlock<T, S> {
    /// Returns the raw `struct super_block` pointer.
    #[inline]
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

    /// Tells whether the file system is read-only: mounted read-only (`SB_RDONLY`), or made
    /// read-only after an error ([`SuperBlock::force_read_only`]).
    pub fn is_read_only(&self) -> bool {
        self.sb_rdonly() || self.glue_any().read_only.is_forced()
    }

    /// The glue's data, in any state.
    fn glue_any(&self) -> &super::registration::SbGlue<T> {
        // SAFETY: By the type invariants `s_fs_info` points to the glue data, which lives
        // until `kill_sb`, after the last user of the super block.
        unsafe {
            &*(*self.as_raw())
                .s_fs_info
                .cast::<super::registration::SbGlue<T>>()
        }
    }

    /// Tells whether `SB_RDONLY` is set.
    fn sb_rdonly(&self) -> bool {
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

    /// Makes the file system read-only after an error (what ext4's error handler does with
    /// `errors=remount-ro`), from any context that may not sleep too: at once for
    /// [`SuperBlock::is_read_only`], which the file system must check in its own write paths
    /// (e.g. on files opened for writing before), and soon for the VFS, whose new writers
    /// (`mnt_want_write`) then fail with `EROFS`: `SB_RDONLY` is set by a work item with
    /// `s_umount` held, as every change of `s_flags` must be (writes already past the VFS
    /// check complete). A remount read-write is refused with `EROFS` from now on. Returns
    /// `true` if it was writable before.
    pub fn force_read_only(&self) -> bool {
        self.glue_any().read_only.force(self.as_raw())
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
        // SAFETY: By the type invariants `s_fs_info` points to the glue data. While the super
        // block is new (`fill_super`), it lends the options owned by the mount's
        // `fs_context`, which outlives the call; the pointer is NULL for types without
        // options.
        unsafe {
            (*(*self.as_raw())
                .s_fs_info
                .cast::<super::registration::SbGlue<T>>())
            .options
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

/// The switch of a super block to read-only after an error ([`SuperBlock::force_read_only`]),
/// in its glue data: a flag that [`SuperBlock::is_read_only`] sees at once, and a work item
/// that sets `SB_RDONLY` with `s_umount` held. Not the atomic OR of `s_flags` that C error
/// handlers once used: a remount rewrites `s_flags` under `s_umount` with plain stores and
/// would lose the bit (ext4 keeps a flag of its own since 6.6 for that reason).
///
/// # Invariants
///
/// `work` is initialised with [`ReadOnlySwitch::run`] as its function; whenever it is
/// queued, `sb` is the super block whose glue data holds this, and the work owns one of its
/// active references. It is queued at most once: by the call that set `forced`.
#[pin_data]
pub(crate) struct ReadOnlySwitch {
    #[pin]
    work: Opaque<bindings::work_struct>,
    forced: core::sync::atomic::AtomicBool,
    sb: *mut bindings::super_block,
}

impl ReadOnlySwitch {
    /// The switch of `sb`, not forced.
    ///
    /// # Safety
    ///
    /// If it may ever be forced, `sb` must be the super block whose glue data holds it.
    pub(crate) unsafe fn new(sb: *mut bindings::super_block) -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `slot` is pinned memory that lives as long as the glue data; `run` takes
            // the work of a `ReadOnlySwitch`.
            work <- Opaque::ffi_init(|slot| unsafe {
                init_work(slot, Self::run, READ_ONLY_WORK_NAME, static_lock_class!())
            }),
            forced: core::sync::atomic::AtomicBool::new(false),
            sb,
        })
    }

    /// Whether the file system was made read-only after an error.
    pub(crate) fn is_forced(&self) -> bool {
        self.forced.load(core::sync::atomic::Ordering::Acquire)
    }

    /// Forces `sb` read-only; `true` if it was writable before. Does not sleep.
    fn force(&self, sb: *mut bindings::super_block) -> bool {
        if self.forced.swap(true, core::sync::atomic::Ordering::AcqRel) {
            return false;
        }
        // SAFETY: `sb` is the super block whose glue data holds us, alive for the borrow.
        let rdonly = unsafe { core::ptr::read_volatile(&raw const (*sb).s_flags) } as u64
            & bindings::SB_RDONLY as u64
            != 0;
        if rdonly {
            return false;
        }
        // The work holds the super block active; none is taken (and `SB_RDONLY` never set)
        // once it is being shut down, when nothing writes any more.
        // SAFETY: `sb` is alive (above).
        if unsafe { bindings::rust_fs_sb_tryget_active(sb) } {
            // SAFETY: The work is initialised, queued once (we set `forced`), and owns the
            // active reference just taken; the workqueue always exists.
            unsafe {
                bindings::queue_work_on(
                    bindings::wq_misc_consts_WORK_CPU_UNBOUND as c_int,
                    bindings::system_dfl_wq,
                    self.work.get(),
                )
            };
        }
        true
    }

    /// The work function: sets `SB_RDONLY` under `s_umount`, then releases the active
    /// reference. It is in the `kernel` crate, never unloaded.
    ///
    /// # Safety
    ///
    /// Called by the workqueue with the `work` of a queued [`ReadOnlySwitch`].
    unsafe extern "C" fn run(work: *mut bindings::work_struct) {
        // SAFETY: `work` is the `work` field of a `ReadOnlySwitch` (`Opaque` is
        // `repr(transparent)`), whose glue data lives while we hold the active reference.
        let this = unsafe {
            crate::container_of!(work.cast::<Opaque<bindings::work_struct>>(), Self, work)
        };
        // SAFETY: As above.
        let sb = unsafe { (*this).sb };
        // SAFETY: Our active reference keeps the super block (and `kill_sb` away); `s_flags`
        // is changed with `s_umount` held for writing, as the VFS does. The glue data is not
        // used after the active reference is released.
        unsafe {
            bindings::down_write(&raw mut (*sb).s_umount);
            (*sb).s_flags |= bindings::SB_RDONLY as c_ulong;
            bindings::up_write(&raw mut (*sb).s_umount);
            super::inode::release_active(sb);
        }
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

    /// Installs glue data in the fake super block `ptr` as `fill_super` does, lending
    /// nothing. Its works are initialised and never queued: `s_active` of a fake super block
    /// is 0. Every access goes through the returned raw pointer; [`free_glue`] takes it back.
    fn install_glue(ptr: *mut bindings::super_block) -> *mut crate::fs::registration::SbGlue<Fs> {
        // SAFETY: Its works are never queued.
        let glue = KBox::pin_init(
            unsafe { crate::fs::registration::SbGlue::<Fs>::new(ptr, core::ptr::null()) },
            GFP_KERNEL,
        )
        .unwrap();
        // SAFETY: The glue data is not moved out; `free_glue` turns it back into a box.
        let glue = KBox::into_raw(unsafe { Pin::into_inner_unchecked(glue) });
        // SAFETY: The fake super block is the caller's; the glue data outlives its use.
        unsafe { (*ptr).s_fs_info = glue.cast() };
        glue
    }

    /// Undoes [`install_glue`].
    fn free_glue(ptr: *mut bindings::super_block, glue: *mut crate::fs::registration::SbGlue<Fs>) {
        // SAFETY: Stop pointing at the glue data before it goes away; `glue` came from
        // `KBox::into_raw` in `install_glue` and is no longer used.
        unsafe {
            (*ptr).s_fs_info = core::ptr::null_mut();
            drop(KBox::from_raw(glue));
        }
    }

    #[test]
    fn new_state_sees_lent_options_only() {
        let mut raw = zeroed_sb();
        let ptr: *mut bindings::super_block = &mut *raw;
        let mut opts = MountOptions::new();
        opts.set(0, Value::Flag(true)).unwrap();
        let glue = install_glue(ptr);
        // SAFETY: `raw` is exclusively ours and its `s_fs_info` is glue data.
        let sb = unsafe { SuperBlock::<Fs, New>::from_raw_mut(ptr) };
        assert!(sb.mount_options().is_none());
        // Lend the options as the glue does during `T::fill_super`.
        // SAFETY: `glue` is valid; `opts` outlives the use below.
        unsafe { (*glue).options = (&raw const opts).cast() };
        // SAFETY: As above.
        let sb = unsafe { SuperBlock::<Fs, New>::from_raw_mut(ptr) };
        assert_eq!(sb.mount_options().and_then(|o| o.flag(0)), Some(true));
        free_glue(ptr, glue);
    }

    #[test]
    fn force_read_only_sets_the_flag_once() {
        let mut raw = zeroed_sb();
        raw.s_flags = bindings::SB_NOATIME;
        let ptr: *mut bindings::super_block = &mut *raw;
        let glue = install_glue(ptr);
        // SAFETY: `raw` is exclusively ours, its `s_fs_info` is glue data, and the `Ready`
        // methods used here only touch `s_flags`, `s_active` and the glue data.
        let sb = unsafe { SuperBlock::<Fs, Ready>::from_raw(ptr) };
        assert!(!sb.is_read_only());
        assert!(sb.force_read_only());
        assert!(sb.is_read_only());
        // Already forced: reported as such, nothing else changes.
        assert!(!sb.force_read_only());
        // `SB_RDONLY` is the work's to set, under `s_umount`; a super block without active
        // references (being shut down, or this fake one) gets no work.
        assert_eq!(raw.s_flags as u64, bindings::SB_NOATIME as u64);
        free_glue(ptr, glue);
        // Mounted read-only: forcing it changes nothing, and says it was not writable.
        let mut raw = zeroed_sb();
        raw.s_flags = bindings::SB_RDONLY;
        let ptr: *mut bindings::super_block = &mut *raw;
        let glue = install_glue(ptr);
        // SAFETY: As above.
        let sb = unsafe { SuperBlock::<Fs, Ready>::from_raw(ptr) };
        assert!(sb.is_read_only());
        assert!(!sb.force_read_only());
        free_glue(ptr, glue);
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
