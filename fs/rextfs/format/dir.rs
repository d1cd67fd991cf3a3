// SPDX-License-Identifier: GPL-2.0

//! Directory blocks, directory entries and the name hash.
//!
//! A directory data block has a 24-byte header (magic u32 "RXDB", crc u32,
//! block number u64, owner inode u64) followed by entries that tile the rest
//! of the block exactly:
//!
//! ```text
//! 0 u64 ino   8 u16 rec_len   10 u8 name_len   11 u8 file_type   12 name
//! ```
//!
//! `rec_len` is a multiple of 8, at least [`DIRENT_MIN`], at least
//! [`dirent_size`] of the name for a used entry, and never crosses the end
//! of the block. An entry with `ino == 0` is free space (its other fields
//! are ignored). Entries never move once written: the byte offset of an
//! entry inside the directory is its readdir cookie and its index key.

use super::bytes::*;
use super::crc::crc32c;
use super::inode::{S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK};
use super::{meta_check, meta_check_fields, meta_init, meta_seal, FormatError, Result};

/// Magic of directory blocks, "RXDB" on disk.
pub const DIR_MAGIC: u32 = u32::from_le_bytes(*b"RXDB");
/// Size of the directory block header.
pub const DIR_HDR_SIZE: usize = 24;
/// Size of the fixed part of an entry.
pub const DIRENT_FIXED: usize = 12;
/// Smallest `rec_len`.
pub const DIRENT_MIN: usize = 16;
/// Longest name.
pub const MAX_NAME_LEN: usize = 255;
/// Largest directory size in bytes (offsets must fit the 32-bit index
/// field after a shift by 3).
pub const DIR_MAX_SIZE: u64 = 1 << 35;
/// readdir position of the synthesised "." entry.
pub const DIR_POS_DOT: u64 = 0;
/// readdir position of the synthesised ".." entry.
pub const DIR_POS_DOTDOT: u64 = 1;

/// Unknown file type (never stored in a used entry).
pub const FT_UNKNOWN: u8 = 0;
/// FIFO (`DT_FIFO`).
pub const FT_FIFO: u8 = 1;
/// Character device (`DT_CHR`).
pub const FT_CHR: u8 = 2;
/// Directory (`DT_DIR`).
pub const FT_DIR: u8 = 4;
/// Block device (`DT_BLK`).
pub const FT_BLK: u8 = 6;
/// Regular file (`DT_REG`).
pub const FT_REG: u8 = 8;
/// Symbolic link (`DT_LNK`).
pub const FT_LNK: u8 = 10;
/// Socket (`DT_SOCK`).
pub const FT_SOCK: u8 = 12;

/// Directory entry file type for an inode mode (`DT_*` value).
pub fn file_type_of_mode(mode: u16) -> u8 {
    match mode & S_IFMT {
        S_IFIFO => FT_FIFO,
        S_IFCHR => FT_CHR,
        S_IFDIR => FT_DIR,
        S_IFBLK => FT_BLK,
        S_IFREG => FT_REG,
        S_IFLNK => FT_LNK,
        S_IFSOCK => FT_SOCK,
        _ => FT_UNKNOWN,
    }
}

/// True if `ft` is a file type a used entry may carry.
pub fn file_type_valid(ft: u8) -> bool {
    matches!(
        ft,
        FT_FIFO | FT_CHR | FT_DIR | FT_BLK | FT_REG | FT_LNK | FT_SOCK
    )
}

/// Bytes an entry with a name of `name_len` bytes needs: 12 + name, rounded
/// up to a multiple of 8.
pub fn dirent_size(name_len: usize) -> usize {
    (DIRENT_FIXED + name_len.min(MAX_NAME_LEN) + 7) & !7
}

/// True if `name` may be stored: 1..=255 bytes, no '/' or NUL, not "." or
/// "..".
pub fn name_valid(name: &[u8]) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name != b"."
        && name != b".."
        && !name.iter().any(|&c| c == b'/' || c == 0)
}

/// Directory name hash: SipHash-2-4 of the name bytes under the super block's
/// hash key, folded to 32 bits (high half XOR low half).
pub fn name_hash(key: &[u8; 16], name: &[u8]) -> u32 {
    let h = super::siphash::siphash24(key, name);
    (h ^ (h >> 32)) as u32
}

/// Index key of an entry: `(hash << 32) | (dir_offset >> 3)`. `dir_offset`
/// is the byte offset of the entry in the directory; `None` if it is not a
/// multiple of 8 or not below [`DIR_MAX_SIZE`].
pub fn dir_index_key(hash: u32, dir_offset: u64) -> Option<u64> {
    if dir_offset % 8 != 0 || dir_offset >= DIR_MAX_SIZE {
        return None;
    }
    Some((u64::from(hash) << 32) | (dir_offset >> 3))
}

/// Hash part of an index key.
pub fn dir_key_hash(key: u64) -> u32 {
    (key >> 32) as u32
}

/// Directory byte offset part of an index key.
pub fn dir_key_offset(key: u64) -> u64 {
    (key & 0xffff_ffff) << 3
}

/// Smallest and largest key with a given hash (inclusive): a lookup scans
/// the index leaves over this range.
pub fn dir_hash_range(hash: u32) -> (u64, u64) {
    let lo = u64::from(hash) << 32;
    (lo, lo | 0xffff_ffff)
}

/// One directory entry, borrowed from its block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirEntry<'a> {
    /// Inode number, 0 for free space.
    pub ino: u64,
    /// Length of the record including slack.
    pub rec_len: u16,
    /// `FT_*` type.
    pub file_type: u8,
    /// Name bytes (empty for free space).
    pub name: &'a [u8],
}

impl DirEntry<'_> {
    /// True for free space.
    pub fn is_free(&self) -> bool {
        self.ino == 0
    }
}

/// Initialises an empty directory block: header and one free entry over the
/// rest of the block; the checksum is set.
pub fn dirblock_init(buf: &mut [u8], blockno: u64, owner: u64) -> Result<()> {
    let len = buf.len();
    if len < DIR_HDR_SIZE + DIRENT_MIN || len % 8 != 0 || len - DIR_HDR_SIZE > usize::from(u16::MAX)
    {
        return Err(FormatError::Invalid("bad directory block size"));
    }
    buf.fill(0);
    meta_init(buf, DIR_MAGIC, blockno, owner)?;
    put_u16(buf, DIR_HDR_SIZE + 8, (len - DIR_HDR_SIZE) as u16);
    meta_seal(buf)
}

/// Recomputes the checksum of a directory block.
pub fn dirblock_seal(buf: &mut [u8]) -> Result<()> {
    meta_seal(buf)
}

/// The lengths of the entry at byte offset `off` of a directory block: the
/// entry lies inside the block and, if used, its name fits its record. The
/// name and the file type are not looked at (see [`dirent_at`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawEntry {
    /// Inode number (0: free space).
    pub ino: u64,
    /// Record length.
    pub rec_len: usize,
    /// Name length (0 for free space).
    pub name_len: usize,
}

impl RawEntry {
    /// True for free space.
    pub fn is_free(&self) -> bool {
        self.ino == 0
    }

    /// Bytes of the record the entry does not use: all of it for free space.
    pub fn slack(&self) -> usize {
        if self.is_free() {
            self.rec_len
        } else {
            self.rec_len - dirent_size(self.name_len)
        }
    }
}

/// Decodes the lengths of the entry at byte offset `off` of a directory
/// block ([`RawEntry`]). For walks of blocks that [`dirblock_check`] passed
/// when they were read and that only this code changed since: they need
/// the record lengths, not the names checked again. A malformed entry is
/// still an error, never a wrong offset.
pub fn dirent_raw_at(buf: &[u8], off: usize) -> Result<RawEntry> {
    if off < DIR_HDR_SIZE || off % 8 != 0 {
        return Err(FormatError::Invalid("misaligned directory entry"));
    }
    let ino = get_u64(buf, off).ok_or(FormatError::Short)?;
    let rl = usize::from(get_u16(buf, off + 8).ok_or(FormatError::Short)?);
    let nl = usize::from(get_u8(buf, off + 10).ok_or(FormatError::Short)?);
    if rl < DIRENT_MIN || rl % 8 != 0 {
        return Err(FormatError::Invalid("bad directory entry length"));
    }
    match off.checked_add(rl) {
        Some(end) if end <= buf.len() => {}
        _ => return Err(FormatError::Invalid("directory entry crosses block end")),
    }
    if ino == 0 {
        return Ok(RawEntry {
            ino,
            rec_len: rl,
            name_len: 0,
        });
    }
    if dirent_size(nl) > rl {
        return Err(FormatError::Invalid(
            "directory entry name overflows record",
        ));
    }
    Ok(RawEntry {
        ino,
        rec_len: rl,
        name_len: nl,
    })
}

/// Decodes the entry at byte offset `off` of a directory block, checking
/// that it lies inside the block and, if used, that it is well formed.
pub fn dirent_at(buf: &[u8], off: usize) -> Result<DirEntry<'_>> {
    let r = dirent_raw_at(buf, off)?;
    let file_type = get_u8(buf, off + 11).ok_or(FormatError::Short)?;
    let rec_len = r.rec_len as u16;
    if r.is_free() {
        return Ok(DirEntry {
            ino: 0,
            rec_len,
            file_type,
            name: &[],
        });
    }
    let nl = r.name_len;
    let name = buf
        .get(off + DIRENT_FIXED..off + DIRENT_FIXED + nl)
        .ok_or(FormatError::Short)?;
    if !name_valid(name) {
        return Err(FormatError::Invalid("invalid name in directory entry"));
    }
    if !file_type_valid(file_type) {
        return Err(FormatError::Invalid("invalid file type in directory entry"));
    }
    Ok(DirEntry {
        ino: r.ino,
        rec_len,
        file_type,
        name,
    })
}

/// Iterator over the entries of a directory block, yielding
/// `(offset in block, entry)`, each entry checked whole ([`dirent_at`]).
/// After an error it yields that error once and then stops.
pub struct DirIter<'a> {
    raw: RawIter<'a>,
}

impl<'a> DirIter<'a> {
    /// Iterates over `buf`, a whole directory block (header not checked).
    pub fn new(buf: &'a [u8]) -> DirIter<'a> {
        DirIter {
            raw: RawIter::new(buf),
        }
    }
}

impl<'a> Iterator for DirIter<'a> {
    type Item = Result<(usize, DirEntry<'a>)>;

    fn next(&mut self) -> Option<Self::Item> {
        let buf = self.raw.buf;
        let r = self
            .raw
            .next()?
            .and_then(|(off, _)| Ok((off, dirent_at(buf, off)?)));
        if r.is_err() {
            self.raw.done = true;
        }
        Some(r)
    }
}

/// Iterator over the entries of a directory block as [`RawEntry`]s (see
/// [`dirent_raw_at`]), yielding `(offset in block, entry)`. After an error
/// it yields that error once and then stops.
pub struct RawIter<'a> {
    buf: &'a [u8],
    off: usize,
    done: bool,
}

impl<'a> RawIter<'a> {
    /// Iterates over `buf`, a whole directory block (header not checked).
    pub fn new(buf: &'a [u8]) -> RawIter<'a> {
        RawIter {
            buf,
            off: DIR_HDR_SIZE,
            done: false,
        }
    }
}

impl Iterator for RawIter<'_> {
    type Item = Result<(usize, RawEntry)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.off >= self.buf.len() {
            return None;
        }
        match dirent_raw_at(self.buf, self.off) {
            Ok(e) => {
                let off = self.off;
                self.off = off + e.rec_len;
                Some(Ok((off, e)))
            }
            Err(err) => {
                self.done = true;
                Some(Err(err))
            }
        }
    }
}

/// Whether an entry of a directory block starts at byte offset `off`,
/// found by following the record lengths from the first entry (a block
/// checked when it was read, see [`dirent_raw_at`]); false too when a
/// malformed entry stops the walk first.
pub fn dirblock_is_boundary(buf: &[u8], off: usize) -> bool {
    for r in RawIter::new(buf) {
        match r {
            Ok((o, _)) if o == off => return true,
            Ok((o, _)) if o > off => return false,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    false
}

/// Validates a directory block read from `blockno`: header, checksum,
/// owner and every entry (the entries must tile the block exactly).
pub fn dirblock_check(buf: &[u8], blockno: u64, owner: u64) -> Result<()> {
    if buf.len() < DIR_HDR_SIZE + DIRENT_MIN {
        return Err(FormatError::Short);
    }
    let o = meta_check(buf, DIR_MAGIC, blockno)?;
    if o != owner {
        return Err(FormatError::WrongOwner);
    }
    for e in DirIter::new(buf) {
        e?;
    }
    Ok(())
}

/// [`dirblock_check`] of a block that passed it when it was read and that only this code
/// changed since: the header fields (magic, block number, owner), not the checksum and the
/// entries.
pub fn dirblock_check_fields(buf: &[u8], blockno: u64, owner: u64) -> Result<()> {
    if buf.len() < DIR_HDR_SIZE + DIRENT_MIN {
        return Err(FormatError::Short);
    }
    if meta_check_fields(buf, DIR_MAGIC, blockno)? != owner {
        return Err(FormatError::WrongOwner);
    }
    Ok(())
}

/// Finds a used entry named `name` in a directory block by linear scan.
pub fn dirblock_find<'a>(buf: &'a [u8], name: &[u8]) -> Result<Option<(usize, DirEntry<'a>)>> {
    for e in RawIter::new(buf) {
        let (off, e) = e?;
        if !e.is_free()
            && e.name_len == name.len()
            && buf.get(off + DIRENT_FIXED..off + DIRENT_FIXED + e.name_len) == Some(name)
        {
            return Ok(Some((off, dirent_at(buf, off)?)));
        }
    }
    Ok(None)
}

/// Writes the header and the name of an entry of `rec_len` bytes at `off`.
///
/// Only the name's padding (up to [`dirent_size`]) is zeroed: the rest of the record is
/// zero already wherever an entry is written (the body of a free entry, the slack after a
/// used one: see [`dirblock_remove`]), and zeroing a record as long as the rest of the block
/// at every insertion is most of an insertion's cost.
fn write_entry(buf: &mut [u8], off: usize, ino: u64, rec_len: usize, name: &[u8], ft: u8) {
    put_u64(buf, off, ino);
    put_u16(buf, off + 8, rec_len as u16);
    put_u8(buf, off + 10, name.len() as u8);
    put_u8(buf, off + 11, ft);
    put_bytes(buf, off + DIRENT_FIXED, name);
    let name_end = DIRENT_FIXED + name.len();
    let padding = dirent_size(name.len())
        .min(rec_len)
        .saturating_sub(name_end);
    zero(buf, off + name_end, padding);
}

/// Adds an entry to a directory block (first fit: a free entry large
/// enough, or the slack after a used entry). Returns its offset in the
/// block, or [`FormatError::Full`]. Existing used entries never move. The
/// checksum is not updated (see [`dirblock_seal`]).
pub fn dirblock_insert(buf: &mut [u8], name: &[u8], ino: u64, file_type: u8) -> Result<usize> {
    dirblock_insert_slot(buf, name, ino, file_type)?
        .0
        .ok_or(FormatError::Full)
}

/// [`dirblock_insert`], in one walk of the block that also finds what
/// [`dirblock_largest_slot`] gives for it afterwards: (the new entry's
/// offset, `None` if the block has no room for it and was left as it was;
/// the largest slot). An error leaves the block as it was; a malformed
/// entry after the new one ends the walk instead (the slot is then too
/// small at worst).
pub fn dirblock_insert_slot(
    buf: &mut [u8],
    name: &[u8],
    ino: u64,
    file_type: u8,
) -> Result<(Option<usize>, usize)> {
    if !name_valid(name) || ino == 0 || !file_type_valid(file_type) {
        return Err(FormatError::Invalid("invalid directory entry"));
    }
    let need = dirent_size(name.len());
    let mut at = None;
    let mut best = 0;
    let mut off = DIR_HDR_SIZE;
    while off < buf.len() {
        let e = match dirent_raw_at(buf, off) {
            Ok(e) => e,
            // After the insertion the block has changed: the walk stops there, the largest
            // slot found so far the answer (too small at worst).
            Err(_) if at.is_some() => break,
            Err(err) => return Err(err),
        };
        let rl = e.rec_len;
        if at.is_none() {
            if e.is_free() && rl >= need {
                let (mine, rest) = if rl - need >= DIRENT_MIN {
                    (need, rl - need)
                } else {
                    (rl, 0)
                };
                write_entry(buf, off, ino, mine, name, file_type);
                if rest > 0 {
                    write_entry(buf, off + mine, 0, rest, &[], 0);
                }
                at = Some(off);
                // The entries just written are walked next.
                continue;
            }
            if !e.is_free() {
                let used = dirent_size(e.name_len);
                if rl - used >= need {
                    put_u16(buf, off + 8, used as u16);
                    write_entry(buf, off + used, ino, rl - used, name, file_type);
                    at = Some(off + used);
                    continue;
                }
            }
        }
        best = best.max(e.slack());
        off += rl;
    }
    Ok((at, best))
}

/// The size of the largest entry (see [`dirent_size`]) that [`dirblock_insert`] can add to
/// a directory block: the largest free entry or slack after a used entry.
pub fn dirblock_largest_slot(buf: &[u8]) -> Result<usize> {
    let mut best = 0;
    for r in RawIter::new(buf) {
        best = best.max(r?.1.slack());
    }
    Ok(best)
}

/// Frees the used entry at offset `off` and merges it with the free entries
/// next to it. Returns the length of the free entry it leaves (the space an
/// insertion may now take there). Used entries never move. The checksum is
/// not updated.
///
/// The freed bytes are zeroed: the entry's name, and the header of a free
/// neighbour absorbed (the rest of a free entry is zero already, as every
/// function here leaves it). Free entries are merged when they are made, so
/// a block holds no two free entries in a row and only the neighbours of
/// the freed entry need looking at.
pub fn dirblock_remove(buf: &mut [u8], off: usize) -> Result<usize> {
    let e = dirent_raw_at(buf, off)?;
    if e.is_free() {
        return Err(FormatError::Invalid("directory entry already free"));
    }
    // Make sure `off` is an entry boundary, not a forged offset; note the
    // entry before it.
    let mut prev = None;
    let mut found = false;
    for r in RawIter::new(buf) {
        let (o, pe) = r?;
        if o == off {
            found = true;
            break;
        }
        if o > off {
            break;
        }
        prev = Some((o, pe));
    }
    if !found {
        return Err(FormatError::BadIndex);
    }
    // The next entry, when free, joins the freed one; both join the entry
    // before, when it is free. Everything is checked before anything
    // changes.
    let end = off + e.rec_len;
    let next_free = if end < buf.len() {
        let next = dirent_raw_at(buf, end)?;
        next.is_free().then_some(next.rec_len)
    } else {
        None
    };
    let mut len = e.rec_len + next_free.unwrap_or(0);
    let start = match prev {
        Some((po, pe)) if pe.is_free() => {
            len += pe.rec_len;
            po
        }
        _ => off,
    };
    let rec_len =
        u16::try_from(len).map_err(|_| FormatError::Invalid("bad directory entry length"))?;
    zero(buf, off, e.rec_len);
    if next_free.is_some() {
        zero(buf, end, DIRENT_FIXED);
    }
    put_u16(buf, start + 8, rec_len);
    Ok(len)
}

/// True if a directory block has no used entry.
pub fn dirblock_is_empty(buf: &[u8]) -> Result<bool> {
    for e in RawIter::new(buf) {
        if !e?.1.is_free() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// First used entry at byte offset `>= from` in a directory block, for
/// readdir: a position inside a removed or merged entry resumes at the next
/// entry boundary.
pub fn dirblock_next_used(buf: &[u8], from: usize) -> Result<Option<(usize, DirEntry<'_>)>> {
    for e in DirIter::new(buf) {
        let (off, e) = e?;
        if off >= from && !e.is_free() {
            return Ok(Some((off, e)));
        }
    }
    Ok(None)
}

/// Points the used entry at offset `off` to another inode (rename over an
/// existing name). The entry does not move. The checksum is not updated.
pub fn dirent_set_target(buf: &mut [u8], off: usize, ino: u64, file_type: u8) -> Result<()> {
    let e = dirent_at(buf, off)?;
    if e.is_free() || ino == 0 || !file_type_valid(file_type) {
        return Err(FormatError::Invalid("invalid directory entry"));
    }
    // Make sure `off` is an entry boundary, not a forged offset.
    if !dirblock_is_boundary(buf, off) {
        return Err(FormatError::BadIndex);
    }
    put_u64(buf, off, ino);
    put_u8(buf, off + 11, file_type);
    Ok(())
}
