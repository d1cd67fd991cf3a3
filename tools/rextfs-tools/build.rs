// SPDX-License-Identifier: GPL-2.0

//! Cargo cannot give a binary a name with a dot, so next to `mkfs-rextfs`
//! and `fsck-rextfs` this creates `mkfs.rextfs` and `fsck.rextfs` symlinks
//! in the profile directory (`target/debug`, `target/release`), which is
//! what `mkfs -t rextfs` and `fsck -t rextfs` look for once on the PATH.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let Some(out) = std::env::var_os("OUT_DIR") else {
        return;
    };
    // OUT_DIR is <profile dir>/build/<package>-<hash>/out.
    let out = Path::new(&out);
    let mut up = out.ancestors();
    let (Some(_), Some(_), Some(build), Some(profile)) =
        (up.next(), up.next(), up.next(), up.next())
    else {
        return;
    };
    if build.file_name().and_then(|n| n.to_str()) != Some("build") {
        return;
    }
    for (link, target) in [
        ("mkfs.rextfs", "mkfs-rextfs"),
        ("fsck.rextfs", "fsck-rextfs"),
    ] {
        let l = profile.join(link);
        if std::fs::symlink_metadata(&l).is_err() {
            let _ = std::os::unix::fs::symlink(target, &l);
        }
    }
}
