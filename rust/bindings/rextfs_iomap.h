/* SPDX-License-Identifier: GPL-2.0 */
/* Headers for the iomap abstractions in rust/iomap/. */
#include <linux/iomap.h>
