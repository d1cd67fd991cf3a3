// SPDX-License-Identifier: GPL-2.0

//! Feeds arbitrary images to fsck -n and -y.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rextfs_tools::fsck::{fsck, FsckOptions};
use rextfs_tools::MemDev;

fuzz_target!(|data: &[u8]| {
    let dev = MemDev::from_bytes(data);
    let _ = fsck(Box::new(dev.clone()), &FsckOptions::default());
    let _ = fsck(
        Box::new(dev),
        &FsckOptions {
            repair: true,
            verbose: false,
            ..Default::default()
        },
    );
});
