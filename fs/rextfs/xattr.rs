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
    xattr::{List, Namespace, SetFlags, Value},
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

/// The chain of xattr blocks from `first`: each block number with its contents.
fn read_chain(sb: &SuperBlock<RextFs>, ino: u64, first: u64) -> Result<KVec<(u64, KVec<u8>)>> {
    let mut chain = KVec::<(u64, KVec<u8>)>::new();
    let mut cur = first;
    while cur != 0 {
        if chain.len() >= format::XATTR_MAX_BLOCKS as usize || chain.iter().any(|c| c.0 == cur) {
            return Err(corrupt(
                sb,
                crate::FormatError::Invalid("xattr chain too long or looping"),
            ));
        }
        let buf = read_xblock(sb, ino, cur)?;
        let next = format::xattr_block_next(&buf);
        chain.push((cur, buf), GFP_KERNEL)?;
        cur = next;
    }
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
    let chain = read_chain(sb, inode.ino(), first)?;
    let Some(e) = chain
        .iter()
        .find_map(|(_, b)| format::xattr_block_find(b, index, name))
    else {
        return Err(ENODATA);
    };
    match e.value {
        XattrValue::Inline(v) => {
            if let Some(buf) = value.set_len(v.len())? {
                buf.copy_from_slice(v);
            }
        }
        XattrValue::External { len, block } => {
            if let Some(buf) = value.set_len(len as usize)? {
                let mut off = 0;
                walk_value(sb, inode.ino(), block, buf.len(), |_, data| {
                    buf[off..off + data.len()].copy_from_slice(data);
                    off += data.len();
                    Ok(())
                })?;
            }
        }
    }
    Ok(())
}

/// `->listxattr`: every attribute with a namespace prefix.
pub(crate) fn list(inode: &INode<RextFs>, list: &mut List<'_>) -> Result {
    let sb = inode.super_block();
    let _g = inode.data().xattr.lock();
    let first = inode.data().disk.lock().xattr;
    let chain = read_chain(sb, inode.ino(), first)?;
    for (_, b) in chain.iter() {
        for e in XattrIter::new(b) {
            if let Some(ns) = namespace_of(e.index) {
                list.add(ns, e.name)?;
            }
        }
    }
    Ok(())
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
    let mut retried = false;
    loop {
        let r = {
            let _g = inode.data().xattr.lock();
            set_locked(&h, inode, index, name, value, flags)
        };
        match r {
            // Only blocks freed by transactions not committed yet were left: commit them
            // (with no lock held) and try once more. Nothing was changed.
            Err(e) if e == ENOSPC && !retried => {
                retried = true;
                h.restart()?;
            }
            r => return r,
        }
    }
}

/// Where the new entry goes.
enum Place {
    /// Into the block at this position of the chain.
    Block(usize),
    /// Into a new block appended to the chain.
    NewBlock,
}

/// Allocates `n` blocks near `goal` for metadata; on failure, the ones allocated are freed
/// again and nothing is left changed.
fn alloc_blocks(h: &Handle<'_>, goal: u64, n: usize) -> Result<KVec<u64>> {
    let mut got = KVec::with_capacity(n, GFP_KERNEL)?;
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
                return Err(e);
            }
        }
    }
    Ok(got)
}

fn set_locked(
    h: &Handle<'_>,
    inode: &INode<RextFs>,
    index: u8,
    name: &[u8],
    value: Option<&[u8]>,
    flags: SetFlags,
) -> Result {
    let sb = h.sb();
    let ino = inode.ino();
    let bs = sb.block_size() as usize;
    let first = inode.data().disk.lock().xattr;
    let mut chain = read_chain(sb, ino, first)?;

    // The current entry: its block, offset, size, and its value blocks if external.
    let mut old = None;
    for (i, (_, b)) in chain.iter().enumerate() {
        if let Some(e) = format::xattr_block_find(b, index, name) {
            let vblocks = match e.value {
                XattrValue::External { len, block } => value_blocks(sb, ino, block, len as usize)?,
                XattrValue::Inline(_) => KVec::new(),
            };
            old = Some((i, e.off, e.size(), vblocks));
            break;
        }
    }
    if old.is_some() && flags.create() {
        return Err(EEXIST);
    }
    if old.is_none() && (flags.replace() || value.is_none()) {
        return Err(ENODATA);
    }

    // Where the new entry goes, counting the room the old one leaves.
    let inline = value.is_some_and(|v| v.len() <= format::xattr_inline_max(bs));
    let place = match value {
        None => None,
        Some(v) => {
            let size = format::xattr_entry_size(name.len(), inline.then_some(v.len()));
            let room = |i: usize| {
                let freed = old.as_ref().filter(|o| o.0 == i).map_or(0, |o| o.2);
                format::xattr_block_free(&chain[i].1) + freed >= size
            };
            let mine = old.as_ref().map(|o| o.0).filter(|&i| room(i));
            match mine.or_else(|| (0..chain.len()).find(|&i| room(i))) {
                Some(i) => Some(Place::Block(i)),
                None if chain.len() < format::XATTR_MAX_BLOCKS as usize => Some(Place::NewBlock),
                None => return Err(ENOSPC),
            }
        }
    };

    // Every block the change needs, allocated before anything is changed.
    let goal = chain.last().map_or(0, |c| c.0);
    let nvalue = match value {
        Some(v) if !inline => format::xvalue_blocks(bs, v.len()),
        _ => 0,
    };
    let nnew = nvalue + usize::from(matches!(place, Some(Place::NewBlock)));
    let new_blocks = alloc_blocks(h, goal, nnew)?;
    let (vblocks, xblock) = new_blocks.split_at(nvalue);

    // From here on only I/O errors and a journal abort can fail.
    let mut dirty = KVec::from_elem(false, chain.len(), GFP_KERNEL)?;
    if let Some((i, off, _, _)) = &old {
        format::xattr_block_remove(&mut chain[*i].1, *off).map_err(|e| corrupt(sb, e))?;
        dirty[*i] = true;
    }
    if let (Some(place), Some(v)) = (place, value) {
        let val = if inline {
            XattrValue::Inline(v)
        } else {
            XattrValue::External {
                len: v.len() as u32,
                block: vblocks[0],
            }
        };
        let i = match place {
            Place::Block(i) => i,
            Place::NewBlock => {
                let b = xblock[0];
                let mut buf = KVec::from_elem(0u8, bs, GFP_KERNEL)?;
                format::xattr_block_init(&mut buf, b, ino).map_err(|e| corrupt(sb, e))?;
                chain.push((b, buf), GFP_KERNEL)?;
                dirty.push(true, GFP_KERNEL)?;
                chain.len() - 1
            }
        };
        format::xattr_block_insert(&mut chain[i].1, index, name, val)
            .map_err(|e| corrupt(sb, e))?;
        dirty[i] = true;
        // The value chain, each block naming the next.
        let cap = format::xvalue_capacity(bs);
        let mut buf = KVec::from_elem(0u8, bs, GFP_KERNEL)?;
        for (k, (&b, data)) in vblocks.iter().zip(v.chunks(cap)).enumerate() {
            let next = vblocks.get(k + 1).copied().unwrap_or(0);
            format::xvalue_block_init(&mut buf, b, ino, next, data).map_err(|e| corrupt(sb, e))?;
            format::meta_seal(&mut buf).map_err(|e| corrupt(sb, e))?;
            h.write_block(b, &buf)?;
        }
    }

    // Emptied blocks leave the chain; the others are relinked in order.
    let mut freed_x = KVec::new();
    let mut prev: Option<usize> = None;
    let mut head = 0;
    let emptied = old.as_ref().map(|o| o.0);
    for i in 0..chain.len() {
        // Only the block this change emptied leaves the chain (an empty block found on disk
        // stays: freeing any number of them would overrun the credits).
        if format::xattr_block_count(&chain[i].1) == 0 && emptied == Some(i) {
            freed_x.push(chain[i].0, GFP_KERNEL)?;
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
    for (i, (b, buf)) in chain.iter_mut().enumerate() {
        if dirty[i] && !freed_x.contains(b) {
            format::meta_seal(buf).map_err(|e| corrupt(sb, e))?;
            h.write_block(*b, buf)?;
        }
    }

    // The inode, then the blocks nothing points to any more.
    let old_vblocks = old.map_or(KVec::new(), |o| o.3);
    inode.touch_ctime();
    {
        let mut d = inode.data().disk.lock();
        d.xattr = head;
        d.blocks = (d.blocks + new_blocks.len() as u64)
            .saturating_sub((old_vblocks.len() + freed_x.len()) as u64);
        inode::sync_disk(inode, &mut d);
        inode::write(h, inode, &d)?;
        inode.set_bytes(d.blocks << sb.data().geo.block_log2);
    }
    for &b in Iterator::chain(old_vblocks.iter(), freed_x.iter()) {
        alloc::free_blocks(h, b, 1)?;
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
