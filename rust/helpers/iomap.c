// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers for the iomap abstractions in rust/iomap/: wrappers of static
 * inline functions that bindgen cannot see.
 */

#include <linux/iomap.h>
