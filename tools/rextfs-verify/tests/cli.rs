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

/// Whether files in `d` take `user.` attributes.
fn has_user_xattrs(d: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let f = d.join("xattr-probe");
    std::fs::write(&f, b"").unwrap();
    let p = std::ffi::CString::new(f.as_os_str().as_bytes()).unwrap();
    // SAFETY: C strings and a readable value.
    let r = unsafe {
        libc::setxattr(
            p.as_ptr(),
            c"user.probe".as_ptr(),
            b"1".as_ptr().cast(),
            1,
            0,
        )
    };
    std::fs::remove_file(&f).unwrap();
    r == 0
}

/// The attribute options for runs in `d`: the host's file system may keep
/// a file's attributes in one block (ext4), so ENOSPC is tolerated; without
/// user attributes (an old tmpfs) the attribute ops are left out.
fn xattr_flags(d: &std::path::Path) -> &'static str {
    if has_user_xattrs(d) {
        "--xattr-enospc-ok"
    } else {
        "--no-xattr"
    }
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
        xattr_flags(&d),
        d.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("OK, 3001 ops verified"), "{}", text(&o));
    // The per-kind counts are printed, and every kind ran.
    let t = text(&o);
    let counts = t.lines().find(|l| l.contains("ops run: ")).expect(&t);
    for k in [
        "read-buffered",
        "write-direct",
        "read-mmap",
        "falloc-punch",
        "falloc-zero-keep",
        "truncate",
        "reopen",
        "check",
    ] {
        let n: u64 = counts
            .split(", ")
            .find_map(|c| c.rsplit_once(' ').filter(|x| x.0.ends_with(k)))
            .unwrap_or_else(|| panic!("no count for {k}: {counts}"))
            .1
            .parse()
            .unwrap();
        assert!(n > 0, "{k}: {counts}");
    }
    std::fs::remove_dir_all(&d).unwrap();
}

/// An operation the filesystem refuses as unsupported fails the run, unless
/// --allow-unsupported says otherwise; --simulate-unsupported stands in for
/// a filesystem without punch or O_DIRECT.
#[test]
fn unsupported_operations_fail_unless_allowed() {
    let d = scratch("unsupported");
    let ds = d.to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut a = vec![
            "--seed",
            "9",
            "--ops",
            "1500",
            "--log-dir",
            ds,
            xattr_flags(&d),
        ];
        a.extend_from_slice(extra);
        a.push(ds);
        verify(&a)
    };
    let o = run(&["--simulate-unsupported", "falloc-punch"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("fallocate(punch) failed: Operation not supported"),
        "{t}"
    );
    let o = run(&["--simulate-unsupported", "write-direct"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("open(O_DIRECT) failed: Invalid argument"), "{t}");
    // Two processes: the refusal in a worker fails the run.
    let o = run(&["--procs", "2", "--simulate-unsupported", "falloc-zero"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    // Tolerated: counted, reported, and the run passes.
    let o = run(&[
        "--allow-unsupported",
        "--simulate-unsupported",
        "falloc-punch,read-direct",
    ]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains("unsupported by the filesystem (tolerated): falloc-punch x"),
        "{t}"
    );
    assert!(t.contains("(O_DIRECT open refused with EINVAL)"), "{t}");
    std::fs::remove_dir_all(&d).unwrap();
}

/// A run that completes but never ran a requested kind fails.
#[test]
fn a_requested_kind_that_never_ran_fails_the_run() {
    let d = scratch("coverage");
    let ds = d.to_str().unwrap();
    let o = verify(&["--seed", "1", "--ops", "40", "--no-xattr", ds]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("requested kinds never ran: falloc-zero"), "{t}");
    assert!(t.contains("falloc-zero 0,"), "{t}");
    assert!(!t.contains("xattr-"), "{t}");
    // Left out, the same kind no longer counts; the others are still due.
    let o = verify(&[
        "--seed",
        "1",
        "--ops",
        "40",
        "--no-falloc",
        "--no-xattr",
        ds,
    ]);
    let t = text(&o);
    assert!(!t.contains("falloc-"), "{t}");
    // The attribute ops are requested kinds too.
    if has_user_xattrs(&d) {
        let o = verify(&[
            "--seed",
            "1",
            "--ops",
            "40",
            "--no-falloc",
            "--xattr-enospc-ok",
            ds,
        ]);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(1), "{t}");
        assert!(t.contains("xattr-check 0,"), "{t}");
        let never = t.lines().find(|l| l.contains("never ran: ")).expect(&t);
        assert!(never.contains("xattr-check"), "{t}");
    }
    std::fs::remove_dir_all(&d).unwrap();
}

/// The attribute ops run strictly (no ENOSPC tolerated) with few names
/// and short values, which any file system with user attributes takes;
/// every attribute kind runs and a log with them replays.
#[test]
fn attribute_ops_run_and_replay() {
    let d = scratch("xattr");
    if !has_user_xattrs(&d) {
        std::fs::remove_dir_all(&d).unwrap();
        return;
    }
    let ds = d.to_str().unwrap();
    let log = d.join("run.log");
    let o = verify(&[
        "--seed",
        "0x51",
        "--ops",
        "2000",
        "--files",
        "2",
        "--xattr-names",
        "3",
        "--xattr-max-value",
        "600",
        "--remount-cmd",
        "true",
        "--log",
        log.to_str().unwrap(),
        ds,
    ]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(!t.contains("ENOSPC"), "{t}");
    let counts = t.lines().find(|l| l.contains("ops run: ")).expect(&t);
    for k in [
        "xattr-set",
        "xattr-create",
        "xattr-replace",
        "xattr-remove",
        "xattr-check",
    ] {
        assert!(counts.contains(&format!(", {k} ")), "{k}: {counts}");
        assert!(!counts.contains(&format!(", {k} 0,")), "{k}: {counts}");
    }
    let o = verify(&[
        "--replay",
        log.to_str().unwrap(),
        "--remount-cmd",
        "true",
        ds,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    // Options out of range.
    for bad in [
        ["--xattr-names", "0"],
        ["--xattr-names", "65"],
        ["--xattr-max-value", "65537"],
    ] {
        assert_eq!(
            verify(&[bad[0], bad[1], ds]).status.code(),
            Some(2),
            "{bad:?}"
        );
    }
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn injected_corruption_is_caught_reported_and_replayable() {
    let d = scratch("inject");
    let logs = scratch("inject-logs");
    let (ds, ls) = (d.to_str().unwrap(), logs.to_str().unwrap());
    let xf = xattr_flags(&d);
    let o = verify(&[
        "--seed",
        "0x2a",
        "--ops",
        "2000",
        "--inject-corruption",
        "700",
        "--log-dir",
        ls,
        xf,
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
    let o2 = verify(&["--replay", log.to_str().unwrap(), "--log-dir", ls, xf, ds]);
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
        xf,
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
    let o4 = verify(&["--replay", clean_log.to_str().unwrap(), xf, ds]);
    assert!(o4.status.success(), "{}", text(&o4));
    std::fs::remove_dir_all(&d).unwrap();
    std::fs::remove_dir_all(&logs).unwrap();
}

#[test]
fn processes_with_own_files_and_one_shared_file() {
    let d = scratch("procs");
    let ds = d.to_str().unwrap();
    let xf = xattr_flags(&d);
    let o = verify(&[
        "--seed", "3", "--ops", "1500", "--procs", "3", "--files", "2", xf, ds,
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
        xf,
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
        xf,
        ds,
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn remount_command_runs_and_failures_stop_the_run() {
    let d = scratch("remount");
    let ds = d.to_str().unwrap();
    let xf = xattr_flags(&d);
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
        xf,
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
        xf,
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
        &["-q", "/tmp"][..],
    ] {
        assert_eq!(verify(args).status.code(), Some(2), "{args:?}");
    }
    assert!(verify(&["--help"]).status.success());
}
