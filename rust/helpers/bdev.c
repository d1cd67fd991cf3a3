// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers for the block I/O abstraction in rust/kernel/fs/bdev.rs: wrappers of
 * static inline functions that bindgen cannot see.
 */

#include <linux/bio.h>
#include <linux/blkdev.h>

__rust_helper unsigned int rust_helper_bdev_logical_block_size(struct block_device *bdev)
{
	return bdev_logical_block_size(bdev);
}

__rust_helper bool rust_helper_bdev_read_only(struct block_device *bdev)
{
	return bdev_read_only(bdev);
}

__rust_helper struct bio *rust_helper_bio_alloc(struct block_device *bdev, unsigned short nr_vecs,
						blk_opf_t opf, gfp_t gfp_mask)
{
	return bio_alloc(bdev, nr_vecs, opf, gfp_mask);
}
