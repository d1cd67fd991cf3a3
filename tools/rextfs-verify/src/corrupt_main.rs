// SPDX-License-Identifier: GPL-2.0

//! rextfs-corrupt: builds populated rextfs images and corrupted variants of
//! them for scripts/corrupt-test (see src/corrupt.rs).

use rextfs_verify::corrupt::{all, apply, apply_baseline, build_base, find, fsck_verdict};
use rextfs_verify::op::parse_num;
use rextfs_verify::walk::walk;
use std::process::ExitCode;

const HELP: &str = "\
usage: rextfs-corrupt base OUT.img [--block-size 1024|4096] [--size BYTES]
       rextfs-corrupt list BASE.img [--seed S] [--random N] [--baseline FILE]
       rextfs-corrupt apply BASE.img NAME OUT.img [--seed S] [--random N]
       rextfs-corrupt apply-many BASE.img OUTDIR NAME... [--seed S] [--random N]
       rextfs-corrupt walk DIR [--write] [--baseline FILE] [--save FILE]

base:  writes a populated, fsck-clean image built with the rextfs-tools
       library (no kernel needed).
list:  prints one line per mutation of BASE: NAME, must-fail or may-pass,
       fsck -n exit code, description (tab separated). With --baseline (the
       errors of a walk of the clean image), must-fail mutations of objects
       the clean image already fails on become may-pass.
apply: writes the mutated image NAME (same --seed/--random as list);
       apply-many writes OUTDIR/NAME.img for each NAME.
walk:  reads everything under DIR (readdir, lstat, read, readlink), with
       --write also creates and removes files; prints every error; errors
       listed in the --baseline file (saved from a walk of the clean image
       with --save) do not count. Exit 0: no new error, 1: new errors.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is_empty() => {
            println!("{HELP}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rextfs-corrupt: {e}");
            ExitCode::from(if e.starts_with("usage") { 2 } else { 1 })
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let mut pos = Vec::new();
    let (mut write, mut baseline, mut save) = (false, None, None);
    let (mut log2, mut size, mut seed, mut nrandom) = (12u32, 4u64 << 20, 1u64, 40usize);
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
            "--baseline" => baseline = Some(v()?.clone()),
            "--save" => save = Some(v()?.clone()),
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
            let (_, mut muts) = all(&base, seed, nrandom)?;
            if let Some(b) = &baseline {
                let lines: Vec<String> = std::fs::read_to_string(b)
                    .unwrap_or_default()
                    .lines()
                    .map(String::from)
                    .collect();
                apply_baseline(&mut muts, &lines);
            }
            for (m, code) in muts {
                println!("{}\t{}\t{}\t{}", m.name, m.expect.name(), code, m.what);
            }
            Ok(())
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
            let w = walk(std::path::Path::new(&pos[1]), write);
            let known: Vec<String> = match &baseline {
                Some(b) => std::fs::read_to_string(b)
                    .unwrap_or_default()
                    .lines()
                    .map(String::from)
                    .collect(),
                None => Vec::new(),
            };
            if let Some(s) = &save {
                std::fs::write(s, w.errors.join("\n") + "\n").map_err(|e| format!("{s}: {e}"))?;
            }
            let new: Vec<&String> = w.errors.iter().filter(|e| !known.contains(e)).collect();
            for e in &new {
                println!("{e}");
            }
            println!(
                "walk: {} entries, {} bytes read, {} errors ({} also on the clean image)",
                w.entries,
                w.bytes,
                w.errors.len(),
                w.errors.len() - new.len()
            );
            if new.is_empty() {
                Ok(())
            } else {
                Err(format!("{} new errors", new.len()))
            }
        }
        _ => Err("usage: see rextfs-corrupt --help".into()),
    }
}
