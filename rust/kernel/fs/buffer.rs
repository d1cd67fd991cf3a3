// SPDX-License-Identifier: GPL-2.0

//! A metadata buffer cache for block-device file systems (in the spirit of `xfs_buf`, without
//! buffer heads).
//!
//! A [`BufCache`] keeps one [`Buf`] per file system block that metadata code has read: the
//! block's contents in an [`IoBuf`], read from the device once with a bio
//! ([`super::bdev`]) and then served from memory. A buffer is found with [`BufCache::read`]
//! (read from the device if it is not cached yet) or [`BufCache::get_new`] (for a block whose
//! old contents do not matter, e.g. a freshly allocated one), which return a [`BufRef`];
//! [`BufRef::lock`] gives the contents, behind the buffer's sleeping lock, as a [`BufGuard`].
//! The guard writes the block with [`BufGuard::write`] (write-through: the block is on the
//! device, maybe in its volatile cache, when that returns).
//!
//! Coherence with data I/O: file data is written by iomap's own bios, not through this cache.
//! A block that leaves the file system's metadata (freed, then maybe reused for file data)
//! must be dropped with [`BufCache::forget`] when it is freed, so that a later metadata use of
//! the block reads it again from the device.
//!
//! The cache holds about [`BufCache::new`]'s `limit` buffers: past it, buffers that nobody
//! holds are dropped, unless they are pinned ([`BufGuard::set_pinned`]): a journal pins the
//! blocks whose changes are only in memory and in its log, until it wrote them home.

use super::{
    bdev::{IoBuf, WriteFlags},
    registration::FileSystem,
    SbState, SuperBlock,
};
use crate::{
    bindings,
    prelude::*,
    rbtree::{RBTree, RBTreeNode},
    static_lock_class,
    sync::{Arc, Mutex, MutexGuard},
};
use core::{
    ops::{Deref, DerefMut},
    sync::atomic::{AtomicBool, AtomicUsize, Ordering},
};

/// Lock class names. The keys (`static_lock_class!`) and the names are statics of this crate,
/// wherever the code that creates the locks is compiled (generic or small functions are
/// compiled into the file system's module): a key in the kernel with a name in a module that
/// is unloaded and loaded again makes lockdep warn (`look_up_lock_class`).
static MAP_LOCK_NAME: &CStr = c"BufCache::map";
/// See [`MAP_LOCK_NAME`].
static BUF_LOCK_NAME: &CStr = c"Buf::inner";

/// Contents and state of a [`Buf`], behind its lock.
struct BufInner {
    data: IoBuf,
    /// `data` holds the block as it is on the device (or as it was last written).
    uptodate: bool,
    /// The check ([`BufCache::read_verified`]) the contents passed since they were read, by
    /// its tag: a block is checked again when it is read as another kind of block.
    verified: Option<u32>,
    /// Bumped whenever the contents or `uptodate` change other than through a guard (a read,
    /// [`BufCache::get_new`]'s zeroes, an invalidation, a readahead's contents): a
    /// [`BufCache::readahead`] puts its contents in only if nothing did since it looked.
    gen: u64,
}

/// One cached file system block.
#[pin_data]
pub struct Buf {
    blockno: u64,
    /// Number of [`BufRef`]s; changes from zero only under the cache's map lock.
    holders: AtomicUsize,
    /// The block left the cache through [`BufCache::forget`] while held: it must not be
    /// written any more (it may hold file data now).
    forgotten: AtomicBool,
    /// The contents are newer than the device's: eviction must not drop the buffer.
    pinned: AtomicBool,
    /// Found in the cache since the clock hand last passed it: the hand passes it once more
    /// before it may drop it (a second chance, so that blocks used again and again, such as
    /// bitmaps and index roots, outlive those read once).
    referenced: AtomicBool,
    #[pin]
    inner: Mutex<BufInner>,
}

/// Buffers by block number, and their number.
struct CacheMap {
    tree: RBTree<u64, Arc<Buf>>,
    count: usize,
    /// Where [`BufCache::shrink`] goes on.
    hand: u64,
    /// `count` below which no shrink is tried: after a shrink that could not get under the
    /// limit (every other buffer pinned or held, as when a journal holds many blocks until
    /// its checkpoint), the next one waits until a quarter of the limit more buffers came
    /// in, so that a cache full of pinned buffers is not walked whole at every insertion.
    next_shrink: usize,
}

/// The metadata buffer cache of one super block.
///
/// # Invariants
///
/// Every buffer in `map` has `block_size` bytes and describes block `blockno` of the device
/// of the super block whose address is `sb`.
#[pin_data]
pub struct BufCache {
    /// Address of the owning super block, only compared (never dereferenced).
    sb: usize,
    block_size: usize,
    limit: usize,
    /// `map.count`, readable without the map lock ([`BufCache::reclaimable`]).
    cached: AtomicUsize,
    #[pin]
    map: Mutex<CacheMap>,
}

/// One block of a [`BufCache::readahead`]: its buffer (held), where it is on the device, the
/// buffer for the bio, the generation of the buffer's contents when it was looked at, and
/// whether the bio was submitted.
struct Readahead<'c> {
    buf: BufRef<'c>,
    pos: u64,
    data: IoBuf,
    gen: u64,
    submitted: bool,
}

/// The memory the kernel can use for [`BufCache`]'s `kmalloc`'ed buffers, in bytes
/// (`si_meminfo`'s `totalram` less `totalhigh`): what a file system sizes the cache's limit
/// by.
pub fn total_ram() -> u64 {
    let mut info = bindings::sysinfo::default();
    // SAFETY: `info` is a valid `sysinfo` for `si_meminfo` to fill.
    unsafe { bindings::si_meminfo(&mut info) };
    (info.totalram.saturating_sub(info.totalhigh) as u64).saturating_mul(u64::from(info.mem_unit))
}

/// A reference to a cached buffer: the buffer stays in the cache while one exists.
pub struct BufRef<'c> {
    buf: Arc<Buf>,
    cache: &'c BufCache,
}

/// The locked contents of a buffer: the whole block, readable and writable.
pub struct BufGuard<'b> {
    buf: &'b Buf,
    /// Address of the super block of the cache the buffer belongs to.
    sb: usize,
    inner: MutexGuard<'b, BufInner>,
}

impl BufCache {
    /// Creates an empty cache for blocks of `block_size` bytes of the device of `sb`, holding
    /// at most about `limit` buffers nobody uses. `EINVAL` if `block_size` is not a power of
    /// two from 512 bytes to 64 KiB.
    pub fn new<T: FileSystem, S: SbState>(
        sb: &SuperBlock<T, S>,
        block_size: u32,
        limit: usize,
    ) -> Result<impl PinInit<Self, Error>> {
        Self::init(sb.as_raw() as usize, block_size as usize, limit)
    }

    /// The non-generic part of [`BufCache::new`].
    fn init(sb: usize, block_size: usize, limit: usize) -> Result<impl PinInit<Self, Error>> {
        if !block_size.is_power_of_two() || !(512..=super::bdev::IO_BUF_MAX).contains(&block_size) {
            return Err(EINVAL);
        }
        Ok(try_pin_init!(Self {
            sb,
            block_size,
            limit: limit.max(16),
            cached: AtomicUsize::new(0),
            map <- Mutex::new(
                CacheMap {
                    tree: RBTree::new(),
                    count: 0,
                    hand: 0,
                    next_shrink: 0,
                },
                MAP_LOCK_NAME,
                static_lock_class!(),
            ),
        }? Error))
    }

    /// The block size of the cache.
    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// Checks that `sb` is the super block the cache was made for.
    fn check_sb<T: FileSystem>(&self, sb: &SuperBlock<T>) -> Result {
        if sb.as_raw() as usize != self.sb {
            return Err(EINVAL);
        }
        Ok(())
    }

    /// Byte position of `blockno` on the device.
    #[inline]
    fn pos(&self, blockno: u64) -> Result<u64> {
        blockno.checked_mul(self.block_size as u64).ok_or(EINVAL)
    }

    /// Finds or inserts the buffer of `blockno` and takes a reference to it. Nothing is
    /// allocated with the map lock held.
    fn lookup(&self, blockno: u64) -> Result<BufRef<'_>> {
        if let Some(r) = self.find(&self.map.lock(), blockno) {
            return Ok(r);
        }
        let data = IoBuf::new(self.block_size)?;
        let buf = Arc::pin_init(
            pin_init!(Buf {
                blockno,
                holders: AtomicUsize::new(1),
                forgotten: AtomicBool::new(false),
                pinned: AtomicBool::new(false),
                referenced: AtomicBool::new(false),
                inner <- Mutex::new(
                    BufInner {
                        data,
                        uptodate: false,
                        verified: None,
                        gen: 0,
                    },
                    BUF_LOCK_NAME,
                    static_lock_class!(),
                ),
            }),
            GFP_KERNEL,
        )?;
        let node = RBTreeNode::new(blockno, buf.clone(), GFP_KERNEL)?;
        let mut map = self.map.lock();
        // Someone else may have inserted the block meanwhile: theirs wins.
        if let Some(r) = self.find(&map, blockno) {
            return Ok(r);
        }
        map.tree.insert(node);
        map.count += 1;
        if map.count > self.limit && map.count >= map.next_shrink {
            self.shrink_to_limit(&mut map);
        }
        self.cached.store(map.count, Ordering::Relaxed);
        Ok(BufRef { buf, cache: self })
    }

    /// Drops buffers nobody holds or pinned until the cache is a quarter below its limit. If
    /// it stays above the limit (everything else is pinned or held), the next try waits
    /// until a quarter more buffers came in (a quarter of the limit at least), so that the
    /// walks over the pinned ones cost a bounded amount per insertion.
    fn shrink_to_limit(&self, map: &mut CacheMap) {
        Self::shrink(map, self.limit - self.limit / 4, usize::MAX);
        map.next_shrink = if map.count > self.limit {
            map.count + (self.limit / 4).max(map.count / 4)
        } else {
            0
        };
    }

    /// Brings the cache back under its limit if it is above it (e.g. after a journal's
    /// checkpoint unpinned the buffers it held), rather than at the next insertions.
    pub fn trim(&self) {
        let mut map = self.map.lock();
        if map.count > self.limit {
            self.shrink_to_limit(&mut map);
            self.cached.store(map.count, Ordering::Relaxed);
        }
    }

    /// Takes a reference to the cached buffer of `blockno`, if there is one (map lock held).
    fn find(&self, map: &CacheMap, blockno: u64) -> Option<BufRef<'_>> {
        let buf = map.tree.get(&blockno)?;
        buf.holders.fetch_add(1, Ordering::AcqRel);
        buf.referenced.store(true, Ordering::Relaxed);
        Some(BufRef {
            buf: buf.clone(),
            cache: self,
        })
    }

    /// Drops buffers nobody holds until at most `target` remain (or none can be dropped),
    /// going round the blocks from where the last call stopped (a clock hand), so that the
    /// same low blocks are not always the first to go, and looking at `max_steps` buffers at
    /// most. A buffer found in the cache since the hand last passed it is passed once more
    /// (its `referenced` cleared) before it may go: two rounds may be needed to drop it.
    fn shrink(map: &mut CacheMap, target: usize, max_steps: usize) {
        let mut steps = map.count.saturating_mul(2).min(max_steps);
        let hand = map.hand;
        let mut cursor = match map.tree.cursor_lower_bound_mut(&hand) {
            Some(c) => c,
            None => match map.tree.cursor_front_mut() {
                Some(c) => c,
                None => return,
            },
        };
        while map.count > target && steps > 0 {
            steps -= 1;
            let (&key, buf) = cursor.current();
            map.hand = key.wrapping_add(1);
            // Holders are only added under the map lock, which we hold: zero stays zero.
            let next = if buf.holders.load(Ordering::Acquire) == 0
                && !buf.pinned.load(Ordering::Acquire)
                && !buf.referenced.swap(false, Ordering::Relaxed)
            {
                map.count -= 1;
                match cursor.remove_current() {
                    // After the last block, `remove_current` steps back: go round instead.
                    (Some(c), _) if *c.current().0 > key => Some(c),
                    (_, _) => None,
                }
            } else {
                cursor.move_next()
            };
            cursor = match next {
                Some(c) => c,
                None => match map.tree.cursor_front_mut() {
                    Some(c) => c,
                    None => return,
                },
            };
        }
    }

    /// Returns the buffer of block `blockno`, read from the device of `sb` if it is not cached
    /// (or its last read or write failed). `EINVAL` for a block past the end of the device or
    /// another super block than the cache's; the I/O error if the read fails.
    pub fn read<T: FileSystem>(&self, sb: &SuperBlock<T>, blockno: u64) -> Result<BufRef<'_>> {
        self.check_sb(sb)?;
        let pos = self.pos(blockno)?;
        let r = self.lookup(blockno)?;
        Self::fill(sb, pos, &mut r.buf.inner.lock())?;
        Ok(r)
    }

    /// Reads the blocks of `start..start + count` that are not cached into the cache, one bio
    /// a block under a block plug (the block layer merges them), and waits for them, as ext4
    /// reads ahead in its inode tables (`inode_readahead_blks`): a later
    /// [`BufCache::read`] or [`BufCache::with_block`] of one of them finds it without I/O. At
    /// most [`BufCache::READAHEAD_MAX`] blocks; `EINVAL` for a range past the end of the device
    /// or another super block than the cache's.
    ///
    /// Best effort: blocks it could not read are left for their next user to read (and to
    /// report the error of). The buffers are in the cache, not up to date, while the bios are
    /// in flight: a task that needs one meanwhile reads it itself ([`BufCache::read`]), or
    /// overwrites it ([`BufCache::get_new`]), and whatever it did wins; [`BufRef::lock`] of
    /// such a buffer gives `EIO`.
    ///
    /// Only for blocks whose every change goes through this cache, such as an inode table:
    /// the contents a block gets here are the device's.
    pub fn readahead<T: FileSystem>(&self, sb: &SuperBlock<T>, start: u64, count: u64) -> Result {
        self.check_sb(sb)?;
        let count = count.min(Self::READAHEAD_MAX as u64);
        let end = start.checked_add(count).ok_or(EINVAL)?;
        if self.pos(end)? > sb.block_device().size() {
            return Err(EINVAL);
        }
        // The buffers are inserted (not up to date) and held before the bios are submitted.
        // A block that is not in the cache has no newer copy than the device's (every change
        // goes through the cache, and a pinned buffer is never dropped); whatever gives a
        // buffer contents meanwhile bumps its generation, and the read then stays out.
        let mut reads = KVec::with_capacity(count as usize, GFP_KERNEL)?;
        for blockno in start..end {
            if self.contains(blockno) {
                continue;
            }
            let buf = self.lookup(blockno)?;
            let gen = {
                let inner = buf.buf.inner.lock();
                if inner.uptodate {
                    continue;
                }
                inner.gen
            };
            reads.push(
                Readahead {
                    pos: self.pos(blockno)?,
                    data: IoBuf::new(self.block_size)?,
                    gen,
                    submitted: false,
                    buf,
                },
                GFP_KERNEL,
            )?;
        }
        if reads.is_empty() {
            return Ok(());
        }
        let pending = &mut reads;
        let ((), r) = sb.block_device().batch(move |bt| {
            for Readahead {
                pos,
                data,
                submitted,
                ..
            } in pending.iter_mut()
            {
                *submitted = bt.read(*pos, data).is_ok();
            }
        });
        if r.is_err() {
            // Which read failed is not known: each block is read again by its next user.
            return Ok(());
        }
        for ra in reads.iter_mut().filter(|ra| ra.submitted) {
            let mut inner = ra.buf.buf.inner.lock();
            if !inner.uptodate && inner.gen == ra.gen {
                core::mem::swap(&mut inner.data, &mut ra.data);
                inner.uptodate = true;
                inner.verified = None;
                inner.gen = inner.gen.wrapping_add(1);
            }
        }
        Ok(())
    }

    /// The most blocks [`BufCache::readahead`] reads in one call.
    pub const READAHEAD_MAX: usize = 64;

    /// Reads the block at byte `pos` of the device of `sb` into `inner`, unless its contents
    /// are up to date.
    fn fill<T: FileSystem>(sb: &SuperBlock<T>, pos: u64, inner: &mut BufInner) -> Result {
        if !inner.uptodate {
            inner.gen = inner.gen.wrapping_add(1);
            sb.block_device().read(pos, &mut inner.data)?;
            inner.uptodate = true;
            inner.verified = None;
        }
        Ok(())
    }

    /// Like [`BufCache::read`], and `verify` checks the contents (e.g. magic and checksum)
    /// the first time they are used as a block of kind `tag` after a read from the device:
    /// its error is returned and the block is checked again at the next call. Contents that
    /// passed the check of the same `tag` are not checked again (changes the file system
    /// makes through the guard are its own). `verify` runs with the buffer locked: it must
    /// not use the cache.
    pub fn read_verified<T: FileSystem>(
        &self,
        sb: &SuperBlock<T>,
        blockno: u64,
        tag: u32,
        verify: impl FnOnce(&[u8]) -> Result,
    ) -> Result<BufRef<'_>> {
        let r = self.read(sb, blockno)?;
        {
            let mut inner = r.buf.inner.lock();
            if !inner.uptodate {
                // Another task's I/O failed since our read: let the caller try again.
                return Err(EIO);
            }
            if inner.verified != Some(tag) {
                // A failed check of another kind leaves the block checked as what it was:
                // contents the file system completes later (see `BufGuard::set_verified`)
                // would fail a check they passed as their own kind, and must not lose it
                // to a stray read as something else.
                verify(&inner.data)?;
                inner.verified = Some(tag);
            }
        }
        Ok(r)
    }

    /// Runs `f` on the locked contents of block `blockno`: what [`BufCache::read_verified`]
    /// then [`BufRef::lock`] do, with the buffer's lock taken once instead of three times
    /// (for the lookups that metadata code makes at every operation). The block is read from
    /// the device of `sb` if it is not cached (or its last read or write failed); `verify`
    /// checks it the first time it is used as a block of kind `tag` after that, and its error
    /// is returned (`f` not run). With `tag` `None`, nothing is checked (as
    /// [`BufCache::read`]). `f` runs with the buffer locked: it must not use the cache.
    pub fn with_block<T: FileSystem, R>(
        &self,
        sb: &SuperBlock<T>,
        blockno: u64,
        tag: Option<u32>,
        verify: impl FnOnce(&[u8]) -> Result,
        f: impl FnOnce(BufGuard<'_>) -> R,
    ) -> Result<R> {
        self.check_sb(sb)?;
        let pos = self.pos(blockno)?;
        let r = self.lookup(blockno)?;
        let mut inner = r.buf.inner.lock();
        Self::fill(sb, pos, &mut inner)?;
        if let Some(tag) = tag {
            if inner.verified != Some(tag) {
                // As in `read_verified`: a failed check leaves the block's kind as it was.
                verify(&inner.data)?;
                inner.verified = Some(tag);
            }
        }
        Ok(f(BufGuard {
            buf: &r.buf,
            sb: self.sb,
            inner,
        }))
    }

    /// Returns the buffer of block `blockno` without reading it, zero-filled unless it was
    /// cached already (a buffer being read by [`BufCache::read`] is waited for; one being read
    /// ahead is not, and keeps the zeroes): for a block the caller is about to overwrite
    /// entirely, or one it knows to hold zeroes on the device.
    pub fn get_new<T: FileSystem>(&self, sb: &SuperBlock<T>, blockno: u64) -> Result<BufRef<'_>> {
        self.check_sb(sb)?;
        let pos = self.pos(blockno)?;
        let end = pos.checked_add(self.block_size as u64).ok_or(EINVAL)?;
        if end > sb.block_device().size() {
            return Err(EINVAL);
        }
        let r = self.lookup(blockno)?;
        {
            let mut inner = r.buf.inner.lock();
            if !inner.uptodate {
                inner.data.fill(0);
                inner.uptodate = true;
                inner.verified = None;
                inner.gen = inner.gen.wrapping_add(1);
            }
        }
        Ok(r)
    }

    /// Drops the buffers of blocks `start..start + count` (blocks that left the metadata),
    /// so that their next metadata use reads them from the device. A buffer still held is
    /// marked so that [`BufGuard::write`] refuses it (`ESTALE`): the block may hold file data
    /// by then.
    pub fn forget(&self, start: u64, count: u64) {
        let end = start.saturating_add(count);
        let mut map = self.map.lock();
        let mut removed = 0;
        if let Some(mut cursor) = map.tree.cursor_lower_bound_mut(&start) {
            loop {
                let (&key, buf) = cursor.current();
                // After a removal the cursor may step back to a block before `start`.
                if key < start || key >= end {
                    break;
                }
                buf.forgotten.store(true, Ordering::Release);
                removed += 1;
                match cursor.remove_current() {
                    (Some(next), _) => cursor = next,
                    (None, _) => break,
                }
            }
        }
        map.count -= removed;
        map.next_shrink = map.next_shrink.saturating_sub(removed);
        self.cached.store(map.count, Ordering::Relaxed);
    }

    /// Whether block `blockno` is in the cache (up to date or not); never reads the device.
    /// Unlike [`BufCache::get_cached`], it does not count as a use of the buffer: a probe
    /// (before a readahead) does not give the buffer a second chance.
    pub fn contains(&self, blockno: u64) -> bool {
        self.map.lock().tree.get(&blockno).is_some()
    }

    /// The buffer of block `blockno` if it is cached; never reads the device.
    pub fn get_cached(&self, blockno: u64) -> Option<BufRef<'_>> {
        self.find(&self.map.lock(), blockno)
    }

    /// Drops every buffer nobody holds and nobody pinned (e.g. before the device is handed
    /// back at unmount).
    pub fn shrink_all(&self) {
        let mut map = self.map.lock();
        Self::shrink(&mut map, 0, usize::MAX);
        map.next_shrink = 0;
        self.cached.store(map.count, Ordering::Relaxed);
    }

    /// The number of cached buffers, read without the map lock: what
    /// [`BufCache::reclaim`] works on (an upper bound of what it can drop: held and pinned
    /// buffers stay). For a file system's [`FileSystem::nr_cached_objects`].
    pub fn reclaimable(&self) -> usize {
        self.cached.load(Ordering::Relaxed)
    }

    /// Looks at up to `nr` buffers, going round the blocks as [`BufCache`]'s own limit does,
    /// and drops those that nobody holds, nobody pinned and nobody found since the hand last
    /// passed them; returns how many it dropped. For a file system's
    /// [`FileSystem::free_cached_objects`], where `nr` is the shrinker's scan budget: it takes
    /// the map lock only if it is free (reclaim should not wait behind a cache lookup; the
    /// lookups allocate nothing under it), allocates nothing and frees what it drops.
    pub fn reclaim(&self, nr: usize) -> usize {
        let Some(mut map) = self.map.try_lock() else {
            return 0;
        };
        let before = map.count;
        Self::shrink(&mut map, 0, nr);
        self.cached.store(map.count, Ordering::Relaxed);
        before - map.count
    }

    /// Number of cached buffers.
    pub fn count(&self) -> usize {
        self.map.lock().count
    }
}

impl BufRef<'_> {
    /// The block number of the buffer.
    pub fn blockno(&self) -> u64 {
        self.buf.blockno
    }

    /// Locks the buffer and returns its contents; `EIO` if they are not those of the block
    /// (a read or write by another task failed since the buffer was found, or a
    /// [`BufCache::readahead`] has not filled it yet: reading the block with
    /// [`BufCache::read`] goes to the device).
    pub fn lock(&self) -> Result<BufGuard<'_>> {
        let inner = self.buf.inner.lock();
        if !inner.uptodate {
            return Err(EIO);
        }
        Ok(BufGuard {
            buf: &self.buf,
            sb: self.cache.sb,
            inner,
        })
    }
}

impl Drop for BufRef<'_> {
    #[inline]
    fn drop(&mut self) {
        self.buf.holders.fetch_sub(1, Ordering::AcqRel);
    }
}

impl BufGuard<'_> {
    /// The block number of the buffer.
    pub fn blockno(&self) -> u64 {
        self.buf.blockno
    }

    /// Writes the block to the device of `sb` with `flags` and waits for it. On failure the
    /// buffer is marked not uptodate, so that its next read goes to the device again.
    /// `EINVAL` if `sb` is not the super block of the cache the buffer came from, `ESTALE` if
    /// the block was forgotten ([`BufCache::forget`]) since the buffer was found.
    pub fn write<T: FileSystem>(&mut self, sb: &SuperBlock<T>, flags: WriteFlags) -> Result {
        if sb.as_raw() as usize != self.sb {
            return Err(EINVAL);
        }
        if self.buf.forgotten.load(Ordering::Acquire) {
            return Err(ESTALE);
        }
        let pos = self
            .buf
            .blockno
            .checked_mul(self.inner.data.len() as u64)
            .ok_or(EINVAL)?;
        let r = sb.block_device().write(pos, &self.inner.data, flags);
        if r.is_err() {
            self.invalidate();
        }
        r
    }

    /// Pins the buffer (or unpins it): a pinned buffer holds changes that are not on the
    /// device yet (a journal pins the blocks a transaction changed until they are written
    /// home), and the cache's eviction never drops it. [`BufCache::forget`] still does (the
    /// block is being freed).
    pub fn set_pinned(&mut self, pinned: bool) {
        self.buf.pinned.store(pinned, Ordering::Release);
    }

    /// Records that the contents, which the file system wrote itself, count as checked as a
    /// block of kind `tag`: the next [`BufCache::read_verified`] with `tag` does not run its
    /// check on them (for contents that the check would refuse until the file system
    /// completes them, e.g. a checksum computed later).
    pub fn set_verified(&mut self, tag: u32) {
        self.inner.verified = Some(tag);
    }

    /// Whether the buffer is pinned ([`BufGuard::set_pinned`]).
    pub fn is_pinned(&self) -> bool {
        self.buf.pinned.load(Ordering::Acquire)
    }

    /// Forgets the contents: the next [`BufCache::read`] reads the block from the device, and
    /// [`BufRef::lock`] fails until then. For changes that must not be written (e.g. an
    /// update that failed half way).
    pub fn invalidate(&mut self) {
        self.inner.uptodate = false;
        self.inner.verified = None;
        self.inner.gen = self.inner.gen.wrapping_add(1);
    }
}

impl BufGuard<'_> {
    /// A copy of the block's contents in a new vector (one `memcpy`, where collecting the
    /// bytes one by one would copy them in a loop).
    pub fn to_vec(&self, flags: crate::alloc::Flags) -> Result<KVec<u8>> {
        let src: &[u8] = &self.inner.data;
        let mut v = KVec::with_capacity(src.len(), flags)?;
        let spare = v.spare_capacity_mut();
        if spare.len() < src.len() {
            return Err(ENOMEM);
        }
        // SAFETY: `spare` has room for `src.len()` bytes (checked above), `src` is a valid
        // slice, and the two do not overlap (`v` is a new allocation). `MaybeUninit<u8>` has
        // the layout of `u8`.
        unsafe {
            core::ptr::copy_nonoverlapping(src.as_ptr(), spare.as_mut_ptr().cast(), src.len())
        };
        // SAFETY: The first `src.len()` spare elements were initialised just above, and
        // `src.len() <= capacity - len` (`len` is 0 and the spare room was checked above).
        unsafe { v.inc_len(src.len()) };
        Ok(v)
    }
}

impl Deref for BufGuard<'_> {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        &self.inner.data
    }
}

impl DerefMut for BufGuard<'_> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.inner.data
    }
}

#[kunit_tests(rust_fs_buffer)]
mod tests {
    use super::*;
    use crate::{fs::super_block::tests::Fs, fs::Ready};

    /// Two distinct, never mounted super blocks: only their addresses are used (every path
    /// the tests below take stops before any I/O, which would find no `s_bdev`).
    struct FakeSbs(KVec<bindings::super_block>);

    impl FakeSbs {
        fn new() -> Self {
            let mut v = KVec::with_capacity(2, GFP_KERNEL).unwrap();
            for _ in 0..2 {
                // SAFETY: An all-zero `super_block` is a valid value to hold; never mounted.
                v.push(unsafe { core::mem::zeroed() }, GFP_KERNEL).unwrap();
            }
            Self(v)
        }

        /// Both super blocks, from one pointer to the vector's memory.
        fn get(&mut self) -> (&SuperBlock<Fs, Ready>, &SuperBlock<Fs, Ready>) {
            let p = self.0.as_mut_ptr();
            // SAFETY: `p` and `p + 1` are distinct elements of the vector, alive and not moved
            // while `self` is borrowed; the cache only compares their addresses and reads
            // nothing through them on the paths tested.
            unsafe { (SuperBlock::from_raw(p), SuperBlock::from_raw(p.add(1))) }
        }
    }

    /// The buffer of `blockno`, as if it had been read (uptodate, all zero).
    fn cached(c: &BufCache, blockno: u64) -> Result<BufRef<'_>> {
        let r = c.lookup(blockno)?;
        r.buf.inner.lock().uptodate = true;
        Ok(r)
    }

    fn new_cache(sb: &SuperBlock<Fs>, limit: usize) -> Pin<KBox<BufCache>> {
        KBox::pin_init(BufCache::new(sb, 4096, limit).unwrap(), GFP_KERNEL).unwrap()
    }

    #[test]
    fn refuses_bad_block_sizes_and_other_super_blocks() {
        let mut v = FakeSbs::new();
        let (sb0, sb1) = v.get();
        for bad in [0, 256, 3000, 128 * 1024] {
            assert!(BufCache::new(sb0, bad, 16).is_err());
        }
        let c = new_cache(sb0, 16);
        assert_eq!(c.block_size(), 4096);
        assert!(matches!(c.read(sb1, 1), Err(e) if e == EINVAL));
        assert!(matches!(c.get_new(sb1, 1), Err(e) if e == EINVAL));
        // A guard refuses to write to another super block's device.
        let r = cached(&c, 3).unwrap();
        assert_eq!(r.lock().unwrap().write(sb1, WriteFlags::NONE), Err(EINVAL));
    }

    #[test]
    fn lookup_shares_one_buffer_per_block() {
        let mut v = FakeSbs::new();
        let c = new_cache(v.get().0, 16);
        let a = cached(&c, 5).unwrap();
        let b = cached(&c, 5).unwrap();
        assert!(Arc::ptr_eq(&a.buf, &b.buf));
        assert_eq!(a.blockno(), 5);
        assert_eq!(a.buf.holders.load(Ordering::Relaxed), 2);
        drop(b);
        assert_eq!(a.buf.holders.load(Ordering::Relaxed), 1);
        // A change through one reference is seen through the next lookup.
        a.lock().unwrap()[0] = 0xa5;
        assert_eq!(cached(&c, 5).unwrap().lock().unwrap()[0], 0xa5);
        assert_eq!(c.count(), 1);
    }

    #[test]
    fn to_vec_copies_the_whole_block() {
        let mut v = FakeSbs::new();
        let c = new_cache(v.get().0, 16);
        let r = cached(&c, 9).unwrap();
        let mut g = r.lock().unwrap();
        for (i, b) in g.iter_mut().enumerate() {
            *b = (i % 251) as u8;
        }
        let copy = g.to_vec(GFP_KERNEL).unwrap();
        assert_eq!(copy.len(), 4096);
        assert!(copy[..] == g[..]);
        // A copy, not a view: later changes of the block leave it alone.
        g[0] = 0xff;
        assert_eq!(copy[0], 0);
    }

    #[test]
    fn shrink_drops_only_unheld_buffers() {
        let mut v = FakeSbs::new();
        let c = new_cache(v.get().0, 16);
        let held = cached(&c, 0).unwrap();
        held.lock().unwrap()[0] = 7;
        for b in 1..40 {
            cached(&c, b).unwrap();
        }
        // Bounded, and the held buffer is still the cached one.
        assert!(c.count() <= 16);
        assert!(Arc::ptr_eq(&held.buf, &cached(&c, 0).unwrap().buf));
        c.shrink_all();
        assert_eq!(c.count(), 1);
        drop(held);
        c.shrink_all();
        assert_eq!(c.count(), 0);
    }

    #[test]
    fn reclaim_looks_at_nr_buffers_and_spares_held_pinned_and_found_ones() {
        let mut v = FakeSbs::new();
        let c = new_cache(v.get().0, 64);
        let held = cached(&c, 0).unwrap();
        let pinned = cached(&c, 1).unwrap();
        pinned.lock().unwrap().set_pinned(true);
        for b in 2..20 {
            cached(&c, b).unwrap();
        }
        // Found again since it was read: a second chance.
        drop(cached(&c, 2).unwrap());
        assert_eq!(c.reclaimable(), 20);
        // Five looked at from the hand (block 0): held, pinned, found, 3 and 4 dropped.
        assert_eq!(c.reclaim(5), 2);
        assert_eq!(c.reclaimable(), 18);
        // Round the rest: 5 to 19 go, then 2 on the second pass; 0 and 1 stay.
        assert_eq!(c.reclaim(100), 16);
        assert_eq!(c.count(), 2);
        assert_eq!(c.reclaim(100), 0);
        assert!(Arc::ptr_eq(&held.buf, &cached(&c, 0).unwrap().buf));
        assert!(Arc::ptr_eq(&pinned.buf, &cached(&c, 1).unwrap().buf));
        // A busy cache gives nothing, without waiting; the count needs no lock.
        let map = c.map.lock();
        assert_eq!((c.reclaimable(), c.reclaim(100)), (2, 0));
        drop(map);
        pinned.lock().unwrap().set_pinned(false);
        drop((held, pinned));
        // Both were found again above: two passes.
        assert_eq!(c.reclaim(100), 2);
        assert_eq!(c.reclaimable(), 0);
    }

    #[test]
    fn pinned_buffers_stay_until_unpinned_or_forgotten() {
        let mut v = FakeSbs::new();
        let c = new_cache(v.get().0, 16);
        for b in 0..4 {
            let r = cached(&c, b).unwrap();
            let mut g = r.lock().unwrap();
            g[0] = b as u8 + 1;
            g.set_pinned(true);
        }
        for b in 4..60 {
            cached(&c, b).unwrap();
        }
        c.shrink_all();
        // Only the pinned ones are left, with their contents.
        assert_eq!(c.count(), 4);
        for b in 0..4 {
            let r = c.get_cached(b).unwrap();
            let g = r.lock().unwrap();
            assert!(g.is_pinned());
            assert_eq!(g[0], b as u8 + 1);
        }
        assert!(c.get_cached(5).is_none());
        c.get_cached(0).unwrap().lock().unwrap().set_pinned(false);
        c.forget(1, 1);
        c.shrink_all();
        assert_eq!(c.count(), 2);
        assert!(c.get_cached(0).is_none() && c.get_cached(1).is_none());
    }

    #[test]
    fn a_cache_full_of_pinned_buffers_shrinks_in_steps() {
        let mut v = FakeSbs::new();
        let c = new_cache(v.get().0, 16);
        for b in 0..64 {
            cached(&c, b).unwrap().lock().unwrap().set_pinned(true);
        }
        // Every shrink found nothing to drop: the next one waits for a quarter more buffers
        // (a quarter of the limit, 4, at least), and unpinned buffers never pile up past
        // that (and the one being inserted).
        assert_eq!(c.count(), 64);
        let next = c.map.lock().next_shrink;
        assert!(next > 64 && next <= 64 + 64 / 4);
        for b in 64..200 {
            cached(&c, b).unwrap();
            assert!(c.count() <= 64 + 64 / 4 + 1);
        }
        // Once the pins are gone, a trim brings the cache back under its limit at once.
        for b in 0..64 {
            c.get_cached(b).unwrap().lock().unwrap().set_pinned(false);
        }
        c.trim();
        assert!(c.count() <= 12);
        assert_eq!(c.map.lock().next_shrink, 0);
        for b in 200..210 {
            cached(&c, b).unwrap();
            assert!(c.count() <= 16);
        }
    }

    #[test]
    fn forget_drops_the_range_and_fences_held_buffers() {
        let mut v = FakeSbs::new();
        let sb = v.get().0;
        let c = new_cache(sb, 64);
        for b in 0..10 {
            cached(&c, b).unwrap();
        }
        let held = cached(&c, 6).unwrap();
        c.forget(4, 4);
        assert_eq!(c.count(), 6);
        // The held buffer of a forgotten block must not reach the device any more.
        assert_eq!(
            held.lock().unwrap().write(sb, WriteFlags::NONE),
            Err(ESTALE)
        );
        // A new lookup gets a new buffer; blocks outside the range are untouched.
        assert!(!Arc::ptr_eq(&held.buf, &cached(&c, 6).unwrap().buf));
        assert!(!cached(&c, 6).unwrap().buf.forgotten.load(Ordering::Relaxed));
        // 6 is cached again (7 buffers); a range running past the last block drops 9 only,
        // an empty range nothing.
        assert_eq!(c.count(), 7);
        c.forget(9, 100);
        c.forget(3, 0);
        assert_eq!(c.count(), 6);
        assert!(cached(&c, 8).unwrap().buf.holders.load(Ordering::Relaxed) == 1);
        assert_eq!(c.count(), 6);
    }

    #[test]
    fn contents_not_uptodate_are_refused() {
        let mut v = FakeSbs::new();
        let c = new_cache(v.get().0, 16);
        // Found but never read (or its read failed): no access to the stale bytes.
        let r = c.lookup(11).unwrap();
        assert!(matches!(r.lock(), Err(e) if e == EIO));
        let r = cached(&c, 12).unwrap();
        let mut g = r.lock().unwrap();
        g[0] = 1;
        g.invalidate();
        drop(g);
        assert!(matches!(r.lock(), Err(e) if e == EIO));
    }

    #[test]
    fn verify_runs_once_per_kind() {
        let mut v = FakeSbs::new();
        let sb = v.get().0;
        let c = new_cache(sb, 16);
        drop(cached(&c, 2).unwrap());
        let calls = core::cell::Cell::new(0);
        let ok = |_: &[u8]| -> Result {
            calls.set(calls.get() + 1);
            Ok(())
        };
        // A failed check is returned and repeated at the next read.
        assert!(matches!(c.read_verified(sb, 2, 1, |_| Err(EUCLEAN)), Err(e) if e == EUCLEAN));
        c.read_verified(sb, 2, 1, ok).unwrap();
        c.read_verified(sb, 2, 1, ok).unwrap();
        assert_eq!(calls.get(), 1);
        // Read as another kind of block: checked again, with that kind's check.
        c.read_verified(sb, 2, 2, ok).unwrap();
        assert_eq!(calls.get(), 2);
        assert!(matches!(c.read_verified(sb, 2, 1, |_| Err(EUCLEAN)), Err(e) if e == EUCLEAN));
        // That failed check left the block checked as what it was.
        c.read_verified(sb, 2, 2, ok).unwrap();
        assert_eq!(calls.get(), 2);
    }

    #[test]
    fn with_block_checks_once_and_runs_under_the_lock() {
        let mut v = FakeSbs::new();
        let (sb, other) = v.get();
        let c = new_cache(sb, 16);
        cached(&c, 3).unwrap().lock().unwrap()[5] = 7;
        let calls = core::cell::Cell::new(0);
        let ok = |_: &[u8]| -> Result {
            calls.set(calls.get() + 1);
            Ok(())
        };
        // A failed check is returned, and `f` does not run.
        let ran = core::cell::Cell::new(false);
        let r = c.with_block(sb, 3, Some(1), |_| Err(EUCLEAN), |_| ran.set(true));
        assert!(matches!(r, Err(e) if e == EUCLEAN));
        assert!(!ran.get());
        assert_eq!(c.with_block(sb, 3, Some(1), ok, |g| g[5]).unwrap(), 7);
        assert_eq!(c.with_block(sb, 3, Some(1), ok, |g| g[5]).unwrap(), 7);
        assert_eq!(calls.get(), 1);
        // The kind the block was checked as is the one `read_verified` sees.
        c.read_verified(sb, 3, 1, ok).unwrap();
        assert_eq!(calls.get(), 1);
        // Without a kind nothing is checked; a change made through the guard stays, and the
        // buffer is not held afterwards.
        c.with_block(sb, 3, None, |_| Err(EUCLEAN), |mut g| g[5] = 8)
            .unwrap();
        assert_eq!(c.with_block(sb, 3, None, ok, |g| g[5]).unwrap(), 8);
        assert_eq!(calls.get(), 1);
        assert_eq!(
            c.get_cached(3).unwrap().buf.holders.load(Ordering::Acquire),
            1
        );
        // Another super block's cache is refused.
        assert!(matches!(c.with_block(other, 3, None, ok, |_| ()), Err(e) if e == EINVAL));
    }
}
