// SPDX-License-Identifier: GPL-2.0

//! A plain bit set with fast range operations.

/// Fixed-size bit set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bitset {
    words: Vec<u64>,
    len: u64,
}

fn mask_range(lo: u64, hi: u64) -> u64 {
    // bits lo..hi of one word, 0 <= lo < hi <= 64
    let upper = if hi == 64 { u64::MAX } else { (1u64 << hi) - 1 };
    upper & !((1u64 << lo) - 1)
}

impl Bitset {
    /// `len` clear bits.
    pub fn new(len: u64) -> Bitset {
        Bitset {
            words: vec![0; len.div_ceil(64) as usize],
            len,
        }
    }

    /// Number of bits.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True if the set has no bits at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Value of bit `i` (false when out of range).
    pub fn get(&self, i: u64) -> bool {
        i < self.len && self.words[(i / 64) as usize] & (1 << (i % 64)) != 0
    }

    /// Sets bit `i` to `v` (ignored when out of range).
    pub fn set(&mut self, i: u64, v: bool) {
        if i < self.len {
            let w = &mut self.words[(i / 64) as usize];
            if v {
                *w |= 1 << (i % 64);
            } else {
                *w &= !(1 << (i % 64));
            }
        }
    }

    fn for_words(&mut self, start: u64, len: u64, mut f: impl FnMut(&mut u64, u64)) {
        let end = start.saturating_add(len).min(self.len);
        let mut i = start;
        while i < end {
            let w = i / 64;
            let lo = i % 64;
            let hi = if end - (w * 64) >= 64 {
                64
            } else {
                end - w * 64
            };
            f(&mut self.words[w as usize], mask_range(lo, hi));
            i = w * 64 + hi;
        }
    }

    /// Sets the bits of `[start, start + len)`, clamped to the set.
    pub fn set_range(&mut self, start: u64, len: u64) {
        self.for_words(start, len, |w, m| *w |= m);
    }

    /// Clears the bits of `[start, start + len)`, clamped to the set.
    pub fn clear_range(&mut self, start: u64, len: u64) {
        self.for_words(start, len, |w, m| *w &= !m);
    }

    /// Number of set bits in `[start, start + len)`.
    pub fn count_range(&mut self, start: u64, len: u64) -> u64 {
        let mut n = 0u64;
        self.for_words(start, len, |w, m| n += u64::from((*w & m).count_ones()));
        n
    }

    /// Number of set bits.
    pub fn count(&self) -> u64 {
        self.words.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    /// Sets the bits of the range and returns true if any was already set;
    /// bits that were already set are also set in `dups`.
    pub fn claim_range(&mut self, start: u64, len: u64, dups: &mut Bitset) -> bool {
        let mut any = false;
        let end = start.saturating_add(len).min(self.len);
        let mut i = start;
        while i < end {
            let w = i / 64;
            let lo = i % 64;
            let hi = if end - (w * 64) >= 64 {
                64
            } else {
                end - w * 64
            };
            let m = mask_range(lo, hi);
            let old = self.words[w as usize] & m;
            if old != 0 {
                any = true;
                if let Some(d) = dups.words.get_mut(w as usize) {
                    *d |= old;
                }
            }
            self.words[w as usize] |= m;
            i = w * 64 + hi;
        }
        any
    }

    /// True if any bit of the range is set.
    pub fn any_in_range(&self, start: u64, len: u64) -> bool {
        let end = start.saturating_add(len).min(self.len);
        let mut i = start;
        while i < end {
            let w = i / 64;
            let lo = i % 64;
            let hi = if end - (w * 64) >= 64 {
                64
            } else {
                end - w * 64
            };
            if self.words[w as usize] & mask_range(lo, hi) != 0 {
                return true;
            }
            i = w * 64 + hi;
        }
        false
    }

    /// First clear bit at or after `from`, below `to`.
    pub fn find_clear(&self, from: u64, to: u64) -> Option<u64> {
        let to = to.min(self.len);
        let mut i = from;
        while i < to {
            let w = self.words[(i / 64) as usize];
            if w == u64::MAX && i % 64 == 0 {
                i += 64;
                continue;
            }
            if w & (1 << (i % 64)) == 0 {
                return Some(i);
            }
            i += 1;
        }
        None
    }

    /// Maximal runs `(start, len)` of bits where `self` and `other` differ
    /// and `self` is set.
    pub fn runs_set_not_in(&self, other: &Bitset) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut run: Option<(u64, u64)> = None;
        for (wi, (&a, &b)) in self.words.iter().zip(other.words.iter()).enumerate() {
            let d = a & !b;
            if d == 0 {
                if let Some(r) = run.take() {
                    out.push(r);
                }
                continue;
            }
            for bit in 0..64u64 {
                let i = wi as u64 * 64 + bit;
                if i >= self.len {
                    break;
                }
                if d & (1 << bit) != 0 {
                    match &mut run {
                        Some((s, l)) if *s + *l == i => *l += 1,
                        _ => {
                            if let Some(r) = run.take() {
                                out.push(r);
                            }
                            run = Some((i, 1));
                        }
                    }
                }
            }
        }
        if let Some(r) = run {
            out.push(r);
        }
        out
    }
}
