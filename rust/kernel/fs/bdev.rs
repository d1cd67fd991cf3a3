// SPDX-License-Identifier: GPL-2.0

//! Block I/O to the device of a block-device super block (`struct block_device`, `struct bio`).
//!
//! A file system reads and writes its metadata through this module, never through the block
//! device's page cache: [`BlockDevice::read`] and [`BlockDevice::write`] are synchronous bios,
//! [`BlockDevice::batch`] submits many bios under one plug and waits for all of them, and
//! [`WriteFlags`] carries `REQ_PREFLUSH` and `REQ_FUA` for ordering on devices with a volatile
//! write cache.
//!
//! Memory handed to a bio must be physically contiguous and aligned for the device's DMA, and
//! every transfer must cover whole logical blocks of the device. The first is guaranteed by
//! the type [`IoBuf`] (the only buffer the I/O methods accept): it is `kmalloc`'ed, its size
//! a power of two, so it is naturally aligned. The second is checked at run time: a position or
//! length that is not a multiple of [`BlockDevice::logical_block_size`], or a range past the
//! end of the device, fails with `EINVAL` before any bio is built.
//!
//! C headers: [`include/linux/bio.h`](srctree/include/linux/bio.h),
//! [`include/linux/blkdev.h`](srctree/include/linux/blkdev.h).

use super::{registration::FileSystem, SbState, SuperBlock};
use crate::{bindings, error::to_result, prelude::*};
use core::{
    cell::UnsafeCell,
    marker::PhantomData,
    ops::{Deref, DerefMut},
    sync::atomic::{AtomicI32, AtomicUsize, Ordering},
};

/// Largest [`IoBuf`]: 64 KiB, the largest file system block size.
pub const IO_BUF_MAX: usize = 64 * 1024;

/// A buffer that block I/O can target: `kmalloc`'ed (physically contiguous), of a power-of-two
/// size from 512 bytes to [`IO_BUF_MAX`], and therefore aligned to its own size.
///
/// # Invariants
///
/// `buf.len()` is a power of two in `512..=IO_BUF_MAX`, and `buf`'s memory comes from
/// `kmalloc` with that size, so it is aligned to `buf.len()` and physically contiguous.
pub struct IoBuf {
    buf: KVec<u8>,
}

impl IoBuf {
    /// Allocates a zeroed buffer of `len` bytes; `EINVAL` unless `len` is a power of two from
    /// 512 to [`IO_BUF_MAX`].
    pub fn new(len: usize) -> Result<Self> {
        if !len.is_power_of_two() || !(512..=IO_BUF_MAX).contains(&len) {
            return Err(EINVAL);
        }
        // `kmalloc` aligns power-of-two sizes to themselves; the check below keeps the
        // invariant true even if that ever changed.
        let buf = KVec::from_elem(0u8, len, GFP_KERNEL)?;
        if buf.as_ptr() as usize % len != 0 || buf.len() != len {
            return Err(ENOMEM);
        }
        Ok(Self { buf })
    }

    /// The size of the buffer in bytes.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.buf.len()
    }
}

impl Deref for IoBuf {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        &self.buf
    }
}

impl DerefMut for IoBuf {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.buf
    }
}

/// Flags of a write bio.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct WriteFlags {
    /// Flush the device's volatile cache before the write (`REQ_PREFLUSH`): everything that
    /// completed before is durable before this write lands.
    pub preflush: bool,
    /// Forced unit access (`REQ_FUA`): the write itself is durable when it completes.
    pub fua: bool,
}

impl WriteFlags {
    /// A plain write.
    pub const NONE: Self = Self {
        preflush: false,
        fua: false,
    };
    /// `REQ_FUA`.
    pub const FUA: Self = Self {
        preflush: false,
        fua: true,
    };
    /// `REQ_PREFLUSH | REQ_FUA`, as a journal commit record is written.
    pub const PREFLUSH_FUA: Self = Self {
        preflush: true,
        fua: true,
    };

    fn opf(self) -> bindings::blk_opf_t {
        let mut op = bindings::req_op_REQ_OP_WRITE
            | (1 << bindings::req_flag_bits___REQ_SYNC)
            | (1 << bindings::req_flag_bits___REQ_META);
        if self.preflush {
            op |= 1 << bindings::req_flag_bits___REQ_PREFLUSH;
        }
        if self.fua {
            op |= 1 << bindings::req_flag_bits___REQ_FUA;
        }
        op
    }
}

/// Operation of a read bio.
fn read_opf() -> bindings::blk_opf_t {
    bindings::req_op_REQ_OP_READ | (1 << bindings::req_flag_bits___REQ_META)
}

/// The block device of a mounted (or mounting) super block, borrowed from it.
///
/// # Invariants
///
/// `bdev` is the super block's `s_bdev`, which stays open while the super block exists, and
/// the borrow `'a` of the super block does not outlive it.
#[derive(Clone, Copy)]
pub struct BlockDevice<'a> {
    bdev: *mut bindings::block_device,
    _p: PhantomData<&'a ()>,
}

impl<T: FileSystem, S: SbState> SuperBlock<T, S> {
    /// Returns the block device of the super block (`s_bdev`).
    pub fn block_device(&self) -> BlockDevice<'_> {
        // INVARIANT: A block-device super block holds `s_bdev` open for as long as it exists,
        // and the returned value borrows `self`.
        BlockDevice {
            // SAFETY: The super block is valid for the borrow of `self`.
            bdev: unsafe { (*self.as_raw()).s_bdev },
            _p: PhantomData,
        }
    }
}

impl BlockDevice<'_> {
    /// The device's logical block size in bytes (`bdev_logical_block_size`): the smallest
    /// unit it can read or write.
    pub fn logical_block_size(&self) -> u32 {
        // SAFETY: `bdev` is valid by the type invariant.
        unsafe { bindings::bdev_logical_block_size(self.bdev) }
    }

    /// The alignment in bytes that memory handed to the device's DMA must have
    /// (`bdev_dma_alignment(bdev) + 1`, a power of two, at least 512): what direct I/O buffers
    /// must be aligned to (`STATX_DIOALIGN`'s `dio_mem_align`). It may be smaller or larger
    /// than [`Self::logical_block_size`].
    pub fn dma_alignment(&self) -> u32 {
        // An open block device has a request queue (`bd_queue`) for as long as it is open.
        // The queue's limits change only by whole-structure updates
        // (`queue_limits_commit_update`); C reads this field without a lock
        // (`bdev_dma_alignment`).
        // SAFETY: `bdev` is valid by the type invariant, its queue as above; the volatile read
        // is one load of an aligned `unsigned int`, as C's.
        let mask = unsafe {
            let q = (*self.bdev).bd_queue;
            (&raw const (*q).limits.dma_alignment).read_volatile()
        };
        // The block layer keeps the mask at least `SECTOR_SIZE - 1` and at most `PAGE_SIZE`
        // (`blk_validate_limits`), one less than a power of two; round up all the same.
        mask.saturating_add(1)
            .max(512)
            .checked_next_power_of_two()
            .unwrap_or(1 << 31)
    }

    /// Whether the device refuses writes (`bdev_read_only`: a read-only disk, or one set
    /// read-only with `blockdev --setro`). The block layer only warns about writes to such a
    /// device and lets them through: a file system must not issue any.
    pub fn is_read_only(&self) -> bool {
        // SAFETY: `bdev` is valid by the type invariant.
        unsafe { bindings::bdev_read_only(self.bdev) }
    }

    /// The size of the device in bytes.
    pub fn size(&self) -> u64 {
        // SAFETY: `bdev` is valid by the type invariant.
        unsafe { bindings::bdev_nr_bytes(self.bdev) as u64 }
    }

    /// Checks that `len` bytes at `pos` are whole logical blocks on the device.
    fn check(&self, pos: u64, len: usize) -> Result {
        let lbs = u64::from(self.logical_block_size());
        let end = pos.checked_add(len as u64).ok_or(EINVAL)?;
        if len == 0 || end > self.size() || pos % lbs != 0 || len as u64 % lbs != 0 {
            return Err(EINVAL);
        }
        Ok(())
    }

    /// Reads `buf.len()` bytes at byte `pos` of the device into `buf` and waits for them.
    pub fn read(&self, pos: u64, buf: &mut IoBuf) -> Result {
        self.check(pos, buf.len())?;
        // SAFETY: `bdev` is valid; by the invariant of `IoBuf` the buffer is physically
        // contiguous and aligned, and it is exclusively ours until the synchronous bio ends.
        to_result(unsafe {
            bindings::bdev_rw_virt(
                self.bdev,
                pos >> 9,
                buf.as_mut_ptr().cast(),
                buf.len(),
                read_opf(),
            )
        })
    }

    /// Writes `buf` at byte `pos` of the device and waits for the write to complete.
    pub fn write(&self, pos: u64, buf: &IoBuf, flags: WriteFlags) -> Result {
        self.check(pos, buf.len())?;
        // SAFETY: As in `read`; a write bio only reads the buffer, which the shared borrow
        // keeps alive and unchanged until the synchronous bio ends.
        to_result(unsafe {
            bindings::bdev_rw_virt(
                self.bdev,
                pos >> 9,
                buf.as_ptr().cast_mut().cast(),
                buf.len(),
                flags.opf(),
            )
        })
    }

    /// Flushes the device's volatile write cache (`blkdev_issue_flush`): everything that
    /// completed before is durable when this returns.
    pub fn flush(&self) -> Result {
        // SAFETY: `bdev` is valid by the type invariant.
        to_result(unsafe { bindings::blkdev_issue_flush(self.bdev) })
    }

    /// Runs `f` with a [`Batch`] to which it adds bios, under a block plug (`blk_start_plug`),
    /// then submits what is still plugged and waits until every bio of the batch has
    /// completed. Returns what `f` returned and the first I/O error of the batch.
    ///
    /// The buffers of the bios are borrowed for `'s`, which covers the whole call (`'s` is
    /// invariant in [`Batch`], so it cannot be shrunk to a single method call), so none of
    /// them can be freed, or changed while its bio is in flight: the wait at the end always
    /// runs.
    pub fn batch<'s, R>(&'s self, f: impl FnOnce(&Batch<'s>) -> R) -> (R, Result) {
        let state = BatchState {
            pending: AtomicUsize::new(1),
            error: AtomicI32::new(0),
            done: UnsafeCell::new(bindings::completion::default()),
        };
        // SAFETY: `done` is a valid, unused completion, initialised before any bio can see
        // it.
        unsafe { bindings::init_completion(state.done.get()) };
        let batch = Batch {
            dev: *self,
            state: &state,
            _p: PhantomData,
        };
        let mut plug = bindings::blk_plug::default();
        // SAFETY: `plug` lives on this stack frame until `blk_finish_plug` below, and
        // `current->plug` is not used by anything after that.
        unsafe { bindings::blk_start_plug(&mut plug) };
        let r = f(&batch);
        // SAFETY: The plug was started above in this task.
        unsafe { bindings::blk_finish_plug(&mut plug) };
        // Drop the bias; the last completion (maybe this one) completes `done`.
        if state.pending.fetch_sub(1, Ordering::AcqRel) != 1 {
            // SAFETY: `done` was initialised above; the end-I/O callback completes it once
            // `pending` reaches zero, after its last access to `state` but `complete` itself.
            unsafe { bindings::wait_for_completion_io(state.done.get()) };
        }
        let e = state.error.load(Ordering::Acquire);
        (
            r,
            if e == 0 {
                Ok(())
            } else {
                Err(Error::from_errno(e))
            },
        )
    }
}

/// Shared between [`BlockDevice::batch`] and the end-I/O callback of its bios.
struct BatchState {
    /// Bios in flight, plus one while the batch is still being built.
    pending: AtomicUsize,
    /// First error (a negative errno), or 0.
    error: AtomicI32,
    /// Completed when `pending` drops to zero.
    done: UnsafeCell<bindings::completion>,
}

/// A set of bios submitted together and waited for by [`BlockDevice::batch`].
///
/// # Invariants
///
/// `state` points to the `BatchState` of the running [`BlockDevice::batch`] call, which does
/// not return before every bio added here has completed; buffers added are borrowed for `'s`,
/// which outlasts that call's wait.
pub struct Batch<'s> {
    dev: BlockDevice<'s>,
    state: *const BatchState,
    /// Makes `'s` invariant (as `std::thread::scope` does): a caller cannot shrink it to one
    /// method call and pass a buffer that dies before the batch has waited.
    _p: PhantomData<&'s mut &'s ()>,
}

impl<'s> Batch<'s> {
    /// Submits a read of `buf.len()` bytes at byte `pos` into `buf`. Its result is known
    /// when the batch has completed.
    pub fn read(&self, pos: u64, buf: &'s mut IoBuf) -> Result {
        self.dev.check(pos, buf.len())?;
        // SAFETY: `buf` is exclusively borrowed until after the batch has waited.
        unsafe { self.submit(pos, buf.as_mut_ptr(), buf.len(), read_opf()) };
        Ok(())
    }

    /// Submits a write of `buf` at byte `pos` with `flags`.
    pub fn write(&self, pos: u64, buf: &'s IoBuf, flags: WriteFlags) -> Result {
        self.dev.check(pos, buf.len())?;
        // SAFETY: `buf` is borrowed (so neither freed nor changed) until after the batch has
        // waited; a write bio only reads it.
        unsafe { self.submit(pos, buf.as_ptr().cast_mut(), buf.len(), flags.opf()) };
        Ok(())
    }

    /// Builds and submits one bio.
    ///
    /// # Safety
    ///
    /// `data` must be `len` bytes of an [`IoBuf`] that stays valid, and for a read is not
    /// otherwise accessed, until the batch has waited; `pos` and `len` passed `check`.
    unsafe fn submit(&self, pos: u64, data: *mut u8, len: usize, opf: bindings::blk_opf_t) {
        // SAFETY: `state` is valid while the batch runs (type invariant).
        let state = unsafe { &*self.state };
        state.pending.fetch_add(1, Ordering::AcqRel);
        // SAFETY: `bdev` is valid; a sleeping allocation from the bio set never fails.
        let bio = unsafe { bindings::bio_alloc(self.dev.bdev, 1, opf, bindings::GFP_NOIO) };
        // SAFETY: `bio` is a new bio with room for one vector; `data` is physically contiguous
        // kmalloc memory (an `IoBuf`), valid until the batch has waited.
        unsafe {
            (*bio).bi_iter.bi_sector = pos >> 9;
            (*bio).bi_end_io = Some(batch_end_io);
            (*bio).bi_private = self.state.cast_mut().cast();
            bindings::bio_add_virt_nofail(bio, data.cast(), len as u32);
            bindings::submit_bio(bio);
        }
    }
}

/// End-I/O callback of the bios of a [`Batch`]; may run in interrupt context.
///
/// # Safety
///
/// Called by the block layer once per bio built by [`Batch::submit`].
unsafe extern "C" fn batch_end_io(bio: *mut bindings::bio) {
    // SAFETY: `bi_private` is the batch's state, alive until `pending` drops to zero, which
    // happens below at the earliest.
    let (state, status) = unsafe { (&*(*bio).bi_private.cast::<BatchState>(), (*bio).bi_status) };
    if status != 0 {
        // SAFETY: Any status value is accepted.
        let e = unsafe { bindings::blk_status_to_errno(status) };
        let _ = state
            .error
            .compare_exchange(0, e, Ordering::AcqRel, Ordering::Acquire);
    }
    // SAFETY: The bio is ours and no longer used.
    unsafe { bindings::bio_put(bio) };
    if state.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
        // SAFETY: `done` is initialised; the waiter returns only after `complete` has released
        // the completion's lock, so `state` is still alive here.
        unsafe { bindings::complete(state.done.get()) };
    }
}

#[kunit_tests(rust_fs_bdev)]
mod tests {
    use super::*;

    #[test]
    fn io_buf_sizes() {
        for bad in [0, 1, 100, 511, 513, 3072, 128 * 1024] {
            assert!(IoBuf::new(bad).is_err());
        }
        for good in [512, 1024, 4096, IO_BUF_MAX] {
            let b = IoBuf::new(good).unwrap();
            assert_eq!(b.len(), good);
            // Aligned to its size, and zeroed.
            assert_eq!(b.as_ptr() as usize % good, 0);
            assert!(b.iter().all(|&x| x == 0));
        }
    }

    #[test]
    fn write_flags_bits() {
        let bit = |b: u32| -> bindings::blk_opf_t { 1 << b };
        let preflush = bit(bindings::req_flag_bits___REQ_PREFLUSH);
        let fua = bit(bindings::req_flag_bits___REQ_FUA);
        assert_eq!(WriteFlags::NONE.opf() & (preflush | fua), 0);
        assert_eq!(WriteFlags::FUA.opf() & (preflush | fua), fua);
        assert_eq!(
            WriteFlags::PREFLUSH_FUA.opf() & (preflush | fua),
            preflush | fua
        );
        // Every write is a write, marked as metadata; a read is a read.
        let op_mask: bindings::blk_opf_t = (1 << bindings::REQ_OP_BITS) - 1;
        assert_eq!(
            WriteFlags::FUA.opf() & op_mask,
            bindings::req_op_REQ_OP_WRITE
        );
        assert_eq!(read_opf() & op_mask, bindings::req_op_REQ_OP_READ);
        assert_ne!(
            WriteFlags::NONE.opf() & bit(bindings::req_flag_bits___REQ_META),
            0
        );
    }
}
