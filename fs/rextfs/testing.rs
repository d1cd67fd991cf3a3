// SPDX-License-Identifier: GPL-2.0

//! Helpers shared by the KUnit suites of rextfs: a small deterministic random number
//! generator, an in-memory [`NodeStore`] for the tree code, and the [`check!`] macro.
//!
//! The stores use `RefCell::try_borrow*`, never the panicking `borrow*`.
//!
//! The suites are property tests: many random operations on the code under test and on a
//! simple model, with the invariants checked after each. Checks return an error instead of
//! panicking, so that a failing case logs what went wrong and the suite goes on.

use crate::meta::{NodeRead, NodeStore};
use crate::FormatError;
use core::cell::{Cell, RefCell};
use kernel::prelude::*;

/// A xorshift64* generator. Deterministic, so that a failure repeats with the same seed.
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator started from `seed` (any value).
    pub(crate) fn new(seed: u64) -> Self {
        Rng((seed ^ 0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`0` when `n` is 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// A number in `lo..=hi` (`lo` when `hi < lo`).
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi < lo {
            lo
        } else {
            lo + self.below(hi - lo + 1)
        }
    }

    /// True with probability `percent` / 100.
    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Returns `Err(EINVAL)` from the enclosing function, logging the failed condition, its place
/// and an explanation (`pr_err!` arguments, no trailing newline), when the condition is false.
macro_rules! check {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            kernel::pr_err!(
                "kunit check failed at {}:{}: {}\n",
                file!(),
                line!(),
                stringify!($cond)
            );
            kernel::pr_err!($($msg)+);
            return Err(EINVAL);
        }
    };
}
pub(crate) use check;

/// First block number [`MemStore::in_data_area`] accepts for data extents in the tests: node
/// blocks are numbered below it, so a freed range tells what it was.
pub(crate) const DATA_BASE: u64 = 1 << 20;

/// Node blocks in memory, for the extent tree and directory index code under test. Block 0 is
/// never handed out; freed blocks are reused.
pub(crate) struct MemStore {
    block_size: usize,
    limit: Cell<usize>,
    blocks: RefCell<KVec<Option<KVec<u8>>>>,
}

impl MemStore {
    /// A store of at most `limit` node blocks of `block_size` bytes.
    pub(crate) fn new(block_size: usize, limit: usize) -> Result<Self> {
        let mut blocks = KVec::new();
        blocks.push(None, GFP_KERNEL)?;
        Ok(MemStore {
            block_size,
            limit: Cell::new(limit),
            blocks: RefCell::new(blocks),
        })
    }

    /// From now on, allocations fail with `ENOSPC` once `limit` blocks are in use.
    pub(crate) fn set_limit(&self, limit: usize) {
        self.limit.set(limit);
    }

    /// Number of blocks allocated and not freed.
    pub(crate) fn in_use(&self) -> usize {
        self.blocks
            .try_borrow()
            .map_or(usize::MAX, |b| b.iter().filter(|b| b.is_some()).count())
    }

    /// Whether block `b` is allocated.
    pub(crate) fn allocated(&self, b: u64) -> bool {
        usize::try_from(b)
            .ok()
            .and_then(|i| Some(self.blocks.try_borrow().ok()?.get(i)?.is_some()))
            .unwrap_or(false)
    }
}

impl NodeRead for MemStore {
    fn dev_id(&self) -> &CStr {
        c"kunit"
    }

    fn node_size(&self) -> usize {
        self.block_size
    }

    fn in_data_area(&self, start: u64, len: u64) -> bool {
        start != 0 && start.checked_add(len).is_some_and(|e| e <= 2 * DATA_BASE)
    }

    fn read_node_block(&self, blockno: u64) -> Result<KVec<u8>> {
        let blocks = self.blocks.try_borrow().map_err(|_| EBUSY)?;
        let b = usize::try_from(blockno).map_err(|_| EIO)?;
        let Some(Some(buf)) = blocks.get(b) else {
            pr_err!("kunit store: read of unallocated block {}\n", blockno);
            return Err(EIO);
        };
        if let Err(e) = crate::format::node_check_self(buf, blockno) {
            return Err(self.corrupt("node", e));
        }
        let mut copy = KVec::with_capacity(buf.len(), GFP_KERNEL)?;
        copy.extend_from_slice(buf, GFP_KERNEL)?;
        Ok(copy)
    }

    fn corrupt(&self, what: &str, e: FormatError) -> Error {
        pr_err!("kunit store: corrupted {}: {}\n", what, e.as_str());
        EFSCORRUPTED
    }
}

impl NodeStore for MemStore {
    fn write_node_block(&self, blockno: u64, buf: &[u8]) -> Result {
        let mut blocks = self.blocks.try_borrow_mut().map_err(|_| EBUSY)?;
        let b = usize::try_from(blockno).map_err(|_| EIO)?;
        match blocks.get_mut(b) {
            Some(Some(dst)) if dst.len() == buf.len() => {
                dst.copy_from_slice(buf);
                // The store seals, as the journal's commit does on the device.
                crate::format::node_seal(dst, crate::format::NodeForm::Block).map_err(|_| EIO)
            }
            _ => {
                pr_err!("kunit store: bad write of block {}\n", blockno);
                Err(EIO)
            }
        }
    }

    fn modify_node_block<R>(
        &self,
        blockno: u64,
        f: impl FnOnce(&mut [u8]) -> core::result::Result<(R, bool), crate::meta::BlockFail>,
    ) -> Result<R> {
        let mut blocks = self.blocks.try_borrow_mut().map_err(|_| EBUSY)?;
        let b = usize::try_from(blockno).map_err(|_| EIO)?;
        let Some(Some(buf)) = blocks.get_mut(b) else {
            pr_err!("kunit store: change of unallocated block {}\n", blockno);
            return Err(EIO);
        };
        if let Err(e) = crate::format::node_check_self(buf, blockno) {
            drop(blocks);
            return Err(self.corrupt("node", e));
        }
        let (r, changed) = f(buf).map_err(|e| e.logged(|e| self.corrupt("node", e)))?;
        if changed {
            crate::format::node_seal(buf, crate::format::NodeForm::Block).map_err(|_| EIO)?;
        }
        Ok(r)
    }

    fn alloc_node_block(&self, _goal: u64) -> Result<u64> {
        if self.in_use() >= self.limit.get() {
            return Err(ENOSPC);
        }
        let mut blocks = self.blocks.try_borrow_mut().map_err(|_| EBUSY)?;
        let buf = KVec::from_elem(0u8, self.block_size, GFP_KERNEL)?;
        if let Some((i, slot)) = blocks
            .iter_mut()
            .enumerate()
            .skip(1)
            .find(|(_, b)| b.is_none())
        {
            *slot = Some(buf);
            return Ok(i as u64);
        }
        blocks.push(Some(buf), GFP_KERNEL)?;
        Ok(blocks.len() as u64 - 1)
    }

    fn free_node_block(&self, blockno: u64) -> Result {
        let mut blocks = self.blocks.try_borrow_mut().map_err(|_| EBUSY)?;
        let b = usize::try_from(blockno).map_err(|_| EIO)?;
        match blocks.get_mut(b) {
            Some(slot @ Some(_)) => {
                *slot = None;
                Ok(())
            }
            _ => {
                pr_err!("kunit store: freeing free block {}\n", blockno);
                Err(EFSCORRUPTED)
            }
        }
    }
}

/// Inserts `x` at position `i` of `v`, shifting the rest up.
pub(crate) fn vec_insert<T>(v: &mut KVec<T>, i: usize, x: T) -> Result {
    v.reserve(1, GFP_KERNEL)?;
    v.insert_within_capacity(i, x).map_err(|_| EINVAL)
}

/// Removes and returns element `i` of `v`, shifting the rest down.
pub(crate) fn vec_remove<T>(v: &mut KVec<T>, i: usize) -> Result<T> {
    v.remove(i).map_err(|_| EINVAL)
}
