// SPDX-License-Identifier: GPL-2.0

//! mkfs.rextfs: create a rextfs filesystem.

use rextfs_tools::cli::{self, format_uuid};
use rextfs_tools::dev::{Dev, FileDev};
use rextfs_tools::format::{MAX_BLOCK_LOG2, MIN_BLOCK_LOG2};
use rextfs_tools::mkfs::{detect_signature, mkfs, MkfsOptions, SIGNATURE_BYTES};
use rextfs_tools::mount_check::mounted_at;
use std::path::Path;
use std::process::{exit, Command};

const USAGE: &str =
    "usage: mkfs.rextfs [-b blocksize] [-L label] [-U uuid] [-N inodes] [-J size=MiB] [-E hash_key=HEX] [-f] [-q] device [size-in-blocks]";

fn die(msg: &str) -> ! {
    eprintln!("mkfs.rextfs: {msg}");
    exit(1);
}

/// What `blkid -p` (libblkid's low-level probe, if installed) finds on the device beyond the
/// signatures mkfs knows itself: a filesystem, RAID member or partition table type.
fn blkid_probe(device: &str) -> Option<String> {
    let out = Command::new("blkid")
        .args(["-p", "-o", "export", device])
        .output()
        .ok()?;
    match out.status.code() {
        // Found something.
        Some(0) => {}
        // Several signatures that contradict each other: not empty either.
        Some(8) => return Some("conflicting (blkid -p)".to_string()),
        // 2: nothing found; other codes: blkid could not probe.
        _ => return None,
    }
    let text = String::from_utf8_lossy(&out.stdout);
    ["TYPE=", "PTTYPE="].iter().find_map(|key| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| format!("{v} (blkid)"))
    })
}

/// A journal size in MiB, with two decimals when it is no whole number.
fn journal_mib_text(blocks: u64, log2: u32) -> String {
    let bytes = blocks << log2;
    if bytes % (1 << 20) == 0 {
        (bytes >> 20).to_string()
    } else {
        format!("{:.2}", bytes as f64 / f64::from(1 << 20))
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let p = match cli::parse(&args, cli::MKFS_FLAGS, cli::MKFS_WITH_ARG) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("mkfs.rextfs: {e}\n{USAGE}");
            exit(1);
        }
    };
    let mut opts = MkfsOptions::default();
    let (mut force, mut quiet) = (false, false);
    let mut journal_mib = None;
    for (c, v) in &p.opts {
        let v = v.as_deref().unwrap_or("");
        match c {
            'b' => {
                let bs = cli::parse_size(v).unwrap_or(0);
                if !bs.is_power_of_two()
                    || !(MIN_BLOCK_LOG2..=MAX_BLOCK_LOG2).contains(&bs.trailing_zeros())
                {
                    die(&format!(
                        "invalid block size '{v}' (1024..65536, a power of two)"
                    ));
                }
                opts.block_log2 = bs.trailing_zeros();
            }
            'L' => {
                if v.len() > 32 {
                    die("label longer than 32 bytes");
                }
                opts.label = v.as_bytes().to_vec();
            }
            'U' => {
                opts.uuid =
                    Some(cli::parse_uuid(v).unwrap_or_else(|| die(&format!("invalid UUID '{v}'"))))
            }
            'N' => {
                opts.inodes = Some(
                    v.parse()
                        .unwrap_or_else(|_| die(&format!("invalid inode count '{v}'"))),
                )
            }
            'J' => journal_mib = Some(cli::parse_journal_opts(v).unwrap_or_else(|e| die(&e))),
            'E' => opts.hash_key = Some(cli::parse_extended_opts(v).unwrap_or_else(|e| die(&e))),
            'f' => force = true,
            'q' => quiet = true,
            'V' => {
                println!("mkfs.rextfs {}", env!("CARGO_PKG_VERSION"));
                exit(0);
            }
            _ => {
                println!("{USAGE}");
                exit(0);
            }
        }
    }
    let (device, size) = match p.operands.as_slice() {
        [d] => (d.clone(), None),
        [d, s] => (
            d.clone(),
            Some(
                s.parse::<u64>()
                    .unwrap_or_else(|_| die(&format!("invalid size '{s}'"))),
            ),
        ),
        _ => {
            eprintln!("{USAGE}");
            exit(1);
        }
    };
    opts.blocks = size;
    if let Some(mib) = journal_mib {
        // MiB to blocks; a size that is no whole number of blocks is rounded down.
        opts.journal_blocks = Some(mib.saturating_mul(1 << 20) >> opts.block_log2);
    }
    let path = Path::new(&device);
    if let Some(mp) = mounted_at(path) {
        die(&format!("{device} is mounted on {mp}"));
    }
    let mut dev =
        FileDev::open(path, true).unwrap_or_else(|e| die(&format!("cannot open {device}: {e}")));
    if !force {
        let n = (dev.size().min(SIGNATURE_BYTES as u64)) as usize;
        let mut head = vec![0u8; n];
        if let Err(e) = dev.read_at(0, &mut head) {
            die(&format!("cannot read {device}: {e}"));
        }
        let found = detect_signature(&head)
            .map(str::to_string)
            .or_else(|| blkid_probe(&device));
        if let Some(what) = found {
            die(&format!(
                "{device} contains a {what} signature; use -f to overwrite it"
            ));
        }
    }
    match mkfs(Box::new(dev), &opts) {
        Ok((sb, _)) => {
            if !quiet {
                let j = sb.layout.journal_blocks;
                println!(
                    "rextfs: {} blocks of {} bytes, {} inodes, journal {} blocks ({} MiB), uuid {}",
                    sb.total_blocks,
                    sb.block_size(),
                    sb.total_inodes,
                    j,
                    journal_mib_text(j, sb.block_log2),
                    format_uuid(&sb.uuid)
                );
            }
        }
        Err(e) => die(&e.to_string()),
    }
}
