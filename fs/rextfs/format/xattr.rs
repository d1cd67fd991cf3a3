// SPDX-License-Identifier: GPL-2.0

//! Extended attributes: a chain of xattr blocks per inode, and chains of value blocks for
//! large values.
//!
//! The inode's `xattr` field names the first xattr block (0: no attributes). Every block
//! starts with the common metadata header whose owner is the inode number.
//!
//! Xattr block (magic `RXXA`), little endian:
//!
//! ```text
//! 0x00 meta header (magic, crc, block number, owner)
//! 0x18 u64 next     next xattr block of the inode, 0 at the end of the chain
//! 0x20 u32 used     bytes of entries, packed from 0x28 on
//! 0x24 u32 count    number of entries
//! 0x28 entries, then zeroes up to the end of the block
//! ```
//!
//! Entry: `u8 index` (the namespace, [`XATTR_INDEX_USER`] ...), `u8 name_len`, `u16 flags`
//! ([`XATTR_FLAG_EXTERNAL`]), `u32 value_len`, the name, then the value itself (inline) or
//! the u64 number of the first value block (external).
//!
//! Value block (magic `RXXV`): the meta header, `0x18 u64 next` (0 at the end), `0x20 u32
//! len` (bytes of the value in this block, at least 1), `0x24 u32` zero, then the bytes from
//! 0x28, zeroes after them. The lengths of a chain add up to the entry's `value_len`.
//!
//! An (index, name) pair appears at most once in the whole chain of an inode.

use super::bytes::*;
use super::{meta_check, meta_check_fields, meta_init, FormatError, Result};

/// Magic of an xattr block, "RXXA" on disk.
pub const XATTR_MAGIC: u32 = u32::from_le_bytes(*b"RXXA");
/// Magic of a value block, "RXXV" on disk.
pub const XVALUE_MAGIC: u32 = u32::from_le_bytes(*b"RXXV");
/// Size of the header of an xattr or value block.
pub const XATTR_HDR_SIZE: usize = 0x28;
/// Size of the fixed part of an entry.
pub const XATTR_ENTRY_FIXED: usize = 8;
/// Largest value (the VFS's `XATTR_SIZE_MAX`).
pub const XATTR_VALUE_MAX: usize = 65536;
/// Longest full name, namespace prefix included (the VFS's `XATTR_NAME_MAX`): a name of
/// index [`XATTR_INDEX_USER`] has at most `255 - 5` bytes after `user.`.
pub const XATTR_NAME_MAX: usize = 255;
/// Most bytes `listxattr` may return (the VFS's `XATTR_LIST_MAX`): the listed names of one
/// inode, each with its prefix and a NUL, add up to at most this.
pub const XATTR_LIST_MAX: usize = 65536;
/// Most xattr blocks in the chain of one inode.
pub const XATTR_MAX_BLOCKS: u32 = 64;

/// `user.` attributes.
pub const XATTR_INDEX_USER: u8 = 1;
/// `trusted.` attributes.
pub const XATTR_INDEX_TRUSTED: u8 = 2;
/// `security.` attributes.
pub const XATTR_INDEX_SECURITY: u8 = 3;
/// `system.posix_acl_access` (empty name).
pub const XATTR_INDEX_ACL_ACCESS: u8 = 4;
/// `system.posix_acl_default` (empty name).
pub const XATTR_INDEX_ACL_DEFAULT: u8 = 5;

/// Entry flag: the value is in a chain of value blocks; the entry holds the first one.
pub const XATTR_FLAG_EXTERNAL: u16 = 1;

/// Whether `index` is a namespace this format defines.
pub fn xattr_index_valid(index: u8) -> bool {
    (XATTR_INDEX_USER..=XATTR_INDEX_ACL_DEFAULT).contains(&index)
}

/// The namespace prefix of index `index` (`user.`, ...), for the namespaces named by a
/// prefix and a name; `None` for the ACL indices (whole names without a suffix) and unknown
/// ones.
pub fn xattr_prefix(index: u8) -> Option<&'static [u8]> {
    match index {
        XATTR_INDEX_USER => Some(b"user."),
        XATTR_INDEX_TRUSTED => Some(b"trusted."),
        XATTR_INDEX_SECURITY => Some(b"security."),
        _ => None,
    }
}

/// Whether `name` is a valid name for namespace `index`: the ACL namespaces have an empty
/// name, the others 1 or more bytes without NUL, at most [`XATTR_NAME_MAX`] with the prefix
/// (the VFS could neither pass nor list a longer one).
pub fn xattr_name_valid(index: u8, name: &[u8]) -> bool {
    match index {
        XATTR_INDEX_ACL_ACCESS | XATTR_INDEX_ACL_DEFAULT => name.is_empty(),
        _ => xattr_prefix(index).is_some_and(|p| {
            !name.is_empty() && p.len() + name.len() <= XATTR_NAME_MAX && !name.contains(&0)
        }),
    }
}

/// Bytes the entry (`index`, `name`) takes in the `listxattr` list: its prefix, name and
/// NUL; the ACLs are listed by their whole names (`system.posix_acl_access`, ...).
pub fn xattr_list_size(index: u8, name: &[u8]) -> usize {
    match index {
        XATTR_INDEX_ACL_ACCESS => b"system.posix_acl_access".len() + 1,
        XATTR_INDEX_ACL_DEFAULT => b"system.posix_acl_default".len() + 1,
        _ => xattr_prefix(index).map_or(0, |p| p.len() + name.len() + 1),
    }
}

/// Bytes of payload one value block of `block_size` bytes holds.
pub const fn xvalue_capacity(block_size: usize) -> usize {
    block_size.saturating_sub(XATTR_HDR_SIZE)
}

/// Value blocks a value of `len` bytes takes in blocks of `block_size` bytes.
pub const fn xvalue_blocks(block_size: usize, len: usize) -> usize {
    let cap = xvalue_capacity(block_size);
    if cap == 0 {
        return len;
    }
    len.div_ceil(cap)
}

/// Largest value kept inline in an xattr block of `block_size` bytes; longer ones go to
/// value blocks. A quarter of the entry space, so that an entry with the longest name and
/// an inline value always fits in an empty block.
pub fn xattr_inline_max(block_size: usize) -> usize {
    xvalue_capacity(block_size) / 4
}

/// Size of an entry with a name of `name_len` bytes and an inline value of `value_len`
/// bytes, or an external value (`None`).
pub fn xattr_entry_size(name_len: usize, inline_len: Option<usize>) -> usize {
    XATTR_ENTRY_FIXED + name_len + inline_len.unwrap_or(8)
}

/// The value of an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XattrValue<'a> {
    /// Stored in the entry.
    Inline(&'a [u8]),
    /// Stored in value blocks: the value's length and its first block.
    External {
        /// Length of the value.
        len: u32,
        /// First value block.
        block: u64,
    },
}

impl XattrValue<'_> {
    /// Length of the value.
    pub fn len(&self) -> usize {
        match self {
            XattrValue::Inline(v) => v.len(),
            XattrValue::External { len, .. } => *len as usize,
        }
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One entry of an xattr block.
#[derive(Clone, Copy, Debug)]
pub struct XattrEntry<'a> {
    /// Offset of the entry in the block.
    pub off: usize,
    /// Namespace index.
    pub index: u8,
    /// Name, without the namespace prefix.
    pub name: &'a [u8],
    /// Value.
    pub value: XattrValue<'a>,
}

impl XattrEntry<'_> {
    /// Size of the entry in the block.
    pub fn size(&self) -> usize {
        xattr_entry_size(
            self.name.len(),
            match self.value {
                XattrValue::Inline(v) => Some(v.len()),
                XattrValue::External { .. } => None,
            },
        )
    }
}

/// Parses the entry at `off` of an xattr block whose entries end at `end`.
fn entry_at(buf: &[u8], off: usize, end: usize) -> Result<XattrEntry<'_>> {
    let bad = FormatError::Invalid("bad xattr entry");
    let index = get_u8(buf, off).ok_or(bad)?;
    let name_len = usize::from(get_u8(buf, off + 1).ok_or(bad)?);
    let flags = get_u16(buf, off + 2).ok_or(bad)?;
    let value_len = get_u32(buf, off + 4).ok_or(bad)? as usize;
    let name_off = off + XATTR_ENTRY_FIXED;
    let name = buf.get(name_off..name_off + name_len).ok_or(bad)?;
    if !xattr_index_valid(index) || !xattr_name_valid(index, name) {
        return Err(FormatError::Invalid("bad xattr name"));
    }
    if value_len > XATTR_VALUE_MAX {
        return Err(FormatError::Invalid("xattr value too long"));
    }
    let voff = name_off + name_len;
    let value = match flags {
        0 => XattrValue::Inline(buf.get(voff..voff + value_len).ok_or(bad)?),
        XATTR_FLAG_EXTERNAL => {
            let block = get_u64(buf, voff).ok_or(bad)?;
            if value_len == 0 || block == 0 {
                return Err(FormatError::Invalid("bad external xattr value"));
            }
            XattrValue::External {
                len: value_len as u32,
                block,
            }
        }
        _ => return Err(FormatError::Invalid("unknown xattr entry flags")),
    };
    let e = XattrEntry {
        off,
        index,
        name,
        value,
    };
    if off + e.size() > end {
        return Err(bad);
    }
    Ok(e)
}

/// Iterator over the entries of a checked xattr block (stops at the first bad entry).
pub struct XattrIter<'a> {
    buf: &'a [u8],
    off: usize,
    end: usize,
}

impl<'a> XattrIter<'a> {
    /// The entries of `buf`, an xattr block checked by [`xattr_block_check`].
    pub fn new(buf: &'a [u8]) -> XattrIter<'a> {
        let end = XATTR_HDR_SIZE + get_u32(buf, 0x20).unwrap_or(0) as usize;
        XattrIter {
            buf,
            off: XATTR_HDR_SIZE,
            end: end.min(buf.len()),
        }
    }
}

impl<'a> Iterator for XattrIter<'a> {
    type Item = XattrEntry<'a>;

    fn next(&mut self) -> Option<XattrEntry<'a>> {
        if self.off >= self.end {
            return None;
        }
        let e = entry_at(self.buf, self.off, self.end).ok()?;
        self.off += e.size();
        Some(e)
    }
}

/// Makes `buf` an empty xattr block of inode `owner` at `blockno`, with no next block.
pub fn xattr_block_init(buf: &mut [u8], blockno: u64, owner: u64) -> Result<()> {
    if buf.len() < XATTR_HDR_SIZE {
        return Err(FormatError::Short);
    }
    buf.fill(0);
    meta_init(buf, XATTR_MAGIC, blockno, owner)
}

/// Next xattr block of the chain (0 at the end).
pub fn xattr_block_next(buf: &[u8]) -> u64 {
    get_u64(buf, 0x18).unwrap_or(0)
}

/// Sets the next xattr block of the chain.
pub fn xattr_block_set_next(buf: &mut [u8], next: u64) {
    put_u64(buf, 0x18, next);
}

/// Number of entries of an xattr block.
pub fn xattr_block_count(buf: &[u8]) -> u32 {
    get_u32(buf, 0x24).unwrap_or(0)
}

/// Free bytes of an xattr block for entries.
pub fn xattr_block_free(buf: &[u8]) -> usize {
    let used = get_u32(buf, 0x20).unwrap_or(u32::MAX) as usize;
    buf.len().saturating_sub(XATTR_HDR_SIZE + used)
}

/// Checks an xattr block of inode `owner` read from `blockno`: header and checksum, and
/// every entry (valid names and values, no name twice, zeroes after the last). The check
/// for names given twice is quadratic in the entries (a 64 KiB block may hold thousands):
/// fsck runs it, the kernel does not.
pub fn xattr_block_check(buf: &[u8], blockno: u64, owner: u64) -> Result<()> {
    check_owner(meta_check(buf, XATTR_MAGIC, blockno)?, owner)?;
    xattr_block_check_entries(buf, true)
}

/// [`xattr_block_check`] without the checksum and without the search for names given
/// twice: linear in the block size, for every use of a cached block. A name given twice
/// cannot make a reader go wrong (the first entry is the attribute; fsck drops the others).
pub fn xattr_block_check_fields(buf: &[u8], blockno: u64, owner: u64) -> Result<()> {
    check_owner(meta_check_fields(buf, XATTR_MAGIC, blockno)?, owner)?;
    xattr_block_check_entries(buf, false)
}

fn check_owner(found: u64, owner: u64) -> Result<()> {
    if found != owner {
        return Err(FormatError::WrongOwner);
    }
    Ok(())
}

fn xattr_block_check_entries(buf: &[u8], dups: bool) -> Result<()> {
    let used = get_u32(buf, 0x20).ok_or(FormatError::Short)? as usize;
    let count = get_u32(buf, 0x24).ok_or(FormatError::Short)?;
    let end = XATTR_HDR_SIZE
        .checked_add(used)
        .filter(|&e| e <= buf.len())
        .ok_or(FormatError::Invalid("xattr entries past the block"))?;
    let mut off = XATTR_HDR_SIZE;
    let mut n = 0u32;
    while off < end {
        let e = entry_at(buf, off, end)?;
        // Every earlier entry must have another name.
        let mut prev = XATTR_HDR_SIZE;
        while dups && prev < off {
            let p = entry_at(buf, prev, end)?;
            if p.index == e.index && p.name == e.name {
                return Err(FormatError::Invalid("xattr name twice in a block"));
            }
            prev += p.size();
        }
        off += e.size();
        n += 1;
    }
    if n != count {
        return Err(FormatError::Invalid("xattr entry count mismatch"));
    }
    if buf.get(end..).is_some_and(|t| t.iter().any(|&b| b != 0)) {
        return Err(FormatError::Invalid("garbage after xattr entries"));
    }
    Ok(())
}

/// Finds the entry (`index`, `name`) in a checked xattr block.
pub fn xattr_block_find<'a>(buf: &'a [u8], index: u8, name: &[u8]) -> Option<XattrEntry<'a>> {
    XattrIter::new(buf).find(|e| e.index == index && e.name == name)
}

/// Appends an entry to a checked xattr block that does not hold (`index`, `name`) yet.
/// Fails with [`FormatError::Full`] when it does not fit. The checksum is left to
/// [`super::meta_seal`].
pub fn xattr_block_insert(
    buf: &mut [u8],
    index: u8,
    name: &[u8],
    value: XattrValue<'_>,
) -> Result<()> {
    if !xattr_index_valid(index) || !xattr_name_valid(index, name) {
        return Err(FormatError::Invalid("bad xattr name"));
    }
    let (inline, flags) = match value {
        XattrValue::Inline(v) => (Some(v.len()), 0),
        XattrValue::External { len, block } => {
            if len == 0 || block == 0 {
                return Err(FormatError::Invalid("bad external xattr value"));
            }
            (None, XATTR_FLAG_EXTERNAL)
        }
    };
    if value.len() > XATTR_VALUE_MAX {
        return Err(FormatError::Invalid("xattr value too long"));
    }
    let size = xattr_entry_size(name.len(), inline);
    if size > xattr_block_free(buf) {
        return Err(FormatError::Full);
    }
    let used = get_u32(buf, 0x20).ok_or(FormatError::Short)? as usize;
    let off = XATTR_HDR_SIZE + used;
    put_u8(buf, off, index);
    put_u8(buf, off + 1, name.len() as u8);
    put_u16(buf, off + 2, flags);
    put_u32(buf, off + 4, value.len() as u32);
    put_bytes(buf, off + XATTR_ENTRY_FIXED, name);
    let voff = off + XATTR_ENTRY_FIXED + name.len();
    match value {
        XattrValue::Inline(v) => put_bytes(buf, voff, v),
        XattrValue::External { block, .. } => put_u64(buf, voff, block),
    }
    put_u32(buf, 0x20, (used + size) as u32);
    put_u32(buf, 0x24, xattr_block_count(buf) + 1);
    Ok(())
}

/// Removes the entry at `off` (as found by [`xattr_block_find`]) from a checked xattr block:
/// the entries after it move down, the freed tail is zeroed.
pub fn xattr_block_remove(buf: &mut [u8], off: usize) -> Result<()> {
    let used = get_u32(buf, 0x20).ok_or(FormatError::Short)? as usize;
    let end = XATTR_HDR_SIZE + used;
    if off < XATTR_HDR_SIZE || off >= end || end > buf.len() {
        return Err(FormatError::BadIndex);
    }
    let size = entry_at(buf, off, end)?.size();
    move_within(buf, off + size, off, end - off - size);
    zero(buf, end - size, size);
    put_u32(buf, 0x20, (used - size) as u32);
    put_u32(buf, 0x24, xattr_block_count(buf).saturating_sub(1));
    Ok(())
}

/// Makes `buf` value block `blockno` of inode `owner` holding `data` (1 to
/// [`xvalue_capacity`] bytes), followed by block `next` (0: the last). The checksum is left
/// to [`super::meta_seal`].
pub fn xvalue_block_init(
    buf: &mut [u8],
    blockno: u64,
    owner: u64,
    next: u64,
    data: &[u8],
) -> Result<()> {
    if data.is_empty() || data.len() > xvalue_capacity(buf.len()) {
        return Err(FormatError::Invalid("bad xattr value block length"));
    }
    buf.fill(0);
    meta_init(buf, XVALUE_MAGIC, blockno, owner)?;
    put_u64(buf, 0x18, next);
    put_u32(buf, 0x20, data.len() as u32);
    put_bytes(buf, XATTR_HDR_SIZE, data);
    Ok(())
}

/// Checks value block `blockno` of inode `owner` and returns its next block and its bytes.
pub fn xvalue_block_check(buf: &[u8], blockno: u64, owner: u64) -> Result<(u64, &[u8])> {
    check_owner(meta_check(buf, XVALUE_MAGIC, blockno)?, owner)?;
    let next = get_u64(buf, 0x18).ok_or(FormatError::Short)?;
    let len = get_u32(buf, 0x20).ok_or(FormatError::Short)? as usize;
    if len == 0 || len > xvalue_capacity(buf.len()) || get_u32(buf, 0x24) != Some(0) {
        return Err(FormatError::Invalid("bad xattr value block length"));
    }
    let data = buf
        .get(XATTR_HDR_SIZE..XATTR_HDR_SIZE + len)
        .ok_or(FormatError::Short)?;
    if buf.iter().skip(XATTR_HDR_SIZE + len).any(|&b| b != 0) {
        return Err(FormatError::Invalid("garbage after xattr value"));
    }
    Ok((next, data))
}

#[cfg(test)]
mod tests {
    use super::super::meta_seal;
    use super::*;

    fn block(bs: usize) -> [u8; 1024] {
        let mut b = [0u8; 1024];
        xattr_block_init(&mut b[..bs], 7, 42).unwrap();
        b
    }

    #[test]
    fn insert_find_remove() {
        let mut b = block(1024);
        xattr_block_insert(&mut b, XATTR_INDEX_USER, b"a", XattrValue::Inline(b"one")).unwrap();
        let ext = XattrValue::External {
            len: 5000,
            block: 99,
        };
        xattr_block_insert(&mut b, XATTR_INDEX_TRUSTED, b"big", ext).unwrap();
        xattr_block_insert(&mut b, XATTR_INDEX_ACL_ACCESS, b"", XattrValue::Inline(b"")).unwrap();
        meta_seal(&mut b).unwrap();
        xattr_block_check(&b, 7, 42).unwrap();
        assert_eq!(xattr_block_check(&b, 7, 43), Err(FormatError::WrongOwner));
        assert_eq!(xattr_block_count(&b), 3);
        let e = xattr_block_find(&b, XATTR_INDEX_TRUSTED, b"big").unwrap();
        assert_eq!(e.value, ext);
        assert!(xattr_block_find(&b, XATTR_INDEX_USER, b"big").is_none());
        let off = xattr_block_find(&b, XATTR_INDEX_USER, b"a").unwrap().off;
        xattr_block_remove(&mut b, off).unwrap();
        meta_seal(&mut b).unwrap();
        xattr_block_check(&b, 7, 42).unwrap();
        let names: [(u8, &[u8]); 2] =
            [(XATTR_INDEX_TRUSTED, b"big"), (XATTR_INDEX_ACL_ACCESS, b"")];
        assert!(XattrIter::new(&b).map(|e| (e.index, e.name)).eq(names));
    }

    #[test]
    fn full_and_invalid() {
        let mut b = block(1024);
        let v = [7u8; 200];
        let mut n = 0;
        loop {
            let name = [b'a' + (n % 26) as u8, b'0' + (n / 26) as u8];
            match xattr_block_insert(&mut b, XATTR_INDEX_USER, &name, XattrValue::Inline(&v)) {
                Ok(()) => n += 1,
                Err(FormatError::Full) => break,
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(n, (1024 - XATTR_HDR_SIZE) / (XATTR_ENTRY_FIXED + 2 + 200));
        assert!(
            xattr_block_insert(&mut b, XATTR_INDEX_USER, b"", XattrValue::Inline(b"")).is_err()
        );
        assert!(xattr_block_insert(&mut b, 9, b"x", XattrValue::Inline(b"")).is_err());
        assert!(xattr_block_insert(
            &mut b,
            XATTR_INDEX_ACL_DEFAULT,
            b"x",
            XattrValue::Inline(b"")
        )
        .is_err());
        // The longest name with the longest inline value fits an empty block.
        for bs in [1024usize, 4096, 65536] {
            let most = xattr_entry_size(XATTR_NAME_MAX, Some(xattr_inline_max(bs)));
            assert!(most <= bs - XATTR_HDR_SIZE, "{bs}");
        }
    }

    #[test]
    fn corrupt_blocks_refused() {
        let mut b = block(1024);
        xattr_block_insert(&mut b, XATTR_INDEX_USER, b"a", XattrValue::Inline(b"x")).unwrap();
        xattr_block_insert(&mut b, XATTR_INDEX_USER, b"b", XattrValue::Inline(b"y")).unwrap();
        meta_seal(&mut b).unwrap();
        // The same name twice.
        let mut d = b;
        d[XATTR_HDR_SIZE + XATTR_ENTRY_FIXED + 2 + XATTR_ENTRY_FIXED] = b'a';
        meta_seal(&mut d).unwrap();
        assert!(xattr_block_check(&d, 7, 42).is_err());
        // A count that does not match, entries past the block, garbage after them.
        for (off, v) in [(0x24usize, 3u8), (0x21, 0x10), (0x100, 1)] {
            let mut d = b;
            d[off] = v;
            meta_seal(&mut d).unwrap();
            assert!(xattr_block_check(&d, 7, 42).is_err(), "{off:#x}");
        }
        // Every single-byte change of the entries is caught by the checksum.
        let mut d = b;
        d[XATTR_HDR_SIZE + 9] ^= 1;
        assert_eq!(xattr_block_check(&d, 7, 42), Err(FormatError::BadChecksum));
    }

    #[test]
    fn value_blocks() {
        let mut b = [0u8; 1024];
        assert!(xvalue_block_init(&mut b, 5, 42, 0, &[]).is_err());
        assert!(xvalue_block_init(&mut b, 5, 42, 0, &[1; 1024 - XATTR_HDR_SIZE + 1]).is_err());
        xvalue_block_init(&mut b, 5, 42, 6, &[3; 100]).unwrap();
        meta_seal(&mut b).unwrap();
        let (next, data) = xvalue_block_check(&b, 5, 42).unwrap();
        assert_eq!((next, data), (6, &[3u8; 100][..]));
        assert!(xvalue_block_check(&b, 5, 41).is_err());
        assert!(xvalue_block_check(&b, 4, 42).is_err());
        assert_eq!(xvalue_blocks(1024, 65536), 67);
        assert_eq!(xvalue_blocks(4096, 65536), 17);
    }
}
