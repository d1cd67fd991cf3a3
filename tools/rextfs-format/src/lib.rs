// SPDX-License-Identifier: GPL-2.0

//! The rextfs on-disk format, shared with the kernel module.
//!
//! The module source lives in `fs/rextfs/format/` so that the kernel
//! compiles exactly the same code; this crate only wraps it as `no_std`.

#![no_std]
#![forbid(unsafe_code)]

#[path = "../../../fs/rextfs/format/mod.rs"]
pub mod format;

pub use format::*;
