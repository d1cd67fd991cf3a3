/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Headers the rextfs overlay adds to the kernel's Rust bindings. Included from
 * rust/bindings/bindings_helper.h by the overlay patch.
 */
#include "rextfs_vfs.h"
#include "rextfs_iomap.h"
#include "rextfs_bdev.h"
