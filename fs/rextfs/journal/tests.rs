// SPDX-License-Identifier: GPL-2.0

//! KUnit tests of the journal's logic: the log blocks the commit code writes, and what the
//! replay driver makes of them (order, revoke records, torn transactions, idempotence).

use super::commit::{encode_transaction, Encoded};
use crate::format;
use kernel::fs::bdev::IoBuf;
use kernel::prelude::*;

/// Block size of the tests: small, so that descriptors and revoke blocks fill up quickly.
const BS: usize = 512;
/// Journal region: super block plus this many log blocks.
const JBLOCKS: u64 = 64;
/// Home blocks of the test file system.
const HOMES: u64 = 32;

/// A device in memory: the journal region and the home blocks.
struct MemDev {
    log: KVec<KVec<u8>>,
    home: KVec<KVec<u8>>,
    writes: usize,
}

impl MemDev {
    fn new() -> Result<Self> {
        let mut log = KVec::new();
        for _ in 0..JBLOCKS {
            log.push(KVec::from_elem(0u8, BS, GFP_KERNEL)?, GFP_KERNEL)?;
        }
        let mut home = KVec::new();
        for _ in 0..HOMES {
            home.push(KVec::from_elem(0u8, BS, GFP_KERNEL)?, GFP_KERNEL)?;
        }
        Ok(Self {
            log,
            home,
            writes: 0,
        })
    }

    /// Puts an encoded transaction into the log at `idx` (wrapping); returns the index after.
    fn put(&mut self, j: &format::Jsb, mut idx: u64, t: &Encoded) -> u64 {
        for b in Iterator::chain(t.blocks.iter(), core::iter::once(&t.commit)) {
            self.log[idx as usize].copy_from_slice(b);
            idx = j.next(idx);
        }
        idx
    }
}

impl format::JournalDev for MemDev {
    type Error = Error;

    fn read_log(&mut self, idx: u64, buf: &mut [u8]) -> Result {
        buf.copy_from_slice(self.log.get(idx as usize).ok_or(EIO)?);
        Ok(())
    }

    fn write_home(&mut self, blockno: u64, buf: &[u8]) -> Result {
        self.home
            .get_mut(blockno as usize)
            .ok_or(EIO)?
            .copy_from_slice(buf);
        self.writes += 1;
        Ok(())
    }
}

/// Revoke table over a vector.
struct Table(KVec<(u64, u64)>);

impl format::RevokeTable for Table {
    type Error = Error;

    fn add(&mut self, blockno: u64, sequence: u64) -> Result {
        for e in self.0.iter_mut() {
            if e.0 == blockno {
                e.1 = sequence;
                return Ok(());
            }
        }
        self.0.push((blockno, sequence), GFP_KERNEL)?;
        Ok(())
    }

    fn get(&self, blockno: u64) -> Option<u64> {
        self.0.iter().find(|e| e.0 == blockno).map(|e| e.1)
    }
}

const SEED: u32 = 0x1234_5678;

fn jsb(tail: u64, sequence: u64) -> format::Jsb {
    format::Jsb {
        block_log2: 9,
        blocks: JBLOCKS,
        sequence,
        tail,
        uuid: [7; 16],
    }
}

/// A copy of home block `home` filled with `fill`.
fn copy(home: u64, fill: u8) -> Result<(u64, IoBuf)> {
    let mut io = IoBuf::new(BS)?;
    io.fill(fill);
    Ok((home, io))
}

fn transaction(seq: u64, copies: &[(u64, u8)], revokes: &[u64]) -> Result<Encoded> {
    let mut v = KVec::new();
    for &(h, f) in copies {
        v.push(copy(h, f)?, GFP_KERNEL)?;
    }
    encode_transaction(BS, SEED, seq, v, revokes, (1, 2))
}

fn scan_and_replay(dev: &mut MemDev, j: &format::Jsb) -> Result<(format::ScanResult, u64)> {
    let mut desc = KVec::from_elem(0u8, BS, GFP_KERNEL)?;
    let mut data = KVec::from_elem(0u8, BS, GFP_KERNEL)?;
    let found =
        format::scan(j, dev, &mut desc, &mut data, SEED, |b| b < HOMES).map_err(|_| EINVAL)?;
    let mut t = Table(KVec::new());
    let n =
        format::replay(j, dev, &mut desc, &mut data, SEED, &found, &mut t).map_err(|_| EINVAL)?;
    Ok((found, n))
}

#[kunit_tests(rextfs_journal)]
mod kunit {
    use super::*;

    #[test]
    fn log_blocks_round_trip() -> Result {
        // Enough copies and revokes for two descriptors and two revoke blocks.
        let cap = format::log_capacity(BS) as u64;
        let mut copies = KVec::new();
        for h in 0..cap + 3 {
            copies.push((h % HOMES, h as u8), GFP_KERNEL)?;
        }
        let mut revokes = KVec::new();
        for r in 0..cap + 1 {
            revokes.push(1000 + r, GFP_KERNEL)?;
        }
        let t = transaction(5, &copies, &revokes)?;
        assert_eq!(t.blocks.len() as u64, 2 + (cap + 3) + 2);
        let h = format::log_header(&t.blocks[0], SEED, 5).map_err(|_| EINVAL)?;
        assert_eq!((h.kind, u64::from(h.count)), (format::LOG_DESCRIPTOR, cap));
        // The second descriptor, after the first one's `cap` copies, holds the other 3.
        let h = format::log_header(&t.blocks[cap as usize + 1], SEED, 5).map_err(|_| EINVAL)?;
        assert_eq!((h.kind, h.count), (format::LOG_DESCRIPTOR, 3));
        assert_eq!(format::log_record(&t.blocks[0], 1), Ok(1));
        // The wrong sequence, seed or a flipped bit is refused.
        assert!(format::log_header(&t.blocks[0], SEED, 6).is_err());
        assert!(format::log_header(&t.blocks[0], SEED ^ 1, 5).is_err());
        let mut bad = KVec::from_elem(0u8, BS, GFP_KERNEL)?;
        bad.copy_from_slice(&t.blocks[0]);
        bad[100] ^= 1;
        assert_eq!(
            format::log_header(&bad, SEED, 5),
            Err(format::FormatError::BadChecksum)
        );
        let c = format::log_header(&t.commit, SEED, 5).map_err(|_| EINVAL)?;
        assert_eq!(c.kind, format::LOG_COMMIT);
        let c = format::Commit::decode(&t.commit).map_err(|_| EINVAL)?;
        assert_eq!(c.blocks as usize, t.blocks.len());
        assert_eq!((c.sec, c.nsec), (1, 2));
        Ok(())
    }

    #[test]
    fn replay_applies_committed_copies_in_order_except_revoked() -> Result {
        let mut dev = MemDev::new()?;
        let j = jsb(60, 10);
        // T10: blocks 1, 2, 3. T11: revokes 1, logs 4, revokes 5. T12: logs 1 again and 5.
        let mut idx = dev.put(
            &j,
            60,
            &transaction(10, &[(1, 0xa1), (2, 0xa2), (3, 0xa3)], &[])?,
        );
        idx = dev.put(&j, idx, &transaction(11, &[(4, 0xb4), (2, 0xb2)], &[1, 5])?);
        dev.put(&j, idx, &transaction(12, &[(1, 0xc1), (5, 0xc5)], &[3])?);
        let (found, n) = scan_and_replay(&mut dev, &j)?;
        assert_eq!(found.transactions, 3);
        assert_eq!(found.next_sequence, 13);
        assert_eq!(found.revokes, 3);
        assert_eq!(found.end, format::LogEnd::NoTransaction);
        // 1: revoked by T11 (skips T10's copy), logged again by T12. 2: last copy wins.
        // 3: revoked by a later transaction. 5: revoked by T11, logged by T12.
        assert_eq!(dev.home[1][0], 0xc1);
        assert_eq!(dev.home[2][0], 0xb2);
        assert_eq!(dev.home[3][0], 0);
        assert_eq!(dev.home[4][0], 0xb4);
        assert_eq!(dev.home[5][0], 0xc5);
        // T10: 2; T11: 4, 2; T12: 1, 5.
        assert_eq!(n, 5);
        // Replaying again gives the same image.
        let mut before = KVec::new();
        for b in dev.home.iter() {
            before.push(b[0], GFP_KERNEL)?;
        }
        scan_and_replay(&mut dev, &j)?;
        for (i, b) in dev.home.iter().enumerate() {
            assert_eq!(b[0], before[i]);
        }
        Ok(())
    }

    #[test]
    fn replay_stops_at_a_torn_transaction() -> Result {
        let mut dev = MemDev::new()?;
        let j = jsb(1, 7);
        let idx = dev.put(&j, 1, &transaction(7, &[(1, 1)], &[])?);
        let t = transaction(8, &[(2, 2), (3, 3)], &[])?;
        let end = dev.put(&j, idx, &t);
        // A bit of a copy flipped: the commit's checksum does not match.
        dev.log[idx as usize + 2][9] ^= 0x40;
        dev.put(&j, end, &transaction(9, &[(4, 4)], &[])?);
        let (found, n) = scan_and_replay(&mut dev, &j)?;
        assert_eq!((found.transactions, n), (1, 1));
        assert_eq!(found.end, format::LogEnd::Incomplete);
        assert_eq!((dev.home[1][0], dev.home[2][0], dev.home[4][0]), (1, 0, 0));
        // No commit block at all: same.
        let mut dev = MemDev::new()?;
        let t = transaction(7, &[(1, 1)], &[])?;
        dev.log[1].copy_from_slice(&t.blocks[0]);
        dev.log[2].copy_from_slice(&t.blocks[1]);
        let (found, n) = scan_and_replay(&mut dev, &j)?;
        assert_eq!((found.transactions, n), (0, 0));
        assert_eq!(found.end, format::LogEnd::Incomplete);
        Ok(())
    }

    #[test]
    fn replay_wraps_and_refuses_foreign_homes() -> Result {
        let mut dev = MemDev::new()?;
        // Starts 2 blocks before the end of the log: descriptor, copy, then the commit at 1.
        let j = jsb(JBLOCKS - 2, 3);
        let idx = dev.put(&j, JBLOCKS - 2, &transaction(3, &[(6, 6)], &[])?);
        assert_eq!(idx, 2);
        // A committed transaction that writes outside the home blocks ends the replay.
        dev.put(&j, idx, &transaction(4, &[(HOMES + 5, 9)], &[])?);
        let (found, n) = scan_and_replay(&mut dev, &j)?;
        assert_eq!((found.transactions, n), (1, 1));
        assert_eq!(found.end, format::LogEnd::BadHome(HOMES + 5));
        assert_eq!(dev.home[6][0], 6);
        // An empty log (tail 0) replays nothing.
        let (found, n) = scan_and_replay(&mut dev, &jsb(0, 3))?;
        assert_eq!(
            (found.transactions, n, found.end),
            (0, 0, format::LogEnd::Empty)
        );
        Ok(())
    }
}
