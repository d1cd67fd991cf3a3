// SPDX-License-Identifier: GPL-2.0

//! Walks a mounted tree the way a user would (readdir, lstat, read every
//! file, readlink, listxattr and getxattr of every name), and optionally
//! writes to it, recording what each path gives and every error instead of
//! stopping at the first. Used on
//! corrupted images, so it guards against loops (a visited set) and endless
//! files (reads are capped). `corrupt_check` compares the result with the
//! base image.

use crate::corrupt_check::{file_detail, fnv64, xattr_detail, FNV_INIT};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CString;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Bytes read from one file at most.
pub const READ_CAP: u64 = 32 << 20;

/// What lstat (and read, readlink) give for one path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Obs {
    /// 'd', 'f', 'l', 'c', 'b', 'p', 's'.
    pub kind: char,
    /// Permission bits (mode & 0o7777).
    pub perm: u32,
    /// Files: size and content digest; symlinks: "-> target"; devices:
    /// the device number (32-bit "new" encoding).
    pub detail: String,
    /// Extended attributes (see `corrupt_check::xattr_detail`).
    pub xattrs: String,
}

impl Obs {
    /// A short description for reports.
    pub fn describe(&self) -> String {
        if self.xattrs.is_empty() {
            format!("[{} {:o} {}]", self.kind, self.perm, self.detail)
        } else {
            format!(
                "[{} {:o} {} xattrs {}]",
                self.kind, self.perm, self.detail, self.xattrs
            )
        }
    }
}

/// One error of a walk.
#[derive(Clone, Debug)]
pub struct WalkError {
    /// The path concerned ("/a/b"; probes: the probe's path).
    pub path: String,
    /// A write-probe error.
    pub probe: bool,
    /// "op /path: error".
    pub line: String,
}

/// The outcome of a walk.
#[derive(Debug, Default)]
pub struct Walk {
    /// Entries visited.
    pub entries: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Every error.
    pub errors: Vec<WalkError>,
    /// What each path read without an error gave.
    pub obs: BTreeMap<String, Obs>,
    /// The sorted names of each directory listed without an error.
    pub names: BTreeMap<String, Vec<String>>,
}

impl Walk {
    fn err(&mut self, path: &str, probe: bool, line: String) {
        self.errors.push(WalkError {
            path: path.to_string(),
            probe,
            line,
        });
    }
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root)
        .map(|r| format!("/{}", r.display()))
        .unwrap_or_else(|_| p.display().to_string())
        .replace("//", "/")
}

/// The kernel's 32-bit "new" device number encoding of st_rdev.
fn new_encode(rdev: u64) -> u32 {
    let (maj, min) = (libc::major(rdev), libc::minor(rdev));
    (min & 0xff) | (maj << 8) | ((min & !0xff) << 12)
}

/// The attributes of a path, each full name with its value.
pub type XattrList = Vec<(String, Vec<u8>)>;

/// A failed attribute call: the call ("listxattr", "getxattr user.a") and its error.
pub type XattrError = (String, std::io::Error);

/// The extended attributes of `p` (a symlink's own): llistxattr, then
/// lgetxattr of every name listed, with `buf` (64 KiB, the VFS's limit of
/// both) as the buffer. An error comes with the call that failed
/// ("listxattr", "getxattr user.a").
pub fn read_xattrs(p: &Path, buf: &mut [u8]) -> Result<XattrList, XattrError> {
    let cstr = |b: &[u8], op: &str| {
        CString::new(b).map_err(|_| (op.to_string(), std::io::ErrorKind::InvalidInput.into()))
    };
    let cpath = cstr(p.as_os_str().as_bytes(), "listxattr")?;
    // SAFETY: `cpath` is a C string; `buf` is writable for its length.
    let n = unsafe { libc::llistxattr(cpath.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(("listxattr".into(), std::io::Error::last_os_error()));
    }
    let names: Vec<Vec<u8>> = buf[..n as usize]
        .split(|&c| c == 0)
        .filter(|s| !s.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let op = format!("getxattr {}", String::from_utf8_lossy(&name));
        let cname = cstr(&name, &op)?;
        // SAFETY: Both are C strings; `buf` is writable for its length.
        let n = unsafe {
            libc::lgetxattr(
                cpath.as_ptr(),
                cname.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n < 0 {
            return Err((op, std::io::Error::last_os_error()));
        }
        out.push((
            String::from_utf8_lossy(&name).into_owned(),
            buf[..n as usize].to_vec(),
        ));
    }
    Ok(out)
}

fn observe(w: &mut Walk, md: &std::fs::Metadata, p: &Path, path: &str, buf: &mut [u8]) {
    let ft = md.file_type();
    let kind = if ft.is_dir() {
        'd'
    } else if ft.is_file() {
        'f'
    } else if ft.is_symlink() {
        'l'
    } else if ft.is_char_device() {
        'c'
    } else if ft.is_block_device() {
        'b'
    } else if ft.is_fifo() {
        'p'
    } else if ft.is_socket() {
        's'
    } else {
        '?'
    };
    let detail = match kind {
        'l' => match std::fs::read_link(p) {
            Ok(t) => format!("-> {}", t.display()),
            Err(e) => return w.err(path, false, format!("readlink {path}: {e}")),
        },
        'c' | 'b' => format!("rdev {:#x}", new_encode(md.rdev())),
        'f' => {
            let mut f = match std::fs::File::open(p) {
                Ok(f) => f,
                Err(e) => return w.err(path, false, format!("open {path}: {e}")),
            };
            let (mut got, mut h) = (0u64, FNV_INIT);
            loop {
                match f.read(buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        h = fnv64(&buf[..n], h);
                        got += n as u64;
                        if got >= READ_CAP {
                            break;
                        }
                    }
                    Err(e) => {
                        w.bytes += got;
                        return w.err(path, false, format!("read {path}: {e}"));
                    }
                }
            }
            w.bytes += got;
            if got != md.size() {
                // Short read: lstat and read disagree about the size.
                file_detail(got, h) + &format!(" (lstat size {})", md.size())
            } else {
                file_detail(got, h)
            }
        }
        _ => String::new(),
    };
    // Every attribute, ACLs included: the only reads of xattr and value blocks.
    let xattrs = match read_xattrs(p, buf) {
        Ok(a) => xattr_detail(a),
        Err((op, e)) => return w.err(path, false, format!("{op} {path}: {e}")),
    };
    w.obs.insert(
        path.to_string(),
        Obs {
            kind,
            perm: md.mode() & 0o7777,
            detail,
            xattrs,
        },
    );
}

/// Walks `root`; with `write`, also creates, fills and removes a few files.
pub fn walk(root: &Path, write: bool) -> Walk {
    let mut w = Walk::default();
    let mut seen = BTreeSet::new();
    let mut buf = vec![0u8; 1 << 16];
    match std::fs::symlink_metadata(root) {
        Ok(md) => observe(&mut w, &md, root, "/", &mut buf),
        Err(e) => w.err("/", false, format!("lstat /: {e}")),
    }
    let mut todo: Vec<(PathBuf, u32)> = vec![(root.to_path_buf(), 0)];
    let mut dirs: Vec<(u64, PathBuf)> = Vec::new();
    while let Some((dir, depth)) = todo.pop() {
        let dpath = rel(root, &dir);
        let rd = match std::fs::read_dir(&dir) {
            Ok(r) => r,
            Err(e) => {
                w.err(&dpath, false, format!("readdir {dpath}: {e}"));
                continue;
            }
        };
        let mut names = Vec::new();
        let mut complete = true;
        for ent in rd {
            let ent = match ent {
                Ok(e) => e,
                Err(e) => {
                    w.err(&dpath, false, format!("readdir {dpath}: {e}"));
                    complete = false;
                    break;
                }
            };
            w.entries += 1;
            if w.entries > 200_000 {
                w.err(
                    "/",
                    false,
                    "walk: more than 200000 entries, stopping".into(),
                );
                return w;
            }
            names.push(ent.file_name().to_string_lossy().into_owned());
            let p = ent.path();
            let path = rel(root, &p);
            let md = match std::fs::symlink_metadata(&p) {
                Ok(m) => m,
                Err(e) => {
                    w.err(&path, false, format!("lstat {path}: {e}"));
                    continue;
                }
            };
            observe(&mut w, &md, &p, &path, &mut buf);
            if md.file_type().is_dir() {
                if !seen.insert((md.dev(), md.ino())) {
                    w.err(
                        &path,
                        false,
                        format!("walk {path}: directory seen twice (loop)"),
                    );
                } else if depth > 64 {
                    w.err(&path, false, format!("walk {path}: deeper than 64 levels"));
                } else {
                    dirs.push((md.size(), p.clone()));
                    todo.push((p, depth + 1));
                }
            }
        }
        if complete {
            names.sort();
            w.names.insert(dpath, names);
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
            let fp = rel(root, &f);
            let r = std::fs::File::create(&f).and_then(|mut x| {
                x.write_all(b"probe\n")?;
                x.sync_all()
            });
            if let Err(e) = r {
                w.err(&fp, true, format!("write-probe create {fp}: {e}"));
            } else if let Err(e) = std::fs::remove_file(&f) {
                w.err(&fp, true, format!("write-probe unlink {fp}: {e}"));
            }
        }
        let d = root.join("probe-dir");
        let big = d.join("big");
        match std::fs::create_dir(&d) {
            Err(e) => w.err("/probe-dir", true, format!("write-probe mkdir: {e}")),
            Ok(()) => {
                let r = std::fs::File::create(&big).and_then(|mut x| {
                    x.write_all(&vec![0x5a; 256 << 10])?;
                    x.sync_all()
                });
                if let Err(e) = r {
                    w.err(
                        "/probe-dir/big",
                        true,
                        format!("write-probe write 256k: {e}"),
                    );
                }
                let _ = std::fs::remove_file(&big);
                if let Err(e) = std::fs::remove_dir(&d) {
                    w.err("/probe-dir", true, format!("write-probe rmdir: {e}"));
                }
            }
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_read_with_their_values() {
        let dir = std::env::temp_dir().join(format!("rextfs-walk-xattr-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("f");
        std::fs::write(&f, b"x").unwrap();
        let mut buf = vec![0u8; 1 << 16];
        let set = |name: &str, v: &[u8]| {
            let p = CString::new(f.as_os_str().as_bytes()).unwrap();
            let n = CString::new(name).unwrap();
            // SAFETY: C strings and a readable value.
            unsafe { libc::setxattr(p.as_ptr(), n.as_ptr(), v.as_ptr().cast(), v.len(), 0) }
        };
        if set("user.b", b"two") != 0 {
            // No user attributes on this file system: nothing to check.
            let _ = std::fs::remove_dir_all(&dir);
            return;
        }
        assert_eq!(set("user.a", b""), 0);
        let mut got = read_xattrs(&f, &mut buf).unwrap();
        got.sort();
        assert_eq!(
            got,
            [
                ("user.a".to_string(), Vec::new()),
                ("user.b".to_string(), b"two".to_vec())
            ]
        );
        let (op, e) = read_xattrs(&dir.join("missing"), &mut buf).unwrap_err();
        assert_eq!(
            (op.as_str(), e.raw_os_error()),
            ("listxattr", Some(libc::ENOENT))
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn device_numbers_use_the_new_encoding() {
        // The format stores rdev like ext4: new_encode_dev(), 1:3 as 0x103.
        assert_eq!(new_encode(libc::makedev(1, 3)), 0x103);
        assert_eq!(new_encode(libc::makedev(8, 0x12345)), 0x1230_0845);
        assert_eq!(new_encode(libc::makedev(259, 7)), 0x10307);
    }
}
