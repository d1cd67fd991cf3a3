// SPDX-License-Identifier: GPL-2.0

//! The journal end to end: transactions left in the log by the tools' own
//! writer (as a kernel that crashed leaves them) are reported by fsck -n,
//! replayed by fsck -y and -p, listed by rextfs-dump; bad journal super
//! blocks, pointers into the journal and images of other format versions.

mod common;

use common::*;
use rextfs_tools::format::*;
use rextfs_tools::fsck::{fsck, FsckOptions, EXIT_FIXED, EXIT_OK, EXIT_UNCORRECTED};
use rextfs_tools::journal::{self, LogItem, Tear};
use rextfs_tools::{Fs, MemDev};
use std::path::PathBuf;
use std::process::Command;

fn sb_of(dev: &MemDev) -> Superblock {
    open(dev).sb
}

fn jsb_of(dev: &MemDev) -> Jsb {
    let sb = sb_of(dev);
    journal::read_jsb(&mut dev.clone(), &sb).unwrap().unwrap()
}

/// Points the journal super block at log index `tail` with transaction
/// `sequence` there.
fn set_tail(dev: &MemDev, tail: u64, sequence: u64) {
    let sb = sb_of(dev);
    let mut j = journal::empty_jsb(&sb, sequence);
    j.tail = tail;
    journal::write_jsb(&mut dev.clone(), &sb, &j).unwrap();
}

fn block(dev: &MemDev, b: u64) -> Vec<u8> {
    open(dev).read_block(b).unwrap()
}

fn preen(dev: &MemDev) -> rextfs_tools::fsck::FsckReport {
    fsck(
        Box::new(dev.clone()),
        &FsckOptions {
            preen: true,
            ..Default::default()
        },
    )
}

/// A committed transaction that changes the label (a copy of block 0) and the
/// root directory's mtime (a copy of its inode table block): what the image
/// must look like after replay.
fn label_and_mtime_transaction(dev: &MemDev) -> (Vec<u8>, Vec<u8>) {
    let sb = sb_of(dev);
    let bs = sb.block_size();
    let mut b0 = block(dev, 0);
    let mut s = Superblock::decode(&b0).unwrap();
    s.label[..8].copy_from_slice(b"replayed");
    s.encode(&mut b0).unwrap();
    let (ib, off) = sb.inode_location(ROOT_INO).unwrap();
    let mut itab = block(dev, ib);
    let mut root = Inode::decode(ROOT_INO, &itab[off..off + INODE_SIZE]).unwrap();
    root.mtime = Timestamp {
        sec: 1_234_567,
        nsec: 89,
    };
    root.encode(ROOT_INO, &mut itab[off..off + INODE_SIZE])
        .unwrap();
    assert_eq!(b0.len(), bs);
    let next = journal::write_transaction(
        &mut dev.clone(),
        &sb,
        1,
        1,
        &[
            LogItem::Copy(0, b0.clone()),
            LogItem::Copy(ib, itab.clone()),
        ],
        Tear::None,
    )
    .unwrap();
    assert_eq!(next, 5, "descriptor, two copies, commit");
    set_tail(dev, 1, 1);
    (b0, itab)
}

#[test]
fn fsck_reports_then_replays_a_committed_transaction() {
    for log2 in [10, 12] {
        let dev = fresh(log2, 8 << 20);
        let sb = sb_of(&dev);
        let (b0, itab) = label_and_mtime_transaction(&dev);
        let (ib, _) = sb.inode_location(ROOT_INO).unwrap();
        let before = dev.to_bytes();

        // -n: reported, nothing written, the image checked as it is.
        let r = check(&dev);
        assert_eq!(r.exit_code, EXIT_UNCORRECTED, "{:?}", r.lines);
        assert!(
            r.lines[0].starts_with("journal needs recovery: 1 committed transactions"),
            "{:?}",
            r.lines
        );
        assert_eq!(r.problems, 1, "{:?}", r.lines);
        assert_eq!(dev.to_bytes(), before, "fsck -n wrote");

        // -y: replayed (exit 0: nothing else to correct), then clean.
        let y = repair(&dev);
        assert_eq!(y.exit_code, EXIT_OK, "{:?}", y.lines);
        assert!(
            y.lines[0].contains("recovered 1 transactions")
                && y.lines[0].contains("2 of 2 block copies written"),
            "{:?}",
            y.lines
        );
        assert_eq!(block(&dev, 0), b0);
        assert_eq!(block(&dev, ib), itab);
        let fs = open(&dev);
        assert_eq!(&fs.sb.label[..8], b"replayed");
        let mut fs = fs;
        assert_eq!(fs.read_inode(ROOT_INO).unwrap().mtime.sec, 1_234_567);
        // The log is empty, the next transaction is one past the scan's end.
        let j = jsb_of(&dev);
        assert_eq!((j.tail, j.sequence), (0, 3));
        assert_clean(&dev);
        // Nothing to replay a second time.
        let again = repair(&dev);
        assert_eq!(again.exit_code, EXIT_OK, "{:?}", again.lines);
        assert!(!again.lines.iter().any(|l| l.contains("journal")));
    }
}

#[test]
fn preen_replays_without_force() {
    let dev = fresh(12, 8 << 20);
    let (b0, _) = label_and_mtime_transaction(&dev);
    let p = preen(&dev);
    assert_eq!(p.exit_code, EXIT_OK, "{:?}", p.lines);
    assert!(!p.skipped, "a journal to replay must not be skipped");
    assert!(
        p.lines[0].contains("recovered 1 transactions"),
        "{:?}",
        p.lines
    );
    assert_eq!(block(&dev, 0), b0);
    assert!(!jsb_of(&dev).needs_recovery());
    // Now clean: a preen without -f skips it.
    let p = preen(&dev);
    assert!(p.skipped, "{:?}", p.lines);
}

/// Replay with a replayed super block that is not clean (what a kernel that
/// crashed while mounted journals): the state is then fixed as usual.
#[test]
fn replayed_dirty_state_is_then_fixed() {
    let dev = fresh(12, 8 << 20);
    let sb = sb_of(&dev);
    let mut b0 = block(&dev, 0);
    let mut s = sb;
    s.state = 0;
    s.mount_count = 5;
    s.encode(&mut b0).unwrap();
    journal::write_transaction(
        &mut dev.clone(),
        &sb,
        7,
        40,
        &[LogItem::Copy(0, b0)],
        Tear::None,
    )
    .unwrap();
    set_tail(&dev, 7, 40);
    let y = repair(&dev);
    assert_eq!(y.exit_code, EXIT_FIXED, "{:?}", y.lines);
    assert!(
        y.lines
            .iter()
            .any(|l| l.contains("not cleanly unmounted (fixed)")),
        "{:?}",
        y.lines
    );
    let fs = open(&dev);
    assert_eq!(fs.sb.mount_count, 5);
    assert_eq!(fs.sb.state, STATE_CLEAN);
    assert_eq!(jsb_of(&dev).sequence, 42);
    assert_clean(&dev);
}

/// Torn transactions after a committed one are not replayed; revoked copies
/// are not written; a wrapped log is followed.
#[test]
fn replay_stops_at_a_torn_transaction_and_honours_revokes() {
    for tear in [Tear::NoCommit, Tear::BadCrc, Tear::Truncated(2)] {
        let dev = fresh(10, 4 << 20);
        let sb = sb_of(&dev);
        let bs = sb.block_size();
        let blocks = sb.layout.journal_blocks;
        let a = sb.layout.data_start + 100;
        let b = sb.layout.data_start + 101;
        let c = sb.layout.data_start + 102;
        let fill = |v: u8| vec![v; bs];
        let d = dev.clone();
        // Transaction 10 starts 3 blocks before the end of the log and wraps.
        let start = blocks - 3;
        let n1 = journal::write_transaction(
            &mut d.clone(),
            &sb,
            start,
            10,
            &[
                LogItem::Copy(a, fill(1)),
                LogItem::Copy(b, fill(2)),
                LogItem::Copy(c, fill(3)),
            ],
            Tear::None,
        )
        .unwrap();
        assert!(n1 < start, "transaction 10 wraps");
        // Transaction 11 revokes b (its copy in 10 is not written) and logs c again.
        let n2 = journal::write_transaction(
            &mut d.clone(),
            &sb,
            n1,
            11,
            &[LogItem::Revoke(b), LogItem::Copy(c, fill(4))],
            Tear::None,
        )
        .unwrap();
        // Transaction 12 is torn: its copy of a must not be written.
        journal::write_transaction(
            &mut d.clone(),
            &sb,
            n2,
            12,
            &[LogItem::Copy(a, fill(9))],
            tear,
        )
        .unwrap();
        set_tail(&dev, start, 10);
        let r = check(&dev);
        assert!(
            r.lines[0].contains("2 committed transactions")
                && r.lines[0].contains("incomplete transaction"),
            "{tear:?}: {:?}",
            r.lines
        );
        let y = repair(&dev);
        assert!(
            y.lines[0].contains("recovered 2 transactions")
                && y.lines[0].contains("3 of 4 block copies written home, 1 revoke records"),
            "{tear:?}: {:?}",
            y.lines
        );
        assert_eq!(block(&dev, a), fill(1), "{tear:?}");
        assert_eq!(
            block(&dev, b),
            vec![0; bs],
            "{tear:?}: revoked copy written"
        );
        assert_eq!(block(&dev, c), fill(4), "{tear:?}");
        assert_eq!(jsb_of(&dev).sequence, 13);
        // Data blocks written by replay are not metadata of anyone: blocks that
        // nothing uses may hold anything.
        assert_clean(&dev);
    }
}

/// A transaction with a copy of a block in the journal (no metadata block)
/// ends the replay there: the transactions before it are replayed, and the
/// corruption is reported.
#[test]
fn a_copy_of_a_journal_block_ends_the_replay() {
    let dev = fresh(10, 4 << 20);
    let sb = sb_of(&dev);
    let bs = sb.block_size();
    let x = sb.layout.data_start + 5;
    let n = journal::write_transaction(
        &mut dev.clone(),
        &sb,
        1,
        1,
        &[LogItem::Copy(x, vec![7; bs])],
        Tear::None,
    )
    .unwrap();
    journal::write_transaction(
        &mut dev.clone(),
        &sb,
        n,
        2,
        &[
            LogItem::Copy(x, vec![8; bs]),
            LogItem::Copy(sb.layout.journal_start + 3, vec![9; bs]),
        ],
        Tear::None,
    )
    .unwrap();
    set_tail(&dev, 1, 1);
    let r = check(&dev);
    assert!(
        r.lines[0].contains("1 committed transactions") && r.lines[0].contains("block"),
        "{:?}",
        r.lines
    );
    let y = repair(&dev);
    assert_eq!(y.exit_code, EXIT_FIXED, "{:?}", y.lines);
    assert!(
        y.lines
            .iter()
            .any(|l| l.contains("transaction 2 copies block")),
        "{:?}",
        y.lines
    );
    assert_eq!(block(&dev, x), vec![7; bs]);
    assert_clean(&dev);
}

#[test]
fn bad_journal_super_blocks_are_replaced() {
    let sb = sb_of(&fresh(10, 4 << 20));
    let at = sb.layout.journal_start as usize * 1024;
    type Damage = fn(&mut Jsb);
    let resealed: [(&str, Damage); 4] = [
        ("journal size", |j| j.blocks += 1),
        ("block size", |j| j.block_log2 = 12),
        ("UUID", |j| j.uuid[0] ^= 1),
        ("tail out of range", |j| j.tail = j.blocks),
    ];
    type ImageDamage = Box<dyn Fn(&mut Vec<u8>)>;
    let mut cases: Vec<(String, ImageDamage)> = vec![
        (
            "bad magic".into(),
            Box::new(move |img: &mut Vec<u8>| img[at] ^= 0xff),
        ),
        (
            "checksum mismatch".into(),
            Box::new(move |img: &mut Vec<u8>| img[at + 0x20] ^= 1),
        ),
        (
            "unsupported journal version".into(),
            Box::new(move |img: &mut Vec<u8>| {
                img[at + 8] = 9;
                let crc = crc32c_with_hole(0, &img[at..at + JSB_SIZE], 4);
                img[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
            }),
        ),
    ];
    for (want, f) in resealed {
        cases.push((
            want.into(),
            Box::new(move |img: &mut Vec<u8>| {
                let mut j = Jsb::decode(&img[at..at + 1024]).unwrap();
                f(&mut j);
                // Encode does not check; write it as it is.
                j.encode(&mut img[at..at + 1024]).unwrap();
            }),
        ));
    }
    for (want, damage) in cases {
        let dev = fresh(10, 4 << 20);
        // Something in the log that must not be replayed afterwards.
        journal::write_transaction(
            &mut dev.clone(),
            &sb,
            1,
            1,
            &[LogItem::Copy(0, vec![0; 1024])],
            Tear::None,
        )
        .unwrap();
        dev.with(|img| damage(img));
        let (r, y) = assert_detect_and_repair(&dev, "journal super block");
        assert!(r.lines[0].contains(&want), "{want}: {:?}", r.lines);
        assert!(y.lines[0].ends_with("(fixed)"), "{:?}", y.lines);
        let j = jsb_of(&dev);
        assert_eq!((j.tail, j.sequence), (0, 1));
        assert!(
            dev.to_bytes()[at + 1024..at + 64 * 1024]
                .iter()
                .all(|&b| b == 0),
            "the log was not zeroed"
        );
    }
    // A preen leaves it to a person: the log it described may have held committed
    // transactions. It writes nothing.
    let dev = fresh(10, 4 << 20);
    dev.with(|img| img[at] ^= 0xff);
    let before = dev.to_bytes();
    let p = preen(&dev);
    assert_eq!(p.exit_code, EXIT_UNCORRECTED, "{:?}", p.lines);
    assert!(
        p.lines.iter().any(|l| l.contains("journal super block")
            && l.ends_with("(UNEXPECTED INCONSISTENCY)")),
        "{:?}",
        p.lines
    );
    assert!(dev.to_bytes() == before, "preen wrote");
}

#[test]
fn pointers_into_the_journal_and_a_free_journal_are_found() {
    // An extent of a file moved into the journal.
    let dev = fresh(10, 4 << 20);
    let mut fs = open(&dev);
    let f = fs.create(ROOT_INO, b"f", 0o644).unwrap();
    fs.write(f, 0, &pattern(5, 3000)).unwrap();
    fs.flush().unwrap();
    let mut inode = fs.read_inode(f).unwrap();
    let mut e: Extent = node_get(&inode.area, NodeForm::Inline, 0).unwrap();
    e.physical = fs.sb.layout.journal_start + 10;
    node_remove(&mut inode.area, NodeForm::Inline, 0).unwrap();
    node_insert(&mut inode.area, NodeForm::Inline, 0, &e).unwrap();
    fs.write_inode(f, &inode).unwrap();
    drop(fs);
    assert_detect_and_repair(&dev, "in the journal");
    assert!(jsb_of(&dev).blocks > 0, "the journal super block survived");

    // A directory's hash index root in the journal.
    let dev = fresh(10, 4 << 20);
    let mut fs = open(&dev);
    let d = fs.mkdir(ROOT_INO, b"d", 0o755).unwrap();
    for i in 0..200 {
        fs.create(d, format!("name-{i}").as_bytes(), 0o644).unwrap();
    }
    fs.flush().unwrap();
    let mut inode = fs.read_inode(d).unwrap();
    assert_ne!(inode.dir_index_root, 0, "no index");
    inode.dir_index_root = fs.sb.layout.journal_start + 1;
    fs.write_inode(d, &inode).unwrap();
    drop(fs);
    assert_detect_and_repair(&dev, "hash index root");
    let r = {
        let dev2 = dev.clone();
        check(&dev2)
    };
    assert_eq!(r.exit_code, 0);

    // Journal blocks marked free in the block bitmap.
    let dev = fresh(10, 4 << 20);
    let mut fs = open(&dev);
    let js = fs.sb.layout.journal_start;
    fs.free_run(js + 4, 10);
    fs.flush().unwrap();
    drop(fs);
    let (r, _) = assert_detect_and_repair(&dev, "of the journal marked free");
    assert!(
        r.lines.iter().any(|l| l.contains(&format!(
            "blocks {}-{} of the journal",
            js + 4,
            js + 13
        ))),
        "{:?}",
        r.lines
    );
}

/// Version 1 images and unknown newer versions are refused by every tool with
/// a message that says what to do.
#[test]
fn other_format_versions_are_refused() {
    for (v, want) in [
        (1u32, "format version 1; these tools need format version 2"),
        (3, "format version 3, newer than these tools know"),
        (0, "unknown rextfs format version 0"),
    ] {
        let dev = fresh(10, 4 << 20);
        dev.with(|img| {
            let mut s = Superblock::decode_raw(&img[..SB_SIZE]).unwrap();
            s.version = v;
            s.encode(&mut img[..SB_SIZE]).unwrap();
        });
        let Err(e) = Fs::open(Box::new(dev.clone())) else {
            panic!("version {v} opened");
        };
        assert!(e.to_string().contains(want), "{v}: {e}");
        for opts in [
            FsckOptions::default(),
            FsckOptions {
                repair: true,
                ..Default::default()
            },
            FsckOptions {
                preen: true,
                ..Default::default()
            },
        ] {
            let before = dev.to_bytes();
            let r = fsck(Box::new(dev.clone()), &opts);
            assert_eq!(r.exit_code, 8, "{v}: {:?}", r.lines);
            assert!(r.lines.iter().any(|l| l.contains(want)), "{:?}", r.lines);
            assert_eq!(dev.to_bytes(), before);
        }
        if v == 1 {
            let e = e.to_string();
            assert!(e.contains("No conversion exists"), "{e}");
        }
    }
}

// ----- the binaries -----------------------------------------------------------

const MKFS: &str = env!("CARGO_BIN_EXE_mkfs-rextfs");
const FSCK: &str = env!("CARGO_BIN_EXE_fsck-rextfs");
const DUMP: &str = env!("CARGO_BIN_EXE_rextfs-dump");

fn run(bin: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rextfs-jtest-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// mkfs → a committed transaction written with the tools' own writer →
/// fsck -n says the journal needs recovery (exit 4) and writes nothing →
/// rextfs-dump lists the transaction → fsck -y replays (exit 0) → the image
/// changed as expected → fsck -n clean.
#[test]
fn binaries_end_to_end() {
    let d = tmpdir("e2e");
    let img = d.join("img");
    let p = img.to_str().unwrap();
    std::fs::File::create(&img)
        .unwrap()
        .set_len(16 << 20)
        .unwrap();
    let (c, _, err) = run(MKFS, &["-q", "-b", "1024", p]);
    assert_eq!(c, 0, "{err}");
    let (c, out, _) = run(DUMP, &[p, "journal"]);
    assert_eq!(c, 0);
    assert!(out.contains("tail               0 (empty)"), "{out}");
    // Write the transaction through a MemDev copy, then back to the file.
    let dev = MemDev::from_bytes(&std::fs::read(&img).unwrap());
    let sb = sb_of(&dev);
    let (b0, _) = label_and_mtime_transaction(&dev);
    std::fs::write(&img, dev.to_bytes()).unwrap();
    let before = std::fs::read(&img).unwrap();

    let (c, out, _) = run(FSCK, &["-n", p]);
    assert_eq!(c, 4, "{out}");
    assert!(
        out.contains(&format!("{p}: journal needs recovery")),
        "{out}"
    );
    assert_eq!(std::fs::read(&img).unwrap(), before, "fsck -n wrote");

    let (c, out, _) = run(DUMP, &[p, "journal"]);
    assert_eq!(c, 0, "{out}");
    assert!(
        out.contains("tail               1 (needs recovery)"),
        "{out}"
    );
    let home = sb.inode_location(ROOT_INO).unwrap().0;
    assert!(
        out.contains(&format!(
            "transaction 1: log blocks 1..4, commit at 4\n  copies: 0 {home}\n  revokes: none"
        )),
        "{out}"
    );
    assert!(out.contains("end of the log"), "{out}");

    let (c, out, _) = run(FSCK, &["-y", p]);
    assert_eq!(c, 0, "{out}");
    assert!(out.contains("recovered 1 transactions"), "{out}");
    let after = std::fs::read(&img).unwrap();
    assert_eq!(&after[..1024], &b0[..]);
    let (_, out, _) = run(DUMP, &[p, "sb"]);
    assert!(out.contains("\"replayed\""), "{out}");
    let (c, out, _) = run(FSCK, &["-n", p]);
    assert_eq!(c, 0, "{out}");
    let (c, out, _) = run(DUMP, &[p, "journal"]);
    assert_eq!(c, 0);
    assert!(out.contains("sequence           3"), "{out}");

    // A version 1 image: every tool says so.
    let mut bytes = std::fs::read(&img).unwrap();
    let mut s = Superblock::decode(&bytes[..SB_SIZE]).unwrap();
    s.version = 1;
    s.encode(&mut bytes[..SB_SIZE]).unwrap();
    std::fs::write(&img, &bytes).unwrap();
    let (c, out, _) = run(FSCK, &["-n", p]);
    assert_eq!(c, 8);
    assert!(out.contains("format version 1"), "{out}");
    for cmd in ["sb", "journal", "bitmap"] {
        let (c, _, err) = run(DUMP, &[p, cmd]);
        assert_eq!(c, 1);
        assert!(err.contains("format version 1"), "{cmd}: {err}");
    }
    std::fs::remove_dir_all(&d).unwrap();
}
