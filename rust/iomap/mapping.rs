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

    const KNOWN: u16 = Self::NEW.0
        | Self::DIRTY.0
        | Self::SHARED.0
        | Self::MERGED.0
        | Self::BOUNDARY.0
        | Self::PRIVATE.0;

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

    /// Wraps the flags iomap passed to a callback (unknown bits are kept).
    pub const fn from_raw(bits: u32) -> Self {
        Self(bits)
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
}

impl MapType {
    fn raw(self) -> u16 {
        (match self {
            Self::Hole => bindings::IOMAP_HOLE,
            Self::Delalloc => bindings::IOMAP_DELALLOC,
            Self::Mapped => bindings::IOMAP_MAPPED,
            Self::Unwritten => bindings::IOMAP_UNWRITTEN,
        }) as u16
    }

    fn from_raw(t: u16) -> Option<Self> {
        match u32::from(t) {
            bindings::IOMAP_HOLE => Some(Self::Hole),
            bindings::IOMAP_DELALLOC => Some(Self::Delalloc),
            bindings::IOMAP_MAPPED => Some(Self::Mapped),
            bindings::IOMAP_UNWRITTEN => Some(Self::Unwritten),
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

/// A mapping of a file range (`struct iomap`): `length` bytes of the file from `offset` are of
/// type `map_type`, at byte address `addr` of the file system's block device when they have
/// blocks.
///
/// # Invariants
///
/// Hole and delalloc mappings have `addr == NULL_ADDR` and no block device; mapped and
/// unwritten mappings have the block device of the super block they were made for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    map_type: MapType,
    offset: i64,
    length: u64,
    addr: u64,
    bdev: *mut bindings::block_device,
    flags: MapFlags,
    cookie: u64,
}

// SAFETY: The block device pointer is only an identity handed back to iomap; it is never
// dereferenced by this crate.
unsafe impl Send for Mapping {}
// SAFETY: As above.
unsafe impl Sync for Mapping {}

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

    /// Sets the mapping's flags.
    pub fn with_flags(mut self, flags: MapFlags) -> Self {
        self.flags = flags;
        self
    }

    /// Sets the validity cookie that `iomap_valid` later compares.
    pub fn with_validity_cookie(mut self, cookie: u64) -> Self {
        self.cookie = cookie;
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

    /// Checks the contract between a file system's `iomap_begin` and iomap, for a call at
    /// `pos` with `op` flags, on a device of `dev_size` bytes with blocks of `block_size`:
    ///
    /// - the mapping must not be empty and must cover `pos` (`EIO`, as iomap's own
    ///   `WARN_ON_ONCE` checks would return);
    /// - a write of data must get blocks or a delalloc reservation: a hole answering
    ///   `IOMAP_WRITE` (without `IOMAP_ZERO`) is `EIO`; direct I/O cannot use delalloc (`EIO`);
    /// - mapped and unwritten mappings must be block-aligned in the file and on the device and
    ///   must lie inside the device (`EIO`);
    /// - the end of the mapping must not overflow a file offset (`EOVERFLOW`).
    pub fn check(&self, pos: i64, op: OpFlags, block_size: u32, dev_size: u64) -> Result {
        if self.length == 0 || self.offset > pos {
            return Err(EIO);
        }
        let end = self
            .offset
            .checked_add(i64::try_from(self.length).map_err(|_| EOVERFLOW)?)
            .ok_or(EOVERFLOW)?;
        if end <= pos {
            return Err(EIO);
        }
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
            MapType::Mapped | MapType::Unwritten => {
                let bs = u64::from(block_size.max(512));
                if self.addr == NULL_ADDR
                    || self.addr % bs != 0
                    || (self.offset as u64) % bs != 0
                    || self.length % bs != 0
                {
                    return Err(EIO);
                }
                let dev_end = self.addr.checked_add(self.length).ok_or(EIO)?;
                if dev_end > dev_size {
                    return Err(EIO);
                }
            }
        }
        Ok(())
    }

    /// Fills in a C `struct iomap`.
    ///
    /// # Safety
    ///
    /// `raw` must be valid for writes.
    pub(crate) unsafe fn write_raw(&self, raw: *mut bindings::iomap) {
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
    }

    /// Reads back a C `struct iomap` filled in by [`Mapping::write_raw`]; `None` for types this
    /// crate does not produce (inline).
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
        })
    }
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
        assert_eq!(unsafe { Mapping::read_raw(&raw) }, Some(m));
        let h = Mapping::hole(0, 4096);
        // SAFETY: As above.
        unsafe { h.write_raw(&mut raw) };
        assert_eq!(raw.addr, bindings::IOMAP_NULL_ADDR as u64);
        assert_eq!(u32::from(raw.type_), bindings::IOMAP_HOLE);
        raw.type_ = bindings::IOMAP_INLINE as u16;
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
}
