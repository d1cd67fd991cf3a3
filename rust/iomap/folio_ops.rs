// SPDX-License-Identifier: GPL-2.0

//! Per-folio hooks of buffered writes (`struct iomap_write_ops`) and reads
//! (`struct iomap_read_ops`), and the view of an `iomap_iter` they get.

use crate::mapping::{Mapping, OpFlags};
use core::{marker::PhantomData, ptr::NonNull};
use kernel::{
    bindings,
    fs::{
        folio::{FolioGuard, LockedFolio},
        inode::INode,
        FileSystem,
    },
    prelude::*,
};

/// A read-only view of the `struct iomap_iter` iomap passes to a per-folio hook: the inode,
/// the position and remaining length of the operation, its flags and its current mapping.
///
/// # Invariants
///
/// `iter` iterates over a live inode of `T`, held for `'a` by the read or write iomap runs
/// (an open file, a mapping or an `ARef`), which also keeps its super block active.
pub struct IterRef<'a, T: FileSystem> {
    iter: &'a bindings::iomap_iter,
    _p: PhantomData<T>,
}

impl<'a, T: FileSystem> IterRef<'a, T> {
    /// # Safety
    ///
    /// `iter` must be valid for `'a` and iterate over an inode of `T` as the type invariants
    /// say.
    unsafe fn from_raw(iter: *const bindings::iomap_iter) -> Self {
        Self {
            // SAFETY: By the safety requirements.
            iter: unsafe { &*iter },
            _p: PhantomData,
        }
    }

    /// The inode the operation is on.
    pub fn inode(&self) -> &'a INode<T> {
        // SAFETY: By the type invariants the inode is a live, held inode of `T` whose super
        // block is active, for `'a`.
        unsafe { INode::from_raw_inode(self.iter.inode) }
    }

    /// The current file position.
    pub fn pos(&self) -> i64 {
        self.iter.pos
    }

    /// The bytes left in the operation.
    pub fn len(&self) -> u64 {
        self.iter.len
    }

    /// Tells whether nothing is left.
    pub fn is_empty(&self) -> bool {
        self.iter.len == 0
    }

    /// The `iomap_begin` flags of the operation.
    pub fn flags(&self) -> OpFlags {
        OpFlags::from_raw(self.iter.flags)
    }

    /// The current mapping, as returned by `begin` (without its inline buffer or source).
    pub fn mapping(&self) -> Option<Mapping> {
        // SAFETY: The iterator's map is valid while the iterator is.
        unsafe { Mapping::read_raw(&self.iter.iomap) }
    }
}

/// The view of the iterator passed to [`WriteOperations::get_folio`], which can also get the
/// folio the default way.
pub struct WriteIter<'a, T: FileSystem> {
    iter: NonNull<bindings::iomap_iter>,
    view: IterRef<'a, T>,
}

impl<T: FileSystem> WriteIter<'_, T> {
    /// Gets the locked page cache folio for `pos..pos + len` the way iomap does without a
    /// `get_folio` hook (`iomap_get_folio`, creating it if needed).
    pub fn iomap_get_folio(&self, pos: i64, len: usize) -> Result<FolioGuard> {
        // SAFETY: The iterator is valid for the hook call.
        let f = unsafe { bindings::iomap_get_folio(self.iter.as_ptr(), pos, len) };
        let f = kernel::error::from_err_ptr(f)?;
        let f = NonNull::new(f).ok_or(ENOMEM)?;
        // SAFETY: `iomap_get_folio` returns a locked folio and a reference we now own.
        Ok(unsafe { FolioGuard::from_raw(f) })
    }
}

impl<'a, T: FileSystem> core::ops::Deref for WriteIter<'a, T> {
    type Target = IterRef<'a, T>;
    fn deref(&self) -> &IterRef<'a, T> {
        &self.view
    }
}

/// Per-folio hooks of buffered writes, zeroing and unsharing (`struct iomap_write_ops`). Every
/// hook is optional (`NULL` when not implemented). They run inside the entry point that
/// started the write ([`buffered_write`](crate::buffered_write), [`zero_range`](crate::zero_range),
/// [`truncate_page`](crate::truncate_page), [`file_unshare`](crate::file_unshare)), with its
/// locks held. Install them with [`Operations::WRITE_OPS`](crate::Operations::WRITE_OPS).
#[macros::vtable]
pub trait WriteOperations: crate::Operations {
    /// Gets the folio to write `len` bytes at `pos` into (`->get_folio`): locked, referenced,
    /// in the inode's page cache and containing `pos` (anything else is refused with `EIO`).
    /// [`WriteIter::iomap_get_folio`] is the default behaviour.
    fn get_folio(
        _iter: &WriteIter<'_, Self::FileSystem>,
        _pos: i64,
        _len: u32,
    ) -> Result<FolioGuard> {
        build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }

    /// Finishes a folio after `copied` bytes at `pos` were written into it (`->put_folio`);
    /// called for every folio `get_folio` gave. Dropping the guard unlocks and releases the
    /// folio, as C requires.
    fn put_folio(_inode: &INode<Self::FileSystem>, _pos: i64, _copied: u32, _folio: FolioGuard) {
        build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }

    /// Tells whether `mapping` (with the [validity cookie](Mapping::validity_cookie) `begin`
    /// set) still describes the file (`->iomap_valid`), called with the folio over the
    /// position locked. `false` makes iomap map the range again.
    fn iomap_valid(_inode: &INode<Self::FileSystem>, _mapping: &Mapping) -> bool {
        build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }

    /// Reads `len` bytes at file position `pos` into the locked `folio`, synchronously, before
    /// a partial write (`->read_folio_range`); without it iomap reads with a bio.
    fn read_folio_range(
        _iter: &IterRef<'_, Self::FileSystem>,
        _folio: &LockedFolio,
        _pos: i64,
        _len: usize,
    ) -> Result {
        build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
}

/// A const `struct iomap_write_ops` of file system `T`, made by [`WriteOps::table`].
#[derive(Clone, Copy)]
pub struct WriteTable<T: FileSystem>(&'static bindings::iomap_write_ops, PhantomData<T>);

impl<T: FileSystem> WriteTable<T> {
    pub(crate) fn as_ptr(&self) -> *const bindings::iomap_write_ops {
        self.0
    }
}

/// The const C table of `U`'s write hooks.
pub struct WriteOps<U: WriteOperations>(PhantomData<U>);

impl<U: WriteOperations> WriteOps<U> {
    /// The C `struct iomap_write_ops`.
    pub const TABLE: bindings::iomap_write_ops = bindings::iomap_write_ops {
        get_folio: if U::HAS_GET_FOLIO {
            Some(Self::get_folio)
        } else {
            None
        },
        put_folio: if U::HAS_PUT_FOLIO {
            Some(Self::put_folio)
        } else {
            None
        },
        iomap_valid: if U::HAS_IOMAP_VALID {
            Some(Self::iomap_valid)
        } else {
            None
        },
        read_folio_range: if U::HAS_READ_FOLIO_RANGE {
            Some(Self::read_folio_range)
        } else {
            None
        },
    };

    /// The table, for [`Operations::WRITE_OPS`](crate::Operations::WRITE_OPS).
    pub const fn table() -> WriteTable<U::FileSystem> {
        WriteTable(&Self::TABLE, PhantomData)
    }

    /// # Safety
    ///
    /// Called by iomap's buffered write path with its iterator.
    unsafe extern "C" fn get_folio(
        iter: *mut bindings::iomap_iter,
        pos: bindings::loff_t,
        len: c_uint,
    ) -> *mut bindings::folio {
        let Some(it) = NonNull::new(iter) else {
            return EIO.to_ptr();
        };
        let w = WriteIter {
            iter: it,
            // SAFETY: The iterator is valid for the call and over an inode of ours.
            view: unsafe { IterRef::from_raw(iter) },
        };
        let inode = w.inode();
        match U::get_folio(&w, pos, len) {
            Ok(folio) => {
                let end = folio.pos().saturating_add(folio.size() as i64);
                // SAFETY: The folio is locked, so its mapping is stable.
                let mapping = unsafe { bindings::folio_mapping(folio.as_raw()) };
                if mapping != inode.mapping() || pos < folio.pos() || pos >= end {
                    pr_err!(
                        "inode {}: get_folio returned a folio not covering {}\n",
                        inode.ino(),
                        pos
                    );
                    // Dropping the guard unlocks and releases it.
                    return EIO.to_ptr();
                }
                folio.into_raw().as_ptr()
            }
            Err(e) => e.to_ptr(),
        }
    }

    /// # Safety
    ///
    /// Called by iomap with a folio `get_folio` returned, whose lock and reference it hands
    /// back.
    unsafe extern "C" fn put_folio(
        inode: *mut bindings::inode,
        pos: bindings::loff_t,
        copied: c_uint,
        folio: *mut bindings::folio,
    ) {
        // SAFETY: The inode is ours and live for the write, whose open file keeps the super
        // block active.
        let inode = unsafe { INode::<U::FileSystem>::from_raw_inode(inode) };
        let Some(folio) = NonNull::new(folio) else {
            return;
        };
        // SAFETY: iomap gives us the lock and the reference (`put_folio` must release both).
        let guard = unsafe { FolioGuard::from_raw(folio) };
        U::put_folio(inode, pos, copied, guard);
    }

    /// # Safety
    ///
    /// Called by iomap with a mapping `begin` produced.
    unsafe extern "C" fn iomap_valid(
        inode: *mut bindings::inode,
        iomap: *const bindings::iomap,
    ) -> bool {
        // SAFETY: The inode is ours and live (a buffered write, whose open file keeps the
        // super block active); the map is valid for the call.
        let (inode, map) = unsafe {
            (
                INode::<U::FileSystem>::from_raw_inode(inode),
                Mapping::read_raw(iomap),
            )
        };
        map.is_some_and(|m| U::iomap_valid(inode, &m))
    }

    /// # Safety
    ///
    /// Called by iomap's write path with its iterator and a locked folio.
    unsafe extern "C" fn read_folio_range(
        iter: *const bindings::iomap_iter,
        folio: *mut bindings::folio,
        pos: bindings::loff_t,
        len: usize,
    ) -> c_int {
        // SAFETY: The iterator is valid for the call; the folio is locked and referenced by
        // iomap for the call.
        let (it, folio) = unsafe { (IterRef::from_raw(iter), LockedFolio::from_raw(folio)) };
        // iomap marks the range uptodate when the hook succeeds: zero it first, so that a
        // hook that returns `Ok` without writing every byte exposes zeroes, never stale memory.
        let off = pos.wrapping_sub(folio.pos());
        let Ok(off) = usize::try_from(off) else {
            return EIO.to_errno();
        };
        if folio.zero_range(off, len).is_err() {
            return EIO.to_errno();
        }
        match U::read_folio_range(&it, folio, pos, len) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }
}

/// Per-folio read hook of `read_folio` and `readahead` (`struct iomap_read_ops`), replacing
/// iomap's bio reads. Install it with [`Operations::READ_OPS`](crate::Operations::READ_OPS).
///
/// The read is synchronous: when the hook returns `Ok`, the glue reports the range read
/// (`iomap_finish_folio_read`), and iomap unlocks the folio once all its ranges are done. C's
/// optional `submit_read` is not offered: iomap calls it only for a per-call read context
/// (`read_ctx`) batching asynchronous reads, which these synchronous reads do not need, and
/// `bio_set` stays `NULL`.
#[macros::vtable]
pub trait ReadOperations: crate::Operations {
    /// Reads `len` bytes at file position `pos` (the iterator's position, inside the mapping
    /// `iter.mapping()`) into the locked `folio` (`->read_folio_range`). The caller holds
    /// the folio lock; no inode lock is held (page cache reads).
    fn read_folio_range(
        iter: &IterRef<'_, Self::FileSystem>,
        folio: &LockedFolio,
        pos: i64,
        len: usize,
    ) -> Result;
}

/// A const `struct iomap_read_ops` of file system `T`, made by [`ReadOps::table`].
#[derive(Clone, Copy)]
pub struct ReadTable<T: FileSystem>(&'static bindings::iomap_read_ops, PhantomData<T>);

impl<T: FileSystem> ReadTable<T> {
    pub(crate) fn as_ptr(&self) -> *const bindings::iomap_read_ops {
        self.0
    }
}

/// The const C table of `U`'s read hook.
pub struct ReadOps<U: ReadOperations>(PhantomData<U>);

impl<U: ReadOperations> ReadOps<U> {
    /// The C `struct iomap_read_ops`.
    pub const TABLE: bindings::iomap_read_ops = bindings::iomap_read_ops {
        read_folio_range: Some(Self::read_folio_range),
        submit_read: None,
        bio_set: core::ptr::null_mut(),
    };

    /// The table, for [`Operations::READ_OPS`](crate::Operations::READ_OPS).
    pub const fn table() -> ReadTable<U::FileSystem> {
        ReadTable(&Self::TABLE, PhantomData)
    }

    /// # Safety
    ///
    /// Called by `iomap_read_folio`/`iomap_readahead` with the context the glue built and a
    /// locked current folio.
    unsafe extern "C" fn read_folio_range(
        iter: *const bindings::iomap_iter,
        ctx: *mut bindings::iomap_read_folio_ctx,
        len: usize,
    ) -> c_int {
        // SAFETY: The iterator and the context are valid for the call; the current folio is
        // locked and referenced until its read is finished.
        unsafe {
            let it = IterRef::<U::FileSystem>::from_raw(iter);
            let raw = (*ctx).cur_folio;
            if raw.is_null() {
                return EIO.to_errno();
            }
            let folio = LockedFolio::from_raw(raw);
            let pos = it.pos();
            let off = (pos - folio.pos()) as usize;
            if pos < folio.pos() || off.saturating_add(len) > folio.size() {
                return EIO.to_errno();
            }
            // The glue marks the range read (uptodate) when the hook succeeds: zero it first,
            // so that a hook that returns `Ok` without writing every byte exposes zeroes, never
            // stale memory.
            if folio.zero_range(off, len).is_err() {
                return EIO.to_errno();
            }
            match U::read_folio_range(&it, folio, pos, len) {
                Ok(()) => {
                    bindings::iomap_finish_folio_read(raw, off, len, 0);
                    0
                }
                Err(e) => e.to_errno(),
            }
        }
    }
}

#[kunit_tests(rust_iomap_folio_ops)]
mod tests {
    use super::*;
    use crate::{ops::write_ops, AddressSpace, Operations, Ops, WritebackOperations};
    use kernel::fs::inode::INodeView;
    use kernel::fs::{New, Ready, SuperBlock};
    use kernel::sync::aref::ARef;

    struct Fs;
    #[vtable]
    impl FileSystem for Fs {
        const NAME: &'static CStr = c"rust_iomap_folio_test";
        type Data = ();
        type INodeData = ();
        fn fill_super(_sb: &mut SuperBlock<Self, New>) -> Result<()> {
            Err(EINVAL)
        }
        fn init_root(_sb: &SuperBlock<Self, Ready>) -> Result<ARef<INode<Self>>> {
            Err(EINVAL)
        }
    }

    fn hole(pos: i64, len: i64) -> Result<Mapping> {
        Ok(Mapping::hole(pos, len as u64))
    }

    struct Plain;
    #[vtable]
    impl Operations for Plain {
        type FileSystem = Fs;
        fn begin(_i: &INode<Fs>, pos: i64, len: i64, _f: OpFlags) -> Result<Mapping> {
            hole(pos, len)
        }
    }
    #[vtable]
    impl WritebackOperations for Plain {
        fn map_writeback(_i: &INodeView<Fs>, _p: i64, _l: u32, _e: i64) -> Result<Mapping> {
            Err(EIO)
        }
    }

    struct ValidOnly;
    #[vtable]
    impl Operations for ValidOnly {
        type FileSystem = Fs;
        const WRITE_OPS: Option<WriteTable<Fs>> = Some(WriteOps::<ValidOnly>::table());
        fn begin(_i: &INode<Fs>, pos: i64, len: i64, _f: OpFlags) -> Result<Mapping> {
            hole(pos, len)
        }
    }
    #[vtable]
    impl WriteOperations for ValidOnly {
        fn iomap_valid(_i: &INode<Fs>, m: &Mapping) -> bool {
            m.validity_cookie() == 1
        }
    }

    struct All;
    #[vtable]
    impl Operations for All {
        type FileSystem = Fs;
        const WRITE_OPS: Option<WriteTable<Fs>> = Some(WriteOps::<All>::table());
        const READ_OPS: Option<ReadTable<Fs>> = Some(ReadOps::<All>::table());
        fn begin(_i: &INode<Fs>, pos: i64, len: i64, _f: OpFlags) -> Result<Mapping> {
            hole(pos, len)
        }
    }
    #[vtable]
    impl WriteOperations for All {
        fn get_folio(it: &WriteIter<'_, Fs>, pos: i64, len: u32) -> Result<FolioGuard> {
            it.iomap_get_folio(pos, len as usize)
        }
        fn put_folio(_i: &INode<Fs>, _p: i64, _c: u32, _f: FolioGuard) {}
        fn iomap_valid(_i: &INode<Fs>, _m: &Mapping) -> bool {
            true
        }
        fn read_folio_range(_it: &IterRef<'_, Fs>, f: &LockedFolio, _p: i64, len: usize) -> Result {
            f.zero_range(0, len)
        }
    }
    #[vtable]
    impl ReadOperations for All {
        fn read_folio_range(_it: &IterRef<'_, Fs>, f: &LockedFolio, _p: i64, len: usize) -> Result {
            f.zero_range(0, len)
        }
    }
    #[vtable]
    impl WritebackOperations for All {
        const SWAPFILE: bool = true;
        fn map_writeback(_i: &INodeView<Fs>, _p: i64, _l: u32, _e: i64) -> Result<Mapping> {
            Err(EIO)
        }
    }

    #[test]
    fn write_ops_hooks_follow_the_impl() {
        let v = &WriteOps::<ValidOnly>::TABLE;
        assert!(v.iomap_valid.is_some());
        assert!(v.get_folio.is_none() && v.put_folio.is_none() && v.read_folio_range.is_none());
        let a = &WriteOps::<All>::TABLE;
        assert!(a.get_folio.is_some() && a.put_folio.is_some());
        assert!(a.iomap_valid.is_some() && a.read_folio_range.is_some());
    }

    #[test]
    fn write_ops_reach_the_entry_points() {
        assert!(write_ops::<Plain>().is_null());
        assert_eq!(
            write_ops::<ValidOnly>(),
            core::ptr::from_ref(&WriteOps::<ValidOnly>::TABLE)
        );
        assert_eq!(
            write_ops::<All>(),
            core::ptr::from_ref(&WriteOps::<All>::TABLE)
        );
        // `iomap_end` is still not needed for these.
        assert!(Ops::<All>::TABLE.iomap_end.is_none());
    }

    #[test]
    fn read_ops_table() {
        let r = &ReadOps::<All>::TABLE;
        assert!(r.read_folio_range.is_some());
        assert!(r.submit_read.is_none());
        assert!(r.bio_set.is_null());
        assert!(<Plain as Operations>::READ_OPS.is_none());
        assert_eq!(
            <All as Operations>::READ_OPS.map(|t| t.as_ptr()),
            Some(core::ptr::from_ref(&ReadOps::<All>::TABLE))
        );
    }

    #[test]
    fn swapfile_hook_follows_the_flag() {
        assert_eq!(
            AddressSpace::<All>::TABLE.swap_activate.is_some(),
            cfg!(CONFIG_SWAP)
        );
        assert!(AddressSpace::<Plain>::TABLE.swap_activate.is_none());
        assert!(AddressSpace::<Plain>::TABLE.swap_deactivate.is_none());
    }

    // Read hooks that claim success without writing a byte.
    struct Lazy;
    #[vtable]
    impl Operations for Lazy {
        type FileSystem = Fs;
        fn begin(_i: &INode<Fs>, pos: i64, len: i64, _f: OpFlags) -> Result<Mapping> {
            hole(pos, len)
        }
    }
    #[vtable]
    impl WriteOperations for Lazy {
        fn read_folio_range(_it: &IterRef<'_, Fs>, _f: &LockedFolio, _p: i64, _l: usize) -> Result {
            Ok(())
        }
    }
    #[vtable]
    impl ReadOperations for Lazy {
        fn read_folio_range(_it: &IterRef<'_, Fs>, _f: &LockedFolio, _p: i64, _l: usize) -> Result {
            Ok(())
        }
    }

    #[test]
    fn read_range_never_exposes_stale_bytes() {
        use kernel::fs::folio::Folio;
        let f = Folio::alloc(0).unwrap();
        let g = f.lock();
        g.copy_from_slice(0, &[0xaa; 4096]).unwrap();
        let mut it: bindings::iomap_iter = pin_init::zeroed();
        // Write path: the range 512..1536 comes back zeroed although the hook wrote nothing.
        it.pos = 512;
        let raw = g.into_raw();
        // SAFETY: `it` is a valid local (the hook never asks for the inode); the folio is
        // locked and referenced by us for the call.
        let r = unsafe { WriteOps::<Lazy>::read_folio_range(&it, raw.as_ptr(), 512, 1024) };
        assert_eq!(r, 0);
        // A range outside the folio is refused before the hook runs.
        // SAFETY: As above.
        let r = unsafe { WriteOps::<Lazy>::read_folio_range(&it, raw.as_ptr(), 4000, 1024) };
        assert_eq!(r, EIO.to_errno());
        let mut back = [0u8; 2048];
        f.copy_to_slice(0, &mut back).unwrap();
        assert!(back[..512].iter().all(|&b| b == 0xaa));
        assert!(back[512..1536].iter().all(|&b| b == 0));
        assert!(back[1536..].iter().all(|&b| b == 0xaa));
        // Read path: the glue finishes the read (uptodate, unlocked) with zeroes, not 0xaa.
        let mut ctx: bindings::iomap_read_folio_ctx = pin_init::zeroed();
        ctx.cur_folio = raw.as_ptr();
        it.pos = 0;
        // SAFETY: As above; `ctx` is a valid local whose current folio is locked; without
        // folio state, `iomap_finish_folio_read` ends the read (marks it uptodate, unlocks).
        let r = unsafe { ReadOps::<Lazy>::read_folio_range(&it, &mut ctx, 4096) };
        assert_eq!(r, 0);
        assert!(f.is_uptodate() && !f.is_locked());
        f.copy_to_slice(0, &mut back).unwrap();
        assert!(back.iter().all(|&b| b == 0));
        // SAFETY: The lock went with the read; the reference from `into_raw` is still ours.
        drop(unsafe { Folio::from_raw_owned(raw) });
    }

    #[test]
    fn iter_view() {
        let mut it: bindings::iomap_iter = pin_init::zeroed();
        it.pos = 8192;
        it.len = 100;
        it.flags = bindings::IOMAP_WRITE | bindings::IOMAP_ZERO;
        it.iomap.type_ = bindings::IOMAP_DELALLOC as u16;
        it.iomap.offset = 4096;
        it.iomap.length = 8192;
        it.iomap.addr = crate::NULL_ADDR;
        // SAFETY: `it` is a valid local; `inode()` is not called.
        let v = unsafe { IterRef::<Fs>::from_raw(&it) };
        assert_eq!((v.pos(), v.len(), v.is_empty()), (8192, 100, false));
        assert!(v.flags().contains(OpFlags::WRITE | OpFlags::ZERO));
        let m = v.mapping().unwrap();
        assert_eq!(m.map_type(), crate::MapType::Delalloc);
        assert_eq!((m.offset(), m.length()), (4096, 8192));
    }
}
