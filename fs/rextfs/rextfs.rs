// SPDX-License-Identifier: GPL-2.0

//! rextfs: a read-write extent file system on iomap.
//!
//! The on-disk format is described in `Documentation/filesystems/rextfs.rst` and implemented
//! by the shared `format` module. This crate is safe Rust only: everything that
//! touches C goes through the `kernel::fs` and `iomap` abstractions.

mod alloc;
mod credits;
mod dir;
mod dirindex;
mod extcache;
mod extent;
mod file;
mod format;
mod inode;
mod ioctl;
mod journal;
mod meta;
mod orphan;
#[cfg(CONFIG_REXTFS_KUNIT_TEST)]
mod reftest;
mod symlink;
#[cfg(CONFIG_REXTFS_KUNIT_TEST)]
mod testing;
mod xattr;

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use format::FormatError;
use kernel::fs::param::{EnumTable, MountOptions, Param, ParamTable};
use kernel::fs::{
    self,
    bdev::{IoBuf, WriteFlags},
    buffer::BufCache,
    inode::{INode, INodeView},
    New, Ready, SuperBlock,
};
use kernel::prelude::*;
use kernel::rbtree::RBTree;
use kernel::seq_file::{seq_print, SeqFile};
use kernel::sync::{aref::ARef, CondVar, Mutex};

/// `errors=continue`: keep going after corruption is found (the error is still recorded).
const ERRORS_CONTINUE: i32 = 0;
/// `errors=remount-ro` (the default): make the file system read-only when corruption is found.
const ERRORS_REMOUNT_RO: i32 = 1;

/// The values of the `errors=` mount option.
static ERRORS_MODES: EnumTable = EnumTable::new(&[
    (c"continue", ERRORS_CONTINUE),
    (c"remount-ro", ERRORS_REMOUNT_RO),
]);

/// Index of `errors=` in [`PARAMS`].
const OPT_ERRORS: usize = 0;
/// Index of `commit=` (seconds between journal commits) in [`PARAMS`].
const OPT_COMMIT: usize = 1;
/// Index of `norecovery` (mount without replaying the journal; read-only) in [`PARAMS`].
const OPT_NORECOVERY: usize = 2;

/// Seconds between two commits of the journal by default (`commit=`).
const DEFAULT_COMMIT_SECS: u32 = 5;
/// Longest commit interval accepted, in seconds.
const MAX_COMMIT_SECS: u32 = 3600;

/// The mount options of rextfs (Documentation/filesystems/rextfs.rst).
static PARAMS: ParamTable = ParamTable::new(&[
    Param::enumeration(c"errors", &ERRORS_MODES),
    Param::u32(c"commit"),
    Param::flag(c"norecovery"),
]);

/// Maps a format error found in on-disk metadata to an errno, logging what was wrong, and
/// handles the error as the `errors=` option says ([`fs_error`]).
pub(crate) fn corrupt(sb: &SuperBlock<RextFs>, what: &str, e: FormatError) -> Error {
    pr_err!("{}: corrupted {}: {}\n", sb.id(), what, e.as_str());
    fs_error(sb);
    EFSCORRUPTED
}

/// Handles corruption found in a mounted file system: records `ERRORS` in the on-disk super
/// block (so that it is never marked clean again before fsck.rextfs has run, and cannot be
/// mounted read-write), and with `errors=remount-ro` makes the file system read-only.
///
/// May be called with the super block state lock held: the on-disk record is then written by
/// the next super block write, at the latest at unmount.
pub(crate) fn fs_error(sb: &SuperBlock<RextFs>) {
    let info = sb.data();
    let was_writable = !sb.is_read_only();
    info.error_seen.store(true, Ordering::SeqCst);
    if info.errors_remount_ro.load(Ordering::Relaxed) && sb.force_read_only() {
        pr_crit!(
            "{}: errors=remount-ro: file system is now read-only\n",
            sb.id()
        );
        // As ext4 aborts jbd2: the handle that found the error may have changed blocks half
        // way; nothing after what was committed goes to the device (the next mount replays).
        info.journal.abort();
    }
    if !was_writable {
        // Mounted read-only by the user, or already handled: the device is not written.
        return;
    }
    info.error_unrecorded.store(true, Ordering::SeqCst);
    // The in-memory super block may hold changes of transactions that have not committed
    // (an orphan list head, say): only the flag goes to the device, in the super block as the
    // device has it. Every later commit logs it as well. While block 0 is being written
    // otherwise (a checkpoint, a direct super block write), the record is left to that
    // writer, which runs `record_pending_error` when done: this may be called with a buffer
    // locked, which the checkpoint locks before it takes `sb_io`.
    let Ok(mut raw) = errors_record_buf(sb) else {
        return;
    };
    let Some(io) = info.sb_io.try_lock() else {
        return;
    };
    if write_errors_record(sb, &mut raw).is_ok() {
        info.error_unrecorded.store(false, Ordering::SeqCst);
    }
    drop(io);
}

/// Shuts the file system down: the journal stops (no handle starts, nothing is committed or
/// written home any more) and every later operation fails with `EIO`. The next mount replays
/// what was committed.
pub(crate) fn shutdown(sb: &SuperBlock<RextFs>) {
    let info = sb.data();
    if !info.shut_down.swap(true, Ordering::SeqCst) {
        info.journal.abort();
        // A commit that started before writes its last block before this returns.
        info.journal.wait_idle();
        pr_warn!("{}: file system shut down\n", sb.id());
    }
}

/// Tells whether the file system was shut down ([`shutdown`]).
pub(crate) fn is_shut_down(sb: &SuperBlock<RextFs>) -> bool {
    sb.data().shut_down.load(Ordering::Relaxed)
}

/// `EIO` once the file system was shut down ([`shutdown`]).
pub(crate) fn check_live(sb: &SuperBlock<RextFs>) -> Result {
    if sb.data().shut_down.load(Ordering::Relaxed) {
        return Err(EIO);
    }
    Ok(())
}

/// Sets `ERRORS` (and clears `CLEAN`) in the super block on the device, read-modify-write of
/// block 0 with a bio of its own, durably; serialised with the other writes of block 0.
fn mark_errors_on_disk(sb: &SuperBlock<RextFs>) -> Result {
    let mut raw = errors_record_buf(sb)?;
    let info = sb.data();
    let _io = info.sb_io.lock();
    write_errors_record(sb, &mut raw)
}

/// A buffer for [`write_errors_record`] (allocated before `sb_io` is taken).
pub(crate) fn errors_record_buf<S: fs::SbState>(sb: &SuperBlock<RextFs, S>) -> Result<IoBuf> {
    let lbs = sb.block_device().logical_block_size() as usize;
    IoBuf::new(lbs.max(format::SB_SIZE))
}

/// [`mark_errors_on_disk`] with `sb_io` held, or for a super block that is not mounted yet
/// (recovery: no other writer); `raw` from [`errors_record_buf`].
pub(crate) fn write_errors_record<S: fs::SbState>(
    sb: &SuperBlock<RextFs, S>,
    raw: &mut IoBuf,
) -> Result {
    sb.block_device().read(format::SB_OFFSET, raw)?;
    let sbuf = raw.get_mut(..format::SB_SIZE).ok_or(EINVAL)?;
    let mut d = format::Superblock::decode(sbuf).map_err(|_| EFSCORRUPTED)?;
    d.state = (d.state | format::STATE_ERRORS) & !format::STATE_CLEAN;
    d.encode(sbuf).map_err(|_| EINVAL)?;
    sb.block_device()
        .write(format::SB_OFFSET, raw, WriteFlags::FUA)
}

/// Sets `ERRORS` in `buf`, an encoded super block about to be written home, if an error was
/// seen since mount (a copy logged before the error must not undo its record). Called with
/// `sb_io` held.
pub(crate) fn carry_errors(sb: &SuperBlock<RextFs>, buf: &mut [u8]) {
    if !sb.data().error_seen.load(Ordering::SeqCst) {
        return;
    }
    let Some(sbuf) = buf.get_mut(..format::SB_SIZE) else {
        return;
    };
    if let Ok(mut d) = format::Superblock::decode(sbuf) {
        if d.state & format::STATE_ERRORS == 0 {
            d.state = (d.state | format::STATE_ERRORS) & !format::STATE_CLEAN;
            let _ = d.encode(sbuf);
        }
    }
}

/// Mutable, in-memory copy of the super block: free counts and state.
pub(crate) struct SbState {
    /// The decoded super block, written back at sync and unmount.
    pub(crate) disk: format::Superblock,
    /// Index of the on-disk orphan list while mounted: each inode on it, mapped to the inodes
    /// before and after it (0: none), so that taking one off neither walks the list nor
    /// reads the inode.
    pub(crate) orphans: RBTree<u64, orphan::Neighbours>,
    /// The longest free run of each block bitmap block, as far as known.
    pub(crate) block_runs: alloc::Runs,
    /// The longest free run of each inode bitmap block, as far as known.
    pub(crate) inode_runs: alloc::Runs,
    /// Free blocks that `FITRIM` is discarding with no lock held (first, end): allocations
    /// skip them.
    pub(crate) trimming: Option<(u64, u64)>,
    /// Free blocks set aside for files being written sequentially.
    pub(crate) resv: alloc::Reservations,
}

/// The private data of a mounted rextfs.
#[pin_data]
pub(crate) struct SbInfo {
    /// Immutable geometry (layout, hash seed), copied at mount.
    pub(crate) geo: format::Superblock,
    /// Super block state and counters.
    #[pin]
    pub(crate) state: Mutex<SbState>,
    /// The metadata buffer cache.
    #[pin]
    pub(crate) bufs: BufCache,
    /// Serialises the writes of block 0 that bypass the journal (the error record's
    /// read-modify-write, the direct super block writes) with the checkpoint's writes home:
    /// an error record read before a checkpoint and written after it would put back an older
    /// super block. Taken after the state lock.
    #[pin]
    pub(crate) sb_io: Mutex<()>,
    /// The metadata journal.
    #[pin]
    pub(crate) journal: journal::Journal,
    /// Orphans evicted while the file system was frozen: freed at the thaw.
    #[pin]
    pub(crate) deferred: Mutex<KVec<u64>>,
    /// Held by `FITRIM` (one at a time, so that one trimmed range is enough).
    #[pin]
    pub(crate) trim_lock: Mutex<()>,
    /// Notified (with the state lock) when `FITRIM` has discarded a piece
    /// (`SbState::trimming` cleared), for allocations that found nothing else free.
    #[pin]
    pub(crate) trim_wait: CondVar,
    /// Milliseconds between two periodic commits (`commit=`); may change on remount.
    commit_ms: AtomicU32,
    /// Mounted with `norecovery` over a journal that needs recovery: never read-write.
    unrecovered: bool,
    /// The mount replayed the journal.
    recovered: bool,
    /// `errors=remount-ro` (else `errors=continue`); may change on remount.
    errors_remount_ro: AtomicBool,
    /// Corruption was found since mount: every super block write records `ERRORS`.
    error_seen: AtomicBool,
    /// The file system was shut down (`FS_IOC_SHUTDOWN`): every operation fails with `EIO`.
    shut_down: AtomicBool,
    /// `ERRORS` is not on disk yet although the mount was writable when it was found.
    error_unrecorded: AtomicBool,
    /// An inode reference kept by the test ioctl (`reftest`, test builds only): it keeps the
    /// super block active, so an unmount leaves it alive until the reference is dropped.
    #[cfg(CONFIG_REXTFS_KUNIT_TEST)]
    #[pin]
    pub(crate) test_ref: Mutex<Option<ARef<INode<RextFs>>>>,
    /// `put_super` asks for the root inode (`reftest`, test builds only).
    #[cfg(CONFIG_REXTFS_KUNIT_TEST)]
    pub(crate) test_iget_at_put_super: AtomicBool,
    /// The inode whose eviction is slowed down and logged (`reftest`, test builds only; 0:
    /// none).
    #[cfg(CONFIG_REXTFS_KUNIT_TEST)]
    pub(crate) test_slow_evict: core::sync::atomic::AtomicU64,
}

/// The rextfs file system type.
pub(crate) struct RextFs;

/// Encodes the in-memory super block into `buf` (the start of block 0; the rest of `buf` is
/// zeroed), as the journal logs it at every commit. Takes the state lock.
pub(crate) fn encode_super(sb: &SuperBlock<RextFs>, buf: &mut [u8]) -> Result {
    let info = sb.data();
    let mut st = info.state.lock();
    encode_disk(sb, &mut st.disk, buf)
}

/// Encodes `disk` into `buf` (zeroed first), with ERRORS if an error was seen and the write
/// time set; clears the pending-error flag once ERRORS is in it.
fn encode_disk(sb: &SuperBlock<RextFs>, disk: &mut format::Superblock, buf: &mut [u8]) -> Result {
    let info = sb.data();
    if info.error_seen.load(Ordering::SeqCst) {
        disk.state = (disk.state | format::STATE_ERRORS) & !format::STATE_CLEAN;
    }
    disk.write_time = fs::super_block::now().sec;
    buf.fill(0);
    disk.encode(buf.get_mut(..format::SB_SIZE).ok_or(EINVAL)?)
        .map_err(|e| {
            pr_err!(
                "{}: cannot encode the super block: {}\n",
                sb.id(),
                e.as_str()
            );
            EFSCORRUPTED
        })?;
    if disk.state & format::STATE_ERRORS != 0 {
        info.error_unrecorded.store(false, Ordering::SeqCst);
    }
    Ok(())
}

/// Writes the in-memory super block to block 0 directly: the whole block, the rest of it
/// zero, with a bio of its own (block 0 is never in the buffer cache). Called with the state
/// lock held.
///
/// Only for mount, unmount, sync, freeze, remount and error recording, which run with no
/// transaction handle open. Operations change the super block (free counts, orphan list head,
/// label) only in memory, in their transaction handle: the journal logs it at commit.
fn write_super_direct(sb: &SuperBlock<RextFs>, disk: &mut format::Superblock) -> Result {
    let mut buf = IoBuf::new(sb.block_size() as usize)?;
    let info = sb.data();
    // Encoded under `sb_io`: an error recorded before is in it (`error_seen`), one found
    // while it is held is recorded after.
    let io = info.sb_io.lock();
    let r = encode_disk(sb, disk, &mut buf).and_then(|()| {
        sb.block_device()
            .write(format::SB_OFFSET, &buf, WriteFlags::NONE)
    });
    drop(io);
    if r.is_err() && disk.state & format::STATE_ERRORS != 0 {
        info.error_unrecorded.store(true, Ordering::SeqCst);
    }
    record_pending_error(sb);
    r
}

/// Writes `ERRORS` to a file system that became read-only after an error before it could be
/// recorded (the regular super block writes are skipped when read-only), or while a
/// checkpoint was writing blocks home.
pub(crate) fn record_pending_error(sb: &SuperBlock<RextFs>) {
    let info = sb.data();
    if info.error_unrecorded.load(Ordering::SeqCst) {
        if let Err(e) = mark_errors_on_disk(sb) {
            pr_err!("{}: cannot record the error state: {:?}\n", sb.id(), e);
        } else {
            info.error_unrecorded.store(false, Ordering::SeqCst);
        }
    }
}

/// Marks the file system in use again after a freeze (CLEAN cleared), durably. Unlike
/// [`mark_dirty`] it never fails on `ERRORS` (such a file system is not clean anyway).
fn mark_in_use(sb: &SuperBlock<RextFs>) -> Result {
    let info = sb.data();
    let mut st = info.state.lock();
    st.disk.state &= !format::STATE_CLEAN;
    write_super_direct(sb, &mut st.disk)?;
    drop(st);
    sb.sync_device()?;
    sb.flush_device()
}

/// Marks the file system in use (CLEAN cleared) and makes that durable before any other write.
///
/// A file system that was not cleanly unmounted is fine (mount replayed its journal), one
/// with recorded errors is not: it needs fsck.rextfs first.
fn mark_dirty(sb: &SuperBlock<RextFs>) -> Result {
    let info = sb.data();
    let mut st = info.state.lock();
    if st.disk.state & format::STATE_ERRORS != 0 || info.error_seen.load(Ordering::SeqCst) {
        pr_err!("{}: file system has errors; run fsck.rextfs\n", sb.id());
        return Err(EUCLEAN);
    }
    // Inodes left on the orphan list are freed once the file system is marked in use: a
    // list that a crash left, found by a read-only mount. Not one this mount made, which the
    // index knows (a read-only remount with unlinked files open, then back to read-write):
    // those inodes are in memory, open perhaps, and their eviction frees them, or were
    // evicted while read-only and wait in the deferred list.
    let orphans = st.disk.orphan_head != 0 && st.orphans.is_empty();
    st.disk.state &= !format::STATE_CLEAN;
    st.disk.mount_count = st.disk.mount_count.wrapping_add(1);
    st.disk.mount_time = fs::super_block::now().sec;
    write_super_direct(sb, &mut st.disk)?;
    drop(st);
    sb.sync_device()?;
    sb.flush_device()?;
    if orphans {
        orphan::process_at_mount(sb)?;
    }
    // The orphans of this mount closed while it was read-only.
    orphan::free_deferred(sb);
    let ms = info.commit_ms.load(Ordering::Relaxed);
    // The commit timer ([`RextFs::periodic`]).
    sb.schedule_periodic(ms);
    Ok(())
}

/// A read-only mount that replayed the journal (which writes to the device, as ext4 and XFS
/// do) also finishes what a crash left: the orphans are freed and the file system is marked
/// clean, so that it is consistent on the device when unmounted. Not with recorded errors:
/// those need fsck.rextfs. A failure leaves the mount read-only with the journal aborted.
fn finish_recovery_read_only(sb: &SuperBlock<RextFs>) -> Result {
    let info = sb.data();
    let (errors, orphans) = {
        let st = info.state.lock();
        (
            st.disk.state & format::STATE_ERRORS != 0 || info.error_seen.load(Ordering::SeqCst),
            st.disk.orphan_head != 0,
        )
    };
    // Unknown read-only-compatible features: this kernel must not rewrite the trees and
    // bitmaps that freeing orphans changes (ext4 skips its orphan cleanup then too).
    if errors || info.geo.needs_readonly() {
        return Ok(());
    }
    if orphans {
        if let Err(e) = orphan::process_at_mount(sb) {
            // The read-only mount stays the way to rescue data: what was committed stays,
            // the rest is left for fsck.rextfs or the next read-write mount.
            pr_warn!(
                "{}: cannot free the orphan inodes on a read-only mount: {:?}\n",
                sb.id(),
                e
            );
            info.journal.abort();
            return Ok(());
        }
    }
    mark_clean(sb)
}

/// Empties the journal (every logged block written home), then writes the super block with
/// CLEAN set (unless errors were seen), durably, before any new transaction can start.
fn mark_clean(sb: &SuperBlock<RextFs>) -> Result {
    sb.sync_device()?;
    let info = sb.data();
    journal::checkpoint(sb, || {
        let mut st = info.state.lock();
        if st.disk.state & format::STATE_ERRORS == 0 {
            st.disk.state |= format::STATE_CLEAN;
        }
        write_super_direct(sb, &mut st.disk)?;
        drop(st);
        sb.flush_device()
    })
}

/// The `commit=` interval in milliseconds: 0 means the default; at most an hour.
fn commit_interval_ms<S: fs::SbState>(sb: &SuperBlock<RextFs, S>, secs: u32) -> Result<u32> {
    match secs {
        0 => Ok(DEFAULT_COMMIT_SECS * 1000),
        s if s <= MAX_COMMIT_SECS => Ok(s * 1000),
        s => {
            pr_err!(
                "{}: commit={} is out of range (at most {} seconds)\n",
                sb.id(),
                s,
                MAX_COMMIT_SECS
            );
            Err(EINVAL)
        }
    }
}

/// Decodes and checks the super block at the start of `raw`, logging what is wrong.
fn decode_super<S: fs::SbState>(
    sb: &SuperBlock<RextFs, S>,
    raw: &[u8],
) -> Result<format::Superblock> {
    let raw = raw.get(..format::SB_SIZE).ok_or(EINVAL)?;
    match format::Superblock::decode(raw) {
        Ok(d) => Ok(d),
        Err(FormatError::BadMagic) => {
            pr_err!("{}: no rextfs super block found (bad magic)\n", sb.id());
            Err(EINVAL)
        }
        Err(FormatError::Unsupported) => {
            match format::Superblock::decode_raw(raw) {
                Ok(d) if d.version < format::FORMAT_VERSION => pr_err!(
                    "{}: rextfs format version {} is not supported (this is version {}, with a journal): copy the files off with an older rextfs, then mkfs.rextfs\n",
                    sb.id(),
                    d.version,
                    format::FORMAT_VERSION
                ),
                _ => pr_err!(
                    "{}: unsupported rextfs version or incompatible features\n",
                    sb.id()
                ),
            }
            Err(EINVAL)
        }
        Err(e) => {
            pr_err!("{}: invalid rextfs super block: {}\n", sb.id(), e.as_str());
            Err(EFSCORRUPTED)
        }
    }
}

#[vtable]
impl fs::FileSystem for RextFs {
    const NAME: &'static CStr = c"rextfs";
    // Owners of new inodes come from `init_owner` with the creating hook's idmap; ids are
    // stored as the VFS inode has them.
    const ALLOW_IDMAP: bool = true;
    // Block sizes up to 64 KiB, larger than a page too: iomap handles folios of any size and
    // the metadata buffers are bios of whole blocks.
    const LBS: bool = true;
    type Data = Pin<KBox<SbInfo>>;
    type INodeData = inode::RxInode;

    fn fill_super(sb: &mut SuperBlock<Self, New>) -> Result<Self::Data> {
        // Metadata and data I/O bypass the device's page cache: start from what is on disk.
        sb.invalidate_device_cache()?;
        // At least the super block, and whole logical blocks of the device.
        let lbs = sb.block_device().logical_block_size() as usize;
        let mut raw = IoBuf::new(lbs.max(format::SB_SIZE))?;
        sb.block_device()
            .read(format::SB_OFFSET, &mut raw)
            .inspect_err(|e| {
                pr_err!("{}: cannot read the super block: {:?}\n", sb.id(), e);
            })?;
        let mut disk = decode_super(sb, &raw)?;
        let bs = disk.block_size() as u64;
        let size = disk.total_blocks.checked_mul(bs).ok_or(EINVAL)?;
        if size > sb.device_size() {
            pr_err!(
                "{}: file system ({} blocks of {}) is larger than the device ({} bytes)\n",
                sb.id(),
                disk.total_blocks,
                bs,
                sb.device_size()
            );
            return Err(EINVAL);
        }
        if disk.needs_readonly() && !sb.is_read_only() {
            pr_err!(
                "{}: unsupported read-only features, mount read-only\n",
                sb.id()
            );
            return Err(EROFS);
        }
        sb.set_block_size(bs as u32).inspect_err(|_| {
            pr_err!(
                "{}: block size {} not supported by the device\n",
                sb.id(),
                bs
            );
        })?;
        let opts = sb.mount_options();
        let norecovery = opts.and_then(|o| o.flag(OPT_NORECOVERY)).unwrap_or(false);
        if norecovery && !sb.is_read_only() {
            pr_err!("{}: norecovery needs a read-only mount\n", sb.id());
            return Err(EINVAL);
        }
        let commit_secs = opts
            .and_then(|o| o.u32(OPT_COMMIT))
            .unwrap_or(DEFAULT_COMMIT_SECS);
        let commit_ms = commit_interval_ms(sb, commit_secs)?;
        // Replays the journal (which may rewrite block 0) and reads the super block again.
        let rec = journal::recovery::recover(sb, &disk, !norecovery)?;
        if rec.replayed {
            sb.block_device().read(format::SB_OFFSET, &mut raw)?;
            let new = decode_super(sb, &raw)?;
            if new.layout != disk.layout
                || new.block_log2 != disk.block_log2
                || new.total_blocks != disk.total_blocks
                || new.uuid != disk.uuid
            {
                pr_err!(
                    "{}: the journal changed the file system geometry; run fsck.rextfs\n",
                    sb.id()
                );
                return Err(EFSCORRUPTED);
            }
            // Recovery kept errors recorded after the last commit that logged the super
            // block, and recorded a damaged log, before it emptied the log.
            disk = new;
        }
        sb.set_magic(u64::from(format::SB_MAGIC));
        sb.set_max_bytes(
            disk.max_file_blocks()
                .saturating_mul(bs)
                .min(i64::MAX as u64) as i64,
        );
        sb.set_time(1, i64::MIN, i64::MAX);
        let errors = sb
            .mount_options()
            .and_then(|o| o.enumeration(OPT_ERRORS))
            .unwrap_or(ERRORS_REMOUNT_RO);

        // Metadata blocks nobody uses stay cached up to a quarter of the memory (8 MiB at
        // least), and the super block's shrinker takes them back when memory runs short
        // (`nr_cached_objects`), as the block device's page cache holds ext4's: a whole
        // inode table is read once, not again at every operation on an inode.
        let cache_bytes = kernel::fs::buffer::total_ram().div_ceil(4).max(8 << 20);
        let cache_limit = usize::try_from(cache_bytes >> disk.block_log2).unwrap_or(usize::MAX);
        let block_runs = alloc::Runs::new(disk.layout.block_bitmap_blocks)?;
        let inode_runs = alloc::Runs::new(disk.layout.inode_bitmap_blocks)?;
        let resv = alloc::Reservations::new()?;
        KBox::pin_init(
            try_pin_init!(SbInfo {
                geo: disk,
                state <- kernel::new_mutex!(SbState {
                    disk,
                    orphans: RBTree::new(),
                    block_runs,
                    inode_runs,
                    trimming: None,
                    resv,
                }),
                bufs <- BufCache::new(sb, bs as u32, cache_limit)?,
                sb_io <- kernel::new_mutex!(()),
                journal <- journal::Journal::new(&disk, rec.sequence),
                deferred <- kernel::new_mutex!(KVec::new()),
                trim_lock <- kernel::new_mutex!(()),
                trim_wait <- kernel::new_condvar!(),
                commit_ms: AtomicU32::new(commit_ms),
                unrecovered: rec.needs_recovery,
                recovered: rec.replayed,
                errors_remount_ro: AtomicBool::new(errors == ERRORS_REMOUNT_RO),
                error_seen: AtomicBool::new(false),
                shut_down: AtomicBool::new(false),
                error_unrecorded: AtomicBool::new(false),
                #[cfg(CONFIG_REXTFS_KUNIT_TEST)]
                test_ref <- kernel::new_mutex!(None),
                #[cfg(CONFIG_REXTFS_KUNIT_TEST)]
                test_iget_at_put_super: AtomicBool::new(false),
                #[cfg(CONFIG_REXTFS_KUNIT_TEST)]
                test_slow_evict: core::sync::atomic::AtomicU64::new(0),
            }),
            GFP_KERNEL,
        )
    }

    fn init_root(sb: &SuperBlock<Self, Ready>) -> Result<ARef<INode<Self>>> {
        let root = inode::iget(sb, format::ROOT_INO)?;
        if root.file_type() != fs::inode::mode::S_IFDIR {
            pr_err!("{}: root inode is not a directory\n", sb.id());
            return Err(EFSCORRUPTED);
        }
        if !sb.is_read_only() {
            mark_dirty(sb)?;
        } else if sb.data().recovered {
            finish_recovery_read_only(sb)?;
        }
        Ok(root)
    }

    fn statfs(sb: &SuperBlock<Self, Ready>) -> Result<fs::Stat> {
        let info = sb.data();
        let st = info.state.lock();
        let d = &st.disk;
        Ok(fs::Stat {
            magic: u64::from(format::SB_MAGIC),
            block_size: d.block_size() as u32,
            blocks: d.total_blocks - d.layout.data_start,
            free_blocks: d.free_blocks,
            // The reserve for tree nodes is free, but not for files (as in ext4).
            avail_blocks: alloc::available_blocks(d),
            files: d.total_inodes - (format::FIRST_INO - 1),
            free_files: d.free_inodes,
            name_len: format::MAX_NAME_LEN as u32,
        })
    }

    fn sync_fs(sb: &SuperBlock<Self, Ready>, wait: bool) -> Result {
        if sb.is_read_only() {
            record_pending_error(sb);
        }
        // Everything the VFS wrote back is in committed or running transactions: commit.
        if wait {
            journal::force(sb)?;
        }
        Ok(())
    }

    fn put_super(sb: &SuperBlock<Self, Ready>) {
        #[cfg(CONFIG_REXTFS_KUNIT_TEST)]
        reftest::at_put_super(sb);
        if check_live(sb).is_err() {
            // Shut down: the device is left as it was; the next mount replays the journal.
        } else if !sb.is_read_only() {
            if let Err(e) = mark_clean(sb) {
                pr_err!("{}: cannot mark the file system clean: {:?}\n", sb.id(), e);
            }
        } else {
            // A read-only mount has an empty journal; after an error the journal was aborted
            // and the next mount replays what was committed.
            let _ = journal::checkpoint(sb, || Ok(()));
            record_pending_error(sb);
            if sb.data().error_seen.load(Ordering::SeqCst) {
                // A checkpoint may have written an older super block home.
                let _ = mark_errors_on_disk(sb);
            }
        }
        // Tools reading the device after unmount must not see stale cached blocks.
        let _ = sb.invalidate_device_cache();
    }

    fn nr_cached_objects(sb: &SuperBlock<Self, Ready>) -> usize {
        sb.data().bufs.reclaimable()
    }

    fn free_cached_objects(sb: &SuperBlock<Self, Ready>, nr: usize) -> usize {
        sb.data().bufs.reclaim(nr)
    }

    fn write_inode(inode: &INodeView<Self>, sync: bool) -> Result {
        inode::write_inode(inode, sync)
    }

    fn evict_inode(inode: &INodeView<Self>) {
        inode::evict(inode)
    }

    fn remount(sb: &SuperBlock<Self, Ready>, read_only: bool) -> Result {
        if read_only {
            mark_clean(sb)
        } else {
            if sb.data().geo.needs_readonly() {
                return Err(EROFS);
            }
            if sb.data().unrecovered {
                pr_err!(
                    "{}: mounted with norecovery: the journal must be replayed before a read-write mount\n",
                    sb.id()
                );
                return Err(EINVAL);
            }
            mark_dirty(sb)
        }
    }

    const PARAMETERS: Option<&'static ParamTable> = Some(&PARAMS);

    fn reconfigure(sb: &SuperBlock<Self, Ready>, opts: &MountOptions) -> Result {
        if let Some(v) = opts.enumeration(OPT_ERRORS) {
            let ro = v == ERRORS_REMOUNT_RO;
            sb.data().errors_remount_ro.store(ro, Ordering::Relaxed);
        }
        if let Some(secs) = opts.u32(OPT_COMMIT) {
            let ms = commit_interval_ms(sb, secs)?;
            sb.data().commit_ms.store(ms, Ordering::Relaxed);
        }
        Ok(())
    }

    fn show_options(sb: &SuperBlock<Self, Ready>, m: &SeqFile) -> Result {
        // Only what differs from the defaults.
        let ms = sb.data().commit_ms.load(Ordering::Relaxed);
        if ms != DEFAULT_COMMIT_SECS * 1000 {
            seq_print!(m, ",commit={}", ms / 1000);
        }
        if !sb.data().errors_remount_ro.load(Ordering::Relaxed) {
            let name = ERRORS_MODES.name_of(ERRORS_CONTINUE).ok_or(EINVAL)?;
            seq_print!(m, ",errors={}", name.to_str().map_err(|_| EINVAL)?);
        }
        Ok(())
    }

    fn freeze_fs(sb: &SuperBlock<Self, Ready>) -> Result {
        // The VFS has synced everything and blocks new changes: make the image clean, so that
        // a snapshot of the frozen device needs no fsck.
        mark_clean(sb)
    }

    fn unfreeze_fs(sb: &SuperBlock<Self, Ready>) -> Result {
        if is_shut_down(sb) {
            // Shut down while frozen (its disk removed, say): nothing is written, and the
            // thaw must not fail, or the super block would stay frozen for good.
            return Ok(());
        }
        mark_in_use(sb)?;
        orphan::free_deferred(sb);
        Ok(())
    }

    fn getxattr(
        inode: &INode<Self>,
        ns: fs::xattr::Namespace,
        name: &CStr,
        value: &mut fs::xattr::Value<'_>,
    ) -> Result {
        crate::xattr::get(inode, ns, name, value)
    }

    fn setxattr(
        inode: &INode<Self>,
        ns: fs::xattr::Namespace,
        name: &CStr,
        value: Option<&[u8]>,
        flags: fs::xattr::SetFlags,
    ) -> Result {
        crate::xattr::set(inode, ns, name, value, flags)
    }

    fn listxattr(inode: &INode<Self>, list: &mut fs::xattr::List<'_>) -> Result {
        crate::xattr::list(inode, list)
    }

    fn get_acl(inode: &INode<Self>, kind: fs::acl::Kind) -> Result<Option<fs::acl::Acl>> {
        crate::xattr::get_acl(inode, kind)
    }

    fn set_acl(
        inode: &fs::inode::Locked<'_, Self>,
        kind: fs::acl::Kind,
        value: Option<&[u8]>,
        mode: u16,
    ) -> Result {
        crate::xattr::set_acl(inode, kind, value, mode)
    }

    fn inode_for_handle(
        sb: &SuperBlock<Self, Ready>,
        ino: u64,
        generation: u32,
    ) -> Result<ARef<INode<Self>>> {
        crate::inode::iget_handle(sb, ino, generation)
    }

    fn get_parent(dir: &INode<Self>) -> Result<ARef<INode<Self>>> {
        crate::inode::get_parent(dir)
    }

    fn commit_metadata(inode: &INode<Self>) -> Result {
        crate::inode::commit_metadata(inode)
    }

    fn shutdown(sb: &SuperBlock<Self, Ready>) {
        // The device is gone: stop as `FS_IOC_SHUTDOWN` with `NOLOGFLUSH` does (as ext4 and
        // XFS do); what was committed is replayed when the device comes back.
        crate::shutdown(sb);
    }

    fn periodic(sb: &SuperBlock<Self, Ready>) {
        // The commit timer: what completed in the last `commit=` seconds becomes durable.
        if let Err(e) = journal::commit(sb) {
            if e != EIO {
                pr_err!("{}: periodic journal commit failed: {:?}\n", sb.id(), e);
            }
        }
        sb.schedule_periodic(sb.data().commit_ms.load(Ordering::Relaxed));
    }
}

kernel::module_fs! {
    type: RextFs,
    name: "rextfs",
    authors: ["The rextfs developers"],
    description: "rextfs: a read-write extent file system on iomap",
    license: "GPL",
}

#[cfg(CONFIG_REXTFS_KUNIT_TEST)]
#[kunit_tests(rextfs_format)]
mod tests {
    use super::format::*;

    #[test]
    fn crc32c_check_value() {
        assert_eq!(crc32c(0, b"123456789"), 0xE306_9283);
    }

    #[test]
    fn superblock_round_trip_in_kernel() {
        let layout = Layout::compute(4096, 12, 1024, 1024).unwrap();
        let mut buf = [0u8; SB_SIZE];
        assert_eq!(Superblock::decode(&buf), Err(FormatError::BadMagic));
        let sb = Superblock {
            version: FORMAT_VERSION,
            block_log2: 12,
            feature_compat: 0,
            feature_incompat: 0,
            feature_ro_compat: 0,
            state: STATE_CLEAN,
            total_blocks: 4096,
            free_blocks: 4096 - layout.data_start,
            total_inodes: 1024,
            free_inodes: 1024 - 7,
            layout,
            root_ino: ROOT_INO,
            orphan_head: 0,
            first_ino: FIRST_INO,
            uuid: [0; 16],
            label: [0; LABEL_SIZE],
            hash_key: [1; 16],
            inode_size: INODE_SIZE as u32,
            mount_count: 0,
            mkfs_time: 0,
            mount_time: 0,
            write_time: 0,
            check_time: 0,
        };
        sb.encode(&mut buf).unwrap();
        assert_eq!(Superblock::decode(&buf), Ok(sb));
        buf[0x30] ^= 1;
        assert_eq!(Superblock::decode(&buf), Err(FormatError::BadChecksum));
    }

    #[test]
    fn bad_magic_refused() {
        assert_eq!(
            Superblock::decode(&[0u8; SB_SIZE]),
            Err(FormatError::BadMagic)
        );
        assert_eq!(Superblock::decode(&[]), Err(FormatError::Short));
    }
}
