// SPDX-License-Identifier: GPL-2.0

//! Checksums of metadata blocks, computed by the kernel's library (which uses the CPU's
//! CRC instructions where it has them).

use crate::bindings;

/// Advances a raw CRC-32C register (Castagnoli polynomial, reflected, no inversion at either
/// end) over `data`: `!crc32c(!0, data)` is the standard CRC-32C of `data`, and
/// `crc32c(crc32c(r, a), b) == crc32c(r, a ++ b)`.
///
/// Context: any; it does not sleep.
#[inline]
pub fn crc32c(crc: u32, data: &[u8]) -> u32 {
    // SAFETY: `data` is a valid slice: `crc32c` reads exactly `data.len()` bytes from its
    // start and keeps no reference to it.
    unsafe { bindings::crc32c(crc, data.as_ptr().cast(), data.len()) }
}
