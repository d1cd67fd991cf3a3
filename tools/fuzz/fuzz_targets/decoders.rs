// SPDX-License-Identifier: GPL-2.0

//! Feeds arbitrary bytes to every decoder of the shared format module.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rextfs_tools::format::*;

fuzz_target!(|data: &[u8]| {
    let _ = Superblock::decode(data);
    let _ = Inode::decode(1, data);
    for form in [NodeForm::Inline, NodeForm::Block] {
        for kind in [TreeKind::Extent, TreeKind::DirIndex] {
            let _ = node_check(data, form, kind, 1, 1);
        }
        let _ = node_search(data, form, 42);
        let mut m = data.to_vec();
        let _ = node_insert(&mut m, form, 0, &DirKey(7));
        let _ = node_remove(&mut m, form, 0);
    }
    let _ = bitmap_check(data, 1, BITMAP_KIND_BLOCKS, 0);
    let _ = dirblock_check(data, 1, 1);
    for e in DirIter::new(data) {
        let _ = e;
    }
});
