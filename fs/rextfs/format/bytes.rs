// SPDX-License-Identifier: GPL-2.0

//! Little-endian field accessors that never panic.
//!
//! Readers return `None` when the field does not fit in the slice; writers
//! silently do nothing in that case. Callers check the structure length once
//! before using the writers, so the no-op branch is never taken in practice.

pub(crate) fn get_u8(b: &[u8], off: usize) -> Option<u8> {
    b.get(off).copied()
}

pub(crate) fn get_u16(b: &[u8], off: usize) -> Option<u16> {
    let s = b.get(off..off.checked_add(2)?)?;
    Some(u16::from_le_bytes(s.try_into().ok()?))
}

pub(crate) fn get_u32(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes(s.try_into().ok()?))
}

pub(crate) fn get_u64(b: &[u8], off: usize) -> Option<u64> {
    let s = b.get(off..off.checked_add(8)?)?;
    Some(u64::from_le_bytes(s.try_into().ok()?))
}

pub(crate) fn get_i64(b: &[u8], off: usize) -> Option<i64> {
    let s = b.get(off..off.checked_add(8)?)?;
    Some(i64::from_le_bytes(s.try_into().ok()?))
}

fn put(b: &mut [u8], off: usize, v: &[u8]) {
    if let Some(end) = off.checked_add(v.len()) {
        if let Some(d) = b.get_mut(off..end) {
            d.copy_from_slice(v);
        }
    }
}

pub(crate) fn put_u8(b: &mut [u8], off: usize, v: u8) {
    if let Some(d) = b.get_mut(off) {
        *d = v;
    }
}

pub(crate) fn put_u16(b: &mut [u8], off: usize, v: u16) {
    put(b, off, &v.to_le_bytes());
}

pub(crate) fn put_u32(b: &mut [u8], off: usize, v: u32) {
    put(b, off, &v.to_le_bytes());
}

pub(crate) fn put_u64(b: &mut [u8], off: usize, v: u64) {
    put(b, off, &v.to_le_bytes());
}

pub(crate) fn put_i64(b: &mut [u8], off: usize, v: i64) {
    put(b, off, &v.to_le_bytes());
}

pub(crate) fn put_bytes(b: &mut [u8], off: usize, v: &[u8]) {
    put(b, off, v);
}

/// Copies `len` bytes inside `b` from `src` to `dst` (ranges may overlap).
/// Does nothing if either range is out of bounds.
pub(crate) fn move_within(b: &mut [u8], src: usize, dst: usize, len: usize) {
    let (Some(se), Some(de)) = (src.checked_add(len), dst.checked_add(len)) else {
        return;
    };
    if se <= b.len() && de <= b.len() {
        b.copy_within(src..se, dst);
    }
}

/// Fills `b[off..off + len]` with zeroes (clamped to the slice).
pub(crate) fn zero(b: &mut [u8], off: usize, len: usize) {
    let end = off.saturating_add(len).min(b.len());
    if let Some(d) = b.get_mut(off..end) {
        d.fill(0);
    }
}
