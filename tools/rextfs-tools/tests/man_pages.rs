// SPDX-License-Identifier: GPL-2.0

//! The manual pages in Documentation/man/ document exactly the options the
//! command lines accept (the option sets in `rextfs_tools::cli`, which the
//! binaries parse with), every rextfs-dump command and every fsck exit code.

use rextfs_tools::cli;
use rextfs_tools::fsck::{
    EXIT_CANCELED, EXIT_FIXED, EXIT_OK, EXIT_OPERATIONAL, EXIT_REBOOT, EXIT_UNCORRECTED, EXIT_USAGE,
};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

fn page(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../Documentation/man")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The lines of section `name` (`.SH NAME` up to the next `.SH`).
fn section<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut inside = false;
    for l in text.lines() {
        if let Some(h) = l.strip_prefix(".SH ") {
            inside = h.trim_matches('"') == name;
            continue;
        }
        if inside {
            out.push(l);
        }
    }
    assert!(!out.is_empty(), "no section {name}");
    out
}

/// The tags of a section: the first line after each `.TP` and each `.TQ`.
fn tags<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    lines
        .windows(2)
        .filter(|w| w[0] == ".TP" || w[0] == ".TQ")
        .map(|w| w[1])
        .collect()
}

/// The options a section documents: `c` for a tag `.B \-c`, `c` with an
/// argument for `.BI \-c " arg"`.
fn documented(lines: &[&str]) -> (BTreeSet<char>, BTreeSet<char>) {
    let (mut flags, mut with_arg) = (BTreeSet::new(), BTreeSet::new());
    for t in tags(lines) {
        let (is_bi, rest) = if let Some(r) = t.strip_prefix(".BI \\-") {
            (true, r)
        } else if let Some(r) = t.strip_prefix(".B \\-") {
            (false, r)
        } else {
            panic!("option tag not in the form .B \\-c or .BI \\-c \" arg\": {t:?}");
        };
        let mut ch = rest.chars();
        let c = ch.next().unwrap();
        let after = ch.as_str();
        if is_bi {
            assert!(after.starts_with(" \" "), "{t:?}: argument missing");
            assert!(with_arg.insert(c), "-{c} documented twice");
        } else {
            assert!(after.is_empty(), "{t:?}: a flag tag names one option");
            assert!(flags.insert(c), "-{c} documented twice");
        }
    }
    (flags, with_arg)
}

fn set(s: &str) -> BTreeSet<char> {
    s.chars().collect()
}

fn check_options(name: &str, flags: &str, with_arg: &str) {
    let text = page(name);
    let (f, a) = documented(&section(&text, "OPTIONS"));
    assert_eq!(f, set(flags), "{name}: options without argument");
    assert_eq!(a, set(with_arg), "{name}: options with an argument");
    // The synopsis names each option too.
    let syn = section(&text, "SYNOPSIS").join("\n");
    for c in flags.chars().chain(with_arg.chars()) {
        if "sTMN".contains(c) && name == "fsck.rextfs.8" {
            continue; // fsck(8)'s own, only listed under OPTIONS
        }
        assert!(
            syn.contains(&format!("\\-{c}")),
            "{name}: -{c} not in the synopsis"
        );
    }
}

#[test]
fn mkfs_page_lists_every_option() {
    check_options("mkfs.rextfs.8", cli::MKFS_FLAGS, cli::MKFS_WITH_ARG);
}

#[test]
fn fsck_page_lists_every_option_and_exit_code() {
    check_options("fsck.rextfs.8", cli::FSCK_FLAGS, cli::FSCK_WITH_ARG);
    let text = page("fsck.rextfs.8");
    let codes: BTreeSet<i32> = tags(&section(&text, "EXIT STATUS"))
        .iter()
        .map(|t| {
            t.strip_prefix(".B ")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("exit status tag {t:?}"))
        })
        .collect();
    let want: BTreeSet<i32> = [
        EXIT_OK,
        EXIT_FIXED,
        EXIT_REBOOT,
        EXIT_UNCORRECTED,
        EXIT_OPERATIONAL,
        EXIT_USAGE,
        EXIT_CANCELED,
    ]
    .into();
    assert_eq!(codes, want);
}

#[test]
fn dump_page_lists_every_command() {
    check_options("rextfs-dump.8", cli::DUMP_FLAGS, "");
    let text = page("rextfs-dump.8");
    let listed: BTreeSet<&str> = tags(&section(&text, "COMMANDS"))
        .iter()
        .map(|t| {
            let t = t
                .strip_prefix(".BI ")
                .or_else(|| t.strip_prefix(".B "))
                .unwrap_or_else(|| panic!("command tag {t:?}"));
            t.split_whitespace().next().unwrap()
        })
        .collect();
    let want: BTreeSet<&str> = cli::DUMP_COMMANDS.into_iter().collect();
    assert_eq!(listed, want);
}

/// The option sets are what the binaries accept: each documented option is
/// taken (no usage error), a letter outside them is refused.
#[test]
fn binaries_accept_exactly_the_listed_options() {
    let mkfs = env!("CARGO_BIN_EXE_mkfs-rextfs");
    let fsck = env!("CARGO_BIN_EXE_fsck-rextfs");
    let dump = env!("CARGO_BIN_EXE_rextfs-dump");
    let d = std::env::temp_dir().join(format!("rextfs-man-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let img = d.join("img");
    let p = img.to_str().unwrap();
    std::fs::File::create(&img)
        .unwrap()
        .set_len(16 << 20)
        .unwrap();
    let code = |bin: &str, args: &[&str]| {
        let o = Command::new(bin).args(args).output().unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    assert_eq!(code(mkfs, &["-q", p]).0, 0);
    // fsck: one run per option (with -n, or alone for modes); never 16.
    for c in cli::FSCK_FLAGS.chars() {
        let opt = format!("-{c}");
        let args: Vec<&str> = if "nypa".contains(c) {
            vec![&opt, p]
        } else {
            vec!["-n", &opt, p]
        };
        let (rc, err) = code(fsck, &args);
        assert!(rc == 0, "fsck.rextfs {args:?}: {rc} {err}");
    }
    assert_eq!(code(fsck, &["-n", "-C", "0", p]).0, 0);
    // mkfs: every option with a valid value.
    for args in [
        &["-q", "-f", "-b", "1024", p][..],
        &["-q", "-f", "-L", "x", p],
        &["-q", "-f", "-U", "00112233445566778899aabbccddeeff", p],
        &["-q", "-f", "-N", "100", p],
        &["-q", "-f", "-J", "size=4", p],
        &[
            "-q",
            "-f",
            "-E",
            "hash_key=000102030405060708090a0b0c0d0e0f",
            p,
        ],
        &["-V"],
        &["-h"],
    ] {
        let (rc, err) = code(mkfs, args);
        assert_eq!(rc, 0, "mkfs.rextfs {args:?}: {err}");
    }
    for cmd in cli::DUMP_COMMANDS {
        let args: Vec<&str> = if cmd == "sb" || cmd == "bitmap" || cmd == "journal" {
            vec![p, cmd]
        } else {
            vec![p, cmd, "1"]
        };
        assert_eq!(code(dump, &args).0, 0, "rextfs-dump {args:?}");
    }
    // Letters outside the sets are usage errors.
    let unused = |known: &str| {
        ('a'..='z')
            .chain('A'..='Z')
            .find(|c| !known.contains(*c))
            .unwrap()
    };
    let bad = format!(
        "-{}",
        unused(&format!("{}{}", cli::FSCK_FLAGS, cli::FSCK_WITH_ARG))
    );
    assert_eq!(code(fsck, &[&bad, p]).0, EXIT_USAGE);
    let bad = format!(
        "-{}",
        unused(&format!("{}{}", cli::MKFS_FLAGS, cli::MKFS_WITH_ARG))
    );
    assert_eq!(code(mkfs, &[&bad, p]).0, 1);
    assert_eq!(code(dump, &[p, "nonsense"]).0, 1);
    std::fs::remove_dir_all(&d).unwrap();
}
