// SPDX-License-Identifier: GPL-2.0

//! Block devices and image files, and an in-memory device for tests.

use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, FileTypeExt};
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::rc::Rc;

/// Random-access storage holding a filesystem image.
pub trait Dev {
    /// Size in bytes.
    fn size(&self) -> u64;
    /// Reads exactly `buf.len()` bytes at `off`.
    fn read_at(&mut self, off: u64, buf: &mut [u8]) -> io::Result<()>;
    /// Writes all of `buf` at `off`.
    fn write_at(&mut self, off: u64, buf: &[u8]) -> io::Result<()>;
    /// Makes `[off, off + len)` read as zeroes. The default writes zeroes;
    /// files and block devices use cheaper means when they can.
    fn zero_range(&mut self, off: u64, len: u64) -> io::Result<()> {
        write_zeroes(self, off, len)
    }
    /// Flushes written data to stable storage.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes zeroes over `[off, off + len)` in 1 MiB chunks.
pub fn write_zeroes<D: Dev + ?Sized>(dev: &mut D, off: u64, len: u64) -> io::Result<()> {
    let chunk = vec![0u8; 1 << 20];
    let mut done = 0u64;
    while done < len {
        let n = (len - done).min(chunk.len() as u64) as usize;
        dev.write_at(off + done, &chunk[..n])?;
        done += n as u64;
    }
    Ok(())
}

fn check_range(size: u64, off: u64, len: usize) -> io::Result<()> {
    match off.checked_add(len as u64) {
        Some(end) if end <= size => Ok(()),
        _ => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("access at byte {off} (+{len}) beyond end of device ({size} bytes)"),
        )),
    }
}

// Linux block device ioctls (include/uapi/linux/fs.h), x86-64/arm64 values.
const BLKGETSIZE64: libc::c_ulong = 0x8008_1272;
const BLKZEROOUT: libc::c_ulong = 0x127f;

/// A regular file or block device.
pub struct FileDev {
    file: File,
    size: u64,
    is_blockdev: bool,
}

impl FileDev {
    /// Opens `path` read-only or read-write.
    pub fn open(path: &Path, writable: bool) -> io::Result<FileDev> {
        let file = OpenOptions::new().read(true).write(writable).open(path)?;
        let meta = file.metadata()?;
        let is_blockdev = meta.file_type().is_block_device();
        let size = if is_blockdev {
            let mut sz: u64 = 0;
            // SAFETY: BLKGETSIZE64 writes one u64 through the pointer, which
            // points to a live, properly aligned u64.
            let r =
                unsafe { libc::ioctl(file.as_raw_fd(), BLKGETSIZE64 as _, &mut sz as *mut u64) };
            if r != 0 {
                return Err(io::Error::last_os_error());
            }
            // The kernel writes rextfs metadata with bios of its own, never through the
            // device's page cache: pages cached by an earlier reader may be stale. Drop them
            // (clean pages only; nothing else uses this cache) so that reads see the device.
            // SAFETY: plain syscall on an owned, open descriptor.
            unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
            sz
        } else if meta.file_type().is_file() {
            meta.len()
        } else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file or block device",
            ));
        };
        Ok(FileDev {
            file,
            size,
            is_blockdev,
        })
    }

    /// True if this is a block device.
    pub fn is_blockdev(&self) -> bool {
        self.is_blockdev
    }
}

impl Dev for FileDev {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&mut self, off: u64, buf: &mut [u8]) -> io::Result<()> {
        check_range(self.size, off, buf.len())?;
        self.file.read_exact_at(buf, off)
    }

    fn write_at(&mut self, off: u64, buf: &[u8]) -> io::Result<()> {
        check_range(self.size, off, buf.len())?;
        self.file.write_all_at(buf, off)
    }

    fn zero_range(&mut self, off: u64, len: u64) -> io::Result<()> {
        check_range(self.size, off, 0)?;
        let len = len.min(self.size - off);
        if len == 0 {
            return Ok(());
        }
        let fd = self.file.as_raw_fd();
        let ok = if self.is_blockdev {
            let range: [u64; 2] = [off, len];
            // SAFETY: BLKZEROOUT reads two u64 through the pointer, which
            // points to a live array of two u64.
            unsafe { libc::ioctl(fd, BLKZEROOUT as _, range.as_ptr()) == 0 }
        } else {
            // SAFETY: plain syscall on an owned, open descriptor.
            unsafe {
                libc::fallocate(
                    fd,
                    libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                    off as libc::off_t,
                    len as libc::off_t,
                ) == 0
            }
        };
        if ok {
            Ok(())
        } else {
            write_zeroes(self, off, len)
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.sync_all()
    }
}

/// An image held in memory. Clones share the same bytes, so a test can keep
/// a handle while a tool owns another.
#[derive(Clone, Default)]
pub struct MemDev {
    data: Rc<RefCell<Vec<u8>>>,
}

impl MemDev {
    /// A zero-filled image of `size` bytes.
    pub fn new(size: usize) -> MemDev {
        MemDev {
            data: Rc::new(RefCell::new(vec![0; size])),
        }
    }

    /// An image holding a copy of `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> MemDev {
        MemDev {
            data: Rc::new(RefCell::new(bytes.to_vec())),
        }
    }

    /// A copy of the whole image.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.data.borrow().clone()
    }

    /// Runs `f` on the image bytes (to corrupt them in tests).
    pub fn with<R>(&self, f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        f(&mut self.data.borrow_mut())
    }
}

impl Dev for MemDev {
    fn size(&self) -> u64 {
        self.data.borrow().len() as u64
    }

    fn read_at(&mut self, off: u64, buf: &mut [u8]) -> io::Result<()> {
        let d = self.data.borrow();
        check_range(d.len() as u64, off, buf.len())?;
        let o = off as usize;
        buf.copy_from_slice(&d[o..o + buf.len()]);
        Ok(())
    }

    fn write_at(&mut self, off: u64, buf: &[u8]) -> io::Result<()> {
        let mut d = self.data.borrow_mut();
        check_range(d.len() as u64, off, buf.len())?;
        let o = off as usize;
        d[o..o + buf.len()].copy_from_slice(buf);
        Ok(())
    }
}

/// Wraps a device and counts the bytes written through `write_at` (not
/// `zero_range`), to check that mkfs writes only metadata.
pub struct CountingDev<D: Dev> {
    /// The wrapped device.
    pub inner: D,
    /// Bytes written so far.
    pub written: Rc<RefCell<u64>>,
}

impl<D: Dev> CountingDev<D> {
    /// Wraps `inner`.
    pub fn new(inner: D) -> Self {
        CountingDev {
            inner,
            written: Rc::new(RefCell::new(0)),
        }
    }
}

impl<D: Dev> Dev for CountingDev<D> {
    fn size(&self) -> u64 {
        self.inner.size()
    }

    fn read_at(&mut self, off: u64, buf: &mut [u8]) -> io::Result<()> {
        self.inner.read_at(off, buf)
    }

    fn write_at(&mut self, off: u64, buf: &[u8]) -> io::Result<()> {
        *self.written.borrow_mut() += buf.len() as u64;
        self.inner.write_at(off, buf)
    }

    fn zero_range(&mut self, off: u64, len: u64) -> io::Result<()> {
        self.inner.zero_range(off, len)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
