// SPDX-License-Identifier: GPL-2.0

//! `struct iomap` as a checked Rust value, and the iomap flag sets.

use kernel::{
    bindings,
    fs::{FileSystem, SbState, SuperBlock},
    prelude::*,
};

/// Flags of a mapping (`IOMAP_F_*`), reported by the file system.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MapFlags(u16);

impl MapFlags {
    /// `IOMAP_F_NEW`: the blocks were just allocated; iomap zeroes what the write does not
    /// cover.
    pub const NEW: Self = Self(bindings::IOMAP_F_NEW as u16);
    /// `IOMAP_F_DIRTY`: the inode has metadata that `fdatasync` must write.
    pub const DIRTY: Self = Self(bindings::IOMAP_F_DIRTY as u16);
    /// `IOMAP_F_SHARED`: the blocks are shared (reflink).
    pub const SHARED: Self = Self(bindings::IOMAP_F_SHARED as u16);
    /// `IOMAP_F_MERGED`: the mapping merges several on-disk extents (fiemap).
    pub const MERGED: Self = Self(bindings::IOMAP_F_MERGED as u16);
    /// `IOMAP_F_BOUNDARY`: do not merge I/O across the end of this mapping.
    pub const BOUNDARY: Self = Self(bindings::IOMAP_F_BOUNDARY as u16);
    /// `IOMAP_F_PRIVATE`: reserved for the file system's own use.
    pub const PRIVATE: Self = Self(bindings::IOMAP_F_PRIVATE as u16);
    /// `IOMAP_F_XATTR`: the mapping is of an extended attribute extent (fiemap).
    pub const XATTR: Self = Self(bindings::IOMAP_F_XATTR as u16);
    /// `IOMAP_F_ATOMIC_BIO`: the write is issued as one atomic bio (`REQ_ATOMIC`); only for
    /// calls with [`OpFlags::ATOMIC`].
    pub const ATOMIC_BIO: Self = Self(bindings::IOMAP_F_ATOMIC_BIO as u16);
    /// `IOMAP_F_ZERO_TAIL`: zero the rest of the block after the data written.
    pub const ZERO_TAIL: Self = Self(bindings::IOMAP_F_ZERO_TAIL as u16);

    /// The flags a file system may set. Not offered: `IOMAP_F_BUFFER_HEAD` (no buffer heads
    /// here), `IOMAP_F_ANON_WRITE` (needs a bio submission hook that assigns blocks),
    /// `IOMAP_F_INTEGRITY` and `IOMAP_F_FSVERITY`; and iomap's own `IOMAP_F_FOLIO_BATCH`,
    /// `IOMAP_F_SIZE_CHANGED` and `IOMAP_F_STALE`.
    const KNOWN: u16 = Self::NEW.0
        | Self::DIRTY.0
        | Self::SHARED.0
        | Self::MERGED.0
        | Self::BOUNDARY.0
        | Self::PRIVATE.0
        | Self::XATTR.0
        | Self::ATOMIC_BIO.0
        | Self::ZERO_TAIL.0;

    /// No flags.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// The C bits.
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// Converts C bits; `None` if a bit is not one a file system may set.
    pub const fn from_bits(bits: u16) -> Option<Self> {
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

    /// Tells whether any flag of `other` is set.
    pub const fn intersects(self, other: Self) -> bool {
        self.0 & other.0 != 0
    }
}

impl core::ops::BitOr for MapFlags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

/// Flags of an `iomap_begin`/`iomap_end` call: what the mapping is for. No flag means a read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpFlags(u32);

impl OpFlags {
    /// `IOMAP_WRITE`: writing; blocks must be allocated (or reserved as delalloc).
    pub const WRITE: Self = Self(bindings::IOMAP_WRITE);
    /// `IOMAP_ZERO`: zeroing a range; holes and unwritten extents may be skipped.
    pub const ZERO: Self = Self(bindings::IOMAP_ZERO);
    /// `IOMAP_REPORT`: reporting (fiemap, seek, bmap); nothing is changed.
    pub const REPORT: Self = Self(bindings::IOMAP_REPORT);
    /// `IOMAP_FAULT`: a page fault on a shared writable mapping.
    pub const FAULT: Self = Self(bindings::IOMAP_FAULT);
    /// `IOMAP_DIRECT`: direct I/O.
    pub const DIRECT: Self = Self(bindings::IOMAP_DIRECT);
    /// `IOMAP_NOWAIT`: do not block; return `EAGAIN` instead.
    pub const NOWAIT: Self = Self(bindings::IOMAP_NOWAIT);
    /// `IOMAP_OVERWRITE_ONLY`: only pure overwrites of written blocks are allowed.
    pub const OVERWRITE_ONLY: Self = Self(bindings::IOMAP_OVERWRITE_ONLY);
    /// `IOMAP_UNSHARE`: unsharing shared blocks.
    pub const UNSHARE: Self = Self(bindings::IOMAP_UNSHARE);
    /// `IOMAP_ATOMIC`: torn-write protection requested.
    pub const ATOMIC: Self = Self(bindings::IOMAP_ATOMIC);
    /// `IOMAP_DONTCACHE`: uncached buffered I/O.
    pub const DONTCACHE: Self = Self(bindings::IOMAP_DONTCACHE);

    /// No flags: a read.
    pub const fn empty() -> Self {
        Self(0)
    }

    const KNOWN: u32 = Self::WRITE.0
        | Self::ZERO.0
        | Self::REPORT.0
        | Self::FAULT.0
        | Self::DIRECT.0
        | Self::NOWAIT.0
        | Self::OVERWRITE_ONLY.0
        | Self::UNSHARE.0
        | Self::ATOMIC.0
        | Self::DONTCACHE.0;

    /// Wraps the flags iomap passed to a callback (unknown bits, e.g. `IOMAP_DAX`, are kept).
    pub const fn from_raw(bits: u32) -> Self {
        Self(bits)
    }

    /// Converts C bits; `None` if a bit is not one of the flags above.
    pub const fn from_bits(bits: u32) -> Option<Self> {
        if bits & !Self::KNOWN != 0 {
            None
        } else {
            Some(Self(bits))
        }
    }

    /// The C bits.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Tells whether every flag of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Tells whether this call writes file data (a write that is not only zeroing).
    pub const fn is_data_write(self) -> bool {
        self.contains(Self::WRITE) && !self.contains(Self::ZERO)
    }

    /// Tells whether the call writes to the page cache or the device in any way (`WRITE`,
    /// `ZERO` or `UNSHARE`): only those may get a source mapping.
    pub const fn is_any_write(self) -> bool {
        self.0 & (Self::WRITE.0 | Self::ZERO.0 | Self::UNSHARE.0) != 0
    }
}

impl core::ops::BitOr for OpFlags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

/// The type of a mapping (`IOMAP_HOLE` ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapType {
    /// No blocks: reads return zeroes.
    Hole,
    /// Blocks reserved but not yet allocated (delayed allocation).
    Delalloc,
    /// Blocks allocated and written at the mapping's address.
    Mapped,
    /// Blocks allocated but not written: reads return zeroes.
    Unwritten,
    /// Data stored inline (in the inode or a metadata block), copied into a buffer owned by
    /// the mapping until `iomap_end` (`IOMAP_INLINE`).
    Inline,
}

impl MapType {
    pub(crate) fn raw(self) -> u16 {
        (match self {
            Self::Hole => bindings::IOMAP_HOLE,
            Self::Delalloc => bindings::IOMAP_DELALLOC,
            Self::Mapped => bindings::IOMAP_MAPPED,
            Self::Unwritten => bindings::IOMAP_UNWRITTEN,
            Self::Inline => bindings::IOMAP_INLINE,
        }) as u16
    }

    pub(crate) fn from_raw(t: u16) -> Option<Self> {
        match u32::from(t) {
            bindings::IOMAP_HOLE => Some(Self::Hole),
            bindings::IOMAP_DELALLOC => Some(Self::Delalloc),
            bindings::IOMAP_MAPPED => Some(Self::Mapped),
            bindings::IOMAP_UNWRITTEN => Some(Self::Unwritten),
            bindings::IOMAP_INLINE => Some(Self::Inline),
            _ => None,
        }
    }

    /// Tells whether the mapping has disk blocks (an address).
    pub fn has_blocks(self) -> bool {
        matches!(self, Self::Mapped | Self::Unwritten)
    }
}

/// The address iomap uses for mappings without blocks (`IOMAP_NULL_ADDR`).
pub const NULL_ADDR: u64 = u64::MAX;

/// The source mapping of a copy-on-write or unshare (`srcmap`): where the old data of the range
/// is read from, while the mapping itself says where it is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SrcMap {
    map_type: MapType,
    offset: i64,
    length: u64,
    addr: u64,
    bdev: *mut bindings::block_device,
}

impl SrcMap {
    /// The type of the source.
    pub fn map_type(&self) -> MapType {
        self.map_type
    }

    /// The file offset of the source, in bytes.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// The length of the source, in bytes.
    pub fn length(&self) -> u64 {
        self.length
    }

    /// The byte address of the source on the device, or [`NULL_ADDR`].
    pub fn addr(&self) -> u64 {
        self.addr
    }
}

/// A mapping of a file range (`struct iomap`): `length` bytes of the file from `offset` are of
/// type `map_type`, at byte address `addr` of the file system's block device when they have
/// blocks, or in the mapping's own buffer when inline.
///
/// # Invariants
///
/// Hole and delalloc mappings have `addr == NULL_ADDR` and no block device; mapped and
/// unwritten mappings have the block device of the super block they were made for; inline
/// mappings have `addr == NULL_ADDR`, no block device and `inline` holds exactly `length`
/// bytes in a buffer that does not cross a page (its capacity is a power of two, which
/// `kmalloc` aligns naturally), except mappings read back by [`Mapping::read_raw`], which
/// borrow nothing (`inline` is `None`).
#[derive(Debug, PartialEq, Eq)]
pub struct Mapping {
    map_type: MapType,
    offset: i64,
    length: u64,
    addr: u64,
    bdev: *mut bindings::block_device,
    flags: MapFlags,
    cookie: u64,
    src: Option<SrcMap>,
    inline: Option<KVec<u8>>,
}

// SAFETY: The block device pointer is only an identity handed back to iomap; it is never
// dereferenced by this crate. The inline buffer is owned.
unsafe impl Send for Mapping {}
// SAFETY: As above.
unsafe impl Sync for Mapping {}
// SAFETY: As above.
unsafe impl Send for SrcMap {}
// SAFETY: As above.
unsafe impl Sync for SrcMap {}

/// The largest inline mapping: one page (iomap copies inline data with a single mapping).
const INLINE_MAX: usize = kernel::page::PAGE_SIZE;

impl Mapping {
    fn new(
        map_type: MapType,
        offset: i64,
        length: u64,
        addr: u64,
        bdev: *mut bindings::block_device,
    ) -> Self {
        Self {
            map_type,
            offset,
            length,
            addr,
            bdev,
            flags: MapFlags::empty(),
            cookie: 0,
            src: None,
            inline: None,
        }
    }

    /// A hole of `length` bytes at file offset `offset` (`IOMAP_HOLE`, `IOMAP_NULL_ADDR`).
    pub fn hole(offset: i64, length: u64) -> Self {
        Self::new(
            MapType::Hole,
            offset,
            length,
            NULL_ADDR,
            core::ptr::null_mut(),
        )
    }

    /// Reserved, not yet allocated blocks (`IOMAP_DELALLOC`, `IOMAP_NULL_ADDR`).
    pub fn delalloc(offset: i64, length: u64) -> Self {
        Self::new(
            MapType::Delalloc,
            offset,
            length,
            NULL_ADDR,
            core::ptr::null_mut(),
        )
    }

    /// Written blocks at byte address `addr` of `sb`'s device (`IOMAP_MAPPED`).
    pub fn mapped<T: FileSystem, S: SbState>(
        sb: &SuperBlock<T, S>,
        offset: i64,
        length: u64,
        addr: u64,
    ) -> Self {
        Self::new(MapType::Mapped, offset, length, addr, sb.bdev())
    }

    /// Allocated, unwritten blocks at byte address `addr` of `sb`'s device
    /// (`IOMAP_UNWRITTEN`): reads return zeroes.
    pub fn unwritten<T: FileSystem, S: SbState>(
        sb: &SuperBlock<T, S>,
        offset: i64,
        length: u64,
        addr: u64,
    ) -> Self {
        Self::new(MapType::Unwritten, offset, length, addr, sb.bdev())
    }

    /// Inline data of the file from `offset` (`IOMAP_INLINE`): `data` is copied into a buffer
    /// the mapping owns, so `inline_data` stays valid until `iomap_end`, where the file system
    /// gets it back (with what a write copied into it) through [`Mapping::inline_data`]. The
    /// length is `data.len()`: never longer than the data. `EINVAL` for empty data or more
    /// than a page; `ENOMEM`. The operations must set
    /// [`Operations::INLINE_DATA`](crate::Operations::INLINE_DATA).
    pub fn inline(offset: i64, data: &[u8]) -> Result<Self> {
        if data.is_empty() || data.len() > INLINE_MAX {
            return Err(EINVAL);
        }
        // `begin` runs with file system locks held: no reclaim into file systems.
        // SAFETY: Paired with the restore below.
        let nofs = unsafe { bindings::memalloc_nofs_save() };
        let buf =
            KVec::with_capacity(data.len().next_power_of_two(), GFP_KERNEL).and_then(|mut b| {
                b.extend_from_slice(data, GFP_KERNEL)?;
                Ok(b)
            });
        // SAFETY: Restores the scope saved above.
        unsafe { bindings::memalloc_nofs_restore(nofs) };
        let buf = buf?;
        let mut m = Self::new(
            MapType::Inline,
            offset,
            data.len() as u64,
            NULL_ADDR,
            core::ptr::null_mut(),
        );
        m.inline = Some(buf);
        Ok(m)
    }

    /// Sets the mapping's flags.
    pub fn with_flags(mut self, flags: MapFlags) -> Self {
        self.flags = flags;
        self
    }

    /// Sets the validity cookie that `iomap_valid`
    /// ([`WriteOperations::iomap_valid`](crate::WriteOperations::iomap_valid)) later compares.
    pub fn with_validity_cookie(mut self, cookie: u64) -> Self {
        self.cookie = cookie;
        self
    }

    /// Sets the source mapping (`srcmap`) of a write: the old data of a shared range, read
    /// from `src` before being written to `self` (copy-on-write, `FALLOC_FL_UNSHARE_RANGE`).
    /// Only write calls (`WRITE`, `ZERO`, `UNSHARE`) may return one; it must be a hole, a
    /// mapped or an unwritten mapping covering `pos` (see [`Mapping::check`]).
    pub fn with_srcmap(mut self, src: Mapping) -> Self {
        self.src = Some(SrcMap {
            map_type: src.map_type,
            offset: src.offset,
            length: src.length,
            addr: src.addr,
            bdev: src.bdev,
        });
        self
    }

    /// The mapping's type.
    pub fn map_type(&self) -> MapType {
        self.map_type
    }

    /// The file offset of the mapping, in bytes.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// The length of the mapping, in bytes.
    pub fn length(&self) -> u64 {
        self.length
    }

    /// The byte address on the device, or [`NULL_ADDR`].
    pub fn addr(&self) -> u64 {
        self.addr
    }

    /// The flags.
    pub fn flags(&self) -> MapFlags {
        self.flags
    }

    /// The validity cookie.
    pub fn validity_cookie(&self) -> u64 {
        self.cookie
    }

    /// The source mapping, if any.
    pub fn srcmap(&self) -> Option<&SrcMap> {
        self.src.as_ref()
    }

    /// Checks that a mapping with blocks (and its source) is on `bdev`, the device of the
    /// inode's own super block: `EIO` otherwise. [`Mapping::mapped`] takes any super block of
    /// the file system type, so another mount's would send I/O to another device.
    pub(crate) fn check_device(&self, bdev: *mut bindings::block_device) -> Result {
        let on = |t: MapType, b: *mut bindings::block_device| !t.has_blocks() || b == bdev;
        let src_ok = self.src.as_ref().is_none_or(|s| on(s.map_type, s.bdev));
        if on(self.map_type, self.bdev) && src_ok {
            Ok(())
        } else {
            Err(EIO)
        }
    }

    pub(crate) fn set_inline(&mut self, inline: Option<KVec<u8>>) {
        self.inline = inline;
    }

    /// The inline data: what `begin` gave, with what iomap wrote into it, when seen by `end`.
    /// `None` for other types.
    pub fn inline_data(&self) -> Option<&[u8]> {
        self.inline.as_deref()
    }

    /// Checks a mapping given to an `IOMAP_OVERWRITE_ONLY` call for `length` bytes at `pos`,
    /// on top of [`Mapping::check`]. Nothing may be allocated or copied under such a call (a
    /// direct write that must not allocate, e.g. one under the shared inode lock of a file
    /// system that cannot allocate there, [`crate::dio_rw_write_shared`]), and the write must
    /// be mapped in one go:
    ///
    /// - the mapping must cover `pos..pos + length` (iomap would otherwise submit the part
    ///   mapped and then fail the rest with `EAGAIN`, for an asynchronous kiocb only at its
    ///   completion, too late to retry the write);
    /// - it must be allocated blocks, not new, not shared, without a source: written or
    ///   unwritten blocks. iomap zeroes the parts of unwritten blocks that a write leaves out.
    ///   Under the shared lock there are none: `dio_rw_write_shared` takes only writes of
    ///   whole blocks and passes `IOMAP_DIO_FSBLOCK_ALIGNED`, so every call starts on a block
    ///   boundary and every bio ends on one, also one that fails part way. The file system's
    ///   `end_io` converts them.
    ///
    /// Anything else is `EAGAIN`, which makes the caller retry with the inode lock held
    /// exclusively.
    pub fn check_overwrite_only(&self, pos: i64, length: i64) -> Result {
        if self.offset.saturating_add_unsigned(self.length) < pos.saturating_add(length) {
            return Err(EAGAIN);
        }
        if self.flags.intersects(MapFlags::NEW | MapFlags::SHARED) || self.src.is_some() {
            return Err(EAGAIN);
        }
        match self.map_type {
            MapType::Mapped | MapType::Unwritten => Ok(()),
            _ => Err(EAGAIN),
        }
    }

    /// Checks the contract between a file system's `iomap_begin` and iomap, for a call at
    /// `pos` with `op` flags, on a device of `dev_size` bytes with blocks of `block_size`:
    ///
    /// - the mapping must not be empty and must cover `pos` (`EIO`, as iomap's own
    ///   `WARN_ON_ONCE` checks would return);
    /// - a write of data must get blocks or a delalloc reservation: a hole answering
    ///   `IOMAP_WRITE` (without `IOMAP_ZERO`) is `EIO`; direct I/O cannot use delalloc (`EIO`);
    /// - mapped and unwritten mappings must be block-aligned in the file and on the device and
    ///   must lie inside the device (`EIO`);
    /// - an inline mapping must hold its data and must not cross a file system block (`EIO`);
    /// - `IOMAP_F_ATOMIC_BIO` needs an `IOMAP_ATOMIC` call (`EINVAL`);
    /// - a source mapping is only for write calls (`EIO`), must be a hole, mapped or
    ///   unwritten, must cover `pos` and, with blocks, be aligned and inside the device (`EIO`);
    /// - the mapping must end at or before 2^63, the end of the largest file (`EOVERFLOW`).
    pub fn check(&self, pos: i64, op: OpFlags, block_size: u32, dev_size: u64) -> Result {
        check_range(
            self.map_type,
            self.offset,
            self.length,
            self.addr,
            pos,
            block_size,
            dev_size,
        )?;
        match self.map_type {
            MapType::Hole => {
                if op.is_data_write() {
                    return Err(EIO);
                }
            }
            MapType::Delalloc => {
                if op.contains(OpFlags::DIRECT) {
                    return Err(EIO);
                }
            }
            MapType::Mapped | MapType::Unwritten => {}
            MapType::Inline => {
                let data = self.inline.as_ref().ok_or(EIO)?;
                let bs = u64::from(block_size.max(512));
                if data.len() as u64 != self.length || (self.offset as u64) % bs + self.length > bs
                {
                    return Err(EIO);
                }
            }
        }
        if self.flags.contains(MapFlags::ATOMIC_BIO) && !op.contains(OpFlags::ATOMIC) {
            return Err(EINVAL);
        }
        if let Some(src) = &self.src {
            if !op.is_any_write() {
                return Err(EIO);
            }
            match src.map_type {
                MapType::Hole | MapType::Mapped | MapType::Unwritten => {}
                MapType::Delalloc | MapType::Inline => return Err(EIO),
            }
            check_range(
                src.map_type,
                src.offset,
                src.length,
                src.addr,
                pos,
                block_size,
                dev_size,
            )?;
        }
        Ok(())
    }

    /// Checks an inline mapping against the file size `i_size` for a call with `op` flags:
    /// iomap reads inline data up to `i_size` (it must end inside the mapping) and a direct
    /// write zeroes from `i_size` to the write position inside the buffer (the mapping must
    /// not start after `i_size`). Violations are `EIO`; other types and reports always pass.
    pub fn check_inline_size(&self, op: OpFlags, i_size: i64) -> Result {
        if self.map_type != MapType::Inline || op.contains(OpFlags::REPORT) {
            return Ok(());
        }
        if self.offset > i_size || (i_size - self.offset) as u64 > self.length {
            return Err(EIO);
        }
        Ok(())
    }

    /// Fills in a C `struct iomap` (and `srcmap`, if the mapping has one), handing the inline
    /// buffer over to it: `inline_data` points at the data, `private` at the buffer, which
    /// [`Mapping::take_inline`] must take back.
    ///
    /// # Safety
    ///
    /// `raw` and `srcmap` must be valid for writes. For an inline mapping, `raw` must reach
    /// [`Mapping::take_inline`] later, or the buffer is leaked.
    pub(crate) unsafe fn into_raw(self, raw: *mut bindings::iomap, srcmap: *mut bindings::iomap) {
        // SAFETY: By the safety requirements.
        let m = unsafe { &mut *raw };
        m.addr = self.addr;
        m.offset = self.offset;
        m.length = self.length;
        m.type_ = self.map_type.raw();
        m.flags = self.flags.bits();
        m.bdev = self.bdev;
        m.dax_dev = core::ptr::null_mut();
        m.inline_data = core::ptr::null_mut();
        m.private = core::ptr::null_mut();
        m.validity_cookie = self.cookie;
        if let Some(src) = self.src {
            if !srcmap.is_null() {
                // SAFETY: By the safety requirements.
                let s = unsafe { &mut *srcmap };
                s.addr = src.addr;
                s.offset = src.offset;
                s.length = src.length;
                s.type_ = src.map_type.raw();
                s.flags = 0;
                s.bdev = src.bdev;
                s.dax_dev = core::ptr::null_mut();
                s.inline_data = core::ptr::null_mut();
                s.private = core::ptr::null_mut();
                s.validity_cookie = 0;
            }
        }
        if let Some(buf) = self.inline {
            let (ptr, len, cap) = buf.into_raw_parts();
            m.inline_data = ptr.cast();
            // The length is `m.length`; the capacity is the next power of two of it.
            debug_assert_eq!(cap, len.next_power_of_two());
            m.private = ptr.cast();
        }
    }

    /// Takes back the inline buffer handed to a C `struct iomap` by [`Mapping::into_raw`].
    ///
    /// # Safety
    ///
    /// `raw` must be valid and filled in by [`Mapping::into_raw`], not taken back before.
    pub(crate) unsafe fn take_inline(raw: *mut bindings::iomap) -> Option<KVec<u8>> {
        // SAFETY: By the safety requirements.
        let m = unsafe { &mut *raw };
        if u32::from(m.type_) != bindings::IOMAP_INLINE || m.private.is_null() {
            return None;
        }
        let len = m.length as usize;
        let ptr = m.private.cast::<u8>();
        m.private = core::ptr::null_mut();
        m.inline_data = core::ptr::null_mut();
        // SAFETY: `into_raw` stored the parts of a `KVec<u8>` of `len` bytes with a capacity of
        // `len.next_power_of_two()`; ownership moves back here once.
        Some(unsafe { KVec::from_raw_parts(ptr, len, len.next_power_of_two()) })
    }

    /// Fills in a C `struct iomap` without a source mapping (writeback).
    ///
    /// # Safety
    ///
    /// `raw` must be valid for writes; the mapping must not be inline.
    pub(crate) unsafe fn write_raw(self, raw: *mut bindings::iomap) {
        debug_assert!(self.inline.is_none());
        // SAFETY: By the safety requirements; no inline buffer is handed over.
        unsafe { self.into_raw(raw, core::ptr::null_mut()) }
    }

    /// Reads back a C `struct iomap` filled in by [`Mapping::into_raw`], without its inline
    /// buffer or source mapping; `None` for types this crate does not produce.
    ///
    /// # Safety
    ///
    /// `raw` must be valid for reads.
    pub(crate) unsafe fn read_raw(raw: *const bindings::iomap) -> Option<Self> {
        // SAFETY: By the safety requirements.
        let m = unsafe { &*raw };
        Some(Self {
            map_type: MapType::from_raw(m.type_)?,
            offset: m.offset,
            length: m.length,
            addr: m.addr,
            bdev: m.bdev,
            flags: MapFlags(m.flags),
            cookie: m.validity_cookie,
            src: None,
            inline: None,
        })
    }
}

/// The range part of [`Mapping::check`], shared by mappings and source mappings.
fn check_range(
    map_type: MapType,
    offset: i64,
    length: u64,
    addr: u64,
    pos: i64,
    block_size: u32,
    dev_size: u64,
) -> Result {
    if length == 0 || offset > pos {
        return Err(EIO);
    }
    // iomap computes the end in `u64`: a mapping may end exactly at 2^63 (the last block of a
    // file of `MAX_LFS_FILESIZE` bytes), one byte past the largest `loff_t`.
    let end = (offset as u64)
        .checked_add(length)
        .filter(|&e| e <= 1u64 << 63)
        .ok_or(EOVERFLOW)?;
    if end <= pos as u64 {
        return Err(EIO);
    }
    if map_type.has_blocks() {
        let bs = u64::from(block_size.max(512));
        if addr == NULL_ADDR || addr % bs != 0 || (offset as u64) % bs != 0 || length % bs != 0 {
            return Err(EIO);
        }
        let dev_end = addr.checked_add(length).ok_or(EIO)?;
        if dev_end > dev_size {
            return Err(EIO);
        }
    }
    Ok(())
}

#[kunit_tests(rust_iomap_mapping)]
mod tests {
    use super::*;

    const BS: u32 = 4096;
    const DEV: u64 = 1 << 30;

    fn mapped(offset: i64, length: u64, addr: u64) -> Mapping {
        Mapping::new(MapType::Mapped, offset, length, addr, core::ptr::null_mut())
    }

    #[test]
    fn mapping_must_be_on_the_inodes_device() {
        // Devices are only compared, never used: two distinct addresses will do.
        let two = [0u64; 2];
        let (ours, other) = (
            core::ptr::from_ref(&two[0])
                .cast_mut()
                .cast::<bindings::block_device>(),
            core::ptr::from_ref(&two[1])
                .cast_mut()
                .cast::<bindings::block_device>(),
        );
        let on = |dev| Mapping::new(MapType::Mapped, 0, 4096, 0, dev);
        assert_eq!(on(ours).check_device(ours), Ok(()));
        assert_eq!(on(other).check_device(ours), Err(EIO));
        // Holes have no device to check; a source mapping is checked too.
        assert_eq!(Mapping::hole(0, 4096).check_device(ours), Ok(()));
        assert_eq!(on(ours).with_srcmap(on(ours)).check_device(ours), Ok(()));
        assert_eq!(on(ours).with_srcmap(on(other)).check_device(ours), Err(EIO));
    }

    #[test]
    fn constructors_set_null_addr_where_required() {
        let h = Mapping::hole(4096, 8192);
        assert_eq!(h.map_type(), MapType::Hole);
        assert_eq!(h.addr(), NULL_ADDR);
        assert_eq!((h.offset(), h.length()), (4096, 8192));
        let d = Mapping::delalloc(0, 4096);
        assert_eq!(d.map_type(), MapType::Delalloc);
        assert_eq!(d.addr(), NULL_ADDR);
        assert_eq!(NULL_ADDR, bindings::IOMAP_NULL_ADDR as u64);
        let m = mapped(0, 4096, 8192)
            .with_flags(MapFlags::NEW)
            .with_validity_cookie(7);
        assert!(m.flags().contains(MapFlags::NEW));
        assert_eq!(m.validity_cookie(), 7);
    }

    #[test]
    fn raw_round_trip() {
        let m = mapped(8192, 4096, 1 << 20).with_flags(MapFlags::NEW | MapFlags::BOUNDARY);
        let mut raw: bindings::iomap = pin_init::zeroed();
        // SAFETY: `raw` is a valid local.
        unsafe { m.write_raw(&mut raw) };
        assert_eq!(u32::from(raw.type_), bindings::IOMAP_MAPPED);
        assert_eq!(raw.addr, 1 << 20);
        // SAFETY: As above.
        let back = unsafe { Mapping::read_raw(&raw) };
        assert_eq!(
            back,
            Some(mapped(8192, 4096, 1 << 20).with_flags(MapFlags::NEW | MapFlags::BOUNDARY))
        );
        let h = Mapping::hole(0, 4096);
        // SAFETY: As above.
        unsafe { h.write_raw(&mut raw) };
        assert_eq!(raw.addr, bindings::IOMAP_NULL_ADDR as u64);
        assert_eq!(u32::from(raw.type_), bindings::IOMAP_HOLE);
        raw.type_ = 9;
        // SAFETY: As above.
        assert_eq!(unsafe { Mapping::read_raw(&raw) }, None);
    }

    #[test]
    fn check_accepts_valid_mappings() {
        assert_eq!(
            mapped(0, 8192, 4096).check(4096, OpFlags::WRITE, BS, DEV),
            Ok(())
        );
        assert_eq!(
            Mapping::hole(0, 4096).check(0, OpFlags::empty(), BS, DEV),
            Ok(())
        );
        assert_eq!(
            Mapping::hole(0, 4096).check(0, OpFlags::REPORT, BS, DEV),
            Ok(())
        );
        // Zeroing may skip holes.
        let zero = OpFlags::WRITE | OpFlags::ZERO;
        assert_eq!(Mapping::hole(0, 4096).check(0, zero, BS, DEV), Ok(()));
        assert_eq!(
            Mapping::delalloc(0, 4096).check(0, OpFlags::WRITE, BS, DEV),
            Ok(())
        );
    }

    #[test]
    fn check_mapping_must_cover_pos() {
        assert_eq!(
            mapped(4096, 4096, 0).check(0, OpFlags::empty(), BS, DEV),
            Err(EIO)
        );
        assert_eq!(
            mapped(0, 4096, 0).check(4096, OpFlags::empty(), BS, DEV),
            Err(EIO)
        );
        assert_eq!(
            mapped(0, 0, 0).check(0, OpFlags::empty(), BS, DEV),
            Err(EIO)
        );
        assert_eq!(
            Mapping::hole(i64::MAX - 10, 4096).check(i64::MAX - 5, OpFlags::empty(), BS, DEV),
            Err(EOVERFLOW)
        );
        // The last block of the largest file ends at 2^63, one past `i64::MAX`.
        let last = i64::MAX - 4095;
        assert_eq!(
            Mapping::hole(last, 4096).check(i64::MAX - 1, OpFlags::empty(), BS, DEV),
            Ok(())
        );
    }

    #[test]
    fn check_write_needs_blocks() {
        assert_eq!(
            Mapping::hole(0, 4096).check(0, OpFlags::WRITE, BS, DEV),
            Err(EIO)
        );
        let dio_write = OpFlags::WRITE | OpFlags::DIRECT;
        assert_eq!(
            Mapping::hole(0, 4096).check(0, dio_write, BS, DEV),
            Err(EIO)
        );
        assert_eq!(
            Mapping::delalloc(0, 4096).check(0, dio_write, BS, DEV),
            Err(EIO)
        );
        assert_eq!(
            Mapping::delalloc(0, 4096).check(0, OpFlags::DIRECT, BS, DEV),
            Err(EIO)
        );
    }

    #[test]
    fn check_alignment_and_device_bounds() {
        assert_eq!(
            mapped(0, 4096, 512).check(0, OpFlags::empty(), BS, DEV),
            Err(EIO)
        );
        assert_eq!(
            mapped(512, 4096, 0).check(512, OpFlags::empty(), BS, DEV),
            Err(EIO)
        );
        assert_eq!(
            mapped(0, 1000, 0).check(0, OpFlags::empty(), BS, DEV),
            Err(EIO)
        );
        assert_eq!(
            mapped(0, 8192, DEV - 4096).check(0, OpFlags::empty(), BS, DEV),
            Err(EIO)
        );
        assert_eq!(
            mapped(0, 4096, NULL_ADDR).check(0, OpFlags::empty(), BS, DEV),
            Err(EIO)
        );
    }

    #[test]
    fn flag_conversions() {
        assert_eq!(OpFlags::WRITE.bits(), bindings::IOMAP_WRITE);
        assert_eq!(OpFlags::DIRECT.bits(), bindings::IOMAP_DIRECT);
        let f = OpFlags::from_raw(bindings::IOMAP_WRITE | bindings::IOMAP_FAULT);
        assert!(f.contains(OpFlags::WRITE) && f.contains(OpFlags::FAULT));
        assert!(!f.contains(OpFlags::DIRECT));
        assert!(f.is_data_write());
        assert!(!(OpFlags::WRITE | OpFlags::ZERO).is_data_write());
        assert_eq!(
            MapFlags::from_bits(bindings::IOMAP_F_NEW as u16),
            Some(MapFlags::NEW)
        );
        // Flags owned by iomap itself cannot be set by a file system.
        assert_eq!(
            MapFlags::from_bits(bindings::IOMAP_F_SIZE_CHANGED as u16),
            None
        );
        assert_eq!(MapFlags::from_bits(bindings::IOMAP_F_STALE as u16), None);
        assert_eq!((MapFlags::NEW | MapFlags::DIRTY).bits(), 3);
    }

    #[test]
    fn inline_mappings_own_their_data() {
        assert_eq!(Mapping::inline(0, &[]).err(), Some(EINVAL));
        let big = KVec::from_elem(0u8, kernel::page::PAGE_SIZE + 1, GFP_KERNEL).unwrap();
        assert_eq!(Mapping::inline(0, &big).err(), Some(EINVAL));
        let m = Mapping::inline(0, b"hello").unwrap();
        assert_eq!(m.map_type(), MapType::Inline);
        assert_eq!((m.offset(), m.length(), m.addr()), (0, 5, NULL_ADDR));
        assert_eq!(m.inline_data(), Some(&b"hello"[..]));
        assert_eq!(m.check(0, OpFlags::empty(), BS, DEV), Ok(()));
        assert_eq!(m.check(4, OpFlags::WRITE, BS, DEV), Ok(()));
        // Past the data.
        assert_eq!(m.check(5, OpFlags::empty(), BS, DEV), Err(EIO));
        // Crossing a block boundary.
        let data = [7u8; 200];
        let c = Mapping::inline(4000, &data).unwrap();
        assert_eq!(c.check(4000, OpFlags::empty(), BS, DEV), Err(EIO));
        assert_eq!(
            Mapping::inline(3896, &data)
                .unwrap()
                .check(3896, OpFlags::empty(), BS, DEV),
            Ok(())
        );
    }

    #[test]
    fn inline_buffer_round_trip() {
        let m = Mapping::inline(8192, b"abc").unwrap();
        let mut raw: bindings::iomap = pin_init::zeroed();
        // SAFETY: `raw` is a valid local; the buffer is taken back below.
        unsafe { m.into_raw(&mut raw, core::ptr::null_mut()) };
        assert_eq!(u32::from(raw.type_), bindings::IOMAP_INLINE);
        assert!(!raw.inline_data.is_null());
        assert_eq!(raw.addr, NULL_ADDR);
        // iomap writes into the buffer (a buffered or direct write).
        // SAFETY: `inline_data` points at 3 owned bytes.
        unsafe { *raw.inline_data.cast::<u8>().add(1) = b'X' };
        // A read-back view owns nothing and cannot pass the check.
        // SAFETY: As above.
        let view = unsafe { Mapping::read_raw(&raw) }.unwrap();
        assert_eq!(view.map_type(), MapType::Inline);
        assert_eq!(view.inline_data(), None);
        assert_eq!(view.check(8192, OpFlags::empty(), BS, DEV), Err(EIO));
        // SAFETY: Filled in by `into_raw` above, taken back once.
        let buf = unsafe { Mapping::take_inline(&mut raw) }.unwrap();
        assert_eq!(&buf[..], b"aXc");
        assert!(raw.inline_data.is_null() && raw.private.is_null());
        // SAFETY: As above; already taken.
        assert!(unsafe { Mapping::take_inline(&mut raw) }.is_none());
    }

    #[test]
    fn overwrite_only_gets_eagain() {
        assert_eq!(mapped(0, 4096, 4096).check_overwrite_only(0, 4096), Ok(()));
        assert_eq!(
            mapped(0, 4096, 4096).check_overwrite_only(512, 1024),
            Ok(())
        );
        assert_eq!(
            mapped(0, 4096, 4096)
                .with_flags(MapFlags::NEW)
                .check_overwrite_only(0, 4096),
            Err(EAGAIN)
        );
        assert_eq!(
            mapped(0, 4096, 4096)
                .with_flags(MapFlags::SHARED)
                .check_overwrite_only(0, 4096),
            Err(EAGAIN)
        );
        // Short of the end of the write.
        assert_eq!(
            mapped(0, 4096, 4096).check_overwrite_only(0, 8192),
            Err(EAGAIN)
        );
        let unwritten = || Mapping::new(MapType::Unwritten, 0, 8192, 4096, core::ptr::null_mut());
        assert_eq!(unwritten().check_overwrite_only(0, 8192), Ok(()));
        // After a bio failed part way, the next call may start inside a block.
        assert_eq!(unwritten().check_overwrite_only(4608, 3584), Ok(()));
        assert_eq!(unwritten().check_overwrite_only(0, 12288), Err(EAGAIN));
        assert_eq!(
            unwritten()
                .with_flags(MapFlags::NEW)
                .check_overwrite_only(0, 4096),
            Err(EAGAIN)
        );
        assert_eq!(
            Mapping::hole(0, 4096).check_overwrite_only(0, 4096),
            Err(EAGAIN)
        );
        assert_eq!(
            Mapping::delalloc(0, 4096).check_overwrite_only(0, 4096),
            Err(EAGAIN)
        );
    }

    #[test]
    fn atomic_bio_needs_an_atomic_call() {
        let m = || mapped(0, 4096, 4096).with_flags(MapFlags::ATOMIC_BIO);
        let w = OpFlags::WRITE | OpFlags::DIRECT;
        assert_eq!(m().check(0, w, BS, DEV), Err(EINVAL));
        assert_eq!(m().check(0, w | OpFlags::ATOMIC, BS, DEV), Ok(()));
    }

    #[test]
    fn srcmap_checks() {
        let cow = || mapped(0, 8192, 1 << 20).with_flags(MapFlags::SHARED);
        let ok = cow().with_srcmap(mapped(0, 8192, 4096));
        assert_eq!(ok.check(4096, OpFlags::WRITE, BS, DEV), Ok(()));
        assert_eq!(ok.srcmap().map(|s| s.addr()), Some(4096));
        let unshare = OpFlags::WRITE | OpFlags::UNSHARE;
        assert_eq!(ok.check(0, unshare, BS, DEV), Ok(()));
        // Not on reads or reports.
        assert_eq!(ok.check(0, OpFlags::empty(), BS, DEV), Err(EIO));
        assert_eq!(ok.check(0, OpFlags::REPORT, BS, DEV), Err(EIO));
        // Not delalloc or inline.
        let d = cow().with_srcmap(Mapping::delalloc(0, 8192));
        assert_eq!(d.check(0, OpFlags::WRITE, BS, DEV), Err(EIO));
        let i = cow().with_srcmap(Mapping::inline(0, b"x").unwrap());
        assert_eq!(i.check(0, OpFlags::WRITE, BS, DEV), Err(EIO));
        // Must cover pos, be aligned and inside the device.
        let short = cow().with_srcmap(mapped(0, 4096, 4096));
        assert_eq!(short.check(4096, OpFlags::WRITE, BS, DEV), Err(EIO));
        let mis = cow().with_srcmap(mapped(0, 8192, 100));
        assert_eq!(mis.check(0, OpFlags::WRITE, BS, DEV), Err(EIO));
        let out = cow().with_srcmap(mapped(0, 8192, DEV));
        assert_eq!(out.check(0, OpFlags::WRITE, BS, DEV), Err(EIO));
        // A hole source is allowed (nothing to copy).
        let h = cow().with_srcmap(Mapping::hole(0, 8192));
        assert_eq!(h.check(0, OpFlags::WRITE, BS, DEV), Ok(()));
        // Overwrite-only writes cannot copy on write.
        let plain = mapped(0, 8192, 1 << 20).with_srcmap(mapped(0, 8192, 4096));
        assert_eq!(plain.check_overwrite_only(0, 8192), Err(EAGAIN));
    }

    #[test]
    fn srcmap_reaches_c() {
        let m = mapped(0, 8192, 1 << 20)
            .with_flags(MapFlags::SHARED)
            .with_srcmap(mapped(0, 8192, 4096));
        let mut raw: bindings::iomap = pin_init::zeroed();
        let mut src: bindings::iomap = pin_init::zeroed();
        // SAFETY: Valid locals; not inline.
        unsafe { m.into_raw(&mut raw, &mut src) };
        assert_eq!(u32::from(src.type_), bindings::IOMAP_MAPPED);
        assert_eq!((src.offset, src.length, src.addr), (0, 8192, 4096));
        assert_eq!(raw.addr, 1 << 20);
        assert_eq!(raw.flags, bindings::IOMAP_F_SHARED as u16);
        // Without a source map, `srcmap` stays as iomap zeroed it (a hole).
        let mut src2: bindings::iomap = pin_init::zeroed();
        // SAFETY: As above.
        unsafe { mapped(0, 4096, 0).into_raw(&mut raw, &mut src2) };
        assert_eq!(u32::from(src2.type_), bindings::IOMAP_HOLE);
        assert_eq!(src2.length, 0);
    }

    #[test]
    fn complete_flag_sets() {
        for f in [
            OpFlags::WRITE,
            OpFlags::ZERO,
            OpFlags::REPORT,
            OpFlags::FAULT,
            OpFlags::DIRECT,
            OpFlags::NOWAIT,
            OpFlags::OVERWRITE_ONLY,
            OpFlags::UNSHARE,
            OpFlags::ATOMIC,
            OpFlags::DONTCACHE,
        ] {
            assert_eq!(OpFlags::from_bits(f.bits()), Some(f));
        }
        assert_eq!(OpFlags::NOWAIT.bits(), bindings::IOMAP_NOWAIT);
        assert_eq!(OpFlags::UNSHARE.bits(), bindings::IOMAP_UNSHARE);
        assert_eq!(OpFlags::ATOMIC.bits(), bindings::IOMAP_ATOMIC);
        assert_eq!(OpFlags::DONTCACHE.bits(), bindings::IOMAP_DONTCACHE);
        assert_eq!(OpFlags::from_bits(1 << 20), None);
        assert!((OpFlags::WRITE | OpFlags::UNSHARE).is_any_write());
        assert!(OpFlags::ZERO.is_any_write());
        assert!(!(OpFlags::DIRECT | OpFlags::REPORT).is_any_write());
        for f in [MapFlags::XATTR, MapFlags::ATOMIC_BIO, MapFlags::ZERO_TAIL] {
            assert_eq!(MapFlags::from_bits(f.bits()), Some(f));
        }
        assert_eq!(
            MapFlags::ATOMIC_BIO.bits(),
            bindings::IOMAP_F_ATOMIC_BIO as u16
        );
        assert_eq!(
            MapFlags::from_bits(bindings::IOMAP_F_ANON_WRITE as u16),
            None
        );
        assert_eq!(
            MapFlags::from_bits(bindings::IOMAP_F_FOLIO_BATCH as u16),
            None
        );
        assert_eq!(MapFlags::from_bits(bindings::IOMAP_F_FSVERITY as u16), None);
        assert!((MapFlags::NEW | MapFlags::SHARED).intersects(MapFlags::SHARED));
    }

    #[test]
    fn inline_against_the_file_size() {
        let m = Mapping::inline(4096, &[1u8; 100]).unwrap();
        assert_eq!(m.check_inline_size(OpFlags::empty(), 4196), Ok(()));
        assert_eq!(m.check_inline_size(OpFlags::empty(), 4150), Ok(()));
        // Data past the end of the mapping would be read (iomap WARNs).
        assert_eq!(m.check_inline_size(OpFlags::empty(), 4197), Err(EIO));
        // A direct write would zero before the buffer.
        let dw = OpFlags::WRITE | OpFlags::DIRECT;
        assert_eq!(m.check_inline_size(dw, 4000), Err(EIO));
        // Reports do not touch the data; other types are not concerned.
        assert_eq!(m.check_inline_size(OpFlags::REPORT, 0), Ok(()));
        assert_eq!(
            Mapping::hole(0, 4096).check_inline_size(OpFlags::empty(), 1 << 20),
            Ok(())
        );
    }
}
