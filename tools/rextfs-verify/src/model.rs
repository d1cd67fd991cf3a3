// SPDX-License-Identifier: GPL-2.0

//! The in-memory model of one file: its expected size and bytes.

use crate::op::FallocMode;

/// Expected content of a file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Model {
    data: Vec<u8>,
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
        }
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
        let want = self.read(off, len);
        let start = lo.max(off);
        let end = hi.min(off + want.len().max(got.len()) as u64);
        let mut diff: Option<Diff> = None;
        let mut pos = start;
        while pos < end {
            let i = (pos - off) as usize;
            let (w, g) = (want.get(i).copied(), got.get(i).copied());
            if w != g {
                match &mut diff {
                    None => {
                        diff = Some(Diff {
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
        diff
    }
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
