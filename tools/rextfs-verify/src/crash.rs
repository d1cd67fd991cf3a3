// SPDX-License-Identifier: GPL-2.0

//! Crash-consistency workload and checker.
//!
//! `write` runs a seeded workload of appends, in-place block overwrites,
//! atomic replaces (write a temporary file, fsync, rename, fsync the
//! directory), creates and unlinks, with fsync/fdatasync at random points.
//! After each sync returns it appends to a journal kept on storage that
//! survives the "power cut" (the guest's tmpfs) what is now durable. At op
//! `cut_at` it runs the cut command (which makes the device drop every
//! later write), stops journaling and goes on for a few more ops.
//!
//! `check`, after the filesystem was remounted from what the device kept,
//! verifies that everything the journal calls durable is there, and that
//! nothing visible is garbage: data that is not durable must be either the
//! old or the new version, or zeros, never bytes that were never written.
//!
//! Extended attributes (opt-in, `xattr_max`): the workload also sets
//! generations of [`XATTR_SLOTS`] `user.` attributes on each overwrite file,
//! sometimes followed by an fsync of the file, after which the generations
//! set on it are durable. The check wants, for each slot, a complete
//! generation at least as new as the durable one (none needed if none was
//! durable). Attributes are only ever set, never removed, so a removal
//! coming back after a crash is not checked.
//!
//! Durability points: after the setup and after every sync that made
//! something durable, once its records are in the journal, `write` appends
//! a line `mark syncN` (N counting from 0) and runs the mark command, if
//! any, with the name `syncN` as `$1`. The dm-log-writes mode of the crash
//! test makes that command `dmsetup message DEV 0 mark syncN`: the sync had
//! returned, so its FLUSH/FUA is already ahead of the mark in the device's
//! log, and a replay of the log up to any entry at or after that mark must
//! hold everything journaled up to `mark syncN`. `check --upto syncN` checks
//! against exactly that: records after the mark are not durable yet (a
//! created or unlinked name there may or may not exist).

use crate::rng::{fill_pattern, Rng};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Block size of the overwrite files.
pub const BLOCK: u64 = 4096;
/// Blocks per overwrite file.
pub const OVW_BLOCKS: u64 = 32;

/// Workload parameters.
#[derive(Clone, Debug)]
pub struct CrashConfig {
    /// Directory on the filesystem under test.
    pub dir: PathBuf,
    /// The durability journal (on storage that survives the cut).
    pub journal: PathBuf,
    /// Seed.
    pub seed: u64,
    /// Ops before the cut (or in total without a cut command).
    pub cut_at: u64,
    /// Ops after the cut.
    pub after: u64,
    /// Shell command cutting the power.
    pub cut_cmd: Option<String>,
    /// Files of each kind.
    pub files: usize,
    /// Negative control: go on journaling after the cut, as if the lost
    /// syncs had worked; a checker that notices nothing then is broken.
    pub lie: bool,
    /// Shell command run at each durability point, with the mark name
    /// (`sync0`, `sync1`, ...) as `$1`.
    pub mark_cmd: Option<String>,
    /// Set extended attributes too, with values of up to this many bytes
    /// (at least [`XATTR_MIN`]; 0: no attributes, and the op sequence of
    /// a seed is the one it was before attributes existed).
    pub xattr_max: u64,
}

/// Attributes per overwrite file.
pub const XATTR_SLOTS: u64 = 4;

/// The shortest attribute value the workload sets (its generation header
/// and some bytes of pattern).
pub const XATTR_MIN: u64 = 32;

/// The name of attribute slot `s`.
fn xattr_name(s: u64) -> String {
    format!("user.crash{s}")
}

/// Generation `g` of attribute slot `s` of overwrite file `k`: a header
/// naming the generation, then a pattern; `max` bounds its length.
fn xattr_bytes(k: u64, s: u64, g: u64, max: u64) -> Vec<u8> {
    let seed = seed_of(5, k, (s << 32) ^ g);
    let len = XATTR_MIN + seed % (max.max(XATTR_MIN) - XATTR_MIN + 1);
    let mut v = format!("gen {g:016x}\n").into_bytes();
    let mut body = vec![0; len as usize - v.len()];
    fill_pattern(seed, &mut body);
    v.extend(body);
    v
}

/// The generation an attribute value names in its header.
fn xattr_gen(v: &[u8]) -> Option<u64> {
    std::str::from_utf8(v.get(..21)?)
        .ok()?
        .strip_prefix("gen ")
        .and_then(|s| u64::from_str_radix(s.trim_end(), 16).ok())
}

fn cpath(p: &Path) -> io::Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// setxattr(2) of `name` on `p`.
fn set_xattr(p: &Path, name: &str, v: &[u8]) -> io::Result<()> {
    let (p, n) = (cpath(p)?, std::ffi::CString::new(name)?);
    // SAFETY: C strings and a readable value.
    let r = unsafe { libc::setxattr(p.as_ptr(), n.as_ptr(), v.as_ptr().cast(), v.len(), 0) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// getxattr(2) of `name` on `p`: `None` when it has none (ENODATA).
fn get_xattr(p: &Path, name: &str) -> io::Result<Option<Vec<u8>>> {
    let (p, n) = (cpath(p)?, std::ffi::CString::new(name)?);
    let mut buf = vec![0u8; 1 << 16];
    // SAFETY: C strings and a writable buffer of its length.
    let r = unsafe { libc::getxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if r < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENODATA) => Ok(None),
            _ => Err(e),
        };
    }
    buf.truncate(r as usize);
    Ok(Some(buf))
}

fn seed_of(kind: u64, a: u64, b: u64) -> u64 {
    let mut r = Rng::new(
        kind.wrapping_mul(0x1_0000_0001) ^ a.wrapping_mul(0x9e37_79b9) ^ b.rotate_left(32),
    );
    r.next_u64()
}

/// Content of the append file `k` up to `len`.
fn append_bytes(k: u64, len: u64) -> Vec<u8> {
    let mut v = vec![0; len as usize];
    fill_pattern(seed_of(1, k, 0), &mut v);
    v
}

/// Content of generation `g` of the replaced file `k`.
fn replace_bytes(k: u64, g: u64) -> Vec<u8> {
    let s = seed_of(2, k, g);
    let len = 64 + s % 9000;
    let mut v = format!("gen {g:016x}\n").into_bytes();
    let mut body = vec![0; len as usize];
    fill_pattern(s, &mut body);
    v.extend(body);
    v
}

/// Block `b`, generation `g`, of the overwrite file `k`.
fn block_bytes(k: u64, b: u64, g: u64) -> Vec<u8> {
    let mut v = vec![0; BLOCK as usize];
    v[..8].copy_from_slice(&g.to_le_bytes());
    v[8..16].copy_from_slice(&b.to_le_bytes());
    fill_pattern(seed_of(3, k, (b << 32) ^ g), &mut v[16..]);
    v
}

/// Content of the created file `n`.
fn created_bytes(n: u64) -> Vec<u8> {
    let s = seed_of(4, n, 0);
    let mut v = vec![0; (1 + s % 6000) as usize];
    fill_pattern(s, &mut v);
    v
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

struct Journal<'a> {
    f: File,
    on: bool,
    marks: u64,
    mark_cmd: Option<&'a str>,
}

impl Journal<'_> {
    fn rec(&mut self, line: String) -> io::Result<()> {
        if self.on {
            self.f.write_all(format!("{line}\n").as_bytes())?;
        }
        Ok(())
    }

    /// A durability point: everything recorded so far is durable. Journals
    /// `mark syncN`, then runs the mark command.
    fn point(&mut self) -> io::Result<()> {
        if !self.on {
            return Ok(());
        }
        let name = format!("sync{}", self.marks);
        self.marks += 1;
        self.rec(format!("mark {name}"))?;
        if let Some(cmd) = self.mark_cmd {
            let st = std::process::Command::new("sh")
                .arg("-c")
                .arg(cmd)
                .arg("rextfs-crash")
                .arg(&name)
                .status()?;
            if !st.success() {
                return Err(io::Error::other(format!(
                    "mark command failed for {name}: {cmd}"
                )));
            }
        }
        Ok(())
    }
}

/// Runs the workload. Returns the number of ops run.
pub fn write(cfg: &CrashConfig) -> io::Result<u64> {
    let mut j = Journal {
        f: File::create(&cfg.journal)?,
        on: true,
        marks: 0,
        mark_cmd: cfg.mark_cmd.as_deref(),
    };
    let mut rng = Rng::new(cfg.seed);
    let n = cfg.files as u64;
    let d = &cfg.dir;
    // Setup, made durable before anything else.
    let mut app_len = vec![0u64; cfg.files];
    let mut rep_gen = vec![0u64; cfg.files];
    let mut ovw_gen = vec![vec![0u64; OVW_BLOCKS as usize]; cfg.files];
    let mut ovw_pending: Vec<Vec<(u64, u64)>> = vec![Vec::new(); cfg.files];
    let mut created: BTreeMap<u64, bool> = BTreeMap::new(); // n -> still exists
    let mut next_create = 0u64;
    let mut xattr_gen = vec![vec![0u64; XATTR_SLOTS as usize]; cfg.files];
    let mut xattr_pending: Vec<Vec<(u64, u64)>> = vec![Vec::new(); cfg.files];
    for k in 0..n {
        File::create(d.join(format!("app.{k}")))?.sync_all()?;
        let f = File::create(d.join(format!("rep.{k}")))?;
        f.write_all_at(&replace_bytes(k, 0), 0)?;
        f.sync_all()?;
        let f = File::create(d.join(format!("ovw.{k}")))?;
        for b in 0..OVW_BLOCKS {
            f.write_all_at(&block_bytes(k, b, 0), b * BLOCK)?;
        }
        f.sync_all()?;
    }
    sync_dir(d)?;
    // DIR's own entry, in case the caller just made it.
    if let Some(p) = d.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(p)?;
    }
    if cfg.xattr_max > 0 {
        j.rec(format!("setup {n} xattrs {}", cfg.xattr_max.max(XATTR_MIN)))?;
    } else {
        j.rec(format!("setup {n}"))?;
    }
    j.point()?;
    let total = cfg.cut_at + if cfg.cut_cmd.is_some() { cfg.after } else { 0 };
    let mut op = 0;
    while op < total {
        op += 1;
        if let Some(cmd) = cfg.cut_cmd.as_ref().filter(|_| op == cfg.cut_at + 1) {
            let st = std::process::Command::new("sh")
                .arg("-c")
                .arg(cmd)
                .status()?;
            if !st.success() {
                return Err(io::Error::other(format!("cut command failed: {cmd}")));
            }
            j.rec(format!("cut {op}"))?;
            j.on = cfg.lie;
        }
        let k = rng.below(n);
        // Attribute ops take two more numbers, only when asked for: without
        // them a seed runs the ops it always ran.
        match rng.below(if cfg.xattr_max > 0 { 12 } else { 10 }) {
            0..=2 => {
                let len = rng.range(1, 12000);
                let old = app_len[k as usize];
                let all = append_bytes(k, old + len);
                let f = OpenOptions::new()
                    .write(true)
                    .open(d.join(format!("app.{k}")))?;
                f.write_all_at(&all[old as usize..], old)?;
                app_len[k as usize] = old + len;
                if rng.chance(1, 3) {
                    f.sync_all()?;
                    j.rec(format!("app {k} {}", old + len))?;
                    j.point()?;
                }
            }
            3..=5 => {
                let b = rng.below(OVW_BLOCKS);
                let g = ovw_gen[k as usize][b as usize] + 1;
                ovw_gen[k as usize][b as usize] = g;
                let f = OpenOptions::new()
                    .write(true)
                    .open(d.join(format!("ovw.{k}")))?;
                f.write_all_at(&block_bytes(k, b, g), b * BLOCK)?;
                ovw_pending[k as usize].push((b, g));
                if rng.chance(1, 2) {
                    f.sync_data()?;
                    for (b, g) in std::mem::take(&mut ovw_pending[k as usize]) {
                        j.rec(format!("ovw {k} {b} {g}"))?;
                    }
                    j.point()?;
                }
            }
            6..=7 => {
                let g = rep_gen[k as usize] + 1;
                rep_gen[k as usize] = g;
                let tmp = d.join(format!("rep.{k}.tmp"));
                let f = File::create(&tmp)?;
                f.write_all_at(&replace_bytes(k, g), 0)?;
                f.sync_all()?;
                std::fs::rename(&tmp, d.join(format!("rep.{k}")))?;
                sync_dir(d)?;
                j.rec(format!("rep {k} {g}"))?;
                j.point()?;
            }
            8 => {
                let c = next_create;
                next_create += 1;
                let f = File::create(d.join(format!("new.{c}")))?;
                f.write_all_at(&created_bytes(c), 0)?;
                created.insert(c, true);
                if rng.chance(1, 2) {
                    f.sync_all()?;
                    sync_dir(d)?;
                    j.rec(format!("create {c}"))?;
                    j.point()?;
                } else {
                    j.rec(format!("maybe {c}"))?;
                }
            }
            10 | 11 => {
                let s = rng.below(XATTR_SLOTS);
                let g = xattr_gen[k as usize][s as usize] + 1;
                xattr_gen[k as usize][s as usize] = g;
                let p = d.join(format!("ovw.{k}"));
                set_xattr(&p, &xattr_name(s), &xattr_bytes(k, s, g, cfg.xattr_max))
                    .map_err(|e| io::Error::new(e.kind(), format!("setxattr ovw.{k}: {e}")))?;
                xattr_pending[k as usize].push((s, g));
                if rng.chance(1, 2) {
                    File::open(&p)?.sync_all()?;
                    for (s, g) in std::mem::take(&mut xattr_pending[k as usize]) {
                        j.rec(format!("xattr {k} {s} {g}"))?;
                    }
                    j.point()?;
                }
            }
            _ => {
                let live: Vec<u64> = created.iter().filter(|e| *e.1).map(|e| *e.0).collect();
                if let Some(&c) = live.get(rng.below(live.len().max(1) as u64) as usize) {
                    std::fs::remove_file(d.join(format!("new.{c}")))?;
                    created.insert(c, false);
                    j.rec(format!("maybe {c}"))?;
                    if rng.chance(1, 2) {
                        sync_dir(d)?;
                        j.rec(format!("unlink {c}"))?;
                        j.point()?;
                    }
                }
            }
        }
    }
    if j.on {
        j.rec(format!("end {op}"))?;
    }
    Ok(op)
}

/// What the journal says is durable.
#[derive(Debug, Default)]
struct Durable {
    files: u64,
    app: BTreeMap<u64, u64>,
    rep: BTreeMap<u64, u64>,
    ovw: BTreeMap<(u64, u64), u64>,
    /// Created files: true = durably present, false = durably gone.
    created: BTreeMap<u64, Option<bool>>,
    setup: bool,
    /// The longest attribute value, when the workload set attributes.
    xattr_max: Option<u64>,
    /// Durable attribute generations by (file, slot).
    xattr: BTreeMap<(u64, u64), u64>,
}

/// Parses the journal; with `upto`, only what was durable at the mark of
/// that name: later records of created or unlinked names make them
/// "maybe", later data records are left out.
fn parse_journal(text: &str, upto: Option<&str>) -> Result<Durable, String> {
    let mut d = Durable::default();
    let mut past = false;
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        let num = |i: usize| -> Result<u64, String> {
            w.get(i)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("bad journal line '{line}'"))
        };
        if past {
            match w.first().copied() {
                Some("create") | Some("unlink") | Some("maybe") => {
                    d.created.insert(num(1)?, None);
                }
                Some("app") | Some("rep") | Some("ovw") | Some("xattr") | Some("mark")
                | Some("cut") | Some("end") | None => {}
                Some(_) => return Err(format!("bad journal line '{line}'")),
            }
            continue;
        }
        match w.first().copied() {
            Some("mark") if w.len() == 2 => past = upto == Some(w[1]),
            Some("setup") => {
                d.files = num(1)?;
                d.setup = true;
                match w.get(2).copied() {
                    None => {}
                    Some("xattrs") => d.xattr_max = Some(num(3)?),
                    Some(_) => return Err(format!("bad journal line '{line}'")),
                }
            }
            Some("xattr") => {
                d.xattr.insert((num(1)?, num(2)?), num(3)?);
            }
            Some("app") => {
                d.app.insert(num(1)?, num(2)?);
            }
            Some("rep") => {
                d.rep.insert(num(1)?, num(2)?);
            }
            Some("ovw") => {
                d.ovw.insert((num(1)?, num(2)?), num(3)?);
            }
            Some("create") => {
                d.created.insert(num(1)?, Some(true));
            }
            Some("unlink") => {
                d.created.insert(num(1)?, Some(false));
            }
            Some("maybe") => {
                d.created.insert(num(1)?, None);
            }
            Some("cut") | Some("end") | None => {}
            Some(_) => return Err(format!("bad journal line '{line}'")),
        }
    }
    if let Some(m) = upto.filter(|_| !past) {
        return Err(format!("the journal has no mark {m}"));
    }
    Ok(d)
}

/// Checks the directory against the journal, or against what it says was
/// durable at mark `upto`; returns the list of problems (empty:
/// consistent) and a one-line summary.
pub fn check(dir: &Path, journal: &Path, upto: Option<&str>) -> io::Result<(Vec<String>, String)> {
    let text = std::fs::read_to_string(journal)?;
    let d = parse_journal(&text, upto).map_err(io::Error::other)?;
    let mut bad = Vec::new();
    if !d.setup {
        return Ok((
            bad,
            "journal empty: the cut came before setup; nothing to check".into(),
        ));
    }
    let read = |name: &str| std::fs::read(dir.join(name));
    let mut app_bytes = 0;
    for k in 0..d.files {
        // Append files: the durable prefix exactly; past it, the pattern or zeros.
        let name = format!("app.{k}");
        let want_len = d.app.get(&k).copied().unwrap_or(0);
        match read(&name) {
            Err(e) => bad.push(format!("{name}: {e} (durably created)")),
            Ok(got) => {
                app_bytes += got.len();
                let want = append_bytes(k, got.len().max(want_len as usize) as u64);
                if (got.len() as u64) < want_len {
                    bad.push(format!(
                        "{name}: size {} < fsynced size {want_len}",
                        got.len()
                    ));
                }
                if let Some(i) = (0..got.len().min(want_len as usize)).find(|&i| got[i] != want[i])
                {
                    bad.push(format!(
                        "{name}: fsynced byte {i:#x} is {:#04x}, expected {:#04x}",
                        got[i], want[i]
                    ));
                }
                if let Some(i) =
                    (want_len as usize..got.len()).find(|&i| got[i] != want[i] && got[i] != 0)
                {
                    bad.push(format!(
                        "{name}: byte {i:#x} past the fsynced size is garbage ({:#04x})",
                        got[i]
                    ));
                }
            }
        }
        // Replaced files: a complete generation, at least the durable one.
        let name = format!("rep.{k}");
        let g0 = d.rep.get(&k).copied().unwrap_or(0);
        match read(&name) {
            Err(e) => bad.push(format!("{name}: {e} (durable generation {g0})")),
            Ok(got) => {
                let g = std::str::from_utf8(&got[..got.len().min(21)])
                    .ok()
                    .and_then(|s| s.strip_prefix("gen "))
                    .and_then(|s| u64::from_str_radix(s.trim_end(), 16).ok());
                match g {
                    None => bad.push(format!(
                        "{name}: not a complete generation ({} bytes)",
                        got.len()
                    )),
                    Some(g) if g < g0 => {
                        bad.push(format!("{name}: generation {g} older than durable {g0}"))
                    }
                    Some(g) if got != replace_bytes(k, g) => {
                        bad.push(format!("{name}: generation {g} content is torn or wrong"))
                    }
                    _ => {}
                }
            }
        }
        // Overwrite files: every block a valid generation >= the durable one.
        let name = format!("ovw.{k}");
        match read(&name) {
            Err(e) => bad.push(format!("{name}: {e}")),
            Ok(got) if got.len() as u64 != OVW_BLOCKS * BLOCK => bad.push(format!(
                "{name}: size {} != {}",
                got.len(),
                OVW_BLOCKS * BLOCK
            )),
            Ok(got) => {
                for b in 0..OVW_BLOCKS {
                    let blk = &got[(b * BLOCK) as usize..((b + 1) * BLOCK) as usize];
                    let g = u64::from_le_bytes(blk[..8].try_into().unwrap());
                    let g0 = d.ovw.get(&(k, b)).copied().unwrap_or(0);
                    if blk != block_bytes(k, b, g).as_slice() {
                        bad.push(format!("{name}: block {b} is not any written version"));
                    } else if g < g0 {
                        bad.push(format!(
                            "{name}: block {b} generation {g} older than durable {g0}"
                        ));
                    }
                }
            }
        }
    }
    // Attributes of the overwrite files: a complete generation at least as
    // new as the durable one, in every slot.
    if let Some(max) = d.xattr_max {
        for k in 0..d.files {
            let p = dir.join(format!("ovw.{k}"));
            for s in 0..XATTR_SLOTS {
                let name = xattr_name(s);
                let g0 = d.xattr.get(&(k, s)).copied().unwrap_or(0);
                match get_xattr(&p, &name) {
                    Err(e) => bad.push(format!("ovw.{k}: getxattr {name}: {e}")),
                    Ok(None) if g0 > 0 => bad.push(format!(
                        "ovw.{k}: attribute {name} missing, generation {g0} was made durable"
                    )),
                    Ok(None) => {}
                    Ok(Some(v)) => match xattr_gen(&v) {
                        Some(g) if v == xattr_bytes(k, s, g, max) && g < g0 => bad.push(format!(
                            "ovw.{k}: attribute {name} generation {g} older than durable {g0}"
                        )),
                        Some(g) if v == xattr_bytes(k, s, g, max) => {}
                        _ => bad.push(format!(
                            "ovw.{k}: attribute {name} ({} bytes) is not any generation set",
                            v.len()
                        )),
                    },
                }
            }
        }
    }
    // Created and unlinked files.
    for (&c, &state) in &d.created {
        let name = format!("new.{c}");
        match (read(&name), state) {
            (Err(e), Some(true)) if e.kind() == io::ErrorKind::NotFound => bad.push(format!(
                "{name}: missing, but its creation was made durable"
            )),
            (Ok(_), Some(false)) => {
                bad.push(format!("{name}: present, but its unlink was made durable"))
            }
            (Ok(got), st) => {
                let want = created_bytes(c);
                if st == Some(true) && got != want {
                    bad.push(format!("{name}: durable content differs"));
                } else if got.len() > want.len()
                    || got.iter().zip(&want).any(|(g, w)| g != w && *g != 0)
                {
                    bad.push(format!("{name}: content is garbage"));
                }
            }
            (Err(e), _) if e.kind() != io::ErrorKind::NotFound => bad.push(format!("{name}: {e}")),
            _ => {}
        }
    }
    let mut summary = format!(
        "{} files of each kind, {} append bytes, {} durable overwrites, {} created/unlinked names",
        d.files,
        app_bytes,
        d.ovw.len(),
        d.created.len()
    );
    if d.xattr_max.is_some() {
        summary += &format!(", {} durable attributes", d.xattr.len());
    }
    if let Some(m) = upto {
        summary += &format!(", as of mark {m}");
    }
    Ok((bad, summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(tag: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("rextfs-crash-unit-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("fs")).unwrap();
        d
    }

    /// Seed 9, 400 ops on 3 files without a cut or attributes, in test directory `t`.
    fn seed9_config(t: &std::path::Path) -> CrashConfig {
        CrashConfig {
            dir: t.join("fs"),
            journal: t.join("journal"),
            seed: 9,
            cut_at: 400,
            after: 0,
            cut_cmd: None,
            files: 3,
            lie: false,
            mark_cmd: None,
            xattr_max: 0,
        }
    }

    #[test]
    fn no_cut_checks_clean_and_damage_is_found() {
        let t = tmp("a");
        let cfg = seed9_config(&t);
        assert_eq!(write(&cfg).unwrap(), 400);
        let (bad, _) = check(&cfg.dir, &cfg.journal, None).unwrap();
        assert!(bad.is_empty(), "{bad:?}");
        // Lose the tail of an fsynced append file, garble a block, drop a
        // replaced file: each is reported.
        let j = std::fs::read_to_string(&cfg.journal).unwrap();
        let app = j
            .lines()
            .find(|l| l.starts_with("app "))
            .unwrap()
            .to_string();
        let k: u64 = app.split(' ').nth(1).unwrap().parse().unwrap();
        let f = OpenOptions::new()
            .write(true)
            .open(cfg.dir.join(format!("app.{k}")))
            .unwrap();
        f.set_len(0).unwrap();
        let f = OpenOptions::new()
            .write(true)
            .open(cfg.dir.join("ovw.1"))
            .unwrap();
        f.write_all_at(b"garbage", 5 * BLOCK + 100).unwrap();
        std::fs::remove_file(cfg.dir.join("rep.2")).unwrap();
        let (bad, _) = check(&cfg.dir, &cfg.journal, None).unwrap();
        let all = bad.join("\n");
        assert!(
            all.contains(&format!("app.{k}: size 0 < fsynced size")),
            "{all}"
        );
        assert!(
            all.contains("ovw.1: block 5 is not any written version"),
            "{all}"
        );
        assert!(all.contains("rep.2:"), "{all}");
        std::fs::remove_dir_all(&t).unwrap();
    }

    #[test]
    fn marks_and_upto() {
        // The mark command snapshots the directory at each durability
        // point: the snapshot must check clean as of its own mark, and an
        // early one must fail against the last mark (a lie).
        let t = tmp("c");
        let snaps = t.join("snaps");
        std::fs::create_dir_all(&snaps).unwrap();
        let cfg = CrashConfig {
            dir: t.join("fs"),
            journal: t.join("journal"),
            seed: 4,
            cut_at: 150,
            after: 0,
            cut_cmd: None,
            files: 2,
            lie: false,
            mark_cmd: Some(format!(
                "cp -a {} {}/\"$1\"",
                t.join("fs").display(),
                snaps.display()
            )),
            xattr_max: 0,
        };
        assert_eq!(write(&cfg).unwrap(), 150);
        let j = std::fs::read_to_string(&cfg.journal).unwrap();
        let marks: Vec<&str> = j.lines().filter_map(|l| l.strip_prefix("mark ")).collect();
        assert!(marks.len() > 20, "{}", marks.len());
        for (i, m) in marks.iter().enumerate() {
            assert_eq!(*m, format!("sync{i}"));
            assert!(snaps.join(m).is_dir(), "{m}");
        }
        assert!(j.lines().nth(1).unwrap() == "mark sync0");
        let last = *marks.last().unwrap();
        for m in &marks {
            let (bad, sum) = check(&snaps.join(m), &cfg.journal, Some(m)).unwrap();
            assert!(bad.is_empty(), "{m}: {bad:?}");
            assert!(sum.ends_with(&format!("as of mark {m}")), "{sum}");
        }
        let early = marks[marks.len() / 3];
        let (bad, _) = check(&snaps.join(early), &cfg.journal, Some(last)).unwrap();
        assert!(!bad.is_empty());
        let (bad, _) = check(&snaps.join(early), &cfg.journal, None).unwrap();
        assert!(!bad.is_empty());
        let e = check(&cfg.dir, &cfg.journal, Some("sync9999")).unwrap_err();
        assert!(
            e.to_string().contains("the journal has no mark sync9999"),
            "{e}"
        );
        // A failing mark command stops the workload.
        let cfg = CrashConfig {
            mark_cmd: Some("exit 3".into()),
            ..cfg
        };
        std::fs::remove_dir_all(&cfg.dir).unwrap();
        std::fs::create_dir_all(&cfg.dir).unwrap();
        let e = write(&cfg).unwrap_err();
        assert!(
            e.to_string().contains("mark command failed for sync0"),
            "{e}"
        );
        std::fs::remove_dir_all(&t).unwrap();
    }

    /// Without attributes a seed writes the journal it wrote before they
    /// existed.
    #[test]
    fn journal_of_a_seed_is_pinned() {
        let t = tmp("pin");
        let cfg = seed9_config(&t);
        write(&cfg).unwrap();
        let j = std::fs::read(&cfg.journal).unwrap();
        let h = crate::corrupt_check::fnv64(&j, crate::corrupt_check::FNV_INIT);
        assert_eq!(h, 0x04bc_a299_b348_d3b5, "{h:#x}");
        std::fs::remove_dir_all(&t).unwrap();
    }

    #[test]
    fn durable_attributes_are_checked() {
        let t = tmp("xattr");
        let probe = t.join("fs").join("probe");
        std::fs::write(&probe, b"").unwrap();
        if set_xattr(&probe, "user.probe", b"1").is_err() {
            // No user attributes on this file system: nothing to check.
            let _ = std::fs::remove_dir_all(&t);
            return;
        }
        std::fs::remove_file(&probe).unwrap();
        // Values short enough for ext4, whose attributes share one block.
        let cfg = CrashConfig {
            dir: t.join("fs"),
            journal: t.join("journal"),
            seed: 12,
            cut_at: 400,
            after: 0,
            cut_cmd: None,
            files: 2,
            lie: false,
            mark_cmd: None,
            xattr_max: 700,
        };
        write(&cfg).unwrap();
        let (bad, sum) = check(&cfg.dir, &cfg.journal, None).unwrap();
        assert!(bad.is_empty(), "{bad:?}");
        let j = std::fs::read_to_string(&cfg.journal).unwrap();
        assert!(j.starts_with("setup 2 xattrs 700\n"), "{j}");
        let durable = parse_journal(&j, None).unwrap().xattr;
        assert!(durable.len() >= 6, "{durable:?}");
        assert!(sum.contains(&format!("{} durable attributes", durable.len())));
        let (&(k, s), &g) = durable.iter().next().unwrap();
        let p = cfg.dir.join(format!("ovw.{k}"));
        let name = xattr_name(s);
        let all = |cfg: &CrashConfig| check(&cfg.dir, &cfg.journal, None).unwrap().0.join("\n");
        // An older generation, a torn value, a lost attribute.
        set_xattr(&p, &name, &xattr_bytes(k, s, g - 1, 700)).unwrap();
        assert!(all(&cfg).contains(&format!(
            "{name} generation {} older than durable {g}",
            g - 1
        )));
        let mut v = xattr_bytes(k, s, g, 700);
        let last = v.len() - 1;
        v[last] ^= 0x55;
        set_xattr(&p, &name, &v).unwrap();
        assert!(all(&cfg).contains("is not any generation set"));
        let (cp, cn) = (cpath(&p).unwrap(), std::ffi::CString::new(name).unwrap());
        // SAFETY: C strings.
        assert_eq!(unsafe { libc::removexattr(cp.as_ptr(), cn.as_ptr()) }, 0);
        let out = all(&cfg);
        assert!(
            out.contains(&format!("missing, generation {g} was made durable")),
            "{out}"
        );
        // Attribute records after the mark checked against are not durable.
        let d = parse_journal(
            "setup 1 xattrs 64\nmark sync0\nxattr 0 1 3\n",
            Some("sync0"),
        );
        assert!(d.unwrap().xattr.is_empty());
        assert!(parse_journal("setup 1 nonsense\n", None).is_err());
        std::fs::remove_dir_all(&t).unwrap();
    }

    #[test]
    fn upto_downgrades_later_names() {
        let j = "setup 1\nmark sync0\ncreate 1\nmaybe 2\nmark sync1\nunlink 1\ncreate 3\n\
                 app 0 99\nmark sync2\n";
        let d = parse_journal(j, Some("sync1")).unwrap();
        assert_eq!(d.created.get(&1), Some(&None));
        assert_eq!(d.created.get(&2), Some(&None));
        assert_eq!(d.created.get(&3), Some(&None));
        assert!(d.app.is_empty());
        let d = parse_journal(j, Some("sync2")).unwrap();
        assert_eq!(d.created.get(&1), Some(&Some(false)));
        assert_eq!(d.created.get(&3), Some(&Some(true)));
        assert_eq!(d.app.get(&0), Some(&99));
        assert!(parse_journal("mark a b\n", None).is_err());
    }

    #[test]
    fn journal_stops_at_the_cut() {
        let t = tmp("b");
        let marker = t.join("cut");
        let cfg = CrashConfig {
            dir: t.join("fs"),
            journal: t.join("journal"),
            seed: 1,
            cut_at: 50,
            after: 30,
            cut_cmd: Some(format!("touch {}", marker.display())),
            files: 2,
            lie: false,
            mark_cmd: None,
            xattr_max: 0,
        };
        assert_eq!(write(&cfg).unwrap(), 80);
        assert!(marker.exists());
        let j = std::fs::read_to_string(&cfg.journal).unwrap();
        assert_eq!(j.lines().last().unwrap(), "cut 51");
        // Nothing was dropped here, so only unlinks after the "cut" of files
        // durably created before it can differ from the journal.
        let (bad, _) = check(&cfg.dir, &cfg.journal, None).unwrap();
        assert!(
            bad.iter()
                .all(|b| b.contains("missing, but its creation was made durable")),
            "{bad:?}"
        );
        std::fs::remove_dir_all(&t).unwrap();
    }
}
