// SPDX-License-Identifier: GPL-2.0

//! Round trips and invariants of the on-disk format module.

use proptest::prelude::*;
use rextfs_format::*;
use std::collections::BTreeSet;

#[test]
fn crc32c_known_values() {
    assert_eq!(crc32c(0, b""), 0);
    assert_eq!(crc32c(0, b"123456789"), 0xE306_9283);
    assert_eq!(crc32c(0, &[0u8; 32]), 0x8A91_36AA);
    assert_eq!(crc32c(0, &[0xffu8; 32]), 0x62A8_AB43);
    let inc: Vec<u8> = (0u8..32).collect();
    assert_eq!(crc32c(0, &inc), 0x46DD_794E);
}

proptest! {
    #[test]
    fn crc32c_chains(a in proptest::collection::vec(any::<u8>(), 0..300),
                     b in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut ab = a.clone();
        ab.extend_from_slice(&b);
        prop_assert_eq!(crc32c(crc32c(0, &a), &b), crc32c(0, &ab));
    }

    #[test]
    fn crc32c_hole_is_zero(mut v in proptest::collection::vec(any::<u8>(), 0..200), hole in 0usize..220) {
        let h = crc32c_with_hole(7, &v, hole);
        let end = (hole + 4).min(v.len());
        if hole < v.len() {
            v[hole..end].fill(0);
        }
        prop_assert_eq!(h, crc32c(7, &v));
    }
}

fn arb_sb() -> impl Strategy<Value = Superblock> {
    (
        10u32..=16,
        100u64..100_000,
        any::<[u8; 16]>(),
        any::<[u8; 32]>(),
        any::<[u8; 16]>(),
        any::<(i64, i64, i64, i64)>(),
        0u32..4,
        any::<u32>(),
        MIN_JOURNAL_BLOCKS..2048,
    )
        .prop_filter_map(
            "geometry",
            |(log2, extra, uuid, label, key, t, state, mc, journal)| {
                let bs = 1u64 << log2;
                let inodes = (extra.max(64) / (bs / 256) + 1) * (bs / 256);
                let inodes = inodes.clamp(64, 1 << 20);
                let total = extra + 4096;
                let layout = Layout::compute(total, log2, inodes, journal).ok()?;
                Some(Superblock {
                    version: FORMAT_VERSION,
                    block_log2: log2,
                    feature_compat: 0,
                    feature_incompat: 0,
                    feature_ro_compat: 0,
                    state,
                    total_blocks: total,
                    free_blocks: total - layout.data_start,
                    total_inodes: inodes,
                    free_inodes: inodes - 7,
                    layout,
                    root_ino: ROOT_INO,
                    orphan_head: 0,
                    first_ino: FIRST_INO,
                    uuid,
                    label,
                    hash_key: key,
                    inode_size: INODE_SIZE as u32,
                    mount_count: mc,
                    mkfs_time: t.0,
                    mount_time: t.1,
                    write_time: t.2,
                    check_time: t.3,
                })
            },
        )
}

fn arb_ts() -> impl Strategy<Value = Timestamp> {
    (any::<i64>(), 0u32..1_000_000_000).prop_map(|(sec, nsec)| Timestamp { sec, nsec })
}

fn arb_inode() -> impl Strategy<Value = Inode> {
    let types = prop_oneof![
        Just(S_IFREG),
        Just(S_IFDIR),
        Just(S_IFLNK),
        Just(S_IFCHR),
        Just(S_IFBLK),
        Just(S_IFIFO),
        Just(S_IFSOCK)
    ];
    (
        types,
        0u16..0o7777,
        any::<(u32, u32, u32, u32)>(),
        any::<(u64, u64, u64)>(),
        (arb_ts(), arb_ts(), arb_ts(), arb_ts()),
        proptest::collection::vec(1u8..=255, 1..=FAST_SYMLINK_MAX),
        proptest::collection::vec((0u64..1 << 40, 1u64..1 << 40, 1u32..1000), 0..=5),
        any::<bool>(),
        0u32..32,
    )
        .prop_map(
            |(ft, perm, (uid, gid, nlink, gen), (size, blocks, x), ts, target, exts, fast, fl)| {
                let mut i = Inode::new(ft | perm);
                i.uid = uid;
                i.gid = gid;
                i.nlink = nlink;
                i.generation = gen;
                i.size = size % (MAX_INODE_SIZE + 1);
                i.blocks = blocks;
                i.atime = ts.0;
                i.mtime = ts.1;
                i.ctime = ts.2;
                i.btime = ts.3;
                i.flags = (fl << 3) & INODE_FLAGS_USER;
                i.next_orphan = x % 1000;
                match ft {
                    S_IFDIR => {
                        i.parent = x | 1;
                        i.dir_index_root = x >> 3;
                    }
                    S_IFCHR | S_IFBLK => i.rdev = gen,
                    S_IFLNK => {
                        i.size = 1 + size % MAX_SYMLINK_LEN;
                        if fast {
                            i.set_inline_target(&target).unwrap();
                            i.blocks = 0;
                        }
                    }
                    _ => {}
                }
                if !i.has_inline_data() {
                    let mut logical = 0u64;
                    for (k, (gap, phys, len)) in exts.into_iter().enumerate() {
                        logical += gap;
                        let e = Extent {
                            logical,
                            physical: phys,
                            len,
                            flags: (k as u32) & 1,
                        };
                        node_insert(&mut i.area, NodeForm::Inline, k, &e).unwrap();
                        logical += u64::from(len);
                    }
                }
                i
            },
        )
}

proptest! {
    #[test]
    fn superblock_round_trip(sb in arb_sb()) {
        let mut buf = vec![0u8; SB_SIZE];
        sb.encode(&mut buf).unwrap();
        prop_assert_eq!(Superblock::decode(&buf).unwrap(), sb);
        // Any single-bit flip is caught by the checksum.
        let mut bad = buf.clone();
        bad[100] ^= 0x10;
        prop_assert!(Superblock::decode(&bad).is_err());
    }

    #[test]
    fn inode_round_trip(inode in arb_inode(), ino in 1u64..1 << 32) {
        let mut buf = [0u8; INODE_SIZE];
        inode.encode(ino, &mut buf).unwrap();
        let back = Inode::decode(ino, &buf).unwrap();
        prop_assert_eq!(back, inode);
        // The checksum binds the inode number.
        prop_assert_eq!(Inode::decode(ino + 1, &buf), Err(FormatError::BadChecksum));
        prop_assert!(!inode_slot_is_free(&buf));
    }

    #[test]
    fn extent_round_trip(logical in 0u64..1 << 60, physical in 1u64..1 << 60, len in 1u32.., unw in any::<bool>()) {
        let e = Extent { logical, physical, len, flags: if unw { EXTENT_UNWRITTEN } else { 0 } };
        let mut b = [0u8; EXTENT_REC_SIZE];
        e.encode(&mut b).unwrap();
        prop_assert_eq!(Extent::decode(&b).unwrap(), e);
        prop_assert_eq!(e.map(logical), Some(physical));
        prop_assert_eq!(e.map(logical + u64::from(len)), None);
    }

    #[test]
    fn index_and_dirkey_round_trip(key in any::<u64>(), child in 1u64.., hash in any::<u32>(), off in 0u64..DIR_MAX_SIZE / 8) {
        let r = IndexRec { key, child };
        let mut b = [0u8; INDEX_REC_SIZE];
        r.encode(&mut b).unwrap();
        prop_assert_eq!(IndexRec::decode(&b).unwrap(), r);
        let k = dir_index_key(hash, off * 8).unwrap();
        prop_assert_eq!(dir_key_hash(k), hash);
        prop_assert_eq!(dir_key_offset(k), off * 8);
        let (lo, hi) = dir_hash_range(hash);
        prop_assert!(lo <= k && k <= hi);
        let mut b = [0u8; 8];
        DirKey(k).encode(&mut b).unwrap();
        prop_assert_eq!(DirKey::decode(&b).unwrap(), DirKey(k));
    }

    #[test]
    fn bitmap_ops(log2 in 10u32..=16, bits in proptest::collection::vec(any::<u16>(), 0..200)) {
        let bs = 1usize << log2;
        let mut buf = vec![0u8; bs];
        bitmap_init(&mut buf, 9, BITMAP_KIND_BLOCKS, 3).unwrap();
        bitmap_check(&buf, 9, BITMAP_KIND_BLOCKS, 3).unwrap();
        let n = bitmap_bits_per_block(bs);
        let mut model = BTreeSet::new();
        for b in bits {
            let b = u64::from(b) % n;
            prop_assert_eq!(bitmap_set(&mut buf, b, true).unwrap(), model.contains(&b));
            model.insert(b);
        }
        bitmap_seal(&mut buf).unwrap();
        bitmap_check(&buf, 9, BITMAP_KIND_BLOCKS, 3).unwrap();
        prop_assert_eq!(bitmap_check(&buf, 10, BITMAP_KIND_BLOCKS, 3), Err(FormatError::WrongBlock));
        prop_assert_eq!(bitmap_check(&buf, 9, BITMAP_KIND_BLOCKS, 4), Err(FormatError::WrongOwner));
        prop_assert_eq!(bitmap_count_set(&buf, n), model.len() as u64);
        let first_free = (0..n).find(|b| !model.contains(b));
        prop_assert_eq!(bitmap_find_zero(&buf, 0, n), first_free);
        for &b in &model {
            prop_assert_eq!(bitmap_test(&buf, b), Some(true));
        }
        prop_assert_eq!(bitmap_test(&buf, n), None);
        prop_assert!(bitmap_set(&mut buf, n, true).is_err());
    }

    #[test]
    fn bitmap_runs(
        log2 in 10u32..=13,
        runs in proptest::collection::vec((any::<bool>(), 1u64..300), 0..60),
        start in any::<u16>(),
        end in any::<u16>(),
        nbits in any::<u16>(),
    ) {
        // Runs of set and clear bits of random lengths, so that whole 0x00 and 0xff bytes,
        // byte-crossing runs and single bits all occur.
        let bs = 1usize << log2;
        let mut buf = vec![0u8; bs];
        bitmap_init(&mut buf, 9, BITMAP_KIND_BLOCKS, 3).unwrap();
        let n = bitmap_bits_per_block(bs);
        let mut model = vec![false; n as usize];
        let mut at = 0u64;
        for (set, len) in runs {
            for b in at..(at + len).min(n) {
                bitmap_set(&mut buf, b, set).unwrap();
                model[b as usize] = set;
            }
            at = (at + len).min(n);
        }
        let (start, end) = (u64::from(start) % (n + 10), u64::from(end) % (n + 10));
        let first_set = (start..end.min(n)).find(|&b| model[b as usize]);
        prop_assert_eq!(bitmap_find_set(&buf, start, end), first_set);
        let first_free = (start..end.min(n)).find(|&b| !model[b as usize]);
        prop_assert_eq!(bitmap_find_zero(&buf, start, end), first_free);
        for limit in [n, u64::from(nbits) % (n + 10)] {
            let (mut best, mut run) = (0u64, 0u64);
            for b in 0..limit.min(n) {
                if model[b as usize] { run = 0 } else { run += 1; best = best.max(run) }
            }
            prop_assert_eq!(bitmap_longest_zero_run(&buf, limit), best, "limit {}", limit);
        }
        // The run of clear bits around a clear range inside it: what the allocator keeps
        // its figures exact with after a free.
        for limit in [n, u64::from(nbits) % (n + 10)] {
            let limit = limit.min(n);
            if let Some(b) = (start.min(limit)..limit).find(|&b| !model[b as usize]) {
                let stop = (b..limit).find(|&x| model[x as usize]).unwrap_or(limit);
                let first = (0..b).rev().find(|&x| model[x as usize]).map_or(0, |x| x + 1);
                // Any clear sub-range of the run gives the whole run.
                let end = (b + 1 + u64::from(nbits) % 7).min(stop);
                prop_assert_eq!(bitmap_zero_run_around(&buf, limit, b, end), stop - first,
                    "limit {} range {}..{}", limit, b, end);
            }
        }
    }
}

// ----- nodes -----------------------------------------------------------------

fn keys_of(buf: &[u8], form: NodeForm) -> Vec<u64> {
    let h = node_header(buf, form).unwrap();
    (0..usize::from(h.nr))
        .map(|i| node_key(buf, form, i).unwrap())
        .collect()
}

proptest! {
    /// Insert/remove in a directory-index leaf against a BTreeSet model; the
    /// node always validates and stays sorted.
    #[test]
    fn node_insert_remove_model(ops in proptest::collection::vec((any::<bool>(), 0u64..500), 1..400), log2 in 10u32..=12) {
        let bs = 1usize << log2;
        let mut buf = vec![0u8; bs];
        node_init(&mut buf, NodeForm::Block, TreeKind::DirIndex, 0, 77, 5).unwrap();
        let h = node_header(&buf, NodeForm::Block).unwrap();
        let mut model = BTreeSet::new();
        for (ins, k) in ops {
            if ins {
                match node_search(&buf, NodeForm::Block, k).unwrap() {
                    Ok(_) => {
                        prop_assert!(model.contains(&k));
                        // Inserting a duplicate is refused.
                        let pos = model.range(..k).count();
                        prop_assert!(node_insert(&mut buf, NodeForm::Block, pos, &DirKey(k)).is_err());
                    }
                    Err(pos) => {
                        let r = node_insert(&mut buf, NodeForm::Block, pos, &DirKey(k));
                        if model.len() == usize::from(h.max) {
                            prop_assert_eq!(r, Err(FormatError::Full));
                        } else {
                            r.unwrap();
                            model.insert(k);
                        }
                    }
                }
            } else if let Ok(i) = node_search(&buf, NodeForm::Block, k).unwrap() {
                node_remove(&mut buf, NodeForm::Block, i).unwrap();
                model.remove(&k);
            }
            node_seal(&mut buf, NodeForm::Block).unwrap();
            let h = node_check(&buf, NodeForm::Block, TreeKind::DirIndex, 77, 5).unwrap();
            prop_assert_eq!(usize::from(h.nr), model.len());
        }
        prop_assert_eq!(keys_of(&buf, NodeForm::Block), model.iter().copied().collect::<Vec<_>>());
        // Out-of-order insertion is refused.
        if model.len() >= 2 && model.len() < usize::from(h.max) {
            let last = *model.iter().last().unwrap();
            prop_assert_eq!(node_insert(&mut buf, NodeForm::Block, 0, &DirKey(last + 1)), Err(FormatError::OutOfOrder));
        }
    }

    /// Splitting keeps every record exactly once, in order, with the
    /// separator equal to the first key of the right node.
    #[test]
    fn node_split_keeps_records(n in 2usize..169, log2 in 12u32..=12, at_frac in 0.0f64..1.0) {
        let bs = 1usize << log2;
        let mut left = vec![0u8; bs];
        node_init(&mut left, NodeForm::Block, TreeKind::Extent, 0, 10, 3).unwrap();
        let exts: Vec<Extent> = (0..n as u64)
            .map(|i| Extent { logical: i * 10, physical: 1000 + i * 10, len: 5, flags: 0 })
            .collect();
        for (i, e) in exts.iter().enumerate() {
            node_insert(&mut left, NodeForm::Block, i, e).unwrap();
        }
        let at = 1 + ((n - 1) as f64 * at_frac) as usize;
        let at = at.min(n - 1);
        let mut right = vec![0u8; bs];
        let sep = node_split_at(&mut left, NodeForm::Block, at, &mut right, 11, 3).unwrap();
        let hl = node_check(&left, NodeForm::Block, TreeKind::Extent, 10, 3).unwrap();
        let hr = node_check(&right, NodeForm::Block, TreeKind::Extent, 11, 3).unwrap();
        prop_assert_eq!(usize::from(hl.nr), at);
        prop_assert_eq!(usize::from(hr.nr), n - at);
        prop_assert_eq!(sep, exts[at].logical);
        let mut all: Vec<Extent> = (0..at).map(|i| node_get(&left, NodeForm::Block, i).unwrap()).collect();
        all.extend((0..n - at).map(|i| node_get::<Extent>(&right, NodeForm::Block, i).unwrap()));
        prop_assert_eq!(all, exts);
    }

    /// Push-down of an inline root keeps its records in the new child and
    /// leaves a one-record interior root; pull-up undoes it.
    #[test]
    fn push_down_and_pull_up(n in 1usize..=5) {
        let mut area = [0u8; INLINE_ROOT_SIZE];
        node_init(&mut area, NodeForm::Inline, TreeKind::Extent, 0, 0, 0).unwrap();
        let exts: Vec<Extent> = (0..n as u64).map(|i| Extent { logical: i * 3, physical: 50 + i, len: 1, flags: 0 }).collect();
        for (i, e) in exts.iter().enumerate() {
            node_insert(&mut area, NodeForm::Inline, i, e).unwrap();
        }
        let orig = area;
        let mut child = vec![0u8; 4096];
        node_push_down(&mut area, NodeForm::Inline, &mut child, 99, 12).unwrap();
        let h = node_check(&area, NodeForm::Inline, TreeKind::Extent, 0, 0).unwrap();
        prop_assert_eq!((h.level, h.nr, h.max), (1, 1, 7));
        prop_assert_eq!(node_get::<IndexRec>(&area, NodeForm::Inline, 0).unwrap(), IndexRec { key: 0, child: 99 });
        let hc = node_check(&child, NodeForm::Block, TreeKind::Extent, 99, 12).unwrap();
        prop_assert_eq!(usize::from(hc.nr), n);
        prop_assert!(node_pull_up(&mut area, NodeForm::Inline, &child).unwrap());
        prop_assert_eq!(area, orig);
    }

    #[test]
    fn extent_leaf_rejects_overlap(a in 0u64..100, la in 1u32..50, b in 0u64..100) {
        let mut area = [0u8; INLINE_ROOT_SIZE];
        node_init(&mut area, NodeForm::Inline, TreeKind::Extent, 0, 0, 0).unwrap();
        let (x, y) = if a <= b { (a, b) } else { (b, a) };
        if x == y { return Ok(()); }
        node_insert(&mut area, NodeForm::Inline, 0, &Extent { logical: x, physical: 5, len: la, flags: 0 }).unwrap();
        node_insert(&mut area, NodeForm::Inline, 1, &Extent { logical: y, physical: 500, len: 1, flags: 0 }).unwrap();
        let ok = node_check(&area, NodeForm::Inline, TreeKind::Extent, 0, 0).is_ok();
        prop_assert_eq!(ok, x + u64::from(la) <= y);
    }
}

// ----- directories -------------------------------------------------------------

fn arb_name() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(prop_oneof![b'a'..=b'z', 1u8..=46, 48u8..=255], 1..=40)
        .prop_filter("reserved names", |n| n != b"." && n != b"..")
}

proptest! {
    #[test]
    fn dir_block_model(ops in proptest::collection::vec((any::<bool>(), arb_name(), 8u64..1000), 1..200), log2 in 10u32..=12) {
        let bs = 1usize << log2;
        let mut buf = vec![0u8; bs];
        dirblock_init(&mut buf, 123, 45).unwrap();
        dirblock_check(&buf, 123, 45).unwrap();
        prop_assert!(dirblock_is_empty(&buf).unwrap());
        // name -> (offset, ino)
        let mut model: std::collections::BTreeMap<Vec<u8>, (usize, u64)> = Default::default();
        for (add, name, ino) in ops {
            if add {
                if model.contains_key(&name) { continue; }
                // An entry fits exactly when it is no larger than the largest slot.
                let fits = dirent_size(name.len()) <= dirblock_largest_slot(&buf).unwrap();
                let before = buf.clone();
                match dirblock_insert_slot(&mut buf, &name, ino, FT_REG) {
                    Ok((Some(off), slot)) => {
                        prop_assert!(fits);
                        prop_assert_eq!(slot, dirblock_largest_slot(&buf).unwrap());
                        model.insert(name, (off, ino));
                    }
                    Ok((None, slot)) => {
                        prop_assert!(!fits);
                        prop_assert!(buf == before, "a full block changed");
                        prop_assert_eq!(slot, dirblock_largest_slot(&buf).unwrap());
                    }
                    Err(e) => panic!("{e:?}"),
                }
            } else if let Some((off, _)) = model.remove(&name) {
                let freed = dirblock_remove(&mut buf, off).unwrap();
                // The free entry left covers the freed one, starting at it or before it.
                let (start, e) = RawIter::new(&buf)
                    .map(|r| r.unwrap())
                    .filter(|&(o, _)| o <= off)
                    .last()
                    .unwrap();
                prop_assert!(e.is_free() && e.rec_len == freed && start + freed > off);
                prop_assert_eq!(dirblock_largest_slot(&buf).unwrap() >= freed, true);
            }
            dirblock_seal(&mut buf).unwrap();
            dirblock_check(&buf, 123, 45).unwrap();
            // Free entries are merged, and hold zeroes but for their length; the slack after a
            // used entry's name is zero too (an insertion writes only the name's padding).
            let raw: Vec<(usize, RawEntry)> = RawIter::new(&buf).map(|r| r.unwrap()).collect();
            for w in raw.windows(2) {
                prop_assert!(!(w[0].1.is_free() && w[1].1.is_free()), "free entries in a row");
            }
            for &(o, e) in &raw {
                if e.is_free() {
                    prop_assert!(buf[o..o + 8].iter().all(|&b| b == 0));
                    prop_assert!(buf[o + 10..o + e.rec_len].iter().all(|&b| b == 0));
                } else {
                    let name_end = o + DIRENT_FIXED + e.name_len;
                    prop_assert!(buf[name_end..o + e.rec_len].iter().all(|&b| b == 0), "slack not zero");
                }
            }
            // The lengths-only walk sees the entries the checking walk sees.
            let full: Vec<(usize, u64)> = DirIter::new(&buf).map(|r| r.unwrap()).map(|(o, e)| (o, e.ino)).collect();
            prop_assert_eq!(raw.iter().map(|&(o, e)| (o, e.ino)).collect::<Vec<_>>(), full);
            for o in (DIR_HDR_SIZE..bs).step_by(8) {
                prop_assert_eq!(dirblock_is_boundary(&buf, o), raw.iter().any(|&(x, _)| x == o));
            }
            // Entries never move: every model entry is found at its offset.
            for (n, &(off, ino)) in &model {
                let e = dirent_at(&buf, off).unwrap();
                prop_assert_eq!(e.name, &n[..]);
                prop_assert_eq!(e.ino, ino);
                prop_assert_eq!(dirblock_find(&buf, n).unwrap().map(|x| x.0), Some(off));
            }
            let used = DirIter::new(&buf).filter(|r| !r.as_ref().unwrap().1.is_free()).count();
            prop_assert_eq!(used, model.len());
            // readdir from any position sees the next used entry.
            let first = model.values().map(|x| x.0).min();
            prop_assert_eq!(dirblock_next_used(&buf, 0).unwrap().map(|x| x.0), first);
            if let Some((n, &(off, _))) = model.iter().next() {
                let after = model.values().map(|x| x.0).filter(|&o| o > off).min();
                prop_assert_eq!(dirblock_next_used(&buf, off + 1).unwrap().map(|x| x.0), after);
                let mut b2 = buf.clone();
                dirent_set_target(&mut b2, off, 4242, FT_DIR).unwrap();
                let e = dirent_at(&b2, off).unwrap();
                prop_assert_eq!((e.ino, e.file_type, e.name), (4242, FT_DIR, &n[..]));
            }
        }
    }
}

#[test]
fn names() {
    assert!(name_valid(b"a"));
    assert!(name_valid(&[b'x'; 255]));
    assert!(!name_valid(&[b'x'; 256]));
    assert!(!name_valid(b""));
    assert!(!name_valid(b"."));
    assert!(!name_valid(b".."));
    assert!(name_valid(b"..."));
    assert!(!name_valid(b"a/b"));
    assert!(!name_valid(b"a\0b"));
    assert_eq!(dirent_size(1), 16);
    assert_eq!(dirent_size(4), 16);
    assert_eq!(dirent_size(5), 24);
    assert_eq!(dirent_size(255), 272);
    let key = *b"0123456789abcdef";
    let h = siphash::siphash24(&key, b"123456789");
    assert_eq!(name_hash(&key, b"123456789"), (h ^ (h >> 32)) as u32);
    assert_eq!(file_type_of_mode(S_IFDIR | 0o755), FT_DIR);
    assert_eq!(dir_index_key(1, 12), None);
    assert_eq!(dir_index_key(1, DIR_MAX_SIZE), None);
}

#[test]
fn layout_limits() {
    let j = MIN_JOURNAL_BLOCKS;
    assert!(Layout::compute(j + 100, 12, 64, j).is_ok());
    assert!(Layout::compute(j, 12, 64, j).is_err());
    assert!(Layout::compute(10, 12, 64, j).is_err());
    assert!(Layout::compute(1000, 9, 64, j).is_err());
    assert!(Layout::compute(1000, 17, 64, j).is_err());
    assert!(Layout::compute(1000, 12, 10, j).is_err());
    assert!(Layout::compute(MAX_BLOCKS + 1, 12, 64, j).is_err());
    // The journal size is bounded, and must leave room for data.
    assert!(Layout::compute(100_000, 12, 64, j - 1).is_err());
    assert!(Layout::compute(1 << 22, 12, 64, MAX_JOURNAL_BLOCKS).is_ok());
    assert!(Layout::compute(1 << 22, 12, 64, MAX_JOURNAL_BLOCKS + 1).is_err());
    assert!(Layout::compute(100, 12, 64, 100).is_err());
    let l = Layout::compute(262_144, 12, 65_536, default_journal_blocks(262_144)).unwrap();
    assert_eq!(
        (
            l.block_bitmap_start,
            l.block_bitmap_blocks,
            l.inode_bitmap_blocks,
            l.inode_table_blocks,
            l.journal_start,
            l.journal_blocks,
            l.data_start
        ),
        (1, 9, 3, 4096, 4109, 8192, 4109 + 8192)
    );
}

// ----- no panics on arbitrary input ---------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1100), off in 0usize..1100, key in any::<u64>(), n in 0u64..100_000) {
        let _ = Superblock::decode(&bytes);
        if let Ok(sb) = Superblock::decode_raw(&bytes) {
            let _ = sb.validate();
            let _ = sb.inode_location(n);
            let _ = sb.block_bit_location(n);
            let _ = sb.inode_bit_location(n);
            let _ = sb.data_range_valid(n, key);
            let _ = sb.max_file_blocks();
            let _ = sb.block_size();
        }
        let _ = Inode::decode(n, &bytes);
        if let Ok(i) = Inode::decode_unchecked(&bytes) {
            let _ = i.validate();
            let _ = i.inline_target();
        }
        let _ = meta_check(&bytes, NODE_MAGIC, n);
        for form in [NodeForm::Inline, NodeForm::Block] {
            for kind in [TreeKind::Extent, TreeKind::DirIndex] {
                let _ = node_check(&bytes, form, kind, n, key);
            }
            let _ = node_header(&bytes, form);
            let _ = node_key(&bytes, form, off);
            let _ = node_get::<Extent>(&bytes, form, off);
            let _ = node_get::<IndexRec>(&bytes, form, off);
            let _ = node_get::<DirKey>(&bytes, form, off);
            let _ = node_search(&bytes, form, key);
            let _ = node_find_le(&bytes, form, key);
            let mut m = bytes.clone();
            let _ = node_insert(&mut m, form, off, &DirKey(key));
            let _ = node_insert(&mut m, form, off, &Extent { logical: key, physical: 1, len: 1, flags: 0 });
            let _ = node_insert(&mut m, form, off, &IndexRec { key, child: 3 });
            let _ = node_set_key(&mut m, form, off, key);
            let _ = node_remove(&mut m, form, off);
            let mut r = vec![0u8; 1024];
            let _ = node_split(&mut m, form, &mut r, 5, 6);
            let _ = node_split_at(&mut m, form, off, &mut r, 5, 6);
            let _ = node_push_down(&mut m, form, &mut r, 5, 6);
            let _ = node_pull_up(&mut m, form, &bytes);
            let _ = node_set_max(&mut m, form, off as u16);
        }
        let _ = bitmap_check(&bytes, n, BITMAP_KIND_INODES, key);
        let _ = bitmap_test(&bytes, key);
        let _ = bitmap_find_zero(&bytes, n, key);
        let _ = bitmap_count_set(&bytes, key);
        let _ = bitmap_find_set(&bytes, n, key);
        let _ = bitmap_longest_zero_run(&bytes, key);
        let _ = bitmap_zero_run_around(&bytes, key, n % 5000, key % 5000);
        let mut m = bytes.clone();
        let _ = bitmap_set(&mut m, key % 10_000, true);
        let _ = dirblock_check(&bytes, n, key);
        let _ = dirent_at(&bytes, off);
        for e in DirIter::new(&bytes) { let _ = e; }
        let _ = dirblock_find(&bytes, b"abc");
        let _ = dirblock_is_empty(&bytes);
        let _ = dirblock_insert(&mut m, b"hello", 9, FT_REG);
        let _ = dirblock_insert_slot(&mut m, b"hello", 9, FT_REG);
        let _ = dirblock_largest_slot(&bytes);
        let _ = dirblock_remove(&mut m, off);
        for e in RawIter::new(&bytes) { let _ = e; }
        let _ = dirent_raw_at(&bytes, off);
        let _ = dirblock_is_boundary(&bytes, off);
        let _ = Extent::decode(&bytes);
        let _ = IndexRec::decode(&bytes);
    }
}

#[test]
fn inode_size_limit() {
    let mut i = Inode::new(S_IFREG | 0o644);
    let mut buf = [0u8; INODE_SIZE];
    i.size = MAX_INODE_SIZE;
    i.encode(7, &mut buf).unwrap();
    assert_eq!(Inode::decode(7, &buf).unwrap().size, MAX_INODE_SIZE);
    i.size = MAX_INODE_SIZE + 1;
    assert_eq!(i.validate(), Err(FormatError::Invalid(SIZE_TOO_LARGE)));
}

#[test]
fn rdev_encoding_matches_new_encode_dev() {
    // MKDEV(1, 3) in the kernel is 1 << 20 | 3; user space (and the disk) see 0x103.
    assert_eq!(rdev_to_disk(1 << 20 | 3), 0x103);
    assert_eq!(rdev_from_disk(0x103), 1 << 20 | 3);
    // A minor above 255 and a major above 255: MKDEV(259, 70000).
    let k = 259 << 20 | 70000;
    let d = rdev_to_disk(k);
    assert_eq!(d, (70000 & 0xff) | (259 << 8) | ((70000 & !0xff) << 12));
    assert_eq!(rdev_from_disk(d), k);
    for major in [0u32, 1, 8, 255, 256, 4095] {
        for minor in [0u32, 1, 255, 256, 65535, 0xf_ffff] {
            let k = major << 20 | minor;
            assert_eq!(rdev_from_disk(rdev_to_disk(k)), k, "{major}:{minor}");
        }
    }
}
