// SPDX-License-Identifier: GPL-2.0

//! Folios (`struct folio`): reference-counted groups of pages, usually of a page cache.
//!
//! - [`Folio`] is the reference-counted object: an `ARef<Folio>` owns one reference
//!   (`folio_get`/`folio_put`), a `&Folio` borrows one somebody else owns.
//! - [`LockedFolio`] is the same folio seen through its lock (`PG_locked`): a
//!   `&LockedFolio` proves the folio lock is held for the borrow, and only it gives the
//!   operations that need the lock (zeroing, copying into the folio, marking it uptodate or
//!   dirty).
//! - [`FolioGuard`] owns one reference and the lock: [`Folio::lock`] and [`Folio::try_lock`]
//!   return it, and dropping it unlocks the folio and drops the reference (`folio_unlock` then
//!   `folio_put`). It derefs to [`LockedFolio`].
//!
//! Folios may be large (many pages) and, on 32-bit machines, in high memory, so every access
//! to their contents maps one page at a time with `kmap_local_folio`. Contents are only ever
//! copied in or out (C `memcpy`): no Rust reference to folio memory exists, since other
//! threads and user space mappings may access it at any time.
//!
//! C headers: [`include/linux/mm.h`](srctree/include/linux/mm.h),
//! [`include/linux/pagemap.h`](srctree/include/linux/pagemap.h),
//! [`include/linux/highmem.h`](srctree/include/linux/highmem.h).

use super::{inode::INode, registration::FileSystem};
use crate::{
    bindings,
    error::from_err_ptr,
    page::PAGE_SIZE,
    prelude::*,
    sync::aref::{ARef, AlwaysRefCounted},
    types::Opaque,
};
use core::{mem::ManuallyDrop, ops::Deref, ptr::NonNull};

/// A folio.
///
/// # Invariants
///
/// The wrapped `struct folio` is valid and its reference count is not zero for as long as a
/// `&Folio` exists.
#[repr(transparent)]
pub struct Folio(Opaque<bindings::folio>);

// SAFETY: Folios are reference counted by `folio_get`/`folio_put`; the memory lives until the
// count drops to zero.
unsafe impl AlwaysRefCounted for Folio {
    fn inc_ref(&self) {
        // SAFETY: By the type invariants a reference is held while a `&Folio` exists (every
        // constructor requires one), so the count is not zero.
        unsafe { bindings::folio_get(self.as_raw()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: The caller owns a reference.
        unsafe { bindings::folio_put(obj.as_ptr().cast()) };
    }
}

// SAFETY: A folio may be used and released from any thread.
unsafe impl Send for Folio {}
// SAFETY: Shared access only uses thread-safe C functions (atomic flags and counts); writes to
// the contents need the lock ([`LockedFolio`]).
unsafe impl Sync for Folio {}

/// Flags for page cache lookups (`fgf_t`, the `FGP_*` flags of `__filemap_get_folio`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fgp(u32);

impl Fgp {
    /// No flags: return a folio that is in the cache, or `ENOENT`.
    pub const NONE: Self = Self(0);
    /// `FGP_ACCESSED`: mark the folio accessed.
    pub const ACCESSED: Self = Self(bindings::FGP_ACCESSED);
    /// `FGP_CREAT`: allocate and add a folio if none is cached.
    pub const CREAT: Self = Self(bindings::FGP_CREAT);
    /// `FGP_WRITE`: the folio will be written to by the caller.
    pub const WRITE: Self = Self(bindings::FGP_WRITE);
    /// `FGP_NOFS`: allocate with `__GFP_FS` cleared.
    pub const NOFS: Self = Self(bindings::FGP_NOFS);
    /// `FGP_NOWAIT`: do not sleep; fail with `EAGAIN` instead.
    pub const NOWAIT: Self = Self(bindings::FGP_NOWAIT);
    /// `FGP_STABLE`: wait for the folio to be stable (writeback done).
    pub const STABLE: Self = Self(bindings::FGP_STABLE);
    /// `FGP_DONTCACHE`: uncached buffered I/O.
    pub const DONTCACHE: Self = Self(bindings::FGP_DONTCACHE);
    /// `FGP_WRITEBEGIN`: the flags of a file system's `write_begin` (lock, write, create,
    /// stable).
    pub const WRITEBEGIN: Self = Self(bindings::FGP_WRITEBEGIN);
    const LOCK: u32 = bindings::FGP_LOCK;

    /// Suggests a folio size of `len` bytes for a newly created folio (`fgf_set_order`).
    pub fn with_order_for(self, len: usize) -> Self {
        // SAFETY: Pure computation.
        Self(self.0 | unsafe { bindings::fgf_set_order(len) })
    }

    /// Returns the raw `fgf_t`.
    pub fn bits(self) -> u32 {
        self.0
    }
}

impl core::ops::BitOr for Fgp {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl Folio {
    /// Creates a reference from a raw pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a valid folio on which the caller holds a reference for `'a` (for
    /// example one passed to a C callback, like iomap's `read_folio_range`).
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::folio) -> &'a Self {
        // SAFETY: `Folio` is `repr(transparent)` over the C struct; validity is guaranteed by
        // the caller.
        unsafe { &*ptr.cast() }
    }

    /// Takes over a reference held on a raw folio.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a valid folio and the caller must own one reference to it, which is
    /// transferred to the returned `ARef`.
    pub unsafe fn from_raw_owned(ptr: NonNull<bindings::folio>) -> ARef<Self> {
        // SAFETY: By the safety requirements.
        unsafe { ARef::from_raw(ptr.cast()) }
    }

    /// Returns the raw `struct folio` pointer.
    pub fn as_raw(&self) -> *mut bindings::folio {
        self.0.get()
    }

    /// Allocates a folio of `1 << order` pages outside any page cache (`folio_alloc`), with
    /// zeroed contents and index 0 (so [`Folio::pos`] is 0). Meant for tests and private
    /// buffers.
    pub fn alloc(order: u32) -> Result<ARef<Self>> {
        // SAFETY: Allocation has no preconditions; the result is NULL or a folio with one
        // reference, which the `ARef` owns.
        let ptr =
            unsafe { bindings::folio_alloc(bindings::GFP_KERNEL | bindings::__GFP_ZERO, order) };
        let ptr = NonNull::new(ptr).ok_or(ENOMEM)?;
        // The page allocator leaves `index` as the page's last user set it: make the position
        // of a folio outside any page cache 0, not a leftover.
        // SAFETY: The folio is new and ours alone; `index` is a plain field of its first page.
        unsafe {
            (*ptr.as_ptr())
                .__bindgen_anon_1
                .__bindgen_anon_1
                .__bindgen_anon_2
                .index = 0
        };
        // SAFETY: We own the one reference of the new folio.
        Ok(unsafe { Self::from_raw_owned(ptr) })
    }

    /// Returns the index of the folio in its file, in pages (`folio->index`); meaningful for
    /// page cache folios.
    pub fn index(&self) -> usize {
        // SAFETY: The folio is valid; `index` is stable while it is in a page cache.
        unsafe { bindings::folio_index(self.as_raw()) }
    }

    /// Returns the byte position of the folio in its file (`folio_pos`).
    pub fn pos(&self) -> i64 {
        // SAFETY: The folio is valid.
        unsafe { bindings::folio_pos(self.as_raw()) }
    }

    /// Returns the size of the folio in bytes (`folio_size`).
    pub fn size(&self) -> usize {
        // SAFETY: The folio is valid.
        unsafe { bindings::folio_size(self.as_raw()) }
    }

    /// Returns the number of pages in the folio (`folio_nr_pages`).
    pub fn nr_pages(&self) -> usize {
        // SAFETY: The folio is valid.
        unsafe { bindings::folio_nr_pages(self.as_raw()) as usize }
    }

    /// Tells whether the folio has more than one page (`folio_test_large`).
    pub fn is_large(&self) -> bool {
        // SAFETY: The folio is valid.
        unsafe { bindings::folio_test_large(self.as_raw()) }
    }

    /// Tells whether the folio is locked by anyone (`folio_test_locked`).
    pub fn is_locked(&self) -> bool {
        // SAFETY: The folio is valid.
        unsafe { bindings::folio_test_locked(self.as_raw()) }
    }

    /// Tells whether the contents are valid (`folio_test_uptodate`).
    pub fn is_uptodate(&self) -> bool {
        // SAFETY: The folio is valid.
        unsafe { bindings::folio_test_uptodate(self.as_raw()) }
    }

    /// Tells whether the folio is dirty (`folio_test_dirty`).
    pub fn is_dirty(&self) -> bool {
        // SAFETY: The folio is valid.
        unsafe { bindings::folio_test_dirty(self.as_raw()) }
    }

    /// Tells whether the folio is under writeback (`folio_test_writeback`).
    pub fn is_writeback(&self) -> bool {
        // SAFETY: The folio is valid.
        unsafe { bindings::folio_test_writeback(self.as_raw()) }
    }

    /// Waits until the folio is not under writeback (`folio_wait_writeback`).
    pub fn wait_writeback(&self) {
        // SAFETY: The folio is valid and referenced.
        unsafe { bindings::folio_wait_writeback(self.as_raw()) };
    }

    /// Returns the reference count (`folio_ref_count`), for assertions and tests only: it may
    /// change at any time.
    pub fn ref_count(&self) -> i32 {
        // SAFETY: The folio is valid.
        unsafe { bindings::folio_ref_count(self.as_raw()) }
    }

    /// Locks the folio (`folio_lock`, may sleep) and returns a guard that owns a new reference
    /// and the lock.
    pub fn lock(&self) -> FolioGuard {
        let folio: ARef<Self> = self.into();
        // SAFETY: The folio is valid and referenced.
        unsafe { bindings::folio_lock(folio.as_raw()) };
        FolioGuard(ManuallyDrop::new(folio))
    }

    /// Locks the folio if nobody holds its lock (`folio_trylock`), without sleeping.
    pub fn try_lock(&self) -> Option<FolioGuard> {
        // SAFETY: The folio is valid.
        if unsafe { bindings::folio_trylock(self.as_raw()) } {
            Some(FolioGuard(ManuallyDrop::new(self.into())))
        } else {
            None
        }
    }

    /// Copies `buf.len()` bytes of the contents at `offset` into `buf` (`memcpy_from_folio`,
    /// one page at a time under `kmap_local_folio`).
    ///
    /// The copy is done by C: the folio's bytes are never seen as a Rust reference, so a
    /// concurrent writer (the lock holder, or user space through a shared mapping) is a data
    /// race on bytes in C, as in every C reader of the page cache, and `buf` receives some mix
    /// of old and new bytes.
    ///
    /// Fails with `EINVAL` if the range does not lie within the folio.
    pub fn copy_to_slice(&self, offset: usize, buf: &mut [u8]) -> Result {
        self.check_range(offset, buf.len())?;
        if buf.is_empty() {
            return Ok(());
        }
        // SAFETY: The folio is valid and referenced (type invariants) and the range lies
        // within it (checked above); `buf` is valid for writes of `buf.len()` bytes and cannot
        // overlap the folio, since no Rust reference to folio memory is ever created.
        unsafe {
            bindings::memcpy_from_folio(buf.as_mut_ptr().cast(), self.as_raw(), offset, buf.len())
        };
        Ok(())
    }

    fn check_range(&self, offset: usize, len: usize) -> Result {
        match offset.checked_add(len) {
            Some(end) if end <= self.size() => Ok(()),
            _ => Err(EINVAL),
        }
    }
}

/// A folio whose lock is held: a `&LockedFolio` proves the lock is held for the borrow.
///
/// Obtained from a [`FolioGuard`] (which derefs to it) or, in C callbacks that are called
/// with a locked folio, from [`LockedFolio::from_raw`].
///
/// # Invariants
///
/// The folio is valid, referenced and locked (`PG_locked`) for as long as a `&LockedFolio`
/// exists.
#[repr(transparent)]
pub struct LockedFolio(Folio);

impl LockedFolio {
    /// Creates a reference to a folio whose lock is held.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a valid folio on which a reference and the lock are held (by the
    /// caller or on its behalf, e.g. by the C code calling iomap's `read_folio_range`) for all
    /// of `'a`; nothing may unlock it during `'a`.
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::folio) -> &'a Self {
        // SAFETY: `LockedFolio` is `repr(transparent)` over `Folio`, itself over the C struct.
        unsafe { &*ptr.cast() }
    }

    /// Marks the contents valid (`folio_mark_uptodate`).
    ///
    /// # Safety
    ///
    /// Every byte of the folio must have been written (read from disk, copied or zeroed)
    /// since it was allocated; otherwise readers see stale memory. [`Self::fill_uptodate`]
    /// is the safe way.
    pub unsafe fn mark_uptodate(&self) {
        // SAFETY: The folio is locked (type invariants), as `folio_mark_uptodate` requires;
        // its contents are valid by the safety requirements.
        unsafe { bindings::folio_mark_uptodate(self.as_raw()) };
    }

    /// Marks the folio dirty (`folio_mark_dirty`), through the mapping's `dirty_folio` hook.
    /// Returns `true` if it was clean before.
    pub fn mark_dirty(&self) -> bool {
        // SAFETY: The folio is locked, so it cannot be truncated from its mapping meanwhile.
        unsafe { bindings::folio_mark_dirty(self.as_raw()) }
    }

    /// Zeroes `offset..offset + len` of the folio (`folio_zero_range`), page by page.
    ///
    /// Fails with `EINVAL` if the range does not lie within the folio.
    pub fn zero_range(&self, offset: usize, len: usize) -> Result {
        self.check_range(offset, len)?;
        // SAFETY: The folio is locked and the range lies within it.
        unsafe { bindings::folio_zero_segments(self.as_raw(), offset, offset + len, 0, 0) };
        Ok(())
    }

    /// Zeroes two ranges `start1..end1` and `start2..end2` of the folio
    /// (`folio_zero_segments`), e.g. the parts of a block before and after a write.
    ///
    /// Fails with `EINVAL` if a range is reversed or does not lie within the folio.
    pub fn zero_segments(&self, start1: usize, end1: usize, start2: usize, end2: usize) -> Result {
        let size = self.size();
        if start1 > end1 || end1 > size || start2 > end2 || end2 > size {
            return Err(EINVAL);
        }
        // SAFETY: The folio is locked and both ranges lie within it.
        unsafe { bindings::folio_zero_segments(self.as_raw(), start1, end1, start2, end2) };
        Ok(())
    }

    /// Copies `data` into the folio at `offset` (`memcpy_to_folio`, one page at a time under
    /// `kmap_local_folio`, then `flush_dcache_folio`).
    ///
    /// There is no way to get a Rust slice of a folio's contents: with the folio shared
    /// between threads (`Folio` is `Sync`) and mapped into user space, a `&mut [u8]` could
    /// never be exclusive. Contents go in and out by copy only.
    ///
    /// Fails with `EINVAL` if the range does not lie within the folio.
    pub fn copy_from_slice(&self, offset: usize, data: &[u8]) -> Result {
        self.check_range(offset, data.len())?;
        if data.is_empty() {
            return Ok(());
        }
        // SAFETY: The folio is valid, referenced and locked (type invariants) and the range
        // lies within it (checked above); `data` is valid for reads of `data.len()` bytes and
        // cannot overlap the folio (no Rust reference to folio memory exists).
        unsafe {
            bindings::memcpy_to_folio(self.as_raw(), offset, data.as_ptr().cast(), data.len())
        };
        Ok(())
    }

    /// Fills the whole folio: `data` at offset 0, zeroes after it, then marks the contents
    /// valid (`folio_mark_uptodate`). This is the only safe way to mark a folio uptodate:
    /// marking one whose bytes were never written would expose whatever the memory held
    /// before to readers of the page cache.
    ///
    /// Fails with `EINVAL` (and changes nothing) if `data` is longer than the folio.
    pub fn fill_uptodate(&self, data: &[u8]) -> Result {
        self.check_range(0, data.len())?;
        self.copy_from_slice(0, data)?;
        self.zero_range(data.len(), self.size() - data.len())?;
        // SAFETY: The folio is locked (type invariants), as `folio_mark_uptodate` requires,
        // and every byte of it was written just above.
        unsafe { bindings::folio_mark_uptodate(self.as_raw()) };
        Ok(())
    }
}

impl Deref for LockedFolio {
    type Target = Folio;
    fn deref(&self) -> &Folio {
        &self.0
    }
}

/// Owns one reference to a folio and its lock; dropping it unlocks the folio (`folio_unlock`)
/// and drops the reference (`folio_put`).
///
/// # Invariants
///
/// The folio is locked, and the lock and the reference belong to this guard.
pub struct FolioGuard(ManuallyDrop<ARef<Folio>>);

impl FolioGuard {
    /// Takes over a locked, referenced folio (for example one C passes to iomap's
    /// `put_folio`).
    ///
    /// # Safety
    ///
    /// `ptr` must point to a valid folio whose lock and one reference the caller owns; both
    /// are transferred to the guard.
    pub unsafe fn from_raw(ptr: NonNull<bindings::folio>) -> Self {
        // SAFETY: By the safety requirements the caller owns a reference.
        Self(ManuallyDrop::new(unsafe { Folio::from_raw_owned(ptr) }))
    }

    /// Gives the lock and the reference to the caller (for example to return the folio from
    /// iomap's `get_folio`), without unlocking.
    pub fn into_raw(self) -> NonNull<bindings::folio> {
        let mut me = ManuallyDrop::new(self);
        // SAFETY: `me` is never used or dropped again.
        let folio = unsafe { ManuallyDrop::take(&mut me.0) };
        let ptr = NonNull::from(&*folio).cast();
        core::mem::forget(folio);
        ptr
    }

    /// Unlocks the folio and returns the reference.
    pub fn unlock(self) -> ARef<Folio> {
        let mut me = ManuallyDrop::new(self);
        // SAFETY: `me` is never used or dropped again.
        let folio = unsafe { ManuallyDrop::take(&mut me.0) };
        // SAFETY: By the type invariants the lock is ours.
        unsafe { bindings::folio_unlock(folio.as_raw()) };
        folio
    }
}

impl Deref for FolioGuard {
    type Target = LockedFolio;
    fn deref(&self) -> &LockedFolio {
        // SAFETY: By the type invariants the folio is locked and referenced while `self`
        // lives.
        unsafe { LockedFolio::from_raw(self.0.as_raw()) }
    }
}

impl Drop for FolioGuard {
    fn drop(&mut self) {
        // SAFETY: By the type invariants the lock is ours; the reference is dropped after.
        unsafe {
            bindings::folio_unlock(self.0.as_raw());
            ManuallyDrop::drop(&mut self.0);
        }
    }
}

/// Looks up (or creates) a folio of `mapping` (`__filemap_get_folio`).
///
/// # Safety
///
/// `mapping` must be a valid address space that stays alive for the call.
pub(crate) unsafe fn filemap_get(
    mapping: *mut bindings::address_space,
    index: usize,
    flags: Fgp,
) -> Result<ARef<Folio>> {
    // SAFETY: `mapping` is valid; the gfp mask is the mapping's own.
    let ptr = unsafe {
        bindings::__filemap_get_folio(
            mapping,
            index,
            flags.0 & !Fgp::LOCK,
            bindings::mapping_gfp_mask(mapping),
        )
    };
    let ptr = from_err_ptr(ptr)?;
    // SAFETY: On success `__filemap_get_folio` returns a referenced folio, now ours.
    Ok(unsafe { Folio::from_raw_owned(NonNull::new_unchecked(ptr)) })
}

/// Looks up (or creates) a folio of `mapping` and returns it locked
/// (`__filemap_get_folio` with `FGP_LOCK`).
///
/// # Safety
///
/// `mapping` must be a valid address space that stays alive for the call.
pub(crate) unsafe fn filemap_lock(
    mapping: *mut bindings::address_space,
    index: usize,
    flags: Fgp,
) -> Result<FolioGuard> {
    // SAFETY: `mapping` is valid; the gfp mask is the mapping's own.
    let ptr = unsafe {
        bindings::__filemap_get_folio(
            mapping,
            index,
            flags.0 | Fgp::LOCK,
            bindings::mapping_gfp_mask(mapping),
        )
    };
    let ptr = from_err_ptr(ptr)?;
    // SAFETY: With `FGP_LOCK`, a folio returned is locked and referenced, both now ours.
    Ok(unsafe { FolioGuard::from_raw(NonNull::new_unchecked(ptr)) })
}

impl<T: FileSystem> INode<T> {
    /// Returns the folio of the inode's page cache at page `index` (`__filemap_get_folio`
    /// with `flags`); `ENOENT` if there is none and `flags` lacks [`Fgp::CREAT`], `EAGAIN`
    /// with [`Fgp::NOWAIT`] if it would block. The folio may be locked by someone else and is
    /// not necessarily uptodate.
    pub fn filemap_get_folio(&self, index: usize, flags: Fgp) -> Result<ARef<Folio>> {
        // SAFETY: The inode's mapping lives as long as the inode.
        unsafe { filemap_get(self.mapping(), index, flags) }
    }

    /// Returns the folio of the inode's page cache at page `index`, locked
    /// (`__filemap_get_folio` with `FGP_LOCK | flags`). A folio created with [`Fgp::CREAT`]
    /// is not uptodate: the caller fills it (or zeroes it) and marks it.
    pub fn filemap_lock_folio(&self, index: usize, flags: Fgp) -> Result<FolioGuard> {
        // SAFETY: The inode's mapping lives as long as the inode.
        unsafe { filemap_lock(self.mapping(), index, flags) }
    }
}

#[kunit_tests(rust_fs_folio)]
mod tests {
    use super::*;

    fn pattern(len: usize, seed: u8) -> KVec<u8> {
        let mut v = KVec::with_capacity(len, GFP_KERNEL).unwrap();
        for i in 0..len {
            v.push((i as u8).wrapping_mul(31).wrapping_add(seed), GFP_KERNEL)
                .unwrap();
        }
        v
    }

    #[test]
    fn alloc_geometry() {
        let f = Folio::alloc(0).unwrap();
        assert_eq!(f.size(), PAGE_SIZE);
        assert_eq!(f.nr_pages(), 1);
        assert!(!f.is_large());
        let big = Folio::alloc(2).unwrap();
        assert_eq!(big.size(), 4 * PAGE_SIZE);
        assert_eq!(big.nr_pages(), 4);
        assert!(big.is_large());
        // A fresh folio is zeroed, clean, unlocked and not uptodate.
        let mut buf = KVec::from_elem(0xffu8, big.size(), GFP_KERNEL).unwrap();
        big.copy_to_slice(0, &mut buf).unwrap();
        assert!(buf.iter().all(|&b| b == 0));
        assert!(!big.is_uptodate());
        assert!(!big.is_dirty());
        assert!(!big.is_writeback());
        assert!(!big.is_locked());
    }

    #[test]
    fn lock_typestate() {
        let f = Folio::alloc(0).unwrap();
        let g = f.lock();
        assert!(f.is_locked());
        // The lock is exclusive: a second attempt fails without sleeping.
        assert!(f.try_lock().is_none());
        drop(g);
        assert!(!f.is_locked());
        let g = f.try_lock().unwrap();
        assert!(g.is_locked());
        let back = g.unlock();
        assert!(!back.is_locked());
        // into_raw/from_raw hand the lock over without unlocking.
        let raw = f.lock().into_raw();
        assert!(f.is_locked());
        // SAFETY: `raw` carries the lock and a reference from `into_raw`.
        let g = unsafe { FolioGuard::from_raw(raw) };
        assert!(f.is_locked());
        drop(g);
        assert!(!f.is_locked());
    }

    #[test]
    fn refcount() {
        let f = Folio::alloc(0).unwrap();
        assert_eq!(f.ref_count(), 1);
        let f2 = f.clone();
        assert_eq!(f.ref_count(), 2);
        {
            let g = f.lock();
            assert_eq!(f.ref_count(), 3);
            let raw = g.into_raw();
            assert_eq!(f.ref_count(), 3);
            // SAFETY: As in `lock_typestate`.
            drop(unsafe { FolioGuard::from_raw(raw) });
        }
        assert_eq!(f.ref_count(), 2);
        let r = f.lock().unlock();
        assert_eq!(f.ref_count(), 3);
        drop(r);
        drop(f2);
        assert_eq!(f.ref_count(), 1);
    }

    #[test]
    fn copy_across_pages() {
        let f = Folio::alloc(2).unwrap();
        let g = f.lock();
        // A write straddling page boundaries reads back identically.
        let off = PAGE_SIZE - 100;
        let data = pattern(2 * PAGE_SIZE + 300, 7);
        g.copy_from_slice(off, &data).unwrap();
        let mut back = KVec::from_elem(0u8, data.len(), GFP_KERNEL).unwrap();
        g.copy_to_slice(off, &mut back).unwrap();
        assert!(back[..] == data[..]);
        // Bytes outside the range stay zero.
        let mut edge = [0xffu8; 100];
        g.copy_to_slice(off - 100, &mut edge).unwrap();
        assert!(edge.iter().all(|&b| b == 0));
        // Empty copies at the very end are fine, one byte past it is not.
        g.copy_from_slice(g.size(), &[]).unwrap();
        g.copy_to_slice(g.size(), &mut []).unwrap();
        assert_eq!(g.copy_from_slice(g.size(), &[1]), Err(EINVAL));
    }

    #[test]
    fn zero_and_bounds() {
        let f = Folio::alloc(1).unwrap();
        let g = f.lock();
        let size = g.size();
        let data = pattern(size, 1);
        g.copy_from_slice(0, &data).unwrap();
        g.zero_range(PAGE_SIZE - 10, 20).unwrap();
        g.zero_segments(0, 5, size - 5, size).unwrap();
        let mut back = KVec::from_elem(0u8, size, GFP_KERNEL).unwrap();
        g.copy_to_slice(0, &mut back).unwrap();
        for (i, (&b, &d)) in back.iter().zip(data.iter()).enumerate() {
            let zeroed = i < 5 || i >= size - 5 || (PAGE_SIZE - 10..PAGE_SIZE + 10).contains(&i);
            assert_eq!(b, if zeroed { 0 } else { d });
        }
        // Out-of-range requests are refused before touching memory.
        assert_eq!(g.zero_range(size - 1, 2), Err(EINVAL));
        assert_eq!(g.zero_range(usize::MAX, 2), Err(EINVAL));
        assert_eq!(g.copy_from_slice(size, &[1]), Err(EINVAL));
        let mut one = [0u8; 1];
        assert_eq!(g.copy_to_slice(size, &mut one), Err(EINVAL));
        assert_eq!(g.zero_segments(10, 5, 0, 0), Err(EINVAL));
        // A range that overflows is refused too.
        assert_eq!(g.copy_to_slice(usize::MAX, &mut one), Err(EINVAL));
    }

    #[test]
    fn flags() {
        let f = Folio::alloc(0).unwrap();
        let g = f.lock();
        // Filling writes every byte (data, then zeroes) before marking the folio uptodate.
        g.copy_from_slice(0, &[0xaa; 64]).unwrap();
        assert!(!g.is_uptodate());
        assert_eq!(g.fill_uptodate(&pattern(PAGE_SIZE + 1, 3)), Err(EINVAL));
        assert!(!g.is_uptodate());
        g.fill_uptodate(&[1, 2, 3]).unwrap();
        assert!(g.is_uptodate());
        let mut back = [0xffu8; 8];
        g.copy_to_slice(0, &mut back).unwrap();
        assert_eq!(back, [1, 2, 3, 0, 0, 0, 0, 0]);
        // Without a mapping, marking dirty only sets the flag, once.
        assert!(g.mark_dirty());
        assert!(g.is_dirty());
        assert!(!g.mark_dirty());
        drop(g);
        assert!(f.is_uptodate());
        assert!(!f.is_writeback());
        f.wait_writeback();
    }

    #[test]
    fn page_cache_lookup() {
        // A shmem file provides a real page cache.
        // SAFETY: All-zero VMA flags are `EMPTY_VMA_FLAGS`.
        let flags: bindings::vma_flags_t = unsafe { core::mem::zeroed() };
        // SAFETY: The name is a static C string.
        let file = unsafe {
            bindings::shmem_kernel_file_setup(c"rust_fs_folio".as_char_ptr(), 1 << 20, flags)
        };
        let file = from_err_ptr(file).unwrap();
        // SAFETY: The file is live until the `fput` below.
        let mapping = unsafe { (*file).f_mapping };
        // SAFETY: The mapping is alive; nothing is cached yet.
        let absent = unsafe { filemap_get(mapping, 3, Fgp::NONE) };
        assert_eq!(absent.err(), Some(ENOENT));
        // SAFETY: `shmem_read_folio_gfp` brings page 3 into the cache, referenced.
        let ptr = unsafe { bindings::shmem_read_folio_gfp(mapping, 3, bindings::GFP_KERNEL) };
        let ptr = from_err_ptr(ptr).unwrap();
        // SAFETY: We own the reference it returned.
        let read = unsafe { Folio::from_raw_owned(NonNull::new(ptr).unwrap()) };
        {
            // SAFETY: The mapping is alive.
            let found = unsafe { filemap_get(mapping, 3, Fgp::NONE) }.unwrap();
            assert!(core::ptr::eq(found.as_raw(), read.as_raw()));
            assert_eq!(found.index(), 3);
            assert_eq!(found.pos(), 3 * PAGE_SIZE as i64);
            assert!(found.is_uptodate());
            // SAFETY: The mapping is alive.
            let locked = unsafe { filemap_lock(mapping, 3, Fgp::NONE) }.unwrap();
            assert!(locked.is_locked());
            assert!(found.try_lock().is_none());
            // NOWAIT + LOCK on a locked folio gives EAGAIN instead of sleeping.
            // SAFETY: The mapping is alive.
            let r = unsafe { filemap_lock(mapping, 3, Fgp::NOWAIT) };
            assert_eq!(r.err(), Some(EAGAIN));
        }
        assert!(!read.is_locked());
        drop(read);
        // SAFETY: The file reference from `shmem_kernel_file_setup` is ours.
        unsafe { bindings::fput(file) };
    }
}
