// SPDX-License-Identifier: GPL-2.0

//! rextfs-logreplay: lists and replays dm-log-writes logs, for the
//! log-writes mode of scripts/crash-test (see src/logwrites.rs).

use rextfs_verify::logwrites::{choose_points, replay, target_size, zero_range, Discard, Log};
use rextfs_verify::op::parse_num;
use std::fs::{File, OpenOptions};
use std::process::ExitCode;

const HELP: &str = "\
usage: rextfs-logreplay list LOG
       rextfs-logreplay marks LOG
       rextfs-logreplay flush-points [--after-mark NAME] LOG
       rextfs-logreplay replay [--to N | --to-mark NAME] [--discard zero|skip]
                               [--wipe] LOG TARGET
       rextfs-logreplay points --max N [--seed S] [--after-mark NAME]
                               [--mark-prefix P] LOG
       rextfs-logreplay wipe TARGET

LOG is a dm-log-writes log device (or a copy of one); TARGET a device or
file of at least the logged device's size.

list:         one line per entry: index, flags (FLUSH, FUA, DISCARD, MARK,
              META joined by '+', '-' for none), sector, sectors, mark name
              ('-' for none); sectors in units of the log's sector size.
marks:        index and name of every mark.
flush-points: indices of the FLUSH and FUA entries (after the first mark
              NAME).
replay:       applies entries 0..=N (--to), 0..=the first mark NAME
              (--to-mark) or all of them, in log order, onto TARGET; then
              syncs it. Discarded ranges are zeroed (--discard zero, the
              default) or left alone (skip). --wipe zeroes all of TARGET
              first, for a replay from a blank device.
points:       chooses at most N replay points after the first mark NAME:
              the last entry, the FLUSH/FUA entries and random entries in
              between, spread over the log (seeded). Prints 'ENTRY WHY MARK'
              per point: WHY is flush, between or end; MARK the last mark at
              or before ENTRY whose name starts with P ('-' for none).
wipe:         zeroes TARGET.
Exit status 0 on success, 1 on errors (a malformed log included), 2 on
usage errors.";

enum Fail {
    Usage(String),
    Run(String),
}

fn open_log(path: &str) -> Result<(File, Log), Fail> {
    let mut f = File::open(path).map_err(|e| Fail::Run(format!("{path}: {e}")))?;
    let log = Log::read(&mut f).map_err(|e| Fail::Run(format!("{path}: {e}")))?;
    Ok((f, log))
}

fn open_target(path: &str) -> Result<File, Fail> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| Fail::Run(format!("{path}: {e}")))
}

fn wipe(path: &str, t: &File) -> Result<(), Fail> {
    let size = target_size(t).map_err(|e| Fail::Run(format!("{path}: {e}")))?;
    zero_range(t, 0, size)
        .and_then(|_| t.sync_all())
        .map_err(|e| Fail::Run(format!("{path}: zeroing: {e}")))
}

fn run(args: &[String]) -> Result<(), Fail> {
    let usage = |m: String| Fail::Usage(m);
    let cmd = args.first().ok_or_else(|| usage("no command".into()))?;
    let mut to = None;
    let mut to_mark = None;
    let mut after_mark = None;
    let mut discard = Discard::Zero;
    let mut do_wipe = false;
    let mut max = None;
    let mut seed = 1;
    let mut prefix = String::new();
    let mut pos = Vec::new();
    let mut i = 1;
    while i < args.len() {
        let a = args[i].as_str();
        let mut val = || {
            i += 1;
            args.get(i)
                .cloned()
                .ok_or_else(|| usage(format!("{a} needs a value")))
        };
        match a {
            "--to" => to = Some(parse_num(&val()?).map_err(usage)?),
            "--to-mark" => to_mark = Some(val()?),
            "--after-mark" => after_mark = Some(val()?),
            "--discard" => {
                discard = match val()?.as_str() {
                    "zero" => Discard::Zero,
                    "skip" => Discard::Skip,
                    v => return Err(usage(format!("--discard zero or skip, not '{v}'"))),
                }
            }
            "--wipe" => do_wipe = true,
            "--max" => max = Some(parse_num(&val()?).map_err(usage)? as usize),
            "--seed" => seed = parse_num(&val()?).map_err(usage)?,
            "--mark-prefix" => prefix = val()?,
            _ if a.starts_with('-') => return Err(usage(format!("unknown option {a}"))),
            _ => pos.push(a.to_string()),
        }
        i += 1;
    }
    let want = |n: usize| -> Result<(), Fail> {
        if pos.len() == n {
            Ok(())
        } else {
            Err(usage(format!(
                "{cmd} takes {n} file argument(s), got {}",
                pos.len()
            )))
        }
    };
    match cmd.as_str() {
        "list" => {
            want(1)?;
            let (_, log) = open_log(&pos[0])?;
            println!(
                "# {} entries, sector size {}; index flags sector sectors mark",
                log.entries.len(),
                log.sectorsize
            );
            for e in &log.entries {
                println!(
                    "{} {} {} {} {}",
                    e.index,
                    e.flag_names(),
                    e.sector,
                    e.nr_sectors,
                    e.mark.as_deref().unwrap_or("-")
                );
            }
        }
        "marks" => {
            want(1)?;
            let (_, log) = open_log(&pos[0])?;
            for e in &log.entries {
                if let Some(m) = &e.mark {
                    println!("{} {m}", e.index);
                }
            }
        }
        "flush-points" => {
            want(1)?;
            let (_, log) = open_log(&pos[0])?;
            let after = after_mark
                .map(|m| log.mark_index(&m))
                .transpose()
                .map_err(Fail::Run)?;
            for i in log.flush_points(after) {
                println!("{i}");
            }
        }
        "points" => {
            want(1)?;
            let max = max.ok_or_else(|| usage("points needs --max N".into()))?;
            let (_, log) = open_log(&pos[0])?;
            let after = after_mark
                .map(|m| log.mark_index(&m))
                .transpose()
                .map_err(Fail::Run)?;
            for p in choose_points(&log, after, max, seed, &prefix) {
                println!("{} {} {}", p.entry, p.why, p.mark.as_deref().unwrap_or("-"));
            }
        }
        "replay" => {
            want(2)?;
            if to.is_some() && to_mark.is_some() {
                return Err(usage("--to and --to-mark exclude each other".into()));
            }
            let (mut lf, log) = open_log(&pos[0])?;
            if log.entries.is_empty() {
                return Err(Fail::Run(format!("{}: the log has no entries", pos[0])));
            }
            let to = match (to, to_mark) {
                (Some(n), _) => n,
                (None, Some(m)) => log.mark_index(&m).map_err(Fail::Run)?,
                (None, None) => log.entries.len() as u64 - 1,
            };
            let t = open_target(&pos[1])?;
            if do_wipe {
                wipe(&pos[1], &t)?;
            }
            let st = replay(&log, &mut lf, &t, to, discard).map_err(Fail::Run)?;
            println!(
                "rextfs-logreplay: replayed entries 0..={to}: {} writes, {} bytes, {} discards",
                st.writes, st.bytes, st.discards
            );
        }
        "wipe" => {
            want(1)?;
            let t = open_target(&pos[0])?;
            wipe(&pos[0], &t)?;
        }
        "-h" | "--help" => println!("{HELP}"),
        _ => return Err(usage(format!("unknown command {cmd}"))),
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail::Usage(m)) => {
            eprintln!("rextfs-logreplay: {m}\n{HELP}");
            ExitCode::from(2)
        }
        Err(Fail::Run(m)) => {
            eprintln!("rextfs-logreplay: {m}");
            ExitCode::from(1)
        }
    }
}
