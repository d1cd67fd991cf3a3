// SPDX-License-Identifier: GPL-2.0

//! Inodes: fixed 256-byte slots in the inode table.
//!
//! Layout (little endian):
//!
//! ```text
//! 0x00 u16 magic "RI"       0x02 u16 mode       0x04 u32 crc32c
//! 0x08 u32 uid              0x0C u32 gid        0x10 u32 nlink
//! 0x14 u32 flags            0x18 u64 size       0x20 u64 blocks
//! 0x28 u64 parent           0x30 u64 next_orphan
//! 0x38 u64 dir_index_root   0x40 u32 generation 0x44 u32 rdev
//! 0x48 i64 atime.sec        0x50 i64 mtime.sec  0x58 i64 ctime.sec
//! 0x60 i64 btime.sec        0x68 u32 atime.ns   0x6C u32 mtime.ns
//! 0x70 u32 ctime.ns         0x74 u32 btime.ns   0x78 u64 xattr
//! 0x80 128 bytes: inline extent-tree root, or fast symlink target
//! ```
//!
//! The checksum is CRC-32C seeded with the CRC-32C of the inode number
//! (u64 little endian), over the 256 bytes with the crc field taken as zero.
//! A free slot is all zeroes.

use super::bytes::*;
use super::crc::{crc32c, crc32c_with_hole};
use super::tree::{node_check, node_init, NodeForm, TreeKind, INLINE_ROOT_SIZE};
use super::{FormatError, Result};

/// Size of an inode slot.
pub const INODE_SIZE: usize = 256;
/// Inode magic, "RI" on disk.
pub const INODE_MAGIC: u16 = u16::from_le_bytes(*b"RI");
/// Offset of the checksum field.
pub const INODE_CRC_OFFSET: usize = 4;
/// Offset of the 128-byte inline area.
pub const INODE_AREA_OFFSET: usize = 0x80;
/// Longest symlink target stored inline (fast symlink).
pub const FAST_SYMLINK_MAX: usize = INLINE_ROOT_SIZE;

// The inline area ends the slot ([`Inode::decode`] copies it from there).
const _: () = assert!(INODE_AREA_OFFSET + INLINE_ROOT_SIZE == INODE_SIZE);

/// Largest valid inode `size`: file offsets are signed 64-bit in the kernel.
pub const MAX_INODE_SIZE: u64 = i64::MAX as u64;

/// The [`FormatError::Invalid`] text of an inode whose size is above [`MAX_INODE_SIZE`]
/// (fsck recognises it to repair the size instead of dropping the inode).
pub const SIZE_TOO_LARGE: &str = "size past the largest file offset";
/// Longest symlink target.
pub const MAX_SYMLINK_LEN: u64 = 4095;

/// File type mask of `mode`.
pub const S_IFMT: u16 = 0o170000;
/// Socket.
pub const S_IFSOCK: u16 = 0o140000;
/// Symbolic link.
pub const S_IFLNK: u16 = 0o120000;
/// Regular file.
pub const S_IFREG: u16 = 0o100000;
/// Block device.
pub const S_IFBLK: u16 = 0o060000;
/// Directory.
pub const S_IFDIR: u16 = 0o040000;
/// Character device.
pub const S_IFCHR: u16 = 0o020000;
/// FIFO.
pub const S_IFIFO: u16 = 0o010000;

/// Inode flag: synchronous updates (same value as Linux `FS_SYNC_FL`).
pub const INODE_FLAG_SYNC: u32 = 0x0000_0008;
/// Inode flag: immutable (`FS_IMMUTABLE_FL`).
pub const INODE_FLAG_IMMUTABLE: u32 = 0x0000_0010;
/// Inode flag: append only (`FS_APPEND_FL`).
pub const INODE_FLAG_APPEND: u32 = 0x0000_0020;
/// Inode flag: no dump (`FS_NODUMP_FL`).
pub const INODE_FLAG_NODUMP: u32 = 0x0000_0040;
/// Inode flag: no atime updates (`FS_NOATIME_FL`).
pub const INODE_FLAG_NOATIME: u32 = 0x0000_0080;
/// Inode flag: the inline area holds a symlink target instead of an extent
/// root (`FS_INLINE_DATA_FL`).
pub const INODE_FLAG_INLINE_DATA: u32 = 0x1000_0000;
/// Flags a user may change through `FS_IOC_SETFLAGS`.
pub const INODE_FLAGS_USER: u32 = INODE_FLAG_SYNC
    | INODE_FLAG_IMMUTABLE
    | INODE_FLAG_APPEND
    | INODE_FLAG_NODUMP
    | INODE_FLAG_NOATIME;
/// All flags known to this version.
pub const INODE_FLAGS_KNOWN: u32 = INODE_FLAGS_USER | INODE_FLAG_INLINE_DATA;

/// A timestamp: seconds since the epoch and nanoseconds (< 10^9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timestamp {
    /// Seconds since 1970-01-01 00:00 UTC (may be negative).
    pub sec: i64,
    /// Nanoseconds, 0..=999_999_999.
    pub nsec: u32,
}

/// Decoded inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inode {
    /// Type and permission bits.
    pub mode: u16,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Hard link count (directories: 2 + number of subdirectories).
    pub nlink: u32,
    /// Flags (`INODE_FLAG_*`).
    pub flags: u32,
    /// Size in bytes.
    pub size: u64,
    /// Filesystem blocks owned: data (written or not), extent-tree node
    /// blocks and directory index node blocks.
    pub blocks: u64,
    /// Directories: inode number of the parent (the root is its own
    /// parent). 0 for other types.
    pub parent: u64,
    /// Next inode on the orphan list, 0 at the end.
    pub next_orphan: u64,
    /// Directories: block of the hash index root node, 0 if none.
    pub dir_index_root: u64,
    /// Generation number for NFS file handles.
    pub generation: u32,
    /// Device number (Linux "new" 32-bit encoding) for block and character
    /// devices, 0 otherwise.
    pub rdev: u32,
    /// Access time.
    pub atime: Timestamp,
    /// Modification time.
    pub mtime: Timestamp,
    /// Change time.
    pub ctime: Timestamp,
    /// Creation time.
    pub btime: Timestamp,
    /// First block of the inode's chain of extended attribute blocks, 0 if it has none
    /// (see [`super::xattr`]).
    pub xattr: u64,
    /// Inline extent-tree root or fast symlink target.
    pub area: [u8; INLINE_ROOT_SIZE],
}

/// Returns true if `mode` has a valid file type.
pub fn mode_type_valid(mode: u16) -> bool {
    matches!(
        mode & S_IFMT,
        S_IFSOCK | S_IFLNK | S_IFREG | S_IFBLK | S_IFDIR | S_IFCHR | S_IFIFO
    )
}

/// Checksum of an inode slot `buf` holding inode number `ino`.
pub fn inode_checksum(ino: u64, buf: &[u8]) -> u32 {
    let seed = crc32c(0, &ino.to_le_bytes());
    crc32c_with_hole(seed, buf.get(..INODE_SIZE).unwrap_or(buf), INODE_CRC_OFFSET)
}

/// Returns true if an inode slot is free (all zero).
pub fn inode_slot_is_free(buf: &[u8]) -> bool {
    buf.get(..INODE_SIZE)
        .is_some_and(|b| b.iter().all(|&x| x == 0))
}

fn get_ts(b: &[u8], sec: usize, nsec: usize) -> Timestamp {
    Timestamp {
        sec: get_i64(b, sec).unwrap_or(0),
        nsec: get_u32(b, nsec).unwrap_or(0),
    }
}

impl Inode {
    /// A new inode of the given mode with an empty inline extent root and
    /// every other field zero.
    pub fn new(mode: u16) -> Inode {
        let mut ino = Inode {
            mode,
            uid: 0,
            gid: 0,
            nlink: 0,
            flags: 0,
            size: 0,
            blocks: 0,
            parent: 0,
            next_orphan: 0,
            dir_index_root: 0,
            generation: 0,
            rdev: 0,
            atime: Timestamp::default(),
            mtime: Timestamp::default(),
            ctime: Timestamp::default(),
            btime: Timestamp::default(),
            xattr: 0,
            area: [0; INLINE_ROOT_SIZE],
        };
        ino.init_extent_root();
        ino
    }

    /// Resets the area to an empty extent root and clears the inline flag.
    pub fn init_extent_root(&mut self) {
        self.flags &= !INODE_FLAG_INLINE_DATA;
        // The area is large enough for an inline leaf root, so this cannot
        // fail.
        let _ = node_init(&mut self.area, NodeForm::Inline, TreeKind::Extent, 0, 0, 0);
    }

    /// File type bits of `mode`.
    pub fn file_type(&self) -> u16 {
        self.mode & S_IFMT
    }

    /// True for directories.
    pub fn is_dir(&self) -> bool {
        self.file_type() == S_IFDIR
    }

    /// True for regular files.
    pub fn is_reg(&self) -> bool {
        self.file_type() == S_IFREG
    }

    /// True for symbolic links.
    pub fn is_symlink(&self) -> bool {
        self.file_type() == S_IFLNK
    }

    /// True if the area holds a fast symlink target.
    pub fn has_inline_data(&self) -> bool {
        self.flags & INODE_FLAG_INLINE_DATA != 0
    }

    /// Target of a fast symlink.
    pub fn inline_target(&self) -> Option<&[u8]> {
        if !self.has_inline_data() {
            return None;
        }
        self.area.get(..usize::try_from(self.size).ok()?)
    }

    /// Makes this inode a fast symlink to `target` (sets size and flag).
    pub fn set_inline_target(&mut self, target: &[u8]) -> Result<()> {
        if target.is_empty() || target.len() > FAST_SYMLINK_MAX || target.contains(&0) {
            return Err(FormatError::Invalid("bad fast symlink target"));
        }
        self.area = [0; INLINE_ROOT_SIZE];
        self.area
            .get_mut(..target.len())
            .ok_or(FormatError::Short)?
            .copy_from_slice(target);
        self.size = target.len() as u64;
        self.flags |= INODE_FLAG_INLINE_DATA;
        Ok(())
    }

    /// Decodes and validates the inode slot `buf` of inode `ino`: magic,
    /// checksum, mode, flags, timestamps, type-specific fields and the inline
    /// extent root (or fast symlink target).
    #[inline]
    pub fn decode(ino: u64, buf: &[u8]) -> Result<Inode> {
        let b = buf.first_chunk::<INODE_SIZE>().ok_or(FormatError::Short)?;
        if get_u16(b, 0) != Some(INODE_MAGIC) {
            return Err(FormatError::BadMagic);
        }
        if get_u32(b, INODE_CRC_OFFSET) != Some(inode_checksum(ino, b)) {
            return Err(FormatError::BadChecksum);
        }
        // Built where it is returned and checked there: an inode is a few hundred bytes,
        // decoded at every inode cache miss, and not copied on the way. From here on every
        // path returns `r` itself, so that the compiler can build it in the caller's place.
        let mut r = Ok(Self::from_slot(b));
        if let Ok(inode) = &r {
            if let Err(e) = inode.validate() {
                r = Err(e);
            }
        }
        r
    }

    /// Decodes the fields without checking magic, checksum or values.
    pub fn decode_unchecked(buf: &[u8]) -> Result<Inode> {
        Ok(Self::from_slot(
            buf.first_chunk::<INODE_SIZE>().ok_or(FormatError::Short)?,
        ))
    }

    /// The fields of slot `b`, unchecked.
    #[inline(always)]
    fn from_slot(b: &[u8; INODE_SIZE]) -> Inode {
        let u32f = |o| get_u32(b, o).unwrap_or(0);
        let u64f = |o| get_u64(b, o).unwrap_or(0);
        let (_, tail) = b.split_at(INODE_AREA_OFFSET);
        Inode {
            mode: get_u16(b, 0x02).unwrap_or(0),
            uid: u32f(0x08),
            gid: u32f(0x0C),
            nlink: u32f(0x10),
            flags: u32f(0x14),
            size: u64f(0x18),
            blocks: u64f(0x20),
            parent: u64f(0x28),
            next_orphan: u64f(0x30),
            dir_index_root: u64f(0x38),
            generation: u32f(0x40),
            rdev: u32f(0x44),
            atime: get_ts(b, 0x48, 0x68),
            mtime: get_ts(b, 0x50, 0x6C),
            ctime: get_ts(b, 0x58, 0x70),
            btime: get_ts(b, 0x60, 0x74),
            xattr: u64f(0x78),
            area: tail
                .first_chunk::<INLINE_ROOT_SIZE>()
                .copied()
                .unwrap_or([0; INLINE_ROOT_SIZE]),
        }
    }

    /// Checks the field values (everything but the checksum).
    pub fn validate(&self) -> Result<()> {
        if !mode_type_valid(self.mode) {
            return Err(FormatError::Invalid("invalid file type in mode"));
        }
        if self.flags & !INODE_FLAGS_KNOWN != 0 {
            return Err(FormatError::Invalid("unknown inode flags"));
        }
        for t in [self.atime, self.mtime, self.ctime, self.btime] {
            if t.nsec >= 1_000_000_000 {
                return Err(FormatError::Invalid("timestamp nanoseconds out of range"));
            }
        }
        if self.size > MAX_INODE_SIZE {
            return Err(FormatError::Invalid(SIZE_TOO_LARGE));
        }
        let ft = self.file_type();
        if ft == S_IFDIR {
            if self.parent == 0 {
                return Err(FormatError::Invalid("directory without parent"));
            }
        } else if self.parent != 0 || self.dir_index_root != 0 {
            return Err(FormatError::Invalid(
                "directory fields set on non-directory",
            ));
        }
        if ft != S_IFCHR && ft != S_IFBLK && self.rdev != 0 {
            return Err(FormatError::Invalid("device number on non-device"));
        }
        if ft == S_IFLNK && (self.size == 0 || self.size > MAX_SYMLINK_LEN) {
            return Err(FormatError::Invalid("bad symlink length"));
        }
        if self.has_inline_data() {
            if ft != S_IFLNK {
                return Err(FormatError::Invalid("inline data on non-symlink"));
            }
            let len = usize::try_from(self.size).unwrap_or(usize::MAX);
            if len > FAST_SYMLINK_MAX {
                return Err(FormatError::Invalid("fast symlink too long"));
            }
            let (target, rest) = self.area.split_at(len);
            if target.contains(&0) {
                return Err(FormatError::Invalid("NUL in symlink target"));
            }
            if rest.iter().any(|&c| c != 0) {
                return Err(FormatError::Invalid("garbage after fast symlink target"));
            }
            // Its extended attribute blocks are the only ones a fast symlink may own.
            if self.blocks != 0 && self.xattr == 0 {
                return Err(FormatError::Invalid("fast symlink owns blocks"));
            }
        } else {
            node_check(&self.area, NodeForm::Inline, TreeKind::Extent, 0, 0)?;
        }
        Ok(())
    }

    /// Encodes the inode into slot `buf` for inode number `ino`, with its
    /// checksum.
    pub fn encode(&self, ino: u64, buf: &mut [u8]) -> Result<()> {
        self.encode_with_next(ino, self.next_orphan, buf)
    }

    /// Encodes the inode as [`Inode::encode`] does, but with `next_orphan` in place of
    /// `self.next_orphan` (the inode is not copied to change it).
    pub fn encode_with_next(&self, ino: u64, next_orphan: u64, buf: &mut [u8]) -> Result<()> {
        let b = buf.get_mut(..INODE_SIZE).ok_or(FormatError::Short)?;
        // Every byte of the slot is written below: the fields cover 0x00..0x80 without a
        // gap (the checksum last), the area 0x80..0x100.
        put_u16(b, 0x00, INODE_MAGIC);
        put_u16(b, 0x02, self.mode);
        put_u32(b, 0x08, self.uid);
        put_u32(b, 0x0C, self.gid);
        put_u32(b, 0x10, self.nlink);
        put_u32(b, 0x14, self.flags);
        put_u64(b, 0x18, self.size);
        put_u64(b, 0x20, self.blocks);
        put_u64(b, 0x28, self.parent);
        put_u64(b, 0x30, next_orphan);
        put_u64(b, 0x38, self.dir_index_root);
        put_u32(b, 0x40, self.generation);
        put_u32(b, 0x44, self.rdev);
        put_i64(b, 0x48, self.atime.sec);
        put_i64(b, 0x50, self.mtime.sec);
        put_i64(b, 0x58, self.ctime.sec);
        put_i64(b, 0x60, self.btime.sec);
        put_u32(b, 0x68, self.atime.nsec);
        put_u32(b, 0x6C, self.mtime.nsec);
        put_u32(b, 0x70, self.ctime.nsec);
        put_u32(b, 0x74, self.btime.nsec);
        put_u64(b, 0x78, self.xattr);
        put_bytes(b, INODE_AREA_OFFSET, &self.area);
        let crc = inode_checksum(ino, b);
        put_u32(b, INODE_CRC_OFFSET, crc);
        Ok(())
    }
}

/// Turns the kernel's internal device number (`dev_t`: `MKDEV(major, minor)`, the major
/// number in the top 12 bits, the minor in the low 20) into the on-disk `rdev`: the 32-bit
/// "new" encoding of `new_encode_dev`, which user space also sees in `st_rdev` (the low
/// 8 bits of the minor, the major in bits 8-19, the rest of the minor above).
pub fn rdev_to_disk(kdev: u32) -> u32 {
    let major = kdev >> 20;
    let minor = kdev & 0xf_ffff;
    (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12)
}

/// Turns an on-disk `rdev` ("new" encoding) into the kernel's internal device number; the
/// inverse of [`rdev_to_disk`] (C's `new_decode_dev`).
pub fn rdev_from_disk(disk: u32) -> u32 {
    let major = (disk & 0xf_ff00) >> 8;
    let minor = (disk & 0xff) | ((disk >> 12) & 0xf_ff00);
    (major << 20) | minor
}
