// SPDX-License-Identifier: GPL-2.0

//! File operations (`struct file_operations`) and directory iteration (`struct dir_context`).
//!
//! A file system implements [`Operations`] once per kind of inode and installs the const
//! table [`Ops`] in the inode's [`Params`](super::inode::Params).
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h).

use super::{
    inode::{INode, Locked, SharedLocked},
    registration::FileSystem,
    Kiocb, LocalFile,
};
use crate::{
    bindings,
    error::{from_result, to_result},
    iov::{IovIterDest, IovIterSource},
    prelude::*,
    types::{NotThreadSafe, Opaque},
};
use core::marker::PhantomData;

/// Memory mapping operations (`struct vm_operations_struct`) for [`Operations::VM_OPS`].
///
/// Every mapping served by them reads folios through the file's address space operations
/// (`filemap_fault`), and some only work with one particular table (iomap's `page_mkwrite`
/// with iomap's address space operations): the `mmap` glue refuses (`ENODEV`) a file whose
/// mapping lacks `read_folio`, or has another table than the one these operations require.
#[derive(Clone, Copy)]
pub struct VmOps(
    &'static bindings::vm_operations_struct,
    Option<&'static bindings::address_space_operations>,
);

impl VmOps {
    /// Wraps a static C table that works with any address space operations that read folios.
    ///
    /// # Safety
    ///
    /// Every callback of `table` must be sound for any mapping of a file whose file operations
    /// use it and whose address space operations have a `read_folio`.
    pub const unsafe fn from_static(table: &'static bindings::vm_operations_struct) -> Self {
        Self(table, None)
    }

    /// Wraps a static C table that only works for files whose address space operations are
    /// `aops` (checked at `mmap`).
    ///
    /// # Safety
    ///
    /// Every callback of `table` must be sound for any mapping of a file whose file operations
    /// use it and whose address space operations are `aops`.
    pub const unsafe fn from_static_for(
        table: &'static bindings::vm_operations_struct,
        aops: &'static bindings::address_space_operations,
    ) -> Self {
        Self(table, Some(aops))
    }
}

/// The check of the `mmap` glue: `ENODEV` unless the address space operations `a_ops` of the
/// file being mapped read folios and are those `ops` require.
fn check_mmap(ops: &VmOps, a_ops: &bindings::address_space_operations) -> Result {
    if a_ops.read_folio.is_none() {
        return Err(ENODEV);
    }
    match ops.1 {
        Some(want) if !core::ptr::eq(want, a_ops) => Err(ENODEV),
        _ => Ok(()),
    }
}

/// Tells whether the page cache of `file` can be read (`a_ops->read_folio` set).
fn reads_folios(file: *mut bindings::file) -> bool {
    // SAFETY: An open file has a valid mapping whose operations are valid (at least
    // `empty_aops`).
    unsafe { (*(*(*file).f_mapping).a_ops).read_folio.is_some() }
}

/// Reads through the page cache (`generic_file_read_iter`): the normal `read_iter` of a file
/// whose address space operations read folios.
///
/// `EINVAL` if the file's address space operations cannot read folios (no `read_folio`, e.g.
/// an inode created without address space operations), where C would call a `NULL` pointer.
pub fn generic_read_iter(iocb: &mut Kiocb<'_, ()>, to: &mut IovIterDest<'_>) -> Result<usize> {
    // SAFETY: A live kiocb has a valid file.
    if !reads_folios(unsafe { (*iocb.as_raw()).ki_filp }) {
        return Err(EINVAL);
    }
    // SAFETY: `iocb` and `to` are valid for the call.
    let r = unsafe { bindings::generic_file_read_iter(iocb.as_raw(), to.as_raw()) };
    if r < 0 {
        Err(Error::from_errno(r as i32))
    } else {
        Ok(r as usize)
    }
}

/// Checks a write and trims it to the limits (`generic_write_checks`), with the inode lock
/// held. Returns the number of bytes that may be written (0: nothing to do).
///
/// `EINVAL` if `lock` is not the guard of the iocb's inode.
pub fn write_checks<T: FileSystem>(
    lock: &Locked<'_, T>,
    iocb: &mut Kiocb<'_, ()>,
    from: &mut IovIterSource<'_>,
) -> Result<usize> {
    lock.check_iocb(iocb)?;
    // SAFETY: The inode lock is held exclusively.
    unsafe { generic_write_checks(iocb, from) }
}

/// `generic_write_checks`: the number of bytes that may be written.
///
/// # Safety
///
/// The inode lock of `iocb`'s inode must be held, at least shared.
unsafe fn generic_write_checks(
    iocb: &mut Kiocb<'_, ()>,
    from: &mut IovIterSource<'_>,
) -> Result<usize> {
    // SAFETY: `iocb` and `from` are valid for the call; the lock is held as the caller
    // guarantees.
    let r = unsafe { bindings::generic_write_checks(iocb.as_raw(), from.as_raw()) };
    if r < 0 {
        Err(Error::from_errno(r as i32))
    } else {
        Ok(r as usize)
    }
}

/// Removes set-uid bits and updates the modification times before a write
/// (`file_modified`), with the inode lock held. `EINVAL` if `lock` is not the guard of the
/// iocb's inode.
pub fn file_modified<T: FileSystem>(lock: &Locked<'_, T>, iocb: &mut Kiocb<'_, ()>) -> Result {
    lock.check_iocb(iocb)?;
    // SAFETY: The file of a live kiocb is valid; the inode lock is held.
    to_result(unsafe { bindings::file_modified((*iocb.as_raw()).ki_filp) })
}

/// [`write_checks`] with the inode lock held shared, for a write that may run under the
/// shared lock (a direct overwrite inside the file, as XFS and ext4 do). `generic_write_checks`
/// reads the size (for `O_APPEND`) and the limits, which change only under the lock held
/// exclusively, so the result holds as long as `lock` does; the caller must still check
/// where the write ends up (an append moves it to the end of the file) before writing under
/// the shared lock. `EINVAL` if `lock` is not the guard of the iocb's inode.
pub fn write_checks_shared<T: FileSystem>(
    lock: &SharedLocked<'_, T>,
    iocb: &mut Kiocb<'_, ()>,
    from: &mut IovIterSource<'_>,
) -> Result<usize> {
    lock.check_iocb(iocb)?;
    // SAFETY: The inode lock is held (shared), under which the size and the swap file flag
    // `generic_write_checks` reads are stable.
    unsafe { generic_write_checks(iocb, from) }
}

/// [`file_modified`] with the inode lock held shared: updates the modification times
/// (`kiocb_modified`) and returns `Ok(true)` if the inode has no privileges to remove
/// (`IS_NOSEC`: no set-id bits or security attributes were found since they last changed).
/// Otherwise it changes nothing and returns `Ok(false)`: removing privileges
/// (`file_remove_privs`) changes the inode under the exclusive lock, so the caller must take
/// it and call [`file_modified`] instead. With `IOCB_NOWAIT`, `EAGAIN` if the times cannot be
/// updated without blocking. `EINVAL` if `lock` is not the guard of the iocb's inode.
pub fn file_modified_shared<T: FileSystem>(
    lock: &SharedLocked<'_, T>,
    iocb: &mut Kiocb<'_, ()>,
) -> Result<bool> {
    lock.check_iocb(iocb)?;
    if !lock.is_nosec() {
        return Ok(false);
    }
    // SAFETY: The file of a live kiocb is valid and the inode lock is held. `S_NOSEC` is set
    // (and only cleared under the exclusive lock, which `lock` keeps out), so
    // `file_remove_privs_flags` returns at once without changing the inode; the time update
    // (`inode_update_time`) is made for callers holding the lock shared.
    to_result(unsafe { bindings::kiocb_modified(iocb.as_raw()) })?;
    Ok(true)
}

/// Handles `O_SYNC`/`O_DSYNC` after a write of `written` bytes (`generic_write_sync`); call
/// it without the inode lock.
pub fn write_sync(iocb: &mut Kiocb<'_, ()>, written: usize) -> Result<usize> {
    // SAFETY: `iocb` is valid.
    let r = unsafe { bindings::generic_write_sync(iocb.as_raw(), written as isize) };
    if r < 0 {
        Err(Error::from_errno(r as i32))
    } else {
        Ok(r as usize)
    }
}

/// `SEEK_DATA`: the next data at or after the offset.
pub const SEEK_DATA: i32 = bindings::SEEK_DATA as i32;
/// `SEEK_HOLE`: the next hole at or after the offset.
pub const SEEK_HOLE: i32 = bindings::SEEK_HOLE as i32;
/// `FALLOC_FL_KEEP_SIZE`: allocate without changing the file size.
pub const FALLOC_FL_KEEP_SIZE: i32 = bindings::FALLOC_FL_KEEP_SIZE as i32;

/// The open file of an [`Operations::llseek`] call: the only handle through which a file
/// system can change a file's position (`f_pos`).
///
/// The `llseek` glue makes one for the duration of the call and gives it to the hook by value;
/// nothing else can make one. Whoever calls `->llseek` owns the file position for the call:
/// `lseek(2)` calls it under `fdget_pos`, which takes `f_pos_lock` unless no other thread can
/// reach the file, and in-kernel callers of `vfs_llseek` are expected to serialise the
/// position themselves (see `file_seek_cur_needs_f_lock`). No other hook may write it: `ioctl`,
/// `fallocate` and `fsync` run under a plain `fdget` (`fsync` also from inside a `write(2)`,
/// whose own update of the position follows), and `read_dir` under the `fdget_pos` of
/// `getdents(2)`, which sets the position from the [`DirEmitter`]'s after the hook; they get a
/// [`LocalFile`], which cannot write it.
///
/// A `SeekFile` borrows the call (its lifetime ends when the hook returns) and is neither
/// [`Send`] nor [`Sync`]: it cannot be kept past the call nor be used from another thread, such
/// as a work item. The [`LocalFile`] it lends ([`SeekFile::file`]) cannot move to another thread
/// either, nor write the position.
///
/// # Invariants
///
/// `file` is an open file whose `->llseek` is running on the current thread for all of `'a`,
/// called by a caller that owns the file's position for that call.
pub struct SeekFile<'a> {
    file: &'a LocalFile,
    _not_send: NotThreadSafe,
}

impl<'a> SeekFile<'a> {
    /// Wraps the file of an `->llseek` call.
    ///
    /// # Safety
    ///
    /// `file` must be an open file whose `->llseek` runs on the current thread for all of
    /// `'a`, called by a caller that owns the file's position for the call, and the returned
    /// value must not outlive that call.
    unsafe fn from_raw(file: *mut bindings::file) -> Self {
        // INVARIANT: As the caller guarantees.
        Self {
            // SAFETY: The caller of `->llseek` holds a reference to the open file for `'a`.
            // An active `fdget_pos` that skipped `f_pos_lock` can only be this thread's:
            // `fdget_pos` skips the lock only for a file whose one reference is that of an fd
            // table that no other thread uses, so no other thread can be seeking it.
            file: unsafe { LocalFile::from_raw_file(file) },
            _not_send: NotThreadSafe,
        }
    }

    /// The open file, for what [`LocalFile`] offers (credentials, flags).
    pub fn file(&self) -> &LocalFile {
        self.file
    }

    /// The standard seek (`generic_file_llseek`): `SEEK_SET`, `SEEK_CUR`, `SEEK_END`, and
    /// `SEEK_DATA`/`SEEK_HOLE` treating the whole file as data.
    pub fn generic_llseek(&self, offset: i64, whence: i32) -> Result<i64> {
        // SAFETY: The file is valid for the call and, by the type invariants, its `->llseek`
        // is running on this thread for a caller that owns the position, so it may be
        // written (for `SEEK_CUR`, `generic_file_llseek` takes `f_lock` itself where the
        // VFS expects it).
        let r = unsafe { bindings::generic_file_llseek(self.file.as_ptr(), offset, whence) };
        if r < 0 {
            Err(Error::from_errno(r as i32))
        } else {
            Ok(r)
        }
    }

    /// Sets the file position to `offset` if it is at most `max` (`vfs_setpos`). Returns the
    /// new position; `EINVAL` for an offset past `max` or below zero.
    pub fn set_pos(&self, offset: i64, max: i64) -> Result<i64> {
        // SAFETY: The file is valid for the call and, by the type invariants, its `->llseek`
        // is running on this thread for a caller that owns the position, so `vfs_setpos` may
        // write it.
        let r = unsafe { bindings::vfs_setpos(self.file.as_ptr(), offset, max) };
        if r < 0 {
            Err(Error::from_errno(r as i32))
        } else {
            Ok(r)
        }
    }
}

// The handles the hooks get stay on the hook's thread: none of them is `Send` (or `Sync`),
// so a file system cannot hand one to a work item or another thread, where it could outlive
// the `fdget_pos` or the `->llseek` call it relies on (`ARef<LocalFile>` would be `Send` only
// if `LocalFile` were `Send` and `Sync`). This fails to compile if one of them becomes `Send`
// or `Sync`.
const _: fn() = || {
    /// Implemented twice for a type that is `Send` (or `Sync`), which makes the call below
    /// ambiguous for it.
    trait AmbiguousIfImpl<A> {
        fn some_item() {}
    }
    impl<T: ?Sized> AmbiguousIfImpl<()> for T {}
    struct IsSend;
    struct IsSync;
    impl<T: ?Sized + Send> AmbiguousIfImpl<IsSend> for T {}
    impl<T: ?Sized + Sync> AmbiguousIfImpl<IsSync> for T {}
    let _ = <LocalFile as AmbiguousIfImpl<_>>::some_item;
    let _ = <crate::sync::aref::ARef<LocalFile> as AmbiguousIfImpl<_>>::some_item;
    let _ = <SeekFile<'static> as AmbiguousIfImpl<_>>::some_item;
    let _ = <MountWrite<'static> as AmbiguousIfImpl<_>>::some_item;
    let _ = <Kiocb<'static, ()> as AmbiguousIfImpl<_>>::some_item;
};

/// Tells whether the I/O is direct (`IOCB_DIRECT`, the file was opened with `O_DIRECT`).
pub fn is_direct(iocb: &Kiocb<'_, ()>) -> bool {
    // SAFETY: The kiocb is valid.
    let flags = unsafe { (*iocb.as_raw()).ki_flags };
    flags & bindings::IOCB_DIRECT as i32 != 0
}

/// [`file_modified`] for calls without a kiocb (e.g. `fallocate`). `EINVAL` if `lock` is not
/// the guard of the file's inode.
///
/// The caller holds freeze protection, as the VFS does around `fallocate`; from another hook,
/// take a [`MountWrite`] first. Not checked: a change made while the file system is frozen
/// breaks the freeze's consistency, not memory safety.
pub fn file_modified_file<T: FileSystem>(lock: &Locked<'_, T>, file: &LocalFile) -> Result {
    // SAFETY: The file is valid; its inode never changes.
    if !lock.is_of_raw(unsafe { bindings::file_inode(file.as_ptr()) }) {
        return Err(EINVAL);
    }
    // SAFETY: The file is valid; the inode lock is held.
    to_result(unsafe { bindings::file_modified(file.as_ptr()) })
}

/// Writes back and waits for the dirty page cache of `file` in `start..=end`
/// (`file_write_and_wait_range`), reporting writeback errors once per file.
pub fn write_and_wait_range(file: &LocalFile, start: i64, end: i64) -> Result {
    // SAFETY: The file is valid.
    to_result(unsafe { bindings::file_write_and_wait_range(file.as_ptr(), start, end) })
}

/// Capabilities for [`capable`] (`CAP_*` of
/// [`include/uapi/linux/capability.h`](srctree/include/uapi/linux/capability.h)).
pub mod cap {
    use crate::bindings;

    /// Administration of the system (`CAP_SYS_ADMIN`): what a file system's label, trim and
    /// similar ioctls require.
    pub const SYS_ADMIN: u32 = bindings::CAP_SYS_ADMIN;
}

/// Whether the current task has capability `cap` ([`cap`]) in the initial user namespace
/// (`capable`; the check is audited).
pub fn capable(cap: u32) -> bool {
    // SAFETY: `capable` may be called from any task context with any capability number.
    unsafe { bindings::capable(cap as c_int) }
}

/// Write access to the mount of an open file (`mnt_want_write_file`), released on drop
/// (`mnt_drop_write_file`). An ioctl that changes the file system takes it before changing
/// anything, so that it fails with `EROFS` on a read-only mount and waits while the file
/// system is frozen.
///
/// It is not [`Send`]: the freeze protection it holds (`sb_start_write`) is released by the
/// task that took it, as lockdep expects.
pub struct MountWrite<'a>(&'a LocalFile);

impl<'a> MountWrite<'a> {
    /// Takes write access to `file`'s mount.
    pub fn new(file: &'a LocalFile) -> Result<Self> {
        // SAFETY: The file is valid for the borrow.
        to_result(unsafe { bindings::mnt_want_write_file(file.as_ptr()) })?;
        Ok(Self(file))
    }
}

impl Drop for MountWrite<'_> {
    fn drop(&mut self) {
        // SAFETY: `new` took write access to this file's mount.
        unsafe { bindings::mnt_drop_write_file(self.0.as_ptr()) };
    }
}

/// Standard seek behaviour for [`Operations`] tables that do not implement `llseek`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Seek {
    /// `generic_file_llseek`: offsets up to the maximum file size, `SEEK_END` from `i_size`.
    Generic,
    /// `noop_llseek`: the position changes, nothing is checked (e.g. for directories whose
    /// readdir cookies are opaque).
    Noop,
}

/// Directory entry types (`DT_*`) for [`DirEmitter::emit`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u32)]
pub enum DirEntryType {
    /// Unknown type.
    Unknown = 0,
    /// FIFO.
    Fifo = 1,
    /// Character device.
    Chr = 2,
    /// Directory.
    Dir = 4,
    /// Block device.
    Blk = 6,
    /// Regular file.
    Reg = 8,
    /// Symbolic link.
    Lnk = 10,
    /// Socket.
    Sock = 12,
}

impl DirEntryType {
    /// Converts an on-disk `DT_*` value; unknown values map to [`DirEntryType::Unknown`].
    pub fn from_dt(dt: u8) -> Self {
        match dt {
            1 => Self::Fifo,
            2 => Self::Chr,
            4 => Self::Dir,
            6 => Self::Blk,
            8 => Self::Reg,
            10 => Self::Lnk,
            12 => Self::Sock,
            _ => Self::Unknown,
        }
    }
}

/// The readdir context (`struct dir_context`): a position and a sink for entries.
#[repr(transparent)]
pub struct DirEmitter(Opaque<bindings::dir_context>);

impl DirEmitter {
    /// # Safety
    ///
    /// `ptr` must be a valid `dir_context`, exclusively ours for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::dir_context) -> &'a mut Self {
        // SAFETY: `DirEmitter` is `repr(transparent)` over the C struct.
        unsafe { &mut *ptr.cast() }
    }

    /// Returns the current position (`ctx->pos`).
    pub fn pos(&self) -> i64 {
        // SAFETY: The context is valid.
        unsafe { (*self.0.get()).pos }
    }

    /// Sets the position at which the next call resumes.
    pub fn set_pos(&mut self, pos: i64) {
        // SAFETY: The context is valid and exclusively ours.
        unsafe { (*self.0.get()).pos = pos };
    }

    /// Emits one entry at the current position (`dir_emit`). Returns `false` when the caller's
    /// buffer is full: stop and return without advancing the position.
    pub fn emit(&mut self, name: &[u8], ino: u64, etype: DirEntryType) -> bool {
        let ctx = self.0.get();
        // SAFETY: The context is valid; `actor` is always set by the VFS. `name` is valid for
        // `name.len()` bytes during the call.
        unsafe {
            let actor = match (*ctx).actor {
                Some(a) => a,
                None => return false,
            };
            let mask = bindings::S_DT_MASK | (*ctx).dt_flags_mask;
            actor(
                ctx,
                name.as_ptr().cast(),
                name.len() as c_int,
                (*ctx).pos,
                ino,
                etype as c_uint & mask,
            )
        }
    }

    /// Emits `.` and `..` for positions 0 and 1 (`dir_emit_dots`), advancing the position.
    pub fn emit_dots(&mut self, ino: u64, parent_ino: u64) -> bool {
        if self.pos() == 0 {
            if !self.emit(b".", ino, DirEntryType::Dir) {
                return false;
            }
            self.set_pos(1);
        }
        if self.pos() == 1 {
            if !self.emit(b"..", parent_ino, DirEntryType::Dir) {
                return false;
            }
            self.set_pos(2);
        }
        true
    }
}

/// File operations of one kind of inode. Hooks that are not implemented stay `NULL` in the C
/// table (the VFS then fails the call, e.g. `read_iter` with `EINVAL`).
///
/// The hooks get the open file as a [`LocalFile`], not a [`File`](super::File): a hook may be
/// reached from `read(2)`, `write(2)`, `lseek(2)` or `getdents(2)` (`fsync` from inside a
/// write, through `generic_write_sync`) on a file whose `fdget_pos` skipped `f_pos_lock`
/// because no other thread could reach it, which `File`'s contract forbids. A `LocalFile` cannot
/// leave the current thread (neither it nor an `ARef` of it is [`Send`]) and cannot change the
/// file position. Only [`Operations::llseek`] may change the position, through its
/// [`SeekFile`]; `read_iter` and `write_iter` move the kiocb's position (`ki_pos`), which the VFS
/// copies to the file under its own `fdget_pos`.
#[macros::vtable]
pub trait Operations {
    /// The file system these operations belong to.
    type FileSystem: FileSystem;

    /// Seek behaviour used when `llseek` is not implemented.
    const SEEK: Seek = Seek::Generic;

    /// Iterates a directory (`->iterate_shared`), with the inode lock held shared.
    /// Emit entries from `emitter.pos()` on and leave the position after the last one emitted.
    fn read_dir(
        _file: &LocalFile,
        _inode: &INode<Self::FileSystem>,
        _emitter: &mut DirEmitter,
    ) -> Result {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Synchronises the file's data and metadata in `start..=end` (`->fsync`).
    fn fsync(
        _file: &LocalFile,
        _inode: &INode<Self::FileSystem>,
        _start: i64,
        _end: i64,
        _datasync: bool,
    ) -> Result {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Reads from the file at `iocb`'s position into `to` (`->read_iter`). Called without
    /// locks. With it, `splice_read` uses the page cache (`filemap_splice_read`).
    ///
    /// The kiocb is given by value, so that a direct I/O that queues it (iomap's
    /// `DioResult::Queued`) can take it away: its completion may free it at any time.
    fn read_iter(
        _iocb: Kiocb<'_, ()>,
        _inode: &INode<Self::FileSystem>,
        _to: &mut IovIterDest<'_>,
    ) -> Result<usize> {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Writes `from` to the file at `iocb`'s position (`->write_iter`). Called without locks;
    /// the implementation takes the inode lock. With it, `splice_write` goes through it.
    /// The kiocb is given by value, as to [`Operations::read_iter`].
    fn write_iter(
        _iocb: Kiocb<'_, ()>,
        _inode: &INode<Self::FileSystem>,
        _from: &mut IovIterSource<'_>,
    ) -> Result<usize> {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Repositions the file offset (`->llseek`). Without it, [`Operations::SEEK`] applies.
    /// The position is the caller's for the call: change it through `file`
    /// ([`SeekFile::set_pos`], [`SeekFile::generic_llseek`]), which only lives for the call.
    fn llseek(
        _file: SeekFile<'_>,
        _inode: &INode<Self::FileSystem>,
        _offset: i64,
        _whence: i32,
    ) -> Result<i64> {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Allocates or deallocates space (`->fallocate`); `mode` holds `FALLOC_FL_*` flags.
    /// Called without locks.
    fn fallocate(
        _file: &LocalFile,
        _inode: &INode<Self::FileSystem>,
        _mode: i32,
        _offset: i64,
        _len: i64,
    ) -> Result {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Handles the file system's own ioctls (`->unlocked_ioctl`), called without locks for
    /// the commands the VFS does not handle itself (it handles `FS_IOC_GETFLAGS`, `FIEMAP`,
    /// `FIFREEZE` and the other generic ones first). `arg` is the raw argument: for a pointer,
    /// a user address for [`crate::uaccess::UserSlice`]. Return `ENOTTY` for an unknown
    /// command. 32-bit tasks on a 64-bit kernel come here through `compat_ptr_ioctl`, so
    /// commands whose argument layout differs between the two must not be implemented.
    fn ioctl(
        _file: &LocalFile,
        _inode: &INode<Self::FileSystem>,
        _cmd: u32,
        _arg: usize,
    ) -> Result<i32> {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// An open file is closed for good (`->release`, at the last `fput` of the open file
    /// description, not at every `close(2)` of a duplicated descriptor): once for every file
    /// whose open got as far as the file system (`FMODE_OPENED`), even if `open(2)` failed
    /// after that; never for `O_PATH` files. In process context, without locks; it may sleep.
    /// `last_writer` tells whether the file counted as a writer of the inode and nothing else
    /// does (its write count, `i_writecount`, is about to drop to zero). It is a hint: two last
    /// writers closing at once may both see the other, and a writer may come right after.
    /// The VFS ignores what `release` returns, so it returns nothing.
    fn release(_inode: &INode<Self::FileSystem>, _last_writer: bool) {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Whether open files take leases and delegations (`F_SETLEASE`, `F_SETDELEG`) with
    /// `generic_setlease`. Without, the VFS refuses them with `EINVAL`: a file system
    /// opts in when nothing it does behind the VFS's back (e.g. a change made on another
    /// node) could break a lease silently.
    const LEASES: bool = false;

    /// The operations of memory mappings of the file; `None` keeps `mmap` unsupported
    /// (`ENODEV`). With `Some`, `mmap` installs them after `file_accessed`.
    const VM_OPS: Option<VmOps> = None;
}

/// A const table of file operations for file system `T`.
#[derive(Clone, Copy)]
pub struct Ops<T: FileSystem>(*const bindings::file_operations, PhantomData<T>);

// SAFETY: The table is immutable static data.
unsafe impl<T: FileSystem> Sync for Ops<T> {}
// SAFETY: The table is immutable static data.
unsafe impl<T: FileSystem> Send for Ops<T> {}

const EMPTY_FOPS: bindings::file_operations = pin_init::zeroed();

impl<T: FileSystem> Ops<T> {
    /// Builds the table for `U`.
    pub const fn new<U: Operations<FileSystem = T>>() -> Self {
        Self(&Table::<U>::TABLE, PhantomData)
    }

    /// The empty table, for special files (their operations come from `init_special_inode`).
    pub const fn empty() -> Self {
        Self(&EMPTY_FOPS, PhantomData)
    }

    /// Returns the C table.
    pub fn as_raw(&self) -> *const bindings::file_operations {
        self.0
    }
}

pub(crate) struct Table<U: Operations>(PhantomData<U>);

impl<U: Operations> Table<U> {
    pub(crate) const TABLE: bindings::file_operations = bindings::file_operations {
        llseek: if U::HAS_LLSEEK {
            Some(Self::llseek)
        } else {
            match U::SEEK {
                Seek::Generic => Some(bindings::generic_file_llseek),
                Seek::Noop => Some(bindings::noop_llseek),
            }
        },
        fallocate: if U::HAS_FALLOCATE {
            Some(Self::fallocate)
        } else {
            None
        },
        read: if U::HAS_READ_DIR {
            Some(bindings::generic_read_dir)
        } else {
            None
        },
        iterate_shared: if U::HAS_READ_DIR {
            Some(Self::iterate_shared)
        } else {
            None
        },
        fsync: if U::HAS_FSYNC {
            Some(Self::fsync)
        } else {
            None
        },
        release: if U::HAS_RELEASE {
            Some(Self::release)
        } else {
            None
        },
        read_iter: if U::HAS_READ_ITER {
            Some(Self::read_iter)
        } else {
            None
        },
        write_iter: if U::HAS_WRITE_ITER {
            Some(Self::write_iter)
        } else {
            None
        },
        splice_read: if U::HAS_READ_ITER {
            Some(bindings::filemap_splice_read)
        } else {
            None
        },
        splice_write: if U::HAS_WRITE_ITER {
            Some(bindings::iter_file_splice_write)
        } else {
            None
        },
        mmap: if U::VM_OPS.is_some() {
            Some(Self::mmap)
        } else {
            None
        },
        setlease: if U::LEASES {
            Some(bindings::generic_setlease)
        } else {
            None
        },
        unlocked_ioctl: if U::HAS_IOCTL {
            Some(Self::ioctl)
        } else {
            None
        },
        #[cfg(CONFIG_COMPAT)]
        compat_ioctl: if U::HAS_IOCTL {
            Some(bindings::compat_ptr_ioctl)
        } else {
            None
        },
        owner: crate::module::this_module::<U::OwnerModule>().as_ptr(),
        ..pin_init::zeroed()
    };

    /// # Safety
    ///
    /// Called by the VFS with an open directory of `U::FileSystem`, its inode locked shared.
    unsafe extern "C" fn iterate_shared(
        file: *mut bindings::file,
        ctx: *mut bindings::dir_context,
    ) -> c_int {
        from_result(|| {
            // SAFETY: The caller holds a reference to the open file for the call. An active
            // `fdget_pos` that skipped `f_pos_lock` can only be this thread's: `fdget_pos`
            // skips the lock only for a file whose one reference is that of an fd table that
            // no other thread uses, so no other thread can be calling this hook on it.
            let f = unsafe { LocalFile::from_raw_file(file) };
            // SAFETY: An open file's inode is a live inode of this file system.
            let inode = unsafe { INode::from_raw(bindings::file_inode(file)) };
            // SAFETY: The context is valid and ours for the call.
            U::read_dir(f, inode, unsafe { DirEmitter::from_raw(ctx) })?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the VFS with an open file of `U::FileSystem`, by a caller that owns the
    /// file's position for the call (`lseek(2)` under `fdget_pos`, or an in-kernel caller of
    /// `vfs_llseek` that serialises the position itself).
    unsafe extern "C" fn llseek(
        file: *mut bindings::file,
        offset: bindings::loff_t,
        whence: c_int,
    ) -> bindings::loff_t {
        from_result(|| {
            // SAFETY: `->llseek` runs on this thread for the caller, which owns the position,
            // until this function returns; the `SeekFile` is moved into the hook, whose
            // signature does not let it outlive the call.
            let f = unsafe { SeekFile::from_raw(file) };
            // SAFETY: An open file's inode is a live inode of this file system.
            let inode = unsafe { INode::from_raw(bindings::file_inode(file)) };
            U::llseek(f, inode, offset, whence)
        })
    }

    /// # Safety
    ///
    /// Called by the VFS with an open file of `U::FileSystem`.
    unsafe extern "C" fn fallocate(
        file: *mut bindings::file,
        mode: c_int,
        offset: bindings::loff_t,
        len: bindings::loff_t,
    ) -> c_long {
        from_result(|| {
            // SAFETY: The caller holds a reference to the open file for the call. An active
            // `fdget_pos` that skipped `f_pos_lock` can only be this thread's: `fdget_pos`
            // skips the lock only for a file whose one reference is that of an fd table that
            // no other thread uses, so no other thread can be calling this hook on it.
            let f = unsafe { LocalFile::from_raw_file(file) };
            // SAFETY: An open file's inode is a live inode of this file system.
            let inode = unsafe { INode::from_raw(bindings::file_inode(file)) };
            U::fallocate(f, inode, mode, offset, len)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the VFS with a valid kiocb on an open file of `U::FileSystem`.
    unsafe extern "C" fn read_iter(
        iocb: *mut bindings::kiocb,
        to: *mut bindings::iov_iter,
    ) -> isize {
        from_result(|| {
            // SAFETY: The kiocb is valid for the call; we never use its private data.
            let k = unsafe { Kiocb::<()>::from_raw(iocb) };
            // SAFETY: The file of the kiocb is open on an inode of this file system.
            let inode = unsafe { INode::from_raw(bindings::file_inode((*iocb).ki_filp)) };
            // SAFETY: `to` is a valid destination iterator for the call.
            let to = unsafe { IovIterDest::from_raw(to) };
            Ok(U::read_iter(k, inode, to)? as isize)
        })
    }

    /// # Safety
    ///
    /// Called by the VFS with a valid kiocb on an open file of `U::FileSystem`.
    unsafe extern "C" fn write_iter(
        iocb: *mut bindings::kiocb,
        from: *mut bindings::iov_iter,
    ) -> isize {
        from_result(|| {
            // SAFETY: The kiocb is valid for the call; we never use its private data.
            let k = unsafe { Kiocb::<()>::from_raw(iocb) };
            // SAFETY: The file of the kiocb is open on an inode of this file system.
            let inode = unsafe { INode::from_raw(bindings::file_inode((*iocb).ki_filp)) };
            // SAFETY: `from` is a valid source iterator for the call.
            let from = unsafe { IovIterSource::from_raw(from) };
            Ok(U::write_iter(k, inode, from)? as isize)
        })
    }

    /// # Safety
    ///
    /// Called by the VFS with an open file of `U::FileSystem`.
    unsafe extern "C" fn ioctl(file: *mut bindings::file, cmd: c_uint, arg: c_ulong) -> c_long {
        from_result(|| {
            // SAFETY: The caller holds a reference to the open file for the call. An active
            // `fdget_pos` that skipped `f_pos_lock` can only be this thread's: `fdget_pos`
            // skips the lock only for a file whose one reference is that of an fd table that
            // no other thread uses, so no other thread can be calling this hook on it.
            let f = unsafe { LocalFile::from_raw_file(file) };
            // SAFETY: An open file's inode is a live inode of this file system.
            let inode = unsafe { INode::from_raw(bindings::file_inode(file)) };
            U::ioctl(f, inode, cmd, arg).map(|r| r as c_long)
        })
    }

    /// # Safety
    ///
    /// Called by the VFS with an open file of `U::FileSystem` and a new mapping of it.
    unsafe extern "C" fn mmap(
        file: *mut bindings::file,
        vma: *mut bindings::vm_area_struct,
    ) -> c_int {
        let Some(ops) = U::VM_OPS else {
            return -(bindings::ENODEV as c_int);
        };
        // SAFETY: An open file has a valid mapping with valid operations.
        if let Err(e) = check_mmap(&ops, unsafe { &*(*(*file).f_mapping).a_ops }) {
            return e.to_errno();
        }
        // SAFETY: The file and the new vma are valid; installing static operations is what
        // `generic_file_mmap` does, and the file's address space operations are those the
        // operations need (checked above).
        unsafe {
            bindings::file_accessed(file);
            (*vma).vm_ops = ops.0;
        }
        0
    }

    /// # Safety
    ///
    /// Called by the VFS with an open file of `U::FileSystem`.
    unsafe extern "C" fn fsync(
        file: *mut bindings::file,
        start: bindings::loff_t,
        end: bindings::loff_t,
        datasync: c_int,
    ) -> c_int {
        from_result(|| {
            // SAFETY: The caller holds a reference to the open file for the call. An active
            // `fdget_pos` that skipped `f_pos_lock` can only be this thread's: `fdget_pos`
            // skips the lock only for a file whose one reference is that of an fd table that
            // no other thread uses, so no other thread can be calling this hook on it.
            let f = unsafe { LocalFile::from_raw_file(file) };
            // SAFETY: An open file's inode is a live inode of this file system.
            let inode = unsafe { INode::from_raw(bindings::file_inode(file)) };
            U::fsync(f, inode, start, end, datasync != 0)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the VFS (`__fput`) with an open file of `U::FileSystem` whose last reference
    /// is gone, and its inode, before the file's write access is given back.
    unsafe extern "C" fn release(inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
        // SAFETY: The file is being torn down by the caller, who alone uses it now; `f_mode`
        // does not change any more. `FMODE_WRITER` is what `put_file_access` gives back.
        let writer = unsafe { (*file).f_mode } & bindings::FMODE_WRITER != 0;
        // SAFETY: `i_writecount` is an `atomic_t` (aligned for its `int`) of the live inode
        // (the file holds a reference to it until after this call), only ever accessed
        // atomically.
        let count = unsafe {
            crate::sync::atomic::Atomic::from_ptr(&raw mut (*inode).i_writecount.counter)
        }
        .load(crate::sync::atomic::Relaxed);
        // SAFETY: The inode of an open file of this file system is live for the call.
        let inode = unsafe { INode::from_raw(inode) };
        // This file description still counts in `i_writecount` (`put_file_access` comes after
        // `->release`): it is the last writer when the count is one.
        U::release(inode, writer && count == 1);
        0
    }
}

#[kunit_tests(rust_fs_file_ops)]
mod tests {
    use super::*;

    struct Fs;
    #[vtable]
    impl FileSystem for Fs {
        const NAME: &'static CStr = c"rust_fops_test";
        type Data = ();
        type INodeData = ();
        fn fill_super(_sb: &mut super::super::SuperBlock<Self, super::super::New>) -> Result<()> {
            Err(EINVAL)
        }
        fn init_root(
            _sb: &super::super::SuperBlock<Self>,
        ) -> Result<crate::sync::aref::ARef<INode<Self>>> {
            Err(EINVAL)
        }
    }

    struct Dir;
    #[vtable]
    impl Operations for Dir {
        type FileSystem = Fs;
        const SEEK: Seek = Seek::Noop;
        fn read_dir(_f: &LocalFile, _i: &INode<Fs>, _e: &mut DirEmitter) -> Result {
            Ok(())
        }
    }

    struct Nothing;
    #[vtable]
    impl Operations for Nothing {
        type FileSystem = Fs;
    }

    /// Answers command 7 with its argument doubled, refuses 8 with `EPERM`, knows no other.
    struct Ioctls;
    #[vtable]
    impl Operations for Ioctls {
        type FileSystem = Fs;
        fn ioctl(_f: &LocalFile, _i: &INode<Fs>, cmd: u32, arg: usize) -> Result<i32> {
            match cmd {
                7 => Ok(arg as i32 * 2),
                8 => Err(EPERM),
                _ => Err(ENOTTY),
            }
        }
    }

    /// Seeks with `SEEK_SET` through [`SeekFile::set_pos`] up to 100, otherwise with
    /// [`SeekFile::generic_llseek`].
    struct Seeker;
    #[vtable]
    impl Operations for Seeker {
        type FileSystem = Fs;
        fn llseek(f: SeekFile<'_>, _i: &INode<Fs>, offset: i64, whence: i32) -> Result<i64> {
            if whence == bindings::SEEK_SET as i32 {
                f.set_pos(offset, 100)
            } else {
                f.generic_llseek(offset, whence)
            }
        }
    }

    /// Files with leases.
    struct Leased;
    #[vtable]
    impl Operations for Leased {
        type FileSystem = Fs;
        const LEASES: bool = true;
    }

    #[test]
    fn mmap_needs_matching_aops() {
        extern "C" fn read(_f: *mut bindings::file, _folio: *mut bindings::folio) -> c_int {
            0
        }
        static VM: bindings::vm_operations_struct = pin_init::zeroed();
        static A: bindings::address_space_operations = bindings::address_space_operations {
            read_folio: Some(read),
            ..pin_init::zeroed()
        };
        static B: bindings::address_space_operations = bindings::address_space_operations {
            read_folio: Some(read),
            ..pin_init::zeroed()
        };
        static EMPTY: bindings::address_space_operations = pin_init::zeroed();
        // SAFETY: The tables are never called here.
        let (any, only_a) = unsafe { (VmOps::from_static(&VM), VmOps::from_static_for(&VM, &A)) };
        assert_eq!(check_mmap(&any, &A), Ok(()));
        assert_eq!(check_mmap(&any, &B), Ok(()));
        assert_eq!(check_mmap(&only_a, &A), Ok(()));
        // A page cache that cannot read folios, or another table than the one the vm
        // operations were built for, is refused.
        assert_eq!(check_mmap(&any, &EMPTY), Err(ENODEV));
        assert_eq!(check_mmap(&only_a, &B), Err(ENODEV));
    }

    #[test]
    fn leases_only_when_asked_for() {
        let generic: unsafe extern "C" fn(
            *mut bindings::file,
            c_int,
            *mut *mut bindings::file_lease,
            *mut *mut c_void,
        ) -> c_int = bindings::generic_setlease;
        let got = Table::<Leased>::TABLE.setlease.map(|f| f as usize);
        assert_eq!(got, Some(generic as usize));
        assert!(Table::<Nothing>::TABLE.setlease.is_none());
        assert!(Table::<Dir>::TABLE.setlease.is_none());
    }

    #[test]
    fn ioctl_glue_passes_command_argument_and_result() {
        assert!(Table::<Ioctls>::TABLE.unlocked_ioctl.is_some());
        assert!(Table::<Nothing>::TABLE.unlocked_ioctl.is_none());
        assert!(Table::<Dir>::TABLE.unlocked_ioctl.is_none());
        let mut fake_inode = core::mem::MaybeUninit::<bindings::inode>::zeroed();
        let mut fake_file = core::mem::MaybeUninit::<bindings::file>::zeroed();
        // SAFETY: Zeroed local objects; `Ioctls::ioctl` touches neither the file nor the inode.
        unsafe { (*fake_file.as_mut_ptr()).f_inode = fake_inode.as_mut_ptr() };
        let f = fake_file.as_mut_ptr();
        // SAFETY: As above.
        let r = unsafe { [7, 8, 9].map(|cmd| Table::<Ioctls>::ioctl(f, cmd, 21)) };
        assert_eq!(
            r,
            [42, EPERM.to_errno() as c_long, ENOTTY.to_errno() as c_long]
        );
    }

    #[test]
    fn llseek_glue_lets_the_hook_set_the_position() {
        let generic: unsafe extern "C" fn(
            *mut bindings::file,
            bindings::loff_t,
            c_int,
        ) -> bindings::loff_t = bindings::generic_file_llseek;
        let generic = generic as usize;
        assert!(Table::<Seeker>::TABLE.llseek.map(|f| f as usize) != Some(generic));
        assert_eq!(
            Table::<Nothing>::TABLE.llseek.map(|f| f as usize),
            Some(generic)
        );
        // A shmem file of 4096 bytes provides a real file and inode.
        // SAFETY: All-zero VMA flags are `EMPTY_VMA_FLAGS`.
        let flags: bindings::vma_flags_t = unsafe { core::mem::zeroed() };
        // SAFETY: The name is a static C string.
        let file = unsafe {
            bindings::shmem_kernel_file_setup(c"rust_fs_file_ops".as_char_ptr(), 4096, flags)
        };
        let file = crate::error::from_err_ptr(file).unwrap();
        let seek = |offset: i64, whence: u32| {
            // SAFETY: The file is valid until the `fput` below and no one else uses it, so
            // this test owns its position; `Seeker::llseek` touches only the position (and
            // the size through `generic_file_llseek`), never the inode's data.
            let r = unsafe { Table::<Seeker>::llseek(file, offset, whence as c_int) };
            // SAFETY: As above.
            (r, unsafe { (*file).f_pos })
        };
        assert_eq!(seek(5, bindings::SEEK_SET), (5, 5));
        // `set_pos` refuses a position past its maximum and leaves the position alone.
        assert_eq!(seek(200, bindings::SEEK_SET), (EINVAL.to_errno().into(), 5));
        assert_eq!(seek(3, bindings::SEEK_CUR), (8, 8));
        assert_eq!(seek(-96, bindings::SEEK_END), (4000, 4000));
        // SAFETY: The file's reference from `shmem_kernel_file_setup` is dropped once.
        unsafe { bindings::fput(file) };
    }

    #[test]
    fn dir_table_has_readdir_only() {
        let t = &Table::<Dir>::TABLE;
        assert!(t.iterate_shared.is_some());
        assert!(t.read.is_some());
        assert!(t.fsync.is_none());
        assert!(t.read_iter.is_none());
        assert!(t.write_iter.is_none());
        assert!(t.llseek.is_some());
    }

    #[test]
    fn empty_table_is_all_null_but_llseek() {
        let t = &Table::<Nothing>::TABLE;
        assert!(t.iterate_shared.is_none());
        assert!(t.read.is_none());
        assert!(t.fsync.is_none());
        assert!(t.llseek.is_some());
    }

    #[test]
    fn dt_conversion() {
        assert_eq!(DirEntryType::from_dt(4), DirEntryType::Dir);
        assert_eq!(DirEntryType::from_dt(8), DirEntryType::Reg);
        assert_eq!(DirEntryType::from_dt(3), DirEntryType::Unknown);
    }
}
