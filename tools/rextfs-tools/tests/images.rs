// SPDX-License-Identifier: GPL-2.0

//! Non-trivial images built with the library: large indexed directories,
//! fragmented and deep extent trees, TiB offsets, symlinks, orphans. Each
//! must read back correctly and pass fsck.

mod common;

use common::*;
use rextfs_tools::format::*;

#[test]
fn large_directory_with_hash_index() {
    let dev = fresh_with_inodes(12, 64 << 20, Some(25_000));
    let mut fs = open(&dev);
    let d = fs.mkdir(ROOT_INO, b"many", 0o755).unwrap();
    let n = 20_000;
    for i in 0..n {
        fs.create(d, format!("file-{i}").as_bytes(), 0o644).unwrap();
    }
    fs.flush().unwrap();
    let inode = fs.read_inode(d).unwrap();
    assert!(inode.size / 4096 > 2);
    assert_ne!(inode.dir_index_root, 0);
    let root = fs.read_block(inode.dir_index_root).unwrap();
    let h = node_header(&root, NodeForm::Block).unwrap();
    assert!(h.level >= 1, "20000 keys need an interior root");
    for i in (0..n).step_by(997) {
        let name = format!("file-{i}");
        assert!(fs.lookup(d, name.as_bytes()).unwrap().is_some(), "{name}");
    }
    assert!(fs.lookup(d, b"file-x").unwrap().is_none());
    assert_eq!(fs.read_dir(d).unwrap().len(), n);
    assert_clean(&dev);

    // Removing names keeps the index in step; offsets of survivors are
    // stable.
    let mut fs = open(&dev);
    let before: Vec<_> = fs.read_dir(d).unwrap();
    for i in (0..n).step_by(3) {
        fs.unlink(d, format!("file-{i}").as_bytes(), false).unwrap();
    }
    fs.flush().unwrap();
    let after = fs.read_dir(d).unwrap();
    let survivors: Vec<_> = before
        .into_iter()
        .filter(|e| !after.is_empty() && after.contains(e))
        .collect();
    assert_eq!(survivors.len(), after.len());
    assert_clean(&dev);
}

#[test]
fn deep_extent_tree_and_small_fanout_index() {
    let dev = fresh(10, 16 << 20);
    let mut fs = open(&dev);
    fs.node_max = Some(3);
    let f = fs.create(ROOT_INO, b"deep", 0o644).unwrap();
    let data = pattern(9, 1024);
    // 150 separate extents (holes between them) with fanout 3: 5 levels.
    for i in 0..150u64 {
        fs.write(f, i * 3 * 1024, &data).unwrap();
    }
    fs.node_max = Some(4);
    let d = fs.mkdir(ROOT_INO, b"idx", 0o755).unwrap();
    for i in 0..150 {
        fs.create(d, format!("n{i}").as_bytes(), 0o644).unwrap();
    }
    fs.flush().unwrap();
    let inode = fs.read_inode(f).unwrap();
    let h = node_header(&inode.area, NodeForm::Inline).unwrap();
    assert!(h.level >= 3, "150 extents with fanout 3 need a deep tree");
    assert_eq!(fs.extents(f, &inode).unwrap().len(), 150);
    let content = fs.read(f).unwrap();
    for i in 0..150usize {
        assert_eq!(&content[i * 3072..i * 3072 + 1024], &data[..]);
    }
    let di = fs.read_inode(d).unwrap();
    let root = fs.read_block(di.dir_index_root).unwrap();
    assert!(node_header(&root, NodeForm::Block).unwrap().level >= 2);
    assert_clean(&dev);
    // The tree is full at depth 5 with fanout 3: 3^5 = 243 leaf records.
    let mut fs = open(&dev);
    fs.node_max = Some(3);
    let mut inode = fs.read_inode(f).unwrap();
    let mut err = None;
    for i in 150..400u64 {
        let e = Extent {
            logical: 100_000 + i * 2,
            physical: 0,
            len: 1,
            flags: 0,
        };
        let p = fs.alloc_block(0).unwrap();
        if let Err(x) = fs.add_extent(f, &mut inode, Extent { physical: p, ..e }) {
            err = Some(x.to_string());
            break;
        }
    }
    assert!(err.unwrap_or_default().contains("too deep"));
}

#[test]
fn fragmented_and_huge_files() {
    let dev = fresh(12, 32 << 20);
    let mut fs = open(&dev);
    let f = fs.create(ROOT_INO, b"frag", 0o644).unwrap();
    let blk = pattern(4, 4096);
    for i in 0..2000u64 {
        fs.write(f, i * 2 * 4096, &blk).unwrap();
    }
    let inode = fs.read_inode(f).unwrap();
    let ext = fs.extents(f, &inode).unwrap();
    assert_eq!(ext.len(), 2000);
    let h = node_header(&inode.area, NodeForm::Inline).unwrap();
    assert!(h.level >= 1);
    assert_eq!(
        inode.blocks,
        2000 + fs.extent_nodes(f, &inode).unwrap().len() as u64
    );

    // Offsets near the largest file size: 2^63 - 1 bytes.
    let big = fs.create(ROOT_INO, b"huge", 0o644).unwrap();
    let last_block = (1u64 << 63) / 4096 - 1;
    fs.write(big, last_block * 4096, b"end").unwrap();
    fs.write(big, 1 << 40, b"tib").unwrap();
    fs.fallocate(big, 1000, 300).unwrap();
    let inode = fs.read_inode(big).unwrap();
    assert_eq!(inode.size, last_block * 4096 + 3);
    assert_eq!(
        fs.map_block(big, &inode, 1000).unwrap().map(|x| x.1),
        Some(true)
    );
    assert_eq!(
        fs.map_block(big, &inode, (1 << 40) / 4096)
            .unwrap()
            .map(|x| x.1),
        Some(false)
    );
    assert_eq!(fs.map_block(big, &inode, 5).unwrap(), None);
    fs.flush().unwrap();
    assert_clean(&dev);
}

#[test]
fn symlinks_links_and_specials() {
    let dev = fresh(10, 8 << 20);
    let mut fs = open(&dev);
    let t = populate(&mut fs, 50);
    let max = "x".repeat(MAX_SYMLINK_LEN as usize);
    let l = fs.symlink(t.dir, b"longest", max.as_bytes()).unwrap();
    let fast = fs
        .symlink(t.dir, b"fast128", "y".repeat(FAST_SYMLINK_MAX).as_bytes())
        .unwrap();
    assert!(fs
        .symlink(t.dir, b"toolong", "z".repeat(4096).as_bytes())
        .is_err());
    fs.flush().unwrap();
    assert_eq!(fs.readlink(l).unwrap(), max.as_bytes());
    let li = fs.read_inode(l).unwrap();
    assert_eq!(li.blocks, 4, "4095 bytes take four 1 KiB blocks");
    assert!(fs.read_inode(fast).unwrap().has_inline_data());
    assert_eq!(fs.read_inode(t.file).unwrap().nlink, 2);
    assert_eq!(
        fs.lookup(t.dir, b"null").unwrap().map(|x| x.1),
        Some(FT_CHR)
    );
    assert!(fs.lookup(t.dir, b"gone").unwrap().is_none());
    assert_eq!(fs.read_inode(t.big_dir).unwrap().nlink, 2);
    assert_eq!(fs.read_inode(ROOT_INO).unwrap().nlink, 4);
    assert!(fs.mkdir(t.dir, b"file", 0o755).is_err(), "duplicate name");
    assert!(fs.create(t.dir, b"a/b", 0o644).is_err());
    assert_clean(&dev);
}

#[test]
fn orphans_are_reported_and_freed() {
    let dev = fresh(12, 8 << 20);
    let mut fs = open(&dev);
    let f = fs.create(ROOT_INO, b"open-file", 0o644).unwrap();
    fs.write(f, 0, &pattern(5, 10_000)).unwrap();
    let g = fs.create(ROOT_INO, b"other", 0o644).unwrap();
    fs.unlink(ROOT_INO, b"open-file", true).unwrap();
    fs.unlink(ROOT_INO, b"other", true).unwrap();
    fs.flush().unwrap();
    assert_eq!(fs.sb.orphan_head, g);
    let free_before = fs.sb.free_blocks;
    let (r, _) = assert_detect_and_repair(&dev, "orphan inode not yet deleted");
    assert_eq!(r.lines.iter().filter(|l| l.contains("orphan")).count(), 2);
    let fs = open(&dev);
    assert_eq!(fs.sb.orphan_head, 0);
    assert_eq!(fs.sb.free_blocks, free_before + 3);
    assert_eq!(fs.sb.free_inodes, fs.sb.total_inodes - (FIRST_INO - 1));
}
