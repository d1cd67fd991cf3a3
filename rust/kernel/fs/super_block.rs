// SPDX-License-Identifier: GPL-2.0

//! Super blocks (`struct super_block`).
//!
//! A [`SuperBlock`] carries a typestate: while [`FileSystem::fill_super`] runs it is
//! [`New`], and only then may the block size and other geometry be set; once mounted it is
//! [`Ready`] and gives access to the file system's private data.
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h).

use super::registration::FileSystem;
use crate::{bindings, page::PAGE_SIZE, prelude::*, types::Opaque};
use core::marker::PhantomData;

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
/// `s_fs_info` holds a `T::Data` set by the registration glue.
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
        unsafe { CStr::from_ptr((*self.as_raw()).s_id.as_ptr().cast()) }
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

    /// Reads `buf.len()` bytes at byte offset `pos` of the block device through the block
    /// device's page cache.
    ///
    /// Returns `EIO` (or the error the read reported) when the data cannot be read, and
    /// `EINVAL` when the range lies beyond the end of the device.
    pub fn read_bytes(&self, mut pos: u64, buf: &mut [u8]) -> Result {
        let end = pos.checked_add(buf.len() as u64).ok_or(EINVAL)?;
        if end > self.device_size() {
            return Err(EINVAL);
        }
        // SAFETY: `s_bdev` is valid while the super block exists.
        let mapping = unsafe { (*(*self.as_raw()).s_bdev).bd_mapping };
        let mut done = 0usize;
        while done < buf.len() {
            let index = pos / PAGE_SIZE as u64;
            // SAFETY: `mapping` is the block device's address space; a NULL file is allowed.
            let folio =
                unsafe { bindings::read_mapping_folio(mapping, index as _, core::ptr::null_mut()) };
            let folio = crate::error::from_err_ptr(folio)?;
            // SAFETY: `folio` is a valid, referenced folio.
            let folio_pos = unsafe { bindings::folio_pos(folio) } as u64;
            // SAFETY: As above.
            let folio_size = unsafe { bindings::folio_size(folio) };
            let in_folio = (pos - folio_pos) as usize;
            let n = (folio_size - in_folio).min(buf.len() - done);
            // SAFETY: `in_folio + n` lies within the folio, and `buf[done..done + n]` is valid
            // for writes.
            unsafe {
                bindings::memcpy_from_folio(buf[done..].as_mut_ptr().cast(), folio, in_folio, n);
                bindings::folio_put(folio);
            }
            done += n;
            pos += n as u64;
        }
        Ok(())
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

    /// Sets the file system's magic number (`s_magic`).
    pub fn set_magic(&mut self, magic: u64) -> &mut Self {
        // SAFETY: The super block is exclusively ours while it is new.
        unsafe { (*self.as_raw()).s_magic = magic as _ };
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
