/* SPDX-License-Identifier: GPL-2.0 */
/* Headers for the iomap abstractions in rust/iomap/. */
#include <linux/iomap.h>
#include <linux/bio.h>
#include <linux/blk_types.h>
#include <linux/sched/mm.h>
