// SPDX-License-Identifier: GPL-2.0

//! rextfs-corrupt: builds populated rextfs images and corrupted variants of
//! them for scripts/corrupt-test (see src/corrupt.rs).

use rextfs_verify::corrupt::{
    analyze, apply, apply_must_fail, build_base, find, fsck_repairs, fsck_verdict, parse_must_fail,
    random, targeted, Expect, Mutation,
};
use rextfs_verify::corrupt_check::{manifest, Blast, Judge};
use rextfs_verify::op::parse_num;
use rextfs_verify::walk::walk;
use std::process::ExitCode;

const HELP: &str = "\
usage: rextfs-corrupt base OUT.img [--block-size 1024|4096] [--size BYTES]
       rextfs-corrupt list BASE.img [--seed S] [--random N] [--must-fail FILE]
                      [--names 'NAME...']
       rextfs-corrupt apply BASE.img NAME OUT.img [--seed S] [--random N]
       rextfs-corrupt apply-many BASE.img OUTDIR NAME... [--seed S] [--random N]
       rextfs-corrupt repairable IMG
       rextfs-corrupt walk DIR --base BASE.img [--write | --reread [--unmounted WHY]]
                      [--mutation NAME --expect must-fail|may-pass [--seed S] [--random N]]

base:  writes a populated, fsck-clean image built with the rextfs-tools
       library (no kernel needed).
list:  prints one line per mutation of BASE: NAME, must-fail or may-pass,
       fsck -n exit code, whether fsck -y repairs it (repairable or
       unrepairable), description (tab separated). --must-fail FILE takes the
       expectations from that fixed list (tests/corrupt/must-fail): a listed
       name this image does not have is an error (exit 1), and so is a
       must-fail mutation fsck -n finds nothing wrong with (exit 1 after the
       list is printed). --names lists only those (fsck runs only on them),
       and fails on a name that is not a mutation of BASE.
repairable: exit 0 when fsck -y (run on a copy in memory) leaves IMG in a
       state fsck -n finds clean, 1 otherwise.
apply: writes the mutated image NAME (same --seed/--random as list);
       apply-many writes OUTDIR/NAME.img for each NAME.
walk:  reads everything under DIR, the mounted BASE or its mutation NAME
       (readdir, lstat, read, readlink, llistxattr and lgetxattr of every
       name, ACLs included), with --write also creates and removes files,
       and judges what it saw against BASE read by the library (the rule
       is in src/corrupt_check.rs). Without --mutation,
       DIR is BASE itself: everything must read back identical, without a
       single error. --reread: DIR is the image mounted again (read-only)
       after a walk with --write; the same rule, except that a must-fail
       mutation needs no error any more (rule 4); --unmounted WHY: that
       mount failed (allowed only when the superblock is damaged). Prints
       every error and broken rule. Exit 0: no error, 3: errors, all
       allowed, 1: a rule was broken.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is_empty() => {
            println!("{HELP}");
            ExitCode::SUCCESS
        }
        Err(e) if e == "errors" => ExitCode::from(3),
        Err(e) => {
            eprintln!("rextfs-corrupt: {e}");
            ExitCode::from(if e.starts_with("usage") { 2 } else { 1 })
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let mut pos = Vec::new();
    let (mut write, mut must_fail, mut base_img, mut mutation, mut expect) =
        (false, None, None, None, None);
    let mut names: Option<String> = None;
    let (mut reread, mut unmounted): (bool, Option<String>) = (false, None);
    let (mut log2, mut size, mut seed, mut nrandom) = (12u32, 8u64 << 20, 1u64, 40usize);
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        let v = || args.get(i + 1).ok_or(format!("usage: {a} needs a value"));
        match a {
            "-h" | "--help" => return Err(String::new()),
            "--write" => {
                write = true;
                i += 1;
                continue;
            }
            "--reread" => {
                reread = true;
                i += 1;
                continue;
            }
            "--unmounted" => unmounted = Some(v()?.clone()),
            "--must-fail" => must_fail = Some(v()?.clone()),
            "--names" => names = Some(v()?.clone()),
            "--base" => base_img = Some(v()?.clone()),
            "--mutation" => mutation = Some(v()?.clone()),
            "--expect" => {
                expect = Some(match v()?.as_str() {
                    "must-fail" => Expect::MustFail,
                    "may-pass" => Expect::MayPass,
                    x => return Err(format!("usage: --expect {x}")),
                })
            }
            "--block-size" => {
                let bs = parse_num(v()?)?;
                if !bs.is_power_of_two() {
                    return Err("usage: the block size must be a power of two".into());
                }
                log2 = bs.trailing_zeros();
            }
            "--size" => size = parse_num(v()?)?,
            "--seed" => seed = parse_num(v()?)?,
            "--random" => nrandom = parse_num(v()?)? as usize,
            _ if a.starts_with('-') => return Err(format!("usage: unknown option {a}")),
            _ => {
                pos.push(a.to_string());
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    let read = |p: &str| std::fs::read(p).map_err(|e| format!("{p}: {e}"));
    match pos.first().map(String::as_str) {
        Some("base") if pos.len() == 2 => {
            let img = build_base(log2, size as usize)?;
            std::fs::write(&pos[1], img).map_err(|e| format!("{}: {e}", pos[1]))
        }
        Some("list") if pos.len() == 2 => {
            let base = read(&pos[1])?;
            let info = analyze(&base)?;
            let mut muts: Vec<(Mutation, i32)> = targeted(&info)
                .into_iter()
                .chain(random(&info, seed, nrandom))
                .map(|m| (m, 0))
                .collect();
            if let Some(f) = &must_fail {
                let text = std::fs::read_to_string(f).map_err(|e| format!("{f}: {e}"))?;
                apply_must_fail(&mut muts, &parse_must_fail(&text))?;
            }
            if let Some(names) = &names {
                let names: Vec<&str> = names.split_whitespace().collect();
                if let Some(n) = names.iter().find(|n| !muts.iter().any(|m| m.0.name == **n)) {
                    return Err(format!("no mutation named {n} (renamed or lost?)"));
                }
                muts.retain(|m| names.contains(&m.0.name.as_str()));
            }
            let mut missed = Vec::new();
            for (m, code) in &mut muts {
                *code = fsck_verdict(&apply(&base, &info, m)).0;
                let repair = if fsck_repairs(&apply(&base, &info, m)) {
                    "repairable"
                } else {
                    "unrepairable"
                };
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    m.name,
                    m.expect.name(),
                    code,
                    repair,
                    m.what
                );
                if m.expect == Expect::MustFail && *code == 0 {
                    missed.push(m.name.clone());
                }
            }
            if missed.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "fsck -n finds nothing wrong with must-fail mutations: {}",
                    missed.join(" ")
                ))
            }
        }
        Some("repairable") if pos.len() == 2 => {
            if fsck_repairs(&read(&pos[1])?) {
                Ok(())
            } else {
                Err(format!(
                    "{}: fsck -y does not make it clean (fsck -n still finds problems after it)",
                    pos[1]
                ))
            }
        }
        Some("apply") if pos.len() == 4 => {
            let base = read(&pos[1])?;
            let (info, m) = find(&base, seed, nrandom, &pos[2..3])?;
            let img = apply(&base, &info, &m[0]);
            let (code, first) = fsck_verdict(&img);
            std::fs::write(&pos[3], img).map_err(|e| format!("{}: {e}", pos[3]))?;
            let sep = if first.is_empty() { "" } else { ": " };
            println!(
                "{}: {} (fsck -n exit {code}{sep}{first})",
                m[0].name, m[0].what
            );
            Ok(())
        }
        Some("apply-many") if pos.len() >= 3 => {
            let base = read(&pos[1])?;
            let (info, ms) = find(&base, seed, nrandom, &pos[3..])?;
            for m in ms {
                let p = format!("{}/{}.img", pos[2], m.name);
                std::fs::write(&p, apply(&base, &info, &m)).map_err(|e| format!("{p}: {e}"))?;
            }
            Ok(())
        }
        Some("walk") if pos.len() == 2 => {
            let b = base_img.ok_or("usage: walk needs --base")?;
            let base = read(&b)?;
            let man = manifest(&base).map_err(|e| format!("{b}: {e}"))?;
            let judge = match &mutation {
                None => Judge {
                    man: &man,
                    blast: Blast::default(),
                    lenient: false,
                    must_fail: false,
                    control: true,
                },
                Some(name) => {
                    let (info, m) = find(&base, seed, nrandom, std::slice::from_ref(name))?;
                    let expect = expect.ok_or("usage: --mutation needs --expect")?;
                    Judge {
                        man: &man,
                        blast: Blast::of(&info, &m[0]),
                        lenient: m[0].random_sealed(),
                        // Rule 3 was settled by the walk before the writes.
                        must_fail: expect == Expect::MustFail && !reread,
                        control: false,
                    }
                }
            };
            if (write && reread) || (unmounted.is_some() && !reread) {
                return Err("usage: --reread excludes --write; --unmounted needs --reread".into());
            }
            let w = match &unmounted {
                Some(why) => rextfs_verify::walk::Walk {
                    errors: vec![rextfs_verify::walk::WalkError {
                        path: "/".into(),
                        probe: false,
                        line: format!("mount -o ro: {why}"),
                    }],
                    ..Default::default()
                },
                None => walk(std::path::Path::new(&pos[1]), write),
            };
            let v = match &unmounted {
                Some(why) => judge.judge_unmounted(why),
                None => judge.judge(&w),
            };
            let (tag, what) = if reread {
                ("reread ", "after the writes, mounted again read-only: ")
            } else {
                ("", "")
            };
            for e in &w.errors {
                println!("{tag}{}", e.line);
            }
            for x in &v.violations {
                println!("BROKEN: {what}{x}");
            }
            println!(
                "{tag}walk: {} entries, {} bytes read, {} errors ({} on damaged objects), {} broken rules",
                w.entries,
                w.bytes,
                w.errors.len(),
                v.errors_inside,
                v.violations.len()
            );
            if !v.violations.is_empty() {
                Err(format!("{} broken rules", v.violations.len()))
            } else if !w.errors.is_empty() {
                Err(String::from("errors"))
            } else {
                Ok(())
            }
        }
        _ => Err("usage: see rextfs-corrupt --help".into()),
    }
}
