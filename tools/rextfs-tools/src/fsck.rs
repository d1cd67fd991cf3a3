// SPDX-License-Identifier: GPL-2.0

//! Consistency checker and repairer.
//!
//! Discovery (never writes in check mode):
//!  1. superblock fields, checksum, features, state;
//!  2. both bitmaps (block checksums, padding);
//!  3. inode table (slots of in-use inodes must decode; reserved slots
//!     zero; stale slots noted);
//!  4. directory tree from the root: every extent tree (node checksums,
//!     levels, key bounds, owners, extents in range and non-overlapping),
//!     every chain of extended attribute blocks and value blocks, every
//!     directory block and entry, the hash index against the entries, file
//!     types, '..' (parent field);
//!  5. orphan list; unattached inodes;
//!  6. link counts, block counts, blocks used twice;
//!  7. bitmaps and free counts against what is actually used.
//!
//! Repair (`-y`/`-p`) then rebuilds what was found wrong, using the block
//! map computed in discovery as the allocator, and writes fresh bitmaps and
//! a clean superblock.

use crate::acl::{acl_type_fault, acl_value_fault};
use crate::bitset::Bitset;
use crate::dev::Dev;
use crate::fs::{fill_from_block, now_secs, Fs};
use crate::journal;
use crate::ops::{xattr_allowed, xattr_full_name};
use rextfs_format::*;
use std::collections::{BTreeMap, HashSet, VecDeque};

/// Exit code: no errors.
pub const EXIT_OK: i32 = 0;
/// Exit code: errors were corrected.
pub const EXIT_FIXED: i32 = 1;
/// Exit code: errors left uncorrected.
pub const EXIT_UNCORRECTED: i32 = 4;
/// Exit code: operational error.
pub const EXIT_OPERATIONAL: i32 = 8;
/// Exit code: usage or syntax error.
pub const EXIT_USAGE: i32 = 16;

/// Exit code: errors were corrected, the system should be rebooted (not
/// used: fsck.rextfs never repairs a mounted filesystem).
pub const EXIT_REBOOT: i32 = 2;
/// Exit code: the check was canceled by the user (not used).
pub const EXIT_CANCELED: i32 = 32;

/// fsck options.
#[derive(Debug, Clone, Copy, Default)]
pub struct FsckOptions {
    /// Repair (`-y`); otherwise only check (`-n`).
    pub repair: bool,
    /// Print statistics and informational notes.
    pub verbose: bool,
    /// Preen (`-p`, `-a`): repair only what is safe without a person (see
    /// [`fsck`]); implies a repair when there is nothing else.
    pub preen: bool,
    /// Check even a filesystem marked clean (`-f`). Only preening skips a
    /// clean filesystem; `-n` and `-y` always check everything.
    pub force: bool,
}

/// Number of progress passes reported to a progress callback.
pub const PASSES: u32 = 5;

/// Names of the progress passes, 1 to [`PASSES`].
pub const PASS_NAMES: [&str; PASSES as usize] = [
    "superblock, bitmaps and inode table",
    "directory tree",
    "orphans and unattached inodes",
    "link and block counts",
    "bitmaps and free counts",
];

/// What fsck found.
#[derive(Debug, Clone, Default)]
pub struct FsckReport {
    /// fsck(8) exit code.
    pub exit_code: i32,
    /// One line per problem (and notes in verbose mode), then a summary.
    pub lines: Vec<String>,
    /// Number of problems found.
    pub problems: usize,
    /// Number of problems repaired.
    pub fixed: usize,
    /// Number of problems that preening may not repair (they need a person).
    pub manual: usize,
    /// The filesystem was marked clean and not checked (preen without `-f`).
    pub skipped: bool,
}

#[derive(Default, Clone)]
struct Ino {
    inode: Option<Inode>,
    /// Kept extents, sorted by logical block.
    ext: Vec<Extent>,
    /// Extent-tree node blocks (valid ones).
    nodes: Vec<u64>,
    /// Directory index blocks (root included), valid ones.
    idx_nodes: Vec<u64>,
    walked: bool,
    tree_bad: bool,
    index_bad: bool,
    refs: u32,
    subdirs: u32,
    dotdot: Option<u64>,
    reached: bool,
    orphan: bool,
    clear: bool,
    reconnect: bool,
    dirty: bool,
    /// Indexes in `ext` of extents sharing blocks with an earlier owner.
    dup_ext: Vec<usize>,
    /// The on-disk size was past the largest file offset: it is recomputed from the
    /// extents once they are walked.
    size_bad: bool,
    /// The xattr blocks kept, in chain order (the chain is cut after the last one).
    xattr: Vec<XBlk>,
    /// The attributes need a repair: the chain was cut or entries are dropped.
    xattr_bad: bool,
}

/// An xattr block that the check keeps, and what the repair changes in it.
#[derive(Default, Clone)]
struct XBlk {
    blockno: u64,
    /// Offsets of the entries the repair removes.
    drop: Vec<usize>,
    /// The value blocks of each kept external value: (offset of the entry, blocks).
    values: Vec<(usize, Vec<u64>)>,
    /// The block rebuilt without its entries whose names are too long (see
    /// [`salvage_long_names`]): the repair starts from it, not from the block on disk,
    /// and the offsets above are in it.
    rebuilt: Option<Vec<u8>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ClaimKind {
    Data(usize),
    Node,
    Index,
    /// The `k`th kept xattr block.
    Xattr(usize),
    /// A value block of the entry at offset `.1` of the `.0`th kept xattr block.
    XValue(usize, usize),
}

impl ClaimKind {
    /// Xattr and value blocks name their owner and their own location and were
    /// checked to do so: a block they share with a data extent or a tree node is
    /// theirs, and the other claimant loses it (see [`Checker::check_dups`]).
    fn proves_owner(self) -> bool {
        matches!(self, ClaimKind::Xattr(_) | ClaimKind::XValue(..))
    }
}

struct Checker<'p> {
    dev: Box<dyn Dev>,
    repair: bool,
    /// Decide as a repair would, but write nothing (the first pass of a preen).
    dry: bool,
    verbose: bool,
    progress: Option<&'p mut dyn FnMut(u32, u64, u64)>,
    sb: Superblock,
    bs: usize,
    lines: Vec<String>,
    problems: usize,
    fixed: usize,
    unfixed: usize,
    manual: usize,
    /// Directories walked and expected (progress of pass 2).
    dirs_done: u64,
    dirs_total: u64,
    inodes: BTreeMap<u64, Ino>,
    /// Slots with content that are not in use.
    stale: HashSet<u64>,
    /// Slots in use (bitmap) that do not decode.
    bad_slots: HashSet<u64>,
    used: Bitset,
    dups: Bitset,
    order: Vec<u64>,
    disk_bmap: Bitset,
    disk_imap: Bitset,
    sb_rewrite: bool,
    orphan_head_new: Option<u64>,
    lost_found_needed: bool,
}

/// Checks (and with `opts.repair` repairs) the filesystem on `dev`.
///
/// With `opts.preen` the filesystem is first checked as a repair would see it
/// but without writing. Only when every problem found is one that is safe to
/// repair without a person (what an interrupted kernel leaves behind, and
/// summaries: the state flags, free counts, leaked blocks and inodes, stale
/// slots, link and block counts, directory sizes and parents, orphans, the
/// orphan links of inodes that are linked or off the list) is it repaired;
/// otherwise nothing is written and the exit code is [`EXIT_UNCORRECTED`].
/// Without `opts.force` a preen skips a filesystem marked clean.
pub fn fsck(dev: Box<dyn Dev>, opts: &FsckOptions) -> FsckReport {
    fsck_with_progress(dev, opts, None)
}

/// [`fsck`], calling `progress(pass, done, total)` as the check advances
/// (passes 1 to [`PASSES`], see [`PASS_NAMES`]; `done` reaches `total` at the
/// end of each pass). A preen reports the progress of its check only.
pub fn fsck_with_progress(
    dev: Box<dyn Dev>,
    opts: &FsckOptions,
    progress: Option<&mut dyn FnMut(u32, u64, u64)>,
) -> FsckReport {
    let mut dev = dev;
    let jp = journal_pass(
        dev.as_mut(),
        opts.repair || opts.preen,
        opts.preen,
        opts.verbose,
    );
    if let Some(why) = &jp.abort {
        let mut r = fatal(EXIT_OPERATIONAL, why.clone());
        r.lines.splice(0..0, jp.lines.iter().cloned());
        return r;
    }
    if !opts.preen {
        return check_once(dev, opts.repair, false, opts.verbose, progress, &jp);
    }
    // After a replay or a repaired journal the file system is checked even if
    // it is marked clean.
    if !opts.force && !jp.replayed && jp.problems == 0 {
        if let Some(r) = clean_without_check(&mut dev) {
            return r;
        }
    }
    // A dry run with the repair's decisions, on the same device handle (no writes).
    let (dry, dev) = {
        let mut c = match Checker::new(dev, true, true, opts.verbose, progress) {
            Ok(c) => c,
            Err(r) => return with_journal_lines(r, &jp),
        };
        c.absorb(&jp);
        if let Err(e) = c.run() {
            c.lines.push(format!("fsck aborted: {e}"));
            return c.report(Some(EXIT_OPERATIONAL));
        }
        let dev = std::mem::replace(&mut c.dev, Box::new(crate::dev::MemDev::new(0)));
        (c.preen_report(), dev)
    };
    if let Some(r) = dry {
        return r;
    }
    check_once(dev, true, false, opts.verbose, None, &jp)
}

fn check_once(
    dev: Box<dyn Dev>,
    repair: bool,
    dry: bool,
    verbose: bool,
    progress: Option<&mut dyn FnMut(u32, u64, u64)>,
    jp: &JournalPass,
) -> FsckReport {
    let mut c = match Checker::new(dev, repair, dry, verbose, progress) {
        Ok(c) => c,
        Err(r) => return with_journal_lines(r, jp),
    };
    c.absorb(jp);
    if let Err(e) = c.run() {
        c.lines.push(format!("fsck aborted: {e}"));
        return c.report(Some(EXIT_OPERATIONAL));
    }
    c.report(None)
}

/// What the journal pass found and did before the check proper.
#[derive(Debug, Default, Clone)]
struct JournalPass {
    /// Lines for the report, problems included.
    lines: Vec<String>,
    /// Problems found (a bad journal super block; with `-n`, a journal that
    /// needs recovery; a corrupted transaction in the log).
    problems: usize,
    /// Problems corrected.
    fixed: usize,
    /// Problems a preen leaves to a person (a bad journal super block: the
    /// log it described may have held committed transactions).
    manual: usize,
    /// The journal was replayed.
    replayed: bool,
    /// The pass failed (I/O): fsck stops with an operational error.
    abort: Option<String>,
}

fn with_journal_lines(mut r: FsckReport, jp: &JournalPass) -> FsckReport {
    r.lines.splice(0..0, jp.lines.iter().cloned());
    r
}

/// The super block, if the journal pass may trust its geometry: the checks of
/// [`Checker::new`] that make fsck stop (they are reported from there).
fn sb_for_journal(dev: &mut dyn Dev) -> Option<Superblock> {
    let mut buf = vec![0u8; SB_SIZE];
    if dev.size() < SB_SIZE as u64 {
        return None;
    }
    dev.read_at(0, &mut buf).ok()?;
    let sb = Superblock::decode_raw(&buf).ok()?;
    if sb.version != FORMAT_VERSION || sb.feature_incompat & !FEATURE_INCOMPAT_SUPP != 0 {
        return None;
    }
    let mut geo = sb;
    geo.free_blocks = 0;
    geo.free_inodes = 0;
    geo.orphan_head = 0;
    geo.state = STATE_CLEAN;
    geo.validate().ok()?;
    let bytes = sb.total_blocks.checked_mul(sb.block_size() as u64)?;
    (bytes <= dev.size()).then_some(sb)
}

/// The journal, before anything else: a bad journal super block is reported,
/// and with `writes` replaced by an empty journal (the log zeroed: without a
/// valid super block nothing in it can be replayed safely). A journal that
/// needs recovery is replayed with `writes` (see [`journal::recover`]); without,
/// it is reported and the file system checked as it is on disk. Replaying is no
/// correction in itself (as e2fsck, it does not make the exit code 1). A
/// `preen` does not replace a bad journal super block: that may throw away
/// committed transactions, so it needs a person.
fn journal_pass(dev: &mut dyn Dev, writes: bool, preen: bool, verbose: bool) -> JournalPass {
    let mut p = JournalPass::default();
    let Some(sb) = sb_for_journal(dev) else {
        return p;
    };
    if writes && sb.needs_readonly() {
        // Checker::new refuses to repair it.
        return p;
    }
    let buf = match journal::read_jsb_block(dev, &sb) {
        Ok(b) => b,
        Err(e) => {
            p.abort = Some(format!("journal: cannot read its super block: {e}"));
            return p;
        }
    };
    let j = match journal::check_jsb(&buf, &sb) {
        Ok(j) => j,
        Err(why) => {
            p.problems += 1;
            let text = format!(
                "journal super block at block {}: {why}; whether the journal needed recovery \
                 cannot be known, it is replaced by an empty journal",
                sb.layout.journal_start
            );
            if preen {
                p.manual += 1;
                p.lines.push(format!(
                    "journal super block at block {}: {why}; whether the journal needed \
                     recovery cannot be known (UNEXPECTED INCONSISTENCY)",
                    sb.layout.journal_start
                ));
                return p;
            }
            if !writes {
                p.lines.push(text);
                return p;
            }
            let done = journal::zero_log(dev, &sb)
                .and_then(|()| journal::write_jsb(dev, &sb, &journal::empty_jsb(&sb, 1)))
                .and_then(|()| dev.flush().map_err(Into::into));
            match done {
                Ok(()) => {
                    p.fixed += 1;
                    p.lines.push(format!("{text} (fixed)"));
                }
                Err(e) => p.abort = Some(format!("journal: cannot write its super block: {e}")),
            }
            return p;
        }
    };
    if !j.needs_recovery() {
        if verbose {
            p.lines.push(format!(
                "journal: empty, {} blocks, next transaction {}",
                j.blocks, j.sequence
            ));
        }
        return p;
    }
    if !writes {
        p.problems += 1;
        let what = match journal::scan_log(dev, &sb, &j) {
            Ok(r) => format!(
                ": {} committed transactions from log block {} ({} block copies, {} revoke \
                 records), then {}",
                r.transactions,
                j.tail,
                r.blocks,
                r.revokes,
                journal::log_end_text(r.end)
            ),
            Err(e) => format!(" (the log cannot be read: {e})"),
        };
        p.lines.push(format!(
            "journal needs recovery{what}; not replayed with -n, the file system is checked \
             as it is on disk"
        ));
        return p;
    }
    match journal::recover(dev, &sb, &j) {
        Ok(r) => {
            p.replayed = true;
            p.lines.push(format!(
                "journal: recovered {} transactions from log block {} (sequence {}): {} of {} \
                 block copies written home, {} revoke records; the scan stopped at {}",
                r.scan.transactions,
                j.tail,
                j.sequence,
                r.written,
                r.scan.blocks,
                r.scan.revokes,
                journal::log_end_text(r.scan.end)
            ));
            if let LogEnd::BadHome(b) = r.scan.end {
                p.problems += 1;
                p.fixed += 1;
                p.lines.push(format!(
                    "journal: transaction {} copies block {b}, no metadata block; the log \
                     from there on is discarded (fixed)",
                    r.scan.next_sequence
                ));
            }
        }
        Err(e) => p.abort = Some(format!("journal: recovery failed: {e}")),
    }
    p
}

/// The report of a preen without `-f` on a filesystem marked clean (CLEAN
/// set, no ERRORS, no unknown state, empty orphan list, valid superblock):
/// the counts of the superblock, nothing checked.
fn clean_without_check(dev: &mut Box<dyn Dev>) -> Option<FsckReport> {
    let mut buf = vec![0u8; SB_SIZE];
    if dev.size() < SB_SIZE as u64 {
        return None;
    }
    dev.read_at(0, &mut buf).ok()?;
    let sb = Superblock::decode(&buf).ok()?;
    if sb.state != STATE_CLEAN || sb.orphan_head != 0 || sb.needs_readonly() {
        return None;
    }
    Some(FsckReport {
        exit_code: EXIT_OK,
        lines: vec![format!(
            "rextfs: clean, {}/{} inodes, {}/{} blocks (not checked; -f checks)",
            sb.total_inodes - sb.free_inodes.min(sb.total_inodes),
            sb.total_inodes,
            sb.total_blocks - sb.free_blocks.min(sb.total_blocks),
            sb.total_blocks
        )],
        skipped: true,
        ..Default::default()
    })
}

fn fmt_name(n: &[u8]) -> String {
    String::from_utf8_lossy(n).into_owned()
}

fn fatal(code: i32, line: String) -> FsckReport {
    FsckReport {
        exit_code: code,
        lines: vec![line],
        problems: usize::from(code == EXIT_UNCORRECTED),
        fixed: 0,
        manual: usize::from(code == EXIT_UNCORRECTED),
        skipped: false,
    }
}

type R<T> = crate::error::Result<T>;

impl<'p> Checker<'p> {
    fn new(
        mut dev: Box<dyn Dev>,
        repair: bool,
        dry: bool,
        verbose: bool,
        progress: Option<&'p mut dyn FnMut(u32, u64, u64)>,
    ) -> std::result::Result<Checker<'p>, FsckReport> {
        let mut buf = vec![0u8; SB_SIZE];
        if dev.size() < SB_SIZE as u64 || dev.read_at(0, &mut buf).is_err() {
            return Err(fatal(EXIT_OPERATIONAL, "cannot read the superblock".into()));
        }
        let sb = match Superblock::decode_raw(&buf) {
            Ok(sb) => sb,
            Err(_) => {
                return Err(fatal(
                    EXIT_OPERATIONAL,
                    "superblock: bad magic number, not a rextfs filesystem".into(),
                ))
            }
        };
        if let Some(m) = crate::fs::version_message(sb.version) {
            return Err(fatal(EXIT_OPERATIONAL, format!("superblock: {m}")));
        }
        if sb.feature_incompat & !FEATURE_INCOMPAT_SUPP != 0 {
            return Err(fatal(
                EXIT_OPERATIONAL,
                format!(
                    "superblock: unsupported incompatible features {:#x}",
                    sb.feature_incompat
                ),
            ));
        }
        if repair && sb.needs_readonly() {
            return Err(fatal(
                EXIT_OPERATIONAL,
                format!(
                    "superblock: unknown read-only features {:#x}, refusing to repair",
                    sb.feature_ro_compat
                ),
            ));
        }
        // Geometry must be right; counts, state and orphan head are checked
        // (and repairable) later.
        let mut geo = sb;
        geo.free_blocks = 0;
        geo.free_inodes = 0;
        geo.orphan_head = 0;
        geo.state = STATE_CLEAN;
        if let Err(e) = geo.validate() {
            return Err(fatal(
                EXIT_UNCORRECTED,
                format!("superblock: {}, cannot check further", e.as_str()),
            ));
        }
        let bs = sb.block_size();
        let fs_bytes = sb.total_blocks.checked_mul(bs as u64);
        if fs_bytes.map_or(true, |b| b > dev.size()) {
            return Err(fatal(
                EXIT_UNCORRECTED,
                format!(
                    "superblock: filesystem has {} blocks but the device only {}",
                    sb.total_blocks,
                    dev.size() / bs as u64
                ),
            ));
        }
        let mut c = Checker {
            dev,
            repair,
            dry,
            verbose,
            progress,
            sb,
            bs,
            lines: Vec::new(),
            problems: 0,
            fixed: 0,
            unfixed: 0,
            manual: 0,
            dirs_done: 0,
            dirs_total: 0,
            inodes: BTreeMap::new(),
            stale: HashSet::new(),
            bad_slots: HashSet::new(),
            used: Bitset::new(sb.total_blocks),
            dups: Bitset::new(sb.total_blocks),
            order: Vec::new(),
            disk_bmap: Bitset::new(sb.total_blocks),
            disk_imap: Bitset::new(sb.total_inodes),
            sb_rewrite: false,
            orphan_head_new: None,
            lost_found_needed: false,
        };
        if !Superblock::checksum_ok(&buf) {
            c.problem("superblock: checksum mismatch", true);
            c.sb_rewrite = true;
        }
        Ok(c)
    }

    /// Takes in what the journal pass found: its lines first, its counts.
    fn absorb(&mut self, jp: &JournalPass) {
        self.lines.splice(0..0, jp.lines.iter().cloned());
        self.problems += jp.problems;
        self.fixed += jp.fixed;
        self.manual += jp.manual;
    }

    fn report(mut self, forced: Option<i32>) -> FsckReport {
        let code = forced.unwrap_or(if self.repair {
            (if self.fixed > 0 { EXIT_FIXED } else { 0 })
                | (if self.unfixed > 0 {
                    EXIT_UNCORRECTED
                } else {
                    0
                })
        } else if self.problems > 0 {
            EXIT_UNCORRECTED
        } else {
            EXIT_OK
        });
        let used_inodes =
            self.inodes.values().filter(|i| !i.clear).count() as u64 + (FIRST_INO - 2);
        let summary = if self.problems == 0 {
            format!(
                "rextfs: clean, {}/{} inodes, {}/{} blocks",
                used_inodes,
                self.sb.total_inodes,
                self.used.count(),
                self.sb.total_blocks
            )
        } else if self.repair {
            format!(
                "rextfs: {} problems found, {} fixed, {} left",
                self.problems, self.fixed, self.unfixed
            )
        } else {
            format!(
                "rextfs: {} problems found, filesystem left unchanged",
                self.problems
            )
        };
        self.lines.push(summary);
        FsckReport {
            exit_code: code,
            lines: self.lines,
            problems: self.problems,
            fixed: self.fixed,
            manual: self.manual,
            skipped: false,
        }
    }

    /// After the dry run of a preen: the final report when there is nothing to
    /// repair or something that needs a person, `None` when the repair may go on.
    fn preen_report(self) -> Option<FsckReport> {
        if self.problems == 0 {
            return Some(self.report(None));
        }
        if self.manual == 0 {
            return None;
        }
        let (manual, problems) = (self.manual, self.problems);
        let mut r = self.report(Some(EXIT_UNCORRECTED));
        r.lines.pop();
        r.lines.push(format!(
            "rextfs: UNEXPECTED INCONSISTENCY; RUN fsck.rextfs MANUALLY (without -p or -a): \
             {manual} of {problems} problems need a person; filesystem left unchanged"
        ));
        Some(r)
    }

    /// Records a problem whose repair is safe without a person (see [`fsck`]).
    fn safe(&mut self, text: impl Into<String>) {
        self.record(text.into(), true, true);
    }

    /// Records a problem that preening must leave to a person. In repair
    /// mode a fixable problem is counted as fixed (the fix is applied by the
    /// repair phase).
    fn problem(&mut self, text: impl Into<String>, fixable: bool) {
        self.record(text.into(), fixable, false);
    }

    fn record(&mut self, text: String, fixable: bool, safe: bool) {
        self.problems += 1;
        if !safe {
            self.manual += 1;
        }
        if self.dry {
            self.lines.push(if safe {
                text
            } else {
                format!("{text} (UNEXPECTED INCONSISTENCY)")
            });
        } else if self.repair {
            if fixable {
                self.fixed += 1;
                self.lines.push(format!("{text} (fixed)"));
            } else {
                self.unfixed += 1;
                self.lines.push(format!("{text} (not fixed)"));
            }
        } else {
            self.lines.push(text);
        }
    }

    fn note(&mut self, text: impl Into<String>) {
        if self.verbose {
            self.lines.push(text.into());
        }
    }

    fn read_block(&mut self, b: u64) -> R<Vec<u8>> {
        let mut buf = vec![0u8; self.bs];
        if b >= self.sb.total_blocks {
            return crate::error::msg(format!("block {b} out of range"));
        }
        self.dev.read_at(b * self.bs as u64, &mut buf)?;
        Ok(buf)
    }

    fn write_block(&mut self, b: u64, buf: &[u8]) -> R<()> {
        if self.repair && !self.dry && b < self.sb.total_blocks {
            self.dev.write_at(b * self.bs as u64, buf)?;
        }
        Ok(())
    }

    /// Reports progress: `done` of `total` steps of `pass`.
    fn tick(&mut self, pass: u32, done: u64, total: u64) {
        if let Some(p) = self.progress.as_mut() {
            p(pass, done.min(total), total);
        }
    }

    fn run(&mut self) -> R<()> {
        self.check_sb_state();
        self.load_bitmaps()?;
        self.scan_table()?;
        let dirs = self
            .inodes
            .values()
            .filter(|i| i.inode.is_some_and(|n| n.is_dir()))
            .count() as u64;
        self.dirs_total = dirs.max(1);
        self.tick(2, 0, self.dirs_total);
        self.walk_namespace()?;
        self.tick(2, self.dirs_total, self.dirs_total);
        self.tick(3, 0, 2);
        self.check_orphans()?;
        self.tick(3, 1, 2);
        self.find_unattached()?;
        self.tick(3, 2, 2);
        self.tick(4, 0, 2);
        self.check_counts();
        self.tick(4, 1, 2);
        self.check_dups();
        self.tick(4, 2, 2);
        self.tick(5, 0, 1);
        let (bmap, imap) = self.expected_maps();
        self.compare_maps(&bmap, &imap);
        self.tick(5, 1, 1);
        if self.repair && !self.dry {
            self.apply_repairs(bmap, imap)?;
        }
        Ok(())
    }

    // ----- superblock and bitmaps ---------------------------------------------

    fn check_sb_state(&mut self) {
        if self.sb.state & STATE_CLEAN == 0 {
            self.safe("superblock: filesystem was not cleanly unmounted");
        }
        if self.sb.state & STATE_ERRORS != 0 {
            self.safe("superblock: errors were recorded while mounted");
        }
        if self.sb.state & !STATE_KNOWN != 0 {
            self.problem(
                format!("superblock: unknown state flags {:#x}", self.sb.state),
                true,
            );
        }
        if self.sb.orphan_head != 0 && !self.sb.ino_valid(self.sb.orphan_head) {
            let h = self.sb.orphan_head;
            self.problem(
                format!("superblock: orphan list head {h} out of range"),
                true,
            );
            self.orphan_head_new = Some(0);
            self.sb.orphan_head = 0;
        }
    }

    fn load_bitmaps(&mut self) -> R<()> {
        let l = self.sb.layout;
        let bits = bitmap_bits_per_block(self.bs);
        for (name, start, count, kind, n) in [
            (
                "block",
                l.block_bitmap_start,
                l.block_bitmap_blocks,
                BITMAP_KIND_BLOCKS,
                self.sb.total_blocks,
            ),
            (
                "inode",
                l.inode_bitmap_start,
                l.inode_bitmap_blocks,
                BITMAP_KIND_INODES,
                self.sb.total_inodes,
            ),
        ] {
            let mut set = Bitset::new(n);
            for k in 0..count {
                let b = start + k;
                let buf = self.read_block(b)?;
                if let Err(e) = bitmap_check(&buf, b, kind, k) {
                    self.problem(format!("{name} bitmap block {b}: {}", e.as_str()), true);
                }
                fill_from_block(&mut set, &buf, k * bits, bits);
                // Padding bits past the last item must be set.
                let first = k * bits;
                if first + bits > n {
                    let from = n.saturating_sub(first);
                    let pad_ok = (from..bits).all(|j| bitmap_test(&buf, j).unwrap_or(true));
                    if !pad_ok {
                        self.problem(
                            format!(
                                "{name} bitmap block {b}: padding bits past the end are not set"
                            ),
                            true,
                        );
                    }
                }
            }
            if kind == BITMAP_KIND_BLOCKS {
                self.disk_bmap = set;
            } else {
                self.disk_imap = set;
            }
        }
        Ok(())
    }

    // ----- inode table --------------------------------------------------------

    fn scan_table(&mut self) -> R<()> {
        let l = self.sb.layout;
        let per_block = (self.bs / INODE_SIZE) as u64;
        let total = l.inode_table_blocks;
        for k in 0..l.inode_table_blocks {
            if k % 64 == 0 {
                self.tick(1, k, total);
            }
            let first_ino = k * per_block + 1;
            let buf = self.read_block(l.inode_table_start + k)?;
            for (i, slot) in buf.chunks_exact(INODE_SIZE).enumerate() {
                let ino = first_ino + i as u64;
                if ino > self.sb.total_inodes {
                    break;
                }
                self.scan_slot(ino, slot);
            }
        }
        self.tick(1, total, total);
        Ok(())
    }

    fn scan_slot(&mut self, ino: u64, slot: &[u8]) {
        let free = inode_slot_is_free(slot);
        if ino > ROOT_INO && ino < FIRST_INO {
            if !free {
                self.problem(
                    format!("inode {ino}: reserved inode slot is not zero"),
                    true,
                );
                self.stale.insert(ino);
            }
            return;
        }
        if free {
            return;
        }
        let bit = self.disk_imap.get(ino - 1);
        let (decoded, size_bad) = match Inode::decode(ino, slot) {
            Err(FormatError::Invalid(m)) if m == SIZE_TOO_LARGE => (Self::decode_big(slot), true),
            r => (r, false),
        };
        match decoded {
            Ok(inode) if size_bad && (bit || ino == ROOT_INO) => {
                self.problem(
                    format!("inode {ino}: size is past the largest file offset"),
                    true,
                );
                self.inodes.insert(
                    ino,
                    Ino {
                        inode: Some(inode),
                        size_bad: true,
                        dirty: true,
                        ..Default::default()
                    },
                );
            }
            Ok(inode) => {
                if bit || ino == ROOT_INO {
                    self.inodes.insert(
                        ino,
                        Ino {
                            inode: Some(inode),
                            ..Default::default()
                        },
                    );
                } else {
                    self.stale.insert(ino);
                }
            }
            Err(e) => {
                if bit || ino == ROOT_INO {
                    self.problem(format!("inode {ino}: {}", e.as_str()), true);
                    self.bad_slots.insert(ino);
                } else {
                    self.stale.insert(ino);
                }
            }
        }
    }

    /// Decodes an inode slot (magic and checksum already verified) whose size is past the
    /// largest file offset: the size is set to zero, to be recomputed from the extents
    /// later, and every other field is validated as `Inode::decode` does.
    fn decode_big(slot: &[u8]) -> std::result::Result<Inode, FormatError> {
        let mut inode = Inode::decode_unchecked(slot)?;
        inode.size = 0;
        inode.validate()?;
        Ok(inode)
    }

    /// Gets an inode referenced by a directory entry or the orphan list,
    /// promoting a valid slot not marked in use.
    fn get_inode(&mut self, ino: u64) -> R<bool> {
        if self.inodes.contains_key(&ino) {
            return Ok(true);
        }
        if self.bad_slots.contains(&ino) || ino < FIRST_INO || ino > self.sb.total_inodes {
            return Ok(false);
        }
        let (b, off) = self.sb.inode_location(ino).unwrap_or((0, 0));
        let mut slot = [0u8; INODE_SIZE];
        self.dev
            .read_at(b * self.bs as u64 + off as u64, &mut slot)?;
        match Inode::decode(ino, &slot) {
            Ok(inode) => {
                self.stale.remove(&ino);
                self.inodes.insert(
                    ino,
                    Ino {
                        inode: Some(inode),
                        ..Default::default()
                    },
                );
                Ok(true)
            }
            Err(_) => Ok(false),
        }
    }

    // ----- trees -------------------------------------------------------------

    /// Where a range of blocks that is not in the data area lies, in words:
    /// in the journal if any of it is, else outside the data area.
    fn outside(&self, start: u64, len: u64) -> &'static str {
        let l = self.sb.layout;
        let end = start.saturating_add(len);
        if start < l.journal_start + l.journal_blocks && l.journal_start < end {
            "in the journal"
        } else {
            "outside the data area"
        }
    }

    /// Checks a block node, tolerating a bad checksum when the contents are
    /// otherwise sound (they are then salvaged and the tree rebuilt).
    fn load_node(
        &mut self,
        b: u64,
        kind: TreeKind,
        owner: u64,
    ) -> std::result::Result<(Vec<u8>, bool), String> {
        let mut buf = self.read_block(b).map_err(|e| e.to_string())?;
        match node_check(&buf, NodeForm::Block, kind, b, owner) {
            Ok(_) => Ok((buf, true)),
            Err(FormatError::BadChecksum) => {
                let _ = meta_seal(&mut buf);
                match node_check(&buf, NodeForm::Block, kind, b, owner) {
                    Ok(_) => Ok((buf, false)),
                    Err(e) => Err(e.as_str().into()),
                }
            }
            Err(e) => Err(e.as_str().into()),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn walk_node(
        &mut self,
        ino: u64,
        what: &str,
        buf: &[u8],
        form: NodeForm,
        kind: TreeKind,
        lo: u64,
        hi: Option<u64>,
        out: &mut WalkOut,
    ) {
        let Ok(h) = node_header(buf, form) else {
            out.bad = true;
            return;
        };
        let n = usize::from(h.nr);
        for i in 0..n {
            let Ok(key) = node_key(buf, form, i) else {
                out.bad = true;
                return;
            };
            if key < lo || hi.is_some_and(|h| key >= h) {
                self.problem(
                    format!("inode {ino}: {what} key {key} outside the range of its parent"),
                    true,
                );
                out.bad = true;
                continue;
            }
            if h.level == 0 {
                match kind {
                    TreeKind::Extent => {
                        let Ok(e) = node_get::<Extent>(buf, form, i) else {
                            out.bad = true;
                            continue;
                        };
                        self.leaf_extent(ino, e, out);
                    }
                    TreeKind::DirIndex => out.keys.push(key),
                }
                continue;
            }
            let Ok(c) = node_get::<IndexRec>(buf, form, i) else {
                out.bad = true;
                continue;
            };
            let next = if i + 1 < n {
                node_key(buf, form, i + 1).ok()
            } else {
                hi
            };
            if !self.sb.data_range_valid(c.child, 1) {
                self.problem(
                    format!(
                        "inode {ino}: {what} node points to block {} {}",
                        c.child,
                        self.outside(c.child, 1)
                    ),
                    true,
                );
                out.bad = true;
                continue;
            }
            let (cbuf, crc_ok) = match self.load_node(c.child, kind, ino) {
                Ok(x) => x,
                Err(e) => {
                    self.problem(
                        format!("inode {ino}: {what} node at block {}: {e}", c.child),
                        true,
                    );
                    out.bad = true;
                    continue;
                }
            };
            if !crc_ok {
                self.problem(
                    format!(
                        "inode {ino}: {what} node at block {}: checksum mismatch",
                        c.child
                    ),
                    true,
                );
                out.bad = true;
            }
            let ch = match node_header(&cbuf, NodeForm::Block) {
                Ok(ch) => ch,
                Err(_) => {
                    out.bad = true;
                    continue;
                }
            };
            if ch.level + 1 != h.level {
                self.problem(
                    format!(
                        "inode {ino}: {what} node at block {} has level {}, expected {}",
                        c.child,
                        ch.level,
                        h.level - 1
                    ),
                    true,
                );
                out.bad = true;
                continue;
            }
            if ch.nr == 0 {
                self.problem(
                    format!("inode {ino}: {what} node at block {} is empty", c.child),
                    true,
                );
                out.bad = true;
            }
            out.nodes.push(c.child);
            self.walk_node(ino, what, &cbuf, NodeForm::Block, kind, key, next, out);
        }
    }

    fn leaf_extent(&mut self, ino: u64, e: Extent, out: &mut WalkOut) {
        let max = self.sb.max_file_blocks();
        if e.logical_end() > max {
            self.problem(
                format!(
                    "inode {ino}: extent at logical block {} goes past the maximum file size",
                    e.logical
                ),
                true,
            );
            out.bad = true;
            return;
        }
        if !self.sb.data_range_valid(e.physical, u64::from(e.len)) {
            self.problem(
                format!(
                    "inode {ino}: extent at logical block {} maps blocks {}..{} {}",
                    e.logical,
                    e.physical,
                    e.physical_end(),
                    self.outside(e.physical, u64::from(e.len))
                ),
                true,
            );
            out.bad = true;
            return;
        }
        if let Some(prev) = out.ext.last() {
            if e.logical < prev.logical_end() {
                self.problem(
                    format!(
                        "inode {ino}: extent at logical block {} overlaps the previous one",
                        e.logical
                    ),
                    true,
                );
                out.bad = true;
                return;
            }
        }
        out.ext.push(e);
    }

    /// Walks the extent tree of `ino` once and claims its blocks.
    fn walk_inode(&mut self, ino: u64) -> R<()> {
        let Some(info) = self.inodes.get(&ino) else {
            return Ok(());
        };
        if info.walked {
            return Ok(());
        }
        let Some(inode) = info.inode else {
            return Ok(());
        };
        let mut out = WalkOut::default();
        if !inode.has_inline_data() {
            self.walk_node(
                ino,
                "extent tree",
                &inode.area,
                NodeForm::Inline,
                TreeKind::Extent,
                0,
                None,
                &mut out,
            );
        }
        let ft = inode.file_type();
        if !out.ext.is_empty() && !matches!(ft, S_IFREG | S_IFDIR | S_IFLNK) {
            self.problem(format!("inode {ino}: special file has data blocks"), true);
            out.ext.clear();
            out.bad = true;
        }
        if ft == S_IFLNK && !inode.has_inline_data() {
            let need = inode.size.div_ceil(self.bs as u64);
            let mut next = 0;
            for e in &out.ext {
                if e.logical != next || e.unwritten() {
                    break;
                }
                next = e.logical_end();
            }
            if next < need {
                self.problem(
                    format!("inode {ino}: symlink target blocks are missing"),
                    false,
                );
            }
        }
        let (xattr, xattr_bad) = self.walk_xattrs(ino, &inode)?;
        // Claim the blocks.
        for e in &out.ext {
            self.used
                .claim_range(e.physical, u64::from(e.len), &mut self.dups);
        }
        for &n in &out.nodes {
            self.used.claim_range(n, 1, &mut self.dups);
        }
        for x in &xattr {
            self.used.claim_range(x.blockno, 1, &mut self.dups);
            for b in x.values.iter().flat_map(|v| v.1.iter()) {
                self.used.claim_range(*b, 1, &mut self.dups);
            }
        }
        self.order.push(ino);
        if let Some(info) = self.inodes.get_mut(&ino) {
            if info.size_bad {
                // Directories get their size from their blocks in `scan_dir`.
                if let (Some(i), Some(last)) = (info.inode.as_mut(), out.ext.last()) {
                    if i.file_type() == S_IFREG {
                        i.size = last.logical_end().saturating_mul(self.bs as u64);
                    }
                }
                info.size_bad = false;
            }
            info.walked = true;
            info.ext = out.ext;
            info.nodes = out.nodes;
            info.tree_bad |= out.bad;
            info.xattr = xattr;
            info.xattr_bad |= xattr_bad;
        }
        Ok(())
    }

    // ----- extended attributes --------------------------------------------------

    /// Checks the chain of xattr blocks of `ino` and every value chain. Returns the
    /// blocks kept and whether anything is dropped: the chain from its first bad block
    /// on (out of the data area, met twice, past [`XATTR_MAX_BLOCKS`], or failing
    /// [`xattr_block_check`]), and each entry whose name is too long (the only fault of
    /// its block, see [`salvage_long_names`]), repeats an earlier name, is not allowed
    /// on the inode's type, is an ACL the kernel would not keep (see [`acl_fault`]),
    /// would take the listed names past [`XATTR_LIST_MAX`] (the later entries in chain
    /// order), or whose value chain is bad.
    fn walk_xattrs(&mut self, ino: u64, inode: &Inode) -> R<(Vec<XBlk>, bool)> {
        let mut out: Vec<XBlk> = Vec::new();
        let mut bad = false;
        // Every block of the inode's attributes met so far: a block met twice is a
        // loop, or a block used twice.
        let mut seen: HashSet<u64> = HashSet::new();
        let mut names: HashSet<(u8, Vec<u8>)> = HashSet::new();
        // Bytes of the names `listxattr` returns, for the entries kept so far.
        let mut listed = 0usize;
        let ft = inode.file_type();
        let mut cur = inode.xattr;
        while cur != 0 {
            let why = if out.len() >= XATTR_MAX_BLOCKS as usize {
                Some(format!(
                    "xattr chain is longer than {XATTR_MAX_BLOCKS} blocks (block {cur} is the next)"
                ))
            } else if !self.sb.data_range_valid(cur, 1) {
                Some(format!("xattr block {cur} {}", self.outside(cur, 1)))
            } else if !seen.insert(cur) {
                Some(format!(
                    "xattr chain reaches block {cur} a second time (a loop)"
                ))
            } else {
                None
            };
            let mut long_names = Vec::new();
            let mut rebuilt = false;
            let buf = match why {
                Some(w) => Err(w),
                None => {
                    let buf = self.read_block(cur)?;
                    match xattr_block_check(&buf, cur, ino) {
                        Ok(()) => Ok(buf),
                        Err(e) => match salvage_long_names(&buf, cur, ino) {
                            Some((fixed, dropped)) => {
                                long_names = dropped;
                                rebuilt = true;
                                Ok(fixed)
                            }
                            None => Err(format!("xattr block {cur}: {}", e.as_str())),
                        },
                    }
                }
            };
            let buf = match buf {
                Ok(b) => b,
                Err(w) => {
                    let what = if out.is_empty() {
                        "every attribute dropped"
                    } else {
                        "the chain is cut before it"
                    };
                    self.problem(format!("inode {ino}: {w}, {what}"), true);
                    bad = true;
                    break;
                }
            };
            for (index, name) in &long_names {
                self.problem(
                    format!(
                        "inode {ino}: xattr {} in block {cur} has a name longer than \
                         {XATTR_NAME_MAX} bytes with its prefix, attribute dropped",
                        xattr_full_name(*index, name)
                    ),
                    true,
                );
                bad = true;
            }
            let mut x = XBlk {
                blockno: cur,
                ..Default::default()
            };
            for e in XattrIter::new(&buf) {
                let list_size = xattr_list_size(e.index, e.name);
                let mut why = if !names.insert((e.index, e.name.to_vec())) {
                    Some("appears twice in the chain".to_string())
                } else if !xattr_allowed(e.index, ft) {
                    Some(format!(
                        "on a {}: user attributes are allowed only on regular files and \
                         directories",
                        type_name(ft)
                    ))
                } else if let Some(w) = acl_fault(e.index, e.value, ft, self.bs) {
                    Some(w)
                } else if listed + list_size > XATTR_LIST_MAX {
                    Some(format!(
                        "takes the listed names to {} bytes, past XATTR_LIST_MAX \
                         ({XATTR_LIST_MAX})",
                        listed + list_size
                    ))
                } else {
                    None
                };
                if why.is_none() {
                    if let XattrValue::External { len, block } = e.value {
                        match self.walk_xvalue(ino, block, len as usize, &mut seen)? {
                            Ok(blocks) => x.values.push((e.off, blocks)),
                            Err(w) => why = Some(w),
                        }
                    }
                }
                if why.is_none() {
                    listed += list_size;
                }
                if let Some(w) = why {
                    self.problem(
                        format!(
                            "inode {ino}: xattr {} in block {cur} {w}, attribute dropped",
                            xattr_full_name(e.index, e.name)
                        ),
                        true,
                    );
                    x.drop.push(e.off);
                    bad = true;
                }
            }
            cur = xattr_block_next(&buf);
            if rebuilt {
                x.rebuilt = Some(buf);
            }
            out.push(x);
        }
        Ok((out, bad))
    }

    /// Checks the value chain of `len` bytes from block `first` of inode `ino`: each
    /// block in the data area, not met before (`seen`), valid
    /// ([`xvalue_block_check`]), full ([`xvalue_capacity`]) unless it is the last, and
    /// the lengths adding up to `len` exactly. Returns its blocks, or why it is bad.
    fn walk_xvalue(
        &mut self,
        ino: u64,
        first: u64,
        len: usize,
        seen: &mut HashSet<u64>,
    ) -> R<std::result::Result<Vec<u64>, String>> {
        let mut blocks = Vec::new();
        let mut total = 0usize;
        let cap = xvalue_capacity(self.bs);
        // The previous block and its length, when it is not full.
        let mut short: Option<(u64, usize)> = None;
        let mut cur = first;
        while cur != 0 {
            if total >= len {
                return Ok(Err(format!(
                    "has a value chain longer than its {len} bytes (block {cur} follows)"
                )));
            }
            if let Some((b, n)) = short {
                return Ok(Err(format!(
                    "has value block {b} holding {n} of {cap} bytes before the end of its \
                     chain (every block but the last is full)"
                )));
            }
            if !self.sb.data_range_valid(cur, 1) {
                return Ok(Err(format!(
                    "has value block {cur} {}",
                    self.outside(cur, 1)
                )));
            }
            if !seen.insert(cur) {
                return Ok(Err(format!(
                    "has value block {cur} that the inode's attributes already use (a loop, \
                     or a block used twice)"
                )));
            }
            let buf = self.read_block(cur)?;
            let next = match xvalue_block_check(&buf, cur, ino) {
                Ok((next, data)) => {
                    total += data.len();
                    if data.len() < cap {
                        short = Some((cur, data.len()));
                    }
                    next
                }
                Err(e) => return Ok(Err(format!("has value block {cur}: {}", e.as_str()))),
            };
            blocks.push(cur);
            cur = next;
        }
        if total != len {
            let how = if total < len { "short" } else { "long" };
            return Ok(Err(format!(
                "has a value chain too {how}: {total} bytes for a value of {len}"
            )));
        }
        Ok(Ok(blocks))
    }

    // ----- directories ---------------------------------------------------------

    fn walk_namespace(&mut self) -> R<()> {
        let root_ok = self
            .inodes
            .get(&ROOT_INO)
            .and_then(|i| i.inode)
            .is_some_and(|i| i.is_dir());
        if !root_ok {
            self.problem(
                "root inode: missing or not a directory, a new empty root is created",
                true,
            );
            let mut root = Inode::new(S_IFDIR | 0o755);
            root.nlink = 2;
            root.parent = ROOT_INO;
            let now = Timestamp {
                sec: now_secs(),
                nsec: 0,
            };
            root.atime = now;
            root.mtime = now;
            root.ctime = now;
            root.btime = now;
            self.bad_slots.remove(&ROOT_INO);
            self.inodes.insert(
                ROOT_INO,
                Ino {
                    inode: Some(root),
                    dirty: true,
                    ..Default::default()
                },
            );
        }
        if let Some(r) = self.inodes.get_mut(&ROOT_INO) {
            r.reached = true;
            r.dotdot = Some(ROOT_INO);
            r.refs = 1;
        }
        let mut queue = VecDeque::from([ROOT_INO]);
        self.bfs(&mut queue)
    }

    fn bfs(&mut self, queue: &mut VecDeque<u64>) -> R<()> {
        while let Some(d) = queue.pop_front() {
            self.walk_inode(d)?;
            self.scan_dir(d, queue)?;
            self.dirs_done += 1;
            if self.dirs_done % 16 == 0 {
                let total = self.dirs_total.max(self.dirs_done);
                self.tick(2, self.dirs_done, total);
            }
        }
        Ok(())
    }

    fn scan_dir(&mut self, d: u64, queue: &mut VecDeque<u64>) -> R<()> {
        let Some(info) = self.inodes.get(&d) else {
            return Ok(());
        };
        let Some(mut inode) = info.inode else {
            return Ok(());
        };
        let bs = self.bs as u64;
        // Directory blocks must be mapped from 0 without holes.
        let mut ext = info.ext.clone();
        let mut nblocks = 0u64;
        let mut cut = ext.len();
        for (i, e) in ext.iter().enumerate() {
            if e.logical != nblocks
                || e.unwritten()
                || (nblocks + u64::from(e.len)) * bs > DIR_MAX_SIZE
            {
                cut = i;
                break;
            }
            nblocks += u64::from(e.len);
        }
        if cut < ext.len() {
            self.problem(
                format!("directory {d}: blocks past logical block {nblocks} are not contiguous or too many, dropped"),
                true,
            );
            ext.truncate(cut);
            if let Some(i) = self.inodes.get_mut(&d) {
                i.ext = ext.clone();
                i.tree_bad = true;
            }
        }
        if inode.size != nblocks * bs {
            self.safe(format!(
                "directory {d}: size {} does not match its {nblocks} blocks",
                inode.size
            ));
            inode.size = nblocks * bs;
            self.set_inode(d, inode);
        }
        let mut names: HashSet<Vec<u8>> = HashSet::new();
        let mut keys: Vec<u64> = Vec::new();
        for e in &ext {
            for i in 0..u64::from(e.len) {
                let lblk = e.logical + i;
                let p = e.physical + i;
                self.scan_dir_block(d, lblk, p, &mut names, &mut keys, queue)?;
            }
        }
        self.check_index(d, nblocks, keys)
    }

    #[allow(clippy::too_many_arguments)]
    fn scan_dir_block(
        &mut self,
        d: u64,
        lblk: u64,
        p: u64,
        names: &mut HashSet<Vec<u8>>,
        keys: &mut Vec<u64>,
        queue: &mut VecDeque<u64>,
    ) -> R<()> {
        let bs = self.bs;
        let mut buf = self.read_block(p)?;
        let mut modified = false;
        let where_ = format!("directory {d} block {lblk} (block {p})");
        match meta_check(&buf, DIR_MAGIC, p) {
            Ok(owner) if owner == d => {}
            Ok(_) | Err(FormatError::BadChecksum) => {
                // Salvage the entries; the header is rewritten.
                let why = if meta_owner(&buf) != Some(d)
                    && meta_magic(&buf) == Some(DIR_MAGIC)
                    && meta_blockno(&buf) == Some(p)
                    && crate::format::crc32c_with_hole(0, &buf, META_CRC_OFFSET)
                        == rextfs_le32(&buf, 4)
                {
                    "wrong owner"
                } else {
                    "checksum mismatch"
                };
                self.problem(format!("{where_}: {why}"), true);
                let _ = meta_init(&mut buf, DIR_MAGIC, p, d);
                modified = true;
            }
            Err(e) => {
                self.problem(format!("{where_}: {}, entries lost", e.as_str()), true);
                let _ = dirblock_init(&mut buf, p, d);
                self.write_block(p, &buf)?;
                return Ok(());
            }
        }
        let mut off = DIR_HDR_SIZE;
        while off < bs {
            let ent = match dirent_at(&buf, off) {
                Ok(e) => e,
                Err(err) => {
                    let rl = usize::from(rextfs_le16(&buf, off + 8));
                    if rl >= DIRENT_MIN && rl % 8 == 0 && off + rl <= bs {
                        self.problem(
                            format!("{where_}: entry at offset {off}: {}, removed", err.as_str()),
                            true,
                        );
                        free_entry(&mut buf, off, rl);
                        modified = true;
                        off += rl;
                    } else {
                        self.problem(
                            format!(
                                "{where_}: entry at offset {off}: {}, rest of block cleared",
                                err.as_str()
                            ),
                            true,
                        );
                        free_entry(&mut buf, off, bs - off);
                        modified = true;
                        break;
                    }
                    continue;
                }
            };
            let rl = usize::from(ent.rec_len);
            if ent.is_free() {
                off += rl;
                continue;
            }
            let (ino, ft, name) = (ent.ino, ent.file_type, ent.name.to_vec());
            let dir_off = lblk * bs as u64 + off as u64;
            let label = format!("directory {d}: entry '{}'", fmt_name(&name));
            let mut remove = None;
            if ino < FIRST_INO || ino > self.sb.total_inodes {
                remove = Some(format!("{label} points to invalid inode {ino}"));
            } else if !self.get_inode(ino)? {
                remove = Some(format!("{label} points to unused or corrupt inode {ino}"));
            } else if names.contains(&name) {
                remove = Some(format!("{label} is a duplicate"));
            }
            let target = self.inodes.get(&ino).and_then(|i| i.inode);
            if remove.is_none() {
                if let Some(t) = target {
                    if t.is_dir() {
                        if let Some(other) = self.inodes.get(&ino).and_then(|i| i.dotdot) {
                            remove = Some(format!(
                                "{label}: directory {ino} is already linked from directory {other}"
                            ));
                        }
                    }
                }
            }
            if let Some(msg) = remove {
                self.problem(format!("{msg}, removed"), true);
                free_entry(&mut buf, off, rl);
                modified = true;
                off += rl;
                continue;
            }
            let Some(t) = target else {
                off += rl;
                continue;
            };
            let want_ft = file_type_of_mode(t.mode);
            if want_ft != ft {
                self.problem(
                    format!("{label} has file type {ft}, inode {ino} has type {want_ft}"),
                    true,
                );
                if let Some(x) = buf.get_mut(off + 11) {
                    *x = want_ft;
                }
                modified = true;
            }
            names.insert(name.clone());
            if let Some(k) = dir_index_key(name_hash(&self.sb.hash_key, &name), dir_off) {
                keys.push(k);
            }
            if let Some(ti) = self.inodes.get_mut(&ino) {
                ti.refs += 1;
                ti.reached = true;
                if t.is_dir() {
                    ti.dotdot = Some(d);
                    queue.push_back(ino);
                }
            }
            if t.is_dir() {
                if let Some(di) = self.inodes.get_mut(&d) {
                    di.subdirs += 1;
                }
            } else {
                self.walk_inode(ino)?;
            }
            off += rl;
        }
        if modified {
            let _ = dirblock_seal(&mut buf);
            self.write_block(p, &buf)?;
        }
        Ok(())
    }

    fn check_index(&mut self, d: u64, nblocks: u64, mut keys: Vec<u64>) -> R<()> {
        let Some(inode) = self.inodes.get(&d).and_then(|i| i.inode) else {
            return Ok(());
        };
        let root = inode.dir_index_root;
        let mut bad = false;
        if root == 0 {
            if nblocks >= 2 {
                self.problem(
                    format!("directory {d}: has {nblocks} blocks but no hash index"),
                    true,
                );
                bad = true;
            }
        } else if nblocks == 0 {
            self.problem(
                format!("directory {d}: empty directory has a hash index"),
                true,
            );
            bad = true;
        } else if !self.sb.data_range_valid(root, 1) {
            self.problem(
                format!(
                    "directory {d}: hash index root {root} {}",
                    self.outside(root, 1)
                ),
                true,
            );
            bad = true;
        } else {
            match self.load_node(root, TreeKind::DirIndex, d) {
                Err(e) => {
                    self.problem(
                        format!("directory {d}: hash index root at block {root}: {e}"),
                        true,
                    );
                    bad = true;
                }
                Ok((rbuf, crc_ok)) => {
                    if !crc_ok {
                        self.problem(
                            format!(
                                "directory {d}: hash index root at block {root}: checksum mismatch"
                            ),
                            true,
                        );
                        bad = true;
                    }
                    let mut out = WalkOut::default();
                    out.nodes.push(root);
                    self.walk_node(
                        d,
                        "hash index",
                        &rbuf,
                        NodeForm::Block,
                        TreeKind::DirIndex,
                        0,
                        None,
                        &mut out,
                    );
                    bad |= out.bad;
                    for &n in &out.nodes {
                        self.used.claim_range(n, 1, &mut self.dups);
                    }
                    keys.sort_unstable();
                    if !bad && out.keys != keys {
                        self.problem(
                            format!(
                                "directory {d}: hash index does not match the entries ({} keys, {} entries)",
                                out.keys.len(),
                                keys.len()
                            ),
                            true,
                        );
                        bad = true;
                    }
                    if let Some(i) = self.inodes.get_mut(&d) {
                        i.idx_nodes = out.nodes;
                    }
                }
            }
        }
        if let Some(i) = self.inodes.get_mut(&d) {
            i.index_bad |= bad;
        }
        Ok(())
    }

    fn set_inode(&mut self, ino: u64, inode: Inode) {
        if let Some(i) = self.inodes.get_mut(&ino) {
            i.inode = Some(inode);
            i.dirty = true;
        }
    }

    // ----- orphans and unattached inodes --------------------------------------

    fn check_orphans(&mut self) -> R<()> {
        let mut seen = HashSet::new();
        let mut prev: Option<u64> = None;
        let mut cur = self.sb.orphan_head;
        while cur != 0 {
            let cut = if !seen.insert(cur) {
                Some(format!("orphan list: loop at inode {cur}"))
            } else if !self.get_inode(cur)? {
                Some(format!("orphan list: inode {cur} is not in use"))
            } else {
                None
            };
            if let Some(m) = cut {
                self.problem(format!("{m}, list cut"), true);
                self.set_orphan_next(prev, 0);
                break;
            }
            let info = self.inodes.get(&cur).cloned().unwrap_or_default();
            let inode = info.inode.unwrap_or(Inode::new(S_IFREG));
            let next = inode.next_orphan;
            if info.reached || inode.nlink > 0 {
                self.safe(format!(
                    "inode {cur}: on the orphan list but still linked, removed from the list"
                ));
                self.set_orphan_next(prev, next);
                if let Some(i) = self.inodes.get_mut(&cur) {
                    let mut n = inode;
                    n.next_orphan = 0;
                    i.inode = Some(n);
                    i.dirty = true;
                }
            } else {
                self.safe(format!("inode {cur}: orphan inode not yet deleted"));
                self.walk_inode(cur)?;
                if let Some(i) = self.inodes.get_mut(&cur) {
                    i.orphan = true;
                    i.clear = self.repair;
                }
                prev = Some(cur);
            }
            cur = next;
        }
        if self.repair && self.sb.orphan_head != 0 {
            self.orphan_head_new = Some(0);
        }
        // Stray links on inodes not on the list.
        let stray: Vec<u64> = self
            .inodes
            .iter()
            .filter(|(_, i)| !i.orphan && i.inode.is_some_and(|n| n.next_orphan != 0))
            .map(|(&k, _)| k)
            .collect();
        for ino in stray {
            self.safe(format!(
                "inode {ino}: has an orphan link but is not on the orphan list"
            ));
            if let Some(i) = self.inodes.get_mut(&ino) {
                if let Some(n) = i.inode.as_mut() {
                    n.next_orphan = 0;
                }
                i.dirty = true;
            }
        }
        Ok(())
    }

    fn set_orphan_next(&mut self, prev: Option<u64>, next: u64) {
        match prev {
            None => {
                self.orphan_head_new = Some(next);
                self.sb.orphan_head = next;
            }
            Some(p) => {
                if let Some(i) = self.inodes.get_mut(&p) {
                    if let Some(n) = i.inode.as_mut() {
                        n.next_orphan = next;
                    }
                    i.dirty = true;
                }
            }
        }
    }

    fn find_unattached(&mut self) -> R<()> {
        let cands: Vec<u64> = self
            .inodes
            .iter()
            .filter(|(&k, i)| k >= FIRST_INO && !i.reached && !i.orphan && i.inode.is_some())
            .map(|(&k, _)| k)
            .collect();
        let unattached: HashSet<u64> = cands.iter().copied().collect();
        // Tops first: directories whose parent is not itself unattached.
        let mut ordered: Vec<u64> = Vec::new();
        for pass in 0..3 {
            for &ino in &cands {
                let inode = self.inodes[&ino].inode.unwrap_or(Inode::new(S_IFREG));
                let is_top_dir = inode.is_dir() && !unattached.contains(&inode.parent);
                let take = match pass {
                    0 => is_top_dir,
                    1 => inode.is_dir() && !is_top_dir,
                    _ => !inode.is_dir(),
                };
                if take {
                    ordered.push(ino);
                }
            }
        }
        for ino in ordered {
            let info = &self.inodes[&ino];
            if info.reached {
                continue;
            }
            let inode = info.inode.unwrap_or(Inode::new(S_IFREG));
            if inode.nlink == 0 {
                self.safe(format!(
                    "inode {ino}: unattached inode with no links, deleted"
                ));
                self.walk_inode(ino)?;
                if let Some(i) = self.inodes.get_mut(&ino) {
                    i.clear = self.repair;
                }
                continue;
            }
            self.problem(
                format!("inode {ino}: not referenced by any directory, moved to /lost+found"),
                true,
            );
            self.lost_found_needed = true;
            if let Some(i) = self.inodes.get_mut(&ino) {
                i.reached = true;
                i.reconnect = true;
                i.refs += 1;
                if inode.is_dir() {
                    i.dotdot = Some(0);
                }
            }
            if inode.is_dir() {
                let mut q = VecDeque::from([ino]);
                self.bfs(&mut q)?;
            } else {
                self.walk_inode(ino)?;
            }
        }
        Ok(())
    }

    // ----- counts ---------------------------------------------------------------

    fn check_counts(&mut self) {
        let keys: Vec<u64> = self.inodes.keys().copied().collect();
        for ino in keys {
            let info = self.inodes[&ino].clone();
            let Some(mut inode) = info.inode else {
                continue;
            };
            if info.clear || info.orphan || !info.reached {
                continue;
            }
            let mut changed = false;
            if inode.is_dir() {
                let want = 2 + info.subdirs;
                if inode.nlink != want {
                    self.safe(format!(
                        "directory {ino}: link count {}, should be {want}",
                        inode.nlink
                    ));
                    inode.nlink = want;
                    changed = true;
                }
                if let Some(p) = info.dotdot {
                    if p != 0 && inode.parent != p {
                        self.safe(format!(
                            "directory {ino}: parent is {}, should be {p}",
                            inode.parent
                        ));
                        inode.parent = p;
                        changed = true;
                    }
                }
            } else if inode.nlink != info.refs {
                self.safe(format!(
                    "inode {ino}: link count {}, should be {}",
                    inode.nlink, info.refs
                ));
                inode.nlink = info.refs;
                changed = true;
            }
            if !info.tree_bad && !info.index_bad && !info.xattr_bad {
                let want = info
                    .ext
                    .iter()
                    .fold(0u64, |a, e| a.saturating_add(u64::from(e.len)))
                    .saturating_add(info.nodes.len() as u64)
                    .saturating_add(info.idx_nodes.len() as u64)
                    .saturating_add(xattr_block_total(&info.xattr));
                if inode.blocks != want {
                    self.safe(format!(
                        "inode {ino}: block count {}, should be {want}",
                        inode.blocks
                    ));
                    inode.blocks = want;
                    changed = true;
                }
            }
            if changed {
                self.set_inode(ino, inode);
            }
        }
    }

    fn claims_of(info: &Ino) -> Vec<(u64, u64, ClaimKind)> {
        let mut v: Vec<(u64, u64, ClaimKind)> = info
            .ext
            .iter()
            .enumerate()
            .map(|(i, e)| (e.physical, u64::from(e.len), ClaimKind::Data(i)))
            .collect();
        v.extend(info.nodes.iter().map(|&n| (n, 1, ClaimKind::Node)));
        v.extend(info.idx_nodes.iter().map(|&n| (n, 1, ClaimKind::Index)));
        for (k, x) in info.xattr.iter().enumerate() {
            v.push((x.blockno, 1, ClaimKind::Xattr(k)));
            for (off, blocks) in &x.values {
                v.extend(blocks.iter().map(|&b| (b, 1, ClaimKind::XValue(k, *off))));
            }
        }
        v
    }

    /// Reports blocks claimed twice; later claimants get their extents
    /// cloned (or their trees rebuilt, or their attributes dropped) by the repair
    /// phase. The claims of xattr and value blocks are taken first: those blocks were
    /// checked to name their owner and location, so they keep a block they share
    /// with a data extent or a tree node.
    fn check_dups(&mut self) {
        if self.dups.count() == 0 {
            return;
        }
        let mut first: Vec<(u64, u64, u64)> = Vec::new();
        let mut seen = Bitset::new(self.sb.total_blocks);
        let mut order: Vec<(u64, bool)> = Vec::new();
        let mut done = HashSet::new();
        for &ino in &self.order {
            if done.insert(ino) {
                order.push((ino, true));
            }
        }
        let later: Vec<(u64, bool)> = order.iter().map(|&(i, _)| (i, false)).collect();
        order.extend(later);
        for (ino, first_pass) in order {
            let Some(info) = self.inodes.get(&ino).cloned() else {
                continue;
            };
            for (start, len, kind) in Self::claims_of(&info) {
                if kind.proves_owner() != first_pass {
                    continue;
                }
                if !self.dups.any_in_range(start, len) {
                    continue;
                }
                if seen.any_in_range(start, len) {
                    let owners: Vec<u64> = first
                        .iter()
                        .filter(|(s, l, _)| *s < start + len && start < s + l)
                        .map(|x| x.2)
                        .collect::<HashSet<_>>()
                        .into_iter()
                        .collect();
                    let mut owners = owners;
                    owners.sort_unstable();
                    let first_dup = (start..start + len).find(|&b| seen.get(b)).unwrap_or(start);
                    let others: Vec<String> = owners.iter().map(|o| o.to_string()).collect();
                    let what = match kind {
                        ClaimKind::Xattr(_) => ", its attributes from that xattr block on dropped",
                        ClaimKind::XValue(..) => ", the attribute whose value it holds dropped",
                        _ => "",
                    };
                    self.problem(
                        format!(
                            "inode {ino}: block {first_dup}{} also used by inode {}{what}",
                            if len > 1 {
                                format!(" (in run {start}..{})", start + len)
                            } else {
                                String::new()
                            },
                            others.join(", ")
                        ),
                        true,
                    );
                    if let Some(i) = self.inodes.get_mut(&ino) {
                        match kind {
                            ClaimKind::Data(k) => {
                                i.dup_ext.push(k);
                                i.tree_bad = true;
                            }
                            ClaimKind::Node => i.tree_bad = true,
                            ClaimKind::Index => i.index_bad = true,
                            ClaimKind::Xattr(k) => {
                                i.xattr.truncate(k);
                                i.xattr_bad = true;
                            }
                            ClaimKind::XValue(k, off) => {
                                if let Some(x) = i.xattr.get_mut(k) {
                                    x.values.retain(|v| v.0 != off);
                                    x.drop.push(off);
                                }
                                i.xattr_bad = true;
                            }
                        }
                    }
                } else {
                    first.push((start, len, ino));
                }
                seen.set_range(start, len);
            }
        }
    }

    // ----- bitmaps --------------------------------------------------------------

    fn expected_maps(&mut self) -> (Bitset, Bitset) {
        let mut bmap = Bitset::new(self.sb.total_blocks);
        bmap.set_range(0, self.sb.layout.data_start);
        let mut imap = Bitset::new(self.sb.total_inodes);
        imap.set_range(0, FIRST_INO - 1);
        for (&ino, info) in &self.inodes {
            if info.clear || !(info.reached || info.orphan) {
                continue;
            }
            imap.set(ino - 1, true);
            for (s, l, _) in Self::claims_of(info) {
                bmap.set_range(s, l);
            }
        }
        (bmap, imap)
    }

    fn compare_maps(&mut self, bmap: &Bitset, imap: &Bitset) {
        let (js, je) = {
            let l = self.sb.layout;
            (l.journal_start, l.journal_start + l.journal_blocks)
        };
        for (s, l) in bmap.runs_set_not_in(&self.disk_bmap) {
            // The part of the run in the journal region is reported as such.
            let (a, b) = (s.max(js), (s + l).min(je));
            if a < b {
                self.problem(
                    format!(
                        "block bitmap: {} of the journal marked free",
                        range_text("block", a, b - a)
                    ),
                    true,
                );
                if s < a {
                    self.problem(
                        format!(
                            "block bitmap: {} in use but marked free",
                            range_text("block", s, a - s)
                        ),
                        true,
                    );
                }
                if b < s + l {
                    self.problem(
                        format!(
                            "block bitmap: {} in use but marked free",
                            range_text("block", b, s + l - b)
                        ),
                        true,
                    );
                }
                continue;
            }
            self.problem(
                format!(
                    "block bitmap: {} in use but marked free",
                    range_text("block", s, l)
                ),
                true,
            );
        }
        for (s, l) in self.disk_bmap.runs_set_not_in(bmap) {
            self.safe(format!(
                "block bitmap: {} marked in use but free",
                range_text("block", s, l)
            ));
        }
        for (s, l) in imap.runs_set_not_in(&self.disk_imap) {
            self.problem(
                format!(
                    "inode bitmap: {} in use but marked free",
                    range_text("inode", s + 1, l)
                ),
                true,
            );
        }
        for (s, l) in self.disk_imap.runs_set_not_in(imap) {
            self.safe(format!(
                "inode bitmap: {} marked in use but free",
                range_text("inode", s + 1, l)
            ));
        }
        let stale: Vec<u64> = {
            let mut v: Vec<u64> = self
                .stale
                .iter()
                .copied()
                .filter(|i| !self.inodes.contains_key(i))
                .collect();
            v.sort_unstable();
            v
        };
        for ino in stale {
            if ino >= FIRST_INO {
                self.safe(format!("inode {ino}: free inode slot is not zeroed"));
            }
        }
        let free_b = self.sb.total_blocks - bmap.count();
        let free_i = self.sb.total_inodes - imap.count();
        if self.sb.free_blocks != free_b {
            self.safe(format!(
                "superblock: free block count {}, should be {free_b}",
                self.sb.free_blocks
            ));
        }
        if self.sb.free_inodes != free_i {
            self.safe(format!(
                "superblock: free inode count {}, should be {free_i}",
                self.sb.free_inodes
            ));
        }
        self.used = bmap.clone();
        self.note(format!(
            "{} inodes in use, {} blocks in use",
            imap.count(),
            bmap.count()
        ));
    }

    // ----- repairs ---------------------------------------------------------------

    fn apply_repairs(&mut self, bmap: Bitset, imap: Bitset) -> R<()> {
        if self.fixed == 0 && !self.sb_rewrite {
            return Ok(());
        }
        let dev = std::mem::replace(&mut self.dev, Box::new(crate::dev::MemDev::new(0)));
        let mut sb = self.sb;
        sb.free_blocks = 0;
        sb.free_inodes = 0;
        if let Some(h) = self.orphan_head_new {
            sb.orphan_head = h;
        }
        let mut fs = Fs::from_parts(dev, sb, bmap, imap);
        let result = self.repair_with(&mut fs);
        fs.sb.state = STATE_CLEAN;
        fs.sb.check_time = now_secs();
        let flushed = fs.flush();
        self.dev = fs.into_dev();
        result?;
        flushed
    }

    fn repair_with(&mut self, fs: &mut Fs) -> R<()> {
        // Slots to clear.
        let mut clear: Vec<u64> = self.bad_slots.iter().copied().collect();
        clear.extend(
            self.stale
                .iter()
                .copied()
                .filter(|i| !self.inodes.contains_key(i)),
        );
        clear.extend(
            self.inodes
                .iter()
                .filter(|(_, i)| i.clear || !(i.reached || i.orphan))
                .map(|(&k, _)| k),
        );
        clear.sort_unstable();
        clear.dedup();
        for ino in clear {
            if ino != ROOT_INO || !self.inodes.contains_key(&ROOT_INO) {
                fs.zero_inode(ino)?;
            }
        }
        let keys: Vec<u64> = self.inodes.keys().copied().collect();
        for ino in keys {
            let info = self.inodes[&ino].clone();
            if info.clear || !(info.reached || info.orphan) {
                continue;
            }
            let Some(mut inode) = info.inode else {
                continue;
            };
            if info.xattr_bad {
                self.repair_xattrs(fs, ino, &mut inode, &info.xattr)?;
            }
            let mut ext = info.ext.clone();
            let mut rebuild = info.tree_bad;
            // Clone extents whose blocks belong to someone else.
            for (k, e) in ext.iter_mut().enumerate() {
                if info.dup_ext.contains(&k) {
                    let (start, n) = fs.alloc_run(0, u64::from(e.len))?;
                    if n < u64::from(e.len) {
                        fs.free_run(start, n);
                        return crate::error::msg(format!(
                            "inode {ino}: no room to copy a shared extent"
                        ));
                    }
                    for i in 0..u64::from(e.len) {
                        let mut data = fs.read_block(e.physical + i)?;
                        // A directory block records its own location: a valid one
                        // copied elsewhere must say where it now is, or the next
                        // check rejects it (and loses its entries).
                        if inode.is_dir() && dirblock_check(&data, e.physical + i, ino).is_ok() {
                            let moved = meta_init(&mut data, DIR_MAGIC, start + i, ino)
                                .and_then(|()| meta_seal(&mut data));
                            if moved.is_err() {
                                return crate::error::msg(format!(
                                    "inode {ino}: cannot move directory block {}",
                                    e.physical + i
                                ));
                            }
                        }
                        fs.write_block(start + i, &data)?;
                    }
                    // The blocks of the old run that nobody else claims are this
                    // inode's alone: with the copy made, they are free.
                    for b in e.physical..e.physical + u64::from(e.len) {
                        if !self.dups.get(b) {
                            fs.free_run(b, 1);
                        }
                    }
                    e.physical = start;
                    rebuild = true;
                }
            }
            let mut dirty = info.dirty;
            if rebuild && !inode.has_inline_data() {
                for &n in &info.nodes {
                    if !self.dups.get(n) {
                        fs.free_run(n, 1);
                    }
                }
                inode.init_extent_root();
                let delta = fs.tree_build(
                    &mut inode.area,
                    NodeForm::Inline,
                    TreeKind::Extent,
                    0,
                    ino,
                    &ext,
                )?;
                let data: u64 = ext.iter().map(|e| u64::from(e.len)).sum();
                inode.blocks = data + delta as u64 + info.idx_nodes.len() as u64;
                dirty = true;
            }
            if inode.is_dir() && info.index_bad {
                for &n in &info.idx_nodes {
                    if !self.dups.get(n) {
                        fs.free_run(n, 1);
                    }
                }
                inode.blocks = inode.blocks.saturating_sub(info.idx_nodes.len() as u64);
                inode.dir_index_root = 0;
                fs.write_inode(ino, &inode)?;
                fs.rebuild_dir_index(ino, &mut inode)?;
                dirty = true;
            }
            if rebuild || info.index_bad || info.xattr_bad {
                inode.blocks = count_blocks(fs, ino, &inode)?;
                dirty = true;
            }
            if dirty {
                fs.write_inode(ino, &inode)?;
            }
        }
        if self.lost_found_needed {
            self.reconnect(fs)?;
        }
        Ok(())
    }

    /// Rewrites the kept xattr blocks of `ino` without their dropped entries, unlinks
    /// and frees the blocks left empty, and ends the chain after the last one.
    fn repair_xattrs(&mut self, fs: &mut Fs, ino: u64, inode: &mut Inode, kept: &[XBlk]) -> R<()> {
        let mut chain: Vec<(u64, Vec<u8>)> = Vec::new();
        for x in kept {
            let mut buf = match &x.rebuilt {
                Some(b) => b.clone(),
                None => fs.read_block(x.blockno)?,
            };
            let mut offs = x.drop.clone();
            offs.sort_unstable();
            offs.dedup();
            for off in offs.into_iter().rev() {
                if xattr_block_remove(&mut buf, off).is_err() {
                    return crate::error::msg(format!(
                        "inode {ino}: cannot remove an entry of xattr block {}",
                        x.blockno
                    ));
                }
            }
            if xattr_block_count(&buf) == 0 {
                // Xattr blocks win every shared block (see `check_dups`): nobody else
                // keeps it.
                fs.free_run(x.blockno, 1);
            } else {
                chain.push((x.blockno, buf));
            }
        }
        for i in 0..chain.len() {
            let next = chain.get(i + 1).map_or(0, |c| c.0);
            let (b, buf) = &mut chain[i];
            xattr_block_set_next(buf, next);
            if meta_seal(buf).is_err() {
                return crate::error::msg(format!("inode {ino}: cannot seal xattr block {b}"));
            }
            fs.write_block(*b, buf)?;
        }
        inode.xattr = chain.first().map_or(0, |c| c.0);
        Ok(())
    }

    fn reconnect(&mut self, fs: &mut Fs) -> R<()> {
        let lf = match fs.lookup(ROOT_INO, b"lost+found")? {
            Some((ino, FT_DIR, _)) => ino,
            Some(_) => return crate::error::msg("/lost+found exists and is not a directory"),
            None => fs.mkdir(ROOT_INO, b"lost+found", 0o700)?,
        };
        let list: Vec<u64> = self
            .inodes
            .iter()
            .filter(|(_, i)| i.reconnect)
            .map(|(&k, _)| k)
            .collect();
        for ino in list {
            let mut inode = fs.read_inode(ino)?;
            let name = format!("#{ino}");
            fs.add_entry(lf, name.as_bytes(), ino, file_type_of_mode(inode.mode))?;
            if inode.is_dir() {
                inode.parent = lf;
                fs.write_inode(ino, &inode)?;
                let mut l = fs.read_inode(lf)?;
                l.nlink += 1;
                fs.write_inode(lf, &l)?;
            }
        }
        Ok(())
    }
}

/// Blocks owned by an inode whose trees are all valid.
fn count_blocks(fs: &mut Fs, ino: u64, inode: &Inode) -> R<u64> {
    let mut n = 0u64;
    if !inode.has_inline_data() {
        let tc = fs.tree_contents::<Extent>(&inode.area, NodeForm::Inline, ino)?;
        n += tc.records.iter().map(|e| u64::from(e.len)).sum::<u64>() + tc.nodes.len() as u64;
    }
    if inode.dir_index_root != 0 {
        let root = fs.read_block(inode.dir_index_root)?;
        n += 1 + fs
            .tree_contents::<DirKey>(&root, NodeForm::Block, ino)?
            .nodes
            .len() as u64;
    }
    if inode.xattr != 0 {
        n += fs.xattr_chain(ino, inode)?.block_count();
    }
    Ok(n)
}

/// An xattr block rebuilt by [`salvage_long_names`], and the (index, name) of each
/// entry it left out.
type Salvaged = (Vec<u8>, Vec<(u8, Vec<u8>)>);

/// An xattr block `buf` of inode `owner` at `blockno` that fails [`xattr_block_check`]
/// only for names too long with their prefix (more than [`XATTR_NAME_MAX`] bytes, which
/// an older version of the format allowed after the prefix): the block rebuilt without
/// those entries, sealed and checked, and the (index, name) of each entry left out.
/// `None` for a block with any other fault, or none.
fn salvage_long_names(buf: &[u8], blockno: u64, owner: u64) -> Option<Salvaged> {
    if meta_check(buf, XATTR_MAGIC, blockno).ok()? != owner {
        return None;
    }
    let u32_at = |off: usize| -> Option<u32> {
        Some(u32::from_le_bytes(buf.get(off..off + 4)?.try_into().ok()?))
    };
    let used = u32_at(0x20)? as usize;
    let count = u32_at(0x24)?;
    let end = XATTR_HDR_SIZE
        .checked_add(used)
        .filter(|&e| e <= buf.len())?;
    if buf[end..].iter().any(|&b| b != 0) {
        return None;
    }
    // The same header (the next block included), no entries yet.
    let mut out = buf.to_vec();
    out[0x20..].fill(0);
    let mut dropped = Vec::new();
    let mut off = XATTR_HDR_SIZE;
    let mut n = 0u32;
    while off < end {
        let index = *buf.get(off)?;
        let name_len = usize::from(*buf.get(off + 1)?);
        let flags = u16::from_le_bytes(buf.get(off + 2..off + 4)?.try_into().ok()?);
        let value_len = u32_at(off + 4)?;
        let name_off = off + XATTR_ENTRY_FIXED;
        let name = buf.get(name_off..name_off + name_len)?;
        let voff = name_off + name_len;
        let (value, size) = match flags {
            0 => {
                let v = buf.get(voff..voff + value_len as usize)?;
                (
                    XattrValue::Inline(v),
                    xattr_entry_size(name_len, Some(v.len())),
                )
            }
            XATTR_FLAG_EXTERNAL => {
                let block = u64::from_le_bytes(buf.get(voff..voff + 8)?.try_into().ok()?);
                let v = XattrValue::External {
                    len: value_len,
                    block,
                };
                (v, xattr_entry_size(name_len, None))
            }
            _ => return None,
        };
        if off + size > end {
            return None;
        }
        let too_long = xattr_prefix(index).is_some_and(|p| p.len() + name_len > XATTR_NAME_MAX);
        if too_long && !name.contains(&0) {
            dropped.push((index, name.to_vec()));
        } else {
            // Any other fault of the entry fails here.
            xattr_block_insert(&mut out, index, name, value).ok()?;
        }
        off += size;
        n += 1;
    }
    if n != count || dropped.is_empty() {
        return None;
    }
    meta_seal(&mut out).ok()?;
    xattr_block_check(&out, blockno, owner).ok()?;
    Some((out, dropped))
}

/// Why the entry of index `index` with value `value`, on an inode of file type `ft` in
/// an image of `bs`-byte blocks, is an ACL the kernel would not keep: on a symlink, a
/// default ACL on anything but a directory ([`acl_type_fault`]), a value in value blocks
/// (the kernel keeps ACLs inline only), longer than [`xattr_inline_max`] or not a valid
/// ACL ([`acl_value_fault`]). `None` for a good ACL and for other indices.
fn acl_fault(index: u8, value: XattrValue<'_>, ft: u16, bs: usize) -> Option<String> {
    if !matches!(index, XATTR_INDEX_ACL_ACCESS | XATTR_INDEX_ACL_DEFAULT) {
        return None;
    }
    if let Some(w) = acl_type_fault(index, ft) {
        return Some(format!("on a {}: {w}", type_name(ft)));
    }
    match value {
        XattrValue::External { len, .. } => Some(format!(
            "has its {len} bytes in value blocks: an ACL is always inline"
        )),
        XattrValue::Inline(v) => acl_value_fault(v, bs),
    }
}

/// Xattr blocks and value blocks kept by the check.
fn xattr_block_total(x: &[XBlk]) -> u64 {
    x.iter()
        .map(|b| 1 + b.values.iter().map(|v| v.1.len() as u64).sum::<u64>())
        .sum()
}

/// The file type of `S_IF*` type `ft`, in words.
fn type_name(ft: u16) -> &'static str {
    match ft {
        S_IFREG => "regular file",
        S_IFDIR => "directory",
        S_IFLNK => "symlink",
        S_IFCHR => "character device",
        S_IFBLK => "block device",
        S_IFIFO => "FIFO",
        S_IFSOCK => "socket",
        _ => "file of unknown type",
    }
}

#[derive(Default)]
struct WalkOut {
    ext: Vec<Extent>,
    nodes: Vec<u64>,
    keys: Vec<u64>,
    bad: bool,
}

fn range_text(what: &str, s: u64, l: u64) -> String {
    if l == 1 {
        format!("{what} {s}")
    } else {
        format!("{what}s {s}-{}", s + l - 1)
    }
}

fn rextfs_le16(b: &[u8], off: usize) -> u16 {
    b.get(off..off + 2)
        .map_or(0, |s| u16::from_le_bytes([s[0], s[1]]))
}

fn rextfs_le32(b: &[u8], off: usize) -> u32 {
    b.get(off..off + 4)
        .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn free_entry(buf: &mut [u8], off: usize, len: usize) {
    let end = (off + len).min(buf.len());
    if let Some(s) = buf.get_mut(off..end) {
        s.fill(0);
    }
    if let Some(s) = buf.get_mut(off + 8..off + 10) {
        s.copy_from_slice(&(len as u16).to_le_bytes());
    }
}
