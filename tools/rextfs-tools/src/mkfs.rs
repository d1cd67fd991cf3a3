// SPDX-License-Identifier: GPL-2.0

//! Creating a filesystem.

use crate::bitset::Bitset;
use crate::dev::Dev;
use crate::error::{msg, Context, Result};
use crate::fs::{now_secs, Fs};
use rextfs_format::*;

/// mkfs parameters.
#[derive(Debug, Clone)]
pub struct MkfsOptions {
    /// log2 of the block size.
    pub block_log2: u32,
    /// Number of blocks; `None` uses the whole device.
    pub blocks: Option<u64>,
    /// Number of inodes; `None` picks one per 16 KiB.
    pub inodes: Option<u64>,
    /// Volume label (at most 32 bytes).
    pub label: Vec<u8>,
    /// UUID; `None` draws a random one.
    pub uuid: Option<[u8; 16]>,
    /// Key of the directory name hash; `None` draws a random one.
    pub hash_key: Option<[u8; 16]>,
    /// Journal size in blocks (super block included); `None` picks
    /// [`default_journal_blocks`].
    pub journal_blocks: Option<u64>,
    /// Creation time; `None` uses the current time.
    pub time: Option<i64>,
}

impl Default for MkfsOptions {
    fn default() -> Self {
        MkfsOptions {
            block_log2: DEFAULT_BLOCK_LOG2,
            blocks: None,
            inodes: None,
            label: Vec::new(),
            uuid: None,
            hash_key: None,
            journal_blocks: None,
            time: None,
        }
    }
}

/// Bytes of device per inode when `-N` is not given.
pub const BYTES_PER_INODE: u64 = 16384;

/// Random bytes from /dev/urandom (falls back to a time-based mix).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        if f.read_exact(&mut out).is_ok() {
            return out;
        }
    }
    let mut x = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0x9e37_79b9_7f4a_7c15)
        ^ u64::from(std::process::id());
    for b in out.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    out
}

/// Chooses the inode count for a geometry: the requested count, or one per
/// [`BYTES_PER_INODE`], rounded up to fill whole inode table blocks and kept
/// within the supported range.
pub fn choose_inodes(total_blocks: u64, log2: u32, wanted: Option<u64>) -> u64 {
    let bs = 1u64 << log2;
    let per_block = bs / INODE_SIZE as u64;
    let n = wanted.unwrap_or_else(|| total_blocks.saturating_mul(bs) / BYTES_PER_INODE);
    let n = n.clamp(MIN_INODES, MAX_INODES);
    let rounded = n.div_ceil(per_block) * per_block;
    if rounded > MAX_INODES {
        (MAX_INODES / per_block) * per_block
    } else {
        rounded
    }
}

/// Checks a journal size asked for (`-J size=`): between
/// [`MIN_JOURNAL_BLOCKS`] and [`MAX_JOURNAL_BLOCKS`] blocks, and at most half
/// of the device (as mke2fs). The message gives the sizes in MiB.
pub fn check_journal_size(total: u64, log2: u32, journal: u64) -> Result<()> {
    let mib = |blocks: u64| (blocks << log2) as f64 / f64::from(1 << 20);
    let max = MAX_JOURNAL_BLOCKS.min(total / 2);
    if journal < MIN_JOURNAL_BLOCKS || journal > max {
        return msg(format!(
            "journal size {} MiB ({journal} blocks of {} bytes) out of range: a journal holds \
             {MIN_JOURNAL_BLOCKS} to {MAX_JOURNAL_BLOCKS} blocks and at most half of the \
             device, here {:.2} to {:.2} MiB",
            mib(journal),
            1u64 << log2,
            mib(MIN_JOURNAL_BLOCKS),
            mib(max.max(MIN_JOURNAL_BLOCKS)),
        ));
    }
    Ok(())
}

/// Writes a new, empty filesystem to `dev`: superblock, bitmaps, zeroed
/// inode table, an empty journal and the root directory (inode 1, empty, no
/// data blocks). Only metadata is written; the inode table and the journal
/// are zeroed with a hole punch or block-device zero-out when possible.
pub fn mkfs(mut dev: Box<dyn Dev>, opts: &MkfsOptions) -> Result<(Superblock, Box<dyn Dev>)> {
    let log2 = opts.block_log2;
    if !block_log2_valid(log2) {
        return msg("block size must be a power of two between 1024 and 65536");
    }
    let bs = 1u64 << log2;
    let dev_blocks = dev.size() / bs;
    let total = opts.blocks.unwrap_or(dev_blocks);
    if total > dev_blocks {
        return msg(format!(
            "requested {total} blocks but the device only has {dev_blocks}"
        ));
    }
    if total > MAX_BLOCKS {
        return msg(format!(
            "{total} blocks is more than the supported {MAX_BLOCKS}"
        ));
    }
    if opts.label.len() > LABEL_SIZE {
        return msg(format!("label longer than {LABEL_SIZE} bytes"));
    }
    let inodes = choose_inodes(total, log2, opts.inodes);
    let journal = match opts.journal_blocks {
        Some(j) => {
            check_journal_size(total, log2, j)?;
            j
        }
        None => default_journal_blocks(total),
    };
    let layout = Layout::compute(total, log2, inodes, journal)
        .ctx(|| format!("{total} blocks of {bs} bytes, journal of {journal} blocks"))?;
    let time = opts.time.unwrap_or_else(now_secs);
    let mut label = [0u8; LABEL_SIZE];
    label[..opts.label.len()].copy_from_slice(&opts.label);

    // Zero the inode table, and whatever old superblocks might linger where
    // we write nothing ourselves (btrfs keeps one at 64 KiB).
    dev.zero_range(
        layout.inode_table_start * bs,
        layout.inode_table_blocks * bs,
    )?;
    // No log block of an earlier file system may look like a transaction.
    dev.zero_range(layout.journal_start * bs, layout.journal_blocks * bs)?;
    let data_off = layout.data_start * bs;
    if data_off <= 0x10000 && 0x10000 + 0x1000 <= total * bs {
        dev.zero_range(0x10000, 0x1000)?;
    }
    let block0 = vec![0u8; bs as usize];
    dev.write_at(0, &block0)?;

    let sb = Superblock {
        version: FORMAT_VERSION,
        block_log2: log2,
        feature_compat: 0,
        feature_incompat: 0,
        feature_ro_compat: 0,
        state: STATE_CLEAN,
        total_blocks: total,
        free_blocks: 0,
        total_inodes: inodes,
        free_inodes: 0,
        layout,
        root_ino: ROOT_INO,
        orphan_head: 0,
        first_ino: FIRST_INO,
        uuid: opts.uuid.unwrap_or_else(random_bytes::<16>),
        label,
        hash_key: opts.hash_key.unwrap_or_else(random_bytes::<16>),
        inode_size: INODE_SIZE as u32,
        mount_count: 0,
        mkfs_time: time,
        mount_time: 0,
        write_time: time,
        check_time: time,
    };
    crate::journal::write_jsb(dev.as_mut(), &sb, &crate::journal::empty_jsb(&sb, 1))?;
    // Every metadata region is marked in use: super block, bitmaps, inode
    // table and journal, all of them before `data_start`.
    let mut bmap = Bitset::new(total);
    bmap.set_range(0, layout.data_start);
    let mut imap = Bitset::new(inodes);
    imap.set_range(0, FIRST_INO - 1);
    let mut fs = Fs::from_parts(dev, sb, bmap, imap);
    fs.now = time;

    let mut root = Inode::new(S_IFDIR | 0o755);
    root.nlink = 2;
    root.parent = ROOT_INO;
    let t = Timestamp { sec: time, nsec: 0 };
    root.atime = t;
    root.mtime = t;
    root.ctime = t;
    root.btime = t;
    fs.write_inode(ROOT_INO, &root)?;
    fs.flush()?;
    let sb = fs.sb;
    Ok((sb, fs.into_dev()))
}

/// How many bytes from the start of a device [`detect_signature`] looks at.
pub const SIGNATURE_BYTES: usize = 0x11000;

/// Known signatures of filesystems, swap, volume managers and partition tables:
/// returns the name of what the first bytes of a device hold, if any. `head`
/// should hold at least the first [`SIGNATURE_BYTES`] (shorter devices are
/// fine). These are the magics of each format's first superblock or label,
/// read from their format descriptions; `mkfs.rextfs` also asks `blkid` for
/// anything else it knows.
pub fn detect_signature(head: &[u8]) -> Option<&'static str> {
    let at = |off: usize, sig: &[u8]| head.get(off..off + sig.len()) == Some(sig);
    let le16 = |off: usize| {
        head.get(off..off + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let boot_sig = at(510, &[0x55, 0xAA]);
    if at(0, &SB_MAGIC.to_le_bytes()) {
        return Some("rextfs");
    }
    if at(1024 + 0x38, &[0x53, 0xEF]) {
        return Some("ext2/ext3/ext4");
    }
    if at(0, b"XFSB") {
        return Some("xfs");
    }
    if at(0x10000 + 0x40, b"_BHRfS_M") {
        return Some("btrfs");
    }
    if at(0, &0x1BAD_FACEu32.to_le_bytes()) {
        return Some("bfs");
    }
    if at(0, &0x28CD_3D45u32.to_le_bytes()) || at(512, &0x28CD_3D45u32.to_le_bytes()) {
        return Some("cramfs");
    }
    if at(0, b"hsqs") {
        return Some("squashfs");
    }
    // Minix v1/v2 (14- and 30-byte names) at 0x10 of the superblock, v3 at 0x18.
    if matches!(le16(1024 + 0x10), Some(0x137F | 0x138F | 0x2468 | 0x2478))
        || le16(1024 + 0x18) == Some(0x4D5A)
    {
        return Some("minix");
    }
    if at(3, b"NTFS    ") {
        return Some("ntfs");
    }
    if boot_sig && (at(0x36, b"FAT") || at(0x52, b"FAT32")) {
        return Some("vfat");
    }
    if at(0x8001, b"CD001") {
        return Some("iso9660");
    }
    if at(4096 - 10, b"SWAPSPACE2") || at(4096 - 10, b"SWAP-SPACE") {
        return Some("swap");
    }
    if at(0, b"LUKS\xBA\xBE") {
        return Some("LUKS");
    }
    if at(512, b"LABELONE") {
        return Some("LVM2 physical volume");
    }
    if at(512, b"EFI PART") {
        return Some("GPT partition table");
    }
    // An MBR: the boot signature and at least one partition entry in use.
    if boot_sig && (0..4).any(|i| head.get(446 + 16 * i + 4).is_some_and(|&t| t != 0)) {
        return Some("MBR partition table");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes placed at offsets of a zeroed device head.
    type Parts<'a> = &'a [(usize, &'a [u8])];

    fn with(parts: Parts<'_>) -> Vec<u8> {
        let mut head = vec![0u8; SIGNATURE_BYTES];
        for (off, bytes) in parts {
            head[*off..*off + bytes.len()].copy_from_slice(bytes);
        }
        head
    }

    #[test]
    fn signatures() {
        let cases: &[(Parts<'_>, Option<&str>)] = &[
            (&[], None),
            (&[(0, b"RXSB")], Some("rextfs")),
            (&[(1024 + 0x38, &[0x53, 0xEF])], Some("ext2/ext3/ext4")),
            (&[(0, b"XFSB")], Some("xfs")),
            (&[(0x10040, b"_BHRfS_M")], Some("btrfs")),
            (&[(0, &[0xCE, 0xFA, 0xAD, 0x1B])], Some("bfs")),
            (&[(0, &[0x45, 0x3D, 0xCD, 0x28])], Some("cramfs")),
            (&[(512, &[0x45, 0x3D, 0xCD, 0x28])], Some("cramfs")),
            (&[(0, b"hsqs")], Some("squashfs")),
            (&[(1024 + 0x10, &[0x7F, 0x13])], Some("minix")),
            (&[(1024 + 0x10, &[0x78, 0x24])], Some("minix")),
            (&[(1024 + 0x18, &[0x5A, 0x4D])], Some("minix")),
            (&[(3, b"NTFS    ")], Some("ntfs")),
            (&[(0x36, b"FAT16   "), (510, &[0x55, 0xAA])], Some("vfat")),
            (&[(0x52, b"FAT32   "), (510, &[0x55, 0xAA])], Some("vfat")),
            (&[(0x8001, b"CD001")], Some("iso9660")),
            (&[(4086, b"SWAPSPACE2")], Some("swap")),
            (&[(0, b"LUKS\xBA\xBE")], Some("LUKS")),
            (&[(512, b"LABELONE")], Some("LVM2 physical volume")),
            (&[(512, b"EFI PART")], Some("GPT partition table")),
            (
                &[(446 + 4, &[0x83]), (510, &[0x55, 0xAA])],
                Some("MBR partition table"),
            ),
            // A boot signature alone, or a "FAT" string without it, is not enough.
            (&[(510, &[0x55, 0xAA])], None),
            (&[(0x36, b"FAT16   ")], None),
        ];
        for (parts, want) in cases {
            assert_eq!(detect_signature(&with(parts)), *want, "{parts:?}");
        }
        // A device shorter than the signatures' offsets.
        assert_eq!(detect_signature(b"XF"), None);
        assert_eq!(detect_signature(b"XFSB"), Some("xfs"));
    }
}
