// SPDX-License-Identifier: GPL-2.0

//! Operations, their one-line log format and the seeded generator.

use crate::model::Model;
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

/// How a setxattr(2) treats the name: flags 0, `XATTR_CREATE` or
/// `XATTR_REPLACE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum XattrMode {
    /// Flags 0: create the name or replace its value.
    Any,
    /// `XATTR_CREATE`: `EEXIST` when the name exists.
    Create,
    /// `XATTR_REPLACE`: `ENODATA` when the name does not exist.
    Replace,
}

impl XattrMode {
    /// All modes, in generator order.
    pub const ALL: [XattrMode; 3] = [XattrMode::Any, XattrMode::Create, XattrMode::Replace];

    /// The log name.
    pub fn name(self) -> &'static str {
        match self {
            XattrMode::Any => "any",
            XattrMode::Create => "create",
            XattrMode::Replace => "replace",
        }
    }

    /// The kind of a set in this mode, for statistics.
    pub fn kind(self) -> &'static str {
        match self {
            XattrMode::Any => "xattr-set",
            XattrMode::Create => "xattr-create",
            XattrMode::Replace => "xattr-replace",
        }
    }

    /// The setxattr(2) flags.
    pub fn flags(self) -> i32 {
        match self {
            XattrMode::Any => 0,
            XattrMode::Create => libc::XATTR_CREATE,
            XattrMode::Replace => libc::XATTR_REPLACE,
        }
    }
}

/// The longest full attribute name (prefix included), the VFS's
/// `XATTR_NAME_MAX`; rextfs has the same limit.
pub const XATTR_NAME_MAX: usize = 255;

/// The longest attribute value, the VFS's `XATTR_SIZE_MAX`; rextfs stores
/// values up to it.
pub const XATTR_SIZE_MAX: u64 = 65536;

/// The most attributes the generator gives one file. With at most this
/// many, rextfs can never refuse a set (fs/rextfs/xattr.rs): its listed
/// names stay far below `XATTR_LIST_MAX` (64 x 256 bytes of 65536), and
/// its chain of xattr blocks within its 64 blocks at any block size. A
/// chain has no more blocks than entries (the block a change empties leaves
/// it), and gets a new block only for a new name (then it has at most 63)
/// or for an entry whose own block has no room for its new value, which a
/// block holding that entry alone always has (then the chain has fewer
/// blocks than entries). With 4 KiB blocks a block is only appended once
/// every block holds at least three entries, so the default of 32 names
/// stays below 12 blocks.
pub const XATTR_NAMES_MAX: usize = 64;

/// The prefix of every attribute name the verifier uses.
pub const XATTR_PREFIX: &str = "user.";

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
    /// setxattr of the full name `name` to `len` bytes of the pattern of
    /// `seed`, in `mode`; the model says whether it must succeed or fail
    /// with `EEXIST` or `ENODATA`.
    XattrSet {
        file: usize,
        mode: XattrMode,
        name: String,
        len: u64,
        seed: u64,
    },
    /// removexattr of `name`: `ENODATA` when the model does not have it.
    XattrRemove { file: usize, name: String },
    /// Compare the file's attributes with the model: listxattr and getxattr
    /// of every name, and `ENODATA` for names removed.
    XattrCheck { file: usize },
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
            Op::XattrSet { mode, .. } => mode.kind().into(),
            Op::XattrRemove { .. } => "xattr-remove".into(),
            Op::XattrCheck { .. } => "xattr-check".into(),
        }
    }

    /// The file the op works on (0 for the ops on every file).
    pub fn file(&self) -> usize {
        match self {
            Op::Read { file, .. }
            | Op::Write { file, .. }
            | Op::Truncate { file, .. }
            | Op::Falloc { file, .. }
            | Op::Fsync { file }
            | Op::Fdatasync { file }
            | Op::Reopen { file }
            | Op::Corrupt { file, .. }
            | Op::XattrSet { file, .. }
            | Op::XattrRemove { file, .. }
            | Op::XattrCheck { file } => *file,
            Op::Check | Op::Remount => 0,
        }
    }

    /// Whether the op works on extended attributes.
    pub fn is_xattr(&self) -> bool {
        matches!(
            self,
            Op::XattrSet { .. } | Op::XattrRemove { .. } | Op::XattrCheck { .. }
        )
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
            Op::XattrSet {
                file,
                mode,
                name,
                len,
                seed,
            } => write!(
                f,
                "xattr-set {} {file} {name} {len:#x} {seed:#x}",
                mode.name()
            ),
            Op::XattrRemove { file, name } => write!(f, "xattr-remove {file} {name}"),
            Op::XattrCheck { file } => write!(f, "xattr-check {file}"),
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

/// Checks an attribute name of a log line: `user.` and 1 to 250 more bytes,
/// none of them blank (the log splits at blanks) or NUL.
fn parse_xattr_name(s: &str) -> Result<String, String> {
    let ok = s.len() > XATTR_PREFIX.len()
        && s.len() <= XATTR_NAME_MAX
        && s.starts_with(XATTR_PREFIX)
        && !s.bytes().any(|b| b == 0 || b.is_ascii_whitespace());
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!("bad attribute name '{s}'"))
    }
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
            Some("xattr-set") => {
                want(6)?;
                let mode = XattrMode::ALL
                    .into_iter()
                    .find(|m| m.name() == w[1])
                    .ok_or_else(|| format!("bad setxattr mode '{}'", w[1]))?;
                let len = n(4)?;
                if len > XATTR_SIZE_MAX {
                    return Err(format!("attribute value longer than 64 KiB in '{line}'"));
                }
                Op::XattrSet {
                    mode,
                    file: file(2)?,
                    name: parse_xattr_name(w[3])?,
                    len,
                    seed: n(5)?,
                }
            }
            Some("xattr-remove") => {
                want(3)?;
                Op::XattrRemove {
                    file: file(1)?,
                    name: parse_xattr_name(w[2])?,
                }
            }
            Some("xattr-check") => {
                want(2)?;
                Op::XattrCheck { file: file(1)? }
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
    /// Extended attribute ops (set, create, replace, remove, check); never
    /// in shared-file mode.
    pub xattr: bool,
    /// The most attributes one file gets (1 to [`XATTR_NAMES_MAX`]).
    pub xattr_names: usize,
    /// The longest attribute value (at most [`XATTR_SIZE_MAX`]).
    pub xattr_max_value: u64,
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
            xattr: true,
            xattr_names: 32,
            xattr_max_value: XATTR_SIZE_MAX,
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
    XattrSet(XattrMode),
    XattrRemove,
    XattrCheck,
}

/// Characters of generated attribute names.
const NAME_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789._-";

/// Attribute value lengths at the edges of rextfs's storage, for 1, 2 and
/// 4 KiB blocks: the longest inline value ((block - 40) / 4: 246, 502,
/// 1014) and one more, one value block full (block - 40: 984, 2008, 4056)
/// and one more, two full 4 KiB value blocks and one more, and the end of
/// the range.
const XATTR_EDGES: [u64; 18] = [
    246, 247, 502, 503, 984, 985, 1014, 1015, 2008, 2009, 4056, 4057, 8112, 8113, 64896, 64897,
    65535, 65536,
];

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
        // About a tenth of the ops once everything is on. Nothing is added
        // without xattrs, so that seeds give the op sequences they gave
        // before the attribute ops existed.
        if cfg.xattr && cfg.region.is_none() {
            table.push((Kind::XattrSet(XattrMode::Any), 2));
            table.push((Kind::XattrSet(XattrMode::Create), 1));
            table.push((Kind::XattrSet(XattrMode::Replace), 1));
            table.push((Kind::XattrRemove, 2));
            table.push((Kind::XattrCheck, 1));
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
        if c.xattr && c.region.is_none() {
            v.extend(XattrMode::ALL.iter().map(|m| m.kind().to_string()));
            v.extend(["xattr-remove".to_string(), "xattr-check".to_string()]);
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

    /// A new attribute name: `user.` and 1 to 250 more bytes, mostly short,
    /// sometimes the shortest or the longest possible.
    fn xattr_name(&mut self) -> String {
        let room = (XATTR_NAME_MAX - XATTR_PREFIX.len()) as u64;
        let len = match self.rng.below(8) {
            0 => room,
            1 => 1,
            2..=5 => self.rng.range(1, 16),
            _ => self.rng.range(1, room),
        };
        let mut s = String::from(XATTR_PREFIX);
        for _ in 0..len {
            s.push(NAME_CHARS[self.rng.below(NAME_CHARS.len() as u64) as usize] as char);
        }
        s
    }

    /// A name the file does not have, to check `ENODATA`: one it had and
    /// lost when there is one, half of the time, or a new one.
    fn absent_xattr_name(&mut self, m: &Model) -> String {
        let gone = m.xattrs().removed();
        if !gone.is_empty() && self.rng.chance(1, 2) {
            let i = self.rng.below(gone.len() as u64) as usize;
            return gone.iter().nth(i).unwrap().clone();
        }
        self.xattr_name()
    }

    /// A name the file has (it must have one).
    fn present_xattr_name(&mut self, m: &Model) -> String {
        let x = m.xattrs();
        x.nth_name(self.rng.below(x.len() as u64) as usize)
            .to_string()
    }

    /// An attribute value length: empty, short (inline), at the edges of
    /// rextfs's storage ([`XATTR_EDGES`]), up to a value block, or up to
    /// 64 KiB (a chain of value blocks); never above `xattr_max_value`.
    fn xattr_len(&mut self) -> u64 {
        let len = match self.rng.below(16) {
            0 | 1 => 0,
            2..=6 => self.rng.range(1, 300),
            7..=9 => XATTR_EDGES[self.rng.below(XATTR_EDGES.len() as u64) as usize],
            10..=12 => self.rng.range(301, 4096),
            _ => self.rng.range(4097, XATTR_SIZE_MAX),
        };
        len.min(self.cfg.xattr_max_value)
    }

    /// An attribute op of kind `k` on file `file` (model `m`). New names
    /// are made only while the file has fewer than `xattr_names`; a create
    /// names an existing attribute one time in eight (and when the file is
    /// full), a replace or a remove a missing one one time in eight (and
    /// when the file has none), to check `EEXIST` and `ENODATA`.
    fn xattr_op(&mut self, k: Kind, file: usize, m: &Model) -> Op {
        let have = m.xattrs().len();
        let full = have >= self.cfg.xattr_names.max(1);
        match k {
            Kind::XattrSet(mode) => {
                let existing = match mode {
                    XattrMode::Any => have > 0 && (full || self.rng.chance(1, 2)),
                    XattrMode::Create => have > 0 && (full || self.rng.chance(1, 8)),
                    XattrMode::Replace => have > 0 && !self.rng.chance(1, 8),
                };
                let name = if existing {
                    self.present_xattr_name(m)
                } else if mode == XattrMode::Replace {
                    self.absent_xattr_name(m)
                } else {
                    self.xattr_name()
                };
                Op::XattrSet {
                    file,
                    mode,
                    name,
                    len: self.xattr_len(),
                    seed: self.rng.next_u64(),
                }
            }
            Kind::XattrRemove => {
                let name = if have > 0 && !self.rng.chance(1, 8) {
                    self.present_xattr_name(m)
                } else {
                    self.absent_xattr_name(m)
                };
                Op::XattrRemove { file, name }
            }
            _ => Op::XattrCheck { file },
        }
    }

    /// The operation number `n` (1-based) given the current models.
    pub fn next(&mut self, n: u64, models: &[&Model]) -> Op {
        if self.cfg.remount_every > 0 && n % self.cfg.remount_every == 0 {
            return Op::Remount;
        }
        if self.cfg.check_every > 0 && n % self.cfg.check_every == 0 {
            return Op::Check;
        }
        let file = self.rng.below(self.cfg.files as u64) as usize;
        let size = models[file].size();
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
            k @ (Kind::XattrSet(_) | Kind::XattrRemove | Kind::XattrCheck) => {
                self.xattr_op(k, file, models[file])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Model;

    /// Generates `n` ops, applying each to models as a file system that
    /// behaves would.
    fn run(cfg: &GenConfig, seed: u64, n: u64) -> Vec<Op> {
        let mut g = Generator::new(cfg.clone(), seed);
        let mut models = vec![Model::new(); cfg.files];
        let mut out = Vec::new();
        for i in 1..=n {
            let view: Vec<&Model> = models.iter().collect();
            let op = g.next(i, &view);
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
                Op::XattrSet {
                    file,
                    mode,
                    name,
                    len,
                    seed,
                } => {
                    let x = models[*file].xattrs_mut();
                    let ok = match mode {
                        XattrMode::Any => true,
                        XattrMode::Create => x.get(name).is_none(),
                        XattrMode::Replace => x.get(name).is_some(),
                    };
                    if ok {
                        x.set(name, *len, *seed);
                    }
                }
                Op::XattrRemove { file, name } if models[*file].xattrs().get(name).is_some() => {
                    models[*file].xattrs_mut().remove(name)
                }
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
                Op::XattrSet { ref name, len, .. } => {
                    assert!(
                        name.len() <= XATTR_NAME_MAX && len <= XATTR_SIZE_MAX,
                        "{op:?}"
                    )
                }
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
            "xattr-set",
            "xattr-create",
            "xattr-replace",
            "xattr-remove",
            "xattr-check",
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
                ref o if o.is_xattr() => panic!("attributes in shared mode: {o}"),
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
            xattr: false,
            remount_every: 100,
            ..GenConfig::default()
        };
        let ops = run(&cfg, 8, 1000);
        assert!(ops.iter().all(|o| !matches!(
            o,
            Op::Falloc { .. }
                | Op::Reopen { .. }
                | Op::XattrSet { .. }
                | Op::XattrRemove { .. }
                | Op::XattrCheck { .. }
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
        assert_eq!(all.len(), 21, "{all:?}");
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

    /// The op sequence of a seed must not change behind a bug report's back.
    #[test]
    fn seed_sequences_are_pinned() {
        let cfg = GenConfig {
            files: 3,
            remount_every: 500,
            xattr: false,
            ..GenConfig::default()
        };
        let text: String = run(&cfg, 99, 3000)
            .iter()
            .map(|o| format!("{o}\n"))
            .collect();
        let h = crate::corrupt_check::fnv64(text.as_bytes(), crate::corrupt_check::FNV_INIT);
        // The sequence of this seed before the attribute ops existed.
        assert_eq!(h, 0x9ceb_395f_e59d_5071, "{h:#x}");
    }

    /// Attribute ops: names and values of every size class, the error
    /// cases, never more names on a file than asked for.
    #[test]
    fn xattr_ops_cover_sizes_and_errors_within_the_limits() {
        let cfg = GenConfig {
            files: 2,
            xattr_names: 5,
            ..GenConfig::default()
        };
        let ops = run(&cfg, 21, 20000);
        let mut models = vec![Model::new(); cfg.files];
        let (mut exists, mut missing) = (0, 0);
        let mut lens = std::collections::BTreeSet::new();
        let mut name_lens = std::collections::BTreeSet::new();
        for op in &ops {
            match op {
                Op::XattrSet {
                    file,
                    mode,
                    name,
                    len,
                    seed,
                } => {
                    let x = models[*file].xattrs_mut();
                    let have = x.get(name).is_some();
                    lens.insert(*len);
                    name_lens.insert(name.len());
                    match (mode, have) {
                        (XattrMode::Create, true) => exists += 1,
                        (XattrMode::Replace, false) => missing += 1,
                        _ => x.set(name, *len, *seed),
                    }
                    assert!(x.len() <= 5, "{op}");
                }
                Op::XattrRemove { file, name } => {
                    let x = models[*file].xattrs_mut();
                    if x.get(name).is_some() {
                        x.remove(name);
                    } else {
                        missing += 1;
                    }
                }
                _ => {}
            }
        }
        assert!(exists > 20 && missing > 20, "{exists} {missing}");
        for l in [0, 1014, 1015, 4056, 4057, 65536] {
            assert!(lens.contains(&l), "no value of {l} bytes");
        }
        assert!(lens.iter().any(|&l| l > 4096 * 4 && l < 65535));
        assert!(name_lens.contains(&6) && name_lens.contains(&255));
        // A smaller largest value is kept to.
        let cfg = GenConfig {
            xattr_max_value: 3000,
            ..cfg
        };
        assert!(run(&cfg, 21, 5000).iter().all(|o| match o {
            Op::XattrSet { len, .. } => *len <= 3000,
            _ => true,
        }));
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
        assert!(ops.iter().any(|o| o.is_xattr()));
        assert!("write buffered 0 0x10".parse::<Op>().is_err());
        assert!("xattr-set any 0 trusted.a 0x1 0x2".parse::<Op>().is_err());
        assert!("xattr-set any 0 user. 0x1 0x2".parse::<Op>().is_err());
        assert!("xattr-set sometimes 0 user.a 0x1 0x2"
            .parse::<Op>()
            .is_err());
        assert!("xattr-set any 0 user.a 0x10001 0x2".parse::<Op>().is_err());
        let long = format!("xattr-remove 0 user.{}", "n".repeat(251));
        assert!(long.parse::<Op>().is_err());
        assert!(long[..long.len() - 1].parse::<Op>().is_ok());
        assert!("frobnicate 1".parse::<Op>().is_err());
        assert!("read sideways 0 0 1".parse::<Op>().is_err());
    }
}
