// SPDX-License-Identifier: GPL-2.0

//! Runs the rextfs-verify binary on the host's temporary directory: no
//! kernel of ours is needed, the host filesystem stands in.

use std::path::PathBuf;
use std::process::{Command, Output};

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rextfs-verify-test-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn verify(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rextfs-verify"))
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn clean_run_passes() {
    let d = scratch("clean");
    let o = verify(&[
        "--seed",
        "7",
        "--ops",
        "3000",
        "--files",
        "2",
        "--check-every",
        "100",
        d.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("OK, 3001 ops verified"), "{}", text(&o));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn injected_corruption_is_caught_reported_and_replayable() {
    let d = scratch("inject");
    let logs = scratch("inject-logs");
    let (ds, ls) = (d.to_str().unwrap(), logs.to_str().unwrap());
    let o = verify(&[
        "--seed",
        "0x2a",
        "--ops",
        "2000",
        "--inject-corruption",
        "700",
        "--log-dir",
        ls,
        ds,
    ]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("FAILED seed=0x2a op=700 (corrupt 0 "), "{t}");
    assert!(t.contains("first differing offset 0x"), "{t}");
    let log = logs.join("rextfs-verify-0x2a-verify.0.log");
    assert!(log.exists(), "{t}");
    let first_line = |t: &str| {
        t.lines()
            .find(|l| l.contains("first differing"))
            .unwrap()
            .to_string()
    };

    // The saved log replays to the same failure at the same place.
    let o2 = verify(&["--replay", log.to_str().unwrap(), "--log-dir", ls, ds]);
    let t2 = text(&o2);
    assert_eq!(o2.status.code(), Some(1), "{t2}");
    assert!(t2.contains("op=700 (corrupt 0 "), "{t2}");
    assert_eq!(first_line(&t), first_line(&t2));

    // So do the same seed and op count.
    let o3 = verify(&[
        "--seed",
        "0x2a",
        "--ops",
        "700",
        "--inject-corruption",
        "700",
        "--log-dir",
        ls,
        ds,
    ]);
    assert_eq!(first_line(&t), first_line(&text(&o3)));

    // Without the corrupt op, the log replays cleanly.
    let clean: String = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .filter(|l| !l.contains(" corrupt "))
        .map(|l| format!("{l}\n"))
        .collect();
    let clean_log = logs.join("clean.log");
    std::fs::write(&clean_log, clean).unwrap();
    let o4 = verify(&["--replay", clean_log.to_str().unwrap(), ds]);
    assert!(o4.status.success(), "{}", text(&o4));
    std::fs::remove_dir_all(&d).unwrap();
    std::fs::remove_dir_all(&logs).unwrap();
}

#[test]
fn processes_with_own_files_and_one_shared_file() {
    let d = scratch("procs");
    let ds = d.to_str().unwrap();
    let o = verify(&[
        "--seed", "3", "--ops", "1500", "--procs", "3", "--files", "2", ds,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    for k in 0..3 {
        assert!(d.join(format!("verify.p{k}.1")).exists());
    }
    let o = verify(&[
        "--seed",
        "3",
        "--ops",
        "1500",
        "--procs",
        "3",
        "--shared",
        "--max-size",
        "64k",
        ds,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::metadata(d.join("verify.shared")).unwrap().len(),
        3 * 65536
    );
    // A failing worker fails the whole run.
    let o = verify(&[
        "--seed",
        "3",
        "--ops",
        "1500",
        "--procs",
        "2",
        "--inject-corruption",
        "100",
        ds,
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn remount_command_runs_and_failures_stop_the_run() {
    let d = scratch("remount");
    let ds = d.to_str().unwrap();
    let marker = d.join("remounts");
    let cmd = format!("echo x >> {}", marker.display());
    let o = verify(&[
        "--seed",
        "1",
        "--ops",
        "1000",
        "--remount-cmd",
        &cmd,
        "--remount-every",
        "250",
        ds,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&marker).unwrap().lines().count(), 4);
    let o = verify(&[
        "--seed",
        "1",
        "--ops",
        "1000",
        "--remount-cmd",
        "false",
        "--log-dir",
        ds,
        ds,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("remount command failed"), "{}", text(&o));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["--ops"][..],
        &[][..],
        &["--bogus", "/tmp"][..],
        &["--procs", "2", "--remount-cmd", "true", "/tmp"][..],
    ] {
        assert_eq!(verify(args).status.code(), Some(2), "{args:?}");
    }
    assert!(verify(&["--help"]).status.success());
}
