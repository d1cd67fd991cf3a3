// SPDX-License-Identifier: GPL-2.0

//! A small deterministic pseudo-random generator (SplitMix64). The verifier
//! must produce the very same operation sequence for a seed on every machine
//! and every build, so it does not depend on an external crate's algorithm.

/// SplitMix64 state.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        // The bias of a plain modulo is irrelevant for test generation.
        self.next_u64() % n
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }
}

/// Fills `buf` with the data pattern of a write: a function of the write's
/// data seed and of the position inside the write only, so that replaying a
/// logged write reproduces its bytes exactly.
pub fn fill_pattern(seed: u64, buf: &mut [u8]) {
    let mut r = Rng::new(seed);
    for chunk in buf.chunks_mut(8) {
        let v = r.next_u64().to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic() {
        let a: Vec<u64> = (0..4)
            .scan(Rng::new(7), |r, _| Some(r.next_u64()))
            .collect();
        let b: Vec<u64> = (0..4)
            .scan(Rng::new(7), |r, _| Some(r.next_u64()))
            .collect();
        assert_eq!(a, b);
        assert_ne!(a[0], Rng::new(8).next_u64());
        // Pinned value: the generator must never change silently, or old
        // seeds in bug reports stop reproducing.
        assert_eq!(Rng::new(0).next_u64(), 0xe220_a839_7b1d_cdaf);
    }

    #[test]
    fn ranges() {
        let mut r = Rng::new(1);
        for _ in 0..1000 {
            let v = r.range(5, 9);
            assert!((5..=9).contains(&v));
        }
    }

    #[test]
    fn pattern_is_prefix_stable() {
        let mut a = vec![0u8; 37];
        let mut b = vec![0u8; 100];
        fill_pattern(42, &mut a);
        fill_pattern(42, &mut b);
        assert_eq!(a[..], b[..37]);
        assert!(a.iter().any(|&x| x != 0));
    }
}
