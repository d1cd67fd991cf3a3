// SPDX-License-Identifier: GPL-2.0

//! rextfs: a read-write extent file system on iomap.
//!
//! The on-disk format is described in `Documentation/filesystems/rextfs.rst`.

use kernel::fs::{self, New, SuperBlock};
use kernel::prelude::*;

/// Magic number at the start of a rextfs super block ("REXTFS\0\1").
const REXTFS_MAGIC: u64 = 0x0100_5346_5458_4552;

/// Tells whether `raw` starts with the rextfs super block magic.
fn has_magic(raw: &[u8]) -> bool {
    raw.get(..8)
        .and_then(|b| b.try_into().ok())
        .is_some_and(|b| u64::from_le_bytes(b) == REXTFS_MAGIC)
}

/// The rextfs file system type.
struct RextFs;

impl fs::FileSystem for RextFs {
    const NAME: &'static CStr = c"rextfs";
    type Data = ();

    fn fill_super(sb: &mut SuperBlock<Self, New>) -> Result<()> {
        let mut raw = [0u8; 8];
        sb.read_bytes(0, &mut raw).inspect_err(|e| {
            pr_err!("{}: cannot read the super block: {:?}\n", sb.id(), e);
        })?;
        if !has_magic(&raw) {
            pr_err!("{}: no rextfs super block found (bad magic)\n", sb.id());
            return Err(EINVAL);
        }
        pr_err!("{}: rextfs super block found, but mounting is not implemented yet\n", sb.id());
        Err(EOPNOTSUPP)
    }
}

kernel::module_fs! {
    type: RextFs,
    name: "rextfs",
    authors: ["The rextfs developers"],
    description: "rextfs: a read-write extent file system on iomap",
    license: "GPL",
}

#[cfg(CONFIG_REXTFS_KUNIT_TEST)]
#[kunit_tests(rextfs_skeleton)]
mod tests {
    use super::*;

    #[test]
    fn magic_accepted() {
        assert!(has_magic(&REXTFS_MAGIC.to_le_bytes()));
        assert!(has_magic(b"REXTFS\0\x01 and more"));
    }

    #[test]
    fn bad_magic_refused() {
        assert!(!has_magic(&[0; 8]));
        assert!(!has_magic(&REXTFS_MAGIC.to_be_bytes()));
        assert!(!has_magic(&REXTFS_MAGIC.to_le_bytes()[..7]));
        assert!(!has_magic(&[]));
    }
}
