// SPDX-License-Identifier: GPL-2.0

//! The journal format and its replay driver: round trips and no panics of
//! every decoder, SipHash-2-4 known answers, and a model of replay over
//! random logs written by a small writer of this test's own.

use proptest::prelude::*;
use rextfs_format::siphash::siphash24;
use rextfs_format::*;
use std::collections::HashMap;

// ----- SipHash-2-4 --------------------------------------------------------------

/// Known answers with the key 00 01 .. 0f and the message 00 01 .. (n-1). The
/// empty and 15-byte messages are the SipHash paper's examples; all were also
/// computed by a separate implementation written for this check from the
/// paper's description (in another language), which agrees on every one.
#[test]
fn siphash24_known_answers() {
    let key: [u8; 16] = core::array::from_fn(|i| i as u8);
    let msg: Vec<u8> = (0u8..64).collect();
    for (n, want) in [
        (0usize, 0x726f_db47_dd0e_0e31u64),
        (15, 0xa129_ca61_49be_45e5),
        (1, 0x74f8_39c5_93dc_67fd),
        (7, 0xab02_00f5_8b01_d137),
        (8, 0x93f5_f579_9a93_2462),
        (9, 0x9e00_82df_0ba9_e4b0),
        (16, 0x3f2a_cc7f_57c2_9bdb),
        (63, 0x958a_324c_eb06_4572),
    ] {
        assert_eq!(siphash24(&key, &msg[..n]), want, "{n} bytes");
    }
    // The directory name hash folds the 64 bits to 32.
    assert_eq!(name_hash(b"0123456789abcdef", b"123456789"), 0xaca8_ca5d);
}

proptest! {
    #[test]
    fn name_hash_is_the_folded_siphash(key in any::<[u8; 16]>(), name in proptest::collection::vec(any::<u8>(), 0..300)) {
        let h = siphash24(&key, &name);
        prop_assert_eq!(name_hash(&key, &name), (h ^ (h >> 32)) as u32);
    }
}

// ----- decoders -----------------------------------------------------------------

fn arb_jsb() -> impl Strategy<Value = Jsb> {
    (
        MIN_BLOCK_LOG2..=MAX_BLOCK_LOG2,
        MIN_JOURNAL_BLOCKS..=MAX_JOURNAL_BLOCKS,
        any::<u64>(),
        any::<u64>(),
        any::<[u8; 16]>(),
    )
        .prop_map(|(block_log2, blocks, sequence, tail, uuid)| Jsb {
            block_log2,
            blocks,
            sequence,
            tail: tail % blocks,
            uuid,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn jsb_round_trip(j in arb_jsb(), junk in any::<u8>()) {
        let mut buf = vec![junk; 1024];
        j.encode(&mut buf).unwrap();
        prop_assert_eq!(Jsb::decode(&buf), Ok(j));
        prop_assert_eq!(j.needs_recovery(), j.tail != 0);
        // Every byte of the checked part matters.
        let mut bad = buf.clone();
        bad[(junk as usize) % JSB_SIZE] ^= 0x10;
        prop_assert!(Jsb::decode(&bad).is_err());
        // The log wraps from the last block to block 1.
        prop_assert_eq!(j.next(j.blocks - 1), 1);
        prop_assert_eq!(j.next(0), 1);
    }

    #[test]
    fn commit_and_log_blocks_round_trip(
        seq in any::<u64>(), seed in any::<u32>(), blocks in any::<u32>(), crc in any::<u32>(),
        sec in any::<i64>(), nsec in any::<u32>(), recs in proptest::collection::vec(any::<u64>(), 0..200),
        revoke in any::<bool>(),
    ) {
        let c = Commit { blocks, data_crc: crc, sec, nsec };
        let mut buf = vec![0xEE; 1024];
        c.encode(&mut buf, seq, seed).unwrap();
        let h = log_header(&buf, seed, seq).unwrap();
        prop_assert_eq!(h, LogHeader { kind: LOG_COMMIT, count: 0, sequence: seq });
        prop_assert_eq!(Commit::decode(&buf), Ok(c));
        prop_assert!(log_header(&buf, seed ^ 1, seq).is_err());
        prop_assert!(log_header(&buf, seed, seq.wrapping_add(1)).is_err());

        let kind = if revoke { LOG_REVOKE } else { LOG_DESCRIPTOR };
        let mut d = vec![0xEE; 1024];
        log_init(&mut d, kind, seq).unwrap();
        let cap = log_capacity(1024);
        for (i, r) in recs.iter().enumerate() {
            let pushed = log_push(&mut d, *r);
            if i < cap {
                prop_assert!(pushed.is_ok());
            } else {
                prop_assert_eq!(pushed, Err(FormatError::Full));
            }
        }
        log_seal(&mut d, seed);
        let n = recs.len().min(cap);
        prop_assert_eq!(log_count(&d), n);
        let h = log_header(&d, seed, seq).unwrap();
        prop_assert_eq!((h.kind, h.count as usize), (kind, n));
        for (i, r) in recs.iter().take(n).enumerate() {
            prop_assert_eq!(log_record(&d, i), Ok(*r));
        }
    }

    #[test]
    fn journal_decoders_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..1100),
        seed in any::<u32>(), seq in any::<u64>(), i in 0usize..200,
    ) {
        if let Ok(j) = Jsb::decode(&bytes) {
            prop_assert!(j.tail < j.blocks);
            let _ = j.next(j.tail);
            let _ = j.log_blocks();
        }
        let _ = log_header(&bytes, seed, seq);
        let _ = log_record(&bytes, i);
        let _ = log_count(&bytes);
        let _ = Commit::decode(&bytes);
        let _ = log_capacity(bytes.len());
        let _ = default_journal_blocks(seq);
        let mut m = bytes.clone();
        let _ = log_push(&mut m, seq);
        let _ = log_init(&mut m, LOG_DESCRIPTOR, seq);
    }
}

#[test]
fn default_journal_sizes() {
    for (total, want) in [
        (100, MIN_JOURNAL_BLOCKS),
        (4096, MIN_JOURNAL_BLOCKS),
        (16384, 1024),
        (32768, 4096),
        (262_144, 8192),
        (524_288, 16384),
        (4_194_304, 32768),
        (1 << 40, 32768),
    ] {
        assert_eq!(default_journal_blocks(total), want, "{total}");
    }
}

// ----- an in-memory journal and a writer ----------------------------------------------

const BS: usize = 1024;
/// Smallest log of the scan and replay properties: far below what a file system may have
/// (`MIN_JOURNAL_BLOCKS`), so that the random transactions wrap around it; the driver does
/// not depend on the size.
const SMALL_LOG: u64 = 64;

/// The log (by index in the journal region) and the home blocks.
#[derive(Clone, PartialEq, Eq, Debug)]
struct Mem {
    log: Vec<Vec<u8>>,
    home: Vec<Vec<u8>>,
    /// Writes allowed before the device fails (an interrupted replay).
    writes_left: Option<usize>,
}

impl JournalDev for Mem {
    type Error = &'static str;

    fn read_log(&mut self, idx: u64, buf: &mut [u8]) -> std::result::Result<(), &'static str> {
        let b = self.log.get(idx as usize).ok_or("log index out of range")?;
        if idx == 0 {
            return Err("read of the journal super block as a log block");
        }
        buf.copy_from_slice(b);
        Ok(())
    }

    fn write_home(&mut self, blockno: u64, buf: &[u8]) -> std::result::Result<(), &'static str> {
        if let Some(n) = self.writes_left.as_mut() {
            if *n == 0 {
                return Err("device failed");
            }
            *n -= 1;
        }
        let b = self
            .home
            .get_mut(blockno as usize)
            .ok_or("home block out of range")?;
        b.copy_from_slice(buf);
        Ok(())
    }
}

#[derive(Default)]
struct Revokes(HashMap<u64, u64>);

impl RevokeTable for Revokes {
    type Error = ();

    fn add(&mut self, blockno: u64, sequence: u64) -> std::result::Result<(), ()> {
        let e = self.0.entry(blockno).or_insert(sequence);
        *e = (*e).max(sequence);
        Ok(())
    }

    fn get(&self, blockno: u64) -> Option<u64> {
        self.0.get(&blockno).copied()
    }
}

/// How a test transaction ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Committed,
    NoCommit,
    BadCrc,
    /// Only this many of its blocks reach the log (at least one, fewer than all).
    Truncated(usize),
}

#[derive(Clone, Debug)]
struct Txn {
    /// Home block and fill byte of each copy, in log order.
    copies: Vec<(u64, u8)>,
    revokes: Vec<u64>,
    /// Tags per descriptor block and records per revoke block.
    per_block: usize,
}

fn fill(home: u64, v: u8) -> Vec<u8> {
    let mut b = vec![v; BS];
    b[..8].copy_from_slice(&home.to_le_bytes());
    b
}

/// Number of log blocks of a transaction, commit included.
fn txn_len(t: &Txn) -> usize {
    let per = t.per_block.max(1);
    t.copies.len() + t.copies.len().div_ceil(per) + t.revokes.len().div_ceil(per) + 1
}

/// Writes `t` as transaction `seq` at `head`: descriptors with their copies,
/// revoke blocks, the commit block; torn as `end` says. Returns the index
/// after it.
fn write_txn(m: &mut Mem, j: &Jsb, seed: u32, head: u64, seq: u64, t: &Txn, end: End) -> u64 {
    let per = t.per_block.max(1);
    let mut blocks = Vec::new();
    for group in t.copies.chunks(per) {
        let mut d = vec![0u8; BS];
        log_init(&mut d, LOG_DESCRIPTOR, seq).unwrap();
        for (h, _) in group {
            log_push(&mut d, *h).unwrap();
        }
        log_seal(&mut d, seed);
        blocks.push(d);
        for (h, v) in group {
            blocks.push(fill(*h, *v));
        }
    }
    for group in t.revokes.chunks(per) {
        let mut r = vec![0u8; BS];
        log_init(&mut r, LOG_REVOKE, seq).unwrap();
        for h in group {
            log_push(&mut r, *h).unwrap();
        }
        log_seal(&mut r, seed);
        blocks.push(r);
    }
    let crc = blocks.iter().fold(seed, |c, b| chain_crc(c, b));
    let mut c = vec![0u8; BS];
    Commit {
        blocks: blocks.len() as u32,
        data_crc: if end == End::BadCrc {
            crc ^ 0x8000
        } else {
            crc
        },
        sec: 1,
        nsec: 2,
    }
    .encode(&mut c, seq, seed)
    .unwrap();
    blocks.push(c);
    assert_eq!(blocks.len(), txn_len(t));
    let keep = match end {
        End::NoCommit => blocks.len() - 1,
        End::Truncated(n) => n,
        _ => blocks.len(),
    };
    let mut idx = head;
    for (k, b) in blocks.iter().enumerate() {
        if k < keep {
            m.log[idx as usize] = b.clone();
        }
        idx = j.next(idx);
    }
    idx
}

const HOMES: u64 = 24;

fn arb_txn() -> impl Strategy<Value = Txn> {
    (
        proptest::collection::vec((0..HOMES, any::<u8>()), 0..6),
        proptest::collection::vec(0..HOMES, 0..4),
        1usize..4,
    )
        .prop_map(|(copies, revokes, per_block)| Txn {
            copies,
            revokes,
            per_block,
        })
}

fn arb_end() -> impl Strategy<Value = End> {
    prop_oneof![
        Just(End::Committed),
        Just(End::NoCommit),
        Just(End::BadCrc),
        (1usize..40).prop_map(End::Truncated),
    ]
}

/// What replay must leave: for each home block, its last committed copy if
/// that copy's transaction comes after every committed transaction that
/// revoked the block; otherwise the block as it was.
fn model(initial: &[Vec<u8>], committed: &[(u64, Txn)]) -> (Vec<Vec<u8>>, u64) {
    let mut revoked: HashMap<u64, u64> = HashMap::new();
    for (seq, t) in committed {
        for r in &t.revokes {
            let e = revoked.entry(*r).or_insert(*seq);
            *e = (*e).max(*seq);
        }
    }
    let mut out = initial.to_vec();
    let mut written = 0;
    for (seq, t) in committed {
        for (h, v) in &t.copies {
            if revoked.get(h).is_some_and(|r| r >= seq) {
                continue;
            }
            out[*h as usize] = fill(*h, *v);
            written += 1;
        }
    }
    (out, written)
}

fn fresh_mem(log_blocks: u64) -> Mem {
    Mem {
        log: vec![vec![0u8; BS]; log_blocks as usize],
        home: (0..HOMES).map(|h| fill(h, 0xAA)).collect(),
        writes_left: None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Random transactions (copies, revokes, blocks re-logged after a revoke,
    /// several descriptor and revoke blocks, a log that wraps) and a last one
    /// that may be torn: scan counts the committed ones, replay writes exactly
    /// what the model says, a second replay changes nothing, and a replay
    /// interrupted after any number of writes then run again gives the same.
    #[test]
    fn replay_matches_the_model(
        txns in proptest::collection::vec(arb_txn(), 0..8),
        last in arb_end(),
        blocks in SMALL_LOG..100,
        tail_at in any::<u64>(),
        seq0 in any::<u64>(),
        uuid in any::<[u8; 16]>(),
        cut in any::<usize>(),
    ) {
        let seed = log_seed(&uuid);
        let mut j = Jsb { block_log2: 10, blocks, sequence: seq0, tail: 1 + tail_at % (blocks - 1), uuid };
        let mut m = fresh_mem(blocks);
        let initial = m.home.clone();
        // Keep what fits in the log.
        let mut used = 0;
        let txns: Vec<Txn> = txns.into_iter().take_while(|t| {
            used += txn_len(t);
            used <= j.log_blocks() as usize
        }).collect();
        let n = txns.len();
        // The last transaction takes `last`'s ending; a truncation keeps at least one block
        // and not all of them.
        let last = match (last, txns.last()) {
            (End::Truncated(k), Some(t)) if txn_len(t) > 1 => End::Truncated(1 + k % (txn_len(t) - 1)),
            (End::Truncated(_), _) => End::NoCommit,
            (e, _) => e,
        };
        let torn = n > 0 && last != End::Committed;
        // A torn transaction that left a block in the log ends the scan as incomplete; one
        // of a commit block alone that lost it left nothing: the log just ends.
        let torn_left_nothing = torn && last == End::NoCommit && txn_len(&txns[n - 1]) == 1;
        let mut head = j.tail;
        let mut committed = Vec::new();
        for (k, t) in txns.iter().enumerate() {
            let end = if k + 1 == n { last } else { End::Committed };
            let seq = seq0.wrapping_add(k as u64);
            head = write_txn(&mut m, &j, seed, head, seq, t, end);
            if end == End::Committed {
                committed.push((seq, t.clone()));
            }
        }
        prop_assert!(head >= 1 && head < blocks);
        let (mut desc, mut data) = (vec![0u8; BS], vec![0u8; BS]);
        let found = scan(&j, &mut m, &mut desc, &mut data, seed, |b| b < HOMES).unwrap();
        prop_assert_eq!(found.transactions, committed.len() as u64);
        prop_assert_eq!(found.next_sequence, seq0.wrapping_add(committed.len() as u64));
        let copies: usize = committed.iter().map(|(_, t)| t.copies.len()).sum();
        let revokes: usize = committed.iter().map(|(_, t)| t.revokes.len()).sum();
        prop_assert_eq!((found.blocks, found.revokes), (copies as u64, revokes as u64));
        if torn && !torn_left_nothing {
            prop_assert_eq!(found.end, LogEnd::Incomplete);
        } else {
            prop_assert_eq!(found.end, LogEnd::NoTransaction);
        }
        let (want, want_written) = model(&initial, &committed);

        // An interrupted replay, then a whole one.
        let mut cutm = m.clone();
        cutm.writes_left = Some(cut % (want_written as usize + 1));
        let _ = replay(&j, &mut cutm, &mut desc, &mut data, seed, &found, &mut Revokes::default());
        cutm.writes_left = None;
        let w = replay(&j, &mut cutm, &mut desc, &mut data, seed, &found, &mut Revokes::default()).unwrap();
        prop_assert_eq!(w, want_written);
        prop_assert_eq!(&cutm.home, &want);

        let w = replay(&j, &mut m, &mut desc, &mut data, seed, &found, &mut Revokes::default()).unwrap();
        prop_assert_eq!(w, want_written);
        prop_assert_eq!(&m.home, &want);
        // Idempotent.
        let again = replay(&j, &mut m, &mut desc, &mut data, seed, &found, &mut Revokes::default()).unwrap();
        prop_assert_eq!(again, want_written);
        prop_assert_eq!(&m.home, &want);
        // Another file system's seed sees no transaction.
        let other = scan(&j, &mut m, &mut desc, &mut data, seed ^ 0x5555, |b| b < HOMES).unwrap();
        prop_assert_eq!(other.transactions, 0);
        // An empty log replays nothing.
        j.tail = 0;
        let empty = scan(&j, &mut m, &mut desc, &mut data, seed, |b| b < HOMES).unwrap();
        prop_assert_eq!((empty.transactions, empty.end), (0, LogEnd::Empty));
    }

    /// A copy of a block `valid_home` refuses ends the scan before its
    /// transaction: the ones before it are replayed, nothing after.
    #[test]
    fn a_bad_home_ends_the_scan(bad_at in 0usize..4, seq0 in any::<u64>()) {
        let uuid = [1u8; 16];
        let seed = log_seed(&uuid);
        let j = Jsb { block_log2: 10, blocks: 64, sequence: seq0, tail: 1, uuid };
        let mut m = fresh_mem(64);
        let mut head = 1;
        for k in 0..4 {
            let home = if k == bad_at { HOMES + 5 } else { k as u64 };
            let t = Txn { copies: vec![(home, k as u8)], revokes: vec![], per_block: 1 };
            head = write_txn(&mut m, &j, seed, head, seq0.wrapping_add(k as u64), &t, End::Committed);
        }
        let (mut desc, mut data) = (vec![0u8; BS], vec![0u8; BS]);
        let found = scan(&j, &mut m, &mut desc, &mut data, seed, |b| b < HOMES).unwrap();
        prop_assert_eq!(found.transactions, bad_at as u64);
        prop_assert_eq!(found.end, LogEnd::BadHome(HOMES + 5));
        let w = replay(&j, &mut m, &mut desc, &mut data, seed, &found, &mut Revokes::default()).unwrap();
        prop_assert_eq!(w, bad_at as u64);
    }

    /// Scan and replay of random log blocks (some of them valid log blocks of
    /// the right transactions, so that walks go deep) never panic, never read
    /// outside the log, and only write blocks `valid_home` accepts.
    #[test]
    fn scan_of_random_logs_never_panics(
        blocks in SMALL_LOG..80,
        raw in proptest::collection::vec((any::<u8>(), any::<u64>(), 0u32..4, 0u32..8, any::<u8>()), 80),
        tail_at in any::<u64>(),
        seq0 in 0u64..4,
    ) {
        let uuid = [7u8; 16];
        let seed = log_seed(&uuid);
        let j = Jsb { block_log2: 10, blocks, sequence: seq0, tail: 1 + tail_at % (blocks - 1), uuid };
        let mut m = fresh_mem(blocks);
        for (i, (fillb, rec, kind, count, seqd)) in raw.iter().enumerate().take(blocks as usize).skip(1) {
            let mut b = vec![*fillb; BS];
            if fillb % 3 != 0 {
                let seq = seq0 + u64::from(*seqd % 4);
                let _ = log_init(&mut b, *kind, seq);
                for _ in 0..*count {
                    let _ = log_push(&mut b, rec % (HOMES + 2));
                }
                if *kind == LOG_COMMIT {
                    let _ = Commit { blocks: (*rec % 6) as u32, data_crc: seed, sec: 0, nsec: 0 }.encode(&mut b, seq, seed);
                } else {
                    log_seal(&mut b, seed);
                }
            }
            m.log[i] = b;
        }
        let (mut desc, mut data) = (vec![0u8; BS], vec![0u8; BS]);
        let found = scan(&j, &mut m, &mut desc, &mut data, seed, |b| b < HOMES).unwrap();
        prop_assert!(found.head >= 1 && found.head < blocks);
        let before = m.home.clone();
        let w = replay(&j, &mut m, &mut desc, &mut data, seed, &found, &mut Revokes::default()).unwrap();
        prop_assert!(w <= found.blocks);
        prop_assert_eq!(m.home.len(), before.len());
        // Buffers of the wrong size are refused, not a panic.
        let mut small = vec![0u8; 512];
        prop_assert!(scan(&j, &mut m, &mut small, &mut data, seed, |_| true).is_err());
    }
}
