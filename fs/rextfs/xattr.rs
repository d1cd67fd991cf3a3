// SPDX-License-Identifier: GPL-2.0

//! Extended attributes: the chain of xattr blocks of an inode and the value blocks of its
//! large values (`format::xattr`, described in `Documentation/filesystems/rextfs.rst`).
//!
//! Readers and writers of one inode's attributes are serialised by its `xattr` lock (taken
//! after the transaction handle is started, never held across a commit). Setting, replacing
//! or removing one attribute is one transaction: its blocks are allocated first (and given
//! back if that fails), then the new blocks and the changed ones are written and the old
//! ones freed, and the inode written last, all in the same handle.

use crate::journal::{self, Handle};
use crate::meta::{self, BlockKind};
use crate::{alloc, credits, format, inode, RextFs};
use format::{XattrIter, XattrValue};
use kernel::fs::{
    acl,
    inode::{FiemapInfo, Locked},
    xattr::{List, Namespace, SecurityXattrs, SetFlags, Value},
    INode, SuperBlock,
};
use kernel::prelude::*;

/// The on-disk namespace index of `ns`.
fn index_of(ns: Namespace) -> u8 {
    match ns {
        Namespace::User => format::XATTR_INDEX_USER,
        Namespace::Trusted => format::XATTR_INDEX_TRUSTED,
        Namespace::Security => format::XATTR_INDEX_SECURITY,
    }
}

/// The namespace of on-disk index `index`, for the ones listed under a prefix.
fn namespace_of(index: u8) -> Option<Namespace> {
    match index {
        format::XATTR_INDEX_USER => Some(Namespace::User),
        format::XATTR_INDEX_TRUSTED => Some(Namespace::Trusted),
        format::XATTR_INDEX_SECURITY => Some(Namespace::Security),
        _ => None,
    }
}

fn corrupt(sb: &SuperBlock<RextFs>, e: crate::FormatError) -> Error {
    crate::corrupt(sb, "extended attribute block", e)
}

/// Reads xattr block `blockno` of inode `ino`: its checksum is verified once while it stays
/// cached, its header and entries every time (another inode may claim the same block).
fn read_xblock(sb: &SuperBlock<RextFs>, ino: u64, blockno: u64) -> Result<KVec<u8>> {
    if !sb.data().geo.data_range_valid(blockno, 1) {
        return Err(corrupt(
            sb,
            crate::FormatError::Invalid("xattr block outside the data area"),
        ));
    }
    let b = meta::read_block_checked(sb, blockno, BlockKind::Xattr, "xattr block", |b| {
        format::meta_check(b, format::XATTR_MAGIC, blockno).map(|_| ())
    })?;
    format::xattr_block_check_fields(&b, blockno, ino).map_err(|e| corrupt(sb, e))?;
    Ok(b)
}

/// Visits the chain of xattr blocks from `first` one block at a time: `f` gets each block
/// number with its contents, and ends the walk early by returning `true`. A chain longer than
/// [`format::XATTR_MAX_BLOCKS`] or looping is corruption.
fn walk_chain(
    sb: &SuperBlock<RextFs>,
    ino: u64,
    first: u64,
    mut f: impl FnMut(u64, &[u8]) -> Result<bool>,
) -> Result {
    let mut seen = KVec::<u64>::new();
    let mut cur = first;
    while cur != 0 {
        if seen.len() >= format::XATTR_MAX_BLOCKS as usize || seen.contains(&cur) {
            return Err(corrupt(
                sb,
                crate::FormatError::Invalid("xattr chain too long or looping"),
            ));
        }
        seen.push(cur, GFP_KERNEL)?;
        let buf = read_xblock(sb, ino, cur)?;
        if f(cur, &buf)? {
            break;
        }
        cur = format::xattr_block_next(&buf);
    }
    Ok(())
}

/// The chain of xattr blocks from `first`: each block number with its contents.
fn read_chain(sb: &SuperBlock<RextFs>, ino: u64, first: u64) -> Result<KVec<(u64, KVec<u8>)>> {
    let mut chain = KVec::<(u64, KVec<u8>)>::new();
    walk_chain(sb, ino, first, |b, buf| {
        let mut copy = KVec::with_capacity(buf.len(), GFP_KERNEL)?;
        copy.extend_from_slice(buf, GFP_KERNEL)?;
        chain.push((b, copy), GFP_KERNEL)?;
        Ok(false)
    })?;
    Ok(chain)
}

/// Walks the value chain of `len` bytes from `first` of inode `ino`, giving `f` each block
/// number with its bytes, in order. A chain shorter or longer than `len` is corruption.
fn walk_value(
    sb: &SuperBlock<RextFs>,
    ino: u64,
    first: u64,
    len: usize,
    mut f: impl FnMut(u64, &[u8]) -> Result,
) -> Result {
    let short = crate::FormatError::Invalid("xattr value chain does not match its length");
    let mut cur = first;
    let mut done = 0usize;
    while done < len {
        if cur == 0 || !sb.data().geo.data_range_valid(cur, 1) {
            return Err(corrupt(sb, short));
        }
        let b = meta::read_block(sb, cur)?;
        let (next, data) = format::xvalue_block_check(&b, cur, ino).map_err(|e| corrupt(sb, e))?;
        // Every block but the last is full, as the kernel writes them: a chain has exactly
        // `xvalue_blocks(len)` blocks, which the credits of a change count on.
        let full = data.len() == format::xvalue_capacity(b.len());
        if data.len() > len - done || (next != 0 && !full) {
            return Err(corrupt(sb, short));
        }
        f(cur, data)?;
        done += data.len();
        cur = next;
    }
    if cur != 0 {
        return Err(corrupt(sb, short));
    }
    Ok(())
}

/// The blocks of the value chain of `len` bytes from `first`.
fn value_blocks(sb: &SuperBlock<RextFs>, ino: u64, first: u64, len: usize) -> Result<KVec<u64>> {
    let mut v = KVec::new();
    walk_value(sb, ino, first, len, |b, _| {
        // A block twice in the chain would be freed twice.
        if v.contains(&b) {
            return Err(corrupt(
                sb,
                crate::FormatError::Invalid("xattr value chain looping"),
            ));
        }
        v.push(b, GFP_KERNEL)?;
        Ok(())
    })?;
    Ok(v)
}

/// `xattr_handler->get`: copies the value of (`ns`, `name`) into `value`.
pub(crate) fn get(
    inode: &INode<RextFs>,
    ns: Namespace,
    name: &CStr,
    value: &mut Value<'_>,
) -> Result {
    let sb = inode.super_block();
    let (index, name) = (index_of(ns), name.to_bytes());
    if !format::xattr_name_valid(index, name) {
        return Err(ENODATA);
    }
    let _g = inode.data().xattr.lock();
    let first = inode.data().disk.lock().xattr;
    let ino = inode.ino();
    let mut found = false;
    walk_chain(sb, ino, first, |_, b| {
        let Some(e) = format::xattr_block_find(b, index, name) else {
            return Ok(false);
        };
        found = true;
        match e.value {
            XattrValue::Inline(v) => {
                if let Some(buf) = value.set_len(v.len())? {
                    buf.copy_from_slice(v);
                }
            }
            XattrValue::External { len, block } => {
                if let Some(buf) = value.set_len(len as usize)? {
                    let mut off = 0;
                    walk_value(sb, ino, block, buf.len(), |_, data| {
                        buf[off..off + data.len()].copy_from_slice(data);
                        off += data.len();
                        Ok(())
                    })?;
                }
            }
        }
        Ok(true)
    })?;
    if !found {
        return Err(ENODATA);
    }
    Ok(())
}

/// `->listxattr`: every attribute with a namespace prefix.
pub(crate) fn list(inode: &INode<RextFs>, list: &mut List<'_>) -> Result {
    let sb = inode.super_block();
    let _g = inode.data().xattr.lock();
    let first = inode.data().disk.lock().xattr;
    walk_chain(sb, inode.ino(), first, |_, b| {
        for e in XattrIter::new(b) {
            if let Some(ns) = namespace_of(e.index) {
                list.add(ns, e.name)?;
            } else if e.index == format::XATTR_INDEX_ACL_ACCESS {
                list.add_acl(acl::Kind::Access)?;
            } else if e.index == format::XATTR_INDEX_ACL_DEFAULT {
                list.add_acl(acl::Kind::Default)?;
            }
        }
        Ok(false)
    })
}

/// `xattr_handler->set`: sets (`ns`, `name`) to `value`, or removes it (`None`), in one
/// transaction.
pub(crate) fn set(
    inode: &INode<RextFs>,
    ns: Namespace,
    name: &CStr,
    value: Option<&[u8]>,
    flags: SetFlags,
) -> Result {
    let sb = inode.super_block();
    let (index, name) = (index_of(ns), name.to_bytes());
    if !format::xattr_name_valid(index, name) {
        return Err(if name.len() > format::XATTR_NAME_MAX {
            ERANGE
        } else {
            EINVAL
        });
    }
    if value.is_some_and(|v| v.len() > format::XATTR_VALUE_MAX) {
        return Err(E2BIG);
    }
    if sb.is_read_only() {
        return Err(EROFS);
    }
    let mut h = journal::start(sb, credits::xattr_set(sb.block_size() as usize))?;
    set_in(&mut h, inode, index, name, value, flags)
}

/// Sets or removes attribute (`index`, `name`) of `inode` in the transaction of `h`, which
/// has the credits of [`credits::xattr_set`] for it.
fn set_in(
    h: &mut Handle<'_>,
    inode: &INode<RextFs>,
    index: u8,
    name: &[u8],
    value: Option<&[u8]>,
    flags: SetFlags,
) -> Result {
    let sb = inode.super_block();
    let mut retried = false;
    loop {
        let mark = journal::busy_mark(sb);
        let r = {
            let _g = inode.data().xattr.lock();
            set_locked(h, inode, index, name, value, flags)?
        };
        match r {
            Set::Done => return Ok(()),
            // Only blocks freed by transactions not committed yet may be left: commit them
            // (with no lock held) and try once more. Nothing was changed.
            Set::NoFreeBlocks if !retried && journal::busy_may_help(sb, mark) => {
                retried = true;
                h.restart()?;
            }
            Set::NoFreeBlocks => return Err(ENOSPC),
        }
    }
}

/// The on-disk index of ACL kind `kind`.
fn acl_index(kind: acl::Kind) -> u8 {
    match kind {
        acl::Kind::Access => format::XATTR_INDEX_ACL_ACCESS,
        acl::Kind::Default => format::XATTR_INDEX_ACL_DEFAULT,
    }
}

/// The most bytes an ACL's value may have: it is kept inline, so that an inode created with
/// inherited ACLs gets them in one new xattr block (see [`init_new`]).
pub(crate) fn acl_value_max(bs: usize) -> usize {
    format::xattr_inline_max(bs)
}

/// `get_inode_acl`: the stored ACL of kind `kind` of `inode`, if any; one that does not
/// decode is reported as corruption.
pub(crate) fn get_acl(inode: &INode<RextFs>, kind: acl::Kind) -> Result<Option<acl::Acl>> {
    let Some(v) = get_acl_value(inode, kind)? else {
        return Ok(None);
    };
    acl::Acl::from_value(&v).map_err(|e| {
        if e == EUCLEAN {
            let sb = inode.super_block();
            pr_err!("{}: inode {}: corrupted ACL value\n", sb.id(), inode.ino());
            crate::fs_error(sb);
            EFSCORRUPTED
        } else {
            e
        }
    })
}

/// The stored value of the ACL of kind `kind` of `inode`, if any.
fn get_acl_value(inode: &INode<RextFs>, kind: acl::Kind) -> Result<Option<KVec<u8>>> {
    let sb = inode.super_block();
    let index = acl_index(kind);
    let ino = inode.ino();
    let _g = inode.data().xattr.lock();
    let first = inode.data().disk.lock().xattr;
    let mut out = None;
    walk_chain(sb, ino, first, |_, b| {
        let Some(e) = format::xattr_block_find(b, index, b"") else {
            return Ok(false);
        };
        let mut v = KVec::new();
        match e.value {
            XattrValue::Inline(data) => v.extend_from_slice(data, GFP_KERNEL)?,
            XattrValue::External { len, block } => {
                walk_value(sb, ino, block, len as usize, |_, data| {
                    v.extend_from_slice(data, GFP_KERNEL)?;
                    Ok(())
                })?
            }
        }
        out = Some(v);
        Ok(true)
    })?;
    Ok(out)
}

/// `set_acl`: stores or removes the ACL of kind `kind` of `inode` and gives the inode `mode`,
/// in one transaction.
pub(crate) fn set_acl(
    inode: &Locked<'_, RextFs>,
    kind: acl::Kind,
    value: Option<&[u8]>,
    mode: u16,
) -> Result {
    let sb = inode.super_block();
    let bs = sb.block_size() as usize;
    // An ACL that can never be stored (longer than the inline room): E2BIG, as XFS answers
    // an ACL over its maximum (xfstests generic/026 expects it).
    if value.is_some_and(|v| v.len() > acl_value_max(bs)) {
        return Err(E2BIG);
    }
    if sb.is_read_only() {
        return Err(EROFS);
    }
    let mut h = journal::start(sb, credits::xattr_set(bs))?;
    match set_in(
        &mut h,
        inode,
        acl_index(kind),
        b"",
        value,
        SetFlags::default(),
    ) {
        // Removing an ACL the inode does not have: only the mode changes.
        Err(e) if e == ENODATA && value.is_none() => {}
        r => r?,
    }
    // The attribute change is in the transaction: the mode goes with it, or nothing does
    // (the VFS inode keeps its mode if the inode cannot be written).
    let old_mode = inode.mode();
    inode.set_mode_bits(mode);
    inode.touch_ctime();
    let mut d = inode.data().disk.lock();
    let mut nd = *d;
    inode::sync_disk(inode, &mut nd);
    if let Err(e) = inode::write(&h, inode, &nd) {
        inode.set_mode_bits(old_mode);
        return Err(h.abort_changed(e));
    }
    *d = nd;
    Ok(())
}

/// The attributes a new inode is created with: the ACLs it inherits from its directory and
/// the labels the security modules give it. They are written with the inode, in its creating
/// transaction, all inline in one new xattr block ([`alloc_new_block`], [`init_new`]).
pub(crate) struct NewXattrs<'a> {
    acls: &'a acl::CreateAcls,
    security: SecurityXattrs,
}

impl<'a> NewXattrs<'a> {
    /// The inherited ACLs `acls` and the security labels `security`.
    pub(crate) fn new(acls: &'a acl::CreateAcls, security: SecurityXattrs) -> Self {
        Self { acls, security }
    }

    /// Every attribute, as (on-disk index, name, value).
    fn entries(&self) -> impl Iterator<Item = (u8, &[u8], &[u8])> {
        let acls = [
            (format::XATTR_INDEX_ACL_DEFAULT, self.acls.default_value()),
            (format::XATTR_INDEX_ACL_ACCESS, self.acls.access_value()),
        ];
        let acls = acls
            .into_iter()
            .filter_map(|(index, v)| v.map(|v| (index, &b""[..], v)));
        let labels = self
            .security
            .iter()
            .map(|x| (format::XATTR_INDEX_SECURITY, x.name(), x.value()));
        // `Iterator::` by name: the kernel prelude's `Init` has a `chain` too.
        Iterator::chain(acls, labels)
    }

    /// Whether there is nothing to store.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries().next().is_none()
    }

    /// Makes `buf` xattr block `b` of inode `ino` holding every attribute inline.
    fn fill(
        &self,
        buf: &mut [u8],
        b: u64,
        ino: u64,
    ) -> core::result::Result<(), crate::FormatError> {
        buf.fill(0);
        format::xattr_block_init(buf, b, ino)?;
        let inline_max = format::xattr_inline_max(buf.len());
        for (index, name, value) in self.entries() {
            // As `setxattr` stores it: a longer value would go to value blocks.
            if value.len() > inline_max {
                return Err(crate::FormatError::Full);
            }
            format::xattr_block_insert(buf, index, name, XattrValue::Inline(value))?;
        }
        format::meta_seal(buf)
    }
}

/// What [`alloc_new_block`] found.
pub(crate) enum NewBlock {
    /// No attributes to store.
    None,
    /// The block allocated for them, in the transaction; it goes to [`init_new`], or is
    /// freed if the creation fails.
    Block(u64),
    /// Nothing was allocated: no block is free (some may be once the running transaction
    /// commits: [`journal::busy_may_help`]).
    NoFreeBlocks,
}

/// Allocates the xattr block for the attributes `x` of a new inode, in its creation's
/// transaction `h`. `ENOSPC` when they do not fit one block inline: a limit of this version,
/// documented in rextfs.rst (the parent's default ACL was stored inline, so inherited ACLs
/// always fit; labels of a few hundred bytes do beside them).
pub(crate) fn alloc_new_block(h: &Handle<'_>, x: &NewXattrs<'_>) -> Result<NewBlock> {
    if x.is_empty() {
        return Ok(NewBlock::None);
    }
    let bs = h.sb().block_size() as usize;
    let mut buf = KVec::from_elem(0u8, bs, GFP_KERNEL)?;
    x.fill(&mut buf, 0, 0).map_err(|_| ENOSPC)?;
    let mut got = KVec::with_capacity(1, GFP_KERNEL)?;
    if alloc_blocks(h, 0, 1, &mut got)? {
        Ok(NewBlock::Block(got[0]))
    } else {
        Ok(NewBlock::NoFreeBlocks)
    }
}

/// Writes the attributes `x` of new inode `ino` (its disk copy `d`, not written yet) into
/// block `b` from [`alloc_new_block`], in the transaction of `h`.
pub(crate) fn init_new(
    h: &Handle<'_>,
    b: u64,
    ino: u64,
    d: &mut format::Inode,
    x: &NewXattrs<'_>,
) -> Result {
    let bs = h.sb().block_size() as usize;
    let mut buf = KVec::from_elem(0u8, bs, GFP_KERNEL)?;
    // They were checked to fit (`alloc_new_block`): a failure here is a value the block
    // cannot take, not a corrupt file system.
    x.fill(&mut buf, b, ino).map_err(|_| EINVAL)?;
    h.write_block(b, &buf).map_err(|e| h.abort_changed(e))?;
    d.xattr = b;
    d.blocks += 1;
    Ok(())
}

/// What [`set_locked`] did.
enum Set {
    /// The change is part of the transaction.
    Done,
    /// Nothing was changed: the blocks the change needs are not free.
    NoFreeBlocks,
}

/// Where the new entry goes.
enum Place {
    /// Into the block at this position of the chain.
    Block(usize),
    /// Into a new block appended to the chain.
    NewBlock,
}

/// Allocates `n` blocks near `goal` for metadata into `got` (which has room for them); when
/// not enough are free, the ones allocated are freed again, nothing is left changed and the
/// result is `false`.
fn alloc_blocks(h: &Handle<'_>, goal: u64, n: usize, got: &mut KVec<u64>) -> Result<bool> {
    while got.len() < n {
        let goal = got.last().map_or(goal, |b| b + 1);
        match alloc::alloc_meta_blocks(h, goal, (n - got.len()) as u64) {
            Ok((start, count)) => {
                for b in start..start + count {
                    got.push(b, GFP_KERNEL)?;
                }
            }
            Err(e) => {
                for &b in got.iter() {
                    alloc::free_blocks(h, b, 1)?;
                }
                got.clear();
                return if e == ENOSPC { Ok(false) } else { Err(e) };
            }
        }
    }
    Ok(true)
}

/// The current entry of a change: its place in the chain and its value blocks.
struct Old {
    /// Position of its block in the chain.
    block: usize,
    /// Offset of the entry in the block.
    off: usize,
    /// Bytes the entry takes in the block.
    size: usize,
    /// Its value blocks (none for an inline value).
    vblocks: KVec<u64>,
}

/// Memory a change needs once its blocks are allocated, taken before them: after the first
/// block is written only the journal itself can fail (and then it aborts).
struct Scratch {
    /// Which blocks of the chain (and the new one) were changed.
    dirty: KVec<bool>,
    /// A block buffer for the new xattr block and for each value block.
    buf: KVec<u8>,
    /// The new blocks: value blocks first, then the new xattr block.
    blocks: KVec<u64>,
}

/// Sets or removes (`value` is `None`) attribute (`index`, `name`) of `inode`, with its
/// `xattr` lock held, as part of `h`'s transaction.
fn set_locked(
    h: &Handle<'_>,
    inode: &INode<RextFs>,
    index: u8,
    name: &[u8],
    value: Option<&[u8]>,
    flags: SetFlags,
) -> Result<Set> {
    let sb = h.sb();
    let ino = inode.ino();
    let bs = sb.block_size() as usize;
    let first = inode.data().disk.lock().xattr;
    let mut chain = read_chain(sb, ino, first)?;

    // The current entry, and the bytes of the names listxattr would return.
    let mut old = None;
    let mut listed = 0usize;
    for (i, (_, b)) in chain.iter().enumerate() {
        for e in XattrIter::new(b) {
            listed += format::xattr_list_size(e.index, e.name);
            if e.index == index && e.name == name {
                let vblocks = match e.value {
                    XattrValue::External { len, block } => {
                        value_blocks(sb, ino, block, len as usize)?
                    }
                    XattrValue::Inline(_) => KVec::new(),
                };
                old = Some(Old {
                    block: i,
                    off: e.off,
                    size: e.size(),
                    vblocks,
                });
            }
        }
    }
    if old.is_some() && flags.create() {
        return Err(EEXIST);
    }
    if old.is_none() && (flags.replace() || value.is_none()) {
        return Err(ENODATA);
    }
    // A new name must still fit the list (`XATTR_LIST_MAX`), or listxattr could never
    // return it.
    if old.is_none() && listed + format::xattr_list_size(index, name) > format::XATTR_LIST_MAX {
        return Err(ENOSPC);
    }

    // Where the new entry goes, counting the room the old one leaves.
    let inline = value.is_some_and(|v| v.len() <= format::xattr_inline_max(bs));
    let place = match value {
        None => None,
        Some(v) => {
            let size = format::xattr_entry_size(name.len(), inline.then_some(v.len()));
            let room = |i: usize| {
                let freed = old.as_ref().filter(|o| o.block == i).map_or(0, |o| o.size);
                format::xattr_block_free(&chain[i].1) + freed >= size
            };
            let mine = old.as_ref().map(|o| o.block).filter(|&i| room(i));
            match mine.or_else(|| (0..chain.len()).find(|&i| room(i))) {
                Some(i) => Some(Place::Block(i)),
                None if chain.len() < format::XATTR_MAX_BLOCKS as usize => Some(Place::NewBlock),
                // No block has room and the chain is as long as it may be: no commit helps.
                None => return Err(ENOSPC),
            }
        }
    };

    // Every block and every byte of memory the change needs, before anything is changed.
    let nvalue = match value {
        Some(v) if !inline => format::xvalue_blocks(bs, v.len()),
        _ => 0,
    };
    let nnew = nvalue + usize::from(matches!(place, Some(Place::NewBlock)));
    let mut scratch = Scratch {
        dirty: KVec::from_elem(false, chain.len() + 1, GFP_KERNEL)?,
        buf: KVec::from_elem(0u8, bs, GFP_KERNEL)?,
        blocks: KVec::with_capacity(nnew, GFP_KERNEL)?,
    };
    chain.reserve(1, GFP_KERNEL)?;
    let goal = chain.last().map_or(0, |c| c.0);
    if !alloc_blocks(h, goal, nnew, &mut scratch.blocks)? {
        return Ok(Set::NoFreeBlocks);
    }
    // From here on a failure would leave half a change in the transaction.
    apply(h, inode, index, name, value, chain, old, place, scratch)
        .map_err(|e| h.abort_changed(e))?;
    Ok(Set::Done)
}

/// The part of [`set_locked`] after the blocks are allocated: writes the value blocks, the
/// new xattr block and the changed ones, then the inode, and frees the blocks nothing points
/// to any more.
#[allow(clippy::too_many_arguments)]
fn apply(
    h: &Handle<'_>,
    inode: &INode<RextFs>,
    index: u8,
    name: &[u8],
    value: Option<&[u8]>,
    mut chain: KVec<(u64, KVec<u8>)>,
    old: Option<Old>,
    place: Option<Place>,
    mut scratch: Scratch,
) -> Result {
    let sb = h.sb();
    let ino = inode.ino();
    let bs = sb.block_size() as usize;
    let nvalue = value.map_or(0, |v| {
        if v.len() <= format::xattr_inline_max(bs) {
            0
        } else {
            format::xvalue_blocks(bs, v.len())
        }
    });
    let (vblocks, xblock) = scratch.blocks.split_at(nvalue);
    let dirty = &mut scratch.dirty;
    let buf = &mut scratch.buf;

    if let Some(o) = &old {
        format::xattr_block_remove(&mut chain[o.block].1, o.off).map_err(|e| corrupt(sb, e))?;
        dirty[o.block] = true;
    }
    if let (Some(place), Some(v)) = (place, value) {
        // The value chain first, each block naming the next.
        let cap = format::xvalue_capacity(bs);
        for (k, (&b, data)) in vblocks.iter().zip(v.chunks(cap)).enumerate() {
            let next = vblocks.get(k + 1).copied().unwrap_or(0);
            buf.fill(0);
            format::xvalue_block_init(buf, b, ino, next, data).map_err(|e| corrupt(sb, e))?;
            format::meta_seal(buf).map_err(|e| corrupt(sb, e))?;
            h.write_block(b, buf)?;
        }
        let val = match vblocks.first() {
            None => XattrValue::Inline(v),
            Some(&block) => XattrValue::External {
                len: v.len() as u32,
                block,
            },
        };
        let i = match place {
            Place::Block(i) => i,
            Place::NewBlock => {
                let b = xblock[0];
                let mut nb = core::mem::take(buf);
                nb.fill(0);
                format::xattr_block_init(&mut nb, b, ino).map_err(|e| corrupt(sb, e))?;
                // Room for it was reserved before the blocks were allocated.
                chain.push((b, nb), GFP_KERNEL)?;
                chain.len() - 1
            }
        };
        format::xattr_block_insert(&mut chain[i].1, index, name, val)
            .map_err(|e| corrupt(sb, e))?;
        dirty[i] = true;
    }

    // The block this change emptied leaves the chain (an empty block found on disk stays:
    // freeing any number of them would overrun the credits); the others are relinked.
    let emptied = old
        .as_ref()
        .map(|o| o.block)
        .filter(|&i| format::xattr_block_count(&chain[i].1) == 0);
    let mut prev: Option<usize> = None;
    let mut head = 0;
    for i in 0..chain.len() {
        if emptied == Some(i) {
            continue;
        }
        let b = chain[i].0;
        match prev {
            None => head = b,
            Some(p) => {
                if format::xattr_block_next(&chain[p].1) != b {
                    format::xattr_block_set_next(&mut chain[p].1, b);
                    dirty[p] = true;
                }
            }
        }
        prev = Some(i);
    }
    if let Some(p) = prev {
        if format::xattr_block_next(&chain[p].1) != 0 {
            format::xattr_block_set_next(&mut chain[p].1, 0);
            dirty[p] = true;
        }
    }
    for (i, (b, blk)) in chain.iter_mut().enumerate() {
        if dirty[i] && emptied != Some(i) {
            format::meta_seal(blk).map_err(|e| corrupt(sb, e))?;
            h.write_block(*b, blk)?;
        }
    }

    // The inode, then the blocks nothing points to any more.
    let freed_x = emptied.map(|i| chain[i].0);
    let old_vblocks = old.map_or(KVec::new(), |o| o.vblocks);
    let freed = old_vblocks.len() + usize::from(freed_x.is_some());
    inode.touch_ctime();
    {
        let mut d = inode.data().disk.lock();
        let mut nd = *d;
        nd.xattr = head;
        nd.blocks = (nd.blocks + scratch.blocks.len() as u64).saturating_sub(freed as u64);
        inode::sync_disk(inode, &mut nd);
        inode::write(h, inode, &nd)?;
        *d = nd;
        inode.set_bytes(d.blocks << sb.data().geo.block_log2);
    }
    for &b in Iterator::chain(old_vblocks.iter(), freed_x.iter()) {
        alloc::free_blocks(h, b, 1)?;
    }
    Ok(())
}

/// Checks the whole attribute chain of inode `ino` from `first` before it is freed: no
/// loop, every value chain intact, no block twice among all of them (freeing one twice would
/// corrupt the bitmap half way through a step). Returns the number of [`free_step`] steps the
/// freeing takes.
pub(crate) fn check_for_free(sb: &SuperBlock<RextFs>, ino: u64, first: u64) -> Result<usize> {
    let mut all = KVec::<u64>::new();
    let mut steps = 0usize;
    walk_chain(sb, ino, first, |b, buf| {
        all.push(b, GFP_KERNEL)?;
        steps += 1;
        for e in XattrIter::new(buf) {
            if let XattrValue::External { len, block } = e.value {
                for v in value_blocks(sb, ino, block, len as usize)?.iter() {
                    all.push(*v, GFP_KERNEL)?;
                }
                steps += 1;
            }
        }
        Ok(false)
    })?;
    all.sort_unstable();
    if all.windows(2).any(|w| w[0] == w[1]) {
        return Err(corrupt(
            sb,
            crate::FormatError::Invalid("a block in two xattr chains"),
        ));
    }
    Ok(steps)
}

/// `FS_IOC_FIEMAP` with `FIEMAP_FLAG_XATTR`: the blocks of `inode`'s attributes as
/// extents, in chain order (each xattr block, then the value blocks of its external values),
/// at logical offsets counted from 0 in that order (as ext4 reports its attribute block at
/// 0); physically adjacent blocks are one extent, the last is flagged last. Nothing is
/// reported for an inode without attributes.
pub(crate) fn fiemap(inode: &INode<RextFs>, info: &mut FiemapInfo, start: u64, len: u64) -> Result {
    let mut len = len;
    info.prep(inode, start, &mut len, FiemapInfo::FLAG_XATTR)?;
    let sb = inode.super_block();
    let ino = inode.ino();
    let mut blocks = KVec::<u64>::new();
    {
        let _g = inode.data().xattr.lock();
        let first = inode.data().disk.lock().xattr;
        walk_chain(sb, ino, first, |b, buf| {
            blocks.push(b, GFP_KERNEL)?;
            for e in XattrIter::new(buf) {
                if let XattrValue::External { len, block } = e.value {
                    for v in value_blocks(sb, ino, block, len as usize)?.iter() {
                        blocks.push(*v, GFP_KERNEL)?;
                    }
                }
            }
            Ok(false)
        })?;
    }
    // The user's buffer is filled without the attribute lock (copying may fault).
    let bs = u64::from(sb.block_size());
    let (lo, hi) = (start / bs, start.saturating_add(len).div_ceil(bs));
    let mut i = 0usize;
    while i < blocks.len() {
        let mut n = 1usize;
        while i + n < blocks.len() && blocks[i + n] == blocks[i] + n as u64 {
            n += 1;
        }
        let (first, end) = (i as u64, (i + n) as u64);
        if end > lo && first < hi {
            let flags = if i + n == blocks.len() {
                FiemapInfo::EXTENT_LAST
            } else {
                0
            };
            if info.fill(first * bs, blocks[i] * bs, n as u64 * bs, flags)? {
                break;
            }
        }
        i += n;
    }
    Ok(())
}

/// One step of freeing the attributes of inode `ino`, which is being deleted (its disk copy
/// `d`, with `d.xattr != 0`): one external value of its first xattr block, or that block once
/// it has none. Each step leaves the inode consistent and fits [`credits::xattr_set`].
pub(crate) fn free_step(h: &Handle<'_>, ino: u64, d: &mut format::Inode) -> Result {
    let sb = h.sb();
    let first = d.xattr;
    let mut buf = read_xblock(sb, ino, first)?;
    let ext = XattrIter::new(&buf).find_map(|e| match e.value {
        XattrValue::External { len, block } => Some((e.off, len, block)),
        XattrValue::Inline(_) => None,
    });
    match ext {
        Some((off, len, block)) => {
            let blocks = value_blocks(sb, ino, block, len as usize)?;
            format::xattr_block_remove(&mut buf, off).map_err(|e| corrupt(sb, e))?;
            format::meta_seal(&mut buf).map_err(|e| corrupt(sb, e))?;
            h.write_block(first, &buf)?;
            d.blocks = d.blocks.saturating_sub(blocks.len() as u64);
            inode::write_disk(h, ino, d)?;
            for &b in blocks.iter() {
                alloc::free_blocks(h, b, 1)?;
            }
        }
        None => {
            d.xattr = format::xattr_block_next(&buf);
            d.blocks = d.blocks.saturating_sub(1);
            inode::write_disk(h, ino, d)?;
            alloc::free_blocks(h, first, 1)?;
        }
    }
    Ok(())
}
