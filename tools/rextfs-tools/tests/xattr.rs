// SPDX-License-Identifier: GPL-2.0

//! Extended attributes: the image operations of ops.rs build chains of xattr
//! blocks and value blocks exactly as the format says; fsck checks them, finds
//! every kind of damage, repairs it with -y, and frees the attributes of the
//! inodes it deletes; rextfs-dump shows them. POSIX ACLs are checked as the
//! kernel reads them.

mod common;

use common::*;
use proptest::prelude::*;
use rextfs_tools::acl::{
    ACL_GROUP, ACL_GROUP_OBJ, ACL_MASK, ACL_OTHER, ACL_UNDEFINED_ID, ACL_USER, ACL_USER_OBJ,
};
use rextfs_tools::format::*;
use rextfs_tools::ops::{xattr_full_name, xattr_split};
use rextfs_tools::{Fs, MemDev};

/// Blocks in use according to the in-memory bitmap.
fn used(fs: &Fs) -> u64 {
    fs.sb.total_blocks - fs.sb.free_blocks
}

/// Attributes as (full name, value).
type Attrs = Vec<(String, Vec<u8>)>;

/// The value of an ACL with header version `version` and `entries` (tag, perm, id),
/// encoded by hand as the VFS does it (`posix_acl_to_xattr`).
fn acl_value(version: u32, entries: &[(u16, u16, u32)]) -> Vec<u8> {
    let mut v = version.to_le_bytes().to_vec();
    for &(tag, perm, id) in entries {
        v.extend_from_slice(&tag.to_le_bytes());
        v.extend_from_slice(&perm.to_le_bytes());
        v.extend_from_slice(&id.to_le_bytes());
    }
    v
}

/// A valid access ACL of 5 entries (44 bytes): `rw-` for the owner and named user `uid`
/// (the mask), `r--` for the group and the others.
fn access_acl(uid: u32) -> Vec<u8> {
    acl_value(
        2,
        &[
            (ACL_USER_OBJ, 6, ACL_UNDEFINED_ID),
            (ACL_USER, 6, uid),
            (ACL_GROUP_OBJ, 4, ACL_UNDEFINED_ID),
            (ACL_MASK, 6, ACL_UNDEFINED_ID),
            (ACL_OTHER, 4, ACL_UNDEFINED_ID),
        ],
    )
}

/// The text rextfs-dump shows for [`access_acl`]`(uid)`.
fn access_acl_text(uid: u32) -> String {
    format!("user::rw-,user:{uid}:rw-,group::r--,mask::rw-,other::r--")
}

/// A valid default ACL of the 3 entries every ACL has (28 bytes): `rwx`, `r-x`, `r-x`.
fn default_acl() -> Vec<u8> {
    acl_value(
        2,
        &[
            (ACL_USER_OBJ, 7, ACL_UNDEFINED_ID),
            (ACL_GROUP_OBJ, 5, ACL_UNDEFINED_ID),
            (ACL_OTHER, 5, ACL_UNDEFINED_ID),
        ],
    )
}

/// Every attribute of `ino`.
fn attrs(fs: &mut Fs, ino: u64) -> Attrs {
    let inode = fs.read_inode(ino).unwrap();
    fs.xattr_chain(ino, &inode)
        .unwrap()
        .attrs
        .into_iter()
        .map(|a| (a.full_name(), a.value))
        .collect()
}

#[test]
fn set_get_list_remove_every_namespace() {
    for log2 in [10, 12] {
        let dev = fresh(log2, 8 << 20);
        let mut fs = open(&dev);
        let bs = fs.bs();
        let f = fs.create(ROOT_INO, b"f", 0o644).unwrap();
        let base = used(&fs);
        let inline_max = xattr_inline_max(bs);
        let big = pattern(9, XATTR_VALUE_MAX);
        let cases: Vec<(u8, &[u8], Vec<u8>)> = vec![
            (XATTR_INDEX_USER, b"empty", Vec::new()),
            (XATTR_INDEX_USER, b"inline-max", pattern(1, inline_max)),
            (
                XATTR_INDEX_TRUSTED,
                b"just-external",
                pattern(2, inline_max + 1),
            ),
            (
                XATTR_INDEX_SECURITY,
                b"selinux",
                b"system_u:object_r:etc_t:s0\0".to_vec(),
            ),
            (XATTR_INDEX_ACL_ACCESS, b"", access_acl(1000)),
            (XATTR_INDEX_USER, b"largest", big.clone()),
        ];
        for (index, name, value) in &cases {
            fs.xattr_set(f, *index, name, value).unwrap();
        }
        let inode = fs.read_inode(f).unwrap();
        let chain = fs.xattr_chain(f, &inode).unwrap();
        assert_eq!(chain.attrs.len(), cases.len());
        for (index, name, value) in &cases {
            assert_eq!(fs.xattr_get(f, *index, name).unwrap().as_ref(), Some(value));
            let a = chain
                .attrs
                .iter()
                .find(|a| a.index == *index && a.name == *name)
                .unwrap();
            // Inline exactly up to xattr_inline_max, value blocks of full capacity after.
            let want = if value.len() <= inline_max {
                0
            } else {
                xvalue_blocks(bs, value.len())
            };
            assert_eq!(a.value_blocks.len(), want, "{}", a.full_name());
        }
        // The inode's blocks and the bitmap count every block of the chains.
        assert_eq!(inode.blocks, chain.block_count());
        assert_eq!(used(&fs) - base, chain.block_count());
        assert_eq!(inode.xattr, chain.blocks[0]);
        let list = fs.xattr_list(f).unwrap();
        assert_eq!(list.len(), cases.len());
        fs.flush().unwrap();
        assert_clean(&dev);
        // Replacing a value frees the old value blocks; removing everything frees all.
        fs.xattr_set(f, XATTR_INDEX_USER, b"largest", b"small now")
            .unwrap();
        assert_eq!(
            fs.xattr_get(f, XATTR_INDEX_USER, b"largest").unwrap(),
            Some(b"small now".to_vec())
        );
        let inode = fs.read_inode(f).unwrap();
        assert_eq!(used(&fs) - base, inode.blocks);
        fs.flush().unwrap();
        assert_clean(&dev);
        for (index, name, _) in &cases {
            assert!(fs.xattr_remove(f, *index, name).unwrap());
            assert!(!fs.xattr_remove(f, *index, name).unwrap());
        }
        let inode = fs.read_inode(f).unwrap();
        assert_eq!((inode.xattr, inode.blocks), (0, 0));
        assert_eq!(used(&fs), base);
        // The default ACL, on a directory.
        let d = fs.mkdir(ROOT_INO, b"d", 0o755).unwrap();
        fs.xattr_set(d, XATTR_INDEX_ACL_DEFAULT, b"", &default_acl())
            .unwrap();
        assert_eq!(
            fs.xattr_get(d, XATTR_INDEX_ACL_DEFAULT, b"").unwrap(),
            Some(default_acl())
        );
        fs.flush().unwrap();
        assert_clean(&dev);
        assert!(fs.xattr_remove(d, XATTR_INDEX_ACL_DEFAULT, b"").unwrap());
        fs.flush().unwrap();
        assert_clean(&dev);
    }
}

#[test]
fn invalid_sets_are_refused() {
    let dev = fresh(10, 4 << 20);
    let mut fs = open(&dev);
    let f = fs.create(ROOT_INO, b"f", 0o644).unwrap();
    let c = fs.mknod(ROOT_INO, b"c", S_IFCHR | 0o600, 0x0103).unwrap();
    let l = fs.symlink(ROOT_INO, b"l", b"f").unwrap();
    let before = used(&fs);
    assert!(fs.xattr_set(f, XATTR_INDEX_USER, b"", b"x").is_err());
    assert!(fs.xattr_set(f, XATTR_INDEX_ACL_ACCESS, b"x", b"x").is_err());
    assert!(fs.xattr_set(f, 9, b"x", b"x").is_err());
    assert!(fs
        .xattr_set(f, XATTR_INDEX_USER, &[b'n'; 251], b"x")
        .is_err());
    assert!(fs
        .xattr_set(f, XATTR_INDEX_USER, b"x", &vec![0; XATTR_VALUE_MAX + 1])
        .is_err());
    // user.* only on regular files and directories.
    assert!(fs.xattr_set(c, XATTR_INDEX_USER, b"x", b"x").is_err());
    assert!(fs.xattr_set(l, XATTR_INDEX_USER, b"x", b"x").is_err());
    assert_eq!(used(&fs), before);
    fs.xattr_set(c, XATTR_INDEX_TRUSTED, b"x", b"x").unwrap();
    // The full name, `user.` included, is at most 255 bytes.
    fs.xattr_set(f, XATTR_INDEX_USER, &[b'n'; 250], b"x")
        .unwrap();
    // Names with and without their prefix.
    assert_eq!(
        xattr_split(b"user.a.b"),
        Some((XATTR_INDEX_USER, &b"a.b"[..]))
    );
    assert_eq!(
        xattr_split(b"system.posix_acl_default"),
        Some((XATTR_INDEX_ACL_DEFAULT, &b""[..]))
    );
    assert_eq!(xattr_split(b"system.other"), None);
    assert_eq!(xattr_split(b"os2.x"), None);
    assert_eq!(
        xattr_full_name(XATTR_INDEX_SECURITY, b"ima"),
        "security.ima"
    );
}

/// Inodes of [`setup`].
struct X {
    file: u64,
    dir: u64,
    /// A regular file whose attributes spill into several xattr blocks.
    many: u64,
    /// Names and values of `many`, in the order they were set.
    many_attrs: Vec<(Vec<u8>, Vec<u8>)>,
    fast_link: u64,
    slow_link: u64,
    chr: u64,
    blk: u64,
    fifo: u64,
    sock: u64,
    /// Something plain to compare data with.
    data_file: u64,
    data: Vec<u8>,
}

/// Attributes of every namespace (`user.` where the VFS allows it) on every kind of
/// inode, 0-byte and 65536-byte values, and a file whose attributes take many xattr
/// blocks, on a 1 KiB-block image (fsck -n clean).
fn setup() -> (MemDev, X) {
    let dev = fresh(10, 16 << 20);
    let mut fs = open(&dev);
    let dir = fs.mkdir(ROOT_INO, b"d", 0o755).unwrap();
    let file = fs.create(dir, b"f", 0o644).unwrap();
    fs.write(file, 0, &pattern(1, 3000)).unwrap();
    let data_file = fs.create(ROOT_INO, b"data", 0o644).unwrap();
    let data = pattern(2, 5000);
    fs.write(data_file, 0, &data).unwrap();
    let fast_link = fs.symlink(dir, b"fast", b"f").unwrap();
    let slow_link = fs
        .symlink(dir, b"slow", "s/".repeat(300).as_bytes())
        .unwrap();
    let chr = fs.mknod(dir, b"null", S_IFCHR | 0o666, 0x0103).unwrap();
    let blk = fs.mknod(dir, b"loop0", S_IFBLK | 0o660, 0x0700).unwrap();
    let fifo = fs.mknod(dir, b"fifo", S_IFIFO | 0o600, 0).unwrap();
    let sock = fs.mknod(dir, b"sock", S_IFSOCK | 0o600, 0).unwrap();
    for ino in [file, dir, ROOT_INO] {
        fs.xattr_set(ino, XATTR_INDEX_USER, b"empty", b"").unwrap();
        fs.xattr_set(
            ino,
            XATTR_INDEX_USER,
            b"largest",
            &pattern(ino, XATTR_VALUE_MAX),
        )
        .unwrap();
        fs.xattr_set(
            ino,
            XATTR_INDEX_ACL_ACCESS,
            b"",
            &access_acl(1000 + ino as u32),
        )
        .unwrap();
    }
    fs.xattr_set(dir, XATTR_INDEX_ACL_DEFAULT, b"", &default_acl())
        .unwrap();
    for ino in [file, dir, fast_link, slow_link, chr, blk, fifo, sock] {
        fs.xattr_set(ino, XATTR_INDEX_TRUSTED, b"t", b"trusted value")
            .unwrap();
        fs.xattr_set(ino, XATTR_INDEX_SECURITY, b"selinux", b"u:r:x:s0\0")
            .unwrap();
        fs.xattr_set(ino, XATTR_INDEX_TRUSTED, b"big", &pattern(ino, 3000))
            .unwrap();
        fs.xattr_set(ino, XATTR_INDEX_SECURITY, b"zero", b"")
            .unwrap();
    }
    let many = fs.create(ROOT_INO, b"many", 0o644).unwrap();
    let mut many_attrs = Vec::new();
    for i in 0..40u64 {
        let name = format!("attr-{i:02}").into_bytes();
        let value = pattern(100 + i, 200);
        fs.xattr_set(many, XATTR_INDEX_USER, &name, &value).unwrap();
        many_attrs.push((name, value));
    }
    fs.flush().unwrap();
    drop(fs);
    assert_clean(&dev);
    let x = X {
        file,
        dir,
        many,
        many_attrs,
        fast_link,
        slow_link,
        chr,
        blk,
        fifo,
        sock,
        data_file,
        data,
    };
    (dev, x)
}

/// The xattr blocks of `ino`, in chain order.
fn xblocks(fs: &mut Fs, ino: u64) -> Vec<u64> {
    let inode = fs.read_inode(ino).unwrap();
    fs.xattr_chain(ino, &inode).unwrap().blocks
}

/// Changes block `b` with `f`, and recomputes its checksum if `seal`.
fn patch(dev: &MemDev, b: u64, seal: bool, f: impl FnOnce(&mut [u8])) {
    let mut fs = open(dev);
    let mut buf = fs.read_block(b).unwrap();
    f(&mut buf);
    if seal {
        meta_seal(&mut buf).unwrap();
    }
    fs.write_block(b, &buf).unwrap();
}

/// Whether `lines` report block `b` as leaked (marked in use, used by nothing).
fn leak_reported(lines: &[String], b: u64) -> bool {
    lines.iter().any(|l| {
        let Some(rest) = l.strip_prefix("block bitmap: ") else {
            return false;
        };
        let Some(range) = rest.split(" marked in use but free").next() else {
            return false;
        };
        if !rest.contains(" marked in use but free") {
            return false;
        }
        let range = range
            .trim_start_matches("blocks ")
            .trim_start_matches("block ");
        let mut it = range.split('-').map(|n| n.parse::<u64>().unwrap());
        let lo = it.next().unwrap();
        let hi = it.next().unwrap_or(lo);
        (lo..=hi).contains(&b)
    })
}

/// Offset of entry `name` of namespace `index` in xattr block `buf`.
fn entry_off(buf: &[u8], index: u8, name: &[u8]) -> usize {
    xattr_block_find(buf, index, name).unwrap().off
}

/// The blocks in use and the attributes of every inode of `x`, to compare after a
/// repair that must not touch them.
fn others(fs: &mut Fs, x: &X, but: u64) -> Vec<(u64, Attrs)> {
    [
        x.file,
        x.dir,
        x.many,
        x.fast_link,
        x.slow_link,
        x.chr,
        x.blk,
        x.fifo,
        x.sock,
    ]
    .into_iter()
    .filter(|&i| i != but)
    .map(|i| (i, attrs(fs, i)))
    .collect()
}

#[test]
fn attributes_on_every_kind_of_inode_are_clean() {
    let (dev, x) = setup();
    let mut fs = open(&dev);
    let bs = fs.bs();
    for ino in [
        x.file,
        x.dir,
        x.fast_link,
        x.slow_link,
        x.chr,
        x.blk,
        x.fifo,
        x.sock,
    ] {
        let a = attrs(&mut fs, ino);
        assert!(a.contains(&("trusted.t".into(), b"trusted value".to_vec())));
        assert!(a.contains(&("security.zero".into(), Vec::new())));
        assert!(a.contains(&("trusted.big".into(), pattern(ino, 3000))));
    }
    assert!(attrs(&mut fs, x.file).contains(&("user.largest".into(), pattern(x.file, 65536))));
    assert!(attrs(&mut fs, ROOT_INO).contains(&("user.empty".into(), Vec::new())));
    // A fast symlink owns blocks only through its attributes.
    let fl = fs.read_inode(x.fast_link).unwrap();
    assert!(fl.has_inline_data());
    let chain = fs.xattr_chain(x.fast_link, &fl).unwrap();
    assert_eq!(fl.blocks, chain.block_count());
    assert_eq!(
        chain.block_count(),
        1 + xvalue_blocks(bs, 3000) as u64,
        "one xattr block, the value blocks of trusted.big"
    );
    // The many attributes spill over several blocks, each packed before the next.
    let blocks = xblocks(&mut fs, x.many);
    let per_block = (bs - XATTR_HDR_SIZE) / xattr_entry_size(7, Some(200));
    assert_eq!(blocks.len(), x.many_attrs.len().div_ceil(per_block));
    assert!(blocks.len() >= 5);
    for (name, value) in &x.many_attrs {
        assert_eq!(
            fs.xattr_get(x.many, XATTR_INDEX_USER, name)
                .unwrap()
                .as_ref(),
            Some(value)
        );
    }
    // A new attribute goes to the first block with room.
    let b0 = fs.read_block(blocks[0]).unwrap();
    let gone = XattrIter::new(&b0).nth(2).unwrap().name.to_vec();
    assert!(fs.xattr_remove(x.many, XATTR_INDEX_USER, &gone).unwrap());
    fs.xattr_set(x.many, XATTR_INDEX_USER, b"again", &[1; 200])
        .unwrap();
    assert_eq!(xblocks(&mut fs, x.many), blocks);
    let b0 = fs.read_block(blocks[0]).unwrap();
    assert!(xattr_block_find(&b0, XATTR_INDEX_USER, b"again").is_some());
    // Removing the attributes of one block empties it: it leaves the chain.
    let b1 = fs.read_block(blocks[1]).unwrap();
    let in_b1: Vec<Vec<u8>> = XattrIter::new(&b1).map(|e| e.name.to_vec()).collect();
    assert_eq!(in_b1.len(), per_block);
    let before = used(&fs);
    for n in &in_b1 {
        assert!(fs.xattr_remove(x.many, XATTR_INDEX_USER, n).unwrap());
    }
    let after = xblocks(&mut fs, x.many);
    assert_eq!(after.len(), blocks.len() - 1);
    assert!(!after.contains(&blocks[1]));
    assert_eq!(used(&fs), before - 1);
    assert!(!fs.bmap.get(blocks[1]));
    // With no room left anywhere, a new block is appended.
    fs.xattr_set(x.many, XATTR_INDEX_USER, b"more", &[2; 200])
        .unwrap();
    let appended = xblocks(&mut fs, x.many);
    assert_eq!(appended[..after.len()], after[..]);
    assert_eq!(appended.len(), after.len() + 1);
    fs.flush().unwrap();
    drop(fs);
    assert_clean(&dev);
}

#[test]
fn unlink_frees_every_attribute_block() {
    let dev = fresh(10, 8 << 20);
    let mut fs = open(&dev);
    for (i, ty) in [S_IFREG, S_IFLNK, S_IFCHR].into_iter().enumerate() {
        let name = format!("n{i}");
        let ino = match ty {
            S_IFLNK => fs.symlink(ROOT_INO, name.as_bytes(), b"target").unwrap(),
            _ => fs.mknod(ROOT_INO, name.as_bytes(), ty | 0o644, 0).unwrap(),
        };
        // (The root directory's block stays after the unlink.)
        let base = used(&fs);
        fs.xattr_set(ino, XATTR_INDEX_TRUSTED, b"big", &pattern(1, 20_000))
            .unwrap();
        for j in 0..30 {
            fs.xattr_set(
                ino,
                XATTR_INDEX_SECURITY,
                format!("s{j}").as_bytes(),
                &[7; 100],
            )
            .unwrap();
        }
        assert!(used(&fs) > base + 20);
        fs.unlink(ROOT_INO, name.as_bytes(), false).unwrap();
        assert_eq!(used(&fs), base, "type {ty:o}");
    }
    fs.flush().unwrap();
    drop(fs);
    assert_clean(&dev);
}

#[test]
fn chain_is_limited_to_max_blocks() {
    let dev = fresh(10, 8 << 20);
    let mut fs = open(&dev);
    let f = fs.create(ROOT_INO, b"f", 0o644).unwrap();
    let bs = fs.bs();
    let value = vec![3u8; xattr_inline_max(bs)];
    let mut i = 0;
    let err = loop {
        match fs.xattr_set(f, XATTR_INDEX_USER, format!("{i:04}").as_bytes(), &value) {
            Ok(()) => i += 1,
            Err(e) => break e,
        }
    };
    assert!(err.to_string().contains("no room"), "{err}");
    let blocks = xblocks(&mut fs, f);
    assert_eq!(blocks.len(), XATTR_MAX_BLOCKS as usize);
    let per_block = (bs - XATTR_HDR_SIZE) / xattr_entry_size(4, Some(value.len()));
    assert_eq!(i, per_block * XATTR_MAX_BLOCKS as usize);
    // The failed set changed nothing. The entry of an external value is small: it still
    // fits in the room the inline ones left, and so does a replacement by a shorter one.
    let before = used(&fs);
    assert!(fs.xattr_set(f, XATTR_INDEX_USER, b"nope", &value).is_err());
    assert_eq!(used(&fs), before);
    fs.xattr_set(f, XATTR_INDEX_USER, b"more", &vec![1; 5000])
        .unwrap();
    assert_eq!(used(&fs), before + xvalue_blocks(bs, 5000) as u64);
    assert_eq!(xblocks(&mut fs, f), blocks);
    fs.xattr_set(f, XATTR_INDEX_USER, b"0000", &[9; 10])
        .unwrap();
    fs.flush().unwrap();
    drop(fs);
    assert_clean(&dev);
}

#[test]
fn bad_checksum_cuts_the_chain() {
    let (dev, x) = setup();
    let mut fs = open(&dev);
    let blocks = xblocks(&mut fs, x.many);
    let keep: Vec<Vec<u8>> = {
        let b0 = fs.read_block(blocks[0]).unwrap();
        XattrIter::new(&b0).map(|e| e.name.to_vec()).collect()
    };
    let before = others(&mut fs, &x, x.many);
    let used_before = used(&fs);
    drop(fs);
    patch(&dev, blocks[1], false, |b| b[XATTR_HDR_SIZE + 12] ^= 1);
    let (_, y) = assert_detect_and_repair(
        &dev,
        &format!(
            "inode {}: xattr block {}: checksum mismatch, the chain is cut before it",
            x.many, blocks[1]
        ),
    );
    // The leaked blocks of the rest of the chain are not reported separately as blocks
    // of an inode; they become free.
    let count = format!("inode {}: block count", x.many);
    assert!(y.lines.iter().all(|l| !l.contains(&count)), "{:?}", y.lines);
    assert!(leak_reported(&y.lines, blocks[1]), "{:?}", y.lines);
    let mut fs = open(&dev);
    let names: Vec<Vec<u8>> = attrs(&mut fs, x.many)
        .into_iter()
        .map(|(n, _)| n.into_bytes())
        .collect();
    let want: Vec<Vec<u8>> = keep
        .iter()
        .map(|n| [b"user.".as_slice(), n].concat())
        .collect();
    assert_eq!(names, want);
    assert_eq!(xblocks(&mut fs, x.many), vec![blocks[0]]);
    let inode = fs.read_inode(x.many).unwrap();
    assert_eq!(inode.blocks, 1);
    assert_eq!(used(&fs), used_before - (blocks.len() as u64 - 1));
    for b in &blocks[1..] {
        assert!(!fs.bmap.get(*b));
    }
    assert_eq!(others(&mut fs, &x, x.many), before);
}

#[test]
fn bad_first_block_of_a_fast_symlink_drops_everything() {
    let (dev, x) = setup();
    let mut fs = open(&dev);
    let blocks = xblocks(&mut fs, x.fast_link);
    assert_eq!(blocks.len(), 1);
    drop(fs);
    patch(&dev, blocks[0], false, |b| b[0x30] ^= 0x80);
    assert_detect_and_repair(
        &dev,
        &format!(
            "inode {}: xattr block {}: checksum mismatch, every attribute dropped",
            x.fast_link, blocks[0]
        ),
    );
    let mut fs = open(&dev);
    let inode = fs.read_inode(x.fast_link).unwrap();
    assert_eq!((inode.xattr, inode.blocks), (0, 0));
    assert_eq!(fs.readlink(x.fast_link).unwrap(), b"f");
    assert!(attrs(&mut fs, x.fast_link).is_empty());
}

#[test]
fn wrong_owner() {
    let (dev, x) = setup();
    let mut fs = open(&dev);
    let blocks = xblocks(&mut fs, x.chr);
    drop(fs);
    let other = x.sock.to_le_bytes();
    patch(&dev, blocks[0], true, |b| b[16..24].copy_from_slice(&other));
    assert_detect_and_repair(
        &dev,
        &format!(
            "inode {}: xattr block {}: owner in header does not match, every attribute dropped",
            x.chr, blocks[0]
        ),
    );
    let mut fs = open(&dev);
    assert!(attrs(&mut fs, x.chr).is_empty());
    assert_eq!(fs.read_inode(x.chr).unwrap().blocks, 0);
    // The socket whose number the block now carries is untouched.
    assert_eq!(attrs(&mut fs, x.sock).len(), 4);
}

#[test]
fn loop_in_the_chain() {
    let (dev, x) = setup();
    let mut fs = open(&dev);
    let blocks = xblocks(&mut fs, x.many);
    let all = attrs(&mut fs, x.many);
    drop(fs);
    let last = *blocks.last().unwrap();
    patch(&dev, last, true, |b| xattr_block_set_next(b, blocks[1]));
    assert_detect_and_repair(
        &dev,
        &format!(
            "inode {}: xattr chain reaches block {} a second time (a loop), the chain is cut",
            x.many, blocks[1]
        ),
    );
    // Every block was valid: all attributes survive, the loop is gone.
    let mut fs = open(&dev);
    assert_eq!(attrs(&mut fs, x.many), all);
    assert_eq!(xblocks(&mut fs, x.many), blocks);
}

#[test]
fn xattr_block_outside_the_data_area() {
    let (dev, x) = setup();
    let mut fs = open(&dev);
    let mut inode = fs.read_inode(x.fifo).unwrap();
    let old = xblocks(&mut fs, x.fifo);
    inode.xattr = fs.sb.layout.inode_table_start;
    fs.write_inode(x.fifo, &inode).unwrap();
    drop(fs);
    let (r, _) = assert_detect_and_repair(
        &dev,
        &format!(
            "inode {}: xattr block {} outside the data area, every attribute dropped",
            x.fifo,
            open(&dev).sb.layout.inode_table_start
        ),
    );
    // Its old blocks now belong to nobody: leaked, and freed.
    assert!(leak_reported(&r.lines, old[0]), "{:?}", r.lines);
    let mut fs = open(&dev);
    let inode = fs.read_inode(x.fifo).unwrap();
    assert_eq!((inode.xattr, inode.blocks), (0, 0));
    assert!(!fs.bmap.get(old[0]));
}

#[test]
fn block_shared_with_a_file_extent() {
    let (dev, x) = setup();
    let mut fs = open(&dev);
    let shared = xblocks(&mut fs, x.slow_link)[0];
    let before = attrs(&mut fs, x.slow_link);
    let xattr_bytes = fs.read_block(shared).unwrap();
    let one = fs.create(ROOT_INO, b"one-block", 0o644).unwrap();
    fs.write(one, 0, &pattern(4, 1000)).unwrap();
    let mut di = fs.read_inode(one).unwrap();
    let mut e: Extent = node_get(&di.area, NodeForm::Inline, 0).unwrap();
    assert_eq!(e.len, 1);
    let old = e.physical;
    e.physical = shared;
    node_set(&mut di.area, NodeForm::Inline, 0, &e).unwrap();
    fs.write_inode(one, &di).unwrap();
    fs.flush().unwrap();
    drop(fs);
    let (r, _) = assert_detect_and_repair(
        &dev,
        &format!(
            "inode {one}: block {shared} also used by inode {}",
            x.slow_link
        ),
    );
    assert!(leak_reported(&r.lines, old), "{:?}", r.lines);
    // The xattr block names its owner and place: it stays the symlink's, the file gets
    // a copy of the shared run.
    let mut fs = open(&dev);
    assert_eq!(attrs(&mut fs, x.slow_link), before);
    assert_eq!(xblocks(&mut fs, x.slow_link)[0], shared);
    let di = fs.read_inode(one).unwrap();
    let p = fs.extents(one, &di).unwrap()[0].physical;
    assert_ne!(p, shared);
    assert_eq!(fs.read_block(p).unwrap(), xattr_bytes);
    assert_eq!(fs.read(x.data_file).unwrap(), x.data);
}

/// The value blocks of attribute (`index`, `name`) of `ino` and the xattr block
/// holding its entry.
fn value_blocks(fs: &mut Fs, ino: u64, index: u8, name: &[u8]) -> (u64, Vec<u64>) {
    let inode = fs.read_inode(ino).unwrap();
    let a = fs
        .xattr_chain(ino, &inode)
        .unwrap()
        .attrs
        .into_iter()
        .find(|a| a.index == index && a.name == name)
        .unwrap();
    (a.block, a.value_blocks)
}

#[test]
fn value_chain_too_short() {
    let (dev, x) = setup();
    let mut fs = open(&dev);
    let (_, vb) = value_blocks(&mut fs, x.file, XATTR_INDEX_USER, b"largest");
    assert_eq!(vb.len(), xvalue_blocks(1024, XATTR_VALUE_MAX));
    let used_before = used(&fs);
    let mut all = attrs(&mut fs, x.file);
    drop(fs);
    patch(&dev, vb[10], true, |b| b[0x18..0x20].fill(0));
    assert_detect_and_repair(
        &dev,
        &format!(
            "inode {}: xattr user.largest in block {} has a value chain too short: {} bytes \
             for a value of 65536, attribute dropped",
            x.file,
            open(&dev).read_inode(x.file).unwrap().xattr,
            11 * xvalue_capacity(1024)
        ),
    );
    let mut fs = open(&dev);
    all.retain(|a| a.0 != "user.largest");
    assert_eq!(attrs(&mut fs, x.file), all);
    assert_eq!(used(&fs), used_before - vb.len() as u64);
    assert!(vb.iter().all(|&b| !fs.bmap.get(b)));
}

#[test]
fn value_chain_too_long() {
    let (dev, x) = setup();
    let mut fs = open(&dev);
    let (xb, vb) = value_blocks(&mut fs, x.dir, XATTR_INDEX_TRUSTED, b"big");
    let mut all = attrs(&mut fs, x.dir);
    drop(fs);
    // The entry says one byte less than its blocks hold.
    patch(&dev, xb, true, |b| {
        let off = entry_off(b, XATTR_INDEX_TRUSTED, b"big");
        b[off + 4..off + 8].copy_from_slice(&2999u32.to_le_bytes());
    });
    assert_detect_and_repair(
        &dev,
        &format!(
            "inode {}: xattr trusted.big in block {xb} has a value chain too long: 3000 bytes \
             for a value of 2999, attribute dropped",
            x.dir
        ),
    );
    let mut fs = open(&dev);
    all.retain(|a| a.0 != "trusted.big");
    assert_eq!(attrs(&mut fs, x.dir), all);
    assert!(vb.iter().all(|&b| !fs.bmap.get(b)));
    // The directory still works.
    assert!(fs.lookup(x.dir, b"fast").unwrap().is_some());
}

#[test]
fn value_chain_with_a_block_too_many() {
    let (dev, x) = setup();
    let mut fs = open(&dev);
    let (_, vb) = value_blocks(&mut fs, x.blk, XATTR_INDEX_TRUSTED, b"big");
    let (_, other) = value_blocks(&mut fs, x.sock, XATTR_INDEX_TRUSTED, b"big");
    drop(fs);
    // The last value block of the device's value goes on into the socket's chain.
    let last = *vb.last().unwrap();
    patch(&dev, last, true, |b| {
        b[0x18..0x20].copy_from_slice(&other[0].to_le_bytes())
    });
    assert_detect_and_repair(
        &dev,
        &format!(
            "inode {}: xattr trusted.big in block {} has a value chain longer than its 3000 \
             bytes (block {} follows), attribute dropped",
            x.blk,
            open(&dev).read_inode(x.blk).unwrap().xattr,
            other[0]
        ),
    );
    let mut fs = open(&dev);
    assert_eq!(attrs(&mut fs, x.blk).len(), 3);
    assert_eq!(attrs(&mut fs, x.sock).len(), 4);
    assert!(attrs(&mut fs, x.sock).contains(&("trusted.big".into(), pattern(x.sock, 3000))));
}

#[test]
fn value_block_of_another_inode() {
    let (dev, x) = setup();
    let mut fs = open(&dev);
    let (xb, _) = value_blocks(&mut fs, x.fifo, XATTR_INDEX_TRUSTED, b"big");
    let (_, other) = value_blocks(&mut fs, x.sock, XATTR_INDEX_TRUSTED, b"big");
    drop(fs);
    patch(&dev, xb, true, |b| {
        let off = entry_off(b, XATTR_INDEX_TRUSTED, b"big");
        let v = off + XATTR_ENTRY_FIXED + 3;
        b[v..v + 8].copy_from_slice(&other[0].to_le_bytes());
    });
    assert_detect_and_repair(
        &dev,
        &format!(
            "inode {}: xattr trusted.big in block {xb} has value block {}: owner in header \
             does not match, attribute dropped",
            x.fifo, other[0]
        ),
    );
    let mut fs = open(&dev);
    assert!(attrs(&mut fs, x.sock).contains(&("trusted.big".into(), pattern(x.sock, 3000))));
}

#[test]
fn value_chain_with_a_block_not_full_before_its_end() {
    let (dev, x) = setup();
    let mut fs = open(&dev);
    let (xb, vb) = value_blocks(&mut fs, x.file, XATTR_INDEX_USER, b"largest");
    let cap = xvalue_capacity(1024);
    let last = *vb.last().unwrap();
    let last_len = XATTR_VALUE_MAX - (vb.len() - 1) * cap;
    assert!(last_len + 100 <= cap);
    let used_before = used(&fs);
    let mut all = attrs(&mut fs, x.file);
    drop(fs);
    // 100 bytes move from a middle block to the last: the lengths still add up to
    // 65536, no block appears twice, but block 5 is not full.
    patch(&dev, vb[5], true, |b| {
        b[0x20..0x24].copy_from_slice(&((cap - 100) as u32).to_le_bytes());
        b[XATTR_HDR_SIZE + cap - 100..].fill(0);
    });
    patch(&dev, last, true, |b| {
        b[0x20..0x24].copy_from_slice(&((last_len + 100) as u32).to_le_bytes());
        b[XATTR_HDR_SIZE + last_len..XATTR_HDR_SIZE + last_len + 100].fill(0x5a);
    });
    // The image operations refuse it as the kernel does.
    let mut fs = open(&dev);
    let inode = fs.read_inode(x.file).unwrap();
    let err = fs.xattr_chain(x.file, &inode).unwrap_err();
    assert!(err.to_string().contains("not full"), "{err}");
    drop(fs);
    assert_detect_and_repair(
        &dev,
        &format!(
            "inode {}: xattr user.largest in block {xb} has value block {} holding {} of \
             {cap} bytes before the end of its chain (every block but the last is full), \
             attribute dropped",
            x.file,
            vb[5],
            cap - 100
        ),
    );
    let mut fs = open(&dev);
    all.retain(|a| a.0 != "user.largest");
    assert_eq!(attrs(&mut fs, x.file), all);
    assert_eq!(used(&fs), used_before - vb.len() as u64);
    assert!(vb.iter().all(|&b| !fs.bmap.get(b)));
}

#[test]
fn duplicate_name_across_blocks() {
    let (dev, x) = setup();
    let mut fs = open(&dev);
    let blocks = xblocks(&mut fs, x.many);
    let b0 = fs.read_block(blocks[0]).unwrap();
    let first = XattrIter::new(&b0).next().unwrap().name.to_vec();
    let b2 = fs.read_block(blocks[2]).unwrap();
    let victim = XattrIter::new(&b2).nth(1).unwrap();
    let (voff, vname) = (victim.off, victim.name.to_vec());
    assert_eq!(vname.len(), first.len());
    let used_before = used(&fs);
    drop(fs);
    patch(&dev, blocks[2], true, |b| {
        b[voff + XATTR_ENTRY_FIXED..voff + XATTR_ENTRY_FIXED + first.len()].copy_from_slice(&first)
    });
    assert_detect_and_repair(
        &dev,
        &format!(
            "inode {}: xattr user.{} in block {} appears twice in the chain, attribute dropped",
            x.many,
            String::from_utf8_lossy(&first),
            blocks[2]
        ),
    );
    let mut fs = open(&dev);
    let v0 = &x.many_attrs.iter().find(|a| a.0 == first).unwrap().1;
    assert_eq!(
        fs.xattr_get(x.many, XATTR_INDEX_USER, &first)
            .unwrap()
            .as_ref(),
        Some(v0)
    );
    assert_eq!(
        fs.xattr_get(x.many, XATTR_INDEX_USER, &vname).unwrap(),
        None
    );
    assert_eq!(attrs(&mut fs, x.many).len(), x.many_attrs.len() - 1);
    assert_eq!(used(&fs), used_before);
}

#[test]
fn too_many_blocks() {
    let (dev, x) = setup();
    let mut fs = open(&dev);
    let bs = fs.bs();
    let value = vec![5u8; xattr_inline_max(bs)];
    let mut i = 0;
    while fs
        .xattr_set(
            x.file,
            XATTR_INDEX_TRUSTED,
            format!("{i:04}").as_bytes(),
            &value,
        )
        .is_ok()
    {
        i += 1;
    }
    let blocks = xblocks(&mut fs, x.file);
    assert_eq!(blocks.len(), XATTR_MAX_BLOCKS as usize);
    let all = attrs(&mut fs, x.file);
    // A 65th block, as a buggy writer would add it.
    let extra = fs.alloc_block(0).unwrap();
    let mut buf = vec![0u8; bs];
    xattr_block_init(&mut buf, extra, x.file).unwrap();
    xattr_block_insert(
        &mut buf,
        XATTR_INDEX_TRUSTED,
        b"extra",
        XattrValue::Inline(b"v"),
    )
    .unwrap();
    meta_seal(&mut buf).unwrap();
    fs.write_block(extra, &buf).unwrap();
    let last = *blocks.last().unwrap();
    let mut lb = fs.read_block(last).unwrap();
    xattr_block_set_next(&mut lb, extra);
    meta_seal(&mut lb).unwrap();
    fs.write_block(last, &lb).unwrap();
    let mut inode = fs.read_inode(x.file).unwrap();
    inode.blocks += 1;
    fs.write_inode(x.file, &inode).unwrap();
    fs.flush().unwrap();
    let used_before = used(&fs);
    drop(fs);
    assert_detect_and_repair(
        &dev,
        &format!(
            "inode {}: xattr chain is longer than {XATTR_MAX_BLOCKS} blocks (block {extra} is \
             the next), the chain is cut before it",
            x.file
        ),
    );
    let mut fs = open(&dev);
    assert_eq!(xblocks(&mut fs, x.file), blocks);
    assert_eq!(attrs(&mut fs, x.file), all);
    assert!(!fs.bmap.get(extra));
    assert_eq!(used(&fs), used_before - 1);
    assert_eq!(fs.read(x.file).unwrap(), pattern(1, 3000));
    // The inode no longer counts the dropped block.
    let inode = fs.read_inode(x.file).unwrap();
    let chain = fs.xattr_chain(x.file, &inode).unwrap();
    assert_eq!(inode.blocks, 3 + chain.block_count());
}

#[test]
fn user_attribute_on_a_device() {
    let (dev, x) = setup();
    let mut fs = open(&dev);
    let (xb, _) = value_blocks(&mut fs, x.chr, XATTR_INDEX_TRUSTED, b"t");
    let mut all = attrs(&mut fs, x.chr);
    drop(fs);
    // trusted.t becomes user.t: the VFS never lets such an attribute be set or read.
    patch(&dev, xb, true, |b| {
        let off = entry_off(b, XATTR_INDEX_TRUSTED, b"t");
        b[off] = XATTR_INDEX_USER;
    });
    assert_detect_and_repair(
        &dev,
        &format!(
            "inode {}: xattr user.t in block {xb} on a character device: user attributes are \
             allowed only on regular files and directories, attribute dropped",
            x.chr
        ),
    );
    let mut fs = open(&dev);
    all.retain(|a| a.0 != "trusted.t");
    assert_eq!(attrs(&mut fs, x.chr), all);
}

/// Bad ACL values with what fsck and the image operations say of them: a bad version,
/// `user::` twice, a named user without a mask, a named user after `group::`.
fn bad_acls() -> Vec<(Vec<u8>, &'static str)> {
    let u = ACL_UNDEFINED_ID;
    vec![
        (
            acl_value(
                3,
                &[
                    (ACL_USER_OBJ, 6, u),
                    (ACL_GROUP_OBJ, 4, u),
                    (ACL_OTHER, 4, u),
                ],
            ),
            "has version 3, not 2",
        ),
        (
            acl_value(
                2,
                &[
                    (ACL_USER_OBJ, 6, u),
                    (ACL_USER_OBJ, 4, u),
                    (ACL_GROUP_OBJ, 4, u),
                    (ACL_OTHER, 4, u),
                ],
            ),
            "has 2 user:: entries, not one",
        ),
        (
            acl_value(
                2,
                &[
                    (ACL_USER_OBJ, 6, u),
                    (ACL_USER, 6, 1000),
                    (ACL_GROUP_OBJ, 4, u),
                    (ACL_OTHER, 4, u),
                ],
            ),
            "has named user or group entries but no mask:: entry",
        ),
        (
            acl_value(
                2,
                &[
                    (ACL_USER_OBJ, 7, u),
                    (ACL_GROUP_OBJ, 5, u),
                    (ACL_USER, 5, 1000),
                    (ACL_MASK, 7, u),
                    (ACL_OTHER, 5, u),
                ],
            ),
            "has entry 2 (user:1000:r-x) out of order after group::r-x",
        ),
    ]
}

/// A valid ACL of `n` entries (3 to 131): `user::`, named users 1000 on, `group::`, the
/// mask and `other::`.
fn acl_of(n: usize) -> Vec<u8> {
    let u = ACL_UNDEFINED_ID;
    let mut e = vec![(ACL_USER_OBJ, 6, u)];
    e.extend((0..n.saturating_sub(4) as u32).map(|i| (ACL_USER, 4, 1000 + i)));
    e.push((ACL_GROUP_OBJ, 4, u));
    if n > 3 {
        e.push((ACL_MASK, 6, u));
    }
    e.push((ACL_OTHER, 0, u));
    acl_value(2, &e)
}

#[test]
fn valid_acls_are_clean_and_invalid_ones_refused() {
    let dev = fresh(10, 4 << 20);
    let mut fs = open(&dev);
    let d = fs.mkdir(ROOT_INO, b"d", 0o755).unwrap();
    let f = fs.create(d, b"f", 0o644).unwrap();
    let l = fs.symlink(d, b"l", b"f").unwrap();
    let c = fs.mknod(d, b"c", S_IFCHR | 0o600, 0x0103).unwrap();
    // The largest ACL kept inline with 1 KiB blocks: 30 entries, 244 of 246 bytes, named
    // users and groups in id order.
    let max = xattr_inline_max(1024);
    let u = ACL_UNDEFINED_ID;
    let mut e = vec![(ACL_USER_OBJ, 7, u)];
    e.extend((0..13).map(|i| (ACL_USER, 6, 1000 + 3 * i)));
    e.push((ACL_GROUP_OBJ, 5, u));
    e.extend((0..13).map(|i| (ACL_GROUP, 4, 7 * i)));
    e.extend([(ACL_MASK, 7, u), (ACL_OTHER, 0, u)]);
    let big = acl_value(2, &e);
    assert_eq!(big.len(), 4 + 8 * 30);
    assert!(big.len() <= max && big.len() + 8 > max);
    fs.xattr_set(d, XATTR_INDEX_ACL_ACCESS, b"", &big).unwrap();
    fs.xattr_set(d, XATTR_INDEX_ACL_DEFAULT, b"", &default_acl())
        .unwrap();
    fs.xattr_set(f, XATTR_INDEX_ACL_ACCESS, b"", &access_acl(0))
        .unwrap();
    fs.xattr_set(c, XATTR_INDEX_ACL_ACCESS, b"", &acl_of(3))
        .unwrap();
    let inode = fs.read_inode(d).unwrap();
    let chain = fs.xattr_chain(d, &inode).unwrap();
    assert!(chain.attrs.iter().all(|a| a.value_blocks.is_empty()));
    fs.flush().unwrap();
    // What the kernel would refuse is refused, and changes nothing.
    let before = used(&fs);
    let mut refused: Vec<(u64, u8, Vec<u8>, &str)> = bad_acls()
        .into_iter()
        .map(|(v, why)| (f, XATTR_INDEX_ACL_ACCESS, v, why))
        .collect();
    refused.extend([
        (d, XATTR_INDEX_ACL_DEFAULT, Vec::new(), "has 0 bytes"),
        (
            d,
            XATTR_INDEX_ACL_ACCESS,
            acl_of(31),
            "has 252 bytes, more than an ACL may keep inline (246)",
        ),
        (
            f,
            XATTR_INDEX_ACL_DEFAULT,
            default_acl(),
            "a default ACL is only on a directory",
        ),
        (
            c,
            XATTR_INDEX_ACL_DEFAULT,
            default_acl(),
            "a default ACL is only on a directory",
        ),
        (
            l,
            XATTR_INDEX_ACL_ACCESS,
            acl_of(3),
            "symlinks have no ACLs",
        ),
    ]);
    for (ino, index, value, why) in refused {
        let err = fs.xattr_set(ino, index, b"", &value).unwrap_err();
        assert!(err.to_string().contains(why), "{err} ({why})");
    }
    assert_eq!(used(&fs), before);
    assert_eq!(
        fs.xattr_get(f, XATTR_INDEX_ACL_ACCESS, b"").unwrap(),
        Some(access_acl(0))
    );
    assert_eq!(
        fs.xattr_get(d, XATTR_INDEX_ACL_ACCESS, b"").unwrap(),
        Some(big.clone())
    );
    assert_eq!(fs.xattr_get(f, XATTR_INDEX_ACL_DEFAULT, b"").unwrap(), None);
    assert_eq!(fs.xattr_get(l, XATTR_INDEX_ACL_ACCESS, b"").unwrap(), None);
    // The dump decodes the largest one too.
    let out = rextfs_tools::dump::dump_inode(&mut fs, d).unwrap();
    let want = format!(
        "    system.posix_acl_access  244 bytes inline: user::rwx,user:1000:rw-,user:1003:rw-,\
         {},group::r-x,group:0:r--,{},mask::rwx,other::---\n",
        (2..13)
            .map(|i| format!("user:{}:rw-", 1000 + 3 * i))
            .collect::<Vec<_>>()
            .join(","),
        (1..13)
            .map(|i| format!("group:{}:r--", 7 * i))
            .collect::<Vec<_>>()
            .join(",")
    );
    assert!(out.contains(&want), "no {want:?} in\n{out}");
    drop(fs);
    assert_clean(&dev);
}

#[test]
fn invalid_acl_encodings_are_dropped() {
    let (dev, x) = setup();
    let mut fs = open(&dev);
    // One directory per bad ACL, with good ACLs of both kinds and another attribute; the
    // access ACL of the even ones, the default ACL of the odd ones goes bad.
    let mut dirs = Vec::new();
    for (i, (bad, why)) in bad_acls().into_iter().enumerate() {
        let d = fs
            .mkdir(ROOT_INO, format!("bad{i}").as_bytes(), 0o755)
            .unwrap();
        fs.xattr_set(d, XATTR_INDEX_ACL_ACCESS, b"", &access_acl(2000))
            .unwrap();
        fs.xattr_set(d, XATTR_INDEX_ACL_DEFAULT, b"", &default_acl())
            .unwrap();
        fs.xattr_set(d, XATTR_INDEX_TRUSTED, b"t", b"kept").unwrap();
        let index = if i % 2 == 0 {
            XATTR_INDEX_ACL_ACCESS
        } else {
            XATTR_INDEX_ACL_DEFAULT
        };
        let b = xblocks(&mut fs, d)[0];
        let mut want = attrs(&mut fs, d);
        want.retain(|a| a.0 != xattr_full_name(index, b""));
        dirs.push((d, b, index, bad, why, want));
    }
    let before = others(&mut fs, &x, 0);
    fs.flush().unwrap();
    drop(fs);
    assert_clean(&dev);
    // The bad value replaces the good one, as a buggy writer would store it.
    for (_, b, index, bad, _, _) in &dirs {
        patch(&dev, *b, true, |buf| {
            let off = entry_off(buf, *index, b"");
            xattr_block_remove(buf, off).unwrap();
            xattr_block_insert(buf, *index, b"", XattrValue::Inline(bad)).unwrap();
        });
    }
    // The dump shows a bad value as any other, and why it is no ACL.
    let mut fs = open(&dev);
    let out = rextfs_tools::dump::dump_inode(&mut fs, dirs[0].0).unwrap();
    let want = format!(
        "    system.posix_acl_access  28 bytes inline: hex {} (not a valid ACL: it has \
         version 3, not 2)\n",
        rextfs_tools::dump::hex(&dirs[0].3)
    );
    assert!(out.contains(&want), "no {want:?} in\n{out}");
    drop(fs);
    // A preen leaves the drops to a person.
    let img = dev.to_bytes();
    let p = rextfs_tools::fsck::fsck(
        Box::new(dev.clone()),
        &rextfs_tools::fsck::FsckOptions {
            preen: true,
            force: true,
            ..Default::default()
        },
    );
    assert_eq!(p.exit_code, 4, "{:?}", p.lines);
    assert!(dev.to_bytes() == img);
    let line = |(d, b, index, _, why, _): &(u64, u64, u8, Vec<u8>, &str, Attrs)| {
        format!(
            "inode {d}: xattr {} in block {b} is not a valid ACL ({why}), attribute dropped",
            xattr_full_name(*index, b"")
        )
    };
    for d in &dirs {
        let l = line(d);
        assert!(
            p.lines
                .iter()
                .any(|x| x.contains(&l) && x.contains("UNEXPECTED INCONSISTENCY")),
            "no {l:?} in {:?}",
            p.lines
        );
    }
    let (r, _) = assert_detect_and_repair(&dev, &line(&dirs[0]));
    for d in &dirs {
        let l = line(d);
        assert!(
            r.lines.iter().any(|x| x.contains(&l)),
            "no {l:?} in {:?}",
            r.lines
        );
    }
    assert_eq!(r.problems, dirs.len(), "{:?}", r.lines);
    // Only the bad ACL is gone; its block and everything else stay.
    let mut fs = open(&dev);
    for (d, b, _, _, _, want) in &dirs {
        assert_eq!(&attrs(&mut fs, *d), want);
        assert_eq!(xblocks(&mut fs, *d), [*b]);
    }
    assert_eq!(others(&mut fs, &x, 0), before);
}

#[test]
fn default_acl_on_a_regular_file_is_dropped() {
    let (dev, x) = setup();
    let mut fs = open(&dev);
    let want_file = attrs(&mut fs, x.file);
    let want_chr = attrs(&mut fs, x.chr);
    let (bf, bc) = (xblocks(&mut fs, x.file)[0], xblocks(&mut fs, x.chr)[0]);
    drop(fs);
    for b in [bf, bc] {
        patch(&dev, b, true, |buf| {
            let v = default_acl();
            xattr_block_insert(buf, XATTR_INDEX_ACL_DEFAULT, b"", XattrValue::Inline(&v)).unwrap();
        });
    }
    let (r, _) = assert_detect_and_repair(
        &dev,
        &format!(
            "inode {}: xattr system.posix_acl_default in block {bf} on a regular file: a \
             default ACL is only on a directory, attribute dropped",
            x.file
        ),
    );
    let l = format!(
        "inode {}: xattr system.posix_acl_default in block {bc} on a character device: a \
         default ACL is only on a directory, attribute dropped",
        x.chr
    );
    assert!(r.lines.iter().any(|x| x.contains(&l)), "{:?}", r.lines);
    assert_eq!(r.problems, 2, "{:?}", r.lines);
    let mut fs = open(&dev);
    assert_eq!(attrs(&mut fs, x.file), want_file);
    assert_eq!(attrs(&mut fs, x.chr), want_chr);
    // The directory keeps its own.
    assert_eq!(
        fs.xattr_get(x.dir, XATTR_INDEX_ACL_DEFAULT, b"").unwrap(),
        Some(default_acl())
    );
}

#[test]
fn acls_on_a_symlink_are_dropped() {
    let (dev, x) = setup();
    let mut fs = open(&dev);
    let want_fast = attrs(&mut fs, x.fast_link);
    let want_slow = attrs(&mut fs, x.slow_link);
    let bf = xblocks(&mut fs, x.fast_link)[0];
    let bs = xblocks(&mut fs, x.slow_link)[0];
    drop(fs);
    patch(&dev, bf, true, |buf| {
        let v = acl_of(3);
        xattr_block_insert(buf, XATTR_INDEX_ACL_ACCESS, b"", XattrValue::Inline(&v)).unwrap();
    });
    patch(&dev, bs, true, |buf| {
        let v = default_acl();
        xattr_block_insert(buf, XATTR_INDEX_ACL_DEFAULT, b"", XattrValue::Inline(&v)).unwrap();
    });
    let (r, _) = assert_detect_and_repair(
        &dev,
        &format!(
            "inode {}: xattr system.posix_acl_access in block {bf} on a symlink: symlinks \
             have no ACLs, attribute dropped",
            x.fast_link
        ),
    );
    let l = format!(
        "inode {}: xattr system.posix_acl_default in block {bs} on a symlink: symlinks have \
         no ACLs, attribute dropped",
        x.slow_link
    );
    assert!(r.lines.iter().any(|x| x.contains(&l)), "{:?}", r.lines);
    let mut fs = open(&dev);
    assert_eq!(attrs(&mut fs, x.fast_link), want_fast);
    assert_eq!(attrs(&mut fs, x.slow_link), want_slow);
    assert_eq!(fs.readlink(x.fast_link).unwrap(), b"f");
}

#[test]
fn acl_in_value_blocks_or_too_long_is_dropped() {
    let (dev, x) = setup();
    let mut fs = open(&dev);
    let bs = fs.bs();
    // The file's access ACL moves to a value block (the format allows it, the kernel
    // keeps ACLs inline only).
    let acl = access_acl(1000 + x.file as u32);
    let (xb, vb) = value_blocks(&mut fs, x.file, XATTR_INDEX_ACL_ACCESS, b"");
    assert!(vb.is_empty());
    let mut want_file = attrs(&mut fs, x.file);
    want_file.retain(|a| a.0 != "system.posix_acl_access");
    let v = fs.alloc_block(0).unwrap();
    let mut buf = vec![0u8; bs];
    xvalue_block_init(&mut buf, v, x.file, 0, &acl).unwrap();
    meta_seal(&mut buf).unwrap();
    fs.write_block(v, &buf).unwrap();
    let mut buf = fs.read_block(xb).unwrap();
    let off = entry_off(&buf, XATTR_INDEX_ACL_ACCESS, b"");
    xattr_block_remove(&mut buf, off).unwrap();
    let ext = XattrValue::External {
        len: acl.len() as u32,
        block: v,
    };
    xattr_block_insert(&mut buf, XATTR_INDEX_ACL_ACCESS, b"", ext).unwrap();
    meta_seal(&mut buf).unwrap();
    fs.write_block(xb, &buf).unwrap();
    let mut inode = fs.read_inode(x.file).unwrap();
    inode.blocks += 1;
    fs.write_inode(x.file, &inode).unwrap();
    // The directory's access ACL grows to 31 entries, one past what fits inline.
    let long = acl_of(31);
    assert_eq!(long.len(), xattr_inline_max(bs) + 6);
    let db = xblocks(&mut fs, x.dir)[0];
    let mut want_dir = attrs(&mut fs, x.dir);
    want_dir.retain(|a| a.0 != "system.posix_acl_access");
    fs.flush().unwrap();
    let used_before = used(&fs);
    drop(fs);
    patch(&dev, db, true, |buf| {
        let off = entry_off(buf, XATTR_INDEX_ACL_ACCESS, b"");
        xattr_block_remove(buf, off).unwrap();
        xattr_block_insert(buf, XATTR_INDEX_ACL_ACCESS, b"", XattrValue::Inline(&long)).unwrap();
    });
    // Readers still get both, the dump shows them decoded.
    let mut fs = open(&dev);
    assert_eq!(
        fs.xattr_get(x.file, XATTR_INDEX_ACL_ACCESS, b"").unwrap(),
        Some(acl.clone())
    );
    let out = rextfs_tools::dump::dump_inode(&mut fs, x.file).unwrap();
    let want = format!(
        "    system.posix_acl_access  44 bytes in value blocks {v}: {}\n",
        access_acl_text(1000 + x.file as u32)
    );
    assert!(out.contains(&want), "no {want:?} in\n{out}");
    drop(fs);
    let (r, y) = assert_detect_and_repair(
        &dev,
        &format!(
            "inode {}: xattr system.posix_acl_access in block {xb} has its 44 bytes in value \
             blocks: an ACL is always inline, attribute dropped",
            x.file
        ),
    );
    let l = format!(
        "inode {}: xattr system.posix_acl_access in block {db} has 252 bytes, more than an \
         ACL may keep inline (246), attribute dropped",
        x.dir
    );
    assert!(r.lines.iter().any(|x| x.contains(&l)), "{:?}", r.lines);
    // The value block is no one's now: freed.
    assert!(leak_reported(&y.lines, v), "{:?}", y.lines);
    let mut fs = open(&dev);
    assert_eq!(attrs(&mut fs, x.file), want_file);
    assert_eq!(attrs(&mut fs, x.dir), want_dir);
    assert!(!fs.bmap.get(v));
    assert_eq!(used(&fs), used_before - 1);
    let inode = fs.read_inode(x.file).unwrap();
    let chain = fs.xattr_chain(x.file, &inode).unwrap();
    assert_eq!(inode.blocks, 3 + chain.block_count());
}

/// Appends an entry to xattr block `buf` as a buggy writer would, without checking
/// its name (the checksum is left to the caller).
fn append_raw_entry(buf: &mut [u8], index: u8, name: &[u8], value: &[u8]) {
    let used = u32::from_le_bytes(buf[0x20..0x24].try_into().unwrap()) as usize;
    let off = XATTR_HDR_SIZE + used;
    let size = xattr_entry_size(name.len(), Some(value.len()));
    buf[off] = index;
    buf[off + 1] = name.len() as u8;
    buf[off + 2..off + 4].fill(0);
    buf[off + 4..off + 8].copy_from_slice(&(value.len() as u32).to_le_bytes());
    let v = off + XATTR_ENTRY_FIXED + name.len();
    buf[off + XATTR_ENTRY_FIXED..v].copy_from_slice(name);
    buf[v..v + value.len()].copy_from_slice(value);
    buf[0x20..0x24].copy_from_slice(&((used + size) as u32).to_le_bytes());
    let count = xattr_block_count(buf);
    buf[0x24..0x28].copy_from_slice(&(count + 1).to_le_bytes());
}

#[test]
fn name_too_long_with_its_prefix() {
    let (dev, x) = setup();
    let mut fs = open(&dev);
    let f = fs.create(x.dir, b"long", 0o644).unwrap();
    // The longest names of each prefix are fine.
    let longest_user = vec![b'u'; XATTR_NAME_MAX - 5];
    let longest_trusted = vec![b't'; XATTR_NAME_MAX - 8];
    fs.xattr_set(f, XATTR_INDEX_USER, b"before", b"1").unwrap();
    fs.xattr_set(f, XATTR_INDEX_USER, &longest_user, b"2")
        .unwrap();
    fs.xattr_set(f, XATTR_INDEX_TRUSTED, &longest_trusted, b"3")
        .unwrap();
    let b = xblocks(&mut fs, f)[0];
    let mut want = attrs(&mut fs, f);
    fs.flush().unwrap();
    drop(fs);
    assert_clean(&dev);
    // A 251-byte name after `user.` (256 bytes in all) between two good entries.
    let long = vec![b'n'; 251];
    patch(&dev, b, true, |buf| {
        append_raw_entry(buf, XATTR_INDEX_USER, &long, b"too long");
        xattr_block_insert(
            buf,
            XATTR_INDEX_SECURITY,
            b"after",
            XattrValue::Inline(b"4"),
        )
        .unwrap();
    });
    let mut fs = open(&dev);
    let inode = fs.read_inode(f).unwrap();
    assert!(fs.xattr_chain(f, &inode).is_err());
    drop(fs);
    assert_detect_and_repair(
        &dev,
        &format!(
            "inode {f}: xattr user.{} in block {b} has a name longer than 255 bytes with its \
             prefix, attribute dropped",
            String::from_utf8_lossy(&long)
        ),
    );
    // Only that entry is dropped: the block and the entries around it stay.
    let mut fs = open(&dev);
    want.push(("security.after".into(), b"4".to_vec()));
    assert_eq!(attrs(&mut fs, f), want);
    assert_eq!(xblocks(&mut fs, f), [b]);
    assert_eq!(fs.xattr_get(f, XATTR_INDEX_USER, &long).unwrap(), None);
}

#[test]
fn names_past_xattr_list_max() {
    let dev = fresh(12, 16 << 20);
    let mut fs = open(&dev);
    let f = fs.create(ROOT_INO, b"f", 0o644).unwrap();
    // 256 names of 250 bytes: 256 * (5 + 250 + 1) bytes listed, XATTR_LIST_MAX exactly.
    let name = |i: usize| {
        let mut n = format!("{i:03}").into_bytes();
        n.resize(XATTR_NAME_MAX - 5, b'x');
        n
    };
    let n = XATTR_LIST_MAX / (XATTR_NAME_MAX + 1);
    assert_eq!(n, 256);
    for i in 0..n {
        fs.xattr_set(f, XATTR_INDEX_USER, &name(i), b"").unwrap();
    }
    assert_eq!(
        n * xattr_list_size(XATTR_INDEX_USER, &name(0)),
        XATTR_LIST_MAX
    );
    // A new name past the limit is refused and changes nothing, an ACL (listed by its
    // whole name) included; a new value for a name already there still fits.
    let blocks = xblocks(&mut fs, f);
    let before = used(&fs);
    let err = fs.xattr_set(f, XATTR_INDEX_USER, b"x", b"").unwrap_err();
    assert!(err.to_string().contains("XATTR_LIST_MAX"), "{err}");
    assert!(fs.xattr_set(f, XATTR_INDEX_TRUSTED, b"t", b"v").is_err());
    assert_eq!(used(&fs), before);
    assert_eq!(xblocks(&mut fs, f), blocks);
    let err = fs
        .xattr_set(f, XATTR_INDEX_ACL_ACCESS, b"", &access_acl(1000))
        .unwrap_err();
    assert!(err.to_string().contains("XATTR_LIST_MAX"), "{err}");
    fs.xattr_set(f, XATTR_INDEX_USER, &name(7), b"new value")
        .unwrap();
    let mut all = attrs(&mut fs, f);
    assert_eq!(all.len(), n);
    fs.flush().unwrap();
    drop(fs);
    assert_clean(&dev);
    // user.x in the first block, as a buggy writer would add it: in chain order, the
    // last name of the last block is the one past the limit.
    let first = blocks[0];
    let last = *blocks.last().unwrap();
    let mut fs = open(&dev);
    let lb = fs.read_block(last).unwrap();
    let lost: Vec<Vec<u8>> = XattrIter::new(&lb).map(|e| e.name.to_vec()).collect();
    assert_eq!(lost, [name(n - 1)]);
    drop(fs);
    patch(&dev, first, true, |buf| {
        xattr_block_insert(buf, XATTR_INDEX_USER, b"x", XattrValue::Inline(b"")).unwrap();
    });
    assert_detect_and_repair(
        &dev,
        &format!(
            "inode {f}: xattr user.{} in block {last} takes the listed names to {} bytes, \
             past XATTR_LIST_MAX (65536), attribute dropped",
            String::from_utf8_lossy(&name(n - 1)),
            XATTR_LIST_MAX + xattr_list_size(XATTR_INDEX_USER, b"x")
        ),
    );
    // The last block, left empty, is unlinked and freed.
    let mut fs = open(&dev);
    let lost = format!("user.{}", String::from_utf8_lossy(&name(n - 1)));
    all.retain(|a| a.0 != lost);
    all.push(("user.x".into(), Vec::new()));
    let mut got = attrs(&mut fs, f);
    got.sort();
    all.sort();
    assert_eq!(got, all);
    assert_eq!(xblocks(&mut fs, f), blocks[..blocks.len() - 1]);
    assert!(!fs.bmap.get(last));
    assert_eq!(used(&fs), before - 1);
}

#[test]
fn wrong_block_count_and_bitmap_are_found() {
    let (dev, x) = setup();
    let mut fs = open(&dev);
    let mut inode = fs.read_inode(x.fast_link).unwrap();
    let want = inode.blocks;
    inode.blocks += 3;
    fs.write_inode(x.fast_link, &inode).unwrap();
    let vb = value_blocks(&mut fs, x.slow_link, XATTR_INDEX_TRUSTED, b"big").1;
    fs.free_run(vb[1], 1);
    fs.flush().unwrap();
    drop(fs);
    let (r, _) = assert_detect_and_repair(
        &dev,
        &format!(
            "inode {}: block count {}, should be {want}",
            x.fast_link,
            want + 3
        ),
    );
    assert!(r
        .lines
        .iter()
        .any(|l| l.contains(&format!("block {} in use but marked free", vb[1]))));
    let mut fs = open(&dev);
    assert_eq!(fs.read_inode(x.fast_link).unwrap().blocks, want);
    assert!(fs.bmap.get(vb[1]));
}

#[test]
fn orphan_with_attributes_is_freed_completely() {
    let (dev, x) = setup();
    let mut fs = open(&dev);
    let base = used(&fs);
    let free_inodes = fs.sb.free_inodes;
    let o = fs.create(ROOT_INO, b"open", 0o600).unwrap();
    fs.write(o, 0, &pattern(8, 4000)).unwrap();
    fs.xattr_set(o, XATTR_INDEX_USER, b"big", &pattern(9, 65536))
        .unwrap();
    for i in 0..20 {
        fs.xattr_set(
            o,
            XATTR_INDEX_SECURITY,
            format!("s{i}").as_bytes(),
            &[1; 150],
        )
        .unwrap();
    }
    let blocks = xblocks(&mut fs, o);
    assert!(blocks.len() >= 3);
    let chain_blocks = {
        let inode = fs.read_inode(o).unwrap();
        fs.xattr_chain(o, &inode).unwrap()
    };
    fs.unlink(ROOT_INO, b"open", true).unwrap();
    fs.flush().unwrap();
    assert_eq!(fs.sb.orphan_head, o);
    drop(fs);
    let (r, _) =
        assert_detect_and_repair(&dev, &format!("inode {o}: orphan inode not yet deleted"));
    assert!(
        r.lines.iter().all(|l| !l.contains("xattr")),
        "{:?}",
        r.lines
    );
    let mut fs = open(&dev);
    assert_eq!(used(&fs), base);
    assert_eq!(fs.sb.free_inodes, free_inodes);
    for b in chain_blocks.blocks.iter().chain(
        chain_blocks
            .attrs
            .iter()
            .flat_map(|a| a.value_blocks.iter()),
    ) {
        assert!(!fs.bmap.get(*b), "block {b} still in use");
    }
    assert_eq!(attrs(&mut fs, x.many).len(), x.many_attrs.len());
}

#[test]
fn preen_leaves_damaged_attributes_to_a_person() {
    let (dev, x) = setup();
    let mut fs = open(&dev);
    let b = xblocks(&mut fs, x.dir)[0];
    drop(fs);
    patch(&dev, b, false, |buf| buf[0x40] ^= 4);
    let before = dev.to_bytes();
    let p = rextfs_tools::fsck::fsck(
        Box::new(dev.clone()),
        &rextfs_tools::fsck::FsckOptions {
            preen: true,
            force: true,
            ..Default::default()
        },
    );
    assert_eq!(p.exit_code, 4, "{:?}", p.lines);
    assert!(p.lines.iter().any(
        |l| l.contains(&format!("xattr block {b}: checksum mismatch"))
            && l.contains("UNEXPECTED INCONSISTENCY")
    ));
    assert!(dev.to_bytes() == before);
    assert_detect_and_repair(&dev, "checksum mismatch, every attribute dropped");
    let mut fs = open(&dev);
    assert!(attrs(&mut fs, x.dir).is_empty());
    assert!(fs.lookup(x.dir, b"f").unwrap().is_some());
}

#[test]
fn oversized_inode_keeps_its_attributes() {
    // The field at 0x78 was reserved (zero) before attributes: an inode whose size is
    // recomputed must not be refused for having attributes.
    let (dev, x) = setup();
    let mut fs = open(&dev);
    let all = attrs(&mut fs, x.file);
    let (b, off) = fs.sb.inode_location(x.file).unwrap();
    let off = b as usize * fs.bs() + off;
    drop(fs);
    dev.with(|v| {
        let slot = &mut v[off..off + INODE_SIZE];
        slot[0x18..0x20].copy_from_slice(&u64::MAX.to_le_bytes());
        let crc = inode_checksum(x.file, slot);
        slot[INODE_CRC_OFFSET..INODE_CRC_OFFSET + 4].copy_from_slice(&crc.to_le_bytes());
    });
    assert_detect_and_repair(
        &dev,
        &format!("inode {}: size is past the largest file offset", x.file),
    );
    let mut fs = open(&dev);
    assert_eq!(fs.read_inode(x.file).unwrap().size, 3 * 1024);
    assert_eq!(attrs(&mut fs, x.file), all);
}

#[test]
fn dump_shows_attributes() {
    use rextfs_tools::dump::{dump_inode, value_text};
    let (dev, x) = setup();
    let mut fs = open(&dev);
    let inode = fs.read_inode(x.file).unwrap();
    let chain = fs.xattr_chain(x.file, &inode).unwrap();
    let out = dump_inode(&mut fs, x.file).unwrap();
    let b = chain.blocks[0];
    let room = 1024 - XATTR_HDR_SIZE;
    let xb = fs.read_block(b).unwrap();
    let used = room - xattr_block_free(&xb);
    let next = xattr_block_next(&xb);
    let count = xattr_block_count(&xb);
    for want in [
        format!("  xattr block {b}: {count} entries, {used} of {room} bytes used, next {next}\n"),
        "    user.empty  0 bytes inline: \"\"\n".to_string(),
        "    trusted.t  13 bytes inline: \"trusted value\"\n".to_string(),
        "    security.selinux  9 bytes inline: \"u:r:x:s0\\0\"\n".to_string(),
        // ACLs decoded, ids numeric.
        format!(
            "    system.posix_acl_access  44 bytes inline: {}\n",
            access_acl_text(1000 + x.file as u32)
        ),
    ] {
        assert!(out.contains(&want), "no {want:?} in\n{out}");
    }
    let big = chain.attrs.iter().find(|a| a.name == b"largest").unwrap();
    let (first, last) = (big.value_blocks[0], *big.value_blocks.last().unwrap());
    assert_eq!(
        last - first + 1,
        big.value_blocks.len() as u64,
        "contiguous"
    );
    let want = format!(
        "    user.largest  65536 bytes in value blocks {first}-{last}: hex {}...\n",
        rextfs_tools::dump::hex(&pattern(x.file, 32))
    );
    assert!(out.contains(&want), "no {want:?} in\n{out}");
    let dir = dump_inode(&mut fs, x.dir).unwrap();
    for want in [
        format!(
            "    system.posix_acl_access  44 bytes inline: {}\n",
            access_acl_text(1000 + x.dir as u32)
        ),
        "    system.posix_acl_default  28 bytes inline: user::rwx,group::r-x,other::r-x\n"
            .to_string(),
    ] {
        assert!(dir.contains(&want), "no {want:?} in\n{dir}");
    }
    // Fast symlinks and devices show theirs; an inode without any says so.
    assert!(dump_inode(&mut fs, x.fast_link)
        .unwrap()
        .contains("    trusted.t  13 bytes inline: \"trusted value\"\n"));
    assert!(dump_inode(&mut fs, x.data_file)
        .unwrap()
        .contains("  xattrs    none\n"));
    // Damage is shown where it is met, the rest of the inode still printed.
    drop(fs);
    patch(&dev, big.value_blocks[3], true, |b| b[0x20..0x24].fill(0));
    let mut fs = open(&dev);
    let out = dump_inode(&mut fs, x.file).unwrap();
    assert!(
        out.contains(&format!(
            "    user.largest  65536 bytes in value blocks {first}-{}: bad value chain: block {}: \
             bad xattr value block length\n",
            first + 2,
            first + 3
        )),
        "{out}"
    );
    drop(fs);
    patch(&dev, b, false, |b| b[0x30] ^= 1);
    let mut fs = open(&dev);
    let out = dump_inode(&mut fs, x.file).unwrap();
    assert!(
        out.contains(&format!("  xattr block {b}: checksum mismatch\n")),
        "{out}"
    );
    assert!(out.contains("  mode      100644\n"));
    // Values as text or hex.
    assert_eq!(value_text(b""), "\"\"");
    assert_eq!(value_text(b"a\"b\n"), "\"a\\\"b\\n\"");
    assert_eq!(
        value_text(&[b'x'; 70]),
        format!("\"{}\"...", "x".repeat(64))
    );
    assert_eq!(value_text(&[1, 2, 0xff]), "hex 0102ff");
    assert_eq!(value_text(&[0; 40]), format!("hex {}...", "00".repeat(32)));
}

/// A small image (1 KiB blocks, 2 MiB) with attributes on several inodes, built
/// once, and the xattr and value blocks in it.
fn fuzz_base() -> &'static (Vec<u8>, Vec<u64>, Vec<u64>) {
    static IMG: std::sync::OnceLock<(Vec<u8>, Vec<u64>, Vec<u64>)> = std::sync::OnceLock::new();
    IMG.get_or_init(|| {
        let dev = fresh_with_inodes(10, 2 << 20, Some(128));
        let mut fs = open(&dev);
        let d = fs.mkdir(ROOT_INO, b"d", 0o755).unwrap();
        let f = fs.create(d, b"f", 0o644).unwrap();
        fs.write(f, 0, &pattern(1, 2500)).unwrap();
        let l = fs.symlink(d, b"l", b"f").unwrap();
        let c = fs.mknod(d, b"c", S_IFCHR | 0o600, 0x0103).unwrap();
        let m = fs.create(ROOT_INO, b"m", 0o644).unwrap();
        let o = fs.create(ROOT_INO, b"o", 0o644).unwrap();
        for (ino, index) in [
            (f, XATTR_INDEX_USER),
            (d, XATTR_INDEX_USER),
            (l, XATTR_INDEX_TRUSTED),
            (c, XATTR_INDEX_SECURITY),
            (o, XATTR_INDEX_USER),
        ] {
            fs.xattr_set(ino, index, b"small", b"value").unwrap();
            fs.xattr_set(ino, index, b"big", &pattern(ino, 2100))
                .unwrap();
            fs.xattr_set(ino, XATTR_INDEX_TRUSTED, b"e", b"").unwrap();
        }
        fs.xattr_set(d, XATTR_INDEX_ACL_DEFAULT, b"", &default_acl())
            .unwrap();
        fs.xattr_set(f, XATTR_INDEX_ACL_ACCESS, b"", &access_acl(1000))
            .unwrap();
        for i in 0..12 {
            let name = format!("m{i:02}");
            let v = pattern(i, if i % 4 == 0 { 1500 } else { 200 });
            fs.xattr_set(m, XATTR_INDEX_USER, name.as_bytes(), &v)
                .unwrap();
        }
        fs.unlink(ROOT_INO, b"o", true).unwrap();
        let inodes = vec![ROOT_INO, d, f, l, c, m, o];
        let mut blocks = Vec::new();
        for &ino in &inodes {
            let inode = fs.read_inode(ino).unwrap();
            let chain = fs.xattr_chain(ino, &inode).unwrap();
            blocks.extend(chain.blocks.iter().copied());
            blocks.extend(
                chain
                    .attrs
                    .iter()
                    .flat_map(|a| a.value_blocks.iter().copied()),
            );
        }
        fs.flush().unwrap();
        drop(fs);
        // The orphan makes fsck -n report; everything else is clean.
        let r = check(&dev);
        assert_eq!(r.problems, 1, "{:?}", r.lines);
        (dev.to_bytes(), blocks, inodes)
    })
}

/// fsck -n, the dump, a preen and fsck -y on a damaged copy of the fuzz image: no
/// panic, -n and a refused preen write nothing, a repair ends clean.
fn fuzz_check(img: &[u8]) -> std::result::Result<(), TestCaseError> {
    use rextfs_tools::fsck::{fsck, FsckOptions};
    let dev = MemDev::from_bytes(img);
    let r = check(&dev);
    prop_assert!(matches!(r.exit_code, 0 | 4), "{:?}", r.lines);
    prop_assert!(dev.to_bytes() == img, "fsck -n wrote");
    if let Ok(mut fs) = Fs::open(Box::new(dev.clone())) {
        for &ino in &fuzz_base().2 {
            let _ = rextfs_tools::dump::dump_inode(&mut fs, ino);
            let _ = fs.xattr_list(ino);
        }
    }
    let pdev = MemDev::from_bytes(img);
    let p = fsck(
        Box::new(pdev.clone()),
        &FsckOptions {
            preen: true,
            force: true,
            ..Default::default()
        },
    );
    prop_assert!(matches!(p.exit_code, 1 | 4), "{:?}", p.lines);
    if p.exit_code == 4 {
        prop_assert!(pdev.to_bytes() == img, "preen wrote: {:?}", p.lines);
    } else {
        let again = check(&pdev);
        prop_assert_eq!(
            again.exit_code,
            0,
            "{:?}\npreen: {:?}",
            again.lines,
            p.lines
        );
    }
    let y = repair(&dev);
    prop_assert_eq!(y.exit_code, 1, "{:?}", y.lines);
    let again = check(&dev);
    prop_assert_eq!(
        again.exit_code,
        0,
        "{:?}\nrepair: {:?}",
        again.lines,
        y.lines
    );
    // What survives reads back through the image operations.
    let mut fs = open(&dev);
    for &ino in &fuzz_base().2 {
        if let Ok(inode) = fs.read_inode(ino) {
            prop_assert!(fs.xattr_chain(ino, &inode).is_ok());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// One byte of an xattr or value block changed, the checksum recomputed or not.
    #[test]
    fn damaged_attribute_block(pick in 0usize..1000, pos in 0usize..1024, val in 0u8..=255, seal in proptest::bool::ANY) {
        let (img, blocks, _) = fuzz_base();
        let b = blocks[pick % blocks.len()] as usize;
        let mut img = img.clone();
        let blk = &mut img[b * 1024..(b + 1) * 1024];
        blk[pos] = val;
        if seal {
            let _ = meta_seal(blk);
        }
        fuzz_check(&img)?;
    }

    /// A next pointer or an external value's first block redirected to another
    /// attribute block (loops, sharing, other owners) or anywhere, checksum
    /// recomputed.
    #[test]
    fn redirected_attribute_pointer(pick in 0usize..1000, to in 0usize..1000, entry in 0usize..16, anywhere in proptest::bool::ANY) {
        let (img, blocks, _) = fuzz_base();
        let b = blocks[pick % blocks.len()] as usize;
        let target = if anywhere { (to % 2048) as u64 } else { blocks[to % blocks.len()] };
        let mut img = img.clone();
        let blk = &mut img[b * 1024..(b + 1) * 1024];
        let mut at = 0x18;
        if meta_magic(blk) == Some(XATTR_MAGIC) {
            let ext: Vec<usize> = XattrIter::new(blk)
                .filter(|e| matches!(e.value, XattrValue::External { .. }))
                .map(|e| e.off + XATTR_ENTRY_FIXED + e.name.len())
                .collect();
            if !ext.is_empty() && entry % 2 == 1 {
                at = ext[entry / 2 % ext.len()];
            }
        }
        blk[at..at + 8].copy_from_slice(&target.to_le_bytes());
        meta_seal(blk).unwrap();
        fuzz_check(&img)?;
    }
}

#[test]
fn preen_repairs_block_counts_and_leaks_of_attributes() {
    let (dev, x) = setup();
    let mut fs = open(&dev);
    let mut inode = fs.read_inode(x.sock).unwrap();
    let want = inode.blocks;
    inode.blocks -= 1;
    fs.write_inode(x.sock, &inode).unwrap();
    // And a block marked in use that nothing uses (leaked).
    let leaked = fs.alloc_block(0).unwrap();
    fs.flush().unwrap();
    drop(fs);
    let p = rextfs_tools::fsck::fsck(
        Box::new(dev.clone()),
        &rextfs_tools::fsck::FsckOptions {
            preen: true,
            force: true,
            ..Default::default()
        },
    );
    assert_eq!(p.exit_code, 1, "{:?}", p.lines);
    assert!(p.lines.iter().any(|l| l.contains(&format!(
        "inode {}: block count {}, should be {want} (fixed)",
        x.sock,
        want - 1
    ))));
    assert!(leak_reported(&p.lines, leaked), "{:?}", p.lines);
    assert_clean(&dev);
    let mut fs = open(&dev);
    assert_eq!(fs.read_inode(x.sock).unwrap().blocks, want);
    assert_eq!(attrs(&mut fs, x.sock).len(), 4);
}
