// SPDX-License-Identifier: GPL-2.0

//! Address space operations (`struct address_space_operations`).
//!
//! The page cache of a file is driven by a const table of C callbacks. The iomap crate builds
//! such tables from its traits (see `iomap::aops`); this module only carries the table to the
//! inode, typed by file system.
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h).

use super::registration::FileSystem;
use crate::bindings;
use core::marker::PhantomData;

/// A const table of address space operations for inodes of file system `T`.
#[derive(Clone, Copy)]
pub struct AOps<T: FileSystem>(*const bindings::address_space_operations, PhantomData<T>);

// SAFETY: The table is immutable static data.
unsafe impl<T: FileSystem> Sync for AOps<T> {}
// SAFETY: The table is immutable static data.
unsafe impl<T: FileSystem> Send for AOps<T> {}

impl<T: FileSystem> AOps<T> {
    /// Wraps a static C table.
    ///
    /// # Safety
    ///
    /// Every callback in `table` must be sound for any inode of file system `T` whose mapping
    /// uses it.
    pub const unsafe fn from_static(table: &'static bindings::address_space_operations) -> Self {
        Self(table, PhantomData)
    }

    /// Returns the C table.
    pub fn as_raw(&self) -> *const bindings::address_space_operations {
        self.0
    }
}
