// SPDX-License-Identifier: GPL-2.0

//! What a walk of a corrupted image may show: the base image's manifest
//! (every path with its type, permissions and contents, read with the
//! rextfs-tools library), the "blast radius" of a mutation (the objects whose
//! on-disk structures it changed), and the rule that judges a walk of the
//! mounted image against both.
//!
//! # The rule
//!
//! The kernel may always refuse: a failed mount, or an error (EUCLEAN, EIO,
//! ENOENT...) on any object whose structures were damaged, is correct
//! behaviour. What it must never do is hand out something wrong without an
//! error. For an image it mounts, with D the damaged objects (the inodes
//! whose slot, extent-tree nodes, directory blocks, hash index, xattr blocks
//! or xattr value blocks the mutation changed, their hard links, and for a damaged directory every
//! path below it, since every name there is found through it; everything
//! when the superblock was changed):
//!
//! 1. Outside D, every object must read back exactly as in the base image
//!    (type, permissions, size and contents, symlink target, device number,
//!    extended attributes (names and values, ACLs included); for a
//!    directory, exactly the base's names) and without an error: the
//!    damage of one file is no excuse for failing or changing another, as
//!    with ext4's and XFS's per-object verifiers (the default
//!    `errors=remount-ro` still reads everything). Bitmap damage has an
//!    empty D: a read-only walk never needs the bitmaps.
//! 2. Inside D, an object (or directory listing) the kernel returns without
//!    an error must also be exactly as in the base: damage is either
//!    detected or harmless, never silently read as garbage (a name skipped
//!    in a listing, an extent read from the wrong block, a size taken from a
//!    bad field). The one exception is a random mutation with its checksums
//!    recomputed: a bit flipped into another plausible value (a size, a
//!    block number inside the file's own range, a time) is undetectable by
//!    any file system without redundancy, so there only rule 1 applies.
//! 3. A must-fail mutation must be refused at mount or give at least one
//!    error on an object in D (the write probes made in a damaged directory
//!    count): an error somewhere else does not show that the damage was
//!    seen.
//!
//! 4. After the write probes the image is unmounted, mounted again
//!    read-only and walked again (no writes), under rules 1 and 2: the
//!    writes must not have changed or broken anything outside D (a probe
//!    allocating a block another file uses, as a cleared bitmap bit
//!    invites, only shows there: the first walk read before the writes,
//!    and fsck afterwards only has to stay non-clean), and objects in D
//!    still fail or read back as in the base. Rule 3 was settled by the
//!    first walk. The second mount is read-only because rextfs refuses
//!    every read-write mount of a file system with recorded errors
//!    (EUCLEAN, "run fsck.rextfs"; the check is in mark_dirty()) but
//!    mounts it read-only: the reread sees exactly what the kernel left on
//!    disk, and nothing is written before fsck_after checks it. Running
//!    `fsck.rextfs -y` on a copy and mounting that instead would judge
//!    fsck's repairs (lost+found, dropped entries of damaged directories)
//!    rather than the kernel's writes; repairability is checked separately
//!    (corrupt-run.sh, fsck_after). A refused read-only mount is an error on
//!    every object: allowed only when D is everything (superblock damage).
//!
//! The unmodified base image is walked with the same rule and D empty, and
//! with no error allowed at all, write probes and the reread included: it is
//! the control that the kernel reads the library's images exactly as the
//! library does, and keeps them so through its own writes.

use crate::corrupt::{Info, Mutation};
use crate::walk::{Obs, Walk};
use rextfs_tools::format::*;
use rextfs_tools::{Fs, MemDev};
use std::collections::{BTreeMap, BTreeSet};

/// FNV-1a, 64 bits: the digest of file contents in manifests and walks.
pub fn fnv64(data: &[u8], mut h: u64) -> u64 {
    for &b in data {
        h ^= b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// The FNV-1a offset basis.
pub const FNV_INIT: u64 = 0xcbf2_9ce4_8422_2325;

/// The detail string of a regular file in a manifest or a walk.
pub fn file_detail(size: u64, digest: u64) -> String {
    format!("size {size} fnv {digest:016x}")
}

/// The extended attributes of an object in a manifest or a walk: each full
/// name (`user.a`, `system.posix_acl_access`) with its value's length and
/// digest, sorted by name; empty without attributes.
pub fn xattr_detail(mut attrs: Vec<(String, Vec<u8>)>) -> String {
    attrs.sort();
    attrs
        .iter()
        .map(|(n, v)| format!("{n}={}:{:016x}", v.len(), fnv64(v, FNV_INIT)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every path of an image, as the library reads it.
#[derive(Debug, Default)]
pub struct Manifest {
    /// Path ("/", "/a", "/a/b") to what lstat and read give.
    pub obs: BTreeMap<String, Obs>,
    /// Directory path to its sorted names.
    pub names: BTreeMap<String, Vec<String>>,
    /// Path to inode number.
    pub ino: BTreeMap<String, u64>,
}

fn kind_of(inode: &Inode) -> char {
    match inode.file_type() {
        S_IFDIR => 'd',
        S_IFREG => 'f',
        S_IFLNK => 'l',
        S_IFCHR => 'c',
        S_IFBLK => 'b',
        S_IFIFO => 'p',
        S_IFSOCK => 's',
        _ => '?',
    }
}

/// Reads the whole tree of `img` with the library.
pub fn manifest(img: &[u8]) -> std::result::Result<Manifest, String> {
    let e = |x: rextfs_tools::Error| x.to_string();
    let mut fs = Fs::open(Box::new(MemDev::from_bytes(img))).map_err(e)?;
    let mut m = Manifest::default();
    let mut todo = vec![(ROOT_INO, "/".to_string())];
    while let Some((ino, path)) = todo.pop() {
        let inode = fs.read_inode(ino).map_err(e)?;
        let kind = kind_of(&inode);
        let detail = match kind {
            'f' => {
                let data = fs.read(ino).map_err(e)?;
                file_detail(data.len() as u64, fnv64(&data, FNV_INIT))
            }
            'l' => format!(
                "-> {}",
                String::from_utf8_lossy(&fs.readlink(ino).map_err(e)?)
            ),
            'c' | 'b' => format!("rdev {:#x}", inode.rdev),
            _ => String::new(),
        };
        if kind == 'd' {
            let mut names = Vec::new();
            for ent in fs.read_dir(ino).map_err(e)? {
                let name = String::from_utf8_lossy(&ent.name).into_owned();
                let child = if path == "/" {
                    format!("/{name}")
                } else {
                    format!("{path}/{name}")
                };
                todo.push((ent.ino, child));
                names.push(name);
            }
            names.sort();
            m.names.insert(path.clone(), names);
        }
        let xattrs = if inode.xattr != 0 {
            let chain = fs.xattr_chain(ino, &inode).map_err(e)?;
            xattr_detail(
                chain
                    .attrs
                    .iter()
                    .map(|a| (a.full_name(), a.value.clone()))
                    .collect(),
            )
        } else {
            String::new()
        };
        m.obs.insert(
            path.clone(),
            Obs {
                kind,
                perm: (inode.mode & 0o7777) as u32,
                detail,
                xattrs,
            },
        );
        m.ino.insert(path, ino);
    }
    Ok(m)
}

/// The objects a mutation damaged.
#[derive(Debug, Default)]
pub struct Blast {
    /// The superblock (or an unknown block) changed: everything is damaged.
    pub global: bool,
    /// Inodes whose slot, extent nodes, directory blocks, index, xattr
    /// blocks or value blocks changed.
    pub inodes: BTreeSet<u64>,
}

impl Blast {
    /// What `m` damages in the image described by `info`.
    pub fn of(info: &Info, m: &Mutation) -> Blast {
        let mut b = Blast::default();
        for (lo, hi) in m.ranges() {
            let mut off = lo;
            while off < hi {
                b.add_byte(info, off);
                off += 1;
            }
        }
        for off in m.seal_offsets(info) {
            b.add_byte(info, off);
        }
        b
    }

    fn add_byte(&mut self, info: &Info, off: u64) {
        let sb = info.sb.as_ref().unwrap();
        let l = sb.layout;
        let bs = info.bs;
        let blk = off / bs;
        if off < SB_SIZE as u64 || blk == 0 {
            self.global = true;
        } else if blk >= l.block_bitmap_start && blk < l.inode_table_start {
            // Bitmaps: allocation only.
        } else if blk >= l.inode_table_start && blk < l.inode_table_start + l.inode_table_blocks {
            self.inodes.insert(
                (blk - l.inode_table_start) * (bs / INODE_SIZE as u64)
                    + (off % bs) / INODE_SIZE as u64
                    + 1,
            );
        } else if let Some(o) = info.owner_of(blk) {
            self.inodes.insert(o);
        } else {
            self.global = true;
        }
    }

    /// Whether `path` (in the base or made by the walk's probes) is in the
    /// blast radius: damaged itself, or found through a damaged directory.
    pub fn covers(&self, man: &Manifest, path: &str) -> bool {
        if self.global {
            return true;
        }
        let mut p = path;
        loop {
            if man.ino.get(p).is_some_and(|i| self.inodes.contains(i)) {
                return true;
            }
            if p == "/" {
                return false;
            }
            p = match p.rfind('/') {
                Some(0) => "/",
                Some(i) => &p[..i],
                None => return false,
            };
        }
    }
}

/// How a mutated image is judged.
pub struct Judge<'a> {
    /// The base image's manifest.
    pub man: &'a Manifest,
    /// The damaged objects (empty for the base image itself).
    pub blast: Blast,
    /// Rule 2 does not apply (random mutation, checksums recomputed).
    pub lenient: bool,
    /// Rule 3 applies.
    pub must_fail: bool,
    /// The base image itself: no error at all is allowed.
    pub control: bool,
}

/// The judgement of one walk.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Broken rules, one line each.
    pub violations: Vec<String>,
    /// Errors on damaged objects.
    pub errors_inside: usize,
    /// Errors elsewhere (read errors there are violations too).
    pub errors_outside: usize,
}

impl Judge<'_> {
    /// Judges a mount that failed (the reread of rule 4): an error on every
    /// object, allowed only when every object is damaged.
    pub fn judge_unmounted(&self, why: &str) -> Verdict {
        let mut v = Verdict::default();
        if self.blast.global && !self.control {
            v.errors_inside = 1;
        } else {
            v.errors_outside = 1;
            v.violations.push(format!(
                "the image no longer mounts ({why}), although {} objects of {} are damaged",
                self.man
                    .obs
                    .keys()
                    .filter(|p| self.blast.covers(self.man, p))
                    .count(),
                self.man.obs.len()
            ));
        }
        v
    }

    /// Judges walk `w` (of the mounted image).
    pub fn judge(&self, w: &Walk) -> Verdict {
        let mut v = Verdict::default();
        let inside = |p: &str| self.blast.covers(self.man, p);
        for e in &w.errors {
            if inside(&e.path) {
                v.errors_inside += 1;
            } else {
                v.errors_outside += 1;
                if self.control {
                    v.violations
                        .push(format!("the uncorrupted image gives an error: {}", e.line));
                } else if !e.probe {
                    v.violations
                        .push(format!("error outside the damaged objects: {}", e.line));
                }
            }
        }
        let strict = |p: &str| !inside(p) || !self.lenient;
        for (p, want) in &self.man.obs {
            if let Some(got) = w.obs.get(p) {
                if got != want && strict(p) {
                    v.violations.push(format!(
                        "{p} reads back {} without an error; the base has {}{}",
                        got.describe(),
                        want.describe(),
                        if inside(p) { " (damaged object)" } else { "" }
                    ));
                }
            } else if !inside(p) && !w.errors.iter().any(|e| e.path == *p) {
                // Outside the damage every path must be reached.
                v.violations.push(format!("{p} was never reached"));
            }
        }
        for (p, want) in &self.man.names {
            if let Some(got) = w.names.get(p) {
                // A write probe that failed (its error is recorded) may leave its own file
                // behind: only the probe's names may be extra.
                let got_base: Vec<String> = got
                    .iter()
                    .filter(|n| want.contains(n) || !n.starts_with("probe-"))
                    .cloned()
                    .collect();
                if got_base != *want && strict(p) {
                    let missing: Vec<&String> = want.iter().filter(|n| !got.contains(n)).collect();
                    let extra: Vec<&String> = got.iter().filter(|n| !want.contains(n)).collect();
                    v.violations.push(format!(
                        "directory {p} lists without an error {} names missing {:?}, {} extra {:?}{}",
                        missing.len(),
                        missing.iter().take(5).collect::<Vec<_>>(),
                        extra.len(),
                        extra.iter().take(5).collect::<Vec<_>>(),
                        if inside(p) { " (damaged directory)" } else { "" }
                    ));
                }
            }
        }
        for p in w.obs.keys() {
            if !self.man.obs.contains_key(p) && strict(p) && !p.contains("/probe-") {
                v.violations
                    .push(format!("{p} does not exist in the base image"));
            }
        }
        if self.must_fail && v.errors_inside == 0 {
            v.violations.push(format!(
                "must-fail: mounted, and no error on the damaged objects ({} elsewhere)",
                v.errors_outside
            ));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corrupt::{analyze, apply, build_base, find, Expect};
    use crate::walk::WalkError;

    /// A walk that saw exactly what `m` holds.
    fn walk_of(m: &Manifest) -> Walk {
        Walk {
            entries: m.obs.len() as u64,
            bytes: 0,
            errors: Vec::new(),
            obs: m.obs.clone(),
            names: m.names.clone(),
        }
    }

    fn judge<'a>(man: &'a Manifest, base: &[u8], name: &str) -> (Judge<'a>, Expect) {
        let (info, m) = find(base, 1, 4, &[name.to_string()]).unwrap();
        (
            Judge {
                man,
                blast: Blast::of(&info, &m[0]),
                lenient: m[0].random_sealed(),
                must_fail: m[0].expect == Expect::MustFail,
                control: false,
            },
            m[0].expect,
        )
    }

    fn error(path: &str) -> WalkError {
        WalkError {
            path: path.into(),
            probe: false,
            line: format!("read {path}: Structure needs cleaning (os error 117)"),
        }
    }

    #[test]
    fn blast_radius_of_each_kind_of_structure() {
        let base = build_base(12, 8 << 20).unwrap();
        let man = manifest(&base).unwrap();
        assert!(man.obs.len() > 20);
        assert_eq!(man.obs["/dir/sub/deep/leaf.txt"].kind, 'f');
        assert_eq!(man.obs["/null-dev"].detail, "rdev 0x103");
        assert_eq!(man.ino["/multi"], man.ino["/dir/sub/hard-link"]);
        let covers = |name: &str, path: &str| judge(&man, &base, name).0.blast.covers(&man, path);
        // An inode: itself and its other names, nothing else.
        assert!(covers("inode-file-crc", "/multi"));
        assert!(covers("inode-file-crc", "/dir/sub/hard-link"));
        assert!(!covers("inode-file-crc", "/small"));
        // A directory: everything below it, and its probes.
        assert!(covers("inode-dir-crc", "/dir/sub/deep/leaf.txt"));
        assert!(covers("inode-dir-crc", "/dir/probe-file-1"));
        assert!(!covers("inode-dir-crc", "/big"));
        assert!(covers("index-crc", "/big/name-0003-yyy"));
        assert!(!covers("index-crc", "/dir"));
        assert!(covers("extnode-crc", "/dir/fragmented"));
        assert!(!covers("extnode-crc", "/dir"));
        // The root directory's blocks: everything; the superblock too.
        assert!(covers("rootdir-reclen0", "/small"));
        assert!(covers("sb-label", "/dir/sub"));
        // Bitmaps: nothing (a read-only walk does not need them).
        for p in ["/", "/small", "/probe-dir"] {
            assert!(!covers("bbm-clear-used", p));
        }
    }

    #[test]
    fn the_rule_accepts_the_right_walks_and_rejects_the_wrong_ones() {
        let base = build_base(12, 8 << 20).unwrap();
        let man = manifest(&base).unwrap();
        let control = Judge {
            man: &man,
            blast: Blast::default(),
            lenient: false,
            must_fail: false,
            control: true,
        };
        let same = walk_of(&man);
        assert!(control.judge(&same).violations.is_empty());
        // The control allows no error at all, a write probe's neither.
        let mut w = walk_of(&man);
        w.errors.push(WalkError {
            path: "/probe-dir".into(),
            probe: true,
            line: "write-probe mkdir: x".into(),
        });
        assert_eq!(control.judge(&w).violations.len(), 1);

        // A must-fail mutation read back as the base without an error.
        let (j, e) = judge(&man, &base, "inode-file-nsec");
        assert_eq!(e, Expect::MustFail);
        let v = j.judge(&same);
        assert!(v.violations[0].starts_with("must-fail"), "{v:?}");
        // With an error on the damaged file (and the file unread): fine.
        let mut w = walk_of(&man);
        w.obs.remove("/multi");
        w.errors.push(error("/multi"));
        assert!(j.judge(&w).violations.is_empty());
        // An error somewhere else does not count, and is itself wrong.
        let mut w = walk_of(&man);
        w.obs.remove("/small");
        w.errors.push(error("/small"));
        assert_eq!(j.judge(&w).violations.len(), 2, "{:?}", j.judge(&w));
        // Garbage read without an error from the damaged file.
        let mut w = walk_of(&man);
        w.obs.get_mut("/multi").unwrap().detail = file_detail(12, 34);
        w.errors.push(error("/dir/sub/hard-link"));
        let v = j.judge(&w);
        assert!(v.violations[0].contains("(damaged object)"), "{v:?}");
        // A changed file outside the damage, a name lost from a listing, an
        // unreached path, an invented one.
        let (j, _) = judge(&man, &base, "bbm-clear-used");
        assert!(j.judge(&same).violations.is_empty());
        let mut w = walk_of(&man);
        w.obs.get_mut("/small").unwrap().perm = 0o600;
        w.names.get_mut("/big").unwrap().pop();
        w.obs.remove("/dir/sub/deep/leaf.txt");
        w.obs.insert(
            "/stray".into(),
            Obs {
                kind: 'f',
                perm: 0o644,
                detail: file_detail(0, FNV_INIT),
                xattrs: String::new(),
            },
        );
        let v = j.judge(&w);
        assert_eq!(v.violations.len(), 4, "{v:?}");
        // A failed write probe may leave its own file in a listing; any other
        // extra name is a violation.
        let mut w = walk_of(&man);
        w.names.get_mut("/").unwrap().push("probe-file-0".into());
        assert!(j.judge(&w).violations.is_empty(), "{:?}", j.judge(&w));
        w.names.get_mut("/").unwrap().push("stray-name".into());
        assert_eq!(j.judge(&w).violations.len(), 1, "{:?}", j.judge(&w));
        // A random mutation with its checksums recomputed may change what
        // its damaged objects read; not what the others read.
        let info = analyze(&base).unwrap();
        let r = crate::corrupt::random(&info, 1, 200);
        let (sealed, hit) = r
            .iter()
            .find_map(|m| {
                let b = Blast::of(&info, m);
                let hit = man
                    .ino
                    .iter()
                    .find(|(p, i)| man.obs[*p].kind == 'f' && b.inodes.contains(i))?;
                (m.random_sealed() && !b.global).then(|| (m, hit.0.clone()))
            })
            .expect("a sealed random mutation of a file's inode");
        assert_ne!(apply(&base, &info, sealed), base);
        let j = Judge {
            man: &man,
            blast: Blast::of(&info, sealed),
            lenient: true,
            must_fail: false,
            control: false,
        };
        let other = if hit == "/small" { "/sparse" } else { "/small" };
        let mut w = walk_of(&man);
        w.obs.get_mut(&hit).unwrap().detail = file_detail(12, 34);
        assert!(j.judge(&w).violations.is_empty(), "{hit}");
        w.obs.get_mut(other).unwrap().detail = file_detail(12, 34);
        assert_eq!(j.judge(&w).violations.len(), 1);
    }

    #[test]
    fn attributes_are_part_of_what_an_object_reads() {
        let base = build_base(12, 8 << 20).unwrap();
        let man = manifest(&base).unwrap();
        let x = &man.obs["/xattrs"].xattrs;
        assert!(
            x.starts_with("security.rextfs=5:") && x.contains(" user.empty=0:"),
            "{x}"
        );
        assert!(man.obs["/bigxattr"].xattrs.starts_with("user.big=10240:"));
        let acl = &man.obs["/acl-dir"].xattrs;
        assert!(
            acl.starts_with("system.posix_acl_access=44:")
                && acl.contains(" system.posix_acl_default=44:"),
            "{acl}"
        );
        assert!(man.obs["/small"].xattrs.is_empty());
        assert!(man.obs["/acl-dir"].describe().contains(" xattrs system."));
        // A damaged value block damages its file, nothing else.
        let (j, e) = judge(&man, &base, "xvalue-next-self");
        assert_eq!(e, Expect::MustFail);
        assert!(j.blast.covers(&man, "/bigxattr"));
        assert!(!j.blast.covers(&man, "/xattrs") && !j.blast.covers(&man, "/"));
        // Read back as the base without an error: rule 3.
        let v = j.judge(&walk_of(&man));
        assert!(v.violations[0].starts_with("must-fail"), "{v:?}");
        // Another value without an error: rule 2, whatever else failed.
        let mut w = walk_of(&man);
        w.obs.get_mut("/bigxattr").unwrap().xattrs = format!("user.big=10240:{:016x}", 0);
        w.errors.push(error("/bigxattr"));
        let v = j.judge(&w);
        assert!(v.violations[0].contains("(damaged object)"), "{v:?}");
        // An error from getxattr on the damaged file: right.
        let mut w = walk_of(&man);
        w.obs.remove("/bigxattr");
        w.errors.push(WalkError {
            path: "/bigxattr".into(),
            probe: false,
            line: "getxattr user.big /bigxattr: Structure needs cleaning (os error 117)".into(),
        });
        assert!(j.judge(&w).violations.is_empty());
        // A damaged ACL damages its directory and what is below it only.
        let (j, _) = judge(&man, &base, "acl-version");
        assert!(j.blast.covers(&man, "/acl-dir"));
        assert!(!j.blast.covers(&man, "/xattrs"));
        // The chain's damage is its file's.
        let (j, _) = judge(&man, &base, "xattr-next-other");
        assert!(j.blast.covers(&man, "/manyxattrs"));
        assert!(!j.blast.covers(&man, "/xattrs"));
    }

    #[test]
    fn the_reread_after_the_writes_is_judged_by_the_same_rule() {
        let base = build_base(12, 8 << 20).unwrap();
        let man = manifest(&base).unwrap();
        // The reread of a must-fail mutation: rule 3 is not applied again
        // (walk --reread), rules 1 and 2 are.
        let (mut j, _) = judge(&man, &base, "inode-file-nsec");
        j.must_fail = false;
        assert!(j.judge(&walk_of(&man)).violations.is_empty());
        // A may-pass bitmap mutation whose write probe took a block of an
        // undamaged file: its contents changed after the writes.
        let (mut j, _) = judge(&man, &base, "bbm-clear-used");
        j.must_fail = false;
        let mut w = walk_of(&man);
        w.obs.get_mut("/dir/fragmented").unwrap().detail = file_detail(12, 34);
        let v = j.judge(&w);
        assert_eq!(v.violations.len(), 1, "{v:?}");
        assert!(v.violations[0].starts_with("/dir/fragmented reads back"));
        // ... or it reads with an error now.
        let mut w = walk_of(&man);
        w.obs.remove("/dir/fragmented");
        w.errors.push(error("/dir/fragmented"));
        assert_eq!(j.judge(&w).violations.len(), 1);
        // A refused second mount: wrong unless everything is damaged.
        assert_eq!(j.judge_unmounted("EUCLEAN").violations.len(), 1);
        let (j, _) = judge(&man, &base, "sb-label");
        assert!(j.judge_unmounted("EUCLEAN").violations.is_empty());
        let control = Judge {
            man: &man,
            blast: Blast::default(),
            lenient: false,
            must_fail: false,
            control: true,
        };
        assert_eq!(control.judge_unmounted("EUCLEAN").violations.len(), 1);
    }
}
