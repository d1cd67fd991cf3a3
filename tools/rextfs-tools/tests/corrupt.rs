// SPDX-License-Identifier: GPL-2.0

//! fsck detects damage (exit 4 with -n, image untouched), repairs it with
//! -y (exit 1), and the result is clean (exit 0) with data preserved.

mod common;

use common::*;
use rextfs_tools::format::*;
use rextfs_tools::{Fs, MemDev};

fn inode_offset(fs: &Fs, ino: u64) -> usize {
    let (b, off) = fs.sb.inode_location(ino).unwrap();
    b as usize * fs.bs() + off
}

fn block_offset(fs: &Fs, b: u64) -> usize {
    b as usize * fs.bs()
}

fn setup() -> (MemDev, Tree) {
    let dev = fresh(12, 16 << 20);
    let mut fs = open(&dev);
    let t = populate(&mut fs, 400);
    drop(fs);
    assert_clean(&dev);
    (dev, t)
}

#[test]
fn corrupted_inode_checksum() {
    let (dev, t) = setup();
    let fs = open(&dev);
    let off = inode_offset(&fs, t.frag);
    dev.with(|v| v[off + 8] ^= 0x40);
    let (r, _) = assert_detect_and_repair(&dev, &format!("inode {}: checksum mismatch", t.frag));
    assert!(r.lines.len() >= 2);
    // The damaged inode is gone, its name too, its blocks are free again.
    let mut fs = open(&dev);
    assert!(fs.lookup(ROOT_INO, b"fragmented").unwrap().is_none());
    assert_eq!(fs.read(t.file).unwrap(), t.file_data);
}

#[test]
fn corrupted_superblock_checksum_and_counts() {
    let (dev, _) = setup();
    dev.with(|v| v[0x28] ^= 1);
    assert_detect_and_repair(&dev, "superblock: checksum mismatch");
    let fs = open(&dev);
    let mut s = fs.sb;
    s.free_inodes += 3;
    s.state = STATE_ERRORS;
    let mut buf = vec![0u8; SB_SIZE];
    s.encode(&mut buf).unwrap();
    dev.with(|v| v[..SB_SIZE].copy_from_slice(&buf));
    let (r, _) = assert_detect_and_repair(&dev, "free inode count");
    assert!(r.lines.iter().any(|l| l.contains("not cleanly unmounted")));
    assert!(r.lines.iter().any(|l| l.contains("errors were recorded")));
}

#[test]
fn doubly_used_block_is_cloned() {
    let (dev, t) = setup();
    let mut fs = open(&dev);
    let victim = fs.create(ROOT_INO, b"victim", 0o644).unwrap();
    fs.write(victim, 0, &pattern(77, 4096)).unwrap();
    let file_inode = fs.read_inode(t.file).unwrap();
    let file_ext = fs.extents(t.file, &file_inode).unwrap();
    let shared = file_ext[0].physical;
    let mut vi = fs.read_inode(victim).unwrap();
    let mut e: Extent = node_get(&vi.area, NodeForm::Inline, 0).unwrap();
    let old = e.physical;
    e.physical = shared;
    node_set(&mut vi.area, NodeForm::Inline, 0, &e).unwrap();
    fs.write_inode(victim, &vi).unwrap();
    fs.flush().unwrap();
    drop(fs);
    let (r, y) = assert_detect_and_repair(
        &dev,
        &format!(
            "inode {victim}: block {shared} also used by inode {}",
            t.file
        ),
    );
    assert!(
        r.lines
            .iter()
            .any(|l| l.contains(&format!("block {old} marked in use but free"))),
        "{:?}",
        r.lines
    );
    assert!(y
        .lines
        .iter()
        .any(|l| l.contains("also used by") && l.ends_with("(fixed)")));
    let mut fs = open(&dev);
    // Both files keep their (now separate) contents.
    assert_eq!(fs.read(t.file).unwrap(), t.file_data);
    assert_eq!(fs.read(victim).unwrap(), t.file_data[..4096].to_vec());
    let vi = fs.read_inode(victim).unwrap();
    assert_ne!(fs.extents(victim, &vi).unwrap()[0].physical, shared);
}

#[test]
fn wrong_link_counts() {
    let (dev, t) = setup();
    let mut fs = open(&dev);
    let mut f = fs.read_inode(t.file).unwrap();
    f.nlink = 5;
    fs.write_inode(t.file, &f).unwrap();
    let mut d = fs.read_inode(t.dir).unwrap();
    d.nlink = 2;
    d.parent = t.big_dir;
    fs.write_inode(t.dir, &d).unwrap();
    drop(fs);
    let (r, _) = assert_detect_and_repair(
        &dev,
        &format!("inode {}: link count 5, should be 2", t.file),
    );
    assert!(r
        .lines
        .iter()
        .any(|l| l.contains(&format!("directory {}: link count 2, should be 3", t.dir))));
    assert!(r.lines.iter().any(|l| l.contains(&format!(
        "directory {}: parent is {}, should be 1",
        t.dir, t.big_dir
    ))));
    let mut fs = open(&dev);
    assert_eq!(fs.read_inode(t.file).unwrap().nlink, 2);
}

#[test]
fn bad_directory_entry() {
    let (dev, t) = setup();
    let mut fs = open(&dev);
    let di = fs.read_inode(t.dir).unwrap();
    let (p, _) = fs.map_block(t.dir, &di, 0).unwrap().unwrap();
    let mut buf = fs.read_block(p).unwrap();
    let (off, e) = dirblock_find(&buf, b"fifo").unwrap().unwrap();
    let fifo = e.ino;
    buf[off + DIRENT_FIXED + 1] = b'/';
    dirblock_seal(&mut buf).unwrap();
    fs.write_block(p, &buf).unwrap();
    drop(fs);
    let (_, y) = assert_detect_and_repair(
        &dev,
        &format!(
            "directory {} block 0 (block {p}): entry at offset {off}: invalid name",
            t.dir
        ),
    );
    // The inode lost its only name and was reconnected.
    assert!(y
        .lines
        .iter()
        .any(|l| l.contains(&format!("inode {fifo}: not referenced by any directory"))));
    let mut fs = open(&dev);
    let lf = fs.lookup(ROOT_INO, b"lost+found").unwrap().unwrap().0;
    assert_eq!(
        fs.lookup(lf, format!("#{fifo}").as_bytes())
            .unwrap()
            .map(|x| x.0),
        Some(fifo)
    );
}

#[test]
fn bad_entry_length_and_wrong_type() {
    let (dev, t) = setup();
    let mut fs = open(&dev);
    let di = fs.read_inode(t.dir).unwrap();
    let (p, _) = fs.map_block(t.dir, &di, 0).unwrap().unwrap();
    let mut buf = fs.read_block(p).unwrap();
    let (off, _) = dirblock_find(&buf, b"fast").unwrap().unwrap();
    buf[off + 11] = FT_REG;
    let (off2, _) = dirblock_find(&buf, b"loop0").unwrap().unwrap();
    buf[off2 + 8] = 13; // rec_len not a multiple of 8
    dirblock_seal(&mut buf).unwrap();
    fs.write_block(p, &buf).unwrap();
    drop(fs);
    let (r, _) = assert_detect_and_repair(&dev, "bad directory entry length");
    assert!(
        r.lines
            .iter()
            .any(|l| l.contains("entry 'fast' has file type 8")),
        "{:?}",
        r.lines
    );
}

#[test]
fn directory_block_checksum_and_magic() {
    let (dev, t) = setup();
    let mut fs = open(&dev);
    let bi = fs.read_inode(t.big_dir).unwrap();
    let (p1, _) = fs.map_block(t.big_dir, &bi, 1).unwrap().unwrap();
    let (p2, _) = fs.map_block(t.big_dir, &bi, 2).unwrap().unwrap();
    let names_before = fs.read_dir(t.big_dir).unwrap().len();
    let o1 = block_offset(&fs, p1);
    let o2 = block_offset(&fs, p2);
    drop(fs);
    // Block 1: checksum only (entries survive). Block 2: bad magic (its
    // entries are lost, their inodes go to lost+found).
    dev.with(|v| {
        v[o1 + 4] ^= 0xff;
        v[o2] ^= 0xff;
    });
    let (_, y) = assert_detect_and_repair(&dev, "checksum mismatch");
    assert!(y
        .lines
        .iter()
        .any(|l| l.contains("bad magic number, entries lost")));
    let mut fs = open(&dev);
    let lf = fs.lookup(ROOT_INO, b"lost+found").unwrap().unwrap().0;
    let moved = fs.read_dir(lf).unwrap().len();
    assert!(moved > 0);
    assert_eq!(fs.read_dir(t.big_dir).unwrap().len() + moved, names_before);
}

#[test]
fn stale_or_broken_hash_index_is_rebuilt() {
    let (dev, t) = setup();
    let mut fs = open(&dev);
    let mut bi = fs.read_inode(t.big_dir).unwrap();
    let rb = bi.dir_index_root;
    assert_ne!(rb, 0);
    let mut root = fs.read_block(rb).unwrap();
    let some = fs
        .tree_range(&root, NodeForm::Block, t.big_dir, 0, u64::MAX)
        .unwrap()[5];
    let mut delta = 0;
    fs.tree_remove(&mut root, NodeForm::Block, t.big_dir, some, &mut delta)
        .unwrap();
    fs.write_block(rb, &root).unwrap();
    bi.blocks = bi.blocks.wrapping_add_signed(delta);
    fs.write_inode(t.big_dir, &bi).unwrap();
    drop(fs);
    assert_detect_and_repair(&dev, "hash index does not match the entries");
    // Now drop the index altogether.
    let mut fs = open(&dev);
    let mut bi = fs.read_inode(t.big_dir).unwrap();
    bi.dir_index_root = 0;
    fs.write_inode(t.big_dir, &bi).unwrap();
    drop(fs);
    assert_detect_and_repair(&dev, "but no hash index");
    let mut fs = open(&dev);
    for e in fs.read_dir(t.big_dir).unwrap() {
        assert_eq!(
            fs.lookup(t.big_dir, &e.name).unwrap().map(|x| x.0),
            Some(e.ino)
        );
    }
}

#[test]
fn extent_node_checksum_rebuilds_tree_keeping_data() {
    let (dev, t) = setup();
    let mut fs = open(&dev);
    let fi = fs.read_inode(t.frag).unwrap();
    let nodes = fs.extent_nodes(t.frag, &fi).unwrap();
    assert!(!nodes.is_empty());
    let before = fs.read(t.frag).unwrap();
    let o = block_offset(&fs, nodes[0]);
    drop(fs);
    dev.with(|v| v[o + 5] ^= 0x01);
    assert_detect_and_repair(
        &dev,
        &format!(
            "inode {}: extent tree node at block {}: checksum mismatch",
            t.frag, nodes[0]
        ),
    );
    let mut fs = open(&dev);
    assert_eq!(fs.read(t.frag).unwrap(), before);
}

#[test]
fn extent_node_garbage_drops_subtree() {
    let (dev, t) = setup();
    let mut fs = open(&dev);
    let fi = fs.read_inode(t.frag).unwrap();
    let nodes = fs.extent_nodes(t.frag, &fi).unwrap();
    let o = block_offset(&fs, nodes[0]);
    drop(fs);
    dev.with(|v| v[o..o + 64].fill(0xAA));
    assert_detect_and_repair(&dev, "bad magic number");
}

#[test]
fn bitmaps_and_leaks() {
    let (dev, t) = setup();
    let mut fs = open(&dev);
    let fi = fs.read_inode(t.file).unwrap();
    let p = fs.extents(t.file, &fi).unwrap()[0].physical;
    // Mark a used block free, a free block used, leak an inode bit.
    fs.bmap.set(p, false);
    fs.bmap.set(fs.sb.total_blocks - 1, true);
    fs.imap.set(fs.sb.total_inodes - 1, true);
    fs.flush().unwrap();
    drop(fs);
    let (r, _) = assert_detect_and_repair(
        &dev,
        &format!("block bitmap: block {p} in use but marked free"),
    );
    assert!(r.lines.iter().any(|l| l.contains("marked in use but free")));
    // Bitmap block checksum.
    let fs = open(&dev);
    let o = block_offset(&fs, fs.sb.layout.block_bitmap_start);
    drop(fs);
    dev.with(|v| v[o + 100] ^= 0x80);
    assert_detect_and_repair(&dev, "block bitmap block 1: checksum mismatch");
}

#[test]
fn unattached_inodes_and_stale_slots() {
    let (dev, t) = setup();
    let mut fs = open(&dev);
    // Drop a name without touching the inode: it becomes unattached.
    fs.remove_entry(t.dir, b"file").unwrap();
    // A subtree: remove "sub" from dir, subsub stays below it.
    let sub = fs.lookup(t.dir, b"sub").unwrap().unwrap().0;
    fs.remove_entry(t.dir, b"sub").unwrap();
    // A zero-link unattached inode.
    let z = fs.create(ROOT_INO, b"zero", 0o644).unwrap();
    fs.remove_entry(ROOT_INO, b"zero").unwrap();
    let mut zi = fs.read_inode(z).unwrap();
    zi.nlink = 0;
    fs.write_inode(z, &zi).unwrap();
    // Garbage in a free slot.
    let free_ino = fs.sb.total_inodes - 3;
    let off = inode_offset(&fs, free_ino);
    fs.flush().unwrap();
    drop(fs);
    dev.with(|v| v[off + 17] = 1);
    let (r, _) = assert_detect_and_repair(
        &dev,
        &format!("inode {sub}: not referenced by any directory"),
    );
    assert!(r
        .lines
        .iter()
        .any(|l| l.contains(&format!("inode {z}: unattached inode with no links"))));
    assert!(r
        .lines
        .iter()
        .any(|l| l.contains(&format!("inode {free_ino}: free inode slot is not zeroed"))));
    let mut fs = open(&dev);
    let lf = fs.lookup(ROOT_INO, b"lost+found").unwrap().unwrap().0;
    let names: Vec<String> = fs
        .read_dir(lf)
        .unwrap()
        .iter()
        .map(|e| String::from_utf8_lossy(&e.name).into_owned())
        .collect();
    assert!(names.contains(&format!("#{sub}")));
    // "file" still had its hard link in the root: not unattached.
    assert!(!names.contains(&format!("#{}", t.file)));
    assert!(fs.lookup(sub, b"subsub").unwrap().is_some());
    assert_eq!(fs.read_inode(sub).unwrap().parent, lf);
    assert_eq!(fs.read_inode(t.file).unwrap().nlink, 1);
}

#[test]
fn orphan_list_damage() {
    let (dev, t) = setup();
    let fs = open(&dev);
    let mut s = fs.sb;
    // Head points to a linked inode.
    s.orphan_head = t.file;
    let mut buf = vec![0u8; SB_SIZE];
    s.encode(&mut buf).unwrap();
    drop(fs);
    dev.with(|v| v[..SB_SIZE].copy_from_slice(&buf));
    assert_detect_and_repair(&dev, "on the orphan list but still linked");
}

#[test]
fn inode_size_past_largest_offset_is_recomputed() {
    let (dev, t) = setup();
    let fs = open(&dev);
    let off = inode_offset(&fs, t.file);
    let bs = fs.bs();
    drop(fs);
    for bad in [u64::MAX, 1u64 << 63] {
        dev.with(|v| {
            let slot = &mut v[off..off + INODE_SIZE];
            slot[0x18..0x20].copy_from_slice(&bad.to_le_bytes());
            let crc = inode_checksum(t.file, slot);
            slot[INODE_CRC_OFFSET..INODE_CRC_OFFSET + 4].copy_from_slice(&crc.to_le_bytes());
        });
        assert_detect_and_repair(
            &dev,
            &format!("inode {}: size is past the largest file offset", t.file),
        );
        // The inode is kept, its size is the end of its last block, the data intact.
        let mut fs = open(&dev);
        let inode = fs.read_inode(t.file).unwrap();
        assert_eq!(
            inode.size,
            t.file_data.len().div_ceil(bs) as u64 * bs as u64
        );
        let data = fs.read(t.file).unwrap();
        assert_eq!(&data[..t.file_data.len()], &t.file_data[..]);
        assert!(data[t.file_data.len()..].iter().all(|&b| b == 0));
        // Back to the real size for the next round.
        let mut i = inode;
        i.size = t.file_data.len() as u64;
        fs.write_inode(t.file, &i).unwrap();
        fs.flush().unwrap();
        drop(fs);
        assert_clean(&dev);
    }
}
