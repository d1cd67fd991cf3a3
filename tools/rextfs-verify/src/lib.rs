// SPDX-License-Identifier: GPL-2.0

//! rextfs-verify: a seeded random-operation file verifier in the spirit of
//! fsx. It drives buffered, O_DIRECT and mmap I/O, truncate, fallocate,
//! fsync, reopen, extended attributes and remount against real files, keeps
//! an in-memory model of each, and compares every read and, periodically,
//! every whole file and its attributes. A failure prints the seed, the op
//! number, the first differing offset and saves an op log that `--replay`
//! runs again.

pub mod corrupt;
pub mod corrupt_check;
pub mod crash;
pub mod engine;
pub mod logwrites;
pub mod model;
pub mod op;
pub mod rng;
pub mod walk;

use engine::{Engine, EngineConfig, Failure, Stat};
use op::{GenConfig, Generator, Op};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What a log needs besides its ops to be replayed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogHeader {
    /// The generator seed (informational for replays).
    pub seed: Option<u64>,
    /// File names by index.
    pub names: Vec<String>,
    /// Shared-file mode size.
    pub shared_size: Option<u64>,
    /// Shared-file mode checked region.
    pub region: Option<(u64, u64)>,
    /// O_DIRECT alignment.
    pub align: u64,
}

/// A parsed or recorded op log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpLog {
    /// Header.
    pub header: LogHeader,
    /// Numbered ops.
    pub ops: Vec<(u64, Op)>,
}

impl OpLog {
    /// The text form.
    pub fn to_text(&self) -> String {
        let h = &self.header;
        let mut s =
            String::from("# rextfs-verify op log (replay: rextfs-verify --replay THIS_FILE DIR)\n");
        if let Some(seed) = h.seed {
            s += &format!("# seed {seed:#x}\n");
        }
        s += &format!("# align {}\n", h.align);
        for (i, n) in h.names.iter().enumerate() {
            s += &format!("# file {i} {n}\n");
        }
        if let Some(size) = h.shared_size {
            s += &format!("# shared-size {size:#x}\n");
        }
        if let Some((lo, hi)) = h.region {
            s += &format!("# region {lo:#x} {hi:#x}\n");
        }
        for (n, op) in &self.ops {
            s += &format!("{n} {op}\n");
        }
        s
    }

    /// Parses the text form.
    pub fn parse(text: &str) -> Result<OpLog, String> {
        let mut log = OpLog {
            header: LogHeader {
                align: 4096,
                ..LogHeader::default()
            },
            ops: Vec::new(),
        };
        for (ln, line) in text.lines().enumerate() {
            let ctx = |e: String| format!("line {}: {e}", ln + 1);
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix('#') {
                let w: Vec<&str> = rest.split_whitespace().collect();
                let num = |i: usize| op::parse_num(w.get(i).copied().unwrap_or("")).map_err(ctx);
                match w.first().copied() {
                    Some("seed") => log.header.seed = Some(num(1)?),
                    Some("align") => log.header.align = num(1)?,
                    Some("file") => {
                        let i = num(1)? as usize;
                        let name = w.get(2).ok_or_else(|| ctx("file without a name".into()))?;
                        if i != log.header.names.len() {
                            return Err(ctx("files out of order".into()));
                        }
                        log.header.names.push(name.to_string());
                    }
                    Some("shared-size") => log.header.shared_size = Some(num(1)?),
                    Some("region") => log.header.region = Some((num(1)?, num(2)?)),
                    _ => {}
                }
                continue;
            }
            let (n, rest) = line
                .split_once(' ')
                .ok_or_else(|| ctx(format!("bad line '{line}'")))?;
            let n = op::parse_num(n).map_err(ctx)?;
            log.ops.push((n, rest.parse().map_err(ctx)?));
        }
        if log.header.names.is_empty() {
            return Err("the log names no file".into());
        }
        for (_, op) in &log.ops {
            let f = op.file();
            if f >= log.header.names.len() {
                return Err(format!(
                    "op '{op}' names file {f}, which the log does not list"
                ));
            }
        }
        Ok(log)
    }
}

/// The outcome of a run.
#[derive(Debug)]
pub struct Outcome {
    /// Ops run (the final check included).
    pub ops: u64,
    /// Per-kind counters.
    pub stats: BTreeMap<String, Stat>,
    /// O_DIRECT was refused by the filesystem.
    pub direct_refused: bool,
    /// The failure, if any, and where its log was saved.
    pub failure: Option<(Failure, Option<PathBuf>)>,
    /// The full op log.
    pub log: OpLog,
    /// The kinds of operation the run was asked to run: the generator's
    /// kinds for a seeded run, those of the log for a replay.
    pub requested: Vec<String>,
    /// Unsupported operations were tolerated (`--allow-unsupported`).
    pub allow_unsupported: bool,
    /// ENOSPC from a setxattr was tolerated (`--xattr-enospc-ok`).
    pub xattr_enospc_ok: bool,
}

impl Outcome {
    /// Op kinds refused with ENOSPC and tolerated, with how often.
    pub fn enospc(&self) -> Vec<(String, u64)> {
        self.stats
            .iter()
            .filter(|(_, s)| s.enospc > 0)
            .map(|(k, s)| (k.clone(), s.enospc))
            .collect()
    }

    /// Op kinds the filesystem did not support, with how often.
    pub fn unsupported(&self) -> Vec<(String, u64)> {
        self.stats
            .iter()
            .filter(|(_, s)| s.unsupported > 0)
            .map(|(k, s)| (k.clone(), s.unsupported))
            .collect()
    }

    /// How often each requested kind ran, requested kinds first (in the
    /// generator's order), then any other kind that ran.
    pub fn counts(&self) -> Vec<(String, u64)> {
        let done = |k: &str| self.stats.get(k).map_or(0, |s| s.done);
        let mut v: Vec<(String, u64)> = self
            .requested
            .iter()
            .map(|k| (k.clone(), done(k)))
            .collect();
        for (k, s) in &self.stats {
            if !self.requested.contains(k) && s.done > 0 {
                v.push((k.clone(), s.done));
            }
        }
        v
    }

    /// Requested kinds that never ran successfully: a run that completed
    /// without a failure still fails then, as it did not cover what it was
    /// asked to. Kinds the filesystem refused and that were tolerated
    /// (`--allow-unsupported`, `--xattr-enospc-ok`, reported separately)
    /// are left out: the ENOSPC of a set was checked to change nothing.
    pub fn missing(&self) -> Vec<String> {
        let tolerated = |s: &Stat| (self.allow_unsupported && s.unsupported > 0) || s.enospc > 0;
        self.requested
            .iter()
            .filter(
                |k| !matches!(self.stats.get(k.as_str()), Some(s) if s.done > 0 || tolerated(s)),
            )
            .cloned()
            .collect()
    }
}

/// Where a failing run saves its log.
pub fn failure_log_path(dir: &Path, header: &LogHeader) -> PathBuf {
    let tag = match header.seed {
        Some(s) => format!("{s:#x}"),
        None => "replay".into(),
    };
    let first = header.names.first().cloned().unwrap_or_default();
    dir.join(format!("rextfs-verify-{tag}-{first}.log"))
}

fn save(log: &OpLog, path: &Path) -> Option<PathBuf> {
    let r = std::fs::File::create(path).and_then(|mut f| f.write_all(log.to_text().as_bytes()));
    match r {
        Ok(()) => Some(path.to_path_buf()),
        Err(e) => {
            eprintln!(
                "rextfs-verify: cannot save the op log to {}: {e}",
                path.display()
            );
            None
        }
    }
}

fn finish(
    engine: Engine,
    n: u64,
    log: OpLog,
    failure: Option<Failure>,
    log_dir: &Path,
    requested: Vec<String>,
) -> Outcome {
    let failure = failure.map(|f| {
        let p = save(&log, &failure_log_path(log_dir, &log.header));
        (f, p)
    });
    Outcome {
        ops: n,
        stats: engine.stats.clone(),
        direct_refused: engine.direct_refused(),
        failure,
        log,
        requested,
        allow_unsupported: engine.allow_unsupported(),
        xattr_enospc_ok: engine.xattr_enospc_ok(),
    }
}

/// Runs `ops` generated ops from `seed`, then a full check.
pub fn run_seeded(
    gen: GenConfig,
    eng: EngineConfig,
    seed: u64,
    ops: u64,
    log_dir: &Path,
) -> std::io::Result<Outcome> {
    let header = LogHeader {
        seed: Some(seed),
        names: eng.names.clone(),
        shared_size: eng.shared_size,
        region: eng.region,
        align: eng.align,
    };
    let mut engine = Engine::new(eng)?;
    let mut g = Generator::new(gen, seed);
    let requested = g.kinds(ops);
    let mut log = OpLog {
        header,
        ops: Vec::with_capacity(ops as usize + 1),
    };
    for n in 1..=ops + 1 {
        let op = if n > ops {
            Op::Check
        } else {
            g.next(n, &engine.models())
        };
        log.ops.push((n, op.clone()));
        if let Err(f) = engine.apply(n, &op) {
            return Ok(finish(engine, n, log, Some(f), log_dir, requested));
        }
    }
    Ok(finish(engine, ops + 1, log, None, log_dir, requested))
}

/// Replays a log (its ops, then a full check). `eng` gives the directory,
/// the remount command and the options; names, sizes and the alignment
/// come from the log, and the checks compare attributes when the log has
/// attribute ops.
pub fn replay(log: OpLog, mut eng: EngineConfig, log_dir: &Path) -> std::io::Result<Outcome> {
    let h = &log.header;
    eng.names = h.names.clone();
    eng.shared_size = h.shared_size;
    eng.region = h.region;
    eng.align = h.align;
    eng.xattr = log.ops.iter().any(|(_, op)| op.is_xattr());
    let mut engine = Engine::new(eng)?;
    let mut requested: Vec<String> = Vec::new();
    for (_, op) in &log.ops {
        let k = op.kind();
        if !matches!(op, Op::Corrupt { .. }) && !requested.contains(&k) {
            requested.push(k);
        }
    }
    if !requested.iter().any(|k| k == "check") {
        requested.push("check".into());
    }
    let mut out = OpLog {
        header: LogHeader {
            seed: None,
            ..h.clone()
        },
        ops: Vec::new(),
    };
    let last = log.ops.last().map(|o| o.0).unwrap_or(0);
    for (n, op) in log
        .ops
        .iter()
        .cloned()
        .chain(std::iter::once((last + 1, Op::Check)))
    {
        out.ops.push((n, op.clone()));
        if let Err(f) = engine.apply(n, &op) {
            return Ok(finish(engine, n, out, Some(f), log_dir, requested));
        }
    }
    Ok(finish(engine, last + 1, out, None, log_dir, requested))
}

/// Prints a failure report to stderr.
pub fn print_failure(o: &Outcome, f: &Failure, path: Option<&Path>, dir: &Path, rerun: &str) {
    let e = |s: String| eprintln!("rextfs-verify: {s}");
    let seed = o
        .log
        .header
        .seed
        .map(|s| format!("{s:#x}"))
        .unwrap_or_else(|| "(replay)".into());
    e(format!(
        "FAILED seed={seed} op={} ({}) file={}",
        f.op_no,
        f.op,
        f.file.as_deref().unwrap_or("-")
    ));
    e(format!("  {}", f.what));
    if let Some(d) = &f.diff {
        let b = |v: Option<u8>| {
            v.map(|x| format!("{x:#04x}"))
                .unwrap_or_else(|| "EOF".into())
        };
        e(format!(
            "  first differing offset {:#x}: expected {}, got {}; {} bytes differ up to {:#x}",
            d.offset,
            b(d.expected),
            b(d.got),
            d.count,
            d.last
        ));
    }
    e("  last ops:".into());
    let tail = o.log.ops.len().saturating_sub(20);
    for (n, op) in &o.log.ops[tail..] {
        e(format!("    {n} {op}"));
    }
    if let Some(p) = path {
        let mut opts = String::new();
        if o.allow_unsupported {
            opts += " --allow-unsupported";
        }
        if o.xattr_enospc_ok {
            opts += " --xattr-enospc-ok";
        }
        e(format!("  op log saved to {}", p.display()));
        e(format!(
            "  replay: rextfs-verify --replay {}{opts} {}",
            p.display(),
            dir.display()
        ));
    }
    if !rerun.is_empty() {
        e(format!("  or rerun: {rerun}"));
    }
}
