// SPDX-License-Identifier: GPL-2.0

//! B+tree nodes shared by extent trees and directory hash indexes.
//!
//! A node is either *inline* (the root of an extent tree, held in the
//! 128-byte area of an inode) or a *block* (a whole filesystem block).
//!
//! Block node header (32 bytes): magic u32 "RXND", crc u32, block number
//! u64, owner inode u64, kind u8, level u8, nr u16, max u16, reserved u16.
//!
//! Inline node header (8 bytes): magic u16 "RT", kind u8, level u8, nr u16,
//! max u16.
//!
//! The header is followed by `nr` records, packed, in strictly ascending key
//! order. Level 0 nodes (leaves) hold the records of the tree kind
//! ([`Extent`] or [`DirKey`]); higher levels hold [`IndexRec`]s. Every record
//! starts with its u64 key. The key of an index record is a lower bound of
//! every key in its child's subtree, and the next index record's key is a
//! strict upper bound.
//!
//! The functions here work on one node held in a byte slice; the caller
//! does the I/O and walks the tree.

use super::bytes::*;
use super::{meta_check, meta_check_fields, meta_init, meta_seal, FormatError, Result};

/// Magic of block nodes, "RXND" on disk.
pub const NODE_MAGIC: u32 = u32::from_le_bytes(*b"RXND");
/// Magic of inline root nodes, "RT" on disk.
pub const INLINE_NODE_MAGIC: u16 = u16::from_le_bytes(*b"RT");
/// Size of a block node header.
pub const NODE_HDR_SIZE: usize = 32;
/// Size of an inline node header.
pub const INLINE_HDR_SIZE: usize = 8;
/// Size of the inline root area of an inode.
pub const INLINE_ROOT_SIZE: usize = 128;
/// Highest level a node may have: trees have at most `MAX_LEVEL + 1` levels.
pub const MAX_LEVEL: u8 = 4;
/// Smallest `max` value accepted in a node header.
pub const MIN_NODE_MAX: u16 = 3;
/// Size of an index (interior) record.
pub const INDEX_REC_SIZE: usize = 16;
/// Size of an extent record.
pub const EXTENT_REC_SIZE: usize = 24;
/// Size of a directory index leaf record.
pub const DIRKEY_REC_SIZE: usize = 8;

/// Extent flag: the blocks are allocated but read as zeroes.
pub const EXTENT_UNWRITTEN: u32 = 1;
/// All extent flags known to this version.
pub const EXTENT_FLAGS_KNOWN: u32 = EXTENT_UNWRITTEN;
/// Largest extent length in blocks.
pub const MAX_EXTENT_LEN: u32 = u32::MAX;

/// What a tree indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreeKind {
    /// File block mapping; leaves hold [`Extent`]s.
    Extent = 1,
    /// Directory name hash index; leaves hold [`DirKey`]s.
    DirIndex = 2,
}

impl TreeKind {
    /// Decodes the on-disk kind byte.
    pub fn from_u8(v: u8) -> Option<TreeKind> {
        match v {
            1 => Some(TreeKind::Extent),
            2 => Some(TreeKind::DirIndex),
            _ => None,
        }
    }

    /// Size of a leaf record of this kind.
    pub fn leaf_rec_size(self) -> usize {
        match self {
            TreeKind::Extent => EXTENT_REC_SIZE,
            TreeKind::DirIndex => DIRKEY_REC_SIZE,
        }
    }
}

/// Where a node lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeForm {
    /// Inline root in an inode's area (8-byte header, no checksum).
    Inline,
    /// A full block (32-byte header with checksum, block number, owner).
    Block,
}

impl NodeForm {
    /// Header size of this form.
    pub fn hdr_size(self) -> usize {
        match self {
            NodeForm::Inline => INLINE_HDR_SIZE,
            NodeForm::Block => NODE_HDR_SIZE,
        }
    }
}

/// Decoded node header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeHeader {
    /// Tree kind.
    pub kind: TreeKind,
    /// Level: 0 for leaves.
    pub level: u8,
    /// Number of records in use.
    pub nr: u16,
    /// Maximum number of records of this node.
    pub max: u16,
}

/// A fixed-size record stored in a node. Every record starts with its
/// little-endian u64 key.
pub trait Record: Copy {
    /// Encoded size in bytes.
    const SIZE: usize;
    /// Returns true if records of this type are stored in nodes of that
    /// kind and level.
    fn fits(kind: TreeKind, level: u8) -> bool;
    /// Sort key.
    fn key(&self) -> u64;
    /// Decodes and validates one record from the start of `b`.
    fn decode(b: &[u8]) -> Result<Self>;
    /// Encodes the record into the start of `b`.
    fn encode(&self, b: &mut [u8]) -> Result<()>;
}

/// A run of file blocks: `len` logical blocks from `logical` map to the
/// physical blocks from `physical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Extent {
    /// First logical block (key).
    pub logical: u64,
    /// First physical block.
    pub physical: u64,
    /// Number of blocks, at least 1.
    pub len: u32,
    /// Flags ([`EXTENT_UNWRITTEN`]).
    pub flags: u32,
}

impl Extent {
    /// Logical block just past the extent (saturating).
    pub fn logical_end(&self) -> u64 {
        self.logical.saturating_add(u64::from(self.len))
    }

    /// Physical block just past the extent (saturating).
    pub fn physical_end(&self) -> u64 {
        self.physical.saturating_add(u64::from(self.len))
    }

    /// True if the extent is unwritten (preallocated).
    pub fn unwritten(&self) -> bool {
        self.flags & EXTENT_UNWRITTEN != 0
    }

    /// Maps logical block `lblk` to its physical block if inside the extent.
    pub fn map(&self, lblk: u64) -> Option<u64> {
        if lblk >= self.logical && lblk < self.logical_end() {
            self.physical.checked_add(lblk - self.logical)
        } else {
            None
        }
    }
}

impl Record for Extent {
    const SIZE: usize = EXTENT_REC_SIZE;

    fn fits(kind: TreeKind, level: u8) -> bool {
        kind == TreeKind::Extent && level == 0
    }

    fn key(&self) -> u64 {
        self.logical
    }

    fn decode(b: &[u8]) -> Result<Self> {
        let e = Extent {
            logical: get_u64(b, 0).ok_or(FormatError::Short)?,
            physical: get_u64(b, 8).ok_or(FormatError::Short)?,
            len: get_u32(b, 16).ok_or(FormatError::Short)?,
            flags: get_u32(b, 20).ok_or(FormatError::Short)?,
        };
        if e.len == 0 {
            return Err(FormatError::Invalid("zero-length extent"));
        }
        if e.flags & !EXTENT_FLAGS_KNOWN != 0 {
            return Err(FormatError::Invalid("unknown extent flags"));
        }
        if e.logical.checked_add(u64::from(e.len)).is_none()
            || e.physical.checked_add(u64::from(e.len)).is_none()
        {
            return Err(FormatError::Invalid("extent wraps around"));
        }
        if e.physical == 0 {
            return Err(FormatError::Invalid("extent maps block 0"));
        }
        Ok(e)
    }

    fn encode(&self, b: &mut [u8]) -> Result<()> {
        if b.len() < Self::SIZE {
            return Err(FormatError::Short);
        }
        put_u64(b, 0, self.logical);
        put_u64(b, 8, self.physical);
        put_u32(b, 16, self.len);
        put_u32(b, 20, self.flags);
        Ok(())
    }
}

/// Interior record: `child` is the block of a node whose keys are all at
/// least `key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IndexRec {
    /// Lower bound of the child's keys.
    pub key: u64,
    /// Block number of the child node.
    pub child: u64,
}

impl Record for IndexRec {
    const SIZE: usize = INDEX_REC_SIZE;

    fn fits(_kind: TreeKind, level: u8) -> bool {
        level > 0
    }

    fn key(&self) -> u64 {
        self.key
    }

    fn decode(b: &[u8]) -> Result<Self> {
        let r = IndexRec {
            key: get_u64(b, 0).ok_or(FormatError::Short)?,
            child: get_u64(b, 8).ok_or(FormatError::Short)?,
        };
        if r.child == 0 {
            return Err(FormatError::Invalid("index record points to block 0"));
        }
        Ok(r)
    }

    fn encode(&self, b: &mut [u8]) -> Result<()> {
        if b.len() < Self::SIZE {
            return Err(FormatError::Short);
        }
        put_u64(b, 0, self.key);
        put_u64(b, 8, self.child);
        Ok(())
    }
}

/// Directory index leaf record: `(hash << 32) | (entry offset >> 3)`, see
/// [`super::dir::dir_index_key`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DirKey(pub u64);

impl Record for DirKey {
    const SIZE: usize = DIRKEY_REC_SIZE;

    fn fits(kind: TreeKind, level: u8) -> bool {
        kind == TreeKind::DirIndex && level == 0
    }

    fn key(&self) -> u64 {
        self.0
    }

    fn decode(b: &[u8]) -> Result<Self> {
        Ok(DirKey(get_u64(b, 0).ok_or(FormatError::Short)?))
    }

    fn encode(&self, b: &mut [u8]) -> Result<()> {
        if b.len() < Self::SIZE {
            return Err(FormatError::Short);
        }
        put_u64(b, 0, self.0);
        Ok(())
    }
}

/// Size of the records of a node of that kind and level.
pub fn rec_size(kind: TreeKind, level: u8) -> usize {
    if level == 0 {
        kind.leaf_rec_size()
    } else {
        INDEX_REC_SIZE
    }
}

/// Number of records of that kind and level fitting in a node buffer of
/// `buf_len` bytes (capped at `u16::MAX`).
pub fn node_capacity(buf_len: usize, form: NodeForm, kind: TreeKind, level: u8) -> u16 {
    let n = buf_len.saturating_sub(form.hdr_size()) / rec_size(kind, level);
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// Parses and checks a node header (no checksum, no record checks): magic,
/// kind, level <= [`MAX_LEVEL`], [`MIN_NODE_MAX`] <= max <= capacity,
/// nr <= max.
pub fn node_header(buf: &[u8], form: NodeForm) -> Result<NodeHeader> {
    let (kind, level, nr, max) = match form {
        NodeForm::Inline => {
            if get_u16(buf, 0).ok_or(FormatError::Short)? != INLINE_NODE_MAGIC {
                return Err(FormatError::BadMagic);
            }
            (
                get_u8(buf, 2),
                get_u8(buf, 3),
                get_u16(buf, 4),
                get_u16(buf, 6),
            )
        }
        NodeForm::Block => {
            if get_u32(buf, 0).ok_or(FormatError::Short)? != NODE_MAGIC {
                return Err(FormatError::BadMagic);
            }
            (
                get_u8(buf, 24),
                get_u8(buf, 25),
                get_u16(buf, 26),
                get_u16(buf, 28),
            )
        }
    };
    let (Some(kind), Some(level), Some(nr), Some(max)) = (kind, level, nr, max) else {
        return Err(FormatError::Short);
    };
    let kind = TreeKind::from_u8(kind).ok_or(FormatError::Invalid("unknown tree kind"))?;
    if level > MAX_LEVEL {
        return Err(FormatError::Invalid("tree too deep"));
    }
    if max < MIN_NODE_MAX || max > node_capacity(buf.len(), form, kind, level) {
        return Err(FormatError::Invalid("bad node capacity"));
    }
    if nr > max {
        return Err(FormatError::Invalid("node record count exceeds capacity"));
    }
    Ok(NodeHeader {
        kind,
        level,
        nr,
        max,
    })
}

fn set_nr(buf: &mut [u8], form: NodeForm, nr: u16) {
    match form {
        NodeForm::Inline => put_u16(buf, 4, nr),
        NodeForm::Block => put_u16(buf, 26, nr),
    }
}

fn set_level(buf: &mut [u8], form: NodeForm, level: u8) {
    match form {
        NodeForm::Inline => put_u8(buf, 3, level),
        NodeForm::Block => put_u8(buf, 25, level),
    }
}

fn set_max(buf: &mut [u8], form: NodeForm, max: u16) {
    match form {
        NodeForm::Inline => put_u16(buf, 6, max),
        NodeForm::Block => put_u16(buf, 28, max),
    }
}

/// Byte range of record `i` in a node with header `h`.
fn rec_range(form: NodeForm, h: &NodeHeader, i: usize) -> (usize, usize) {
    let size = rec_size(h.kind, h.level);
    // i <= max <= capacity, so this stays inside the buffer and never
    // overflows.
    let start = form.hdr_size() + i * size;
    (start, start + size)
}

fn raw_key(buf: &[u8], form: NodeForm, h: &NodeHeader, i: usize) -> Result<u64> {
    let (s, _) = rec_range(form, h, i);
    get_u64(buf, s).ok_or(FormatError::Short)
}

/// Fully validates a node: header, and for block nodes magic, checksum,
/// block number and owner; then every record (keys strictly ascending,
/// leaf records valid, extents non-overlapping). `blockno` and `owner` are
/// ignored for inline nodes. Returns the header.
pub fn node_check(
    buf: &[u8],
    form: NodeForm,
    kind: TreeKind,
    blockno: u64,
    owner: u64,
) -> Result<NodeHeader> {
    node_check_with(buf, form, kind, blockno, owner, true)
}

/// The header part of [`node_check`] (magic, block number, owner, kind), without the checksum
/// and the records: for a node that passed [`node_check`] when it was read, and that only
/// this code changed since (and sealed).
pub fn node_check_fields(
    buf: &[u8],
    form: NodeForm,
    kind: TreeKind,
    blockno: u64,
    owner: u64,
) -> Result<NodeHeader> {
    node_check_with(buf, form, kind, blockno, owner, false)
}

/// [`node_check`] of a node block against its own header: for a block read from the device
/// before it is known who reads it ([`node_check_fields`] then checks the owner and the
/// kind).
pub fn node_check_self(buf: &[u8], blockno: u64) -> Result<NodeHeader> {
    let h = node_header(buf, NodeForm::Block)?;
    let owner = super::meta_owner(buf).ok_or(FormatError::Short)?;
    node_check(buf, NodeForm::Block, h.kind, blockno, owner)
}

fn node_check_with(
    buf: &[u8],
    form: NodeForm,
    kind: TreeKind,
    blockno: u64,
    owner: u64,
    full: bool,
) -> Result<NodeHeader> {
    if form == NodeForm::Block {
        let o = if full {
            meta_check(buf, NODE_MAGIC, blockno)?
        } else {
            meta_check_fields(buf, NODE_MAGIC, blockno)?
        };
        if o != owner {
            return Err(FormatError::WrongOwner);
        }
        if get_u16(buf, 30) != Some(0) {
            return Err(FormatError::Invalid("node reserved field not zero"));
        }
    }
    let h = node_header(buf, form)?;
    if h.kind != kind {
        return Err(FormatError::Invalid("wrong tree kind"));
    }
    if !full {
        return Ok(h);
    }
    let mut prev_end: Option<u64> = None;
    for i in 0..usize::from(h.nr) {
        let (s, e) = rec_range(form, &h, i);
        let rec = buf.get(s..e).ok_or(FormatError::Short)?;
        let key = get_u64(rec, 0).ok_or(FormatError::Short)?;
        // `prev_end` is the smallest key the next record may have.
        if let Some(pe) = prev_end {
            if key < pe {
                return Err(FormatError::Invalid(
                    if h.level == 0 && kind == TreeKind::Extent {
                        "extents overlap or are out of order"
                    } else {
                        "node keys out of order"
                    },
                ));
            }
        }
        let next_min = if h.level > 0 {
            IndexRec::decode(rec)?;
            key.checked_add(1)
        } else {
            match kind {
                TreeKind::Extent => Some(Extent::decode(rec)?.logical_end()),
                TreeKind::DirIndex => key.checked_add(1),
            }
        };
        match next_min {
            Some(v) => prev_end = Some(v),
            None => {
                // Key u64::MAX (or an extent ending at 2^64): nothing may
                // follow it.
                if i + 1 < usize::from(h.nr) {
                    return Err(FormatError::Invalid("node keys out of order"));
                }
            }
        }
    }
    // Unused record slots must be zero so that nodes compare byte for byte.
    let (used_end, _) = rec_range(form, &h, usize::from(h.nr));
    if let Some(rest) = buf.get(used_end..) {
        if rest.iter().any(|&b| b != 0) {
            return Err(FormatError::Invalid("garbage after last node record"));
        }
    }
    Ok(h)
}

/// Initialises an empty node (nr = 0) with `max` set to the node capacity.
/// Block nodes get their checksum set.
pub fn node_init(
    buf: &mut [u8],
    form: NodeForm,
    kind: TreeKind,
    level: u8,
    blockno: u64,
    owner: u64,
) -> Result<()> {
    let cap = node_capacity(buf.len(), form, kind, level);
    node_init_max(buf, form, kind, level, cap, blockno, owner)
}

/// Like [`node_init`] with an explicit `max` (at most the capacity); small
/// values are useful to build deep trees in tests.
pub fn node_init_max(
    buf: &mut [u8],
    form: NodeForm,
    kind: TreeKind,
    level: u8,
    max: u16,
    blockno: u64,
    owner: u64,
) -> Result<()> {
    if level > MAX_LEVEL {
        return Err(FormatError::Invalid("tree too deep"));
    }
    if max < MIN_NODE_MAX || max > node_capacity(buf.len(), form, kind, level) {
        return Err(FormatError::Invalid("bad node capacity"));
    }
    buf.fill(0);
    match form {
        NodeForm::Inline => {
            put_u16(buf, 0, INLINE_NODE_MAGIC);
            put_u8(buf, 2, kind as u8);
        }
        NodeForm::Block => {
            meta_init(buf, NODE_MAGIC, blockno, owner)?;
            put_u8(buf, 24, kind as u8);
        }
    }
    set_level(buf, form, level);
    set_nr(buf, form, 0);
    set_max(buf, form, max);
    node_seal(buf, form)
}

/// Changes the `max` field of a node (between [`MIN_NODE_MAX`], the current
/// record count and the capacity). Used to build small-fanout trees in tests;
/// the kernel always uses full capacity. The checksum is not updated.
pub fn node_set_max(buf: &mut [u8], form: NodeForm, max: u16) -> Result<()> {
    let h = node_header(buf, form)?;
    if max < MIN_NODE_MAX || max < h.nr || max > node_capacity(buf.len(), form, h.kind, h.level) {
        return Err(FormatError::Invalid("bad node capacity"));
    }
    set_max(buf, form, max);
    Ok(())
}

/// Updates the checksum of a block node (no-op for inline nodes, which are
/// covered by the inode checksum).
pub fn node_seal(buf: &mut [u8], form: NodeForm) -> Result<()> {
    match form {
        NodeForm::Inline => Ok(()),
        NodeForm::Block => meta_seal(buf),
    }
}

/// Key of record `i`.
pub fn node_key(buf: &[u8], form: NodeForm, i: usize) -> Result<u64> {
    let h = node_header(buf, form)?;
    if i >= usize::from(h.nr) {
        return Err(FormatError::BadIndex);
    }
    raw_key(buf, form, &h, i)
}

/// Decodes record `i` as `R` (which must fit the node's kind and level).
pub fn node_get<R: Record>(buf: &[u8], form: NodeForm, i: usize) -> Result<R> {
    let h = node_header(buf, form)?;
    if !R::fits(h.kind, h.level) || R::SIZE != rec_size(h.kind, h.level) {
        return Err(FormatError::Invalid("record type does not match node"));
    }
    if i >= usize::from(h.nr) {
        return Err(FormatError::BadIndex);
    }
    let (s, e) = rec_range(form, &h, i);
    R::decode(buf.get(s..e).ok_or(FormatError::Short)?)
}

/// Binary search for `key`: `Ok(i)` if record `i` has that key, otherwise
/// `Err(pos)` with the position where it would be inserted.
pub fn node_search(
    buf: &[u8],
    form: NodeForm,
    key: u64,
) -> Result<core::result::Result<usize, usize>> {
    let h = node_header(buf, form)?;
    let (mut lo, mut hi) = (0usize, usize::from(h.nr));
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let k = raw_key(buf, form, &h, mid)?;
        if k == key {
            return Ok(Ok(mid));
        } else if k < key {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    Ok(Err(lo))
}

/// Index of the last record whose key is `<= key`, or `None` if every key
/// is larger (or the node is empty). This is the child to descend into in
/// an interior node and the candidate extent in a leaf.
pub fn node_find_le(buf: &[u8], form: NodeForm, key: u64) -> Result<Option<usize>> {
    Ok(match node_search(buf, form, key)? {
        Ok(i) => Some(i),
        Err(0) => None,
        Err(p) => Some(p - 1),
    })
}

fn check_order(
    buf: &[u8],
    form: NodeForm,
    h: &NodeHeader,
    pos: usize,
    key: u64,
    replacing: bool,
) -> Result<()> {
    if pos > 0 && raw_key(buf, form, h, pos - 1)? >= key {
        return Err(FormatError::OutOfOrder);
    }
    let next = if replacing { pos + 1 } else { pos };
    if next < usize::from(h.nr) && raw_key(buf, form, h, next)? <= key {
        return Err(FormatError::OutOfOrder);
    }
    Ok(())
}

/// Inserts `rec` at position `pos` (0..=nr), shifting later records up.
/// Fails with [`FormatError::Full`] if the node is full and with
/// [`FormatError::OutOfOrder`] if the keys would not stay strictly
/// ascending. The checksum is not updated (see [`node_seal`]).
pub fn node_insert<R: Record>(buf: &mut [u8], form: NodeForm, pos: usize, rec: &R) -> Result<()> {
    let h = node_header(buf, form)?;
    if !R::fits(h.kind, h.level) || R::SIZE != rec_size(h.kind, h.level) {
        return Err(FormatError::Invalid("record type does not match node"));
    }
    let nr = usize::from(h.nr);
    if pos > nr {
        return Err(FormatError::BadIndex);
    }
    if h.nr >= h.max {
        return Err(FormatError::Full);
    }
    check_order(buf, form, &h, pos, rec.key(), false)?;
    let (s, e) = rec_range(form, &h, pos);
    let (end, _) = rec_range(form, &h, nr);
    move_within(buf, s, e, end - s);
    rec.encode(buf.get_mut(s..e).ok_or(FormatError::Short)?)?;
    set_nr(buf, form, h.nr + 1);
    Ok(())
}

/// Overwrites record `pos` with `rec`; the key order must be kept.
pub fn node_set<R: Record>(buf: &mut [u8], form: NodeForm, pos: usize, rec: &R) -> Result<()> {
    let h = node_header(buf, form)?;
    if !R::fits(h.kind, h.level) || R::SIZE != rec_size(h.kind, h.level) {
        return Err(FormatError::Invalid("record type does not match node"));
    }
    if pos >= usize::from(h.nr) {
        return Err(FormatError::BadIndex);
    }
    check_order(buf, form, &h, pos, rec.key(), true)?;
    let (s, e) = rec_range(form, &h, pos);
    rec.encode(buf.get_mut(s..e).ok_or(FormatError::Short)?)
}

/// Changes only the key of record `pos` (e.g. lowering the first key of an
/// interior node); the key order must be kept.
pub fn node_set_key(buf: &mut [u8], form: NodeForm, pos: usize, key: u64) -> Result<()> {
    let h = node_header(buf, form)?;
    if pos >= usize::from(h.nr) {
        return Err(FormatError::BadIndex);
    }
    check_order(buf, form, &h, pos, key, true)?;
    let (s, _) = rec_range(form, &h, pos);
    put_u64(buf, s, key);
    Ok(())
}

/// Removes record `pos`, shifting later records down; the freed slot is
/// zeroed. The checksum is not updated.
pub fn node_remove(buf: &mut [u8], form: NodeForm, pos: usize) -> Result<()> {
    let h = node_header(buf, form)?;
    let nr = usize::from(h.nr);
    if pos >= nr {
        return Err(FormatError::BadIndex);
    }
    let (s, e) = rec_range(form, &h, pos);
    let (end, _) = rec_range(form, &h, nr);
    move_within(buf, e, s, end - e);
    zero(buf, end - (e - s), e - s);
    set_nr(buf, form, h.nr - 1);
    Ok(())
}

/// Splits `left` at record `at` (1..nr): records `at..nr` move to `right`,
/// which is initialised as a block node (same kind and level, full
/// capacity, given block number and owner). Both checksums are updated.
/// Returns the first key of `right`, to be inserted in the parent.
pub fn node_split_at(
    left: &mut [u8],
    left_form: NodeForm,
    at: usize,
    right: &mut [u8],
    right_blockno: u64,
    owner: u64,
) -> Result<u64> {
    let h = node_header(left, left_form)?;
    let nr = usize::from(h.nr);
    if at == 0 || at >= nr {
        return Err(FormatError::BadIndex);
    }
    let moved = nr - at;
    let rcap = node_capacity(right.len(), NodeForm::Block, h.kind, h.level);
    if moved > usize::from(rcap) {
        return Err(FormatError::Full);
    }
    node_init(
        right,
        NodeForm::Block,
        h.kind,
        h.level,
        right_blockno,
        owner,
    )?;
    let rh = node_header(right, NodeForm::Block)?;
    let (s, _) = rec_range(left_form, &h, at);
    let (end, _) = rec_range(left_form, &h, nr);
    let (rs, re) = (NODE_HDR_SIZE, NODE_HDR_SIZE + (end - s));
    let src = left.get(s..end).ok_or(FormatError::Short)?;
    right
        .get_mut(rs..re)
        .ok_or(FormatError::Short)?
        .copy_from_slice(src);
    zero(left, s, end - s);
    // `at` < nr <= u16::MAX and moved <= rcap, so both fit.
    set_nr(left, left_form, at as u16);
    set_nr(right, NodeForm::Block, moved as u16);
    let key = raw_key(
        right,
        NodeForm::Block,
        &NodeHeader {
            nr: moved as u16,
            ..rh
        },
        0,
    )?;
    node_seal(left, left_form)?;
    node_seal(right, NodeForm::Block)?;
    Ok(key)
}

/// Splits `left` in two halves (see [`node_split_at`]).
pub fn node_split(
    left: &mut [u8],
    left_form: NodeForm,
    right: &mut [u8],
    right_blockno: u64,
    owner: u64,
) -> Result<u64> {
    let h = node_header(left, left_form)?;
    node_split_at(
        left,
        left_form,
        usize::from(h.nr).div_ceil(2),
        right,
        right_blockno,
        owner,
    )
}

/// Grows a tree by one level at the root: every record of `root` moves into
/// `child` (initialised as a block node with full capacity, given block
/// number and owner), and `root` becomes an interior node one level up with
/// the single record `{first key, child_blockno}`. The root stays where it is
/// (inode area or block). The root must not be empty. Checksums of both
/// nodes are updated.
pub fn node_push_down(
    root: &mut [u8],
    root_form: NodeForm,
    child: &mut [u8],
    child_blockno: u64,
    owner: u64,
) -> Result<()> {
    let h = node_header(root, root_form)?;
    if h.nr == 0 {
        return Err(FormatError::BadIndex);
    }
    if h.level >= MAX_LEVEL {
        return Err(FormatError::Invalid("tree too deep"));
    }
    if child_blockno == 0 {
        return Err(FormatError::Invalid("index record points to block 0"));
    }
    let nr = usize::from(h.nr);
    let ccap = node_capacity(child.len(), NodeForm::Block, h.kind, h.level);
    if nr > usize::from(ccap) {
        return Err(FormatError::Full);
    }
    node_init(
        child,
        NodeForm::Block,
        h.kind,
        h.level,
        child_blockno,
        owner,
    )?;
    let (s, _) = rec_range(root_form, &h, 0);
    let (end, _) = rec_range(root_form, &h, nr);
    let src = root.get(s..end).ok_or(FormatError::Short)?;
    child
        .get_mut(NODE_HDR_SIZE..NODE_HDR_SIZE + (end - s))
        .ok_or(FormatError::Short)?
        .copy_from_slice(src);
    set_nr(child, NodeForm::Block, h.nr);
    let first = raw_key(root, root_form, &h, 0)?;
    // Re-initialise the root one level up, at full capacity unless the
    // original root used a reduced max.
    let level = h.level + 1;
    let old_cap = node_capacity(root.len(), root_form, h.kind, h.level);
    let cap = node_capacity(root.len(), root_form, h.kind, level);
    let max = if h.max >= old_cap {
        cap
    } else {
        h.max.min(cap)
    };
    let (blockno, rowner) = match root_form {
        NodeForm::Block => (
            get_u64(root, 8).unwrap_or(0),
            get_u64(root, 16).unwrap_or(0),
        ),
        NodeForm::Inline => (0, 0),
    };
    node_init_max(root, root_form, h.kind, level, max, blockno, rowner)?;
    node_insert(
        root,
        root_form,
        0,
        &IndexRec {
            key: first,
            child: child_blockno,
        },
    )?;
    node_seal(child, NodeForm::Block)?;
    node_seal(root, root_form)
}

/// Shrinks a tree by one level: if `root` is an interior node with a single
/// child whose records fit in the root, the child's records are copied into
/// the root (which takes the child's level). Returns `Ok(true)` if done; the
/// caller then frees the child block. `Ok(false)` if it does not apply.
pub fn node_pull_up(root: &mut [u8], root_form: NodeForm, child: &[u8]) -> Result<bool> {
    let h = node_header(root, root_form)?;
    if h.level == 0 || h.nr != 1 {
        return Ok(false);
    }
    let ch = node_header(child, NodeForm::Block)?;
    if ch.kind != h.kind || ch.level + 1 != h.level {
        return Err(FormatError::Invalid("child level does not match parent"));
    }
    let cap = node_capacity(root.len(), root_form, ch.kind, ch.level);
    if ch.nr > cap {
        return Ok(false);
    }
    let (blockno, owner) = match root_form {
        NodeForm::Block => (
            get_u64(root, 8).unwrap_or(0),
            get_u64(root, 16).unwrap_or(0),
        ),
        NodeForm::Inline => (0, 0),
    };
    let bytes = usize::from(ch.nr) * rec_size(ch.kind, ch.level);
    let src = child
        .get(NODE_HDR_SIZE..NODE_HDR_SIZE + bytes)
        .ok_or(FormatError::Short)?;
    let hs = root_form.hdr_size();
    if root.len() < hs + bytes {
        return Err(FormatError::Short);
    }
    node_init(root, root_form, ch.kind, ch.level, blockno, owner)?;
    root.get_mut(hs..hs + bytes)
        .ok_or(FormatError::Short)?
        .copy_from_slice(src);
    set_nr(root, root_form, ch.nr);
    node_seal(root, root_form)?;
    Ok(true)
}
