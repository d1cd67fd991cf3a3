// SPDX-License-Identifier: GPL-2.0

//! Human-readable dumps of on-disk structures (`rextfs-dump`).

use crate::acl::{acl_parse, acl_text};
use crate::cli::format_uuid;
use crate::dev::Dev;
use crate::error::{msg, Context, Result};
use crate::fs::Fs;
use crate::journal;
use crate::ops::xattr_full_name;
use rextfs_format::*;
use std::collections::HashSet;
use std::fmt::Write;

fn label_text(l: &[u8]) -> String {
    let end = l.iter().position(|&c| c == 0).unwrap_or(l.len());
    String::from_utf8_lossy(&l[..end]).into_owned()
}

/// Bytes as lower-case hex digits.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Superblock fields.
pub fn dump_sb(sb: &Superblock) -> String {
    let mut s = String::new();
    let l = sb.layout;
    let _ = writeln!(s, "magic              RXSB, version {}", sb.version);
    let _ = writeln!(s, "block size         {}", sb.block_size());
    let _ = writeln!(
        s,
        "blocks             {} ({} free)",
        sb.total_blocks, sb.free_blocks
    );
    let _ = writeln!(
        s,
        "inodes             {} ({} free)",
        sb.total_inodes, sb.free_inodes
    );
    let _ = writeln!(
        s,
        "features           compat {:#x} incompat {:#x} ro_compat {:#x}",
        sb.feature_compat, sb.feature_incompat, sb.feature_ro_compat
    );
    let mut st = Vec::new();
    if sb.state & STATE_CLEAN != 0 {
        st.push("clean");
    } else {
        st.push("dirty");
    }
    if sb.state & STATE_ERRORS != 0 {
        st.push("errors");
    }
    let _ = writeln!(s, "state              {}", st.join(","));
    let _ = writeln!(s, "uuid               {}", format_uuid(&sb.uuid));
    let _ = writeln!(s, "label              {:?}", label_text(&sb.label));
    let _ = writeln!(
        s,
        "block bitmap       {} (+{})",
        l.block_bitmap_start, l.block_bitmap_blocks
    );
    let _ = writeln!(
        s,
        "inode bitmap       {} (+{})",
        l.inode_bitmap_start, l.inode_bitmap_blocks
    );
    let _ = writeln!(
        s,
        "inode table        {} (+{})",
        l.inode_table_start, l.inode_table_blocks
    );
    let _ = writeln!(
        s,
        "journal            {} (+{})",
        l.journal_start, l.journal_blocks
    );
    let _ = writeln!(s, "data start         {}", l.data_start);
    let _ = writeln!(s, "root inode         {}", sb.root_ino);
    let _ = writeln!(s, "first inode        {}", sb.first_ino);
    let _ = writeln!(s, "orphan head        {}", sb.orphan_head);
    let _ = writeln!(s, "hash key           {}", hex(&sb.hash_key));
    let _ = writeln!(s, "mount count        {}", sb.mount_count);
    let _ = writeln!(
        s,
        "times              mkfs {} mount {} write {} check {}",
        sb.mkfs_time, sb.mount_time, sb.write_time, sb.check_time
    );
    s
}

/// One inode.
pub fn dump_inode(fs: &mut Fs, ino: u64) -> Result<String> {
    let raw = fs.read_inode_raw(ino)?;
    if inode_slot_is_free(&raw) {
        return Ok(format!("inode {ino}: free slot\n"));
    }
    let inode = Inode::decode(ino, &raw).ctx(|| format!("inode {ino}"))?;
    let mut s = String::new();
    let _ = writeln!(s, "inode {ino}");
    let _ = writeln!(s, "  mode      {:o}", inode.mode);
    let _ = writeln!(s, "  uid/gid   {}/{}", inode.uid, inode.gid);
    let _ = writeln!(s, "  nlink     {}", inode.nlink);
    let _ = writeln!(s, "  flags     {:#x}", inode.flags);
    let _ = writeln!(s, "  size      {}", inode.size);
    let _ = writeln!(s, "  blocks    {}", inode.blocks);
    let _ = writeln!(s, "  gen       {}", inode.generation);
    if inode.is_dir() {
        let _ = writeln!(s, "  parent    {}", inode.parent);
        let _ = writeln!(s, "  dir index {}", inode.dir_index_root);
    }
    if inode.rdev != 0 {
        let _ = writeln!(s, "  rdev      {:#x}", inode.rdev);
    }
    if inode.next_orphan != 0 {
        let _ = writeln!(s, "  next orphan {}", inode.next_orphan);
    }
    for (n, t) in [
        ("atime", inode.atime),
        ("mtime", inode.mtime),
        ("ctime", inode.ctime),
        ("btime", inode.btime),
    ] {
        let _ = writeln!(s, "  {n}     {}.{:09}", t.sec, t.nsec);
    }
    if let Some(t) = inode.inline_target() {
        let _ = writeln!(s, "  fast symlink -> {}", String::from_utf8_lossy(t));
    } else {
        let h = node_header(&inode.area, NodeForm::Inline).ctx(|| "root".into())?;
        let _ = writeln!(
            s,
            "  extent root: level {} nr {} max {}",
            h.level, h.nr, h.max
        );
        let ext = fs.extents(ino, &inode)?;
        for e in ext.iter().take(64) {
            let _ = writeln!(
                s,
                "    [{}..{}) -> {}{}",
                e.logical,
                e.logical_end(),
                e.physical,
                if e.unwritten() { " unwritten" } else { "" }
            );
        }
        if ext.len() > 64 {
            let _ = writeln!(s, "    ... {} extents in all", ext.len());
        }
    }
    dump_xattrs(fs, ino, &inode, &mut s);
    Ok(s)
}

/// Most bytes of a value shown as text, and as hex.
const VALUE_TEXT_MAX: usize = 64;
const VALUE_HEX_MAX: usize = 32;

/// A value as text in quotes (escaped, when it is printable ASCII, a NUL at the
/// end allowed and shown as `\0`) or as hex, the first bytes only; `...` marks a
/// value cut short.
pub fn value_text(v: &[u8]) -> String {
    let (body, nul) = match v.strip_suffix(&[0]) {
        Some(b) => (b, "\\0"),
        None => (v, ""),
    };
    let text = body
        .iter()
        .all(|&c| c == b'\t' || c == b'\n' || (0x20..0x7f).contains(&c));
    if text {
        let n = body.len().min(VALUE_TEXT_MAX);
        if n < body.len() {
            format!("\"{}\"...", body[..n].escape_ascii())
        } else {
            format!("\"{}{nul}\"", body.escape_ascii())
        }
    } else {
        let n = v.len().min(VALUE_HEX_MAX);
        let tail = if n < v.len() { "..." } else { "" };
        format!("hex {}{tail}", hex(&v[..n]))
    }
}

/// The value of an attribute of index `index` as shown: an ACL decoded
/// (`user::rw-,group::r--,other::r--`, ids numeric) when it is valid, else as
/// [`value_text`] shows any value, followed by what is wrong with it.
pub fn xattr_value_text(index: u8, v: &[u8]) -> String {
    if !matches!(index, XATTR_INDEX_ACL_ACCESS | XATTR_INDEX_ACL_DEFAULT) {
        return value_text(v);
    }
    match acl_parse(v) {
        Ok(entries) => acl_text(&entries),
        Err(why) => format!("{} (not a valid ACL: it {why})", value_text(v)),
    }
}

/// Block numbers as runs: `5-9 12`.
fn block_runs(blocks: &[u64]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < blocks.len() {
        let mut j = i;
        while j + 1 < blocks.len() && blocks[j + 1] == blocks[j] + 1 {
            j += 1;
        }
        out.push(if j == i {
            blocks[i].to_string()
        } else {
            format!("{}-{}", blocks[i], blocks[j])
        });
        i = j + 1;
    }
    out.join(" ")
}

/// Reads a value chain as far as it is valid: the bytes, the blocks, and what
/// is wrong with it, if anything.
fn read_value(
    fs: &mut Fs,
    ino: u64,
    first: u64,
    len: usize,
) -> (Vec<u8>, Vec<u64>, Option<String>) {
    let mut value = Vec::new();
    let mut blocks = Vec::new();
    let mut seen = HashSet::new();
    let mut cur = first;
    while cur != 0 {
        if value.len() >= len {
            return (value, blocks, Some(format!("chain goes on to block {cur}")));
        }
        if !fs.sb.data_range_valid(cur, 1) || !seen.insert(cur) {
            let why = format!("block {cur} outside the data area or met twice");
            return (value, blocks, Some(why));
        }
        let buf = match fs.read_block(cur) {
            Ok(b) => b,
            Err(e) => return (value, blocks, Some(format!("block {cur}: {e}"))),
        };
        match xvalue_block_check(&buf, cur, ino) {
            Ok((next, data)) => {
                if next != 0 && data.len() != xvalue_capacity(buf.len()) {
                    let why = format!("block {cur} not full and not the last");
                    return (value, blocks, Some(why));
                }
                value.extend_from_slice(data);
                blocks.push(cur);
                cur = next;
            }
            Err(e) => {
                let why = format!("block {cur}: {}", e.as_str());
                return (value, blocks, Some(why));
            }
        }
    }
    let why = (value.len() != len).then(|| format!("chain holds {} bytes", value.len()));
    (value, blocks, why)
}

/// The extended attributes of an inode, xattr block by xattr block: each entry's
/// full name, value length, where the value is and its first bytes (an ACL
/// decoded, see [`xattr_value_text`]). A damaged block or value chain is
/// reported where it is met.
fn dump_xattrs(fs: &mut Fs, ino: u64, inode: &Inode, s: &mut String) {
    if inode.xattr == 0 {
        let _ = writeln!(s, "  xattrs    none");
        return;
    }
    let room = fs.bs().saturating_sub(XATTR_HDR_SIZE);
    let mut seen = HashSet::new();
    let mut n = 0;
    let mut cur = inode.xattr;
    while cur != 0 {
        if n >= XATTR_MAX_BLOCKS {
            let _ = writeln!(
                s,
                "  xattr block {cur}: past the {XATTR_MAX_BLOCKS} blocks of a chain, not read"
            );
            return;
        }
        if !fs.sb.data_range_valid(cur, 1) || !seen.insert(cur) {
            let _ = writeln!(
                s,
                "  xattr block {cur}: outside the data area or met twice, not read"
            );
            return;
        }
        let buf = match fs.read_block(cur) {
            Ok(b) => b,
            Err(e) => {
                let _ = writeln!(s, "  xattr block {cur}: {e}");
                return;
            }
        };
        if let Err(e) = xattr_block_check(&buf, cur, ino) {
            let _ = writeln!(s, "  xattr block {cur}: {}", e.as_str());
            return;
        }
        let next = xattr_block_next(&buf);
        let _ = writeln!(
            s,
            "  xattr block {cur}: {} entries, {} of {room} bytes used, next {next}",
            xattr_block_count(&buf),
            room - xattr_block_free(&buf),
        );
        for e in XattrIter::new(&buf) {
            let name = xattr_full_name(e.index, e.name);
            match e.value {
                XattrValue::Inline(v) => {
                    let shown = xattr_value_text(e.index, v);
                    let _ = writeln!(s, "    {name}  {} bytes inline: {shown}", v.len());
                }
                XattrValue::External { len, block } => {
                    let (value, blocks, bad) = read_value(fs, ino, block, len as usize);
                    let shown = match bad {
                        Some(why) => format!("bad value chain: {why}"),
                        None => xattr_value_text(e.index, &value),
                    };
                    let _ = writeln!(
                        s,
                        "    {name}  {len} bytes in value blocks {}: {shown}",
                        if blocks.is_empty() {
                            block.to_string()
                        } else {
                            block_runs(&blocks)
                        }
                    );
                }
            }
        }
        n += 1;
        cur = next;
    }
}

/// Entries of a directory.
pub fn dump_dir(fs: &mut Fs, ino: u64) -> Result<String> {
    let mut s = String::new();
    for e in fs.read_dir(ino)? {
        let _ = writeln!(
            s,
            "{:>10} {:>10} {:>3} {}",
            e.offset,
            e.ino,
            e.file_type,
            String::from_utf8_lossy(&e.name)
        );
    }
    Ok(s)
}

fn dump_node(
    fs: &mut Fs,
    buf: &[u8],
    form: NodeForm,
    owner: u64,
    depth: usize,
    s: &mut String,
) -> Result<()> {
    let h = node_header(buf, form).ctx(|| "node".into())?;
    let pad = "  ".repeat(depth);
    let _ = writeln!(
        s,
        "{pad}node {:?} level {} nr {} max {}",
        h.kind, h.level, h.nr, h.max
    );
    for i in 0..usize::from(h.nr) {
        if h.level > 0 {
            let r: IndexRec = node_get(buf, form, i).ctx(|| "node".into())?;
            let _ = writeln!(s, "{pad}  key {} -> block {}", r.key, r.child);
            let cbuf = fs.read_block(r.child)?;
            node_check(&cbuf, NodeForm::Block, h.kind, r.child, owner)
                .ctx(|| format!("node at block {}", r.child))?;
            dump_node(fs, &cbuf, NodeForm::Block, owner, depth + 2, s)?;
        } else if h.kind == TreeKind::Extent {
            let e: Extent = node_get(buf, form, i).ctx(|| "node".into())?;
            let _ = writeln!(
                s,
                "{pad}  [{}..{}) -> {} flags {:#x}",
                e.logical,
                e.logical_end(),
                e.physical,
                e.flags
            );
        } else {
            let k: DirKey = node_get(buf, form, i).ctx(|| "node".into())?;
            let _ = writeln!(
                s,
                "{pad}  hash {:#010x} offset {}",
                dir_key_hash(k.0),
                dir_key_offset(k.0)
            );
        }
    }
    Ok(())
}

/// The extent tree (and directory index, if any) of an inode.
pub fn dump_tree(fs: &mut Fs, ino: u64) -> Result<String> {
    let inode = fs.read_inode(ino)?;
    let mut s = String::new();
    if inode.has_inline_data() {
        return msg(format!("inode {ino} is a fast symlink, it has no tree"));
    }
    let _ = writeln!(s, "extent tree of inode {ino}:");
    dump_node(fs, &inode.area, NodeForm::Inline, ino, 1, &mut s)?;
    if inode.dir_index_root != 0 {
        let _ = writeln!(
            s,
            "hash index of directory {ino} (root block {}):",
            inode.dir_index_root
        );
        let root = fs.read_block(inode.dir_index_root)?;
        node_check(
            &root,
            NodeForm::Block,
            TreeKind::DirIndex,
            inode.dir_index_root,
            ino,
        )
        .ctx(|| "index root".into())?;
        dump_node(fs, &root, NodeForm::Block, ino, 1, &mut s)?;
    }
    Ok(s)
}

fn runs(set: &crate::bitset::Bitset) -> String {
    let mut all = crate::bitset::Bitset::new(set.len());
    all.set_range(0, set.len());
    let free = all.runs_set_not_in(set);
    let mut s = String::new();
    for (a, l) in free.iter().take(200) {
        let _ = write!(s, " {}-{}", a, a + l - 1);
    }
    if free.len() > 200 {
        let _ = write!(s, " ... ({} runs)", free.len());
    }
    s
}

/// Free runs of both bitmaps.
pub fn dump_bitmap(fs: &mut Fs) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "free blocks ({}):{}",
        fs.sb.total_blocks - fs.bmap.count(),
        runs(&fs.bmap)
    );
    let _ = writeln!(
        s,
        "free inodes ({}) (bit n = inode n+1):{}",
        fs.sb.total_inodes - fs.imap.count(),
        runs(&fs.imap)
    );
    s
}

/// The journal: its super block, then the scan of the log (each complete
/// transaction with its log blocks, home blocks and revoke records) and why
/// the scan stopped.
pub fn dump_journal(dev: &mut dyn Dev, sb: &Superblock) -> Result<String> {
    let mut s = String::new();
    let l = sb.layout;
    let _ = writeln!(
        s,
        "journal            blocks {}..{} ({} blocks)",
        l.journal_start,
        l.journal_start + l.journal_blocks - 1,
        l.journal_blocks
    );
    let buf = journal::read_jsb_block(dev, sb)?;
    let j = match Jsb::decode(&buf) {
        Ok(j) => j,
        Err(e) => {
            let _ = writeln!(s, "journal super block: {}", e.as_str());
            return Ok(s);
        }
    };
    let _ = writeln!(s, "magic              RXJS, version {JOURNAL_VERSION}");
    let _ = writeln!(s, "block size         {}", 1u64 << j.block_log2.min(63));
    let _ = writeln!(
        s,
        "blocks             {} (log {})",
        j.blocks,
        j.log_blocks()
    );
    let _ = writeln!(s, "sequence           {}", j.sequence);
    let _ = writeln!(
        s,
        "tail               {} ({})",
        j.tail,
        if j.needs_recovery() {
            "needs recovery"
        } else {
            "empty"
        }
    );
    let _ = writeln!(s, "uuid               {}", format_uuid(&j.uuid));
    if let Err(why) = journal::check_jsb(&buf, sb) {
        let _ = writeln!(s, "journal super block: {why}; the log is not scanned");
        return Ok(s);
    }
    if !j.needs_recovery() {
        let _ = writeln!(s, "log: empty, nothing to replay");
        return Ok(s);
    }
    let found = journal::scan_log(dev, sb, &j)?;
    let _ = writeln!(
        s,
        "log scan           {} complete transactions, {} block copies, {} revoke records",
        found.transactions, found.blocks, found.revokes
    );
    let list = |v: &[u64]| -> String {
        if v.is_empty() {
            return "none".into();
        }
        let mut t = String::new();
        for (i, b) in v.iter().take(64).enumerate() {
            if i > 0 {
                t.push(' ');
            }
            let _ = write!(t, "{b}");
        }
        if v.len() > 64 {
            let _ = write!(t, " ... ({} in all)", v.len());
        }
        t
    };
    for t in journal::list_transactions(dev, sb, &j, &found)? {
        let _ = writeln!(
            s,
            "transaction {}: log blocks {}..{}{}, commit at {}",
            t.sequence,
            t.first,
            t.commit,
            if t.commit < t.first { " (wraps)" } else { "" },
            t.commit
        );
        let _ = writeln!(s, "  copies: {}", list(&t.homes));
        let _ = writeln!(s, "  revokes: {}", list(&t.revokes));
    }
    let _ = writeln!(
        s,
        "log end at block {} (sequence {}): {}",
        found.head,
        found.next_sequence,
        journal::log_end_text(found.end)
    );
    Ok(s)
}
