// SPDX-License-Identifier: GPL-2.0

//! rextfs-crash: the crash-consistency workload and checker used by
//! scripts/crash-test (see src/crash.rs).

use rextfs_verify::crash::{check, write, CrashConfig, XATTR_MIN};
use rextfs_verify::op::parse_num;
use std::path::PathBuf;
use std::process::ExitCode;

const HELP: &str = "\
usage: rextfs-crash write --journal J [--seed N] [--ops N] [--after N]
                          [--files N] [--cut-cmd CMD] [--lie]
                          [--mark-cmd CMD] [--xattrs MAXLEN] DIR
       rextfs-crash check --journal J [--upto MARK] DIR

write: runs a seeded workload with fsyncs in DIR, recording in J what each
       sync made durable; after --ops ops runs the --cut-cmd CMD (the power
       cut), stops recording and runs --after more ops (without --cut-cmd:
       --ops ops in all). --lie keeps recording after the cut (a negative
       control: the check must then fail). After the setup and after each
       sync, once J has its records, J gets a line 'mark syncN' (N from 0)
       and the --mark-cmd CMD runs (sh -c CMD, the name syncN as $1), e.g.
       'dmsetup message DEV 0 mark \"$1\"' to mark a dm-log-writes log.
       --xattrs MAXLEN also sets generations of 4 user. attributes on each
       overwrite file (values of 32 to MAXLEN bytes, at most 65536), with
       an fsync of the file after half of them; e.g. 20000 for rextfs
       (values in chains of value blocks), 700 for ext4 (one block for all
       the attributes of a file). Without it a seed runs the same ops as
       before attributes existed.
check: verifies DIR against J after the crash and remount; with --upto
       MARK, against what was durable at that mark (for a state known to
       be from at or after it). When J says the workload set attributes,
       each must be a complete generation at least as new as the durable
       one. Exit 0 when consistent, 1 when not, 2 on usage errors.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = |e: &str| {
        eprintln!("rextfs-crash: {e}\n{HELP}");
        ExitCode::from(2)
    };
    let Some(cmd) = args.first().cloned() else {
        return usage("no command");
    };
    let mut cfg = CrashConfig {
        dir: PathBuf::new(),
        journal: PathBuf::new(),
        seed: 1,
        cut_at: 200,
        after: 40,
        cut_cmd: None,
        files: 3,
        lie: false,
        mark_cmd: None,
        xattr_max: 0,
    };
    let mut upto = None;
    let mut dir = None;
    let mut i = 1;
    while i < args.len() {
        let a = args[i].as_str();
        let v = args.get(i + 1).cloned().unwrap_or_default();
        let n = || parse_num(&v);
        let r: Result<(), String> = match a {
            "--journal" => {
                cfg.journal = PathBuf::from(&v);
                Ok(())
            }
            "--seed" => n().map(|x| cfg.seed = x),
            "--ops" => n().map(|x| cfg.cut_at = x),
            "--after" => n().map(|x| cfg.after = x),
            "--files" => n().map(|x| cfg.files = x.max(1) as usize),
            "--xattrs" => n().and_then(|x| {
                if (XATTR_MIN..=65536).contains(&x) {
                    cfg.xattr_max = x;
                    Ok(())
                } else {
                    Err(format!("--xattrs must be {XATTR_MIN} to 65536"))
                }
            }),
            "--cut-cmd" => {
                cfg.cut_cmd = Some(v.clone());
                Ok(())
            }
            "--mark-cmd" => {
                cfg.mark_cmd = Some(v.clone());
                Ok(())
            }
            "--upto" => {
                upto = Some(v.clone());
                Ok(())
            }
            "--lie" => {
                cfg.lie = true;
                i += 1;
                continue;
            }
            "-h" | "--help" => {
                println!("{HELP}");
                return ExitCode::SUCCESS;
            }
            _ if a.starts_with('-') => return usage(&format!("unknown option {a}")),
            _ => {
                dir = Some(PathBuf::from(a));
                i += 1;
                continue;
            }
        };
        if let Err(e) = r {
            return usage(&e);
        }
        i += 2;
    }
    let Some(dir) = dir else {
        return usage("no DIR");
    };
    if cfg.journal.as_os_str().is_empty() {
        return usage("no --journal");
    }
    cfg.dir = dir;
    match cmd.as_str() {
        "write" => match write(&cfg) {
            Ok(n) => {
                println!("rextfs-crash: seed {:#x}: {n} ops", cfg.seed);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("rextfs-crash: write: {e}");
                ExitCode::from(1)
            }
        },
        "check" => match check(&cfg.dir, &cfg.journal, upto.as_deref()) {
            Ok((bad, summary)) if bad.is_empty() => {
                println!("rextfs-crash: consistent: {summary}");
                ExitCode::SUCCESS
            }
            Ok((bad, summary)) => {
                for b in &bad {
                    eprintln!("rextfs-crash: {b}");
                }
                eprintln!(
                    "rextfs-crash: INCONSISTENT ({} problems): {summary}",
                    bad.len()
                );
                ExitCode::from(1)
            }
            Err(e) => {
                eprintln!("rextfs-crash: check: {e}");
                ExitCode::from(1)
            }
        },
        _ => usage(&format!("unknown command {cmd}")),
    }
}
