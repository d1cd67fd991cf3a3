// SPDX-License-Identifier: GPL-2.0

//! Allocation scopes of the current task (`include/linux/sched/mm.h`).
//!
//! A file system that holds a transaction open must not recurse into itself through memory
//! reclaim (a shrinker evicting one of its inodes would start a transaction of its own and
//! wait for the one the task holds). [`NofsScope`] marks the current task so that every
//! allocation it makes, with any flags, behaves as `GFP_NOFS`, as `jbd2` does for its handles.

use crate::bindings;
use core::marker::PhantomData;

/// While it lives, allocations of the current task do not enter file system reclaim
/// (`memalloc_nofs_save`; dropping it calls `memalloc_nofs_restore`).
///
/// Scopes nest when they are dropped in the reverse order of their creation. Dropped in
/// another order, an outer scope restores the state from before it while an inner one still
/// lives, so the task leaves the NOFS state early (reclaim may then enter file systems while
/// the inner scope's holder expects it not to); forgetting a scope leaves the task in the
/// NOFS state. Neither can cause undefined behaviour; keep scopes lexically nested.
pub struct NofsScope {
    flags: u32,
    /// The state belongs to the current task: the scope must be dropped by it.
    _not_send: PhantomData<*mut ()>,
}

impl NofsScope {
    /// Enters a NOFS allocation scope for the current task.
    #[inline]
    pub fn new() -> Self {
        // SAFETY: `memalloc_nofs_save` only sets a flag of the current task and returns the
        // previous state; it has no preconditions.
        let flags = unsafe { bindings::memalloc_nofs_save() };
        Self {
            flags,
            _not_send: PhantomData,
        }
    }
}

impl Default for NofsScope {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for NofsScope {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: `flags` is what `memalloc_nofs_save` returned on this task (the type is not
        // `Send`); restoring it only changes the current task's allocation flags.
        unsafe { bindings::memalloc_nofs_restore(self.flags) };
    }
}
