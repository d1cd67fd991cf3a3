// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers for the VFS abstractions in rust/kernel/fs/: wrappers of static
 * inline functions and macros that bindgen cannot see.
 */

#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/pagemap.h>
#include <linux/blkdev.h>

__rust_helper struct folio *rust_helper_read_mapping_folio(struct address_space *mapping,
							   pgoff_t index, struct file *file)
{
	return read_mapping_folio(mapping, index, file);
}

__rust_helper void rust_helper_memcpy_from_folio(char *to, struct folio *folio, size_t offset,
						 size_t len)
{
	memcpy_from_folio(to, folio, offset, len);
}

__rust_helper void rust_helper_folio_put(struct folio *folio)
{
	folio_put(folio);
}

__rust_helper loff_t rust_helper_folio_pos(const struct folio *folio)
{
	return folio_pos(folio);
}

__rust_helper size_t rust_helper_folio_size(const struct folio *folio)
{
	return folio_size(folio);
}

__rust_helper loff_t rust_helper_bdev_nr_bytes(struct block_device *bdev)
{
	return bdev_nr_bytes(bdev);
}
