// SPDX-License-Identifier: GPL-2.0

//! Direct I/O with completion hooks (`struct iomap_dio_ops`, `iomap_dio_rw`) and the
//! `iomap_dio_read_simple` fast path.
//!
//! # Completion context
//!
//! iomap runs `->end_io` once per `iomap_dio_rw` call, after the last bio completed:
//!
//! - for a synchronous kiocb, or with [`DioFlags::FORCE_WAIT`], in the submitter's task,
//!   before [`dio_rw_read`]/[`dio_rw_write`] return (the caller's locks are still held);
//! - for a queued (AIO, io_uring) write that needs completion work, in process context on the
//!   super block's `s_dio_done_wq` workqueue, with none of the submitter's locks held. A write
//!   needs that work when it covers unwritten extents ([`DioEndFlags::UNWRITTEN`]), shared
//!   blocks ([`DioEndFlags::COW`]) or newly allocated blocks (`IOMAP_F_NEW`), when it extends
//!   the file, when it is `O_DSYNC`, when an error occurred or when the file has page cache;
//! - otherwise (queued reads, and queued pure overwrites of written blocks without error), it
//!   may run from the bio completion, in soft or hard interrupt context: it must not sleep.
//!
//! So `end_io` may sleep exactly when [`DioEnd::may_sleep`] says so, which is always the case
//! when there is something to convert. It must never take the inode lock (`i_rwsem`) or the
//! invalidate lock: a holder of those may be waiting for this very I/O in `inode_dio_wait`.
//!
//! `end_io` gets no data borrowed from the submitter: only the inode (kept alive by the open
//! file of the kiocb until `ki_complete`), the file range, the error and the flags. Anything
//! else it needs must be reachable from the inode (owned, `Send` + `Sync` inode data).

use crate::mapping::Mapping;
use crate::ops::{Operations, Ops};
use core::{marker::PhantomData, ptr::NonNull};
use kernel::{
    bindings,
    fs::{
        inode::{INode, Locked, SharedLocked},
        FileSystem, Kiocb,
    },
    iov::{IovIterDest, IovIterSource},
    prelude::*,
};

/// Flags of an `iomap_dio_rw` call (`IOMAP_DIO_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DioFlags(u32);

impl DioFlags {
    /// `IOMAP_DIO_FORCE_WAIT`: wait for the I/O even if the kiocb is asynchronous; the result
    /// is then never [`DioResult::Queued`].
    pub const FORCE_WAIT: Self = Self(bindings::IOMAP_DIO_FORCE_WAIT);
    /// `IOMAP_DIO_OVERWRITE_ONLY`: do not allocate blocks or zero partial blocks; `EAGAIN`
    /// asks the caller to retry another way (e.g. with the inode lock held exclusively).
    /// `iomap_begin` sees [`OpFlags::OVERWRITE_ONLY`](crate::OpFlags::OVERWRITE_ONLY).
    pub const OVERWRITE_ONLY: Self = Self(bindings::IOMAP_DIO_OVERWRITE_ONLY);
    /// `IOMAP_DIO_PARTIAL`: on a page fault (`EFAULT`) after some progress, return the
    /// partial count synchronously instead of failing.
    pub const PARTIAL: Self = Self(bindings::IOMAP_DIO_PARTIAL);
    /// `IOMAP_DIO_FSBLOCK_ALIGNED`: every bio is aligned to the file system block size.
    pub const FSBLOCK_ALIGNED: Self = Self(bindings::IOMAP_DIO_FSBLOCK_ALIGNED);

    /// The flags a caller may pass. `IOMAP_DIO_BOUNCE` is not offered: it requires a
    /// `submit_io` that moves read completions to process context.
    const KNOWN: u32 =
        Self::FORCE_WAIT.0 | Self::OVERWRITE_ONLY.0 | Self::PARTIAL.0 | Self::FSBLOCK_ALIGNED.0;

    /// No flags.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// The C bits.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Converts C bits; `None` if a bit is not one of the flags above.
    pub const fn from_bits(bits: u32) -> Option<Self> {
        if bits & !Self::KNOWN != 0 {
            None
        } else {
            Some(Self(bits))
        }
    }

    /// Tells whether every flag of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

impl core::ops::BitOr for DioFlags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

/// Flags of a direct I/O completion, as passed to `->end_io`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DioEndFlags(u32);

impl DioEndFlags {
    /// `IOMAP_DIO_UNWRITTEN`: the write covered unwritten extents, which the file system must
    /// now convert to written ones.
    pub const UNWRITTEN: Self = Self(bindings::IOMAP_DIO_UNWRITTEN);
    /// `IOMAP_DIO_COW`: the write covered shared (`IOMAP_F_SHARED`) blocks written out of
    /// place, which the file system must now remap.
    pub const COW: Self = Self(bindings::IOMAP_DIO_COW);
    /// The direct I/O was a write. This bit is the Rust glue's own (the C flag is private to
    /// `fs/iomap/direct-io.c`): reads and writes use different `iomap_dio_ops` tables.
    pub const WRITE: Self = Self(1 << 16);

    const C_KNOWN: u32 = Self::UNWRITTEN.0 | Self::COW.0;

    /// No flags.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// Keeps the public `IOMAP_DIO_*` completion bits of `raw` (iomap also passes its private
    /// state bits) and adds [`Self::WRITE`] for writes.
    pub const fn from_raw(raw: u32, write: bool) -> Self {
        Self((raw & Self::C_KNOWN) | if write { Self::WRITE.0 } else { 0 })
    }

    /// The bits.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Tells whether every flag of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

impl core::ops::BitOr for DioEndFlags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

/// What a direct I/O completion is about, passed to [`DioOperations::end_io`].
pub struct DioEnd<'a, T: FileSystem> {
    inode: &'a INode<T>,
    offset: i64,
    size: usize,
    flags: DioEndFlags,
}

impl<'a, T: FileSystem> DioEnd<'a, T> {
    /// The file the I/O was on.
    pub fn inode(&self) -> &'a INode<T> {
        self.inode
    }

    /// The file offset the I/O started at (`iocb->ki_pos`, not yet advanced).
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// The bytes transferred (`dio->size`); on error, the bytes submitted before it.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The completion flags.
    pub fn flags(&self) -> DioEndFlags {
        self.flags
    }

    /// Tells whether the completion runs in a context that may sleep (process context with
    /// preemption enabled): always true when [`DioEndFlags::UNWRITTEN`] or
    /// [`DioEndFlags::COW`] is set, or on error (see the module documentation). Conservative:
    /// without `CONFIG_PREEMPT_COUNT` the context cannot be known and this is always false.
    pub fn may_sleep(&self) -> bool {
        // SAFETY: Reads the current context only.
        !unsafe { bindings::bio_in_atomic() }
    }
}

/// Direct I/O hooks of a file system (`struct iomap_dio_ops`). Both hooks are optional; an
/// unset hook stays `NULL` in the C table.
#[macros::vtable]
pub trait DioOperations: Operations {
    /// Finishes a direct I/O (`->end_io`) before iomap completes the kiocb: e.g. converts the
    /// unwritten extents of `end.offset()..end.offset() + end.size()` when
    /// [`DioEndFlags::UNWRITTEN`] is set. `error` is the I/O error, if any. See the module
    /// documentation for the context it runs in.
    ///
    /// An error returned here fails the I/O; it cannot turn a failed I/O into a success (the
    /// I/O error is reported in that case).
    ///
    /// Context: process context, may sleep (the glue never calls it from an atomic
    /// completion): in the submitter for waited I/O, else on `s_dio_done_wq`. Completions
    /// that iomap runs from the bio's end_io without completion work (queued reads, queued
    /// clean overwrites without error: nothing to convert) go to
    /// [`DioOperations::end_io_atomic`] instead, or to no hook at all.
    fn end_io(_end: &DioEnd<'_, Self::FileSystem>, _error: Option<Error>) -> Result {
        build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }

    /// Finishes a direct I/O whose completion may run in atomic context (hard or soft
    /// interrupt): a queued read, or a queued overwrite of written blocks without error, that
    /// iomap completes from the bio's end_io. Must not sleep. Optional: without it such
    /// completions call no hook. Only used with [`DioOperations::end_io`].
    fn end_io_atomic(_end: &DioEnd<'_, Self::FileSystem>, _error: Option<Error>) -> Result {
        build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }

    /// Submits a bio built by iomap (`->submit_io`), at `file_offset` of `inode` within
    /// `mapping`, in the submitter's task with its locks held. The bio is submitted when
    /// [`DioBio::submit`] is called or when it is dropped; [`DioBio::fail`] ends it with an
    /// error instead.
    fn submit_io(
        _inode: &INode<Self::FileSystem>,
        _bio: DioBio,
        _file_offset: i64,
        _mapping: &Mapping,
    ) {
        build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
}

/// A direct I/O bio handed to [`DioOperations::submit_io`]: it must be submitted or failed
/// exactly once, which the type ensures (dropping it submits it).
pub struct DioBio {
    bio: NonNull<bindings::bio>,
}

impl DioBio {
    /// The start sector on the device.
    pub fn sector(&self) -> u64 {
        // SAFETY: The bio is valid until submitted, which consumes `self`.
        unsafe { (*self.bio.as_ptr()).bi_iter.bi_sector }
    }

    /// The size in bytes.
    pub fn size(&self) -> u32 {
        // SAFETY: As above.
        unsafe { (*self.bio.as_ptr()).bi_iter.bi_size }
    }

    /// Submits the bio (`submit_bio`); iomap's completion ends it.
    pub fn submit(self) {
        // Dropping submits.
    }

    /// Ends the bio with `error` without submitting it (`bio_endio`): the direct I/O fails
    /// with that error.
    pub fn fail(self, error: Error) {
        let bio = self.bio.as_ptr();
        core::mem::forget(self);
        // SAFETY: We own the bio (it was neither submitted nor ended); its `bi_end_io` is
        // iomap's direct I/O completion, which records the status.
        unsafe {
            (*bio).bi_status = bindings::errno_to_blk_status(error.to_errno());
            bindings::bio_endio(bio);
        }
    }
}

impl Drop for DioBio {
    fn drop(&mut self) {
        // SAFETY: We own the bio, which iomap built completely before calling `->submit_io`.
        unsafe { bindings::submit_bio(self.bio.as_ptr()) };
    }
}

/// The result of an `iomap_dio_rw` call that did not fail at submission.
///
/// The direct I/O functions take the kiocb by value: once an asynchronous I/O is queued, its
/// completion may run (and the submitter free the kiocb, as aio and io_uring do) at any
/// time, so the kiocb is given back only with [`DioResult::Done`].
#[must_use = "a queued direct I/O is not done: return `EIOCBQUEUED` (`into_result`)"]
pub enum DioResult<'a> {
    /// The I/O is complete (`end_io` ran); this many bytes were transferred and the kiocb's
    /// position was advanced. The kiocb is the caller's again.
    Done(usize, Kiocb<'a, ()>),
    /// The asynchronous I/O was queued (`-EIOCBQUEUED`): it completes later through the
    /// kiocb's `ki_complete`, after `end_io`. The kiocb is gone: the caller returns
    /// [`EIOCBQUEUED`] from `read_iter` / `write_iter` (what [`DioResult::into_result`]
    /// gives).
    Queued,
}

impl DioResult<'_> {
    /// The value to return from `read_iter`/`write_iter`: the byte count, or
    /// `Err(EIOCBQUEUED)` for a queued I/O.
    pub fn into_result(self) -> Result<usize> {
        match self {
            Self::Done(n, _) => Ok(n),
            Self::Queued => Err(EIOCBQUEUED),
        }
    }
}

/// A direct I/O that failed before anything was queued: the error, and the kiocb, which is
/// still the caller's (to fall back to buffered I/O on `ENOTBLK`, for instance). Converts to
/// the [`Error`] for `?`.
pub struct DioError<'a> {
    /// What failed.
    pub error: Error,
    /// The kiocb given to the call.
    pub iocb: Kiocb<'a, ()>,
}

impl From<DioError<'_>> for Error {
    fn from(e: DioError<'_>) -> Error {
        e.error
    }
}

/// What an `iomap_dio_rw` return value means: `Some(bytes)` when done, `None` when queued.
fn dio_code(r: isize) -> Result<Option<usize>> {
    if r == EIOCBQUEUED.to_errno() as isize {
        Ok(None)
    } else if r < 0 {
        Err(Error::from_errno(r as i32))
    } else {
        Ok(Some(r as usize))
    }
}

/// Turns the return value `r` of a direct I/O call on `iocb` into its result; the kiocb is
/// given back unless the I/O was queued.
fn dio_result<'a>(
    r: isize,
    iocb: Kiocb<'a, ()>,
) -> core::result::Result<DioResult<'a>, DioError<'a>> {
    match dio_code(r) {
        Ok(Some(n)) => Ok(DioResult::Done(n, iocb)),
        // The completion owns the kiocb now: it is not used again (dropping it does
        // nothing).
        Ok(None) => Ok(DioResult::Queued),
        Err(error) => Err(DioError { error, iocb }),
    }
}

/// The outcome of the direct I/O functions: [`DioResult`], or a [`DioError`] that gives the
/// kiocb back.
pub type DioOutcome<'a> = core::result::Result<DioResult<'a>, DioError<'a>>;

/// The status `->end_io` returns to iomap: the I/O error if there was one (a hook cannot
/// turn it into a success), else the hook's own error, else 0 (iomap then reports the size).
/// iomap's private `IOMAP_DIO_COMP_WORK` (`fs/iomap/direct-io.c`): the completion was queued
/// to `s_dio_done_wq` (process context).
const IOMAP_DIO_COMP_WORK: u32 = 1 << 27;

/// Tells whether `->end_io` called with the dio `flags` may sleep. iomap completes a dio in
/// process context whenever it has completion work (`IOMAP_DIO_COMP_WORK`; always for
/// unwritten or shared extents and errors, which a completion from the ioend workqueue runs
/// inline, still in process context), and in the submitter for a synchronous kiocb; anything
/// else may be the bio's end_io in interrupt context, where `bio_in_atomic` (`in_atomic`,
/// conservatively true without `CONFIG_PREEMPT_COUNT`) decides.
fn end_io_may_sleep(flags: u32, error: bool, sync_kiocb: bool, in_atomic: bool) -> bool {
    let work = IOMAP_DIO_COMP_WORK | bindings::IOMAP_DIO_UNWRITTEN | bindings::IOMAP_DIO_COW;
    flags & work != 0 || error || sync_kiocb || !in_atomic
}

fn end_io_status(hook: Result, io_error: Option<Error>) -> c_int {
    match (hook, io_error) {
        (_, Some(e)) => e.to_errno(),
        (Err(e), None) => e.to_errno(),
        (Ok(()), None) => 0,
    }
}

/// The const C tables of `U`'s direct I/O hooks.
pub struct DioOps<U: DioOperations>(PhantomData<U>);

impl<U: DioOperations> DioOps<U> {
    const fn table(write: bool) -> bindings::iomap_dio_ops {
        bindings::iomap_dio_ops {
            end_io: if !U::HAS_END_IO {
                None
            } else if write {
                Some(Self::end_io::<true>)
            } else {
                Some(Self::end_io::<false>)
            },
            submit_io: if U::HAS_SUBMIT_IO {
                Some(Self::submit_io)
            } else {
                None
            },
            bio_set: core::ptr::null_mut(),
        }
    }

    /// The C `struct iomap_dio_ops` passed for reads.
    pub const READ_TABLE: bindings::iomap_dio_ops = Self::table(false);
    /// The C `struct iomap_dio_ops` passed for writes.
    pub const WRITE_TABLE: bindings::iomap_dio_ops = Self::table(true);

    fn ptr(write: bool) -> *const bindings::iomap_dio_ops {
        if !U::HAS_END_IO && !U::HAS_SUBMIT_IO {
            core::ptr::null()
        } else if write {
            &Self::WRITE_TABLE
        } else {
            &Self::READ_TABLE
        }
    }

    /// # Safety
    ///
    /// Called by `iomap_dio_complete` with the kiocb of a direct I/O on a file of
    /// `U::FileSystem`, before `ki_complete`.
    unsafe extern "C" fn end_io<const WRITE: bool>(
        iocb: *mut bindings::kiocb,
        size: isize,
        error: c_int,
        flags: c_uint,
    ) -> c_int {
        // SAFETY: The kiocb and its file are valid until `ki_complete`, which iomap calls
        // after this returns; the open file holds a reference to the inode.
        let (inode, offset) = unsafe {
            let inode = (*(*iocb).ki_filp).f_inode;
            (
                INode::<U::FileSystem>::from_raw_inode(inode),
                (*iocb).ki_pos,
            )
        };
        let end = DioEnd {
            inode,
            offset,
            size: size.max(0) as usize,
            flags: DioEndFlags::from_raw(flags, WRITE),
        };
        let err = if error < 0 {
            Some(Error::from_errno(error))
        } else {
            None
        };
        // SAFETY: The kiocb is valid (`is_sync_kiocb`: no `ki_complete`); `bio_in_atomic`
        // only reads the current context.
        let (sync, atomic) = unsafe { ((*iocb).ki_complete.is_none(), bindings::bio_in_atomic()) };
        if end_io_may_sleep(flags, err.is_some(), sync, atomic) {
            end_io_status(U::end_io(&end, err), err)
        } else if U::HAS_END_IO_ATOMIC {
            end_io_status(U::end_io_atomic(&end, err), err)
        } else {
            end_io_status(Ok(()), err)
        }
    }

    /// # Safety
    ///
    /// Called by iomap's direct I/O iteration with a built, unsubmitted bio.
    unsafe extern "C" fn submit_io(
        iter: *const bindings::iomap_iter,
        bio: *mut bindings::bio,
        file_offset: bindings::loff_t,
    ) {
        // SAFETY: `iter` is valid for the call; its inode is one of ours and its mapping was
        // produced by our `begin` (or is a hole/unmapped type we do not produce, then EIO).
        let (inode, map) = unsafe {
            (
                INode::<U::FileSystem>::from_raw_inode((*iter).inode),
                Mapping::read_raw(&(*iter).iomap),
            )
        };
        let Some(bio) = NonNull::new(bio) else {
            return;
        };
        let bio = DioBio { bio };
        match map {
            Some(m) => U::submit_io(inode, bio, file_offset, &m),
            None => bio.fail(EIO),
        }
    }
}

/// Direct read at `iocb`'s position into `to` (`iomap_dio_rw` with `U`'s [`DioOperations`]),
/// with the inode lock held at least shared (the guard) for the submission. Returns
/// [`DioResult::Queued`] for an asynchronous kiocb whose I/O is still in flight; the lock may
/// be dropped then (iomap's `inode_dio_begin`/`inode_dio_end` keep truncate waiting in
/// `inode_dio_wait`). `ENOTBLK` asks the caller to fall back to buffered I/O.
pub fn dio_rw_read<'a, U: DioOperations>(
    lock: &SharedLocked<'_, U::FileSystem>,
    iocb: Kiocb<'a, ()>,
    to: &mut IovIterDest<'_>,
    flags: DioFlags,
) -> DioOutcome<'a> {
    if let Err(error) = lock.check_iocb(&iocb) {
        return Err(DioError { error, iocb });
    }
    // SAFETY: `to` is valid for the call, a destination; the inode lock is held (shared) as
    // iomap requires for reads.
    unsafe { dio_rw::<U>(iocb, to.as_raw(), false, flags) }
}

/// Runs `iomap_dio_rw` for `iocb` on `iter` with `U`'s operations.
///
/// # Safety
///
/// `iter` must be valid for the call, a source if `write`, else a destination, and the inode
/// lock of `iocb`'s inode held as iomap requires: shared for reads and for writes of whole
/// blocks inside the file with `IOMAP_DIO_FSBLOCK_ALIGNED` (see [`dio_rw_write_shared`]),
/// exclusive for other writes.
unsafe fn dio_rw<'a, U: DioOperations>(
    iocb: Kiocb<'a, ()>,
    iter: *mut bindings::iov_iter,
    write: bool,
    flags: DioFlags,
) -> DioOutcome<'a> {
    // SAFETY: `iocb` is valid for the call, `iter` and the lock as the caller guarantees.
    // The dio ops table is static; no private data is passed, so nothing on this stack frame
    // is reachable from a completion that runs after we return.
    let r = unsafe {
        bindings::iomap_dio_rw(
            iocb.as_raw(),
            iter,
            &Ops::<U>::TABLE,
            DioOps::<U>::ptr(write),
            flags.bits(),
            core::ptr::null_mut(),
            0,
        )
    };
    dio_result(r, iocb)
}

/// Direct write of `from` at `iocb`'s position (`iomap_dio_rw` with `U`'s
/// [`DioOperations`]), with the inode lock held exclusively (the guard) for the submission;
/// the caller ran [`write_checks`](kernel::fs::file_ops::write_checks).
///
/// A write that ends beyond the file size is always waited for ([`DioFlags::FORCE_WAIT`] is
/// added, as ext4 does): it returns [`DioResult::Done`] and the caller extends the size with
/// its guard. Only writes inside the file can be [`DioResult::Queued`], so `end_io` never
/// has to change `i_size`. The file size is not changed by iomap. `ENOTBLK` asks the caller to
/// fall back to buffered I/O; `EAGAIN` with [`DioFlags::OVERWRITE_ONLY`] to retry without it.
pub fn dio_rw_write<'a, U: DioOperations>(
    lock: &Locked<'_, U::FileSystem>,
    iocb: Kiocb<'a, ()>,
    from: &mut IovIterSource<'_>,
    flags: DioFlags,
) -> DioOutcome<'a> {
    if let Err(error) = lock.check_iocb(&iocb) {
        return Err(DioError { error, iocb });
    }
    let mut flags = flags;
    let end = iocb.ki_pos().saturating_add(from.len() as i64);
    if end > lock.size() {
        flags = flags | DioFlags::FORCE_WAIT;
    }
    // SAFETY: `from` is valid for the call, a source; the inode lock is held exclusively.
    unsafe { dio_rw::<U>(iocb, from.as_raw(), true, flags) }
}

/// Direct write of whole blocks of `from` at `iocb`'s position inside the file, with the inode
/// lock held only shared (the guard), so that such writes run in parallel with each other and
/// with reads, as XFS runs block-aligned direct writes that do not extend the file
/// (`xfs_file_dio_write_aligned`); the caller ran
/// [`write_checks_shared`](kernel::fs::file_ops::write_checks_shared) and
/// [`file_modified_shared`](kernel::fs::file_ops::file_modified_shared).
///
/// The position and length must be multiples of the block size, and the write must end
/// inside the file: anything else is `EAGAIN` before any I/O. [`DioFlags::FSBLOCK_ALIGNED`] is
/// always added, so iomap refuses (`EINVAL`) a mapping that would make a bio start or end
/// inside a block: it never zeroes the parts of new or unwritten blocks that a write leaves
/// out, nor the rest of a block past the end of the file, which would race with other writes
/// under the shared lock. `U`'s `begin` may be asked to allocate blocks for holes in the range
/// (unless the caller adds [`DioFlags::OVERWRITE_ONLY`]; then it sees
/// [`OpFlags::OVERWRITE_ONLY`](crate::OpFlags::OVERWRITE_ONLY), the glue accepts only
/// allocated blocks mapping all of the write at once, see
/// [`Mapping::check_overwrite_only`](crate::Mapping::check_overwrite_only), and `EAGAIN` asks
/// the caller to retry with the lock held exclusively): the inode lock held shared does not
/// serialise two calls of `begin`, so the file system serialises its allocations itself (XFS
/// takes its ILOCK), and maps new blocks as unwritten until their data is on the device.
/// One write the exclusive path takes fails here: iomap rounds each bio down to whole blocks,
/// and user memory in more pieces than a bio holds (256), which together make less than a
/// block (a `writev` of hundreds of tiny segments, on a device whose DMA alignment allows
/// them), gives `EFAULT`. It cannot be retried another way: iomap may have consumed part of
/// `from` by then.
///
/// The size cannot change while the guard is held, and the write never changes it, so an
/// asynchronous kiocb may be [`DioResult::Queued`] and the guard dropped; `end_io` (which
/// converts the unwritten blocks the write covered) then runs with no lock held, maybe
/// concurrently with other writes' `end_io`. `ENOTBLK` asks the caller to fall back to
/// buffered I/O (with the exclusive lock).
pub fn dio_rw_write_shared<'a, U: DioOperations>(
    lock: &SharedLocked<'_, U::FileSystem>,
    iocb: Kiocb<'a, ()>,
    from: &mut IovIterSource<'_>,
    flags: DioFlags,
) -> DioOutcome<'a> {
    if let Err(error) = lock.check_iocb(&iocb) {
        return Err(DioError { error, iocb });
    }
    // The VFS sets `i_blkbits` from the super block, and nothing here changes it: this is the
    // block size iomap zeroes by, and aligns bios to with `IOMAP_DIO_FSBLOCK_ALIGNED`.
    let bs = i64::from(lock.super_block().block_size());
    if !shared_write_ok(iocb.ki_pos(), from.len(), lock.size(), bs) {
        return Err(DioError {
            error: EAGAIN,
            iocb,
        });
    }
    let flags = flags | DioFlags::FSBLOCK_ALIGNED;
    // SAFETY: `from` is valid for the call, a source; the inode lock is held (shared), the
    // write covers whole blocks inside the file (the size cannot change under the lock), and
    // with `IOMAP_DIO_FSBLOCK_ALIGNED` iomap submits only bios of whole blocks: it neither
    // extends the file nor zeroes outside the write.
    unsafe { dio_rw::<U>(iocb, from.as_raw(), true, flags) }
}

/// Tells whether a direct write of `len` bytes at `pos` may run under the shared inode lock, in
/// a file of `size` bytes with blocks of `bs` bytes: it must cover whole blocks (iomap zeroes
/// the parts of new and unwritten blocks a write leaves out) and end inside the file (at its
/// end only on a block boundary, which a write of whole blocks does): iomap would zero the
/// rest of a block past the end, and the size would change, under the shared lock.
fn shared_write_ok(pos: i64, len: usize, size: i64, bs: i64) -> bool {
    let Ok(len) = i64::try_from(len) else {
        return false;
    };
    let end = pos.saturating_add(len);
    (pos | len) & (bs - 1) == 0 && end <= size
}

/// The small direct read fast path (`iomap_dio_read_simple`, 7.3): a non-empty read of at
/// most one block inside `i_size`, mapped by a single call to `U`'s `begin` (checked like every
/// mapping) into one bio. `ENOTBLK` means "use [`dio_rw_read`]" (also when `U` has an
/// `iomap_end`, which this path never calls); other errors are real. The inode lock is held
/// at least shared. An asynchronous kiocb may give [`DioResult::Queued`].
pub fn dio_read_simple<'a, U: Operations>(
    lock: &SharedLocked<'_, U::FileSystem>,
    iocb: Kiocb<'a, ()>,
    to: &mut IovIterDest<'_>,
) -> DioOutcome<'a> {
    if let Err(error) = lock.check_iocb(&iocb) {
        return Err(DioError { error, iocb });
    }
    if Ops::<U>::HAS_ITER_END {
        return Err(DioError {
            error: ENOTBLK,
            iocb,
        });
    }
    // SAFETY: `iocb` and `to` are valid and the inode lock is held; `begin` is the checked
    // trampoline of `U`, which needs no `iomap_end`.
    let r = unsafe {
        bindings::iomap_dio_read_simple(iocb.as_raw(), to.as_raw(), Some(Ops::<U>::begin))
    };
    dio_result(r, iocb)
}

#[kunit_tests(rust_iomap_dio)]
mod tests {
    use super::*;
    use crate::mapping::OpFlags;
    use kernel::fs::{New, Ready, SuperBlock};
    use kernel::sync::aref::ARef;

    struct Fs;
    #[vtable]
    impl FileSystem for Fs {
        const NAME: &'static CStr = c"rust_iomap_dio_test";
        type Data = ();
        type INodeData = ();
        fn fill_super(_sb: &mut SuperBlock<Self, New>) -> Result<()> {
            Err(EINVAL)
        }
        fn init_root(_sb: &SuperBlock<Self, Ready>) -> Result<ARef<INode<Self>>> {
            Err(EINVAL)
        }
    }

    macro_rules! begin_hole {
        ($t:ident) => {
            #[vtable]
            impl Operations for $t {
                type FileSystem = Fs;
                fn begin(_i: &INode<Fs>, pos: i64, len: i64, _f: OpFlags) -> Result<Mapping> {
                    Ok(Mapping::hole(pos, len as u64))
                }
            }
        };
    }

    struct NoHooks;
    begin_hole!(NoHooks);
    #[vtable]
    impl DioOperations for NoHooks {}

    struct EndOnly;
    begin_hole!(EndOnly);
    #[vtable]
    impl DioOperations for EndOnly {
        fn end_io(_end: &DioEnd<'_, Fs>, _error: Option<Error>) -> Result {
            Ok(())
        }
    }

    struct Both;
    begin_hole!(Both);
    #[vtable]
    impl DioOperations for Both {
        fn end_io(_end: &DioEnd<'_, Fs>, _error: Option<Error>) -> Result {
            Ok(())
        }
        fn submit_io(_i: &INode<Fs>, bio: DioBio, _off: i64, _m: &Mapping) {
            bio.submit();
        }
    }

    #[test]
    fn dio_ops_tables_follow_the_hooks() {
        assert!(DioOps::<NoHooks>::ptr(false).is_null());
        assert!(DioOps::<NoHooks>::ptr(true).is_null());
        assert!(DioOps::<NoHooks>::WRITE_TABLE.end_io.is_none());
        assert!(DioOps::<NoHooks>::WRITE_TABLE.submit_io.is_none());
        let r = &DioOps::<EndOnly>::READ_TABLE;
        let w = &DioOps::<EndOnly>::WRITE_TABLE;
        assert!(r.end_io.is_some() && w.end_io.is_some());
        assert!(r.submit_io.is_none() && w.submit_io.is_none());
        assert!(r.bio_set.is_null());
        assert!(!DioOps::<EndOnly>::ptr(true).is_null());
        let b = &DioOps::<Both>::WRITE_TABLE;
        assert!(b.end_io.is_some() && b.submit_io.is_some());
    }

    #[test]
    fn dio_flags() {
        assert_eq!(DioFlags::FORCE_WAIT.bits(), bindings::IOMAP_DIO_FORCE_WAIT);
        assert_eq!(
            DioFlags::OVERWRITE_ONLY.bits(),
            bindings::IOMAP_DIO_OVERWRITE_ONLY
        );
        assert_eq!(DioFlags::PARTIAL.bits(), bindings::IOMAP_DIO_PARTIAL);
        assert_eq!(
            DioFlags::FSBLOCK_ALIGNED.bits(),
            bindings::IOMAP_DIO_FSBLOCK_ALIGNED
        );
        let f = DioFlags::FORCE_WAIT | DioFlags::PARTIAL;
        assert!(f.contains(DioFlags::PARTIAL) && !f.contains(DioFlags::OVERWRITE_ONLY));
        assert_eq!(DioFlags::from_bits(f.bits()), Some(f));
        // Bouncing needs hooks this crate does not offer.
        assert_eq!(DioFlags::from_bits(bindings::IOMAP_DIO_BOUNCE), None);
        assert_eq!(DioFlags::from_bits(1 << 20), None);
    }

    #[test]
    fn dio_end_flags_keep_only_public_bits() {
        assert_eq!(DioEndFlags::UNWRITTEN.bits(), bindings::IOMAP_DIO_UNWRITTEN);
        assert_eq!(DioEndFlags::COW.bits(), bindings::IOMAP_DIO_COW);
        // iomap passes its private state bits (e.g. bit 30, its WRITE) too.
        let f = DioEndFlags::from_raw(bindings::IOMAP_DIO_UNWRITTEN | (1 << 30) | (1 << 27), true);
        assert_eq!(f, DioEndFlags::UNWRITTEN | DioEndFlags::WRITE);
        let r = DioEndFlags::from_raw(1 << 30, false);
        assert_eq!(r, DioEndFlags::empty());
        assert!(!r.contains(DioEndFlags::WRITE));
        assert!(
            DioEndFlags::WRITE.bits() & (bindings::IOMAP_DIO_UNWRITTEN | bindings::IOMAP_DIO_COW)
                == 0
        );
    }

    #[test]
    fn results_distinguish_queued() {
        assert_eq!(EIOCBQUEUED.to_errno(), -529);
        assert_eq!(dio_code(-529), Ok(None));
        assert_eq!(dio_code(4096), Ok(Some(4096)));
        assert_eq!(dio_code(0), Ok(Some(0)));
        assert_eq!(dio_code(ENOTBLK.to_errno() as isize), Err(ENOTBLK));
        assert_eq!(DioResult::Queued.into_result(), Err(EIOCBQUEUED));
    }

    #[test]
    fn end_io_only_where_it_may_sleep() {
        let (unwritten, cow) = (bindings::IOMAP_DIO_UNWRITTEN, bindings::IOMAP_DIO_COW);
        let write = 1 << 30;
        // Process context by construction: completion work, conversions, errors, waiters.
        assert!(end_io_may_sleep(
            IOMAP_DIO_COMP_WORK | write,
            false,
            false,
            true
        ));
        assert!(end_io_may_sleep(unwritten | write, false, false, true));
        assert!(end_io_may_sleep(cow | write, false, false, true));
        assert!(end_io_may_sleep(0, true, false, true));
        assert!(end_io_may_sleep(0, false, true, true));
        // A queued read or clean overwrite: only if the context says so.
        assert!(end_io_may_sleep(write, false, false, false));
        assert!(!end_io_may_sleep(write, false, false, true));
        assert!(!end_io_may_sleep(0, false, false, true));
    }

    #[test]
    fn shared_overwrites_stay_inside_the_file() {
        assert!(shared_write_ok(0, 4096, 8192, 4096));
        assert!(shared_write_ok(4096, 4096, 8192, 4096));
        assert!(shared_write_ok(0, 8192, 8192, 4096));
        // Not whole blocks: iomap would zero the rest of new or unwritten blocks.
        assert!(!shared_write_ok(5000, 1000, 8192, 4096));
        assert!(!shared_write_ok(4096, 1000, 8192, 4096));
        assert!(!shared_write_ok(512, 4096, 8192, 4096));
        // Past the end, or at an end of file inside a block.
        assert!(!shared_write_ok(4096, 8192, 8192, 4096));
        assert!(!shared_write_ok(4096, 4096, 6000, 4096));
        assert!(!shared_write_ok(0, 4096, 0, 4096));
    }

    #[test]
    fn end_io_cannot_hide_an_io_error() {
        assert_eq!(end_io_status(Ok(()), None), 0);
        assert_eq!(end_io_status(Ok(()), Some(EIO)), EIO.to_errno());
        assert_eq!(end_io_status(Err(ENOSPC), Some(EIO)), EIO.to_errno());
        assert_eq!(end_io_status(Err(ENOSPC), None), ENOSPC.to_errno());
    }
}
