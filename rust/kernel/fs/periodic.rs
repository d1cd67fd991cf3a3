// SPDX-License-Identifier: GPL-2.0

//! Periodic work of a mounted file system (a journal's commit timer, for instance), on a
//! `delayed_work` of the system workqueue for long work.
//!
//! Every mounted super block has one [`PeriodicWork`], owned by the registration glue beside
//! the file system's private data (never by the file system, so it cannot be put anywhere
//! the glue does not find it). [`SuperBlock::schedule_periodic`] (re)arms it, and it runs
//! [`FileSystem::periodic`] with the ready super block, in process context, where it may
//! sleep. Before the super block is shut down, the glue's `kill_sb` disables the work for
//! good and waits for a running instance (`disable_delayed_work_sync`), so the hook never
//! runs during or after unmount and a later `schedule_periodic` does nothing.

use super::{registration::FileSystem, Ready, SuperBlock};
use crate::{bindings, prelude::*, types::Opaque};
use core::marker::{PhantomData, PhantomPinned};

/// The delayed work item of one super block, which calls [`FileSystem::periodic`] for it.
///
/// # Invariants
///
/// `work` is an initialised `delayed_work` whose function is [`PeriodicWork::run`]. `sb` is a
/// super block of type `T` whose glue data holds this work: its `kill_sb` disables the work
/// (waiting for a running instance) before the super block is shut down, and the work is
/// dropped only after that.
#[pin_data(PinnedDrop)]
pub(crate) struct PeriodicWork<T: FileSystem> {
    #[pin]
    work: Opaque<bindings::delayed_work>,
    sb: *mut bindings::super_block,
    _t: PhantomData<T>,
    #[pin]
    _pin: PhantomPinned,
}

impl<T: FileSystem> PeriodicWork<T> {
    /// Creates the work of `sb`, not scheduled.
    ///
    /// # Safety
    ///
    /// `sb` must be a super block of type `T` that keeps the new work in its glue data (see
    /// the invariants), ready (its private data in place) whenever the work is scheduled.
    pub(crate) unsafe fn new(sb: *mut bindings::super_block) -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `init_delayed_work` initialises every field of the `delayed_work` at
            // `slot`, which is pinned memory that lives as long as the work item.
            work <- Opaque::ffi_init(|slot| unsafe {
                bindings::init_delayed_work(slot, Some(Self::run))
            }),
            sb,
            _t: PhantomData,
            _pin: PhantomPinned,
        })
    }

    /// Queues the work to run in about `delay_ms` milliseconds, unless it is pending or
    /// disabled.
    pub(crate) fn schedule(&self, delay_ms: u32) {
        let delay = crate::time::msecs_to_jiffies(delay_ms);
        // SAFETY: `work` is initialised (invariant) and pinned; it stays valid until it is
        // cancelled in `drop`. `system_long_wq` is always available. Queueing a work item
        // that is pending or disabled does nothing.
        unsafe {
            bindings::queue_delayed_work_on(
                bindings::wq_misc_consts_WORK_CPU_UNBOUND as c_int,
                bindings::system_long_wq,
                self.work.get(),
                delay,
            )
        };
    }

    /// Disables the work for good and waits until an instance that runs has returned.
    pub(crate) fn disable_sync(&self) {
        // SAFETY: `work` is initialised (invariant).
        unsafe { bindings::disable_delayed_work_sync(self.work.get()) };
    }

    /// The work function.
    ///
    /// # Safety
    ///
    /// Called by the workqueue with the `work_struct` of a [`PeriodicWork<T>`].
    unsafe extern "C" fn run(work: *mut bindings::work_struct) {
        // SAFETY: `work` is the `work` field of a `delayed_work`, itself the `work` field of a
        // `PeriodicWork<T>` (`Opaque` is `repr(transparent)`), alive while its work runs.
        let this = unsafe {
            let dw = kernel::container_of!(work, bindings::delayed_work, work);
            &*kernel::container_of!(dw.cast::<Opaque<bindings::delayed_work>>(), Self, work)
        };
        // SAFETY: By the invariant, `sb` is a super block of type `T` whose `kill_sb` disables
        // this work (waiting for this instance) before the super block is shut down; the work
        // is only scheduled through a ready super block, so it is valid and ready while this
        // runs.
        T::periodic(unsafe { SuperBlock::<T, Ready>::from_raw(this.sb) });
    }
}

#[pinned_drop]
impl<T: FileSystem> PinnedDrop for PeriodicWork<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: `work` is initialised (invariant); after this no instance runs or is queued.
        unsafe { bindings::cancel_delayed_work_sync(self.work.get()) };
    }
}

impl<T: FileSystem> SuperBlock<T, Ready> {
    /// Runs [`FileSystem::periodic`] for this super block in about `delay_ms` milliseconds,
    /// unless it is already pending (then nothing changes) or the unmount has started (then
    /// it never runs again). The hook may call this again to rearm itself.
    pub fn schedule_periodic(&self, delay_ms: u32) {
        self.glue().periodic.schedule(delay_ms);
    }
}
