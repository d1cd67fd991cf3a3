// SPDX-License-Identifier: GPL-2.0

//! Fuzz-style properties: random damage to a valid image never makes fsck,
//! the image library or the dump printer panic, and a repaired image is
//! clean. Case counts are bounded to keep the suite fast.

mod common;

use common::*;
use proptest::prelude::*;
use rextfs_tools::fsck::{fsck, FsckOptions};
use rextfs_tools::{dump, Fs, MemDev};
use std::sync::OnceLock;

/// A small but varied image (1 KiB blocks, 2 MiB), built once.
fn base_image() -> &'static Vec<u8> {
    static IMG: OnceLock<Vec<u8>> = OnceLock::new();
    IMG.get_or_init(|| {
        let dev = fresh_with_inodes(10, 2 << 20, Some(256));
        let mut fs = open(&dev);
        populate(&mut fs, 120);
        fs.node_max = Some(3);
        let f = fs.create(1, b"deep", 0o644).unwrap();
        for i in 0..40u64 {
            fs.write(f, i * 2048, b"0123456789").unwrap();
        }
        fs.flush().unwrap();
        drop(fs);
        assert_clean(&dev);
        dev.to_bytes()
    })
}

/// Offsets of the metadata worth damaging: every byte in use by the
/// filesystem except file data is in the first blocks of this image.
fn used_len() -> usize {
    let img = base_image();
    let dev = MemDev::from_bytes(img);
    let fs = open(&dev);
    let bs = fs.bs();
    // Find the last used block.
    let last = (0..fs.sb.total_blocks)
        .rev()
        .find(|&b| fs.bmap.get(b))
        .unwrap();
    (last as usize + 1) * bs
}

fn exercise_library(dev: &MemDev) {
    if let Ok(mut fs) = Fs::open(Box::new(dev.clone())) {
        let _ = dump::dump_sb(&fs.sb);
        let _ = dump::dump_bitmap(&mut fs);
        for ino in 1..40 {
            let _ = dump::dump_inode(&mut fs, ino);
            let _ = dump::dump_tree(&mut fs, ino);
            let _ = dump::dump_dir(&mut fs, ino);
            let _ = fs.read_dir(ino);
            let _ = fs.lookup(ino, b"file");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    /// Random byte changes anywhere in the used part of the image.
    #[test]
    fn mutated_images(muts in proptest::collection::vec((any::<u32>(), any::<u8>()), 1..12)) {
        let n = used_len();
        let mut img = base_image().clone();
        for (pos, val) in muts {
            let p = pos as usize % n;
            img[p] = val;
        }
        let dev = MemDev::from_bytes(&img);
        let r = fsck(Box::new(dev.clone()), &FsckOptions { repair: false, verbose: true, ..Default::default() });
        prop_assert!(matches!(r.exit_code, 0 | 4 | 8), "{:?}", r.lines);
        prop_assert_eq!(dev.to_bytes(), img.clone(), "fsck -n wrote to the image");
        exercise_library(&dev);
        // A preen either repairs everything or, when something needs a
        // person (exit 4), writes nothing at all.
        let pdev = MemDev::from_bytes(&img);
        let p = fsck(Box::new(pdev.clone()), &FsckOptions { preen: true, force: true, ..Default::default() });
        prop_assert!(matches!(p.exit_code, 0 | 1 | 4 | 8), "{:?}", p.lines);
        if p.exit_code == 4 {
            prop_assert!(pdev.to_bytes() == img, "preen wrote although it gave up: {:?}", p.lines);
            prop_assert!(p.manual > 0);
        }
        if p.exit_code == 1 {
            let again = fsck(Box::new(pdev.clone()), &FsckOptions::default());
            prop_assert_eq!(again.exit_code, 0, "after preen: {:?}\npreen: {:?}", again.lines, p.lines);
        }
        let y = fsck(Box::new(dev.clone()), &FsckOptions { repair: true, verbose: false, ..Default::default() });
        prop_assert!(matches!(y.exit_code, 0 | 1 | 4 | 5 | 8), "{:?}", y.lines);
        if y.exit_code == 1 {
            let again = fsck(Box::new(dev.clone()), &FsckOptions::default());
            prop_assert_eq!(again.exit_code, 0, "after repair: {:?}\nrepair: {:?}", again.lines, y.lines);
        }
    }

    /// Structure-aware damage: a checksum-correct change to one metadata
    /// block (the checksum is recomputed so deeper checks are reached).
    #[test]
    fn resealed_metadata(block in 0u64..200, pos in 24usize..1024, val in any::<u8>()) {
        let mut img = base_image().clone();
        let bs = 1024usize;
        let start = block as usize * bs;
        let b = &mut img[start..start + bs];
        if pos < b.len() {
            b[pos] = val;
        }
        if rextfs_tools::format::meta_magic(b).is_some_and(|m| m != 0) {
            let _ = rextfs_tools::format::meta_seal(b);
        }
        let dev = MemDev::from_bytes(&img);
        let r = fsck(Box::new(dev.clone()), &FsckOptions::default());
        prop_assert!(matches!(r.exit_code, 0 | 4 | 8), "{:?}", r.lines);
        exercise_library(&dev);
        let y = fsck(Box::new(dev.clone()), &FsckOptions { repair: true, verbose: false, ..Default::default() });
        if y.exit_code == 1 {
            let again = fsck(Box::new(dev.clone()), &FsckOptions::default());
            prop_assert_eq!(again.exit_code, 0, "after repair: {:?}\nrepair: {:?}", again.lines, y.lines);
        }
    }

    /// Entirely random images with a plausible superblock.
    #[test]
    fn random_images(seed in any::<u64>(), keep_sb in any::<bool>()) {
        let mut img = pattern(seed, 2 << 20);
        if keep_sb {
            img[..1024].copy_from_slice(&fresh(10, 2 << 20).to_bytes()[..1024]);
        }
        let dev = MemDev::from_bytes(&img);
        let r = fsck(Box::new(dev.clone()), &FsckOptions::default());
        prop_assert!(matches!(r.exit_code, 4 | 8), "{:?}", r.lines);
        let _ = fsck(Box::new(dev.clone()), &FsckOptions { repair: true, verbose: false, ..Default::default() });
        exercise_library(&dev);
    }
}

/// A counterexample `mutated_images` once found: one byte in an extent node of
/// a file makes it claim a directory's block. `fsck -y` gives the directory a
/// copy of the block, and that copy must record its new location, so that a
/// second check is clean. (The damage is made by hand, as the byte's offset
/// moves with the layout.)
#[test]
fn repair_of_block_shared_with_a_directory_is_final() {
    use rextfs_tools::format::*;
    let dev = MemDev::from_bytes(base_image());
    {
        let mut fs = open(&dev);
        let deep = fs.lookup(ROOT_INO, b"deep").unwrap().unwrap().0;
        let big = fs.lookup(ROOT_INO, b"big").unwrap().unwrap().0;
        let dir_inode = fs.read_inode(big).unwrap();
        let dir_block = fs.extents(big, &dir_inode).unwrap()[0].physical;
        let inode = fs.read_inode(deep).unwrap();
        let tc = fs
            .tree_contents::<Extent>(&inode.area, NodeForm::Inline, deep)
            .unwrap();
        let leaf = tc
            .nodes
            .iter()
            .copied()
            .find(|&n| {
                let buf = fs.read_block(n).unwrap();
                node_header(&buf, NodeForm::Block).unwrap().level == 0
            })
            .unwrap();
        let mut buf = fs.read_block(leaf).unwrap();
        let mut e: Extent = node_get(&buf, NodeForm::Block, 0).unwrap();
        assert_eq!(e.len, 1);
        // The checksum is left as it was, as after a stray byte.
        let mut moved = e;
        moved.physical = dir_block;
        node_remove(&mut buf, NodeForm::Block, 0).unwrap();
        node_insert(&mut buf, NodeForm::Block, 0, &moved).unwrap();
        e = node_get(&buf, NodeForm::Block, 0).unwrap();
        assert_eq!(e.physical, dir_block);
        fs.write_block(leaf, &buf).unwrap();
    }
    let y = fsck(
        Box::new(dev.clone()),
        &FsckOptions {
            repair: true,
            verbose: false,
            ..Default::default()
        },
    );
    assert_eq!(y.exit_code, 1, "{:?}", y.lines);
    assert!(
        y.lines.iter().any(|l| l.contains("also used by")),
        "{:?}",
        y.lines
    );
    let again = fsck(Box::new(dev.clone()), &FsckOptions::default());
    assert_eq!(
        again.exit_code, 0,
        "after repair: {:?}\nrepair: {:?}",
        again.lines, y.lines
    );
}
