// SPDX-License-Identifier: GPL-2.0

//! The journal: a region of whole blocks (`layout.journal_start`, `layout.journal_blocks`)
//! that holds copies of metadata blocks until they are written to their home location.
//!
//! Block 0 of the region is the journal super block ([`Jsb`]); blocks 1.. form a circular
//! log, addressed by their index in the region. A transaction in the log is:
//!
//! ```text
//! descriptor (tags: home block numbers) , one log block per tag with the block's contents,
//! [ more descriptors with their blocks ] , [ revoke blocks ] , commit block
//! ```
//!
//! Descriptor, revoke and commit blocks start with a [`LogHeader`] and carry a CRC-32C of the
//! whole block (seeded with [`log_seed`] of the file system UUID, so that blocks of an earlier
//! file system on the same device never match). The commit block also carries the number of
//! blocks of the transaction before it and a CRC-32C chained over all of them, data copies
//! included. Replay ([`scan`], then [`replay`]) starts at the super block's `tail` with its
//! `sequence`, and stops at the first transaction that is incomplete or does not check: only
//! whole committed transactions are written home. A revoke record names a block that must not
//! be written by the replay of its own transaction or an earlier one (the block was freed and
//! may hold file data now). Replay writes the same blocks with the same contents each time it
//! runs, so an interrupted replay is simply run again.

use super::bytes::*;
use super::crc::{crc32c, crc32c_with_hole};
use super::{FormatError, Result};

/// Journal super block magic, "RXJS" on disk.
pub const JSB_MAGIC: u32 = u32::from_le_bytes(*b"RXJS");
/// Log block magic (descriptor, revoke, commit), "RXJL" on disk.
pub const LOG_MAGIC: u32 = u32::from_le_bytes(*b"RXJL");
/// Version of the journal format.
pub const JOURNAL_VERSION: u32 = 1;
/// Bytes of the journal super block covered by its checksum (the rest of the block is zero).
pub const JSB_SIZE: usize = 256;
/// Offset of the checksum in the journal super block and in log headers.
pub const JOURNAL_CRC_OFFSET: usize = 4;
/// Smallest journal, super block included (the smallest mke2fs makes). A transaction may
/// take a quarter of the log, and the largest step of any operation must fit one transaction
/// (`fs/rextfs/credits.rs` checks this at build time).
pub const MIN_JOURNAL_BLOCKS: u64 = 1024;
/// Largest journal.
pub const MAX_JOURNAL_BLOCKS: u64 = 1 << 20;

/// Log block type: descriptor.
pub const LOG_DESCRIPTOR: u32 = 1;
/// Log block type: commit.
pub const LOG_COMMIT: u32 = 2;
/// Log block type: revoke.
pub const LOG_REVOKE: u32 = 3;
/// Size of the [`LogHeader`]; descriptor tags and revoke records follow it.
pub const LOG_HEADER_SIZE: usize = 0x18;

/// Journal size `mkfs.rextfs` picks for a file system of `total_blocks` blocks, in blocks
/// (after mke2fs): 1024 blocks below 32Ki blocks, 4096 below 256Ki, 8192 below 512Ki, 16384
/// below 4Mi, 32768 above; never more than an eighth of the device nor less than
/// [`MIN_JOURNAL_BLOCKS`].
pub fn default_journal_blocks(total_blocks: u64) -> u64 {
    let j = match total_blocks {
        0..32768 => 1024,
        32768..262144 => 4096,
        262144..524288 => 8192,
        524288..4194304 => 16384,
        _ => 32768,
    };
    j.min(total_blocks / 8).max(MIN_JOURNAL_BLOCKS)
}

/// Seed of every log checksum: the CRC-32C of the file system UUID.
pub fn log_seed(uuid: &[u8; 16]) -> u32 {
    crc32c(0, uuid)
}

/// Number of tags (home block numbers) a descriptor block of `block_size` bytes holds; also
/// the number of records of a revoke block.
pub fn log_capacity(block_size: usize) -> usize {
    block_size.saturating_sub(LOG_HEADER_SIZE) / 8
}

/// The journal super block, at byte 0 of the first block of the journal region.
///
/// ```text
/// 0x00 u32 magic "RXJS"   0x04 u32 crc32c      0x08 u32 version     0x0C u32 block_log2
/// 0x10 u64 blocks (region size, super block included)
/// 0x18 u64 sequence: sequence number of the transaction at `tail`, or of the next one
/// 0x20 u64 tail: log index of the first transaction to replay; 0 when there is none
/// 0x28 16 bytes: UUID of the file system
/// ```
///
/// The checksum covers the first [`JSB_SIZE`] bytes (crc field as zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Jsb {
    /// log2 of the block size; must match the file system's.
    pub block_log2: u32,
    /// Size of the journal region in blocks, super block included.
    pub blocks: u64,
    /// Sequence number of the transaction at `tail` (or of the next one if the log is
    /// empty).
    pub sequence: u64,
    /// Log index (1..blocks) where replay starts; 0 if the log holds nothing to replay.
    pub tail: u64,
    /// UUID of the file system the journal belongs to.
    pub uuid: [u8; 16],
}

impl Jsb {
    /// Decodes and validates a journal super block (checksum included).
    pub fn decode(buf: &[u8]) -> Result<Jsb> {
        let b = buf.get(..JSB_SIZE).ok_or(FormatError::Short)?;
        if get_u32(b, 0) != Some(JSB_MAGIC) {
            return Err(FormatError::BadMagic);
        }
        if get_u32(b, JOURNAL_CRC_OFFSET) != Some(crc32c_with_hole(0, b, JOURNAL_CRC_OFFSET)) {
            return Err(FormatError::BadChecksum);
        }
        if get_u32(b, 0x08) != Some(JOURNAL_VERSION) {
            return Err(FormatError::Unsupported);
        }
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(b.get(0x28..0x38).ok_or(FormatError::Short)?);
        let j = Jsb {
            block_log2: get_u32(b, 0x0C).unwrap_or(0),
            blocks: get_u64(b, 0x10).unwrap_or(0),
            sequence: get_u64(b, 0x18).unwrap_or(0),
            tail: get_u64(b, 0x20).unwrap_or(0),
            uuid,
        };
        if !(MIN_JOURNAL_BLOCKS..=MAX_JOURNAL_BLOCKS).contains(&j.blocks) {
            return Err(FormatError::Invalid("journal size out of range"));
        }
        if j.tail >= j.blocks {
            return Err(FormatError::Invalid("journal tail out of range"));
        }
        Ok(j)
    }

    /// Encodes the journal super block into the first [`JSB_SIZE`] bytes of `buf`.
    pub fn encode(&self, buf: &mut [u8]) -> Result<()> {
        let b = buf.get_mut(..JSB_SIZE).ok_or(FormatError::Short)?;
        b.fill(0);
        put_u32(b, 0x00, JSB_MAGIC);
        put_u32(b, 0x08, JOURNAL_VERSION);
        put_u32(b, 0x0C, self.block_log2);
        put_u64(b, 0x10, self.blocks);
        put_u64(b, 0x18, self.sequence);
        put_u64(b, 0x20, self.tail);
        put_bytes(b, 0x28, &self.uuid);
        let crc = crc32c_with_hole(0, b, JOURNAL_CRC_OFFSET);
        put_u32(b, JOURNAL_CRC_OFFSET, crc);
        Ok(())
    }

    /// Whether the log holds transactions that may need replay.
    pub fn needs_recovery(&self) -> bool {
        self.tail != 0
    }

    /// The log index after `idx` (the log wraps from the last block to index 1).
    pub fn next(&self, idx: u64) -> u64 {
        if idx.saturating_add(1) >= self.blocks {
            1
        } else {
            idx + 1
        }
    }

    /// Number of log blocks (the region without its super block).
    pub fn log_blocks(&self) -> u64 {
        self.blocks.saturating_sub(1)
    }
}

/// Header of descriptor, revoke and commit blocks.
///
/// ```text
/// 0x00 u32 magic "RXJL"   0x04 u32 crc32c of the block (seed: log_seed, crc field as zero)
/// 0x08 u32 type           0x0C u32 count (tags or revoke records; 0 in a commit block)
/// 0x10 u64 sequence number of the transaction
/// ```
///
/// A commit block goes on with `0x18 u32 blocks` (log blocks of the transaction before the
/// commit block), `0x1C u32 data crc` (CRC-32C, seeded with `log_seed`, chained over those
/// blocks in log order), `0x20 i64 seconds`, `0x28 u32 nanoseconds` (commit time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogHeader {
    /// [`LOG_DESCRIPTOR`], [`LOG_REVOKE`] or [`LOG_COMMIT`].
    pub kind: u32,
    /// Number of tags or revoke records.
    pub count: u32,
    /// Sequence number of the transaction.
    pub sequence: u64,
}

/// Decodes and checks the header and checksum of a log block of transaction `sequence`.
pub fn log_header(buf: &[u8], seed: u32, sequence: u64) -> Result<LogHeader> {
    if buf.len() < LOG_HEADER_SIZE + 8 {
        return Err(FormatError::Short);
    }
    if get_u32(buf, 0) != Some(LOG_MAGIC) {
        return Err(FormatError::BadMagic);
    }
    if get_u32(buf, JOURNAL_CRC_OFFSET) != Some(crc32c_with_hole(seed, buf, JOURNAL_CRC_OFFSET)) {
        return Err(FormatError::BadChecksum);
    }
    let h = LogHeader {
        kind: get_u32(buf, 0x08).unwrap_or(0),
        count: get_u32(buf, 0x0C).unwrap_or(0),
        sequence: get_u64(buf, 0x10).unwrap_or(0),
    };
    if h.sequence != sequence {
        return Err(FormatError::Invalid("log block of another transaction"));
    }
    match h.kind {
        LOG_DESCRIPTOR | LOG_REVOKE if h.count as usize <= log_capacity(buf.len()) => Ok(h),
        LOG_COMMIT if h.count == 0 => Ok(h),
        LOG_DESCRIPTOR | LOG_REVOKE | LOG_COMMIT => Err(FormatError::Invalid("bad log count")),
        _ => Err(FormatError::Invalid("unknown log block type")),
    }
}

/// Record `i` (a descriptor tag or a revoke record: a home block number) of a log block
/// whose header was checked by [`log_header`].
pub fn log_record(buf: &[u8], i: usize) -> Result<u64> {
    get_u64(buf, LOG_HEADER_SIZE + i * 8).ok_or(FormatError::BadIndex)
}

/// Starts a descriptor or revoke block of transaction `sequence` in `buf` (the whole block is
/// cleared); records are added with [`log_push`] and the block sealed with [`log_seal`].
pub fn log_init(buf: &mut [u8], kind: u32, sequence: u64) -> Result<()> {
    if buf.len() < LOG_HEADER_SIZE + 8 {
        return Err(FormatError::Short);
    }
    buf.fill(0);
    put_u32(buf, 0x00, LOG_MAGIC);
    put_u32(buf, 0x08, kind);
    put_u64(buf, 0x10, sequence);
    Ok(())
}

/// Appends a record to a descriptor or revoke block; [`FormatError::Full`] when it has no
/// room left.
pub fn log_push(buf: &mut [u8], blockno: u64) -> Result<()> {
    let n = get_u32(buf, 0x0C).ok_or(FormatError::Short)? as usize;
    if n >= log_capacity(buf.len()) {
        return Err(FormatError::Full);
    }
    put_u64(buf, LOG_HEADER_SIZE + n * 8, blockno);
    put_u32(buf, 0x0C, n as u32 + 1);
    Ok(())
}

/// Number of records in a descriptor or revoke block being built.
pub fn log_count(buf: &[u8]) -> usize {
    get_u32(buf, 0x0C).unwrap_or(0) as usize
}

/// Writes the checksum of a finished log block.
pub fn log_seal(buf: &mut [u8], seed: u32) {
    let crc = crc32c_with_hole(seed, buf, JOURNAL_CRC_OFFSET);
    put_u32(buf, JOURNAL_CRC_OFFSET, crc);
}

/// The commit block of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Commit {
    /// Number of log blocks of the transaction before the commit block.
    pub blocks: u32,
    /// CRC-32C chained over those blocks ([`chain_crc`]).
    pub data_crc: u32,
    /// Commit time, seconds.
    pub sec: i64,
    /// Commit time, nanoseconds.
    pub nsec: u32,
}

impl Commit {
    /// Encodes and seals the commit block of transaction `sequence` into `buf`.
    pub fn encode(&self, buf: &mut [u8], sequence: u64, seed: u32) -> Result<()> {
        log_init(buf, LOG_COMMIT, sequence)?;
        put_u32(buf, 0x18, self.blocks);
        put_u32(buf, 0x1C, self.data_crc);
        put_i64(buf, 0x20, self.sec);
        put_u32(buf, 0x28, self.nsec);
        log_seal(buf, seed);
        Ok(())
    }

    /// Decodes a commit block whose header was checked by [`log_header`].
    pub fn decode(buf: &[u8]) -> Result<Commit> {
        Ok(Commit {
            blocks: get_u32(buf, 0x18).ok_or(FormatError::Short)?,
            data_crc: get_u32(buf, 0x1C).ok_or(FormatError::Short)?,
            sec: get_i64(buf, 0x20).ok_or(FormatError::Short)?,
            nsec: get_u32(buf, 0x28).ok_or(FormatError::Short)?,
        })
    }
}

/// Chains the CRC-32C of a transaction over one more log block (start with `log_seed`).
pub fn chain_crc(crc: u32, block: &[u8]) -> u32 {
    crc32c(crc, block)
}

/// The device under a journal, as [`scan`] and [`replay`] see it.
pub trait JournalDev {
    /// Error of the device (I/O).
    type Error;
    /// Reads log block `idx` (index in the journal region, 1..blocks) into `buf` (one block).
    fn read_log(&mut self, idx: u64, buf: &mut [u8]) -> core::result::Result<(), Self::Error>;
    /// Writes `buf` (one block) to home block `blockno` of the file system.
    fn write_home(&mut self, blockno: u64, buf: &[u8]) -> core::result::Result<(), Self::Error>;
}

/// The blocks revoked by the transactions in the log: block number to the highest sequence
/// number that revoked it. A set with a map behind it, provided by the caller ([`replay`]
/// itself never allocates).
pub trait RevokeTable {
    /// Error of the table (out of memory).
    type Error;
    /// Records that transaction `sequence` revoked `blockno`.
    fn add(&mut self, blockno: u64, sequence: u64) -> core::result::Result<(), Self::Error>;
    /// Highest sequence number that revoked `blockno`, if any.
    fn get(&self, blockno: u64) -> Option<u64>;
}

/// Why [`scan`] stopped: the transaction at the end of the valid log, as found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogEnd {
    /// The log was empty (`tail == 0`).
    Empty,
    /// A block that is not part of the next transaction (the normal end of the log).
    NoTransaction,
    /// A transaction that started but has no valid commit block, or whose blocks do not match
    /// the commit's checksum (a torn or corrupted write).
    Incomplete,
    /// A committed transaction names a home block outside `valid_home`: the journal is
    /// corrupted; nothing after it is replayed.
    BadHome(u64),
}

/// What [`scan`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanResult {
    /// Number of complete transactions, from the super block's `tail` on.
    pub transactions: u64,
    /// Log index after the last complete transaction (where new transactions go).
    pub head: u64,
    /// Sequence number of the first transaction after them.
    pub next_sequence: u64,
    /// Number of home block copies in those transactions.
    pub blocks: u64,
    /// Number of revoke records in those transactions.
    pub revokes: u64,
    /// Why the scan stopped.
    pub end: LogEnd,
}

/// Errors of [`scan`] and [`replay`]: of the device, of the revoke table, or an internal
/// inconsistency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayError<D, T> {
    /// The device failed.
    Dev(D),
    /// The revoke table failed.
    Table(T),
    /// The buffers are not one block each, or the log changed between scan and replay.
    Format(FormatError),
}

/// One transaction as walked by [`walk`]: what is called for each of its blocks.
enum Step<'a> {
    /// Log block `idx` is a copy of home block `home`; its contents are in the data buffer.
    Copy { home: u64, data: &'a [u8] },
    /// Transaction revokes `blockno`.
    Revoke(u64),
}

/// Walks the transaction of `sequence` starting at log index `idx`. Returns the log index
/// after its commit block, or the reason it is not a complete transaction. `on_step` runs
/// for each block copy and revoke record in log order, before the commit block is checked,
/// so that [`scan`] can validate and [`replay`] (which only walks scanned transactions) can
/// write.
#[allow(clippy::too_many_arguments)]
fn walk<D: JournalDev, E>(
    j: &Jsb,
    dev: &mut D,
    desc: &mut [u8],
    data: &mut [u8],
    seed: u32,
    mut idx: u64,
    sequence: u64,
    mut on_step: impl FnMut(&mut D, Step<'_>) -> core::result::Result<(), E>,
) -> core::result::Result<core::result::Result<u64, LogEnd>, WalkError<D::Error, E>> {
    let mut crc = seed;
    let mut count: u64 = 0;
    let max = j.log_blocks();
    loop {
        if count >= max {
            // Longer than the log: it wrapped onto itself.
            return Ok(Err(LogEnd::Incomplete));
        }
        dev.read_log(idx, desc).map_err(WalkError::Dev)?;
        let h = match log_header(desc, seed, sequence) {
            Ok(h) => h,
            Err(_) if count == 0 => return Ok(Err(LogEnd::NoTransaction)),
            Err(_) => return Ok(Err(LogEnd::Incomplete)),
        };
        match h.kind {
            LOG_COMMIT => {
                let c = Commit::decode(desc).map_err(WalkError::Format)?;
                if u64::from(c.blocks) != count || c.data_crc != crc {
                    return Ok(Err(LogEnd::Incomplete));
                }
                return Ok(Ok(j.next(idx)));
            }
            LOG_REVOKE => {
                crc = chain_crc(crc, desc);
                count += 1;
                for i in 0..h.count as usize {
                    let b = log_record(desc, i).map_err(WalkError::Format)?;
                    on_step(dev, Step::Revoke(b)).map_err(WalkError::Step)?;
                }
                idx = j.next(idx);
            }
            _ => {
                // A descriptor: its block copies follow.
                crc = chain_crc(crc, desc);
                count += 1;
                for i in 0..h.count as usize {
                    if count >= max {
                        return Ok(Err(LogEnd::Incomplete));
                    }
                    let home = log_record(desc, i).map_err(WalkError::Format)?;
                    idx = j.next(idx);
                    dev.read_log(idx, data).map_err(WalkError::Dev)?;
                    crc = chain_crc(crc, data);
                    count += 1;
                    on_step(dev, Step::Copy { home, data }).map_err(WalkError::Step)?;
                }
                idx = j.next(idx);
            }
        }
    }
}

/// Errors inside [`walk`].
enum WalkError<D, E> {
    Dev(D),
    Format(FormatError),
    Step(E),
}

/// Finds the complete transactions in the log, from the super block's `tail` on, checking
/// every block copy's home with `valid_home` (a copy of a block outside the file system's
/// metadata ends the scan with [`LogEnd::BadHome`]). `desc` and `data` are scratch buffers
/// of one block each.
pub fn scan<D: JournalDev>(
    j: &Jsb,
    dev: &mut D,
    desc: &mut [u8],
    data: &mut [u8],
    seed: u32,
    valid_home: impl Fn(u64) -> bool,
) -> core::result::Result<ScanResult, ReplayError<D::Error, ()>> {
    let bs = 1usize << j.block_log2.min(super::MAX_BLOCK_LOG2);
    if desc.len() != bs || data.len() != bs {
        return Err(ReplayError::Format(FormatError::Short));
    }
    let mut r = ScanResult {
        transactions: 0,
        head: if j.tail == 0 { 1 } else { j.tail },
        next_sequence: j.sequence,
        blocks: 0,
        revokes: 0,
        end: LogEnd::Empty,
    };
    if j.tail == 0 {
        return Ok(r);
    }
    let mut used: u64 = 0;
    loop {
        let (mut blocks, mut revokes) = (0u64, 0u64);
        let mut bad = None;
        let w = walk(
            j,
            dev,
            desc,
            data,
            seed,
            r.head,
            r.next_sequence,
            |_, s| -> core::result::Result<(), ()> {
                match s {
                    Step::Copy { home, .. } => {
                        if bad.is_none() && !valid_home(home) {
                            bad = Some(home);
                        }
                        blocks += 1;
                    }
                    Step::Revoke(_) => revokes += 1,
                }
                Ok(())
            },
        );
        let next = match w {
            Ok(Ok(next)) => next,
            Ok(Err(end)) => {
                r.end = end;
                return Ok(r);
            }
            Err(WalkError::Dev(e)) => return Err(ReplayError::Dev(e)),
            Err(WalkError::Format(e)) => return Err(ReplayError::Format(e)),
            Err(WalkError::Step(())) => {
                return Err(ReplayError::Format(FormatError::Invalid("scan")))
            }
        };
        if let Some(home) = bad {
            r.end = LogEnd::BadHome(home);
            return Ok(r);
        }
        // Blocks of this transaction, commit included.
        let len = if next > r.head {
            next - r.head
        } else {
            j.log_blocks() - (r.head - next)
        };
        used = used.saturating_add(len);
        if used > j.log_blocks() {
            // The transactions would overlap: the log went around past its own tail.
            r.end = LogEnd::Incomplete;
            return Ok(r);
        }
        r.transactions += 1;
        r.blocks += blocks;
        r.revokes += revokes;
        r.head = next;
        r.next_sequence = r.next_sequence.wrapping_add(1);
    }
}

/// Replays the transactions [`scan`] found: first collects their revoke records in `table`,
/// then writes every block copy home in log order, except copies of a block revoked by the
/// same or a later transaction. Returns the number of blocks written. The caller flushes the
/// device afterwards and only then empties the log.
pub fn replay<D: JournalDev, T: RevokeTable>(
    j: &Jsb,
    dev: &mut D,
    desc: &mut [u8],
    data: &mut [u8],
    seed: u32,
    found: &ScanResult,
    table: &mut T,
) -> core::result::Result<u64, ReplayError<D::Error, T::Error>> {
    // Pass 1: revoke records.
    let mut idx = j.tail;
    let mut seq = j.sequence;
    for _ in 0..found.transactions {
        let w = walk(j, dev, desc, data, seed, idx, seq, |_, s| match s {
            Step::Revoke(b) => match table.get(b) {
                Some(old) if old >= seq => Ok(()),
                _ => table.add(b, seq).map_err(ReplayError::Table),
            },
            Step::Copy { .. } => Ok(()),
        });
        idx = walk_next(w)?;
        seq = seq.wrapping_add(1);
    }
    // Pass 2: block copies.
    let mut written = 0u64;
    let mut idx = j.tail;
    let mut seq = j.sequence;
    for _ in 0..found.transactions {
        let w = walk(j, dev, desc, data, seed, idx, seq, |dev, s| match s {
            Step::Copy { home, data } => {
                if matches!(table.get(home), Some(r) if r >= seq) {
                    return Ok(());
                }
                written += 1;
                dev.write_home(home, data).map_err(ReplayError::Dev)
            }
            Step::Revoke(_) => Ok(()),
        });
        idx = walk_next(w)?;
        seq = seq.wrapping_add(1);
    }
    Ok(written)
}

/// The log index after a transaction that [`scan`] found complete, from [`walk`]'s result.
fn walk_next<DE, TE>(
    w: core::result::Result<core::result::Result<u64, LogEnd>, WalkError<DE, ReplayError<DE, TE>>>,
) -> core::result::Result<u64, ReplayError<DE, TE>> {
    match w {
        Ok(Ok(next)) => Ok(next),
        // The log changed since the scan.
        Ok(Err(_)) => Err(ReplayError::Format(FormatError::Invalid(
            "journal changed during replay",
        ))),
        Err(WalkError::Dev(e)) => Err(ReplayError::Dev(e)),
        Err(WalkError::Format(e)) => Err(ReplayError::Format(e)),
        Err(WalkError::Step(e)) => Err(e),
    }
}
