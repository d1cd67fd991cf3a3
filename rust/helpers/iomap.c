// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers for the iomap abstractions in rust/iomap/: wrappers of static
 * inline functions that bindgen cannot see.
 */

#include <linux/iomap.h>
#include <linux/pagemap.h>
#include <linux/mm.h>
#include <linux/bio.h>
#include <linux/sched/mm.h>

__rust_helper void rust_helper_iomap_bio_read_folio(struct folio *folio,
						    const struct iomap_ops *ops)
{
	iomap_bio_read_folio(folio, ops);
}

__rust_helper void rust_helper_iomap_bio_readahead(struct readahead_control *rac,
						   const struct iomap_ops *ops)
{
	iomap_bio_readahead(rac, ops);
}

__rust_helper void rust_helper_sb_start_pagefault(struct super_block *sb)
{
	sb_start_pagefault(sb);
}

__rust_helper void rust_helper_sb_end_pagefault(struct super_block *sb)
{
	sb_end_pagefault(sb);
}

__rust_helper void rust_helper_filemap_invalidate_lock_shared(struct address_space *mapping)
{
	filemap_invalidate_lock_shared(mapping);
}

__rust_helper void rust_helper_filemap_invalidate_unlock_shared(struct address_space *mapping)
{
	filemap_invalidate_unlock_shared(mapping);
}

__rust_helper ssize_t rust_helper_iomap_dio_read_simple(struct kiocb *iocb,
							struct iov_iter *iter,
							iomap_iter_begin_fn begin)
{
	return iomap_dio_read_simple(iocb, iter, begin);
}

__rust_helper bool rust_helper_bio_in_atomic(void)
{
	return bio_in_atomic();
}

__rust_helper unsigned int rust_helper_memalloc_nofs_save(void)
{
	return memalloc_nofs_save();
}

__rust_helper void rust_helper_memalloc_nofs_restore(unsigned int flags)
{
	memalloc_nofs_restore(flags);
}
