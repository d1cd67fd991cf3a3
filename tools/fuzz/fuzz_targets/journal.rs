// SPDX-License-Identifier: GPL-2.0

//! Feeds arbitrary logs to the journal scan and replay: the input's first
//! bytes give the journal super block's tail and sequence, the rest fills the
//! log of a fresh image (1 KiB blocks), then the dump, scan, recovery and
//! fsck run over it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rextfs_tools::journal;
use rextfs_tools::mkfs::{mkfs, MkfsOptions};
use rextfs_tools::MemDev;
use rextfs_tools::{dump, fsck};

fuzz_target!(|data: &[u8]| {
    if data.len() < 16 {
        return;
    }
    let dev = MemDev::new(1 << 20);
    let opts = MkfsOptions {
        block_log2: 10,
        uuid: Some([3; 16]),
        hash_key: Some([4; 16]),
        time: Some(0),
        ..Default::default()
    };
    let Ok((sb, _)) = mkfs(Box::new(dev.clone()), &opts) else {
        return;
    };
    let l = sb.layout;
    let mut j = journal::empty_jsb(&sb, u64::from_le_bytes(data[8..16].try_into().unwrap()));
    j.tail = u64::from_le_bytes(data[..8].try_into().unwrap()) % l.journal_blocks;
    let log = &data[16..];
    dev.with(|img| {
        let start = (l.journal_start as usize + 1) * 1024;
        let end = (l.journal_start + l.journal_blocks) as usize * 1024;
        let n = log.len().min(end - start);
        img[start..start + n].copy_from_slice(&log[..n]);
    });
    let mut d = dev.clone();
    if journal::write_jsb(&mut d, &sb, &j).is_err() {
        return;
    }
    let _ = dump::dump_journal(&mut d, &sb);
    let _ = journal::scan_log(&mut d, &sb, &j);
    let _ = fsck::fsck(Box::new(dev.clone()), &fsck::FsckOptions::default());
    let _ = journal::recover(&mut d, &sb, &j);
    let _ = fsck::fsck(
        Box::new(dev),
        &fsck::FsckOptions {
            repair: true,
            ..Default::default()
        },
    );
});
