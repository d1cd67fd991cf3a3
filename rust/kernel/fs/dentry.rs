// SPDX-License-Identifier: GPL-2.0

//! Directory entries (`struct dentry`).
//!
//! C header: [`include/linux/dcache.h`](srctree/include/linux/dcache.h).

use super::{inode::INode, registration::FileSystem};
use crate::{bindings, sync::aref::ARef, types::Opaque};
use core::marker::PhantomData;

/// A directory entry of file system `T`, borrowed for the duration of a callback.
///
/// # Invariants
///
/// The wrapped dentry belongs to a super block of type `T` and is valid for the borrow. Its
/// name is stable for the borrow: every callback that hands out a `&DEntry` is called with the
/// parent directory locked, which excludes renames of the entry.
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

    /// Attaches `inode` to this negative dentry (`d_instantiate`), consuming the reference.
    pub fn instantiate(&self, inode: ARef<INode<T>>) {
        let ptr = inode.as_raw();
        core::mem::forget(inode);
        // SAFETY: The dentry is valid and negative; `d_instantiate` takes over the reference.
        unsafe { bindings::d_instantiate(self.as_raw(), ptr) };
    }
}
