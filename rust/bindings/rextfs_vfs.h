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
#include <linux/fileattr.h>
#include <linux/filelock.h>
#include <linux/fiemap.h>
#include <linux/uio.h>
#include <linux/writeback.h>
#include <linux/mm.h>
#include <linux/backing-dev.h>
#include <linux/shmem_fs.h>
#include <linux/crc32.h>
#include <linux/xattr.h>
#include <linux/exportfs.h>
#include <linux/posix_acl.h>
#include <linux/posix_acl_xattr.h>
#include <linux/security.h>

/* Macros bindgen cannot evaluate, exported as constants (prefix stripped by bindgen). */
const unsigned long RUST_CONST_HELPER_SB_RDONLY = SB_RDONLY;
const unsigned long RUST_CONST_HELPER_SB_NOATIME = SB_NOATIME;
const unsigned long RUST_CONST_HELPER_SB_POSIXACL = SB_POSIXACL;
const slab_flags_t RUST_CONST_HELPER_SLAB_RECLAIM_ACCOUNT = SLAB_RECLAIM_ACCOUNT;
const slab_flags_t RUST_CONST_HELPER_SLAB_ACCOUNT = SLAB_ACCOUNT;
const gfp_t RUST_CONST_HELPER_GFP_NOFS = GFP_NOFS;
const loff_t RUST_CONST_HELPER_MAX_LFS_FILESIZE = MAX_LFS_FILESIZE;
const fmode_t RUST_CONST_HELPER_FMODE_WRITER = FMODE_WRITER;
const unsigned int RUST_CONST_HELPER_I_DIRTY = I_DIRTY;
const unsigned int RUST_CONST_HELPER_I_DIRTY_SYNC = I_DIRTY_SYNC;
const unsigned int RUST_CONST_HELPER_I_NEW = I_NEW;
const unsigned int RUST_CONST_HELPER_I_CREATING = I_CREATING;
const fgf_t RUST_CONST_HELPER_FGP_ACCESSED = FGP_ACCESSED;
const fgf_t RUST_CONST_HELPER_FGP_LOCK = FGP_LOCK;
const fgf_t RUST_CONST_HELPER_FGP_CREAT = FGP_CREAT;
const fgf_t RUST_CONST_HELPER_FGP_WRITE = FGP_WRITE;
const fgf_t RUST_CONST_HELPER_FGP_NOFS = FGP_NOFS;
const fgf_t RUST_CONST_HELPER_FGP_NOWAIT = FGP_NOWAIT;
const fgf_t RUST_CONST_HELPER_FGP_STABLE = FGP_STABLE;
const fgf_t RUST_CONST_HELPER_FGP_DONTCACHE = FGP_DONTCACHE;
const fgf_t RUST_CONST_HELPER_FGP_WRITEBEGIN = FGP_WRITEBEGIN;
