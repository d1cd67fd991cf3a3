// SPDX-License-Identifier: GPL-2.0

//! Safe Rust abstractions for the iomap library.
//!
//! iomap maps file ranges to storage ranges and drives buffered, direct and
//! memory-mapped I/O, writeback, fiemap and seeking for file systems that
//! describe their files as extents. This crate wraps `struct iomap`, the iomap
//! operation tables and the iomap entry points so that file systems written in
//! Rust can use them without `unsafe`.
//!
//! - [`Mapping`] is a checked `struct iomap`: one constructor per mapping type, and a contract
//!   check ([`Mapping::check`]) that runs on every mapping a file system returns before iomap
//!   sees it.
//! - [`Operations`] becomes a const `struct iomap_ops` ([`Ops`]); [`WritebackOperations`]
//!   adds the `struct iomap_writeback_ops` of writeback, and [`AddressSpace`] builds the whole
//!   `struct address_space_operations` and `struct vm_operations_struct` of a file on them.
//! - [`DioOperations`] becomes `struct iomap_dio_ops` ([`DioOps`]) for [`dio_rw_read`] /
//!   [`dio_rw_write`] / [`dio_rw_write_shared`], whose [`DioResult`] keeps a queued
//!   asynchronous I/O apart from a finished one (they take the kiocb and give it back only
//!   when the I/O is not queued); [`dio_read_simple`] is the 7.3 small-read
//!   fast path.
//! - [`WriteOperations`] and [`ReadOperations`] become `struct iomap_write_ops` /
//!   `struct iomap_read_ops` ([`WriteOps`], [`ReadOps`]), installed through
//!   [`Operations::WRITE_OPS`] / [`Operations::READ_OPS`].
//! - The entry points ([`buffered_write`], [`zero_range`], [`truncate_page`],
//!   [`file_unshare`], [`fiemap`], [`seek_hole`], [`seek_data`], [`bmap`], the direct I/O
//!   calls) take the lock guards their C counterparts require.
//!
//! `Documentation/rust/iomap.rst` maps every item to its C counterpart.
//!
//! C header: [`include/linux/iomap.h`](srctree/include/linux/iomap.h);
//! documentation: [`Documentation/filesystems/iomap/`](srctree/Documentation/filesystems/iomap/).

#![no_std]
#![feature(used_with_arg)]

use kernel::{prelude::*, ModuleMetadata, ThisModule};

/// Prefix of log messages printed from within the `iomap` crate.
const __LOG_PREFIX: &[u8] = b"iomap\0";

/// Module type for `#[vtable]` `impl` blocks within this crate (the KUnit tests): the crate is
/// built into the kernel, so it has no module to pin.
#[allow(dead_code)]
struct LocalModule;

impl ModuleMetadata for LocalModule {
    const NAME: &'static CStr = c"iomap";

    const THIS_MODULE: ThisModule = {
        // SAFETY: `try_module_get`/`module_put` handle null module pointers gracefully.
        unsafe { ThisModule::from_ptr(core::ptr::null_mut()) }
    };
}

mod dio;
mod folio_ops;
mod mapping;
mod ops;

pub use dio::{
    dio_read_simple, dio_rw_read, dio_rw_write, dio_rw_write_shared, DioBio, DioEnd, DioEndFlags,
    DioError, DioFlags, DioOperations, DioOps, DioOutcome, DioResult,
};
pub use folio_ops::{
    IterRef, ReadOperations, ReadOps, ReadTable, WriteIter, WriteOperations, WriteOps, WriteTable,
};
pub use mapping::{MapFlags, MapType, Mapping, OpFlags, SrcMap, NULL_ADDR};
pub use ops::{
    bmap, buffered_write, dio_read, dio_write, fiemap, file_unshare, seek_data, seek_hole,
    truncate_page, zero_range, AddressSpace, Ioend, IoendFlags, Operations, Ops,
    WritebackOperations,
};
