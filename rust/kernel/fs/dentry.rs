// SPDX-License-Identifier: GPL-2.0

//! Directory entries (`struct dentry`).
//!
//! C header: [`include/linux/dcache.h`](srctree/include/linux/dcache.h).

use super::{inode::INode, registration::FileSystem};
use crate::{bindings, prelude::*, sync::aref::ARef, types::Opaque};
use core::marker::PhantomData;

/// A directory entry of file system `T`, borrowed for the duration of a callback.
///
/// # Invariants
///
/// The wrapped dentry belongs to a super block of type `T` and is valid for the borrow. Its
/// name is stable for the borrow: every callback that hands out a `&DEntry` is called with the
/// parent directory locked, which excludes renames of the entry (`->get_link` and the source
/// of `->link`, whose parents are not locked, get the inode instead).
#[repr(transparent)]
pub struct DEntry<T: FileSystem> {
    dentry: Opaque<bindings::dentry>,
    _p: PhantomData<T>,
}

impl<T: FileSystem> DEntry<T> {
    /// Creates a reference from a raw pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must be a valid dentry of `T` whose parent is locked for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::dentry) -> &'a Self {
        // SAFETY: `DEntry` is `repr(transparent)` over the C struct.
        unsafe { &*ptr.cast() }
    }

    /// Returns the raw pointer.
    pub fn as_raw(&self) -> *mut bindings::dentry {
        self.dentry.get()
    }

    /// Returns the name of the entry (without a NUL terminator).
    pub fn name(&self) -> &[u8] {
        // SAFETY: By the type invariants the name is stable; `name` points to `len` bytes.
        unsafe {
            let qstr = &(*self.as_raw()).__bindgen_anon_1.d_name;
            core::slice::from_raw_parts(
                qstr.name,
                qstr.__bindgen_anon_1.__bindgen_anon_1.len as usize,
            )
        }
    }

    /// Returns the inode of a positive dentry (`d_inode`).
    pub fn inode(&self) -> Option<&INode<T>> {
        // SAFETY: The dentry is valid.
        let inode = unsafe { (*self.as_raw()).d_inode };
        if inode.is_null() {
            None
        } else {
            // SAFETY: The dentry holds a reference to its inode, which is initialised (it was
            // attached after `NewINode::init`).
            Some(unsafe { INode::from_raw(inode) })
        }
    }
}

/// The negative dentry a creating hook ([`create`], [`mknod`], [`mkdir`], [`symlink`],
/// [`link`]) names its new inode with. It derefs to [`DEntry`] for the name.
///
/// # Invariants
///
/// The dentry is negative, hashed, not in lookup, and its parent's inode lock is held
/// exclusively for `'a` (the VFS calls the hook with it); instantiation consumes the value, so
/// it happens at most once.
///
/// [`create`]: super::inode::Operations::create
/// [`mknod`]: super::inode::Operations::mknod
/// [`mkdir`]: super::inode::Operations::mkdir
/// [`symlink`]: super::inode::Operations::symlink
/// [`link`]: super::inode::Operations::link
pub struct NewDEntry<'a, T: FileSystem>(&'a DEntry<T>);

impl<'a, T: FileSystem> NewDEntry<'a, T> {
    /// Wraps the negative dentry of a creating hook.
    ///
    /// # Safety
    ///
    /// `ptr` must be a valid negative dentry of `T`, handed by the VFS to a creating hook with
    /// its parent locked exclusively for `'a`.
    pub(crate) unsafe fn from_raw(ptr: *mut bindings::dentry) -> Self {
        // SAFETY: By the safety requirements.
        Self(unsafe { DEntry::from_raw(ptr) })
    }

    /// Attaches `inode` to the dentry (`d_instantiate`), consuming the reference. A dentry is
    /// instantiated once: the method takes `self`.
    ///
    /// Fails with `EXDEV` if `inode` belongs to another super block (another mount of the
    /// same file system type), and with `EEXIST` if the dentry is positive (which the VFS
    /// rules out; checked rather than trusted, since `d_instantiate` would `BUG`). On failure
    /// the reference is dropped.
    pub fn instantiate(self, inode: ARef<INode<T>>) -> Result {
        let d = self.0.as_raw();
        // SAFETY: The dentry is valid (type invariants).
        unsafe { check_instantiate(d, inode.super_block().as_raw()) }?;
        let ptr = inode.as_raw();
        let sb = inode.super_block().as_raw();
        core::mem::forget(inode);
        // SAFETY: The dentry is valid, negative and not in lookup (type invariants), the inode
        // is of its super block; `d_instantiate` takes over the `i_count` reference.
        unsafe { bindings::d_instantiate(d, ptr) };
        // The active reference the `ARef` owned is given back: the creating hook runs through
        // a mount, which holds another, so this is never the last.
        // SAFETY: We owned an active reference of `sb`.
        unsafe { super::inode::release_active(sb) };
        Ok(())
    }
}

impl<T: FileSystem> core::ops::Deref for NewDEntry<'_, T> {
    type Target = DEntry<T>;
    fn deref(&self) -> &DEntry<T> {
        self.0
    }
}

/// The run-time checks of [`NewDEntry::instantiate`]: `EXDEV` if the inode's super block `sb`
/// is not the dentry's, `EEXIST` if the dentry is positive.
///
/// # Safety
///
/// `d` must point to a valid dentry.
unsafe fn check_instantiate(
    d: *const bindings::dentry,
    sb: *const bindings::super_block,
) -> Result {
    // SAFETY: The dentry is valid; `d_sb` never changes and `d_inode` of a negative dentry
    // only changes under the parent lock, which the VFS holds for the creating hook.
    let (dsb, positive) = unsafe { ((*d).d_sb, !(*d).d_inode.is_null()) };
    if !core::ptr::eq(dsb, sb) {
        return Err(EXDEV);
    }
    if positive {
        return Err(EEXIST);
    }
    Ok(())
}

#[kunit_tests(rust_fs_dentry)]
mod tests {
    use super::*;

    #[test]
    fn instantiate_checks() {
        // Super blocks are only compared, never read: two distinct addresses will do.
        let two = [0u64; 2];
        let (sb, other) = (
            core::ptr::from_ref(&two[0]).cast::<bindings::super_block>(),
            core::ptr::from_ref(&two[1]).cast::<bindings::super_block>(),
        );
        let mut inode = core::mem::MaybeUninit::<bindings::inode>::zeroed();
        let mut dentry = core::mem::MaybeUninit::<bindings::dentry>::zeroed();
        let d = dentry.as_mut_ptr();
        // SAFETY: `d` points to a local, zeroed dentry.
        unsafe { (*d).d_sb = sb.cast_mut() };
        // A negative dentry of the same super block may be instantiated.
        // SAFETY: `d` is valid (a local) and only read.
        assert_eq!(unsafe { check_instantiate(d, sb) }, Ok(()));
        // An inode of another mount may not.
        // SAFETY: As above.
        assert_eq!(unsafe { check_instantiate(d, other) }, Err(EXDEV));
        // Nor may a positive dentry, which `d_instantiate` would `BUG` on.
        // SAFETY: As above.
        unsafe { (*d).d_inode = inode.as_mut_ptr() };
        // SAFETY: As above.
        assert_eq!(unsafe { check_instantiate(d, sb) }, Err(EEXIST));
    }
}
