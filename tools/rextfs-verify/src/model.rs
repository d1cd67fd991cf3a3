// SPDX-License-Identifier: GPL-2.0

//! The in-memory model of one file: its expected size and bytes, and its
//! extended attributes.

use crate::op::FallocMode;
use crate::rng::fill_pattern;
use std::collections::{BTreeMap, BTreeSet};

/// Expected content of a file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Model {
    data: Vec<u8>,
    xattrs: Xattrs,
}

/// How many removed attribute names a model remembers (to check that they
/// stay gone); past that the smallest name is forgotten.
pub const REMOVED_KEPT: usize = 32;

/// Expected extended attributes of a file: the full names the run set
/// (`user.` ones), each with the length and pattern seed of its value, and
/// some names removed since, which must not come back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Xattrs {
    values: BTreeMap<String, (u64, u64)>,
    removed: BTreeSet<String>,
}

/// The value of an attribute set with `len` bytes of the pattern of `seed`
/// (the same pattern as file data).
pub fn xattr_value(seed: u64, len: u64) -> Vec<u8> {
    let mut v = vec![0u8; len as usize];
    fill_pattern(seed, &mut v);
    v
}

impl Xattrs {
    /// Number of attributes.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// No attribute.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The (length, seed) of the value of `name`, if it is set.
    pub fn get(&self, name: &str) -> Option<(u64, u64)> {
        self.values.get(name).copied()
    }

    /// Every attribute in name order: name, value length, value seed.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64, u64)> {
        self.values.iter().map(|(n, &(l, s))| (n.as_str(), l, s))
    }

    /// The `i`-th name in name order (`i < len()`).
    pub fn nth_name(&self, i: usize) -> &str {
        self.values.keys().nth(i).expect("attribute index in range")
    }

    /// Names removed (and not set again) that the model still remembers.
    pub fn removed(&self) -> &BTreeSet<String> {
        &self.removed
    }

    /// Applies a successful setxattr of `len` bytes of the pattern of `seed`.
    pub fn set(&mut self, name: &str, len: u64, seed: u64) {
        self.removed.remove(name);
        self.values.insert(name.to_string(), (len, seed));
    }

    /// Applies a successful removexattr.
    pub fn remove(&mut self, name: &str) {
        self.values.remove(name);
        self.removed.insert(name.to_string());
        if self.removed.len() > REMOVED_KEPT {
            self.removed.pop_first();
        }
    }
}

/// Where a file's real content first differs from the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diff {
    /// First differing byte offset (absolute in the file).
    pub offset: u64,
    /// Expected byte there (`None`: past the expected end).
    pub expected: Option<u8>,
    /// Byte actually read (`None`: past the end of what was read).
    pub got: Option<u8>,
    /// Number of differing bytes in the compared range.
    pub count: u64,
    /// Last differing byte offset.
    pub last: u64,
}

impl Model {
    /// An empty file.
    pub fn new() -> Self {
        Model::default()
    }

    /// A file of `size` zero bytes.
    pub fn zeroed(size: u64) -> Self {
        Model {
            data: vec![0; size as usize],
            xattrs: Xattrs::default(),
        }
    }

    /// Expected extended attributes.
    pub fn xattrs(&self) -> &Xattrs {
        &self.xattrs
    }

    /// Expected extended attributes, to apply a change.
    pub fn xattrs_mut(&mut self) -> &mut Xattrs {
        &mut self.xattrs
    }

    /// Expected file size.
    pub fn size(&self) -> u64 {
        self.data.len() as u64
    }

    /// Expected content.
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }

    /// Expected result of reading `len` bytes at `off` (short at EOF).
    pub fn read(&self, off: u64, len: u64) -> &[u8] {
        let size = self.size();
        if off >= size {
            return &[];
        }
        let end = size.min(off + len);
        &self.data[off as usize..end as usize]
    }

    /// Applies a write of `buf` at `off` (extends the file as needed).
    pub fn write(&mut self, off: u64, buf: &[u8]) {
        let end = off as usize + buf.len();
        if end > self.data.len() {
            self.data.resize(end, 0);
        }
        self.data[off as usize..end].copy_from_slice(buf);
    }

    /// Applies a truncate to `size`.
    pub fn truncate(&mut self, size: u64) {
        self.data.resize(size as usize, 0);
    }

    fn zero(&mut self, off: u64, len: u64) {
        let size = self.size();
        if off >= size {
            return;
        }
        let end = size.min(off + len);
        self.data[off as usize..end as usize].fill(0);
    }

    /// Applies a successful fallocate of `mode` over `[off, off + len)`.
    pub fn fallocate(&mut self, mode: FallocMode, off: u64, len: u64) {
        match mode {
            FallocMode::Default => {
                if off + len > self.size() {
                    self.truncate(off + len);
                }
            }
            FallocMode::KeepSize => {}
            FallocMode::PunchHole | FallocMode::ZeroRangeKeepSize => self.zero(off, len),
            FallocMode::ZeroRange => {
                self.zero(off, len);
                if off + len > self.size() {
                    self.truncate(off + len);
                }
            }
        }
    }

    /// Compares `got`, read at `off`, with the model over `[off, off+len)`
    /// clipped to `[lo, hi)`. A short read counts as a difference.
    pub fn compare(&self, off: u64, len: u64, got: &[u8], lo: u64, hi: u64) -> Option<Diff> {
        diff(self.read(off, len), got, off, lo, hi)
    }
}

/// Where `got` differs from `want`, both starting at offset `off`, over
/// `[lo, hi)`; a shorter one counts as a difference past its end.
pub fn diff(want: &[u8], got: &[u8], off: u64, lo: u64, hi: u64) -> Option<Diff> {
    let start = lo.max(off);
    let end = hi.min(off + want.len().max(got.len()) as u64);
    let mut out: Option<Diff> = None;
    let mut pos = start;
    while pos < end {
        let i = (pos - off) as usize;
        let (w, g) = (want.get(i).copied(), got.get(i).copied());
        if w != g {
            match &mut out {
                None => {
                    out = Some(Diff {
                        offset: pos,
                        expected: w,
                        got: g,
                        count: 1,
                        last: pos,
                    })
                }
                Some(d) => {
                    d.count += 1;
                    d.last = pos;
                }
            }
        }
        pos += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_extends_and_overwrites() {
        let mut m = Model::new();
        m.write(4, &[1, 2, 3]);
        assert_eq!(m.bytes(), &[0, 0, 0, 0, 1, 2, 3]);
        m.write(5, &[9]);
        assert_eq!(m.bytes(), &[0, 0, 0, 0, 1, 9, 3]);
        assert_eq!(m.read(5, 100), &[9, 3]);
        assert_eq!(m.read(7, 1), &[] as &[u8]);
    }

    #[test]
    fn truncate_shrinks_then_zero_fills() {
        let mut m = Model::new();
        m.write(0, &[7; 8]);
        m.truncate(3);
        m.truncate(6);
        assert_eq!(m.bytes(), &[7, 7, 7, 0, 0, 0]);
    }

    #[test]
    fn fallocate_modes() {
        let mut m = Model::new();
        m.write(0, &[5; 10]);
        m.fallocate(FallocMode::KeepSize, 0, 100);
        assert_eq!(m.size(), 10);
        m.fallocate(FallocMode::Default, 8, 4);
        assert_eq!(m.bytes(), &[5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 0, 0]);
        m.fallocate(FallocMode::PunchHole, 1, 2);
        assert_eq!(&m.bytes()[..4], &[5, 0, 0, 5]);
        m.fallocate(FallocMode::PunchHole, 11, 50);
        assert_eq!(m.size(), 12);
        m.fallocate(FallocMode::ZeroRangeKeepSize, 9, 50);
        assert_eq!(m.size(), 12);
        assert_eq!(m.bytes()[8], 5);
        assert_eq!(m.bytes()[9], 0);
        m.fallocate(FallocMode::ZeroRange, 4, 12);
        assert_eq!(m.size(), 16);
        assert_eq!(&m.bytes()[..5], &[5, 0, 0, 5, 0]);
    }

    #[test]
    fn xattrs_set_remove_and_remember_removed_names() {
        let mut m = Model::new();
        let x = m.xattrs_mut();
        x.set("user.b", 10, 1);
        x.set("user.a", 0, 2);
        x.set("user.b", 20, 3);
        assert_eq!(
            (x.len(), x.get("user.b"), x.nth_name(0)),
            (2, Some((20, 3)), "user.a")
        );
        x.remove("user.b");
        assert!(x.get("user.b").is_none() && x.removed().contains("user.b"));
        x.set("user.b", 1, 1);
        assert!(x.removed().is_empty());
        for k in 0..REMOVED_KEPT + 5 {
            let n = format!("user.r{k:03}");
            x.set(&n, 1, 1);
            x.remove(&n);
        }
        assert_eq!(x.removed().len(), REMOVED_KEPT);
        assert!(!x.removed().contains("user.r000"));
        assert_eq!(xattr_value(7, 9), xattr_value(7, 20)[..9]);
    }

    #[test]
    fn compare_reports_first_and_count() {
        let mut m = Model::new();
        m.write(0, &[1, 2, 3, 4]);
        assert_eq!(m.compare(0, 4, &[1, 2, 3, 4], 0, u64::MAX), None);
        let d = m.compare(0, 4, &[1, 0, 3, 0], 0, u64::MAX).unwrap();
        assert_eq!(
            (d.offset, d.expected, d.got, d.count, d.last),
            (1, Some(2), Some(0), 2, 3)
        );
        // Short read.
        let d = m.compare(2, 10, &[3], 0, u64::MAX).unwrap();
        assert_eq!((d.offset, d.expected, d.got), (3, Some(4), None));
        // Data past the expected end.
        let d = m.compare(3, 10, &[4, 0], 0, u64::MAX).unwrap();
        assert_eq!((d.offset, d.expected, d.got), (4, None, Some(0)));
        // Outside the checked window differences are ignored.
        assert_eq!(m.compare(0, 4, &[9, 2, 3, 4], 1, 4), None);
    }
}
