/* SPDX-License-Identifier: GPL-2.0 */
/* Headers for the VFS abstractions in rust/kernel/fs/. */
#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/fs_parser.h>
#include <linux/pagemap.h>
#include <linux/highmem.h>
#include <linux/blkdev.h>
#include <linux/bio.h>
#include <linux/dcache.h>
#include <linux/namei.h>
#include <linux/statfs.h>
#include <linux/seq_file.h>
#include <linux/falloc.h>
#include <linux/fiemap.h>
#include <linux/uio.h>
#include <linux/writeback.h>
#include <linux/mm.h>
#include <linux/backing-dev.h>
