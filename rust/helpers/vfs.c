// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers for the VFS abstractions in rust/kernel/fs/: wrappers of static
 * inline functions and macros that bindgen cannot see.
 */

#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/pagemap.h>
#include <linux/blkdev.h>
#include <linux/fileattr.h>
#include <linux/posix_acl.h>
#include <linux/preempt.h>
#include <linux/rcupdate.h>
#include <linux/security.h>
#include <linux/wait_bit.h>
#include <linux/workqueue.h>

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

__rust_helper struct inode *rust_helper_alloc_inode_sb(struct super_block *sb,
						       struct kmem_cache *cache, gfp_t gfp)
{
	return alloc_inode_sb(sb, cache, gfp);
}

__rust_helper loff_t rust_helper_i_size_read(const struct inode *inode)
{
	return i_size_read(inode);
}

__rust_helper void rust_helper_i_size_write(struct inode *inode, loff_t i_size)
{
	i_size_write(inode, i_size);
}

__rust_helper uid_t rust_helper_i_uid_read(const struct inode *inode)
{
	return i_uid_read(inode);
}

__rust_helper gid_t rust_helper_i_gid_read(const struct inode *inode)
{
	return i_gid_read(inode);
}

__rust_helper void rust_helper_i_uid_write(struct inode *inode, uid_t uid)
{
	i_uid_write(inode, uid);
}

__rust_helper void rust_helper_i_gid_write(struct inode *inode, gid_t gid)
{
	i_gid_write(inode, gid);
}

__rust_helper struct timespec64 rust_helper_inode_get_atime(const struct inode *inode)
{
	return inode_get_atime(inode);
}

__rust_helper struct timespec64 rust_helper_inode_get_mtime(const struct inode *inode)
{
	return inode_get_mtime(inode);
}

__rust_helper struct timespec64 rust_helper_inode_get_ctime(const struct inode *inode)
{
	return inode_get_ctime(inode);
}

__rust_helper struct timespec64 rust_helper_inode_set_atime_to_ts(struct inode *inode,
								  struct timespec64 ts)
{
	return inode_set_atime_to_ts(inode, ts);
}

__rust_helper struct timespec64 rust_helper_inode_set_mtime_to_ts(struct inode *inode,
								  struct timespec64 ts)
{
	return inode_set_mtime_to_ts(inode, ts);
}

__rust_helper void rust_helper_inode_lock(struct inode *inode)
{
	inode_lock(inode);
}

__rust_helper void rust_helper_inode_unlock(struct inode *inode)
{
	inode_unlock(inode);
}

__rust_helper void rust_helper_inode_lock_shared(struct inode *inode)
{
	inode_lock_shared(inode);
}

__rust_helper void rust_helper_inode_unlock_shared(struct inode *inode)
{
	inode_unlock_shared(inode);
}

__rust_helper void rust_helper_filemap_invalidate_lock(struct address_space *mapping)
{
	filemap_invalidate_lock(mapping);
}

__rust_helper void rust_helper_filemap_invalidate_unlock(struct address_space *mapping)
{
	filemap_invalidate_unlock(mapping);
}

__rust_helper enum inode_state_flags_enum rust_helper_inode_state_read_once(struct inode *inode)
{
	return inode_state_read_once(inode);
}

__rust_helper void rust_helper_folio_lock(struct folio *folio)
{
	folio_lock(folio);
}

__rust_helper void rust_helper_memcpy_to_folio(struct folio *folio, size_t offset,
					       const char *from, size_t len)
{
	memcpy_to_folio(folio, offset, from, len);
}

__rust_helper struct inode *rust_helper_file_inode(const struct file *f)
{
	return file_inode(f);
}

__rust_helper ssize_t rust_helper_generic_write_sync(struct kiocb *iocb, ssize_t count)
{
	return generic_write_sync(iocb, count);
}

__rust_helper void rust_helper_file_accessed(struct file *file)
{
	file_accessed(file);
}

/* Folios (rust/kernel/fs/folio.rs). */

__rust_helper void rust_helper_folio_get(struct folio *folio)
{
	folio_get(folio);
}

__rust_helper bool rust_helper_folio_trylock(struct folio *folio)
{
	return folio_trylock(folio);
}

__rust_helper bool rust_helper_folio_test_locked(const struct folio *folio)
{
	return folio_test_locked(folio);
}

__rust_helper bool rust_helper_folio_test_uptodate(const struct folio *folio)
{
	return folio_test_uptodate(folio);
}

__rust_helper void rust_helper_folio_mark_uptodate(struct folio *folio)
{
	folio_mark_uptodate(folio);
}

__rust_helper bool rust_helper_folio_test_dirty(const struct folio *folio)
{
	return folio_test_dirty(folio);
}

__rust_helper bool rust_helper_folio_test_writeback(const struct folio *folio)
{
	return folio_test_writeback(folio);
}

__rust_helper bool rust_helper_folio_test_large(const struct folio *folio)
{
	return folio_test_large(folio);
}

__rust_helper bool rust_helper_folio_test_highmem(const struct folio *folio)
{
	return folio_test_highmem(folio);
}

__rust_helper long rust_helper_folio_nr_pages(const struct folio *folio)
{
	return folio_nr_pages(folio);
}

__rust_helper pgoff_t rust_helper_folio_index(const struct folio *folio)
{
	return folio->index;
}

__rust_helper int rust_helper_folio_ref_count(const struct folio *folio)
{
	return folio_ref_count(folio);
}

__rust_helper void rust_helper_folio_zero_segments(struct folio *folio, size_t start1,
						   size_t xend1, size_t start2, size_t xend2)
{
	folio_zero_segments(folio, start1, xend1, start2, xend2);
}

__rust_helper void *rust_helper_kmap_local_folio(struct folio *folio, size_t offset)
{
	return kmap_local_folio(folio, offset);
}

__rust_helper void rust_helper_flush_dcache_folio(struct folio *folio)
{
	flush_dcache_folio(folio);
}

__rust_helper struct folio *rust_helper_folio_alloc(gfp_t gfp, unsigned int order)
{
	return folio_alloc(gfp, order);
}

__rust_helper struct folio *rust_helper___filemap_get_folio(struct address_space *mapping,
							    pgoff_t index, fgf_t fgp_flags,
							    gfp_t gfp)
{
	return __filemap_get_folio(mapping, index, fgp_flags, gfp);
}

__rust_helper fgf_t rust_helper_fgf_set_order(size_t size)
{
	return fgf_set_order(size);
}

__rust_helper gfp_t rust_helper_mapping_gfp_mask(struct address_space *mapping)
{
	return mapping_gfp_mask(mapping);
}

/* Inode operations for symlinks and tmpfiles (rust/kernel/fs/inode.rs). */

__rust_helper int rust_helper_finish_open_simple(struct file *file, int error)
{
	return finish_open_simple(file, error);
}

__rust_helper void rust_helper_inode_set_cached_link(struct inode *inode, char *link,
						     int linklen)
{
	inode_set_cached_link(inode, link, linklen);
}

__rust_helper void rust_helper_mapping_set_large_folios(struct address_space *mapping)
{
	mapping_set_large_folios(mapping);
}

__rust_helper void rust_helper_mapping_set_folio_min_order(struct address_space *mapping,
							   unsigned int min)
{
	mapping_set_folio_min_order(mapping, min);
}

__rust_helper bool rust_helper_fileattr_has_fsx(const struct file_kattr *fa)
{
	return fileattr_has_fsx(fa);
}

__rust_helper unsigned int rust_helper_bdev_max_discard_sectors(struct block_device *bdev)
{
	return bdev_max_discard_sectors(bdev);
}

__rust_helper unsigned int rust_helper_bdev_discard_granularity(struct block_device *bdev)
{
	return bdev_discard_granularity(bdev);
}

__rust_helper void rust_helper_sb_start_intwrite(struct super_block *sb)
{
	sb_start_intwrite(sb);
}

__rust_helper void rust_helper_sb_end_intwrite(struct super_block *sb)
{
	sb_end_intwrite(sb);
}

__rust_helper bool rust_helper_sb_start_intwrite_trylock(struct super_block *sb)
{
	return sb_start_intwrite_trylock(sb);
}

__rust_helper void rust_helper_posix_acl_release(struct posix_acl *acl)
{
	posix_acl_release(acl);
}

/*
 * Whether @inode's lock is held exclusively by the current task (no C function says it; the
 * glue's ->set_acl asks because ksmbd calls set_posix_acl() without the lock). Without
 * PREEMPT_RT exact in every configuration: the writer bit of the count, and the owner, which
 * a writer sets to itself (the two low bits of owner are flags). With PREEMPT_RT: write
 * locked, and by the current task only as far as lockdep (when on) tells.
 */
__rust_helper bool rust_helper_inode_lock_held_by_current(struct inode *inode)
{
	struct rw_semaphore *sem = &inode->i_rwsem;

#ifdef CONFIG_PREEMPT_RT
	if (!rw_base_is_write_locked(&sem->rwbase))
		return false;
#else
	if (!(atomic_long_read(&sem->count) & RWSEM_WRITER_LOCKED))
		return false;
	if ((atomic_long_read(&sem->owner) & ~3UL) != (unsigned long)current)
		return false;
#endif
	/* Nonzero when lockdep is off, or cannot tell (debug_locks off). */
	return lockdep_is_held_type(sem, 0) != 0;
}

/*
 * Active references (s_active) of super blocks: every inode reference Rust owns
 * (ARef<INode>, NewINode) holds one besides its i_count, so that the super
 * block cannot be shut down while the reference lives (rust/kernel/fs/inode.rs).
 */
__rust_helper bool rust_helper_rust_fs_sb_tryget_active(struct super_block *sb)
{
	return atomic_inc_not_zero(&sb->s_active);
}

/*
 * For a reference copied from one the caller holds: s_active cannot be 0. If
 * it was (an inode borrowed while its super block is shut down), say so: the
 * release of this reference would queue a second kill_sb.
 */
__rust_helper void rust_helper_rust_fs_sb_get_active(struct super_block *sb)
{
	WARN_ON_ONCE(atomic_inc_return(&sb->s_active) == 1);
}

/* Drops an active reference unless it is the last one; true if it did. */
__rust_helper bool rust_helper_rust_fs_sb_put_active_not_last(struct super_block *sb)
{
	return atomic_add_unless(&sb->s_active, -1, 1);
}

/*
 * Whether the current context may sleep: not in hard or soft interrupt context
 * (an RCU callback runs with bottom halves disabled), no spinning lock held, no
 * preemption or interrupts disabled, not in an RCU read-side section. Without
 * CONFIG_PREEMPT_COUNT a spinlock leaves no trace, and preemptible() is always
 * false: every caller then takes the path that does not sleep. It cannot see a
 * lock the caller holds that the sleeping work needs (a deadlock, as in C).
 */
__rust_helper bool rust_helper_rust_fs_may_sleep(void)
{
	return preemptible() && !in_interrupt() && !rcu_preempt_depth();
}

/*
 * Inode references whose iput a Rust file system deferred to a work item, per
 * super block (struct SbRelease in rust/kernel/fs/inode.rs): kill_sb waits for
 * none to be left before it shuts the super block down. The put is fully
 * ordered, as wake_up_var() requires of the update it follows.
 */
__rust_helper void rust_helper_rust_fs_pending_get(atomic_long_t *pending)
{
	atomic_long_inc(pending);
}

__rust_helper void rust_helper_rust_fs_pending_put(atomic_long_t *pending, long n)
{
	if (atomic_long_sub_and_test(n, pending))
		wake_up_var(pending);
}

/*
 * The lockdep map says that kill_sb, which waits here with s_umount held, waits
 * for the deferred iputs, which hold it shared (as flush_work() does for a
 * work): an iput that needed s_umount is reported instead of hanging.
 */
__rust_helper void rust_helper_rust_fs_pending_wait(atomic_long_t *pending,
						    struct lockdep_map *map)
{
	lock_map_acquire(map);
	lock_map_release(map);
	wait_var_event(pending, !atomic_long_read_acquire(pending));
}

/*
 * The name and key come from Rust statics of the kernel crate: a static key here would be
 * in the module's memory when this helper is inlined into it (CONFIG_RUST_INLINE_HELPERS).
 */
__rust_helper void rust_helper_rust_fs_pending_map_init(struct lockdep_map *map,
							const char *name,
							struct lock_class_key *key)
{
	lockdep_init_map(map, name, key, 0);
}

__rust_helper void rust_helper_rust_fs_pending_map_acquire_read(struct lockdep_map *map)
{
	lock_map_acquire_read(map);
}

__rust_helper void rust_helper_rust_fs_pending_map_release(struct lockdep_map *map)
{
	lock_map_release(map);
}

#ifndef CONFIG_SECURITY
/* An inline stub without CONFIG_SECURITY; exported by security/security.c with it. */
__rust_helper int rust_helper_security_inode_init_security(struct inode *inode, struct inode *dir,
							   const struct qstr *qstr,
							   const initxattrs initxattrs,
							   void *fs_data)
{
	return security_inode_init_security(inode, dir, qstr, initxattrs, fs_data);
}
#endif
