// SPDX-License-Identifier: GPL-2.0

//! The rextfs ioctls of files and directories: the volume label (`FS_IOC_GETFSLABEL`,
//! `FS_IOC_SETFSLABEL`, as `xfs_io -c label`, `btrfs filesystem label` and `e2label` use
//! them on mounted file systems) and `FITRIM` (`fstrim`). The VFS handles the generic ones
//! (flags, fiemap, freeze) before it calls these.

use crate::{credits, format, journal, RextFs};
use kernel::fs::{
    file_ops::{self, cap, MountWrite},
    inode::INode,
    LocalFile,
};
use kernel::ioctl::{_IOR, _IOW, _IOWR};
use kernel::prelude::*;
use kernel::uaccess::{UserPtr, UserSlice};

/// Size of the label buffer of the label ioctls, NUL included (`FSLABEL_MAX`).
const FSLABEL_MAX: usize = 256;
/// `FS_IOC_GETFSLABEL`: copies the label, NUL-terminated, to the caller.
const FS_IOC_GETFSLABEL: u32 = _IOR::<[u8; FSLABEL_MAX]>(0x94, 49);
/// `FS_IOC_SETFSLABEL`: sets the label from a NUL-terminated string.
const FS_IOC_SETFSLABEL: u32 = _IOW::<[u8; FSLABEL_MAX]>(0x94, 50);

/// `FITRIM`: discards free space; the argument is a `struct fstrim_range`.
const FITRIM: u32 = _IOWR::<[u64; 3]>(b'X' as u32, 121);
/// `FS_IOC_SHUTDOWN` (`XFS_IOC_GOINGDOWN`): shuts the file system down; the argument is a
/// `u32` of flags.
const FS_IOC_SHUTDOWN: u32 = _IOR::<u32>(b'X' as u32, 125);
/// Shutdown flag: make everything durable first (`FS_SHUTDOWN_FLAGS_DEFAULT`).
const SHUTDOWN_DEFAULT: u32 = 0;
/// Shutdown flag: commit the journal first (`FS_SHUTDOWN_FLAGS_LOGFLUSH`).
const SHUTDOWN_LOGFLUSH: u32 = 1;
/// Shutdown flag: stop at once, the running transaction is lost
/// (`FS_SHUTDOWN_FLAGS_NOLOGFLUSH`).
const SHUTDOWN_NOLOGFLUSH: u32 = 2;

/// `->unlocked_ioctl` of regular files and directories.
pub(crate) fn ioctl(file: &LocalFile, inode: &INode<RextFs>, cmd: u32, arg: usize) -> Result<i32> {
    match cmd {
        FS_IOC_GETFSLABEL => get_label(inode, arg),
        FS_IOC_SETFSLABEL => set_label(file, inode, arg),
        FITRIM => trim(inode, arg),
        FS_IOC_SHUTDOWN => shutdown(inode, arg),
        #[cfg(CONFIG_REXTFS_KUNIT_TEST)]
        crate::reftest::REXTFS_IOC_TEST_INODE_REF => crate::reftest::ioctl(inode, arg),
        _ => Err(ENOTTY),
    }
}

/// Copies the label and a NUL (`LABEL_SIZE + 1` bytes: a label of `LABEL_SIZE` bytes has no
/// NUL on disk) to the user buffer at `arg`.
fn get_label(inode: &INode<RextFs>, arg: usize) -> Result<i32> {
    let mut buf = [0u8; format::LABEL_SIZE + 1];
    buf[..format::LABEL_SIZE].copy_from_slice(&inode.super_block().data().state.lock().disk.label);
    UserSlice::new(UserPtr::from_addr(arg), buf.len())
        .writer()
        .write_slice(&buf)?;
    Ok(0)
}

/// Sets the label from the NUL-terminated string at `arg` (read as `FSLABEL_MAX` bytes, as in
/// ext4 and xfs): `EPERM` without `CAP_SYS_ADMIN`, `EINVAL` for a label longer than the
/// format's `LABEL_SIZE` bytes or without a NUL, `EROFS` on a read-only mount. The label
/// changes in the in-memory super block, in a transaction handle; then the journal is
/// checkpointed, so that tools reading the device (blkid) see the new label at once.
fn set_label(file: &LocalFile, inode: &INode<RextFs>, arg: usize) -> Result<i32> {
    if !file_ops::capable(cap::SYS_ADMIN) {
        return Err(EPERM);
    }
    let mut buf = [0u8; FSLABEL_MAX];
    UserSlice::new(UserPtr::from_addr(arg), FSLABEL_MAX)
        .reader()
        .read_slice(&mut buf)?;
    let len = buf.iter().position(|&b| b == 0).ok_or(EINVAL)?;
    if len > format::LABEL_SIZE {
        return Err(EINVAL);
    }
    let mut label = [0u8; format::LABEL_SIZE];
    label[..len].copy_from_slice(&buf[..len]);
    let _write = MountWrite::new(file)?;
    let sb = inode.super_block();
    {
        let h = journal::start(sb, credits::LABEL)?;
        sb.data().state.lock().disk.label = label;
        h.super_changed();
    }
    journal::checkpoint(sb, || Ok(()))?;
    Ok(0)
}

/// `FS_IOC_SHUTDOWN`, as in ext4 and XFS: `EPERM` without `CAP_SYS_ADMIN`, `EINVAL` for
/// unknown flags, nothing done on a file system already shut down. `DEFAULT` writes back the
/// page cache (a failure is returned, and the file system is not shut down) and commits the
/// running transaction first, `LOGFLUSH` only commits (data in the page cache that `fsync`
/// did not make durable is lost), `NOLOGFLUSH` does neither. Afterwards every operation that
/// reads or changes the file system fails with `EIO`, nothing more is written, and the next
/// mount replays the journal.
fn shutdown(inode: &INode<RextFs>, arg: usize) -> Result<i32> {
    if !file_ops::capable(cap::SYS_ADMIN) {
        return Err(EPERM);
    }
    let mut raw = [0u8; 4];
    UserSlice::new(UserPtr::from_addr(arg), 4)
        .reader()
        .read_slice(&mut raw)?;
    let flags = u32::from_ne_bytes(raw);
    let sb = inode.super_block();
    if crate::is_shut_down(sb) {
        // As ext4: nothing more to do.
        return Ok(0);
    }
    match flags {
        SHUTDOWN_DEFAULT => {
            // Dirty data is written back first, as ext4 and XFS do (they freeze the device,
            // which syncs it); if that fails, the file system is not shut down (as in both).
            sb.sync_filesystem()?;
            // A failed commit still shuts down.
            let _ = journal::force(sb);
        }
        SHUTDOWN_LOGFLUSH => {
            // A failed commit still shuts down.
            let _ = journal::force(sb);
        }
        SHUTDOWN_NOLOGFLUSH => {}
        _ => return Err(EINVAL),
    }
    crate::shutdown(sb);
    Ok(0)
}

/// `FITRIM`: discards the free blocks of the byte range `start..start + len` that lie in free
/// runs of at least `minlen` bytes (`struct fstrim_range`, read from and written back to
/// `arg`, with `len` set to the bytes discarded). As in ext4 and xfs: `EPERM` without
/// `CAP_SYS_ADMIN`, `EROFS` on a read-only mount, `EOPNOTSUPP` if the device cannot discard,
/// `EINVAL` for a start past the end of the file system, a length below one block or a
/// minimum run longer than the file system. `minlen` is rounded up to the device's discard
/// granularity.
fn trim(inode: &INode<RextFs>, arg: usize) -> Result<i32> {
    if !file_ops::capable(cap::SYS_ADMIN) {
        return Err(EPERM);
    }
    let sb = inode.super_block();
    // The bitmaps of a read-only mount may be those of an unchecked image.
    if sb.is_read_only() {
        return Err(EROFS);
    }
    let granularity = u64::from(sb.discard_granularity().ok_or(EOPNOTSUPP)?);
    let (mut reader, mut writer) = UserSlice::new(UserPtr::from_addr(arg), 24).reader_writer();
    let mut raw = [0u8; 24];
    reader.read_slice(&mut raw)?;
    let field = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&raw[i * 8..i * 8 + 8]);
        u64::from_ne_bytes(b)
    };
    let (start, len, minlen) = (field(0), field(1), field(2));
    let geo = &sb.data().geo;
    let bs = geo.block_size() as u64;
    let fs_bytes = geo.total_blocks.saturating_mul(bs);
    if start >= fs_bytes || len < bs || minlen > fs_bytes {
        return Err(EINVAL);
    }
    // Blocks wholly inside the range; runs of at least `minlen` bytes, in whole blocks.
    let first = start.div_ceil(bs);
    let end = start.saturating_add(len) / bs;
    let minlen = minlen.max(granularity).div_ceil(bs);
    let trimmed = crate::alloc::trim(sb, first, end, minlen)?;
    writer.write_slice(&raw[..8])?;
    writer.write_slice(&trimmed.saturating_mul(bs).to_ne_bytes())?;
    writer.write_slice(&raw[16..])?;
    Ok(0)
}
