// SPDX-License-Identifier: GPL-2.0

//! fsck.rextfs: check and repair a rextfs filesystem.

use rextfs_tools::cli;
use rextfs_tools::dev::FileDev;
use rextfs_tools::fsck::{
    fsck_with_progress, FsckOptions, EXIT_OPERATIONAL, EXIT_USAGE, PASSES, PASS_NAMES,
};
use rextfs_tools::mount_check::mounted_at;
use std::io::Write;
use std::path::Path;
use std::process::exit;

const USAGE: &str = "usage: fsck.rextfs [-n|-y|-p|-a] [-f] [-v] [-C fd] [-V] device";

fn usage(msg: &str) -> ! {
    eprintln!("fsck.rextfs: {msg}\n{USAGE}");
    exit(EXIT_USAGE);
}

/// Where `-C fd` sends progress: fd 0 draws a percentage line on standard
/// output, any other descriptor gets e2fsck's machine-readable lines
/// "pass done total device", as fsck(8) reads them.
enum Progress {
    Bar { last: Option<(u32, u64)> },
    Fd(std::fs::File),
}

impl Progress {
    fn open(fd: &str) -> Progress {
        let n: u32 = fd
            .parse()
            .unwrap_or_else(|_| usage(&format!("invalid progress descriptor '{fd}'")));
        if n == 0 {
            return Progress::Bar { last: None };
        }
        // The descriptor fsck(8) handed down, reopened by its /proc name.
        match std::fs::OpenOptions::new()
            .write(true)
            .open(format!("/proc/self/fd/{n}"))
        {
            Ok(f) => Progress::Fd(f),
            Err(e) => usage(&format!("cannot write progress to descriptor {n}: {e}")),
        }
    }

    fn report(&mut self, device: &str, pass: u32, done: u64, total: u64) {
        match self {
            Progress::Bar { last } => {
                let pct = (done * 100).checked_div(total).unwrap_or(100);
                if *last == Some((pass, pct)) {
                    return;
                }
                *last = Some((pass, pct));
                let name = PASS_NAMES[(pass as usize).clamp(1, PASSES as usize) - 1];
                let mut out = std::io::stdout().lock();
                let _ = write!(
                    out,
                    "\r\x1b[K{device}: pass {pass}/{PASSES} ({name}) {pct:3}%"
                );
                let _ = out.flush();
            }
            Progress::Fd(f) => {
                let _ = writeln!(f, "{pass} {done} {total} {device}");
            }
        }
    }

    fn finish(&mut self) {
        if let Progress::Bar { last: Some(_) } = self {
            println!();
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let p = match cli::parse(&args, cli::FSCK_FLAGS, cli::FSCK_WITH_ARG) {
        Ok(p) => p,
        Err(e) => usage(&e),
    };
    let mut opts = FsckOptions::default();
    let (mut no, mut yes) = (false, false);
    let mut progress = None;
    for (c, v) in &p.opts {
        match c {
            'n' => no = true,
            'y' => yes = true,
            'p' | 'a' => opts.preen = true,
            'f' => opts.force = true,
            'v' => opts.verbose = true,
            'C' => progress = Some(Progress::open(v.as_deref().unwrap_or(""))),
            'V' => {
                println!("fsck.rextfs {}", env!("CARGO_PKG_VERSION"));
                exit(0);
            }
            // -s, -T, -M, -N: fsck(8)'s own options, ignored if passed on.
            _ => {}
        }
    }
    if usize::from(no) + usize::from(yes) + usize::from(opts.preen) > 1 {
        usage("only one of -n, -y and -p (-a) may be given");
    }
    opts.repair = yes;
    let [device] = p.operands.as_slice() else {
        usage("one device expected");
    };
    let path = Path::new(device);
    let writes = opts.repair || opts.preen;
    if writes {
        if let Some(mp) = mounted_at(path) {
            eprintln!(
                "fsck.rextfs: {device} is mounted on {mp}; not repairing a mounted filesystem"
            );
            exit(EXIT_OPERATIONAL);
        }
    }
    let dev = match FileDev::open(path, writes) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("fsck.rextfs: cannot open {device}: {e}");
            exit(EXIT_OPERATIONAL);
        }
    };
    let mut cb = |pass: u32, done: u64, total: u64| {
        if let Some(pr) = progress.as_mut() {
            pr.report(device, pass, done, total);
        }
    };
    let report = fsck_with_progress(Box::new(dev), &opts, Some(&mut cb));
    if let Some(pr) = progress.as_mut() {
        pr.finish();
    }
    for l in &report.lines {
        println!("{device}: {l}");
    }
    exit(report.exit_code);
}
