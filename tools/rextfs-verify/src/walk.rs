// SPDX-License-Identifier: GPL-2.0

//! Walks a mounted tree the way a user would (readdir, lstat, read every
//! file, readlink), and optionally writes to it, collecting every error
//! instead of stopping at the first. Used on corrupted images, so it guards
//! against loops (a visited set) and endless files (reads are capped).

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Bytes read from one file at most.
pub const READ_CAP: u64 = 32 << 20;

/// The outcome of a walk.
#[derive(Debug, Default)]
pub struct Walk {
    /// Entries visited.
    pub entries: u64,
    /// Bytes read.
    pub bytes: u64,
    /// "op relative-path: error" lines.
    pub errors: Vec<String>,
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root)
        .map(|r| format!("/{}", r.display()))
        .unwrap_or_else(|_| p.display().to_string())
}

/// Walks `root`; with `write`, also creates, fills and removes a few files.
pub fn walk(root: &Path, write: bool) -> Walk {
    let mut w = Walk::default();
    let mut seen = BTreeSet::new();
    let mut todo: Vec<(PathBuf, u32)> = vec![(root.to_path_buf(), 0)];
    let mut buf = vec![0u8; 1 << 16];
    let mut dirs: Vec<(u64, PathBuf)> = Vec::new();
    while let Some((dir, depth)) = todo.pop() {
        let rd = match std::fs::read_dir(&dir) {
            Ok(r) => r,
            Err(e) => {
                w.errors.push(format!("readdir {}: {e}", rel(root, &dir)));
                continue;
            }
        };
        for ent in rd {
            let ent = match ent {
                Ok(e) => e,
                Err(e) => {
                    w.errors.push(format!("readdir {}: {e}", rel(root, &dir)));
                    break;
                }
            };
            w.entries += 1;
            if w.entries > 200_000 {
                w.errors
                    .push("walk: more than 200000 entries, stopping".into());
                return w;
            }
            let p = ent.path();
            let md = match std::fs::symlink_metadata(&p) {
                Ok(m) => m,
                Err(e) => {
                    w.errors.push(format!("lstat {}: {e}", rel(root, &p)));
                    continue;
                }
            };
            let ft = md.file_type();
            if ft.is_dir() {
                if !seen.insert((md.dev(), md.ino())) {
                    w.errors.push(format!(
                        "walk {}: directory seen twice (loop)",
                        rel(root, &p)
                    ));
                } else if depth > 64 {
                    w.errors
                        .push(format!("walk {}: deeper than 64 levels", rel(root, &p)));
                } else {
                    dirs.push((md.size(), p.clone()));
                    todo.push((p, depth + 1));
                }
            } else if ft.is_symlink() {
                if let Err(e) = std::fs::read_link(&p) {
                    w.errors.push(format!("readlink {}: {e}", rel(root, &p)));
                }
            } else if ft.is_file() {
                match std::fs::File::open(&p) {
                    Err(e) => w.errors.push(format!("open {}: {e}", rel(root, &p))),
                    Ok(mut f) => {
                        let mut got = 0u64;
                        loop {
                            match f.read(&mut buf) {
                                Ok(0) => break,
                                Ok(n) => {
                                    got += n as u64;
                                    if got >= READ_CAP {
                                        break;
                                    }
                                }
                                Err(e) => {
                                    w.errors.push(format!("read {}: {e}", rel(root, &p)));
                                    break;
                                }
                            }
                        }
                        w.bytes += got;
                    }
                }
            }
        }
    }
    if write {
        // Creates in the root and in the two largest directories (the ones
        // most likely to have a hash index to update), then a directory and
        // a 256 KiB file; everything is removed again.
        dirs.sort();
        let mut places = vec![root.to_path_buf()];
        places.extend(dirs.iter().rev().take(2).map(|d| d.1.clone()));
        for (k, d) in places.iter().enumerate() {
            let f = d.join(format!("probe-file-{k}"));
            let r = std::fs::File::create(&f).and_then(|mut x| {
                x.write_all(b"probe\n")?;
                x.sync_all()
            });
            if let Err(e) = r {
                w.errors
                    .push(format!("write-probe create {}: {e}", rel(root, &f)));
            } else if let Err(e) = std::fs::remove_file(&f) {
                w.errors
                    .push(format!("write-probe unlink {}: {e}", rel(root, &f)));
            }
        }
        let d = root.join("probe-dir");
        let big = d.join("big");
        match std::fs::create_dir(&d) {
            Err(e) => w.errors.push(format!("write-probe mkdir: {e}")),
            Ok(()) => {
                let r = std::fs::File::create(&big).and_then(|mut x| {
                    x.write_all(&vec![0x5a; 256 << 10])?;
                    x.sync_all()
                });
                if let Err(e) = r {
                    w.errors.push(format!("write-probe write 256k: {e}"));
                }
                let _ = std::fs::remove_file(&big);
                if let Err(e) = std::fs::remove_dir(&d) {
                    w.errors.push(format!("write-probe rmdir: {e}"));
                }
            }
        }
    }
    w
}
