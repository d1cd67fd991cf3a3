/* SPDX-License-Identifier: GPL-2.0 */
/* Headers and constants for the block I/O abstraction in rust/kernel/fs/bdev.rs. */
#include <linux/bio.h>
#include <linux/blkdev.h>

const gfp_t RUST_CONST_HELPER_GFP_NOIO = GFP_NOIO;
