// SPDX-License-Identifier: GPL-2.0

//! Safe Rust abstractions for the iomap library.
//!
//! iomap maps file ranges to storage ranges and drives buffered, direct and
//! memory-mapped I/O, writeback, fiemap and seeking for file systems that
//! describe their files as extents. This crate wraps `struct iomap`, the iomap
//! operation tables and the iomap entry points so that file systems written in
//! Rust can use them without `unsafe`.
//!
//! C header: [`include/linux/iomap.h`](srctree/include/linux/iomap.h);
//! documentation: [`Documentation/filesystems/iomap/`](srctree/Documentation/filesystems/iomap/).

#![no_std]
