// SPDX-License-Identifier: GPL-2.0

//! fsck.rextfs: check and repair a rextfs filesystem.

use rextfs_tools::cli;
use rextfs_tools::dev::FileDev;
use rextfs_tools::fsck::{fsck, FsckOptions, EXIT_OPERATIONAL, EXIT_USAGE};
use rextfs_tools::mount_check::mounted_at;
use std::path::Path;
use std::process::exit;

const USAGE: &str = "usage: fsck.rextfs [-n|-y|-p] [-f] [-v] device";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let p = match cli::parse(&args, "nypafvVsTMN", "C") {
        Ok(p) => p,
        Err(e) => {
            eprintln!("fsck.rextfs: {e}\n{USAGE}");
            exit(EXIT_USAGE);
        }
    };
    let mut opts = FsckOptions::default();
    let mut no = false;
    for (c, _) in &p.opts {
        match c {
            'n' => no = true,
            'y' | 'p' | 'a' => opts.repair = true,
            'v' => opts.verbose = true,
            // -f: the check is always full. -C, -V, -s, -T, -M, -N: options
            // fsck(8) may pass along; ignored.
            _ => {}
        }
    }
    if no && opts.repair {
        eprintln!("fsck.rextfs: -n cannot be combined with -y or -p\n{USAGE}");
        exit(EXIT_USAGE);
    }
    let [device] = p.operands.as_slice() else {
        eprintln!("{USAGE}");
        exit(EXIT_USAGE);
    };
    let path = Path::new(device);
    if opts.repair {
        if let Some(mp) = mounted_at(path) {
            eprintln!(
                "fsck.rextfs: {device} is mounted on {mp}; not repairing a mounted filesystem"
            );
            exit(EXIT_OPERATIONAL);
        }
    }
    let dev = match FileDev::open(path, opts.repair) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("fsck.rextfs: cannot open {device}: {e}");
            exit(EXIT_OPERATIONAL);
        }
    };
    let report = fsck(Box::new(dev), &opts);
    for l in &report.lines {
        println!("{device}: {l}");
    }
    exit(report.exit_code);
}
