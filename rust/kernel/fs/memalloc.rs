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
/// Scopes nest. Dropping them in another order than the reverse of their creation (or
/// forgetting one) can leave the task in the NOFS state longer than needed, which only makes
/// its allocations more conservative; it cannot cause undefined behaviour.
pub struct NofsScope {
    flags: u32,
    /// The state belongs to the current task: the scope must be dropped by it.
    _not_send: PhantomData<*mut ()>,
}

impl NofsScope {
    /// Enters a NOFS allocation scope for the current task.
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
    fn drop(&mut self) {
        // SAFETY: `flags` is what `memalloc_nofs_save` returned on this task (the type is not
        // `Send`); restoring it only changes the current task's allocation flags.
        unsafe { bindings::memalloc_nofs_restore(self.flags) };
    }
}
