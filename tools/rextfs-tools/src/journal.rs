// SPDX-License-Identifier: GPL-2.0

//! The journal as the tools see it: reading and checking the journal super
//! block, scanning and replaying the log with the shared driver of the format
//! module (through [`Dev`]), listing the transactions of the log, and a small
//! log writer (what tests use to leave committed transactions behind, as a
//! kernel that crashed would).

use crate::dev::Dev;
use crate::error::{msg, Context, Error, Result};
use rextfs_format::*;
use std::collections::HashMap;
use std::io;

/// The journal region of a device, as the [`JournalDev`] of the shared scan and
/// replay driver: log block `idx` is block `journal_start + idx`, home blocks are
/// blocks of the file system.
pub struct JournalIo<'a> {
    dev: &'a mut dyn Dev,
    bs: usize,
    start: u64,
    blocks: u64,
    total_blocks: u64,
}

impl<'a> JournalIo<'a> {
    /// The journal of the file system described by `sb` on `dev`.
    pub fn new(dev: &'a mut dyn Dev, sb: &Superblock) -> JournalIo<'a> {
        JournalIo {
            dev,
            bs: sb.block_size(),
            start: sb.layout.journal_start,
            blocks: sb.layout.journal_blocks,
            total_blocks: sb.total_blocks,
        }
    }
}

fn out_of_range(what: &str, n: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{what} {n} out of range"),
    )
}

impl JournalDev for JournalIo<'_> {
    type Error = io::Error;

    fn read_log(&mut self, idx: u64, buf: &mut [u8]) -> io::Result<()> {
        if idx == 0 || idx >= self.blocks || buf.len() != self.bs {
            return Err(out_of_range("journal log block", idx));
        }
        self.dev.read_at((self.start + idx) * self.bs as u64, buf)
    }

    fn write_home(&mut self, blockno: u64, buf: &[u8]) -> io::Result<()> {
        if blockno >= self.total_blocks || buf.len() != self.bs {
            return Err(out_of_range("home block", blockno));
        }
        self.dev.write_at(blockno * self.bs as u64, buf)
    }
}

/// The revoke table of a replay: block number to the highest sequence number
/// that revoked it.
#[derive(Debug, Default, Clone)]
pub struct HashRevokes(pub HashMap<u64, u64>);

impl RevokeTable for HashRevokes {
    type Error = std::convert::Infallible;

    fn add(&mut self, blockno: u64, sequence: u64) -> std::result::Result<(), Self::Error> {
        let e = self.0.entry(blockno).or_insert(sequence);
        *e = (*e).max(sequence);
        Ok(())
    }

    fn get(&self, blockno: u64) -> Option<u64> {
        self.0.get(&blockno).copied()
    }
}

/// Whether a journaled block may be written home: a block of the file system
/// outside the journal region (the super block, the bitmaps, the inode table
/// and tree nodes and directory blocks in the data area all are).
pub fn valid_home(sb: &Superblock, blockno: u64) -> bool {
    blockno < sb.total_blocks && !sb.in_journal(blockno)
}

/// An empty journal super block for the file system `sb`, whose first
/// transaction will have number `sequence`.
pub fn empty_jsb(sb: &Superblock, sequence: u64) -> Jsb {
    Jsb {
        block_log2: sb.block_log2,
        blocks: sb.layout.journal_blocks,
        sequence,
        tail: 0,
        uuid: sb.uuid,
    }
}

/// Reads the raw first block of the journal region.
pub fn read_jsb_block(dev: &mut dyn Dev, sb: &Superblock) -> Result<Vec<u8>> {
    let bs = sb.block_size();
    let mut buf = vec![0u8; bs];
    dev.read_at(sb.layout.journal_start * bs as u64, &mut buf)?;
    Ok(buf)
}

/// Decodes the journal super block of `sb` and checks it against the super
/// block: the size of the region, the block size and the UUID. The error says
/// what is wrong.
pub fn check_jsb(buf: &[u8], sb: &Superblock) -> std::result::Result<Jsb, String> {
    let j = Jsb::decode(buf).map_err(|e| match e {
        FormatError::Unsupported => format!(
            "unsupported journal version {} (this version reads {JOURNAL_VERSION})",
            buf.get(8..12)
                .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        ),
        e => e.as_str().to_string(),
    })?;
    if j.blocks != sb.layout.journal_blocks {
        return Err(format!(
            "journal size {} blocks, the super block says {}",
            j.blocks, sb.layout.journal_blocks
        ));
    }
    if j.block_log2 != sb.block_log2 {
        return Err(format!(
            "block size {}, the file system's is {}",
            1u64 << j.block_log2.min(63),
            sb.block_size()
        ));
    }
    if j.uuid != sb.uuid {
        return Err("UUID is not the file system's".into());
    }
    Ok(j)
}

/// Reads and checks the journal super block (see [`check_jsb`]); the outer
/// error is an I/O error, the inner one a bad journal super block.
pub fn read_jsb(dev: &mut dyn Dev, sb: &Superblock) -> Result<std::result::Result<Jsb, String>> {
    let buf = read_jsb_block(dev, sb)?;
    Ok(check_jsb(&buf, sb))
}

/// Writes the journal super block `j` (the rest of its block zeroed).
pub fn write_jsb(dev: &mut dyn Dev, sb: &Superblock, j: &Jsb) -> Result<()> {
    let bs = sb.block_size();
    let mut buf = vec![0u8; bs];
    j.encode(&mut buf).ctx(|| "journal super block".into())?;
    dev.write_at(sb.layout.journal_start * bs as u64, &buf)?;
    Ok(())
}

/// Zeroes the log of the journal region (every block but its super block).
pub fn zero_log(dev: &mut dyn Dev, sb: &Superblock) -> Result<()> {
    let bs = sb.block_size() as u64;
    let l = sb.layout;
    dev.zero_range((l.journal_start + 1) * bs, (l.journal_blocks - 1) * bs)?;
    Ok(())
}

fn replay_error<T: std::fmt::Debug>(e: ReplayError<io::Error, T>) -> Error {
    match e {
        ReplayError::Dev(e) => Error::Io(e),
        ReplayError::Format(e) => Error::Format("journal".into(), e),
        ReplayError::Table(t) => Error::Msg(format!("journal revoke table: {t:?}")),
    }
}

/// Scans the log of the journal whose super block is `j` (see [`scan`]).
pub fn scan_log(dev: &mut dyn Dev, sb: &Superblock, j: &Jsb) -> Result<ScanResult> {
    let bs = sb.block_size();
    let (mut desc, mut data) = (vec![0u8; bs], vec![0u8; bs]);
    let mut io = JournalIo::new(dev, sb);
    scan(j, &mut io, &mut desc, &mut data, log_seed(&sb.uuid), |b| {
        valid_home(sb, b)
    })
    .map_err(replay_error)
}

/// Why a scan stopped, in words.
pub fn log_end_text(end: LogEnd) -> String {
    match end {
        LogEnd::Empty => "the log is empty".into(),
        LogEnd::NoTransaction => "end of the log".into(),
        LogEnd::Incomplete => {
            "an incomplete transaction (no valid commit block: a torn write), not replayed".into()
        }
        LogEnd::BadHome(b) => format!(
            "a transaction with a copy of block {b}, which is no block of the file system's \
             metadata: the journal is corrupted, nothing from there on is replayed"
        ),
    }
}

/// What [`recover`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recovery {
    /// The scan of the log.
    pub scan: ScanResult,
    /// Number of block copies written home.
    pub written: u64,
    /// The journal super block written afterwards (empty).
    pub jsb: Jsb,
}

/// Replays the journal whose super block is `j`: scans the log, writes the
/// committed block copies home with the shared driver, flushes the device,
/// then empties the log (tail 0, sequence one past the scan's next sequence,
/// so that blocks of a torn transaction are never taken for a new one) and
/// flushes again. Running it again after an interruption gives the same
/// image.
pub fn recover(dev: &mut dyn Dev, sb: &Superblock, j: &Jsb) -> Result<Recovery> {
    let found = scan_log(dev, sb, j)?;
    let bs = sb.block_size();
    let (mut desc, mut data) = (vec![0u8; bs], vec![0u8; bs]);
    let mut table = HashRevokes::default();
    let written = {
        let mut io = JournalIo::new(dev, sb);
        replay(
            j,
            &mut io,
            &mut desc,
            &mut data,
            log_seed(&sb.uuid),
            &found,
            &mut table,
        )
        .map_err(replay_error)?
    };
    dev.flush()?;
    let empty = empty_jsb(sb, found.next_sequence.wrapping_add(1));
    write_jsb(dev, sb, &empty)?;
    dev.flush()?;
    Ok(Recovery {
        scan: found,
        written,
        jsb: empty,
    })
}

/// One complete transaction of the log, as [`list_transactions`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionInfo {
    /// Sequence number.
    pub sequence: u64,
    /// Log index of its first block.
    pub first: u64,
    /// Log index of its commit block.
    pub commit: u64,
    /// Home blocks of its copies, in log order.
    pub homes: Vec<u64>,
    /// Its revoke records, in log order.
    pub revokes: Vec<u64>,
}

/// A journal device that records what the driver reads and would write.
struct Recorder<'a, 'b> {
    io: JournalIo<'a>,
    last_read: &'b mut u64,
    homes: &'b mut Vec<u64>,
}

impl JournalDev for Recorder<'_, '_> {
    type Error = io::Error;

    fn read_log(&mut self, idx: u64, buf: &mut [u8]) -> io::Result<()> {
        *self.last_read = idx;
        self.io.read_log(idx, buf)
    }

    fn write_home(&mut self, blockno: u64, _buf: &[u8]) -> io::Result<()> {
        self.homes.push(blockno);
        Ok(())
    }
}

/// A revoke table that records every revoke record and revokes nothing.
struct RevokeList(Vec<u64>);

impl RevokeTable for RevokeList {
    type Error = std::convert::Infallible;

    fn add(&mut self, blockno: u64, _sequence: u64) -> std::result::Result<(), Self::Error> {
        self.0.push(blockno);
        Ok(())
    }

    fn get(&self, _blockno: u64) -> Option<u64> {
        None
    }
}

/// Lists the complete transactions of the log (the scan's `transactions`),
/// walking each one alone with the shared replay driver writing nothing.
pub fn list_transactions(
    dev: &mut dyn Dev,
    sb: &Superblock,
    j: &Jsb,
    found: &ScanResult,
) -> Result<Vec<TransactionInfo>> {
    let bs = sb.block_size();
    let (mut desc, mut data) = (vec![0u8; bs], vec![0u8; bs]);
    let mut out = Vec::new();
    let mut one = *j;
    let single = ScanResult {
        transactions: 1,
        ..*found
    };
    for _ in 0..found.transactions {
        let (mut last, mut homes) = (0u64, Vec::new());
        let mut table = RevokeList(Vec::new());
        {
            let mut rec = Recorder {
                io: JournalIo::new(&mut *dev, sb),
                last_read: &mut last,
                homes: &mut homes,
            };
            replay(
                &one,
                &mut rec,
                &mut desc,
                &mut data,
                log_seed(&sb.uuid),
                &single,
                &mut table,
            )
            .map_err(replay_error)?;
        }
        out.push(TransactionInfo {
            sequence: one.sequence,
            first: one.tail,
            commit: last,
            homes,
            revokes: table.0,
        });
        one.tail = one.next(last);
        one.sequence = one.sequence.wrapping_add(1);
    }
    Ok(out)
}

/// A block copy or a revoke record of a transaction to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogItem {
    /// A copy of home block `.0` with contents `.1` (one block).
    Copy(u64, Vec<u8>),
    /// A revoke record for block `.0`.
    Revoke(u64),
}

/// How [`write_transaction`] leaves the transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tear {
    /// Whole, with a valid commit block.
    None,
    /// Without its commit block.
    NoCommit,
    /// With a commit block whose data checksum is wrong.
    BadCrc,
    /// Only its first `n` blocks written.
    Truncated(u64),
}

/// Writes one transaction of number `sequence` at log index `head`: descriptor
/// blocks each followed by their copies, then revoke blocks, then the commit
/// block (as the kernel's writer lays them out), torn as `tear` says. Returns
/// the log index after it. The journal super block is not touched (see
/// [`write_jsb`]: its `tail` must point at the first transaction to replay).
pub fn write_transaction(
    dev: &mut dyn Dev,
    sb: &Superblock,
    head: u64,
    sequence: u64,
    items: &[LogItem],
    tear: Tear,
) -> Result<u64> {
    let bs = sb.block_size();
    let seed = log_seed(&sb.uuid);
    let j = empty_jsb(sb, sequence);
    let cap = log_capacity(bs);
    let copies: Vec<(u64, &[u8])> = items
        .iter()
        .filter_map(|i| match i {
            LogItem::Copy(b, d) => Some((*b, d.as_slice())),
            LogItem::Revoke(_) => None,
        })
        .collect();
    let revokes: Vec<u64> = items
        .iter()
        .filter_map(|i| match i {
            LogItem::Revoke(b) => Some(*b),
            LogItem::Copy(..) => None,
        })
        .collect();
    // The log blocks of the transaction before its commit, in order.
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    for group in copies.chunks(cap.max(1)) {
        let mut d = vec![0u8; bs];
        log_init(&mut d, LOG_DESCRIPTOR, sequence).ctx(|| "descriptor".into())?;
        for (home, _) in group {
            log_push(&mut d, *home).ctx(|| "descriptor".into())?;
        }
        log_seal(&mut d, seed);
        blocks.push(d);
        for (home, data) in group {
            if data.len() != bs {
                return msg(format!("copy of block {home} is not one block"));
            }
            blocks.push(data.to_vec());
        }
    }
    for group in revokes.chunks(cap.max(1)) {
        let mut r = vec![0u8; bs];
        log_init(&mut r, LOG_REVOKE, sequence).ctx(|| "revoke block".into())?;
        for b in group {
            log_push(&mut r, *b).ctx(|| "revoke block".into())?;
        }
        log_seal(&mut r, seed);
        blocks.push(r);
    }
    if blocks.len() as u64 + 1 > j.log_blocks() {
        return msg(format!(
            "a transaction of {} blocks does not fit a log of {}",
            blocks.len() + 1,
            j.log_blocks()
        ));
    }
    let crc = blocks.iter().fold(seed, |c, b| chain_crc(c, b));
    let commit = Commit {
        blocks: blocks.len() as u32,
        data_crc: if tear == Tear::BadCrc { !crc } else { crc },
        sec: 1_700_000_000,
        nsec: 0,
    };
    let mut cbuf = vec![0u8; bs];
    commit
        .encode(&mut cbuf, sequence, seed)
        .ctx(|| "commit block".into())?;
    if tear != Tear::NoCommit {
        blocks.push(cbuf);
    }
    let keep = match tear {
        Tear::Truncated(n) => n as usize,
        _ => blocks.len(),
    };
    let mut idx = head;
    for b in blocks.iter().take(keep) {
        dev.write_at((sb.layout.journal_start + idx) * bs as u64, b)?;
        idx = j.next(idx);
    }
    // Where the next transaction goes (past the commit, even if not written).
    let mut next = head;
    for _ in 0..blocks.len() + usize::from(tear == Tear::NoCommit) {
        next = j.next(next);
    }
    Ok(next)
}
