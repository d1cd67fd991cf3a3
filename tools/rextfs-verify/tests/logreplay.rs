// SPDX-License-Identifier: GPL-2.0

//! Runs the rextfs-logreplay binary on synthetic dm-log-writes logs in the
//! host's temporary directory.

use rextfs_verify::logwrites::{LogBuilder, FLAG_FUA};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "rextfs-logreplay-test-{}-{tag}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rextfs-logreplay"))
        .args(args)
        .output()
        .unwrap()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn list_replay_and_points() {
    let d = scratch("cli");
    let log = d.join("log");
    let tgt = d.join("target");
    let mut lb = LogBuilder::new(512);
    lb.write(0, &[1; 1024], 0)
        .flush()
        .mark("mkfs")
        .write(2, &[2; 512], FLAG_FUA)
        .mark("sync0")
        .discard(0, 1)
        .flush()
        .mark("sync1");
    std::fs::write(&log, lb.bytes()).unwrap();
    std::fs::write(&tgt, vec![9u8; 4096]).unwrap();

    let o = run(&["list", s(&log)]);
    assert!(o.status.success(), "{}", err(&o));
    let want = "# 8 entries, sector size 512; index flags sector sectors mark\n\
                0 - 0 2 -\n1 FLUSH 0 0 -\n2 MARK 0 0 mkfs\n3 FUA 2 1 -\n\
                4 MARK 0 0 sync0\n5 DISCARD 0 1 -\n6 FLUSH 0 0 -\n7 MARK 0 0 sync1\n";
    assert_eq!(out(&o), want);
    let o = run(&["marks", s(&log)]);
    assert_eq!(out(&o), "2 mkfs\n4 sync0\n7 sync1\n");
    let o = run(&["flush-points", "--after-mark", "mkfs", s(&log)]);
    assert_eq!(out(&o), "3\n6\n");

    let o = run(&["replay", "--wipe", "--to-mark", "sync0", s(&log), s(&tgt)]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(out(&o).contains("replayed entries 0..=4: 2 writes, 1536 bytes, 0 discards"));
    let mut want = vec![0u8; 4096];
    want[..1024].fill(1);
    want[1024..1536].fill(2);
    assert_eq!(std::fs::read(&tgt).unwrap(), want);
    // Without --wipe the target keeps what it had; the discard zeroes.
    std::fs::write(&tgt, vec![9u8; 4096]).unwrap();
    let o = run(&["replay", s(&log), s(&tgt)]);
    assert!(o.status.success(), "{}", err(&o));
    want[..512].fill(0);
    want[1536..].fill(9);
    assert_eq!(std::fs::read(&tgt).unwrap(), want);
    let o = run(&["replay", "--to", "5", "--discard", "skip", s(&log), s(&tgt)]);
    assert!(o.status.success(), "{}", err(&o));

    let o = run(&[
        "points",
        "--max",
        "10",
        "--after-mark",
        "mkfs",
        "--mark-prefix",
        "sync",
        s(&log),
    ]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(
        out(&o),
        "3 flush -\n4 between sync0\n5 between sync0\n6 flush sync0\n7 end sync1\n"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn errors_are_clear() {
    let d = scratch("err");
    let log = d.join("log");
    let tgt = d.join("target");
    std::fs::write(&tgt, vec![0u8; 512]).unwrap();
    std::fs::write(&log, vec![0u8; 4096]).unwrap();
    let o = run(&["list", s(&log)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).contains("not a dm-log-writes log: magic 0x0"),
        "{}",
        err(&o)
    );
    let mut lb = LogBuilder::new(512);
    lb.write(3, &[1; 512], 0).mark("m");
    let b = lb.bytes();
    std::fs::write(&log, &b[..b.len() - 1]).unwrap();
    let o = run(&["list", s(&log)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).contains("entry 1 at byte 1536: the log ends"),
        "{}",
        err(&o)
    );
    std::fs::write(&log, &b).unwrap();
    let o = run(&["replay", s(&log), s(&tgt)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).contains("past the end of the target"),
        "{}",
        err(&o)
    );
    for (args, msg) in [
        (
            vec!["replay", "--to-mark", "x", s(&log), s(&tgt)],
            "no mark 'x'",
        ),
        (
            vec!["replay", "--to", "7", s(&log), s(&tgt)],
            "the log has 2 entries",
        ),
        (vec!["list", s(&d.join("missing"))], "No such file"),
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(err(&o).contains(msg), "{args:?}: {}", err(&o));
    }
    for args in [
        vec![],
        vec!["frob"],
        vec!["list"],
        vec!["replay", s(&log)],
        vec!["replay", "--to", "x", s(&log), s(&tgt)],
        vec!["replay", "--to", "1", "--to-mark", "m", s(&log), s(&tgt)],
        vec!["replay", "--discard", "maybe", s(&log), s(&tgt)],
        vec!["points", s(&log)],
        vec!["list", "--to"],
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", err(&o));
        assert!(err(&o).contains("usage:"), "{args:?}");
    }
    std::fs::remove_dir_all(&d).unwrap();
}
