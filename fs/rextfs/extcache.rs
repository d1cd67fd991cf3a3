// SPDX-License-Identifier: GPL-2.0

//! The extent cache of a regular file: the last few mappings (extents and holes) that lookups
//! of its extent tree found, so that the mapping requests of iomap that fall into one of them
//! (random reads and overwrites, the blocks of one extent mapped folio by folio) are answered
//! without walking the tree, checking its inline root again and looking its node blocks up
//! in the buffer cache. It plays the part of ext4's extent status tree, kept much smaller: a
//! few entries, replaced in turn, and no entry outlives a change of the tree.
//!
//! Coherence: every entry records the extent map sequence ([`RxInode::map_seq`]) under which
//! it was found, and is only used while the sequence is unchanged. The sequence is bumped,
//! under the inode's disk lock, by every change of the tree, and the cache is only read and
//! filled with that lock held (and the sequence read under it), so no entry is used after a
//! change of the tree it came from.
//!
//! [`RxInode::map_seq`]: crate::inode::RxInode::map_seq

use crate::extent::Mapping;
use kernel::prelude::{init, Init};

/// Number of mappings a file's cache holds.
const ENTRIES: usize = 4;

/// One cached mapping: what a lookup returned for a block in `start..end`.
#[derive(Clone, Copy)]
struct Entry {
    /// First logical block the entry answers for.
    start: u64,
    /// Logical block just past the last one it answers for.
    end: u64,
    /// The answer.
    mapping: Mapping,
}

/// The mappings last found in one file's extent tree, under one extent map sequence.
pub(crate) struct ExtentCache {
    /// The extent map sequence the entries were found under.
    seq: u64,
    /// The entries; `None` for an unused one.
    entries: [Option<Entry>; ENTRIES],
    /// The entry the next new mapping replaces.
    next: usize,
}

impl ExtentCache {
    /// An empty cache.
    #[cfg(CONFIG_REXTFS_KUNIT_TEST)]
    pub(crate) const fn new() -> Self {
        ExtentCache {
            seq: 0,
            entries: [None; ENTRIES],
            next: 0,
        }
    }

    /// An initialiser of an empty cache in place (one is made at every miss of the inode
    /// cache; a value would be copied twice on its way there). The entries are initialised
    /// one by one: an array value (`[None; ENTRIES]`), even inside `init!`, was built aside
    /// and copied.
    pub(crate) fn init() -> impl Init<Self> {
        init!(ExtentCache {
            seq: 0,
            entries <- pin_init::init_array_from_fn(|_| None),
            next: 0,
        })
    }

    /// The mapping of logical block `lblk`, if the cache holds one found while the extent map
    /// sequence was `seq` (the current one, read under the inode's disk lock).
    pub(crate) fn get(&self, seq: u64, lblk: u64) -> Option<Mapping> {
        if seq != self.seq {
            return None;
        }
        self.entries
            .iter()
            .flatten()
            .find(|e| e.start <= lblk && lblk < e.end)
            .map(|e| e.mapping)
    }

    /// Records `mapping`, which a lookup of logical block `lblk` found while the extent map
    /// sequence was `seq`. Entries of an older sequence are dropped first.
    pub(crate) fn put(&mut self, seq: u64, lblk: u64, mapping: Mapping) {
        if seq != self.seq {
            self.entries = [None; ENTRIES];
            self.next = 0;
            self.seq = seq;
        }
        let (start, end) = match mapping {
            Mapping::Mapped(e) => (e.logical, e.logical_end()),
            // A hole is known from `lblk` on (the lookup says nothing of the blocks before).
            Mapping::Hole { end } => (lblk, end),
        };
        if start >= end || !(start..end).contains(&lblk) {
            return;
        }
        if let Some(slot) = self.entries.get_mut(self.next) {
            *slot = Some(Entry {
                start,
                end,
                mapping,
            });
        }
        self.next = (self.next + 1) % ENTRIES;
    }
}

#[cfg(CONFIG_REXTFS_KUNIT_TEST)]
#[kernel::prelude::kunit_tests(rextfs_extent_cache)]
mod tests {
    use super::*;
    use crate::format::Extent;

    fn ext(logical: u64, physical: u64, len: u32) -> Mapping {
        Mapping::Mapped(Extent {
            logical,
            physical,
            len,
            flags: 0,
        })
    }

    fn phys(m: Option<Mapping>, lblk: u64) -> Option<u64> {
        match m? {
            Mapping::Mapped(e) => e.map(lblk),
            Mapping::Hole { .. } => None,
        }
    }

    #[test]
    fn answers_inside_an_extent_only() {
        let mut c = ExtentCache::new();
        c.put(7, 12, ext(10, 100, 5));
        assert_eq!(phys(c.get(7, 10), 10), Some(100));
        assert_eq!(phys(c.get(7, 14), 14), Some(104));
        assert!(c.get(7, 9).is_none());
        assert!(c.get(7, 15).is_none());
    }

    #[test]
    fn holes_are_known_from_the_block_looked_up() {
        let mut c = ExtentCache::new();
        c.put(1, 20, Mapping::Hole { end: 30 });
        assert!(matches!(c.get(1, 20), Some(Mapping::Hole { end: 30 })));
        assert!(matches!(c.get(1, 29), Some(Mapping::Hole { end: 30 })));
        // Before the block looked up, the lookup said nothing.
        assert!(c.get(1, 19).is_none());
        assert!(c.get(1, 30).is_none());
    }

    #[test]
    fn a_new_sequence_forgets_everything() {
        let mut c = ExtentCache::new();
        c.put(1, 0, ext(0, 50, 8));
        assert!(c.get(2, 0).is_none());
        c.put(2, 8, ext(8, 70, 8));
        // The entry of sequence 1 is gone, even for a caller that still sees sequence 1.
        assert!(c.get(1, 0).is_none());
        assert!(c.get(2, 0).is_none());
        assert_eq!(phys(c.get(2, 9), 9), Some(71));
    }

    #[test]
    fn the_oldest_entry_makes_room() {
        let mut c = ExtentCache::new();
        for i in 0..=ENTRIES as u64 {
            c.put(3, i * 10, ext(i * 10, 1000 + i * 10, 10));
        }
        assert!(c.get(3, 0).is_none());
        for i in 1..=ENTRIES as u64 {
            assert_eq!(
                phys(c.get(3, i * 10 + 1), i * 10 + 1),
                Some(1000 + i * 10 + 1)
            );
        }
    }

    #[test]
    fn ignores_a_mapping_that_does_not_answer_for_its_block() {
        let mut c = ExtentCache::new();
        c.put(4, 40, ext(10, 100, 5));
        c.put(4, 40, Mapping::Hole { end: 40 });
        assert!(c.get(4, 10).is_none());
        assert!(c.get(4, 40).is_none());
    }
}
