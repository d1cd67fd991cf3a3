// SPDX-License-Identifier: GPL-2.0

//! Reading and writing inodes.

use crate::extcache::ExtentCache;
use crate::journal::{self, Handle, Uncached};
use crate::{credits, dir, file, format, meta, symlink, RextFs};
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::fs::{
    file_ops,
    inode::{
        self, fsflags, iflags, mode, statx_attr, Either, FileAttr, INode, INodeView, Kstat, Locked,
        NewINode, Params, Timespec,
    },
    memalloc::NofsScope,
    SuperBlock,
};
use kernel::prelude::*;
use kernel::sync::{aref::ARef, Mutex};

/// The rextfs part of an in-memory inode.
#[pin_data]
pub(crate) struct RxInode {
    /// The decoded on-disk inode. The VFS inode holds the authoritative mode, owner, link
    /// count, size and times; they are copied here when the inode is written.
    #[pin]
    pub(crate) disk: Mutex<format::Inode>,
    /// Directories: for each block, the largest entry it has room for
    /// (`format::dirblock_largest_slot`), or [`crate::dir::SPACE_UNKNOWN`] until an insertion
    /// or a removal has read it, so that an insertion reads no block known to be too full.
    /// Kept in memory only; taken after `disk`.
    #[pin]
    pub(crate) dir_space: Mutex<KVec<u16>>,
    /// Directories: the extent of the directory's tree that mapped the last block looked
    /// up, so that lookups in the same extent need no walk of the tree. A directory block
    /// never moves while it exists; the extent is forgotten when the directory shrinks
    /// (under its `i_rwsem`, held exclusively). A leaf lock: nothing is taken under it.
    #[pin]
    pub(crate) dir_extent: Mutex<Option<format::Extent>>,
    /// Sequence number of the last transaction that changed the inode (its slot, its extent
    /// tree, its blocks), or of the one that ran when it was read: `fsync` commits up to it,
    /// and does not commit at all once it has committed.
    pub(crate) sync_seq: AtomicU64,
    /// Extent map sequence: bumped (under `disk`) by every change of the extent tree of a
    /// regular file, and given to iomap as the validity cookie of each mapping, so that a
    /// buffered write notices a mapping that writeback's conversion made stale
    /// (`iomap_valid`).
    pub(crate) map_seq: AtomicU64,
    /// Regular files: the mappings last found in the extent tree, valid while `map_seq` is
    /// unchanged ([`crate::extcache`]). Taken under `disk` (which every user holds, and under
    /// which `map_seq` changes); nothing is taken under it.
    #[pin]
    pub(crate) extents: Mutex<ExtentCache>,
    /// Directories: the inode number after the last one allocated for a child near it, where
    /// the next child's search starts; 0 for none. Read and set by
    /// [`crate::alloc::alloc_inode`]: a hint, nothing relies on it.
    pub(crate) child_cursor: AtomicU64,
    /// Serialises the readers and writers of the inode's extended attributes (the chain of
    /// xattr blocks and `disk.xattr`); taken after a transaction handle is started, before
    /// `disk`.
    #[pin]
    pub(crate) xattr: Mutex<()>,
    /// A reference to another inode, kept by the test ioctl (`reftest`, test builds only):
    /// released when this inode is freed, from an RCU callback.
    #[cfg(CONFIG_REXTFS_KUNIT_TEST)]
    pub(crate) test_ref: kernel::sync::SetOnce<ARef<INode<RextFs>>>,
}

impl RxInode {
    /// The rextfs part of an inode whose on-disk copy is `d`, last changed by (or read
    /// while) transaction `seq` ran; nothing known of its directory blocks yet. `d` is
    /// copied once, into its place in the inode ([`copy_in_place`]).
    pub(crate) fn new(d: &format::Inode, seq: u64) -> impl PinInit<Self, Error> + '_ {
        try_pin_init!(RxInode {
            disk <- kernel::new_mutex!(copy_in_place(d)),
            dir_space <- kernel::new_mutex!(KVec::new()),
            dir_extent <- kernel::new_mutex!(None),
            sync_seq: AtomicU64::new(seq),
            map_seq: AtomicU64::new(0),
            extents <- kernel::new_mutex!(ExtentCache::init()),
            child_cursor: AtomicU64::new(0),
            xattr <- kernel::new_mutex!(()),
            #[cfg(CONFIG_REXTFS_KUNIT_TEST)]
            test_ref: kernel::sync::SetOnce::new(),
        }? Error)
    }
}

/// An initialiser of a copy of `d`, written field by field into its place. `*d` by value
/// would be copied twice, into the initialiser and from it into place: an inode is a few
/// hundred bytes, and one is initialised at every miss of the inode cache.
fn copy_in_place(d: &format::Inode) -> impl Init<format::Inode> + '_ {
    init!(format::Inode {
        mode: d.mode,
        uid: d.uid,
        gid: d.gid,
        nlink: d.nlink,
        flags: d.flags,
        size: d.size,
        blocks: d.blocks,
        parent: d.parent,
        next_orphan: d.next_orphan,
        dir_index_root: d.dir_index_root,
        generation: d.generation,
        rdev: d.rdev,
        atime: d.atime,
        mtime: d.mtime,
        ctime: d.ctime,
        btime: d.btime,
        xattr: d.xattr,
        area: d.area,
    })
}

/// Records that the extent tree of `inode` changed (with its disk lock held), for
/// `iomap_valid`.
pub(crate) fn map_changed(inode: &INodeView<RextFs>) {
    inode.data().map_seq.fetch_add(1, Ordering::Relaxed);
}

/// Records that `h` changed `inode`, for [`journal::force_seq`] at `fsync`.
pub(crate) fn note(h: &Handle<'_>, inode: &INodeView<RextFs>) {
    let seq = h.seq();
    // The later of the two, compared as distances as [`journal::is_committed`] compares
    // sequence numbers (they may wrap), not as plain integers.
    let _ = inode
        .data()
        .sync_seq
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
            ((seq.wrapping_sub(old) as i64) > 0).then_some(seq)
        });
}

/// Writes `inode`'s on-disk copy `d` ([`write_disk`]) and records the change for `fsync`.
pub(crate) fn write(h: &Handle<'_>, inode: &INodeView<RextFs>, d: &format::Inode) -> Result {
    write_disk(h, inode.ino(), d)?;
    note(h, inode);
    Ok(())
}

fn ts(t: format::Timestamp) -> Timespec {
    Timespec {
        sec: t.sec,
        nsec: t.nsec,
    }
}

fn to_disk_ts(t: Timespec) -> format::Timestamp {
    format::Timestamp {
        sec: t.sec,
        nsec: t.nsec.min(999_999_999),
    }
}

/// Builds the VFS view of an on-disk inode.
pub(crate) fn params(sb: &SuperBlock<RextFs>, d: &format::Inode) -> Params<RextFs> {
    let (iops, fops) = match d.mode & mode::S_IFMT {
        mode::S_IFDIR => (
            inode::Ops::new::<dir::DirOps>(),
            file_ops::Ops::new::<dir::DirOps>(),
        ),
        mode::S_IFREG => (
            inode::Ops::new::<file::FileOps>(),
            file_ops::Ops::new::<file::FileOps>(),
        ),
        mode::S_IFLNK if d.has_inline_data() => (
            inode::Ops::new::<symlink::FastSymlinkOps>(),
            file_ops::Ops::empty(),
        ),
        mode::S_IFLNK => (
            inode::Ops::new::<symlink::SlowSymlinkOps>(),
            file_ops::Ops::empty(),
        ),
        _ => (inode::Ops::empty(), file_ops::Ops::empty()),
    };
    let aops = if d.mode & mode::S_IFMT == mode::S_IFREG {
        Some(iomap::AddressSpace::<file::FileOps>::aops())
    } else {
        None
    };
    Params {
        mode: d.mode,
        size: d.size as i64,
        nlink: d.nlink,
        uid: d.uid,
        gid: d.gid,
        rdev: format::rdev_from_disk(d.rdev),
        bytes: d.blocks.saturating_mul(u64::from(sb.block_size())),
        atime: ts(d.atime),
        mtime: ts(d.mtime),
        ctime: ts(d.ctime),
        generation: d.generation,
        flags: iflags::from_fs_flags(d.flags & format::INODE_FLAGS_USER),
        iops,
        fops,
        aops,
    }
}

// The on-disk user flags are the kernel's `FS_*_FL` values, so `FS_IOC_GETFLAGS` reports
// them unchanged.
const _: () = assert!(
    format::INODE_FLAG_SYNC == fsflags::SYNC
        && format::INODE_FLAG_IMMUTABLE == fsflags::IMMUTABLE
        && format::INODE_FLAG_APPEND == fsflags::APPEND
        && format::INODE_FLAG_NODUMP == fsflags::NODUMP
        && format::INODE_FLAG_NOATIME == fsflags::NOATIME
);

/// Flags a new inode takes from its directory, as in ext2/ext4: synchronous updates, no
/// dump, no atime. Immutable and append-only are never inherited.
pub(crate) const INHERITED_FLAGS: u32 =
    format::INODE_FLAG_SYNC | format::INODE_FLAG_NODUMP | format::INODE_FLAG_NOATIME;

/// `->fileattr_get` of files and directories: the user flags of the on-disk inode.
pub(crate) fn fileattr_get(inode: &INode<RextFs>, fa: &mut FileAttr) -> Result {
    let flags = inode.data().disk.lock().flags & format::INODE_FLAGS_USER;
    fa.fill_flags(flags);
    Ok(())
}

/// What `statx` reports of files and directories beyond what the glue fills in from the VFS
/// inode: the creation time (`btime`, written when the inode was made) and the nodump
/// attribute.
pub(crate) fn statx_attributes(inode: &INode<RextFs>, stat: &mut Kstat) {
    let (flags, btime) = {
        let d = inode.data().disk.lock();
        (d.flags, d.btime)
    };
    stat.set_btime(ts(btime));
    let nodump = if flags & format::INODE_FLAG_NODUMP != 0 {
        statx_attr::NODUMP
    } else {
        0
    };
    stat.set_attributes(nodump, statx_attr::NODUMP);
}

/// `->fileattr_set` of files and directories: stores the user flags in the on-disk inode and
/// applies them to the VFS inode, the inode written in one transaction handle. The VFS
/// checked ownership and `CAP_LINUX_IMMUTABLE`.
pub(crate) fn fileattr_set(inode: &Locked<'_, RextFs>, fa: &FileAttr) -> Result {
    // Extent size hints, project ids, DAX...: not in the format.
    if fa.has_fsx() || fa.flags() & !format::INODE_FLAGS_USER != 0 {
        return Err(EOPNOTSUPP);
    }
    let sb = inode.super_block();
    if sb.is_read_only() {
        return Err(EROFS);
    }
    let h = journal::start(sb, credits::WRITE_INODE)?;
    let flags = fa.flags();
    inode.set_flags(iflags::from_fs_flags(flags));
    inode.touch_ctime();
    let r = {
        let mut d = inode.data().disk.lock();
        d.flags = (d.flags & !format::INODE_FLAGS_USER) | flags;
        sync_disk(inode, &mut d);
        write(&h, inode, &d)
    };
    // Should the write fail, writeback tries again.
    inode.mark_dirty();
    r
}

/// Inode table block and byte offset in it of inode `ino`.
fn inode_location(sb: &SuperBlock<RextFs>, ino: u64) -> Result<(u64, usize)> {
    sb.data().geo.inode_location(ino).ok_or(EFSCORRUPTED)
}

/// Runs `f` on the raw slot of inode `ino`, in place in its inode table block, under the
/// block's buffer lock (`f` must not use the buffer cache).
fn with_slot<R>(
    sb: &SuperBlock<RextFs>,
    ino: u64,
    f: impl FnOnce(&[u8]) -> Result<R>,
) -> Result<R> {
    let (blk, off) = inode_location(sb, ino)?;
    sb.data().bufs.with_block(
        sb,
        blk,
        None,
        |_| Ok(()),
        |g| f(g.get(off..off + format::INODE_SIZE).ok_or(EFSCORRUPTED)?),
    )?
}

/// Bytes of the inode table [`readahead_slots`] reads at once: 128 KiB, ext4's default
/// (`inode_readahead_blks=32` of 4 KiB).
const INODE_READAHEAD_BYTES: u64 = 128 << 10;

/// Before the slot of inode `ino` is read from the device (its block is not cached), reads
/// the aligned window of [`INODE_READAHEAD_BYTES`] of the inode table around it into the
/// buffer cache in one go, as ext4 does (`__ext4_get_inode_loc`): inodes created together
/// sit together in the table, and are often looked up together (a `stat` of every file of a
/// directory), so the next misses find their blocks cached. Best effort: a block it did not
/// read is read by its user.
fn readahead_slots(sb: &SuperBlock<RextFs>, ino: u64) {
    let info = sb.data();
    let Ok((blk, _)) = inode_location(sb, ino) else {
        return;
    };
    let layout = &info.geo.layout;
    meta::readahead_around(
        sb,
        layout.inode_table_start,
        layout.inode_table_blocks,
        blk - layout.inode_table_start,
        // A power of two: `INODE_READAHEAD_BYTES` and the block size are.
        INODE_READAHEAD_BYTES >> info.geo.block_log2,
    );
}

/// Decodes slot `buf` of inode `ino`, which must hold a valid inode (corruption is logged).
fn decode_slot(sb: &SuperBlock<RextFs>, ino: u64, buf: &[u8]) -> Result<format::Inode> {
    format::Inode::decode(ino, buf).map_err(|e| slot_corrupt(sb, ino, e))
}

/// Logs that the slot of inode `ino` does not decode (`e`); returns the error to give back.
fn slot_corrupt(sb: &SuperBlock<RextFs>, ino: u64, e: crate::FormatError) -> Error {
    pr_err!("{}: inode {}: {}\n", sb.id(), ino, e.as_str());
    EFSCORRUPTED
}

/// Returns inode `ino`, reading it from disk if it is not cached.
pub(crate) fn iget(sb: &SuperBlock<RextFs>, ino: u64) -> Result<ARef<INode<RextFs>>> {
    if !sb.data().geo.ino_valid(ino) || (ino != format::ROOT_INO && ino < format::FIRST_INO) {
        pr_err!("{}: reference to invalid inode {}\n", sb.id(), ino);
        return Err(EFSCORRUPTED);
    }
    iget_as(sb, ino, Source::Entry)
}

/// Where an inode number given to [`iget_as`] comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    /// A directory entry, the root or a parent field: the inode must be in use, anything
    /// else is corruption.
    Entry,
    /// A file handle (as ext4's `EXT4_IGET_HANDLE`): a free slot or an inode without links
    /// is a stale handle.
    Handle,
}

/// The inode `ino` (in range), from the inode cache or read from its slot.
fn iget_as(sb: &SuperBlock<RextFs>, ino: u64, src: Source) -> Result<ARef<INode<RextFs>>> {
    let new = match sb.iget(ino)? {
        // A cached inode is in use, even without links while it is open.
        Either::Cached(i) => return Ok(i),
        Either::New(n) => n,
    };
    readahead_slots(sb, ino);
    // The slot is read with the new inode locked in the cache: an inode freed meanwhile is
    // evicted first (`iget_locked` waits for it), so a zero slot is free, not freed later.
    // The inode is completed under the slot's buffer lock, from the inode decoded there: an
    // inode is a few hundred bytes, decoded at every miss of the inode cache, and returning
    // it from under the lock would copy it at each step on its way out.
    with_slot(sb, ino, |buf| {
        // Whatever completing the inode allocates (a fast symlink's target) must not recurse
        // into the file system: its reclaim may take locks that come before the buffer locks.
        let _nofs = NofsScope::new();
        // For a handle, a free slot (zeroed, or left unzeroed by a failed creation's undo) or
        // an inode being freed is stale, judged before the checks that would report
        // corruption.
        if src == Source::Handle
            && (buf.iter().all(|&b| b == 0)
                || format::Inode::decode_unchecked(buf).is_ok_and(|d| d.nlink == 0 || d.mode == 0))
        {
            return Err(ESTALE);
        }
        // Used where it was decoded: `?` or `map_err` would move it out of the `Result`.
        match &format::Inode::decode(ino, buf) {
            Ok(d) => complete(sb, new, d, src),
            Err(e) => Err(slot_corrupt(sb, ino, *e)),
        }
    })
}

/// Completes `new` from its on-disk inode `d` (decoded and checked); a failure drops `new`,
/// which releases it as a bad inode (nothing of the file system runs for it: it has no data).
fn complete(
    sb: &SuperBlock<RextFs>,
    mut new: NewINode<RextFs>,
    d: &format::Inode,
    src: Source,
) -> Result<ARef<INode<RextFs>>> {
    let ino = new.ino();
    if d.nlink == 0 {
        if src == Source::Handle {
            return Err(ESTALE);
        }
        pr_err!("{}: inode {} is in use but has no links\n", sb.id(), ino);
        return Err(EFSCORRUPTED);
    }
    if let Some(target) = d.inline_target() {
        new.set_fast_link(target)?;
    }
    crate::file::prepare_new_inode(&mut new, d.mode);
    let p = params(sb, d);
    // The inode may have left the cache with its last change not committed yet: until it
    // changes again, an fsync commits whatever is running (as ext4's i_sync_tid at iget).
    // Read after the slot: then it is at least the transaction of the slot's last change
    // (see `running_seq`).
    let seq = journal::running_seq(sb);
    if d.xattr == 0 {
        // No attributes, so no ACLs: permission checks need not look.
        new.cache_no_acl();
    }
    new.init(p, RxInode::new(d, seq))
}

/// The inode of a file handle (NFS export, `open_by_handle_at`): `ino` if it is in use and
/// its generation is `generation`, `ESTALE` if not. A handle is untrusted input: a number out
/// of range, a free slot or an inode being freed is a stale handle, not corruption.
pub(crate) fn iget_handle(
    sb: &SuperBlock<RextFs>,
    ino: u64,
    generation: u32,
) -> Result<ARef<INode<RextFs>>> {
    if !sb.data().geo.ino_valid(ino) || (ino != format::ROOT_INO && ino < format::FIRST_INO) {
        return Err(ESTALE);
    }
    // An inode open but unlinked is still found (from the cache), as on ext4.
    let inode = iget_as(sb, ino, Source::Handle)?;
    if inode.data().disk.lock().generation != generation {
        return Err(ESTALE);
    }
    Ok(inode)
}

/// `commit_metadata` of NFS export: commits the transactions that changed `inode`, as
/// `fsync` does (a directory's entries change without its inode: everything is committed).
pub(crate) fn commit_metadata(inode: &INode<RextFs>) -> Result {
    let sb = inode.super_block();
    // A dirty inode is written and committed here (`write_inode` with `sync`).
    inode.sync_metadata()?;
    if inode.mode() & mode::S_IFMT == mode::S_IFDIR {
        journal::force(sb)
    } else if journal::is_committed(sb, inode.data().sync_seq.load(Ordering::Relaxed)) {
        // A commit ends with a flush: no data of the file is asked for, so no other flush.
        Ok(())
    } else {
        journal::force(sb)
    }
}

/// The parent directory of directory `dir` (`get_parent` of NFS export), from its inode.
pub(crate) fn get_parent(dir: &INode<RextFs>) -> Result<ARef<INode<RextFs>>> {
    if dir.nlink() == 0 {
        // Removed (but still referenced): it has no parent any more.
        return Err(ESTALE);
    }
    let parent = dir.data().disk.lock().parent;
    if parent == 0 {
        return Err(crate::corrupt(
            dir.super_block(),
            "directory inode",
            crate::FormatError::Invalid("directory without parent"),
        ));
    }
    iget(dir.super_block(), parent)
}

/// Offset of `next_orphan` in an inode slot.
const NEXT_ORPHAN_OFFSET: usize = 0x30;

/// Encodes inode `ino` and writes its slot in the inode table (a read-modify-write of the
/// inode table block that holds it, under the block's buffer lock) in the transaction of `h`.
/// The `next_orphan` field is the one on disk: only the orphan list code changes it
/// ([`set_next_orphan`]).
pub(crate) fn write_disk(h: &Handle<'_>, ino: u64, d: &format::Inode) -> Result {
    write_slot(h, ino, Uncached::Read, |slot| {
        encode_slot(h.sb(), ino, d, slot_next_orphan(slot), slot)
    })
}

/// Writes `inode`'s on-disk copy `d` as [`write`] does, but with `next_orphan` set to `next`:
/// for the orphan list code ([`crate::orphan::add`]), which links an inode in with the write
/// of its zero link count.
pub(crate) fn write_orphan(
    h: &Handle<'_>,
    inode: &INodeView<RextFs>,
    d: &format::Inode,
    next: u64,
) -> Result {
    let ino = inode.ino();
    write_slot(h, ino, Uncached::Read, |slot| {
        encode_slot(h.sb(), ino, d, next, slot)
    })?;
    note(h, inode);
    Ok(())
}

/// The `next_orphan` field of a raw inode slot (0 for a free slot).
fn slot_next_orphan(slot: &[u8]) -> u64 {
    slot.get(NEXT_ORPHAN_OFFSET..NEXT_ORPHAN_OFFSET + 8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

/// Reads and decodes the on-disk inode `ino` (checksum and fields checked).
pub(crate) fn read_disk(sb: &SuperBlock<RextFs>, ino: u64) -> Result<format::Inode> {
    let d = with_slot(sb, ino, |buf| decode_slot(sb, ino, buf))?;
    if d.xattr != 0 && !sb.data().geo.data_range_valid(d.xattr, 1) {
        pr_err!(
            "{}: inode {}: extended attribute block {} outside the data area\n",
            sb.id(),
            ino,
            d.xattr
        );
        return Err(EFSCORRUPTED);
    }
    Ok(d)
}

/// Sets the `next_orphan` field of the in-use inode `ino` on disk, the rest of the slot as it
/// is on disk, in the transaction of `h`.
pub(crate) fn set_next_orphan(h: &Handle<'_>, ino: u64, next: u64) -> Result {
    let sb = h.sb();
    write_slot(h, ino, Uncached::Read, |slot| {
        let d = format::Inode::decode(ino, slot).map_err(|e| {
            pr_err!("{}: orphan inode {}: {}\n", sb.id(), ino, e.as_str());
            EFSCORRUPTED
        })?;
        encode_slot(sb, ino, &d, next, slot)
    })
}

/// Writes the new inode `ino` (its number just allocated: its slot is free, zeroed on disk)
/// in the transaction of `h`. When every other inode of its inode table block is free, the
/// block is not read (it holds zeroes on disk), as ext4 skips the read of an inode table
/// block whose other inodes are free; not after corruption was found, when the bitmap may
/// be wrong.
pub(crate) fn write_new_disk(h: &Handle<'_>, ino: u64, d: &format::Inode) -> Result {
    // Not once corruption was seen: a wrong bitmap bit would then wipe inodes in use.
    let trusted = !h.sb().data().error_seen.load(Ordering::SeqCst);
    let uncached = if trusted && crate::alloc::inode_block_free_but(h.sb(), ino)? {
        Uncached::Zeroes
    } else {
        Uncached::Read
    };
    write_slot(h, ino, uncached, |slot| {
        encode_slot(h.sb(), ino, d, slot_next_orphan(slot), slot)
    })
}

/// Read-modify-write of the slot of inode `ino` in the transaction of `h`: `f` gets the slot
/// as it is on disk and changes it in place (see [`Handle::modify_range`]).
fn write_slot(
    h: &Handle<'_>,
    ino: u64,
    uncached: Uncached,
    f: impl FnOnce(&mut [u8]) -> Result,
) -> Result {
    let (blk, off) = inode_location(h.sb(), ino)?;
    h.modify_range(blk, off..off + format::INODE_SIZE, uncached, f)
}

/// Encodes `d` with `next_orphan` set to `next` into `slot`, the slot of inode `ino`.
fn encode_slot(
    sb: &SuperBlock<RextFs>,
    ino: u64,
    d: &format::Inode,
    next: u64,
    slot: &mut [u8],
) -> Result {
    d.encode_with_next(ino, next, slot).map_err(|e| {
        pr_err!("{}: cannot encode inode {}: {}\n", sb.id(), ino, e.as_str());
        EIO
    })
}

/// Copies the VFS inode's attributes into the on-disk inode.
pub(crate) fn sync_disk(inode: &INodeView<RextFs>, d: &mut format::Inode) {
    d.mode = inode.mode();
    d.uid = inode.uid();
    d.gid = inode.gid();
    d.nlink = inode.nlink();
    d.size = inode.size() as u64;
    d.atime = to_disk_ts(inode.atime());
    d.mtime = to_disk_ts(inode.mtime());
    d.ctime = to_disk_ts(inode.ctime());
}

/// Zeroes the slot of a freed inode in the transaction of `h`.
pub(crate) fn zero_slot(h: &Handle<'_>, ino: u64) -> Result {
    write_slot(h, ino, Uncached::Read, |slot| {
        slot.fill(0);
        Ok(())
    })
}

/// Frees an inode with no links left when its last reference goes (`->evict_inode`, after
/// the VFS truncated its page cache and waited for its writeback): its blocks, then its slot,
/// then its bitmap bit, in one transaction handle (a chain of steps, see
/// [`crate::orphan::free_orphan`]). The inode stays on the orphan list until the last step,
/// so that a mount after a crash finishes the work.
pub(crate) fn evict(inode: &INodeView<RextFs>) {
    let sb = inode.super_block();
    #[cfg(CONFIG_REXTFS_KUNIT_TEST)]
    crate::reftest::at_evict(inode);
    crate::alloc::drop_reservation(sb, inode.ino());
    // After a shutdown nothing is written: the inode stays on the orphan list, for the next
    // mount to free.
    if inode.nlink() != 0 || crate::check_live(sb).is_err() {
        return;
    }
    let ino = inode.ino();
    if sb.is_read_only() {
        // Closed while remounted read-only: freed when the file system is read-write again
        // (or by the next mount).
        crate::orphan::defer_free(sb, ino);
        return;
    }
    // The caller of the last `iput` needed no freeze protection: take it, so that nothing is
    // written while the file system is frozen. Without waiting: the caller may hold
    // `s_umount` (`drop_caches`), which the thaw needs. While frozen, the inode stays on the
    // orphan list and is freed when the file system is thawed (as XFS defers inactivation
    // to its inodegc, which a freeze stops). Not when this task has a transaction open (an
    // `iput` inside an operation): it already holds a freeze off.
    let _intwrite = if journal::current_holds_handle(sb) {
        None
    } else {
        match sb.try_start_intwrite() {
            Some(g) => Some(g),
            None => {
                crate::orphan::defer_free(sb, ino);
                return;
            }
        }
    };
    // Nothing else uses the inode any more (no reference, no writeback): its disk copy is
    // updated without the lock, which is not held across the steps of the chain.
    let mut d = *inode.data().disk.lock();
    let r = journal::start(sb, credits::FREE_INODE).and_then(|mut h| {
        h.use_reserve();
        crate::orphan::free_orphan(&mut h, ino, &mut d, |h| {
            crate::orphan::remove_to_free(h, ino)
        })
    });
    if let Err(e) = r {
        pr_err!("{}: cannot free inode {}: {:?}\n", sb.id(), ino, e);
    }
}

/// Copies the VFS inode's attributes into the on-disk inode and writes it (`->write_inode`),
/// in a transaction handle of its own.
pub(crate) fn write_inode(inode: &INodeView<RextFs>, sync: bool) -> Result {
    let sb = inode.super_block();
    if sb.is_read_only() || inode.nlink() == 0 {
        // An inode without links is freed at eviction; nothing points at its slot.
        return Ok(());
    }
    {
        let h = journal::start(sb, credits::WRITE_INODE)?;
        let mut d = inode.data().disk.lock();
        sync_disk(inode, &mut d);
        write(&h, inode, &d)?;
    }
    if sync {
        // Data-integrity writeback: the inode is durable when its transaction is.
        journal::force_seq(sb, inode.data().sync_seq.load(Ordering::Relaxed))?;
    }
    Ok(())
}
