// SPDX-License-Identifier: GPL-2.0

//! iomap operation tables (`struct iomap_ops`, `struct iomap_writeback_ops`), the address
//! space and memory mapping operations built on them, and the iomap entry points.

use crate::folio_ops::{ReadTable, WriteTable};
use crate::mapping::{MapType, Mapping, OpFlags};
use core::marker::PhantomData;
use kernel::{
    bindings,
    error::{from_result, to_result},
    fs::{
        address_space::AOps,
        file_ops::VmOps,
        inode::{FiemapInfo, INode, INodeView, InvalidateLocked, Locked, SharedLocked},
        FileSystem, Kiocb,
    },
    iov::{IovIterDest, IovIterSource},
    prelude::*,
};

/// The mapping operations of a file system (`struct iomap_ops`).
///
/// `begin` answers "what is at `pos`": iomap calls it for every range it works on, with the
/// locks of the entry point that started the iteration held (see each entry point). Every
/// mapping returned is checked with [`Mapping::check`] before iomap sees it; a violation
/// fails the operation with the errno the check gives.
#[macros::vtable]
pub trait Operations {
    /// The file system these operations belong to.
    type FileSystem: FileSystem;

    /// Whether `begin` may return inline mappings ([`Mapping::inline`]): the table then always
    /// has an `iomap_end`, which gives the inline buffer back (to [`Operations::end`], if
    /// implemented) and frees it. An inline mapping from operations without it is refused
    /// (`EIO`).
    const INLINE_DATA: bool = false;

    /// The per-folio write hooks passed to [`buffered_write`], [`zero_range`],
    /// [`truncate_page`] and [`file_unshare`] (`write_ops`): `Some(WriteOps::<Self>::table())`
    /// for a type implementing [`WriteOperations`](crate::WriteOperations); `None` passes
    /// `NULL` (iomap's defaults).
    const WRITE_OPS: Option<WriteTable<Self::FileSystem>> = None;

    /// The per-folio read hook used by `read_folio` and `readahead` of [`AddressSpace`]:
    /// `Some(ReadOps::<Self>::table())` for a type implementing
    /// [`ReadOperations`](crate::ReadOperations); `None` reads with bios
    /// (`iomap_bio_read_folio`, `iomap_bio_readahead`).
    const READ_OPS: Option<ReadTable<Self::FileSystem>> = None;

    /// Maps the file range from `pos` for up to `length` bytes (`->iomap_begin`). The mapping
    /// must start at or before `pos` and may be shorter than asked. With
    /// [`OpFlags::WRITE`], blocks must be allocated (or reserved as delalloc) for the range,
    /// except with [`OpFlags::OVERWRITE_ONLY`]: then nothing may be allocated or converted;
    /// return the allocated blocks covering the whole range, or `EAGAIN` (the caller retries
    /// with the lock held exclusively). Direct writes under the shared inode lock
    /// ([`dio_rw_write_shared`](crate::dio_rw_write_shared)) call this concurrently for one
    /// inode, with or without `OVERWRITE_ONLY`, as page faults do (they hold no inode lock):
    /// the file system serialises its own allocations (as XFS does with its `ILOCK`).
    fn begin(
        inode: &INode<Self::FileSystem>,
        pos: i64,
        length: i64,
        flags: OpFlags,
    ) -> Result<Mapping>;

    /// Finishes a range after iomap used `written` bytes of `mapping` (`->iomap_end`), e.g. to
    /// release blocks reserved but not written, or to store back the
    /// [`inline data`](Mapping::inline_data) a write changed. Runs with the locks of the entry
    /// point that called `begin`. Also runs, with `written == 0`, for a mapping that `begin`
    /// returned and the glue then refused (an overwrite-only mapping shorter than the write,
    /// or one that failed the checks of [`Mapping`]), so that every successful `begin` is
    /// followed by one `end`.
    fn end(
        _inode: &INode<Self::FileSystem>,
        _pos: i64,
        _length: i64,
        _written: isize,
        _flags: OpFlags,
        _mapping: &Mapping,
    ) -> Result {
        build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
}

/// The const C table of `U`'s mapping operations.
pub struct Ops<U: Operations>(PhantomData<U>);

impl<U: Operations> Ops<U> {
    /// Whether the table has an `iomap_end` (`U` implements `end` or returns inline data).
    pub const HAS_ITER_END: bool = U::HAS_END || U::INLINE_DATA;

    /// The C `struct iomap_ops`; `iomap_end` is `NULL` unless `U` implements `end` or sets
    /// [`Operations::INLINE_DATA`], and the 7.3 `iomap_next` hook is always `NULL` (iomap then
    /// uses `begin`/`end`).
    pub const TABLE: bindings::iomap_ops = bindings::iomap_ops {
        iomap_begin: Some(Self::begin),
        iomap_end: if Self::HAS_ITER_END {
            Some(Self::end)
        } else {
            None
        },
        iomap_next: None,
    };

    /// # Safety
    ///
    /// Called by iomap with an inode of `U::FileSystem` and valid output maps.
    pub(crate) unsafe extern "C" fn begin(
        inode: *mut bindings::inode,
        pos: bindings::loff_t,
        length: bindings::loff_t,
        flags: c_uint,
        iomap: *mut bindings::iomap,
        srcmap: *mut bindings::iomap,
    ) -> c_int {
        from_result(|| {
            // Callers hold the inode through an open file, a path, a mapping or an `ARef`
            // (reads, writes, faults, fiemap, seek, truncation, direct I/O), which also keeps
            // the super block active; writeback goes through the writeback operations.
            // SAFETY: A live, held inode of this file system whose super block is active.
            let inode = unsafe { INode::<U::FileSystem>::from_raw_inode(inode) };
            let op = OpFlags::from_raw(flags);
            let map = U::begin(inode, pos, length, op)?;
            // iomap calls `iomap_end` only after a `begin` that succeeded: a mapping refused
            // here goes back to the file system with nothing written, so that what `begin`
            // reserved is released. Its own error is not the caller's.
            let refuse = |map: &Mapping, e: Error| -> Error {
                if U::HAS_END {
                    let _ = U::end(inode, pos, length, 0, op, map);
                }
                e
            };
            let sb = inode.super_block();
            let checked = if map.map_type() == MapType::Inline && !U::INLINE_DATA {
                Err(EIO)
            } else {
                map.check(pos, op, sb.block_size(), sb.device_size())
                    .and_then(|()| map.check_device(sb.bdev()))
                    .and_then(|()| map.check_inline_size(op, inode.size()))
            };
            if let Err(e) = checked {
                pr_err!(
                    "{}: inode {}: bad mapping {:?} for pos {} flags {:#x}\n",
                    sb.id(),
                    inode.ino(),
                    map,
                    pos,
                    flags
                );
                return Err(refuse(&map, e));
            }
            // An overwrite-only call allocates and copies nothing, and is mapped in one go.
            if op.contains(OpFlags::OVERWRITE_ONLY) {
                if let Err(e) = map.check_overwrite_only(pos, length) {
                    return Err(refuse(&map, e));
                }
            }
            // SAFETY: `iomap` and `srcmap` are valid for writes for the call; an inline buffer
            // is taken back by `end`, which the table has when `U::INLINE_DATA` is set.
            unsafe { map.into_raw(iomap, srcmap) };
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by iomap after `begin` with the map it returned.
    unsafe extern "C" fn end(
        inode: *mut bindings::inode,
        pos: bindings::loff_t,
        length: bindings::loff_t,
        written: isize,
        flags: c_uint,
        iomap: *mut bindings::iomap,
    ) -> c_int {
        from_result(|| {
            // SAFETY: As in `begin`.
            let inode = unsafe { INode::<U::FileSystem>::from_raw_inode(inode) };
            // SAFETY: `iomap` was filled in by `begin`; its inline buffer, if any, is taken
            // back exactly once, here.
            let (map, inline) = unsafe { (Mapping::read_raw(iomap), Mapping::take_inline(iomap)) };
            let mut map = map.ok_or(EIO)?;
            map.set_inline(inline);
            if U::HAS_END {
                U::end(inode, pos, length, written, OpFlags::from_raw(flags), &map)?;
            }
            Ok(0)
        })
    }
}

/// Writeback of dirty page cache through iomap (`struct iomap_writeback_ops`).
///
/// Dirty folios are handed to [`WritebackOperations::map_writeback`] range by range, with the
/// folio locked and under writeback; the returned mapping must be [`MapType::Mapped`] or
/// [`MapType::Unwritten`] (`EIO` otherwise). The ranges are then gathered into bios by
/// `iomap_add_to_ioend` and submitted with `iomap_ioend_writeback_submit`; their completion
/// ends writeback of the folios without calling back into the file system.
#[macros::vtable]
pub trait WritebackOperations: Operations {
    /// Whether the file system does direct I/O ([`dio_read`], [`dio_write`]): the address
    /// space then gets `direct_IO = noop_direct_IO`, which lets `open(O_DIRECT)` succeed.
    const DIRECT_IO: bool = false;

    /// Whether files may be used as swap files: the address space then gets `swap_activate`
    /// = `iomap_swapfile_activate`, which maps the whole file with `begin`
    /// ([`OpFlags::REPORT`]), takes written and unwritten (fallocated) extents and refuses
    /// holes, delalloc, inline and shared extents (`EINVAL`). Without it, `swapon` falls back
    /// to `bmap`, which sees unwritten extents as holes. A kernel without `CONFIG_SWAP` has no
    /// swap files, and the hook stays `NULL`.
    const SWAPFILE: bool = false;

    /// Maps `pos..pos + len` (inside a locked folio, `end_pos` being the end of the file data
    /// in it) to the blocks to write to.
    ///
    /// Context: the writeback task (flusher thread, `fsync`, or eviction), may sleep, folio
    /// locked, no inode lock held. The inode's count may be zero (writeback of an unused
    /// inode, or of one being evicted), so it is an [`INodeView`].
    fn map_writeback(
        inode: &INodeView<Self::FileSystem>,
        pos: i64,
        len: u32,
        end_pos: i64,
    ) -> Result<Mapping>;

    /// Tells whether the completion of `ioend` needs [`WritebackOperations::ioend_done`]
    /// (asked at submission, in the writeback task, only if `ioend_done` is implemented). The
    /// default asks for it for unwritten and shared (copy-on-write) extents, as xfs does;
    /// a file system that records the on-disk size at completion also asks for it when the
    /// ioend ends beyond that size. Ioends that need nothing keep iomap's plain completion.
    fn ioend_needs_done(_inode: &INodeView<Self::FileSystem>, ioend: &Ioend) -> bool {
        ioend
            .flags()
            .intersects(IoendFlags::UNWRITTEN | IoendFlags::SHARED)
    }

    /// Runs when the writeback I/O of `ioend` completed, before iomap ends writeback on its
    /// folios (`iomap_finish_ioends`), e.g. to convert the unwritten extents of
    /// `ioend.offset()..ioend.offset() + ioend.size()` to written ones. `error` is the I/O
    /// error, if any; an error returned here is recorded as a writeback error of the file
    /// (`mapping_set_error`, seen by `fsync`).
    ///
    /// Context: a worker of the block layer's `bio_complete` workqueue (process context, may
    /// sleep, `GFP_NOFS` allocation scope), never the writeback task that submitted the
    /// ioend, even when the bio completed at once or its submission failed. The inode's
    /// memory stays valid: its folios are still under writeback, which eviction waits for;
    /// but its count may be zero (eviction is waiting), so it is an [`INodeView`]. It must
    /// not take the inode lock or the invalidate lock nor wait for writeback of the file
    /// (truncate holds those locks while waiting for these folios).
    fn ioend_done(
        _inode: &INodeView<Self::FileSystem>,
        _ioend: &Ioend,
        _error: Option<Error>,
    ) -> Result {
        build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
}

/// Flags of a writeback ioend (`IOMAP_IOEND_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoendFlags(u16);

impl IoendFlags {
    /// `IOMAP_IOEND_SHARED`: the blocks were shared (`IOMAP_F_SHARED`): copy-on-write.
    pub const SHARED: Self = Self(bindings::IOMAP_IOEND_SHARED as u16);
    /// `IOMAP_IOEND_UNWRITTEN`: the range was mapped as unwritten and must be converted.
    pub const UNWRITTEN: Self = Self(bindings::IOMAP_IOEND_UNWRITTEN as u16);
    /// `IOMAP_IOEND_BOUNDARY`: not merged with the ioend before it.
    pub const BOUNDARY: Self = Self(bindings::IOMAP_IOEND_BOUNDARY as u16);
    /// `IOMAP_IOEND_DIRECT`: a direct I/O ioend (never seen by writeback hooks).
    pub const DIRECT: Self = Self(bindings::IOMAP_IOEND_DIRECT as u16);

    /// No flags.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// Wraps C bits.
    pub const fn from_raw(bits: u16) -> Self {
        Self(bits)
    }

    /// The C bits.
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// Tells whether every flag of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Tells whether any flag of `other` is set.
    pub const fn intersects(self, other: Self) -> bool {
        self.0 & other.0 != 0
    }
}

impl core::ops::BitOr for IoendFlags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

/// A writeback ioend (`struct iomap_ioend`) as seen by [`WritebackOperations`]: a copy of its
/// file range, device sector and flags (the C object itself stays with iomap).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ioend {
    offset: i64,
    size: usize,
    sector: u64,
    flags: IoendFlags,
}

impl Ioend {
    /// Describes a range of a file written at `sector` (for tests and callers building one).
    pub fn new(offset: i64, size: usize, sector: u64, flags: IoendFlags) -> Self {
        Self {
            offset,
            size,
            sector,
            flags,
        }
    }

    /// # Safety
    ///
    /// `ioend` must be valid for reads.
    unsafe fn from_raw(ioend: *const bindings::iomap_ioend) -> Self {
        // SAFETY: By the safety requirements.
        let e = unsafe { &*ioend };
        Self::new(e.io_offset, e.io_size, e.io_sector, IoendFlags(e.io_flags))
    }

    /// The file offset of the first byte (`io_offset`).
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// The bytes written (`io_size`, clamped by iomap to the in-core file size).
    pub fn size(&self) -> usize {
        self.size
    }

    /// The first device sector (`io_sector`).
    pub fn sector(&self) -> u64 {
        self.sector
    }

    /// The flags.
    pub fn flags(&self) -> IoendFlags {
        self.flags
    }
}

/// Address space and memory mapping operations of a regular file whose data goes entirely
/// through iomap with the mapping operations of `U`.
pub struct AddressSpace<U: WritebackOperations>(PhantomData<U>);

impl<U: WritebackOperations> AddressSpace<U> {
    /// The `struct iomap_writeback_ops`: `writeback_submit` is iomap's own
    /// `iomap_ioend_writeback_submit` unless `U` implements `ioend_done`.
    const WB_OPS: bindings::iomap_writeback_ops = bindings::iomap_writeback_ops {
        writeback_range: Some(Self::writeback_range),
        writeback_submit: if U::HAS_IOEND_DONE {
            Some(Self::writeback_submit)
        } else {
            Some(bindings::iomap_ioend_writeback_submit)
        },
    };

    /// # Safety
    ///
    /// Called by iomap with the context of `writepages`, whose `wb_ctx` is the ioend built by
    /// `iomap_add_to_ioend` (not yet submitted).
    unsafe extern "C" fn writeback_submit(
        wpc: *mut bindings::iomap_writepage_ctx,
        error: c_int,
    ) -> c_int {
        // SAFETY: `wb_ctx` is the unsubmitted ioend of this context, its inode ours.
        unsafe {
            let ioend = (*wpc).wb_ctx.cast::<bindings::iomap_ioend>();
            let inode = INodeView::<U::FileSystem>::from_raw_view((*ioend).io_inode);
            if U::ioend_needs_done(inode, &Ioend::from_raw(ioend)) {
                let bio = &raw mut (*ioend).io_bio;
                (*bio).bi_end_io = Some(Self::ioend_end_bio);
                // `ioend_end_bio` defers itself to the `bio_complete` workqueue and uses
                // `BIO_COMPLETE_IN_TASK` to know when it runs there; iomap may have set it
                // (drop-behind folios), so start from a clear flag, as xfs does.
                (*bio).bi_flags &= !(1 << bindings::BIO_COMPLETE_IN_TASK);
            }
            bindings::iomap_ioend_writeback_submit(wpc, error)
        }
    }

    /// The `bi_end_io` of an ioend bio set up by `writeback_submit`.
    ///
    /// The first call, from `bio_endio` in whatever context the I/O completed (an interrupt,
    /// or the submitting writeback task itself when a driver such as dm-flakey completes the
    /// bio at once, under the submitter's plug and folio locks), only queues the bio on the
    /// `bio_complete` workqueue, marking it `BIO_COMPLETE_IN_TASK`. The workqueue calls this
    /// again, with the flag set: only then does `ioend_done` run, in a task of its own, like
    /// xfs's `xfs_end_io` worker.
    ///
    /// # Safety
    ///
    /// `bio` is the `io_bio` of an ioend submitted by `writeback_submit`, completed.
    unsafe extern "C" fn ioend_end_bio(bio: *mut bindings::bio) {
        // SAFETY: `bio` is valid until `iomap_finish_ioends` below frees the ioend.
        let deferred = unsafe { (*bio).bi_flags } & (1 << bindings::BIO_COMPLETE_IN_TASK) != 0;
        if !deferred {
            // SAFETY: As above; the workqueue calls `bi_end_io` once more, with the flag.
            unsafe {
                (*bio).bi_flags |= 1 << bindings::BIO_COMPLETE_IN_TASK;
                bindings::__bio_complete_in_task(bio);
            }
            return;
        }
        let off = core::mem::offset_of!(bindings::iomap_ioend, io_bio);
        // SAFETY: The bio is the `io_bio` of an ioend (`iomap_ioend_from_bio`); the ioend and
        // its inode stay valid until `iomap_finish_ioends` ends writeback of its folios.
        unsafe {
            let ioend = bio.cast::<u8>().sub(off).cast::<bindings::iomap_ioend>();
            let mut error = bindings::blk_status_to_errno((*bio).bi_status);
            let inode = INodeView::<U::FileSystem>::from_raw_view((*ioend).io_inode);
            let info = Ioend::from_raw(ioend);
            let nofs = bindings::memalloc_nofs_save();
            let err = (error < 0).then(|| Error::from_errno(error));
            if let Err(e) = U::ioend_done(inode, &info, err) {
                if error == 0 {
                    error = e.to_errno();
                }
            }
            bindings::memalloc_nofs_restore(nofs);
            bindings::iomap_finish_ioends(ioend, error);
        }
    }

    /// The C `struct address_space_operations`: reads with `iomap_bio_read_folio` /
    /// `iomap_bio_readahead`, writeback with `iomap_writepages`, and iomap's folio state
    /// helpers (`iomap_dirty_folio`, `iomap_release_folio`, `iomap_invalidate_folio`,
    /// `iomap_is_partially_uptodate`).
    pub const TABLE: bindings::address_space_operations = bindings::address_space_operations {
        read_folio: Some(Self::read_folio),
        readahead: Some(Self::readahead),
        writepages: Some(Self::writepages),
        dirty_folio: Some(bindings::iomap_dirty_folio),
        release_folio: Some(bindings::iomap_release_folio),
        invalidate_folio: Some(bindings::iomap_invalidate_folio),
        is_partially_uptodate: Some(bindings::iomap_is_partially_uptodate),
        // Without `CONFIG_MIGRATION`, `filemap_migrate_folio` is a macro for `NULL`.
        #[cfg(CONFIG_MIGRATION)]
        migrate_folio: Some(bindings::filemap_migrate_folio),
        error_remove_folio: Some(bindings::generic_error_remove_folio),
        bmap: Some(Self::bmap_cb),
        // Without `CONFIG_SWAP` there is no swap file to activate.
        #[cfg(CONFIG_SWAP)]
        swap_activate: if U::SWAPFILE {
            Some(Self::swap_activate)
        } else {
            None
        },
        direct_IO: if U::DIRECT_IO {
            Some(bindings::noop_direct_IO)
        } else {
            None
        },
        ..pin_init::zeroed()
    };

    /// The C `struct vm_operations_struct` for shared mappings: faults through the page cache
    /// (`filemap_fault`, `filemap_map_pages`) and `page_mkwrite` through
    /// `iomap_page_mkwrite`, with the freeze protection and invalidate lock it requires. A
    /// write fault on a file that became immutable after it was mapped gets `SIGBUS`.
    pub const VM_TABLE: bindings::vm_operations_struct = bindings::vm_operations_struct {
        fault: Some(bindings::filemap_fault),
        map_pages: Some(bindings::filemap_map_pages),
        page_mkwrite: Some(Self::page_mkwrite),
        ..pin_init::zeroed()
    };

    /// The address space operations to install in regular file inodes.
    pub const fn aops() -> AOps<U::FileSystem> {
        // SAFETY: Every callback of `TABLE` is valid for any inode of `U::FileSystem` whose
        // file data is mapped by `U`.
        unsafe { AOps::from_static(&Self::TABLE) }
    }

    /// The memory mapping operations to return as [`VM_OPS`](kernel::fs::file_ops::Operations)
    /// from the file operations of such inodes.
    pub const fn vm_ops() -> VmOps {
        // SAFETY: The callbacks are valid for mappings of files of `U::FileSystem` whose
        // address space operations are `TABLE` (iomap's `page_mkwrite` relies on them).
        unsafe { VmOps::from_static_for(&Self::VM_TABLE, &Self::TABLE) }
    }

    /// # Safety
    ///
    /// Called by the page cache with a locked folio of an inode of `U::FileSystem`.
    unsafe extern "C" fn read_folio(
        _file: *mut bindings::file,
        folio: *mut bindings::folio,
    ) -> c_int {
        match U::READ_OPS {
            Some(t) => {
                let mut ctx: bindings::iomap_read_folio_ctx = pin_init::zeroed();
                ctx.ops = t.as_ptr();
                ctx.cur_folio = folio;
                // SAFETY: The folio is locked and belongs to a mapping with these operations;
                // `ctx` outlives the call and no read context is set, so no asynchronous
                // completion refers to it; iomap unlocks the folio when its reads finish.
                unsafe {
                    bindings::iomap_read_folio(&Ops::<U>::TABLE, &mut ctx, core::ptr::null_mut())
                };
            }
            // SAFETY: As above, with iomap's bio reads.
            None => unsafe { bindings::iomap_bio_read_folio(folio, &Ops::<U>::TABLE) },
        }
        0
    }

    /// # Safety
    ///
    /// Called by the page cache with a readahead control of an inode of `U::FileSystem`.
    unsafe extern "C" fn readahead(rac: *mut bindings::readahead_control) {
        match U::READ_OPS {
            Some(t) => {
                let mut ctx: bindings::iomap_read_folio_ctx = pin_init::zeroed();
                ctx.ops = t.as_ptr();
                ctx.rac = rac;
                // SAFETY: `rac` is valid for the call; `ctx` outlives it and has no read
                // context, so nothing refers to it after the synchronous reads.
                unsafe {
                    bindings::iomap_readahead(&Ops::<U>::TABLE, &mut ctx, core::ptr::null_mut())
                };
            }
            // SAFETY: `rac` is valid for the call.
            None => unsafe { bindings::iomap_bio_readahead(rac, &Ops::<U>::TABLE) },
        }
    }

    /// # Safety
    ///
    /// Called by writeback with a mapping of an inode of `U::FileSystem`.
    unsafe extern "C" fn writepages(
        mapping: *mut bindings::address_space,
        wbc: *mut bindings::writeback_control,
    ) -> c_int {
        let mut wpc: bindings::iomap_writepage_ctx = pin_init::zeroed();
        // SAFETY: The mapping is valid; its host is the inode.
        wpc.inode = unsafe { (*mapping).host };
        wpc.wbc = wbc;
        wpc.ops = &Self::WB_OPS;
        // SAFETY: `wpc` is fully set up and lives until `iomap_writepages` returns; the bios
        // it submits own their completion state (ioends), not `wpc`.
        unsafe { bindings::iomap_writepages(&mut wpc) }
    }

    /// # Safety
    ///
    /// Called by `iomap_writepages` with the context set up in `writepages` and a locked
    /// folio under writeback.
    unsafe extern "C" fn writeback_range(
        wpc: *mut bindings::iomap_writepage_ctx,
        folio: *mut bindings::folio,
        pos: u64,
        len: c_uint,
        end_pos: u64,
    ) -> isize {
        from_result(|| {
            // SAFETY: `wpc` is valid; its inode is the one being written back, alive for the
            // call (its folio is locked and under writeback) though maybe unreferenced.
            let inode = unsafe { INodeView::<U::FileSystem>::from_raw_view((*wpc).inode) };
            let map = U::map_writeback(inode, pos as i64, len, end_pos as i64)?;
            let sb = inode.super_block();
            let ok = map.map_type().has_blocks()
                && map
                    .check(
                        pos as i64,
                        OpFlags::WRITE,
                        sb.block_size(),
                        sb.device_size(),
                    )
                    .and_then(|()| map.check_device(sb.bdev()))
                    .is_ok();
            if !ok {
                pr_err!(
                    "{}: inode {}: bad writeback mapping {:?} for pos {}\n",
                    sb.id(),
                    inode.ino(),
                    map,
                    pos
                );
                return Err(EIO);
            }
            // SAFETY: `wpc->iomap` is ours to fill in; the folio is locked and under
            // writeback as `iomap_add_to_ioend` requires.
            let r = unsafe {
                map.write_raw(&mut (*wpc).iomap);
                bindings::iomap_add_to_ioend(wpc, folio, pos as i64, end_pos as i64, len)
            };
            if r < 0 {
                return Err(Error::from_errno(r as i32));
            }
            Ok(r)
        })
    }

    /// # Safety
    ///
    /// Called with a vm fault on a shared mapping of a file of `U::FileSystem`.
    unsafe extern "C" fn page_mkwrite(vmf: *mut bindings::vm_fault) -> bindings::vm_fault_t {
        // SAFETY: The fault, its vma and file are valid for the call.
        unsafe {
            let file = (*(*vmf).__bindgen_anon_1.vma).vm_file;
            let inode = bindings::file_inode(file);
            // A file made immutable while mapped writable keeps its pages clean (as ext4).
            if (*inode).i_flags & bindings::S_IMMUTABLE != 0 {
                return bindings::vm_fault_reason_VM_FAULT_SIGBUS;
            }
            let sb = (*inode).i_sb;
            bindings::sb_start_pagefault(sb);
            bindings::file_update_time(file);
            bindings::filemap_invalidate_lock_shared((*inode).i_mapping);
            let r = bindings::iomap_page_mkwrite(vmf, &Ops::<U>::TABLE, core::ptr::null_mut());
            bindings::filemap_invalidate_unlock_shared((*inode).i_mapping);
            bindings::sb_end_pagefault(sb);
            r
        }
    }

    /// # Safety
    ///
    /// Called by `swapon` (with the inode lock held) for a file of `U::FileSystem`.
    #[cfg(CONFIG_SWAP)]
    unsafe extern "C" fn swap_activate(
        sis: *mut bindings::swap_info_struct,
        file: *mut bindings::file,
        span: *mut bindings::sector_t,
    ) -> c_int {
        // SAFETY: The arguments are valid for the call, as `iomap_swapfile_activate` needs.
        unsafe { bindings::iomap_swapfile_activate(sis, file, span, &Ops::<U>::TABLE) }
    }

    /// # Safety
    ///
    /// Called by `bmap()` with a mapping of a file of `U::FileSystem`.
    unsafe extern "C" fn bmap_cb(
        mapping: *mut bindings::address_space,
        block: bindings::sector_t,
    ) -> bindings::sector_t {
        // SAFETY: The mapping is valid for the call.
        unsafe { bindings::iomap_bmap(mapping, block, &Ops::<U>::TABLE) }
    }
}

pub(crate) fn write_ops<U: Operations>() -> *const bindings::iomap_write_ops {
    match U::WRITE_OPS {
        Some(t) => t.as_ptr(),
        None => core::ptr::null(),
    }
}

fn ret_len(r: isize) -> Result<usize> {
    if r < 0 {
        Err(Error::from_errno(r as i32))
    } else {
        Ok(r as usize)
    }
}

/// Buffered write of `from` at `iocb`'s position (`iomap_file_buffered_write`), with the
/// write hooks of [`Operations::WRITE_OPS`]. The caller holds the inode lock exclusively (the
/// guard) and has run [`write_checks`](kernel::fs::file_ops::write_checks); the position is
/// advanced. Returns the bytes written; a short write returns what was written before the
/// error.
pub fn buffered_write<U: Operations>(
    lock: &Locked<'_, U::FileSystem>,
    iocb: &mut Kiocb<'_, ()>,
    from: &mut IovIterSource<'_>,
) -> Result<usize> {
    lock.check_iocb(iocb)?;
    // SAFETY: `iocb` and `from` are valid; the inode lock is held; the write operations are
    // static (or NULL) and NULL private data is allowed.
    ret_len(unsafe {
        bindings::iomap_file_buffered_write(
            iocb.as_raw(),
            from.as_raw(),
            &Ops::<U>::TABLE,
            write_ops::<U>(),
            core::ptr::null_mut(),
        )
    })
}

/// Zeroes `len` bytes from `pos` in the page cache (`iomap_zero_range`), skipping holes and
/// unwritten extents. The caller holds the inode lock and the invalidate lock of the same
/// inode exclusively (`EINVAL` if the guards are of different inodes).
/// Returns whether anything was zeroed.
pub fn zero_range<U: Operations>(
    lock: &Locked<'_, U::FileSystem>,
    ilock: &InvalidateLocked<'_, U::FileSystem>,
    pos: i64,
    len: i64,
) -> Result<bool> {
    if !ilock.is_of(lock) {
        return Err(EINVAL);
    }
    let mut did = false;
    // SAFETY: The inode is valid and locked as iomap requires.
    to_result(unsafe {
        bindings::iomap_zero_range(
            lock.as_raw(),
            pos,
            len,
            &mut did,
            &Ops::<U>::TABLE,
            write_ops::<U>(),
            core::ptr::null_mut(),
        )
    })?;
    Ok(did)
}

/// Zeroes the page cache from `pos` to the end of its block (`iomap_truncate_page`), before a
/// truncate to `pos`. The caller holds the inode lock and the invalidate lock exclusively.
pub fn truncate_page<U: Operations>(
    lock: &Locked<'_, U::FileSystem>,
    ilock: &InvalidateLocked<'_, U::FileSystem>,
    pos: i64,
) -> Result<bool> {
    if !ilock.is_of(lock) {
        return Err(EINVAL);
    }
    let mut did = false;
    // SAFETY: The inode is valid and locked as iomap requires.
    to_result(unsafe {
        bindings::iomap_truncate_page(
            lock.as_raw(),
            pos,
            &mut did,
            &Ops::<U>::TABLE,
            write_ops::<U>(),
            core::ptr::null_mut(),
        )
    })?;
    Ok(did)
}

/// Unshares `len` bytes from `pos` (`iomap_file_unshare`, for `FALLOC_FL_UNSHARE_RANGE`): the
/// shared blocks are read through the source mappings `begin` returns for
/// [`OpFlags::UNSHARE`] and written to the new blocks. The caller holds the inode lock and the
/// invalidate lock of the same inode exclusively (`EINVAL` otherwise).
pub fn file_unshare<U: Operations>(
    lock: &Locked<'_, U::FileSystem>,
    ilock: &InvalidateLocked<'_, U::FileSystem>,
    pos: i64,
    len: i64,
) -> Result {
    if !ilock.is_of(lock) {
        return Err(EINVAL);
    }
    // SAFETY: The inode is valid and locked as iomap requires; the write operations are
    // static or NULL.
    to_result(unsafe {
        bindings::iomap_file_unshare(lock.as_raw(), pos, len, &Ops::<U>::TABLE, write_ops::<U>())
    })
}

/// Reports the extents of `start..start + len` to user space (`iomap_fiemap`, which runs
/// `fiemap_prep`), from a `->fiemap` call, with the inode lock held shared.
pub fn fiemap<U: Operations>(
    lock: &SharedLocked<'_, U::FileSystem>,
    info: &mut FiemapInfo,
    start: u64,
    len: u64,
) -> Result {
    // SAFETY: `info` is the extent buffer of the current `->fiemap` call; the inode is valid.
    to_result(unsafe {
        bindings::iomap_fiemap(lock.as_raw(), info.as_raw(), start, len, &Ops::<U>::TABLE)
    })
}

fn dio<U: Operations>(iocb: &mut Kiocb<'_, ()>, iter: *mut bindings::iov_iter) -> Result<usize> {
    // SAFETY: `iocb` and `iter` are valid for the call. No `iomap_dio_ops` and no private data
    // are passed, and `IOMAP_DIO_FORCE_WAIT` makes iomap wait for every bio before returning,
    // also for asynchronous kiocbs: nothing can run after the caller returns.
    ret_len(unsafe {
        bindings::iomap_dio_rw(
            iocb.as_raw(),
            iter,
            &Ops::<U>::TABLE,
            core::ptr::null(),
            bindings::IOMAP_DIO_FORCE_WAIT,
            core::ptr::null_mut(),
            0,
        )
    })
}

/// Direct read at `iocb`'s position into `to` (`iomap_dio_rw`, waited for), with the inode lock
/// held at least shared. `ENOTBLK` asks the caller to fall back to buffered I/O.
pub fn dio_read<U: Operations>(
    lock: &SharedLocked<'_, U::FileSystem>,
    iocb: &mut Kiocb<'_, ()>,
    to: &mut IovIterDest<'_>,
) -> Result<usize> {
    lock.check_iocb(iocb)?;
    dio::<U>(iocb, to.as_raw())
}

/// Direct write of `from` at `iocb`'s position (`iomap_dio_rw`, waited for), with the inode
/// lock held exclusively. The file size is not changed: the caller extends it after the
/// write. `ENOTBLK` asks the caller to fall back to buffered I/O.
pub fn dio_write<U: Operations>(
    lock: &Locked<'_, U::FileSystem>,
    iocb: &mut Kiocb<'_, ()>,
    from: &mut IovIterSource<'_>,
) -> Result<usize> {
    lock.check_iocb(iocb)?;
    dio::<U>(iocb, from.as_raw())
}

/// Finds the next hole at or after `offset` (`iomap_seek_hole`), with the inode lock held.
pub fn seek_hole<U: Operations>(
    lock: &SharedLocked<'_, U::FileSystem>,
    offset: i64,
) -> Result<i64> {
    // SAFETY: The inode is valid and locked.
    let r = unsafe { bindings::iomap_seek_hole(lock.as_raw(), offset, &Ops::<U>::TABLE) };
    if r < 0 {
        Err(Error::from_errno(r as i32))
    } else {
        Ok(r)
    }
}

/// Finds the next data at or after `offset` (`iomap_seek_data`), with the inode lock held.
pub fn seek_data<U: Operations>(
    lock: &SharedLocked<'_, U::FileSystem>,
    offset: i64,
) -> Result<i64> {
    // SAFETY: The inode is valid and locked.
    let r = unsafe { bindings::iomap_seek_data(lock.as_raw(), offset, &Ops::<U>::TABLE) };
    if r < 0 {
        Err(Error::from_errno(r as i32))
    } else {
        Ok(r)
    }
}

/// Maps file block `block` to a device block for `FIBMAP` (`iomap_bmap`); 0 for holes,
/// unwritten extents and errors. Like C's `->bmap`, it needs no inode lock (`iomap_bmap`
/// maps with [`OpFlags::REPORT`], which must not change anything).
pub fn bmap<U: Operations>(inode: &INode<U::FileSystem>, block: u64) -> u64 {
    // SAFETY: The inode and its mapping are valid.
    unsafe { bindings::iomap_bmap(inode.mapping(), block, &Ops::<U>::TABLE) }
}

#[kunit_tests(rust_iomap_ops)]
mod tests {
    use super::*;
    use kernel::fs::{New, Ready, SuperBlock};
    use kernel::sync::aref::ARef;

    struct Fs;
    #[vtable]
    impl FileSystem for Fs {
        const NAME: &'static CStr = c"rust_iomap_test";
        type Data = ();
        type INodeData = ();
        fn fill_super(_sb: &mut SuperBlock<Self, New>) -> Result<()> {
            Err(EINVAL)
        }
        fn init_root(_sb: &SuperBlock<Self, Ready>) -> Result<ARef<INode<Self>>> {
            Err(EINVAL)
        }
    }

    struct BeginOnly;
    #[vtable]
    impl Operations for BeginOnly {
        type FileSystem = Fs;
        fn begin(_i: &INode<Fs>, pos: i64, len: i64, _f: OpFlags) -> Result<Mapping> {
            Ok(Mapping::hole(pos, len as u64))
        }
    }

    struct BeginEnd;
    #[vtable]
    impl Operations for BeginEnd {
        type FileSystem = Fs;
        fn begin(_i: &INode<Fs>, pos: i64, len: i64, _f: OpFlags) -> Result<Mapping> {
            Ok(Mapping::hole(pos, len as u64))
        }
        fn end(_i: &INode<Fs>, _p: i64, _l: i64, _w: isize, _f: OpFlags, _m: &Mapping) -> Result {
            Ok(())
        }
    }
    #[vtable]
    impl WritebackOperations for BeginEnd {
        fn map_writeback(_i: &INodeView<Fs>, _p: i64, _l: u32, _e: i64) -> Result<Mapping> {
            Err(EIO)
        }
    }

    struct Dio;
    #[vtable]
    impl Operations for Dio {
        type FileSystem = Fs;
        fn begin(_i: &INode<Fs>, pos: i64, len: i64, _f: OpFlags) -> Result<Mapping> {
            Ok(Mapping::hole(pos, len as u64))
        }
    }
    #[vtable]
    impl WritebackOperations for Dio {
        const DIRECT_IO: bool = true;
        fn map_writeback(_i: &INodeView<Fs>, _p: i64, _l: u32, _e: i64) -> Result<Mapping> {
            Err(EIO)
        }
    }

    struct Convert;
    #[vtable]
    impl Operations for Convert {
        type FileSystem = Fs;
        fn begin(_i: &INode<Fs>, pos: i64, len: i64, _f: OpFlags) -> Result<Mapping> {
            Ok(Mapping::hole(pos, len as u64))
        }
    }
    #[vtable]
    impl WritebackOperations for Convert {
        fn map_writeback(_i: &INodeView<Fs>, _p: i64, _l: u32, _e: i64) -> Result<Mapping> {
            Err(EIO)
        }
        fn ioend_done(_i: &INodeView<Fs>, _e: &Ioend, _err: Option<Error>) -> Result {
            Ok(())
        }
    }

    #[test]
    fn ioend_completion_hook_is_optional() {
        let plain =
            bindings::iomap_ioend_writeback_submit as unsafe extern "C" fn(_, _) -> _ as usize;
        let w = &AddressSpace::<BeginEnd>::WB_OPS;
        assert!(!<BeginEnd as WritebackOperations>::HAS_IOEND_DONE);
        assert_eq!(w.writeback_submit.map(|f| f as usize), Some(plain));
        let c = &AddressSpace::<Convert>::WB_OPS;
        assert!(<Convert as WritebackOperations>::HAS_IOEND_DONE);
        assert!(c.writeback_submit.is_some());
        assert!(c.writeback_submit.map(|f| f as usize) != Some(plain));
    }

    #[test]
    fn ioend_flags_and_default_needs_done() {
        assert_eq!(
            u32::from(IoendFlags::UNWRITTEN.bits()),
            bindings::IOMAP_IOEND_UNWRITTEN
        );
        assert_eq!(
            u32::from(IoendFlags::SHARED.bits()),
            bindings::IOMAP_IOEND_SHARED
        );
        let f = IoendFlags::from_raw(bindings::IOMAP_IOEND_UNWRITTEN as u16);
        assert!(f.contains(IoendFlags::UNWRITTEN) && !f.contains(IoendFlags::SHARED));
        assert!(f.intersects(IoendFlags::UNWRITTEN | IoendFlags::SHARED));
        let e = Ioend::new(8192, 4096, 16, IoendFlags::BOUNDARY);
        assert_eq!((e.offset(), e.size(), e.sector()), (8192, 4096, 16));
        assert!(!e
            .flags()
            .intersects(IoendFlags::UNWRITTEN | IoendFlags::SHARED));
    }

    #[test]
    fn direct_io_hook_follows_the_flag() {
        assert!(AddressSpace::<Dio>::TABLE.direct_IO.is_some());
        assert!(AddressSpace::<BeginEnd>::TABLE.direct_IO.is_none());
    }

    #[test]
    fn optional_end_stays_null() {
        assert!(Ops::<BeginOnly>::TABLE.iomap_begin.is_some());
        assert!(Ops::<BeginOnly>::TABLE.iomap_end.is_none());
        assert!(Ops::<BeginOnly>::TABLE.iomap_next.is_none());
        assert!(Ops::<BeginEnd>::TABLE.iomap_end.is_some());
    }

    #[test]
    fn address_space_table() {
        let a = &AddressSpace::<BeginEnd>::TABLE;
        assert!(a.read_folio.is_some() && a.readahead.is_some() && a.writepages.is_some());
        assert!(a.dirty_folio.is_some() && a.release_folio.is_some());
        assert!(a.invalidate_folio.is_some() && a.is_partially_uptodate.is_some());
        // No direct I/O through the address space and no legacy writepage hooks.
        assert!(a.direct_IO.is_none());
        assert!(a.write_begin.is_none() && a.write_end.is_none());
        let w = &AddressSpace::<BeginEnd>::WB_OPS;
        assert!(w.writeback_range.is_some() && w.writeback_submit.is_some());
        let v = &AddressSpace::<BeginEnd>::VM_TABLE;
        assert!(v.fault.is_some() && v.page_mkwrite.is_some() && v.map_pages.is_some());
        assert!(v.pfn_mkwrite.is_none());
    }
}
