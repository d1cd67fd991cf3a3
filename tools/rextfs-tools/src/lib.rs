// SPDX-License-Identifier: GPL-2.0

//! Library shared by `mkfs.rextfs`, `fsck.rextfs` and `rextfs-dump`: device
//! access, an image view with allocation, tree and directory operations
//! (used by tests to build images and by fsck to repair them), mkfs, fsck
//! and the dump printer, and the POSIX ACL rules they share.

pub mod acl;
pub mod bitset;
pub mod cli;
pub mod dev;
pub mod dump;
pub mod error;
pub mod fs;
pub mod fsck;
pub mod journal;
pub mod mkfs;
pub mod mount_check;
pub mod ops;
pub mod tree;

pub use dev::{Dev, FileDev, MemDev};
pub use error::{Error, Result};
pub use fs::Fs;
pub use rextfs_format as format;
