// SPDX-License-Identifier: GPL-2.0

//! Helpers shared by the integration tests.

#![allow(dead_code)]

use rextfs_tools::format::*;
use rextfs_tools::fsck::{fsck, FsckOptions, FsckReport};
use rextfs_tools::mkfs::{mkfs, MkfsOptions};
use rextfs_tools::{Fs, MemDev};

/// A fresh in-memory filesystem of `size` bytes with `1 << log2` blocks.
pub fn fresh(log2: u32, size: usize) -> MemDev {
    fresh_with_inodes(log2, size, None)
}

/// Like [`fresh`] with an explicit inode count.
pub fn fresh_with_inodes(log2: u32, size: usize, inodes: Option<u64>) -> MemDev {
    let dev = MemDev::new(size);
    let opts = MkfsOptions {
        block_log2: log2,
        inodes,
        hash_key: Some(*b"rextfs test key!"),
        uuid: Some([7; 16]),
        time: Some(1_700_000_000),
        ..Default::default()
    };
    mkfs(Box::new(dev.clone()), &opts).expect("mkfs");
    dev
}

pub fn open(dev: &MemDev) -> Fs {
    let mut fs = Fs::open(Box::new(dev.clone())).expect("open");
    fs.now = 1_700_000_100;
    fs
}

pub fn check(dev: &MemDev) -> FsckReport {
    fsck(
        Box::new(dev.clone()),
        &FsckOptions {
            repair: false,
            verbose: false,
            ..Default::default()
        },
    )
}

pub fn repair(dev: &MemDev) -> FsckReport {
    fsck(
        Box::new(dev.clone()),
        &FsckOptions {
            repair: true,
            verbose: false,
            ..Default::default()
        },
    )
}

/// Asserts that fsck -n finds nothing.
pub fn assert_clean(dev: &MemDev) {
    let r = check(dev);
    assert_eq!(r.exit_code, 0, "fsck -n not clean:\n{}", r.lines.join("\n"));
}

/// Asserts the -n / -y / -n cycle: problems found (exit 4) and reported
/// with `needle`, all fixed (exit 1), clean afterwards (exit 0).
pub fn assert_detect_and_repair(dev: &MemDev, needle: &str) -> (FsckReport, FsckReport) {
    let before = dev.to_bytes();
    let r = check(dev);
    assert_eq!(
        r.exit_code,
        4,
        "fsck -n should fail:\n{}",
        r.lines.join("\n")
    );
    assert!(
        r.lines.iter().any(|l| l.contains(needle)),
        "no line with {needle:?}:\n{}",
        r.lines.join("\n")
    );
    assert_eq!(dev.to_bytes(), before, "fsck -n modified the image");
    let y = repair(dev);
    assert_eq!(
        y.exit_code,
        1,
        "fsck -y should fix everything:\n{}",
        y.lines.join("\n")
    );
    let again = check(dev);
    assert_eq!(
        again.exit_code,
        0,
        "not clean after repair:\n{}\n--- repair said:\n{}",
        again.lines.join("\n"),
        y.lines.join("\n")
    );
    (r, y)
}

/// Deterministic pseudo-random bytes.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Names of a populated tree, returned by [`populate`].
pub struct Tree {
    pub dir: u64,
    pub big_dir: u64,
    pub file: u64,
    pub frag: u64,
    pub sparse: u64,
    pub fast_link: u64,
    pub slow_link: u64,
    pub file_data: Vec<u8>,
}

/// Builds a varied tree: nested directories, a directory with `entries`
/// names, a multi-block file, a fragmented file, a sparse file with a far
/// extent and unwritten blocks, fast and slow symlinks, hard links, device
/// nodes, a FIFO and a socket. Removes a few names to leave free slots.
pub fn populate(fs: &mut Fs, entries: usize) -> Tree {
    let bs = fs.bs();
    let dir = fs.mkdir(ROOT_INO, b"dir", 0o755).unwrap();
    let sub = fs.mkdir(dir, b"sub", 0o700).unwrap();
    fs.mkdir(sub, b"subsub", 0o700).unwrap();
    let big_dir = fs.mkdir(ROOT_INO, b"big", 0o755).unwrap();
    for i in 0..entries {
        let name = format!("entry-{i:06}-{}", "x".repeat(i % 40));
        fs.create(big_dir, name.as_bytes(), 0o644).unwrap();
    }
    for i in (0..entries).step_by(7) {
        let name = format!("entry-{i:06}-{}", "x".repeat(i % 40));
        fs.unlink(big_dir, name.as_bytes(), false).unwrap();
    }
    let file = fs.create(dir, b"file", 0o644).unwrap();
    let file_data = pattern(1, bs * 5 + 123);
    fs.write(file, 0, &file_data).unwrap();
    let frag = fs.create(ROOT_INO, b"fragmented", 0o600).unwrap();
    let one = pattern(2, bs);
    for i in 0..300u64 {
        fs.write(frag, i * 2 * bs as u64, &one).unwrap();
    }
    let sparse = fs.create(ROOT_INO, b"sparse", 0o600).unwrap();
    fs.write(sparse, 1 << 40, b"far away").unwrap();
    fs.fallocate(sparse, 10, 4).unwrap();
    let fast_link = fs.symlink(dir, b"fast", b"file").unwrap();
    let long = "l/".repeat(100);
    let slow_link = fs.symlink(dir, b"slow", long.as_bytes()).unwrap();
    fs.link(ROOT_INO, b"hardlink", file).unwrap();
    fs.mknod(dir, b"null", S_IFCHR | 0o666, (1 << 8) | 3)
        .unwrap();
    fs.mknod(dir, b"loop0", S_IFBLK | 0o660, 7 << 8).unwrap();
    fs.mknod(dir, b"fifo", S_IFIFO | 0o644, 0).unwrap();
    fs.mknod(dir, b"sock", S_IFSOCK | 0o755, 0).unwrap();
    let gone = fs.create(dir, b"gone", 0o644).unwrap();
    fs.write(gone, 0, &pattern(3, 3 * bs)).unwrap();
    fs.unlink(dir, b"gone", false).unwrap();
    fs.flush().unwrap();
    Tree {
        dir,
        big_dir,
        file,
        frag,
        sparse,
        fast_link,
        slow_link,
        file_data,
    }
}
