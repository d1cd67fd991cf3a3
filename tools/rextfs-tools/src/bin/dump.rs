// SPDX-License-Identifier: GPL-2.0

//! rextfs-dump: print on-disk structures for debugging.

use rextfs_tools::dev::FileDev;
use rextfs_tools::dump;
use rextfs_tools::fs::{read_superblock, Fs};
use std::path::Path;
use std::process::exit;

const USAGE: &str = "usage: rextfs-dump device [sb | inode N | dir N | tree N | bitmap | journal]";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || args[0] == "-h" {
        eprintln!("{USAGE}");
        exit(1);
    }
    let mut dev = match FileDev::open(Path::new(&args[0]), false) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("rextfs-dump: cannot open {}: {e}", args[0]);
            exit(1);
        }
    };
    let what = args.get(1).map(String::as_str).unwrap_or("sb");
    let num = || -> u64 {
        match args.get(2).and_then(|s| s.parse().ok()) {
            Some(n) => n,
            None => {
                eprintln!("{USAGE}");
                exit(1);
            }
        }
    };
    let out = if what == "sb" {
        read_superblock(&mut dev).map(|sb| dump::dump_sb(&sb))
    } else if what == "journal" {
        read_superblock(&mut dev).and_then(|sb| dump::dump_journal(&mut dev, &sb))
    } else {
        Fs::open(Box::new(dev)).and_then(|mut fs| match what {
            "inode" => dump::dump_inode(&mut fs, num()),
            "dir" => dump::dump_dir(&mut fs, num()),
            "tree" => dump::dump_tree(&mut fs, num()),
            "bitmap" => Ok(dump::dump_bitmap(&mut fs)),
            _ => {
                eprintln!("{USAGE}");
                exit(1);
            }
        })
    };
    match out {
        Ok(s) => print!("{s}"),
        Err(e) => {
            eprintln!("rextfs-dump: {e}");
            exit(1);
        }
    }
}
