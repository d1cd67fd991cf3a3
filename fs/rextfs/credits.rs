// SPDX-License-Identifier: GPL-2.0

//! Journal credits: the largest number of distinct metadata blocks each step of an operation
//! may change, given to [`crate::journal::start`] and [`crate::journal::Handle::extend`].
//!
//! Every figure is a worst case built from the worst cases of the pieces an operation uses
//! (sums, never relying on two pieces touching the same block), so it is an upper bound, not
//! an estimate. The blocks are:
//! - inode table blocks ([`INODE`]: one inode slot, holding the inline root of its extent
//!   tree);
//! - bitmap blocks: an allocation sets bits in one bitmap block ([`ALLOC`]); freeing a run of
//!   at most `bitmap_bits_per_block` blocks clears bits in at most two ([`FREE_RUN`]); freeing
//!   a single node block is an [`ALLOC`]-sized change too;
//! - extent tree and directory index node blocks: written along one root-to-leaf path, and
//!   new ones written after a split;
//! - directory blocks;
//! - the super block ([`SUPER`]): its in-memory copy (free counts, orphan head, label) is
//!   logged by the journal at commit, not written by the operations; it is counted once in
//!   every step that changes it.
//!
//! Long operations (truncation, hole punching, collapse and insert range, conversion of
//! unwritten extents, freeing an inode) are chains of bounded steps: a step handles at most
//! the number of extents (or leaves) given here, and [`crate::journal::Handle::extend`] runs
//! between two steps, where the file system is consistent, with no lock of rextfs held (the
//! inodes' disk mutexes included): extending may wait for the running transaction to commit,
//! which waits for every other open handle, whose task may be waiting for such a lock.

use crate::format;

/// Levels of node blocks an extent tree may have below its inline root (the root of level
/// `format::MAX_LEVEL` has that many block levels under it; it cannot split any more).
const LEVELS: u32 = format::MAX_LEVEL as u32;

/// Index records the inline root of an extent tree holds (its 128-byte area minus the 8-byte
/// header, 16 bytes a record): the most leaves `collapse_leaves` folds back into the root.
const INLINE_INDEX_RECORDS: u32 =
    ((format::INLINE_ROOT_SIZE - format::INLINE_HDR_SIZE) / format::INDEX_REC_SIZE) as u32;

/// The inode table block holding one inode slot (the inline extent tree root is in it).
pub(crate) const INODE: u32 = 1;

/// The super block: free counts, orphan list head, label (logged from `SbState.disk` at
/// commit). Counted in every step that allocates, frees, or changes the orphan list or label.
pub(crate) const SUPER: u32 = 1;

/// One allocation (`alloc_run` sets bits in one bitmap block only), or freeing one block.
pub(crate) const ALLOC: u32 = 1;

/// Freeing one run of at most `bitmap_bits_per_block` blocks: it spans at most two bitmap
/// blocks. Steps never free longer runs at once.
pub(crate) const FREE_RUN: u32 = 2;

/// One extent insertion (`TreeCtx::insert`): every node block on the path is written
/// (`LEVELS`), every one of them may split and the root may push its records down into a new
/// block — at most `LEVELS` new nodes in all (a root of level `LEVELS` cannot split) — each
/// new node written and allocated (one bitmap block each). The inline root is in the inode,
/// counted by the caller.
pub(crate) const TREE_INSERT: u32 = 3 * LEVELS;

/// Shrinking an extent tree root (`shrink_root`, run by `TreeCtx::set_extent`,
/// `TreeCtx::truncate*` and `TreeCtx::compact`): each pull-up frees one node and lowers the
/// root by a level (at most `LEVELS`), and folding the leaves of a level-1 root back into it
/// frees at most [`INLINE_INDEX_RECORDS`] leaves: one bitmap block per freed node.
pub(crate) const TREE_SHRINK: u32 = LEVELS + INLINE_INDEX_RECORDS;

/// Replacing or removing one extent (`TreeCtx::set_extent`): the node blocks on its path are
/// written (`LEVELS`), the nodes it empties are freed (at most one per level, `LEVELS` bitmap
/// blocks), then the root shrinks ([`TREE_SHRINK`]).
pub(crate) const TREE_SET: u32 = 2 * LEVELS + TREE_SHRINK;

/// `TreeCtx::replace` of one extent by pieces of which `inserted` are new extents: one
/// [`TREE_SET`] and `inserted` [`TREE_INSERT`]s, and if an insertion fails, the undo: the
/// pieces already inserted removed and the old extent set back (`inserted` more
/// [`TREE_SET`]s at most).
const fn tree_replace(inserted: u32) -> u32 {
    (inserted + 1) * TREE_SET + inserted * TREE_INSERT
}

/// `TreeCtx::merge_at`: at most two merges, each removing one extent and growing another
/// (four [`TREE_SET`]s).
pub(crate) const TREE_MERGE: u32 = 4 * TREE_SET;

/// Allocating one run of data blocks for a file and mapping it (`iomap_begin` of a write into
/// a hole, one step of `fallocate` preallocation or zeroing): the bitmap block of the run
/// ([`ALLOC`]), the extent insertion ([`TREE_INSERT`]; on failure the run is freed again, in
/// the same bitmap block), the inode and the free count.
pub(crate) const ALLOC_EXTENT: u32 = ALLOC + TREE_INSERT + INODE + SUPER;

/// Extents removed (or cut) by one step of a truncation (`TreeCtx::truncate_step`).
pub(crate) const TRUNCATE_EXTENTS: u32 = 8;

/// One truncation step: at most [`TRUNCATE_EXTENTS`] extents removed from the end, holding at
/// most `bitmap_bits_per_block` blocks together. Written: the inode and the last node of each
/// level that is left non-empty (`LEVELS`). Freed: the data runs ([`FREE_RUN`] each), the
/// nodes emptied (each emptied node holds one emptied node or extent removed in this step, so
/// at most [`TRUNCATE_EXTENTS`] per level), and what the root shrinking frees.
pub(crate) const TRUNCATE_STEP: u32 =
    INODE + SUPER + LEVELS + TRUNCATE_EXTENTS * FREE_RUN + TRUNCATE_EXTENTS * LEVELS + TREE_SHRINK;

/// Extents handled by one step of a hole punch (`TreeCtx::punch_step`).
pub(crate) const PUNCH_EXTENTS: u32 = 4;

/// One hole punch step: for each of at most [`PUNCH_EXTENTS`] extents, the extent replaced by
/// its part before the hole and its part after it (one insertion), and the blocks in the hole
/// freed (at most `bitmap_bits_per_block` blocks in a step, one run per extent); then the
/// root compacted ([`TREE_SHRINK`]) and the inode written.
pub(crate) const PUNCH_STEP: u32 =
    PUNCH_EXTENTS * (tree_replace(1) + FREE_RUN) + TREE_SHRINK + INODE + SUPER;

/// Unwritten extents converted by one step of `TreeCtx::mark_written_step`.
pub(crate) const CONVERT_EXTENTS: u32 = 1;

/// One conversion step (writeback or direct I/O completion): each of at most
/// [`CONVERT_EXTENTS`] unwritten extents is replaced by up to three pieces (two insertions),
/// then merged with its neighbours ([`TREE_MERGE`]); then the root compacted and the inode
/// written. New nodes change the free count.
pub(crate) const CONVERT_STEP: u32 =
    CONVERT_EXTENTS * (tree_replace(2) + TREE_MERGE) + TREE_SHRINK + INODE + SUPER;

/// Leaves rewritten by one step of a collapse or insert range (`TreeCtx::shift_step`).
pub(crate) const SHIFT_LEAVES: u32 = 8;

/// One step of moving extents (collapse and insert range): at most [`SHIFT_LEAVES`] leaves
/// rewritten, with their ancestors (at most one per leaf and level: `LEVELS` blocks a leaf),
/// and one more path that the step may walk down and write without finding a leaf to move;
/// no node is added or removed, and the tree is not compacted between the steps; the inode
/// is written.
pub(crate) const SHIFT_STEP: u32 = (SHIFT_LEAVES + 1) * LEVELS + INODE;

/// The first step of an insert range: the extent crossing the insertion point split in two
/// (`TreeCtx::split_at`: one [`TREE_SET`], one insertion, one [`TREE_SET`] to undo a failed
/// insertion; a new node changes the free count), the inode written.
pub(crate) const SPLIT_STEP: u32 = tree_replace(1) + INODE + SUPER;

/// The last step of an insert range: the tree compacted ([`TREE_SHRINK`]), the inode written
/// with its new size.
pub(crate) const COMPACT_STEP: u32 = TREE_SHRINK + INODE + SUPER;

/// The last step of a collapse range: the extents meeting at the seam merged
/// ([`TREE_MERGE`]), the root compacted, the inode written with its new size.
pub(crate) const MERGE_STEP: u32 = TREE_MERGE + TREE_SHRINK + INODE + SUPER;

/// Levels of node blocks on a path of a directory hash index: its root is a block of level at
/// most `format::MAX_LEVEL`, so a path holds up to `LEVELS + 1` blocks.
const INDEX_PATH: u32 = LEVELS + 1;

/// Adding a key to a directory hash index (`IndexCtx::insert`): the path written
/// ([`INDEX_PATH`]), each node on it may split, and a split root pushes its records down into
/// one more new block (`INDEX_PATH + 1` new nodes), each written and allocated.
const INDEX_INSERT: u32 = INDEX_PATH + 2 * (INDEX_PATH + 1);

/// Removing a key from a directory hash index (`IndexCtx::remove`): the path written, the
/// emptied non-root nodes freed (`LEVELS`) and the single children pulled up into the root
/// freed (`LEVELS`).
const INDEX_REMOVE: u32 = INDEX_PATH + 2 * LEVELS;

/// Building the hash index when a directory gets its second block (`IndexCtx::build`): the
/// keys of a block and one more fit one leaf (for every block size, `(bs - 24) / 16 + 1`
/// entries against `(bs - 32) / 8` keys a leaf), so one new root leaf, written and allocated.
const INDEX_BUILD: u32 = 2;

/// Adding an entry to a directory (`dir::add_entry`), the worse of its two ways: into a block
/// with room (the block, [`INDEX_INSERT`], the directory inode), or growing the directory by
/// a block (`grow`: the new block allocated and written, its extent inserted, the index built
/// or given the key, the directory inode written). A failed growth frees in the bitmap blocks
/// it allocated from.
pub(crate) const DIR_ADD: u32 =
    ALLOC + 1 + TREE_INSERT + max(INDEX_INSERT, INDEX_BUILD) + INODE + SUPER;

/// The larger of `a` and `b` (`Ord::max` is not `const`).
const fn max(a: u32, b: u32) -> u32 {
    if a > b {
        a
    } else {
        b
    }
}

/// Removing an entry from a directory (`dir::remove_entry`): its block, [`INDEX_REMOVE`], the
/// directory inode (its block count, when index nodes were freed).
pub(crate) const DIR_REMOVE: u32 = 1 + INDEX_REMOVE + INODE + SUPER;

/// Freeing the empty last block of a directory (`dir::shrink`): one truncation step (the
/// directory inode, which it writes, written again with its size).
pub(crate) const DIR_SHRINK: u32 = TRUNCATE_STEP;

/// Blocks of the longest slow symlink target (`format::MAX_SYMLINK_LEN` bytes in blocks of at
/// least `1 << format::MIN_BLOCK_LOG2` bytes).
const SYMLINK_BLOCKS: u32 = format::MAX_SYMLINK_LEN.div_ceil(1u64 << format::MIN_BLOCK_LOG2) as u32;

/// Creating a named inode (create, mkdir, mknod, symlink): the inode bitmap block, the new
/// inode, a slow symlink's blocks (written, each allocated on its own at worst; they fit the
/// inline root without a split), the entry ([`DIR_ADD`], which counts the parent inode that
/// `mkdir` also writes for its link count), the inherited ACLs and security labels
/// ([`NEW_XATTRS`]). A failed creation frees in the same blocks.
pub(crate) const CREATE: u32 = ALLOC + INODE + 2 * SYMLINK_BLOCKS + DIR_ADD + NEW_XATTRS;

/// The attributes a new inode is created with, its inherited ACLs and its security labels
/// (`xattr::init_new`): one xattr block, written and allocated.
pub(crate) const NEW_XATTRS: u32 = 1 + ALLOC;

/// `O_TMPFILE`: the inode bitmap block, the new inode (written with no links and put at the
/// head of the orphan list: its `next_orphan` and the super block), its attributes.
pub(crate) const TMPFILE: u32 = ALLOC + INODE + SUPER + NEW_XATTRS;

/// `link`: the new entry ([`DIR_ADD`]), the inode (its link count), and when an `O_TMPFILE`
/// inode gets its first name, the inode before it on the orphan list.
pub(crate) const LINK: u32 = DIR_ADD + 2 * INODE;

/// `unlink`: the entry removed ([`DIR_REMOVE`]), the inode (link count; put on the orphan
/// list when it has no link left: its `next_orphan` and the list head).
pub(crate) const UNLINK: u32 = DIR_REMOVE + INODE;

/// `rmdir`: the entry removed ([`DIR_REMOVE`]), the directory (on the orphan list), the
/// parent (its link count).
pub(crate) const RMDIR: u32 = DIR_REMOVE + 2 * INODE;

/// `rename` with any flags, the worst case: a whiteout allocated and written (`ALLOC +
/// INODE`) with its attributes ([`NEW_XATTRS`]), the new name added ([`DIR_ADD`]; replacing
/// an entry writes one block, less), the old name removed ([`DIR_REMOVE`]; the whiteout's
/// retarget writes one block, less), the replaced inode (link count, orphan list), the moved
/// directory (its parent) and both parents (link counts). `RENAME_EXCHANGE` writes two entry
/// blocks and four inodes: less.
pub(crate) const RENAME: u32 = ALLOC + INODE + NEW_XATTRS + DIR_ADD + DIR_REMOVE + 4 * INODE;

/// Writing one inode (`write_inode`, `FS_IOC_SETFLAGS`).
pub(crate) const WRITE_INODE: u32 = INODE;

/// Setting the label: only the super block.
pub(crate) const LABEL: u32 = SUPER;

/// Freeing the hash index of a directory being freed, all at once (the inode is written without it
/// in the same transaction): the bitmap blocks of its nodes (`bitmap_blocks`: at most one a node
/// and at most the whole block bitmap), the log blocks of their revoke records (`revoke_blocks`),
/// the inode and the free count. A known limit: an index whose nodes lie in more bitmap blocks than
/// a transaction may hold (a quarter of the journal: 8192 on a device of more than 4Mi blocks,
/// whose bitmap blocks cover 256 GiB at least) does not fit one transaction; freeing it fails and
/// aborts the journal.
pub(crate) fn free_index(bitmap_blocks: usize, revoke_blocks: usize) -> u32 {
    u32::try_from(bitmap_blocks.saturating_add(revoke_blocks))
        .unwrap_or(u32::MAX)
        .saturating_add(INODE + SUPER)
}

/// The last step of freeing an inode: it is taken off the orphan list (its own slot and the
/// slot of the inode before it, or the list head), its slot zeroed (the same block as its
/// own), its bit in the inode bitmap cleared, the free count.
pub(crate) const FREE_INODE: u32 = 2 * INODE + ALLOC + SUPER;

/// The credits of the largest bounded step of any operation. A handle never asks for more
/// than one step at a time, so every step fits one transaction when a transaction may take
/// this many blocks.
pub(crate) const MAX_STEP: u32 = max(
    max(
        max(PUNCH_STEP, CONVERT_STEP),
        max(TRUNCATE_STEP, SHIFT_STEP),
    ),
    max(
        max(max(SPLIT_STEP, COMPACT_STEP), max(MERGE_STEP, ALLOC_EXTENT)),
        max(max(CREATE, LINK), max(RENAME, max(UNLINK, RMDIR))),
    ),
);

/// Setting, replacing or removing one extended attribute (`xattr::set`), or one step of
/// freeing them (`xattr::free_step`), with blocks of `block_size` bytes: the value blocks of
/// the old value freed and of the new one allocated and written (a bitmap block each at
/// worst), at most four xattr blocks written (the old entry's, the new entry's, the one
/// before an emptied block, the last one before a new block), a new one written and
/// allocated, an emptied one freed, the inode and the super block.
pub(crate) const fn xattr_set(block_size: usize) -> u32 {
    let n = format::xvalue_blocks(block_size, format::XATTR_VALUE_MAX) as u32;
    3 * n + 4 + 2 + ALLOC + ALLOC + INODE + SUPER
}

// The smallest blocks need the most value blocks; that step fits a transaction of the
// smallest journal too.
const _: () =
    assert!(4 * xattr_set(1 << format::MIN_BLOCK_LOG2) as u64 <= format::MIN_JOURNAL_BLOCKS);

// A transaction may take a quarter of the journal (`Journal::new`): the smallest journal the
// format allows must hold the largest step.
const _: () = assert!(4 * MAX_STEP as u64 <= format::MIN_JOURNAL_BLOCKS);
