// SPDX-License-Identifier: GPL-2.0

//! Is a device or image file in use by a mounted filesystem?

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Undoes the octal escapes of /proc/self/mounts (`\040` for a space...).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() + 1 && i + 4 <= b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn canon(p: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(p).ok()
}

/// Returns the mount point if `path` (a block device, or an image file
/// attached to a loop device) is mounted.
pub fn mounted_at(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    let me = canon(path)?;
    let rdev = meta.file_type().is_block_device().then(|| meta.rdev());
    // Loop devices backed by this file.
    let mut loops: Vec<u64> = Vec::new();
    if meta.file_type().is_file() {
        if let Ok(rd) = std::fs::read_dir("/sys/block") {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !name.starts_with("loop") {
                    continue;
                }
                let back =
                    std::fs::read_to_string(e.path().join("loop/backing_file")).unwrap_or_default();
                if back.trim_end() == me.to_string_lossy() {
                    if let Ok(m) = std::fs::metadata(format!("/dev/{name}")) {
                        loops.push(m.rdev());
                    }
                }
            }
        }
    }
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    for line in mounts.lines() {
        let mut f = line.split_whitespace();
        let (Some(src), Some(dir)) = (f.next(), f.next()) else {
            continue;
        };
        let src = unescape(src);
        let sp = Path::new(&src);
        if canon(sp).as_deref() == Some(me.as_path()) {
            return Some(unescape(dir));
        }
        if let Ok(sm) = std::fs::metadata(sp) {
            if sm.file_type().is_block_device()
                && (Some(sm.rdev()) == rdev || loops.contains(&sm.rdev()))
            {
                return Some(unescape(dir));
            }
        }
    }
    None
}
