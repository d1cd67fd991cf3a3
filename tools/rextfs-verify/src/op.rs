// SPDX-License-Identifier: GPL-2.0

//! Operations, their one-line log format and the seeded generator.

use crate::rng::Rng;
use std::fmt;

/// How data is moved in and out of the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IoMode {
    /// pread/pwrite through the page cache.
    Buffered,
    /// pread/pwrite on an O_DIRECT descriptor, offsets and lengths aligned.
    Direct,
    /// A shared mapping of the range.
    Mmap,
}

/// fallocate(2) flavours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FallocMode {
    /// mode 0: allocate, extend the size.
    Default,
    /// FALLOC_FL_KEEP_SIZE.
    KeepSize,
    /// FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE.
    PunchHole,
    /// FALLOC_FL_ZERO_RANGE.
    ZeroRange,
    /// FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE.
    ZeroRangeKeepSize,
}

impl FallocMode {
    /// All modes, in generator order.
    pub const ALL: [FallocMode; 5] = [
        FallocMode::Default,
        FallocMode::KeepSize,
        FallocMode::PunchHole,
        FallocMode::ZeroRange,
        FallocMode::ZeroRangeKeepSize,
    ];

    /// The log name.
    pub fn name(self) -> &'static str {
        match self {
            FallocMode::Default => "default",
            FallocMode::KeepSize => "keep",
            FallocMode::PunchHole => "punch",
            FallocMode::ZeroRange => "zero",
            FallocMode::ZeroRangeKeepSize => "zero-keep",
        }
    }

    /// The fallocate(2) mode bits.
    pub fn flags(self) -> i32 {
        match self {
            FallocMode::Default => 0,
            FallocMode::KeepSize => libc::FALLOC_FL_KEEP_SIZE,
            FallocMode::PunchHole => libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            FallocMode::ZeroRange => libc::FALLOC_FL_ZERO_RANGE,
            FallocMode::ZeroRangeKeepSize => libc::FALLOC_FL_ZERO_RANGE | libc::FALLOC_FL_KEEP_SIZE,
        }
    }
}

impl IoMode {
    /// The log name.
    pub fn name(self) -> &'static str {
        match self {
            IoMode::Buffered => "buffered",
            IoMode::Direct => "direct",
            IoMode::Mmap => "mmap",
        }
    }
}

/// One operation on the files under test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Read and compare with the model.
    Read {
        file: usize,
        mode: IoMode,
        off: u64,
        len: u64,
    },
    /// Write `len` bytes of the pattern of `seed` at `off`.
    Write {
        file: usize,
        mode: IoMode,
        off: u64,
        len: u64,
        seed: u64,
    },
    /// ftruncate.
    Truncate { file: usize, size: u64 },
    /// fallocate.
    Falloc {
        file: usize,
        mode: FallocMode,
        off: u64,
        len: u64,
    },
    /// fsync.
    Fsync { file: usize },
    /// fdatasync.
    Fdatasync { file: usize },
    /// Close every descriptor of the file and open it again.
    Reopen { file: usize },
    /// Compare every file in full, size included.
    Check,
    /// Close everything, run the remount command, reopen, check everything.
    Remount,
    /// Test only: flip one byte behind the model's back (proves detection).
    Corrupt { file: usize, off: u64 },
}

impl Op {
    /// The kind of operation, for statistics ("write-direct", "falloc-punch"...).
    pub fn kind(&self) -> String {
        match self {
            Op::Read { mode, .. } => format!("read-{}", mode.name()),
            Op::Write { mode, .. } => format!("write-{}", mode.name()),
            Op::Truncate { .. } => "truncate".into(),
            Op::Falloc { mode, .. } => format!("falloc-{}", mode.name()),
            Op::Fsync { .. } => "fsync".into(),
            Op::Fdatasync { .. } => "fdatasync".into(),
            Op::Reopen { .. } => "reopen".into(),
            Op::Check => "check".into(),
            Op::Remount => "remount".into(),
            Op::Corrupt { .. } => "corrupt".into(),
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Read {
                file,
                mode,
                off,
                len,
            } => {
                write!(f, "read {} {file} {off:#x} {len:#x}", mode.name())
            }
            Op::Write {
                file,
                mode,
                off,
                len,
                seed,
            } => {
                write!(
                    f,
                    "write {} {file} {off:#x} {len:#x} {seed:#x}",
                    mode.name()
                )
            }
            Op::Truncate { file, size } => write!(f, "truncate {file} {size:#x}"),
            Op::Falloc {
                file,
                mode,
                off,
                len,
            } => {
                write!(f, "falloc {} {file} {off:#x} {len:#x}", mode.name())
            }
            Op::Fsync { file } => write!(f, "fsync {file}"),
            Op::Fdatasync { file } => write!(f, "fdatasync {file}"),
            Op::Reopen { file } => write!(f, "reopen {file}"),
            Op::Check => write!(f, "check"),
            Op::Remount => write!(f, "remount"),
            Op::Corrupt { file, off } => write!(f, "corrupt {file} {off:#x}"),
        }
    }
}

/// Parses a decimal or `0x` hexadecimal number.
pub fn parse_num(s: &str) -> Result<u64, String> {
    let r = if let Some(h) = s.strip_prefix("0x") {
        u64::from_str_radix(h, 16)
    } else {
        s.parse()
    };
    r.map_err(|_| format!("bad number '{s}'"))
}

fn parse_io(s: &str) -> Result<IoMode, String> {
    match s {
        "buffered" => Ok(IoMode::Buffered),
        "direct" => Ok(IoMode::Direct),
        "mmap" => Ok(IoMode::Mmap),
        _ => Err(format!("bad I/O mode '{s}'")),
    }
}

impl std::str::FromStr for Op {
    type Err = String;

    fn from_str(line: &str) -> Result<Op, String> {
        let w: Vec<&str> = line.split_whitespace().collect();
        let n = |i: usize| -> Result<u64, String> {
            parse_num(
                w.get(i)
                    .ok_or_else(|| format!("missing field in '{line}'"))?,
            )
        };
        let file = |i: usize| -> Result<usize, String> { Ok(n(i)? as usize) };
        let want = |k: usize| -> Result<(), String> {
            if w.len() == k {
                Ok(())
            } else {
                Err(format!("expected {k} fields in '{line}'"))
            }
        };
        let op = match w.first().copied() {
            Some("read") => {
                want(5)?;
                Op::Read {
                    mode: parse_io(w[1])?,
                    file: file(2)?,
                    off: n(3)?,
                    len: n(4)?,
                }
            }
            Some("write") => {
                want(6)?;
                Op::Write {
                    mode: parse_io(w[1])?,
                    file: file(2)?,
                    off: n(3)?,
                    len: n(4)?,
                    seed: n(5)?,
                }
            }
            Some("truncate") => {
                want(3)?;
                Op::Truncate {
                    file: file(1)?,
                    size: n(2)?,
                }
            }
            Some("falloc") => {
                want(5)?;
                let mode = FallocMode::ALL
                    .into_iter()
                    .find(|m| m.name() == w[1])
                    .ok_or_else(|| format!("bad fallocate mode '{}'", w[1]))?;
                Op::Falloc {
                    mode,
                    file: file(2)?,
                    off: n(3)?,
                    len: n(4)?,
                }
            }
            Some("fsync") => {
                want(2)?;
                Op::Fsync { file: file(1)? }
            }
            Some("fdatasync") => {
                want(2)?;
                Op::Fdatasync { file: file(1)? }
            }
            Some("reopen") => {
                want(2)?;
                Op::Reopen { file: file(1)? }
            }
            Some("check") => Op::Check,
            Some("remount") => Op::Remount,
            Some("corrupt") => {
                want(3)?;
                Op::Corrupt {
                    file: file(1)?,
                    off: n(2)?,
                }
            }
            _ => return Err(format!("unknown operation '{line}'")),
        };
        Ok(op)
    }
}

/// What the generator may produce.
#[derive(Clone, Debug)]
pub struct GenConfig {
    /// Number of files.
    pub files: usize,
    /// Largest file size the generator aims at.
    pub max_size: u64,
    /// Largest read/write/fallocate length.
    pub max_len: u64,
    /// O_DIRECT alignment of offsets and lengths.
    pub align: u64,
    /// Shared-file mode: every data op stays in this `[start, end)` and
    /// nothing changes the size.
    pub region: Option<(u64, u64)>,
    /// Buffered I/O.
    pub buffered: bool,
    /// O_DIRECT I/O.
    pub direct: bool,
    /// mmap I/O.
    pub mmap: bool,
    /// fallocate.
    pub falloc: bool,
    /// ftruncate.
    pub truncate: bool,
    /// fsync/fdatasync.
    pub sync: bool,
    /// close/reopen.
    pub reopen: bool,
    /// A full check every this many ops (0: only at the end).
    pub check_every: u64,
    /// A remount every this many ops (0: never).
    pub remount_every: u64,
    /// Test only: corrupt the file at this op number.
    pub inject_at: Option<u64>,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            files: 1,
            max_size: 256 << 10,
            max_len: 64 << 10,
            align: 4096,
            region: None,
            buffered: true,
            direct: true,
            mmap: true,
            falloc: true,
            truncate: true,
            sync: true,
            reopen: true,
            check_every: 200,
            remount_every: 0,
            inject_at: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Read(IoMode),
    Write(IoMode),
    Truncate,
    Falloc(FallocMode),
    Fsync,
    Fdatasync,
    Reopen,
}

/// The seeded operation generator. The sequence depends only on the seed,
/// the configuration and the model sizes it is shown, which are themselves
/// determined by the earlier operations: a seed and an op count reproduce
/// a run exactly.
pub struct Generator {
    cfg: GenConfig,
    rng: Rng,
    table: Vec<(Kind, u64)>,
    total: u64,
}

impl Generator {
    /// A generator for `cfg` seeded with `seed`.
    pub fn new(cfg: GenConfig, seed: u64) -> Self {
        let mut table = Vec::new();
        let io = [
            (IoMode::Buffered, cfg.buffered),
            (IoMode::Direct, cfg.direct),
            (IoMode::Mmap, cfg.mmap),
        ];
        for (m, on) in io {
            if on {
                let w = if m == IoMode::Buffered { 10 } else { 5 };
                table.push((Kind::Read(m), w));
                table.push((Kind::Write(m), w + w / 5));
            }
        }
        if cfg.truncate && cfg.region.is_none() {
            table.push((Kind::Truncate, 4));
        }
        if cfg.falloc {
            for m in FallocMode::ALL {
                table.push((Kind::Falloc(m), 2));
            }
        }
        if cfg.sync {
            table.push((Kind::Fsync, 2));
            table.push((Kind::Fdatasync, 2));
        }
        if cfg.reopen {
            table.push((Kind::Reopen, 1));
        }
        if table.is_empty() {
            table.push((Kind::Read(IoMode::Buffered), 1));
        }
        let total = table.iter().map(|t| t.1).sum();
        Generator {
            cfg,
            rng: Rng::new(seed),
            table,
            total,
        }
    }

    /// The kinds of operation (as named by [`Op::kind`]) that a run of `ops`
    /// generated operations asks for, derived from the options alone (not
    /// from the generator's table, so that a generator that forgets a kind
    /// is caught): every enabled kind, the final check, and remounts when
    /// `ops` reaches the first one.
    pub fn kinds(&self, ops: u64) -> Vec<String> {
        let c = &self.cfg;
        let mut v: Vec<String> = Vec::new();
        for (m, on) in [
            (IoMode::Buffered, c.buffered),
            (IoMode::Direct, c.direct),
            (IoMode::Mmap, c.mmap),
        ] {
            if on {
                v.push(format!("read-{}", m.name()));
                v.push(format!("write-{}", m.name()));
            }
        }
        if c.truncate && c.region.is_none() {
            v.push("truncate".into());
        }
        if c.falloc {
            v.extend(
                FallocMode::ALL
                    .iter()
                    .map(|m| format!("falloc-{}", m.name())),
            );
        }
        if c.sync {
            v.extend(["fsync".to_string(), "fdatasync".to_string()]);
        }
        if c.reopen {
            v.push("reopen".into());
        }
        v.push("check".into());
        if c.remount_every > 0 && ops >= c.remount_every {
            v.push("remount".into());
        }
        v
    }

    /// The configuration.
    pub fn config(&self) -> &GenConfig {
        &self.cfg
    }

    fn pick(&mut self) -> Kind {
        let mut x = self.rng.below(self.total);
        for &(k, w) in &self.table {
            if x < w {
                return k;
            }
            x -= w;
        }
        unreachable!()
    }

    /// Bounds of the offsets the generator uses.
    fn window(&self) -> (u64, u64) {
        self.cfg.region.unwrap_or((0, self.cfg.max_size))
    }

    /// A length: mostly small, sometimes up to `max_len`.
    fn length(&mut self) -> u64 {
        let max = self.cfg.max_len.max(1);
        if self.rng.chance(1, 2) {
            self.rng.range(1, max.min(4096))
        } else {
            self.rng.range(1, max)
        }
    }

    /// An (offset, length) inside the window, aligned when `aligned`.
    fn extent(&mut self, aligned: bool) -> (u64, u64) {
        let (lo, hi) = self.window();
        let a = if aligned { self.cfg.align } else { 1 };
        let mut off = self.rng.range(lo, hi - 1);
        let mut len = self.length();
        if aligned {
            off -= (off - lo) % a;
            len = len.div_ceil(a) * a;
        }
        len = len.min(hi - off);
        (off, len)
    }

    /// The operation number `n` (1-based) given the current model sizes.
    pub fn next(&mut self, n: u64, sizes: &[u64]) -> Op {
        if self.cfg.remount_every > 0 && n % self.cfg.remount_every == 0 {
            return Op::Remount;
        }
        if self.cfg.check_every > 0 && n % self.cfg.check_every == 0 {
            return Op::Check;
        }
        let file = self.rng.below(self.cfg.files as u64) as usize;
        let size = sizes[file];
        if self.cfg.inject_at == Some(n) && size > 0 {
            let (lo, hi) = self.window();
            let hi = hi.min(size);
            if hi > lo {
                return Op::Corrupt {
                    file,
                    off: self.rng.range(lo, hi - 1),
                };
            }
        }
        match self.pick() {
            Kind::Read(IoMode::Mmap) => {
                let (lo, hi) = self.window();
                let hi = hi.min(size);
                if hi <= lo {
                    let (off, len) = self.extent(false);
                    return Op::Read {
                        file,
                        mode: IoMode::Buffered,
                        off,
                        len,
                    };
                }
                let off = self.rng.range(lo, hi - 1);
                let len = self.length().min(hi - off);
                Op::Read {
                    file,
                    mode: IoMode::Mmap,
                    off,
                    len,
                }
            }
            Kind::Read(mode) => {
                let (off, len) = self.extent(mode == IoMode::Direct);
                Op::Read {
                    file,
                    mode,
                    off,
                    len,
                }
            }
            Kind::Write(mode) => {
                let (off, len) = self.extent(mode == IoMode::Direct);
                Op::Write {
                    file,
                    mode,
                    off,
                    len,
                    seed: self.rng.next_u64(),
                }
            }
            Kind::Truncate => {
                // Shrinks a little more often than it grows; sometimes aligned.
                let (_, hi) = self.window();
                let mut s = if self.rng.chance(2, 3) {
                    self.rng.range(0, size)
                } else {
                    self.rng.range(0, hi)
                };
                if self.rng.chance(1, 3) {
                    s -= s % self.cfg.align;
                }
                Op::Truncate { file, size: s }
            }
            Kind::Falloc(mode) => {
                let aligned = self.rng.chance(1, 2);
                let (off, len) = self.extent(aligned);
                Op::Falloc {
                    file,
                    mode,
                    off,
                    len,
                }
            }
            Kind::Fsync => Op::Fsync { file },
            Kind::Fdatasync => Op::Fdatasync { file },
            Kind::Reopen => Op::Reopen { file },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Model;

    fn run(cfg: &GenConfig, seed: u64, n: u64) -> Vec<Op> {
        let mut g = Generator::new(cfg.clone(), seed);
        let mut models = vec![Model::new(); cfg.files];
        let mut out = Vec::new();
        for i in 1..=n {
            let sizes: Vec<u64> = models.iter().map(|m| m.size()).collect();
            let op = g.next(i, &sizes);
            match &op {
                Op::Write { file, off, len, .. } => {
                    models[*file].write(*off, &vec![1; *len as usize])
                }
                Op::Truncate { file, size } => models[*file].truncate(*size),
                Op::Falloc {
                    file,
                    mode,
                    off,
                    len,
                } => models[*file].fallocate(*mode, *off, *len),
                _ => {}
            }
            out.push(op);
        }
        out
    }

    #[test]
    fn same_seed_same_ops() {
        let cfg = GenConfig {
            files: 3,
            ..GenConfig::default()
        };
        assert_eq!(run(&cfg, 99, 2000), run(&cfg, 99, 2000));
        assert_ne!(run(&cfg, 99, 50), run(&cfg, 100, 50));
        // A prefix of a longer run is the shorter run.
        assert_eq!(run(&cfg, 5, 300)[..], run(&cfg, 5, 600)[..300]);
    }

    #[test]
    fn ops_respect_bounds_and_alignment() {
        let cfg = GenConfig {
            files: 2,
            check_every: 50,
            ..GenConfig::default()
        };
        let mut kinds = std::collections::HashSet::new();
        for op in run(&cfg, 3, 5000) {
            kinds.insert(op.kind());
            match op {
                Op::Read { mode, off, len, .. } | Op::Write { mode, off, len, .. } => {
                    assert!(len > 0 && off + len <= cfg.max_size, "{op:?}");
                    if mode == IoMode::Direct {
                        assert_eq!(off % cfg.align, 0);
                        assert_eq!(len % cfg.align, 0);
                    }
                }
                Op::Falloc { off, len, .. } => assert!(len > 0 && off + len <= cfg.max_size),
                Op::Truncate { size, .. } => assert!(size <= cfg.max_size),
                _ => {}
            }
        }
        // Every kind shows up in a run of this length.
        for k in [
            "read-buffered",
            "read-direct",
            "read-mmap",
            "write-buffered",
            "write-direct",
            "write-mmap",
            "truncate",
            "falloc-default",
            "falloc-keep",
            "falloc-punch",
            "falloc-zero",
            "falloc-zero-keep",
            "fsync",
            "fdatasync",
            "reopen",
            "check",
        ] {
            assert!(kinds.contains(k), "no {k}");
        }
    }

    #[test]
    fn shared_region_never_leaves_its_range() {
        let cfg = GenConfig {
            region: Some((64 << 10, 128 << 10)),
            ..GenConfig::default()
        };
        for op in run(&cfg, 11, 3000) {
            match op {
                Op::Read { off, len, .. }
                | Op::Write { off, len, .. }
                | Op::Falloc { off, len, .. } => {
                    assert!(off >= 64 << 10 && off + len <= 128 << 10, "{op:?}")
                }
                Op::Truncate { .. } => panic!("truncate in shared mode"),
                _ => {}
            }
        }
    }

    #[test]
    fn disabled_kinds_are_not_generated() {
        let cfg = GenConfig {
            direct: false,
            mmap: false,
            falloc: false,
            reopen: false,
            remount_every: 100,
            ..GenConfig::default()
        };
        let ops = run(&cfg, 8, 1000);
        assert!(ops.iter().all(|o| !matches!(
            o,
            Op::Falloc { .. }
                | Op::Reopen { .. }
                | Op::Read {
                    mode: IoMode::Direct | IoMode::Mmap,
                    ..
                }
                | Op::Write {
                    mode: IoMode::Direct | IoMode::Mmap,
                    ..
                }
        )));
        assert_eq!(ops.iter().filter(|o| **o == Op::Remount).count(), 10);
    }

    #[test]
    fn kinds_are_what_the_configuration_asks_for() {
        let all = Generator::new(GenConfig::default(), 1).kinds(1000);
        assert_eq!(all.len(), 16, "{all:?}");
        assert!(!all.contains(&"remount".to_string()));
        let cfg = GenConfig {
            direct: false,
            falloc: false,
            remount_every: 100,
            ..GenConfig::default()
        };
        let k = Generator::new(cfg.clone(), 1).kinds(1000);
        assert!(k
            .iter()
            .all(|k| !k.contains("direct") && !k.starts_with("falloc")));
        assert!(k.contains(&"remount".to_string()) && k.contains(&"check".to_string()));
        assert!(!Generator::new(cfg, 1)
            .kinds(99)
            .contains(&"remount".to_string()));
        let shared = GenConfig {
            region: Some((0, 64 << 10)),
            ..GenConfig::default()
        };
        assert!(!Generator::new(shared, 1)
            .kinds(1000)
            .contains(&"truncate".to_string()));
        // Every kind listed is one the generator produces (and the other
        // way round).
        let cfg = GenConfig {
            remount_every: 100,
            ..GenConfig::default()
        };
        let made: std::collections::HashSet<String> = run(&cfg, 4, 3000)
            .iter()
            .map(|o| o.kind())
            .chain(["check".to_string()])
            .collect();
        let kinds = Generator::new(cfg, 4).kinds(3000);
        for k in &kinds {
            assert!(made.contains(k), "{k}");
        }
        assert!(made.iter().all(|k| kinds.contains(k)), "{made:?}");
    }

    #[test]
    fn log_lines_round_trip() {
        let cfg = GenConfig {
            files: 4,
            inject_at: Some(20),
            ..GenConfig::default()
        };
        let ops = run(&cfg, 1234, 3000);
        assert!(ops.iter().any(|o| matches!(o, Op::Corrupt { .. })));
        for op in ops.iter().chain([Op::Remount, Op::Check].iter()) {
            let line = op.to_string();
            let back: Op = line.parse().unwrap();
            assert_eq!(&back, op, "{line}");
        }
        assert!("write buffered 0 0x10".parse::<Op>().is_err());
        assert!("frobnicate 1".parse::<Op>().is_err());
        assert!("read sideways 0 0 1".parse::<Op>().is_err());
    }
}
