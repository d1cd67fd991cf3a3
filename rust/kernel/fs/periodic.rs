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
//!
//! [`init_work`] initialises the glue's other work items the same way: with a lock class
//! key and a name that are statics of this crate.

use super::{registration::FileSystem, Ready, SuperBlock};
use crate::{bindings, prelude::*, static_lock_class, sync::LockClassKey, types::Opaque};
use core::marker::{PhantomData, PhantomPinned};

/// Lockdep name of the periodic work. The names and keys of the glue's work items are statics
/// of this crate (`static_lock_class!` in this crate's source), wherever the code that
/// initialises them is compiled: generic and inlined functions end up in the file system's
/// module, and C's `INIT_WORK` in a helper inlined there (`CONFIG_RUST_INLINE_HELPERS`) would
/// put its key in module memory, one key for every work the helper initialised.
static PERIODIC_WORK_NAME: &CStr = c"rust_fs_periodic";
/// Lockdep name of the periodic work's timer.
static PERIODIC_TIMER_NAME: &CStr = c"rust_fs_periodic_timer";

/// Initialises the `work_struct` at `slot` to run `func`, in the lockdep class `key` named
/// `name` (a `static` of this crate, see [`PERIODIC_WORK_NAME`]).
///
/// # Safety
///
/// `slot` must be valid for writes of a `work_struct` and stay pinned for as long as the work
/// may be queued or running; `func` must be safe to call with `slot` whenever the work runs.
pub(crate) unsafe fn init_work(
    slot: *mut bindings::work_struct,
    func: unsafe extern "C" fn(*mut bindings::work_struct),
    name: &'static CStr,
    key: Pin<&'static LockClassKey>,
) {
    // SAFETY: `slot` is valid for writes (the caller's promise); `name` and `key` are
    // statics, so they outlive the work; `init_work_with_key` initialises every field.
    unsafe {
        bindings::init_work_with_key(slot, Some(func), false, name.as_char_ptr(), key.as_ptr())
    }
}

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
            work <- Opaque::ffi_init(|slot: *mut bindings::delayed_work| {
                // SAFETY: `slot` is pinned memory that lives as long as the work item, valid
                // for writes; `run` takes the work of a `PeriodicWork` (the invariants).
                unsafe {
                    init_work(
                        &raw mut (*slot).work,
                        Self::run,
                        PERIODIC_WORK_NAME,
                        static_lock_class!(),
                    )
                };
                // SAFETY: As `INIT_DELAYED_WORK` does: the timer is embedded in a
                // `delayed_work`, armed only by the workqueue code, and its function is
                // `delayed_work_timer_fn`, which is irq-safe; the name and key are statics.
                unsafe {
                    bindings::timer_init_key(
                        &raw mut (*slot).timer,
                        Some(bindings::delayed_work_timer_fn),
                        bindings::TIMER_IRQSAFE,
                        PERIODIC_TIMER_NAME.as_char_ptr(),
                        static_lock_class!().as_ptr(),
                    )
                }
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
