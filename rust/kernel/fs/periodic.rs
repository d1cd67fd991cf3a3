// SPDX-License-Identifier: GPL-2.0

//! Periodic work of a mounted file system (a journal's commit timer, for instance), on a
//! `delayed_work` of the system workqueue for long work.
//!
//! A [`PeriodicWork`] lives in the file system's private data, and
//! [`FileSystem::periodic_work`] tells the glue where. The work runs
//! [`FileSystem::periodic`] with the ready super block, in process context, and may sleep;
//! [`PeriodicWork::schedule`] (re)arms it. Before the super block is shut down, the glue's
//! `kill_sb` disables the work for good and waits for a running instance
//! (`disable_delayed_work_sync`), so the hook never runs during or after unmount; dropping
//! the work cancels it as well.

use super::{registration::FileSystem, Ready, SuperBlock};
use crate::{bindings, prelude::*, types::Opaque};
use core::{
    marker::{PhantomData, PhantomPinned},
    sync::atomic::{AtomicPtr, Ordering},
};

/// A delayed work item that calls [`FileSystem::periodic`] for the super block it was
/// scheduled for.
///
/// # Invariants
///
/// `work` is an initialised `delayed_work` whose function is [`PeriodicWork::run`]. `sb` is
/// NULL or a super block of type `T` for which [`FileSystem::periodic_work`] returned this
/// work: its `kill_sb` disables the work before the super block goes away.
#[pin_data(PinnedDrop)]
pub struct PeriodicWork<T: FileSystem> {
    #[pin]
    work: Opaque<bindings::delayed_work>,
    sb: AtomicPtr<bindings::super_block>,
    _t: PhantomData<T>,
    #[pin]
    _pin: PhantomPinned,
}

// SAFETY: The C work item may be queued and run from any thread; `sb` is an atomic.
unsafe impl<T: FileSystem> Send for PeriodicWork<T> {}
// SAFETY: Every method takes `&self` and only uses the thread-safe workqueue API and atomics.
unsafe impl<T: FileSystem> Sync for PeriodicWork<T> {}

impl<T: FileSystem> PeriodicWork<T> {
    /// Creates a work item that is not scheduled.
    pub fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `init_delayed_work` initialises every field of the `delayed_work` at
            // `slot`, which is pinned memory that lives as long as the work item.
            work <- Opaque::ffi_init(|slot| unsafe {
                bindings::init_delayed_work(slot, Some(Self::run))
            }),
            sb: AtomicPtr::new(core::ptr::null_mut()),
            _t: PhantomData,
            _pin: PhantomPinned,
        })
    }

    /// Runs [`FileSystem::periodic`] for `sb` in about `delay_ms` milliseconds, unless the
    /// work is already pending (then nothing changes). `EINVAL` if this is not the work
    /// [`FileSystem::periodic_work`] returns for `sb`.
    pub fn schedule(&self, sb: &SuperBlock<T, Ready>, delay_ms: u32) -> Result {
        match T::periodic_work(sb) {
            Some(w) if core::ptr::eq(w, self) => {}
            _ => return Err(EINVAL),
        }
        self.sb.store(sb.as_raw(), Ordering::Release);
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
        Ok(())
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
        let sb = this.sb.load(Ordering::Acquire);
        if sb.is_null() {
            return;
        }
        // SAFETY: By the invariant, `sb` is a ready super block of type `T` whose `kill_sb`
        // disables this work (waiting for this instance) before the super block is shut down,
        // so it is valid and ready while this runs.
        T::periodic(unsafe { SuperBlock::<T, Ready>::from_raw(sb) });
    }
}

#[pinned_drop]
impl<T: FileSystem> PinnedDrop for PeriodicWork<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: `work` is initialised (invariant); after this no instance runs or is queued.
        unsafe { bindings::cancel_delayed_work_sync(self.work.get()) };
    }
}
