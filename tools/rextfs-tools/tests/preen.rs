// SPDX-License-Identifier: GPL-2.0

//! fsck(8) conventions of fsck.rextfs: preening (`-p`, `-a`) repairs what an
//! interrupted kernel leaves behind and nothing else, exits 4 and writes
//! nothing when a problem needs a person; `-f` checks a clean filesystem;
//! `-C` reports progress; the exit codes of the binary.

mod common;

use common::*;
use rextfs_tools::format::*;
use rextfs_tools::fsck::{fsck, fsck_with_progress, FsckOptions, FsckReport, PASSES};
use rextfs_tools::{FileDev, Fs, MemDev};
use std::path::{Path, PathBuf};
use std::process::Command;

fn preen(dev: &MemDev, force: bool) -> FsckReport {
    fsck(
        Box::new(dev.clone()),
        &FsckOptions {
            preen: true,
            force,
            ..Default::default()
        },
    )
}

fn text(r: &FsckReport) -> String {
    r.lines.join("\n")
}

fn has(r: &FsckReport, needle: &str) -> bool {
    r.lines.iter().any(|l| l.contains(needle))
}

fn setup() -> (MemDev, Tree) {
    let dev = fresh(12, 16 << 20);
    let mut fs = open(&dev);
    let t = populate(&mut fs, 200);
    drop(fs);
    assert_clean(&dev);
    (dev, t)
}

/// Writes `sb` over the superblock (checksum included).
fn put_sb(dev: &MemDev, sb: &Superblock) {
    let mut buf = vec![0u8; SB_SIZE];
    sb.encode(&mut buf).unwrap();
    dev.with(|v| v[..SB_SIZE].copy_from_slice(&buf));
}

/// What a crash of the kernel may leave (see "Crash model" in
/// Documentation/filesystems/rextfs.rst): the state not clean, a leaked block
/// and a leaked inode, free counts that do not match, a link count too high,
/// an unlinked file still open (on the orphan list), an inode whose last link
/// went but which was not yet put on the list, a stale free slot.
fn crash_leftovers(dev: &MemDev, t: &Tree) -> (u64, u64) {
    let mut fs = open(dev);
    fs.sb.state = 0;
    let leaked_block = fs.alloc_block(0).unwrap();
    let leaked_ino = fs.alloc_ino().unwrap();
    let mut i = fs.read_inode(t.file).unwrap();
    i.nlink += 1;
    fs.write_inode(t.file, &i).unwrap();
    let open_file = fs.create(ROOT_INO, b"still-open", 0o600).unwrap();
    fs.write(open_file, 0, &pattern(9, 3 * fs.bs())).unwrap();
    fs.unlink(ROOT_INO, b"still-open", true).unwrap();
    let z = fs.create(t.dir, b"last-link-gone", 0o600).unwrap();
    fs.remove_entry(t.dir, b"last-link-gone").unwrap();
    let mut zi = fs.read_inode(z).unwrap();
    zi.nlink = 0;
    fs.write_inode(z, &zi).unwrap();
    let stale = fs.sb.total_inodes - 5;
    let (b, off) = fs.sb.inode_location(stale).unwrap();
    let off = b as usize * fs.bs() + off;
    fs.sb.free_blocks += 7;
    fs.flush().unwrap();
    drop(fs);
    dev.with(|v| v[off + 40] = 0x5a);
    (leaked_block, leaked_ino)
}

#[test]
fn preen_repairs_what_a_crash_leaves() {
    let (dev, t) = setup();
    let (block, ino) = crash_leftovers(&dev, &t);
    let n = check(&dev);
    assert_eq!(n.exit_code, 4, "{}", text(&n));
    for needle in [
        "not cleanly unmounted",
        &format!("block {block} marked in use but free"),
        &format!("inode {ino} marked in use but free"),
        "free block count",
        &format!("inode {}: link count 3, should be 2", t.file),
        "orphan inode not yet deleted",
        "unattached inode with no links, deleted",
        "free inode slot is not zeroed",
    ] {
        assert!(has(&n, needle), "no {needle:?} in:\n{}", text(&n));
    }
    let p = preen(&dev, false);
    assert_eq!(p.exit_code, 1, "{}", text(&p));
    assert_eq!(p.manual, 0);
    assert_eq!(p.fixed, p.problems, "{}", text(&p));
    // Every problem the check saw is repaired (a repair also counts the
    // bitmap bits and blocks of the orphans it frees, so those lines differ).
    for l in &n.lines[..n.lines.len() - 1] {
        if l.contains("bitmap:") || l.starts_with("superblock: free") {
            continue;
        }
        assert!(
            has(&p, &format!("{l} (fixed)")),
            "{l:?} not fixed:\n{}",
            text(&p)
        );
    }
    assert!(
        !has(&p, "not fixed") && !has(&p, "UNEXPECTED"),
        "{}",
        text(&p)
    );
    assert_clean(&dev);
    let mut fs = open(&dev);
    assert_eq!(fs.read(t.file).unwrap(), t.file_data);
    assert_eq!(fs.read_inode(t.file).unwrap().nlink, 2);
    assert_eq!(fs.sb.orphan_head, 0);
    assert_eq!(fs.sb.state, STATE_CLEAN);
    // A second preen finds it clean and does not even look (no -f).
    let again = preen(&dev, false);
    assert_eq!(again.exit_code, 0, "{}", text(&again));
    assert!(again.skipped);
}

/// Damage that only a person may decide about: preen exits 4 and the image
/// is byte for byte what it was, including the problems preen could fix.
#[test]
fn preen_leaves_problems_that_need_a_person() {
    type Damage = fn(&MemDev, &Tree) -> &'static str;
    let cases: &[(&str, Damage)] = &[
        ("unattached directory", |dev, t| {
            let mut fs = open(dev);
            fs.remove_entry(t.dir, b"sub").unwrap();
            fs.flush().unwrap();
            "not referenced by any directory"
        }),
        ("inode checksum", |dev, t| {
            let fs = open(dev);
            let (b, off) = fs.sb.inode_location(t.frag).unwrap();
            let o = b as usize * fs.bs() + off + 8;
            dev.with(|v| v[o] ^= 0x40);
            "checksum mismatch"
        }),
        ("superblock checksum", |dev, _| {
            dev.with(|v| v[0x28] ^= 1);
            "superblock: checksum mismatch"
        }),
        ("orphan list loop", |dev, _| {
            let mut fs = open(dev);
            let a = fs.create(ROOT_INO, b"a", 0o600).unwrap();
            fs.unlink(ROOT_INO, b"a", true).unwrap();
            let mut i = fs.read_inode(a).unwrap();
            i.next_orphan = a;
            fs.write_inode(a, &i).unwrap();
            fs.flush().unwrap();
            "orphan list: loop"
        }),
        ("block in use marked free", |dev, t| {
            let mut fs = open(dev);
            let inode = fs.read_inode(t.file).unwrap();
            let p = fs.extents(t.file, &inode).unwrap()[0].physical;
            fs.free_run(p, 1);
            fs.flush().unwrap();
            "in use but marked free"
        }),
        ("entry to a free inode", |dev, t| {
            let mut fs = open(dev);
            let free = fs.sb.total_inodes - 2;
            fs.add_entry(t.dir, b"dangling", free, FT_REG).unwrap();
            fs.flush().unwrap();
            "points to unused or corrupt inode"
        }),
    ];
    for (what, damage) in cases {
        let (dev, t) = setup();
        // Something preen could fix on its own as well: not clean, a leaked inode.
        let mut fs = open(&dev);
        fs.sb.state = 0;
        let leaked = fs.alloc_ino().unwrap();
        fs.flush().unwrap();
        drop(fs);
        let needle = damage(&dev, &t);
        let before = dev.to_bytes();
        let n = check(&dev);
        assert_eq!(n.exit_code, 4, "{what}: {}", text(&n));
        for force in [false, true] {
            let p = preen(&dev, force);
            assert_eq!(p.exit_code, 4, "{what}: preen should refuse:\n{}", text(&p));
            assert!(p.manual > 0, "{what}");
            assert!(
                p.lines
                    .iter()
                    .any(|l| l.contains(needle) && l.contains("UNEXPECTED INCONSISTENCY")),
                "{what}: the problem is not flagged:\n{}",
                text(&p)
            );
            assert!(
                p.lines
                    .last()
                    .is_some_and(|l| l.contains("RUN fsck.rextfs MANUALLY")),
                "{what}: {}",
                text(&p)
            );
            assert!(dev.to_bytes() == before, "{what}: preen changed the image");
        }
        // The same problems are still there; -y repairs them all.
        let again = check(&dev);
        assert_eq!(again.problems, n.problems, "{what}");
        assert!(
            has(&again, &format!("inode {leaked} marked in use but free")),
            "{what}"
        );
        assert!(has(&again, "not cleanly unmounted"), "{what}");
        let y = repair(&dev);
        assert_eq!(y.exit_code, 1, "{what}: {}", text(&y));
        assert_clean(&dev);
    }
}

/// Without -f a preen trusts the CLEAN state; -n and -y always check, and so
/// does a preen when ERRORS is set or the orphan list is not empty.
#[test]
fn clean_flag_and_force() {
    let (dev, _) = setup();
    let p = preen(&dev, false);
    assert_eq!((p.exit_code, p.skipped), (0, true), "{}", text(&p));
    assert!(p.lines[0].contains("clean") && p.lines[0].contains("not checked"));
    let p = preen(&dev, true);
    assert_eq!((p.exit_code, p.skipped), (0, false), "{}", text(&p));
    // A wrong count behind a CLEAN state: only -f (or -n, -y) sees it.
    let mut sb = open(&dev).sb;
    sb.free_blocks -= 1;
    put_sb(&dev, &sb);
    let before = dev.to_bytes();
    let p = preen(&dev, false);
    assert_eq!((p.exit_code, p.skipped), (0, true), "{}", text(&p));
    assert!(dev.to_bytes() == before);
    assert_eq!(check(&dev).exit_code, 4);
    let p = preen(&dev, true);
    assert_eq!(p.exit_code, 1, "{}", text(&p));
    assert_clean(&dev);
    // ERRORS set: checked without -f.
    let mut sb = open(&dev).sb;
    sb.state = STATE_CLEAN | STATE_ERRORS;
    put_sb(&dev, &sb);
    let p = preen(&dev, false);
    assert_eq!((p.exit_code, p.skipped), (1, false), "{}", text(&p));
    assert!(has(&p, "errors were recorded while mounted (fixed)"));
    assert_clean(&dev);
    // A non-empty orphan list behind a CLEAN state: checked and freed.
    let mut fs = open(&dev);
    let o = fs.create(ROOT_INO, b"o", 0o600).unwrap();
    fs.unlink(ROOT_INO, b"o", true).unwrap();
    fs.flush().unwrap();
    drop(fs);
    let p = preen(&dev, false);
    assert_eq!((p.exit_code, p.skipped), (1, false), "{}", text(&p));
    assert!(has(
        &p,
        &format!("inode {o}: orphan inode not yet deleted (fixed)")
    ));
    assert_clean(&dev);
}

#[test]
fn progress_covers_every_pass() {
    let (dev, t) = setup();
    crash_leftovers(&dev, &t);
    for opts in [
        FsckOptions::default(),
        FsckOptions {
            preen: true,
            ..Default::default()
        },
    ] {
        let mut calls: Vec<(u32, u64, u64)> = Vec::new();
        let mut cb = |p: u32, d: u64, n: u64| calls.push((p, d, n));
        let r = fsck_with_progress(Box::new(dev.clone()), &opts, Some(&mut cb));
        assert!(r.exit_code == 4 || r.exit_code == 1, "{}", text(&r));
        assert!(calls.windows(2).all(|w| w[0].0 <= w[1].0), "{calls:?}");
        assert!(calls.iter().all(|&(_, d, n)| d <= n && n > 0), "{calls:?}");
        for pass in 1..=PASSES {
            let last = calls.iter().rev().find(|c| c.0 == pass);
            assert!(
                last.is_some_and(|&(_, d, n)| d == n),
                "pass {pass} does not finish: {calls:?}"
            );
            assert!(calls.iter().any(|&(p, d, _)| p == pass && d == 0));
        }
    }
}

// ----- the binary -------------------------------------------------------------

const MKFS: &str = env!("CARGO_BIN_EXE_mkfs-rextfs");
const FSCK: &str = env!("CARGO_BIN_EXE_fsck-rextfs");

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rextfs-preen-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(bin: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn open_file(img: &Path) -> Fs {
    Fs::open(Box::new(FileDev::open(img, true).unwrap())).unwrap()
}

#[test]
fn binary_modes_and_exit_codes() {
    let d = tmpdir("bin");
    let img = d.join("img");
    let p = img.to_str().unwrap();
    std::fs::File::create(&img)
        .unwrap()
        .set_len(32 << 20)
        .unwrap();
    assert_eq!(run(MKFS, &["-q", p]).0, 0);

    // Usage errors: 16.
    for bad in [
        &["-p", "-y", p][..],
        &["-a", "-n", p],
        &["-n", "-y", p],
        &["-C", "x", p],
        &["-C"],
        &["-p"],
        &["-z", p],
    ] {
        let (c, _, err) = run(FSCK, bad);
        assert_eq!(c, 16, "{bad:?}: {err}");
    }
    let (c, out, _) = run(FSCK, &["-V"]);
    assert_eq!(c, 0);
    assert!(out.starts_with("fsck.rextfs "), "{out}");

    // Clean: -p does not look without -f.
    let (c, out, _) = run(FSCK, &["-p", p]);
    assert_eq!(c, 0, "{out}");
    assert!(out.contains("not checked"), "{out}");
    let (c, out, _) = run(FSCK, &["-a", "-f", p]);
    assert_eq!(c, 0, "{out}");
    assert!(
        out.contains("clean") && !out.contains("not checked"),
        "{out}"
    );

    // A crash's leftovers: -a repairs them (1), then all is clean (0).
    let mut fs = open_file(&img);
    fs.sb.state = 0;
    fs.alloc_block(0).unwrap();
    fs.flush().unwrap();
    drop(fs);
    let (c, out, _) = run(FSCK, &["-n", p]);
    assert_eq!(c, 4, "{out}");
    let (c, out, _) = run(FSCK, &["-a", p]);
    assert_eq!(c, 1, "{out}");
    assert!(out.contains("marked in use but free (fixed)"), "{out}");
    assert_eq!(run(FSCK, &["-n", p]).0, 0);

    // Damage that needs a person: -p exits 4 and changes nothing; -y fixes.
    let mut fs = open_file(&img);
    fs.sb.state = 0;
    let f = fs.create(ROOT_INO, b"f", 0o644).unwrap();
    fs.write(f, 0, b"data").unwrap();
    fs.remove_entry(ROOT_INO, b"f").unwrap();
    fs.flush().unwrap();
    drop(fs);
    let before = std::fs::read(&img).unwrap();
    let (c, out, _) = run(FSCK, &["-p", p]);
    assert_eq!(c, 4, "{out}");
    assert!(out.contains("UNEXPECTED INCONSISTENCY"), "{out}");
    assert!(out.contains(&format!("inode {f}: not referenced")), "{out}");
    assert!(
        std::fs::read(&img).unwrap() == before,
        "-p changed the image"
    );
    let (c, out, _) = run(FSCK, &["-y", p]);
    assert_eq!(c, 1, "{out}");
    assert_eq!(run(FSCK, &["-n", p]).0, 0);

    // Progress: -C 0 draws on stdout, -C 3 writes "pass done total device" to fd 3.
    let (c, out, _) = run(FSCK, &["-f", "-C", "0", "-n", p]);
    assert_eq!(c, 0, "{out}");
    assert!(out.contains(&format!("pass {PASSES}/{PASSES}")), "{out}");
    assert!(out.contains("100%"), "{out}");
    let prog = d.join("progress");
    let out = Command::new("sh")
        .args([
            "-c",
            "exec \"$0\" -p -f -C3 \"$1\" 3>\"$2\"",
            FSCK,
            p,
            prog.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let lines = std::fs::read_to_string(&prog).unwrap();
    let mut passes = Vec::new();
    for l in lines.lines() {
        let f: Vec<&str> = l.split(' ').collect();
        assert_eq!(f.len(), 4, "{l}");
        assert_eq!(f[3], p);
        let (pass, done, total): (u32, u64, u64) = (
            f[0].parse().unwrap(),
            f[1].parse().unwrap(),
            f[2].parse().unwrap(),
        );
        assert!(done <= total, "{l}");
        passes.push(pass);
    }
    assert_eq!(passes.first(), Some(&1), "{lines}");
    assert!(lines.ends_with(&format!("{PASSES} 1 1 {p}\n")), "{lines}");
    std::fs::remove_dir_all(&d).unwrap();
}
