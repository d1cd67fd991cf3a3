// SPDX-License-Identifier: GPL-2.0

//! Exporting a file system: file handles for NFS and `open_by_handle_at(2)`.
//!
//! A file system that implements [`FileSystem::inode_for_handle`] and
//! [`FileSystem::get_parent`] gets `sb->s_export_op`. Its handles are the VFS's generic 32-bit
//! ones: `FILEID_INO32_GEN` (inode number and generation) and, for a name's handle,
//! `FILEID_INO32_GEN_PARENT` (with its directory's), encoded by the VFS itself; so inode
//! numbers must fit 32 bits, and the generation tells a reused inode number from the inode a
//! handle was made for.
//!
//! C header: [`include/linux/exportfs.h`](srctree/include/linux/exportfs.h)

use super::{FileSystem, INode, Ready, SuperBlock};
use crate::{bindings, error::from_result, ffi::c_int, prelude::*, sync::aref::ARef};
use core::marker::PhantomData;

/// The export operations of file system `T` (`struct export_operations`).
pub(crate) struct Ops<T: FileSystem>(PhantomData<T>);

impl<T: FileSystem> Ops<T> {
    const TABLE: bindings::export_operations = bindings::export_operations {
        // `FILEID_INO32_GEN(_PARENT)` handles from `i_ino` and `i_generation` (exportfs
        // calls `encode_fh` unconditionally: it must not be NULL).
        encode_fh: Some(bindings::generic_encode_ino32_fh),
        fh_to_dentry: Some(Self::fh_to_dentry),
        fh_to_parent: Some(Self::fh_to_parent),
        get_parent: Some(Self::get_parent),
        commit_metadata: if T::HAS_COMMIT_METADATA {
            Some(Self::commit_metadata)
        } else {
            None
        },
        ..pin_init::zeroed()
    };

    /// The table for `sb->s_export_op`.
    pub(crate) const fn table() -> &'static bindings::export_operations {
        &Self::TABLE
    }

    /// An inode reference of super block `sb` for a C caller that takes it over
    /// (`d_obtain_alias`), or the error as `ERR_PTR`.
    fn into_raw(
        r: Result<ARef<INode<T>>>,
        sb: *const bindings::super_block,
    ) -> *mut bindings::inode {
        match r.and_then(|inode| INode::into_raw_for(inode, sb)) {
            Ok(p) => p,
            Err(e) => e.to_ptr(),
        }
    }

    /// `get_inode` of `generic_fh_to_dentry`/`generic_fh_to_parent`.
    ///
    /// # Safety
    ///
    /// `sb` is a ready super block of `T` with an active reference held for the call (the
    /// mount the handle is decoded on).
    unsafe extern "C" fn get_inode(
        sb: *mut bindings::super_block,
        ino: u64,
        generation: u32,
    ) -> *mut bindings::inode {
        // SAFETY: By the safety requirements.
        let sb = unsafe { SuperBlock::<T, Ready>::from_raw(sb) };
        Self::into_raw(T::inode_for_handle(sb, ino, generation), sb.as_raw())
    }

    /// # Safety
    ///
    /// Called by `exportfs_decode_fh` with a ready super block of `T` that the mount keeps
    /// alive, and a handle of `fh_len` 32-bit words (at least 2 are read only when present).
    unsafe extern "C" fn fh_to_dentry(
        sb: *mut bindings::super_block,
        fid: *mut bindings::fid,
        fh_len: c_int,
        fh_type: c_int,
    ) -> *mut bindings::dentry {
        // SAFETY: As above; `get_inode` is called with this super block only, and the helper
        // reads the handle only within `fh_len` words and for the types it knows.
        unsafe { bindings::generic_fh_to_dentry(sb, fid, fh_len, fh_type, Some(Self::get_inode)) }
    }

    /// # Safety
    ///
    /// As [`Ops::fh_to_dentry`].
    unsafe extern "C" fn fh_to_parent(
        sb: *mut bindings::super_block,
        fid: *mut bindings::fid,
        fh_len: c_int,
        fh_type: c_int,
    ) -> *mut bindings::dentry {
        // SAFETY: As in `fh_to_dentry`.
        unsafe { bindings::generic_fh_to_parent(sb, fid, fh_len, fh_type, Some(Self::get_inode)) }
    }

    /// # Safety
    ///
    /// Called by exportfs with a positive directory dentry of a ready super block of `T`,
    /// referenced for the call.
    unsafe extern "C" fn get_parent(child: *mut bindings::dentry) -> *mut bindings::dentry {
        // SAFETY: The dentry is valid for the call. (Its name is not used: no lock keeps it
        // stable here, so no `DEntry` is made.)
        let inode = unsafe { (*child).d_inode };
        if inode.is_null() {
            return ESTALE.to_ptr();
        }
        // SAFETY: A positive dentry holds a reference to its inode, initialised before it was
        // attached, for as long as the dentry is referenced (the whole call).
        let dir = unsafe { INode::<T>::from_raw(inode) };
        // A parent must be a directory: exportfs reconnects a path by looking names up in it.
        let parent = T::get_parent(dir).and_then(|p| {
            if u32::from(p.mode()) & bindings::S_IFMT == bindings::S_IFDIR {
                Ok(p)
            } else {
                Err(EIO)
            }
        });
        let parent = Self::into_raw(parent, dir.super_block().as_raw());
        // SAFETY: `d_obtain_alias` takes over the reference (or the `ERR_PTR`).
        unsafe { bindings::d_obtain_alias(parent) }
    }
}

impl<T: FileSystem> Ops<T> {
    /// # Safety
    ///
    /// Called by nfsd with a live inode of `T` that it holds a reference to (through the
    /// dentry of a file handle) for the call.
    unsafe extern "C" fn commit_metadata(inode: *mut bindings::inode) -> c_int {
        // SAFETY: By the safety requirements.
        let inode = unsafe { INode::<T>::from_raw(inode) };
        from_result(|| {
            T::commit_metadata(inode)?;
            Ok(0)
        })
    }
}

/// A random generation number for a new inode (`get_random_u32`, as XFS gives every new
/// inode): a handle of an earlier inode with the same number then goes stale with
/// overwhelming probability.
pub fn new_generation() -> u32 {
    // SAFETY: `get_random_u32` has no preconditions and may be called in any context.
    unsafe { bindings::get_random_u32() }
}

#[kunit_tests(rust_fs_export)]
mod tests {
    use super::*;
    use crate::fs::New;

    /// A file system with export hooks (never mounted: only its table is used).
    struct Fs;
    #[vtable]
    impl FileSystem for Fs {
        const NAME: &'static CStr = c"rust_export_test";
        type Data = ();
        type INodeData = ();
        fn fill_super(_sb: &mut SuperBlock<Self, New>) -> Result<()> {
            Err(EINVAL)
        }
        fn init_root(_sb: &SuperBlock<Self, Ready>) -> Result<ARef<INode<Self>>> {
            Err(EINVAL)
        }
        fn inode_for_handle(
            _sb: &SuperBlock<Self, Ready>,
            _ino: u64,
            _generation: u32,
        ) -> Result<ARef<INode<Self>>> {
            Err(ESTALE)
        }
        fn get_parent(_dir: &INode<Self>) -> Result<ARef<INode<Self>>> {
            Err(ESTALE)
        }
    }

    #[test]
    fn table_has_every_hook_exportfs_calls() {
        let t = Ops::<Fs>::table();
        // exportfs calls `encode_fh` without a NULL check.
        assert!(t.encode_fh.is_some());
        assert!(t.fh_to_dentry.is_some());
        assert!(t.fh_to_parent.is_some());
        assert!(t.get_parent.is_some());
        // Nothing else is claimed: no `commit_metadata` (`Fs` does not implement it), no
        // flags.
        assert!(t.commit_metadata.is_none());
        assert_eq!(t.flags, 0);
    }

    #[test]
    fn bad_handles_are_stale() {
        // A handle too short or of a type the generic decoder does not know: `ESTALE` from
        // `d_obtain_alias(NULL)`, without calling the file system (no super block needed).
        let mut raw = [0u32; 2];
        let fid = raw.as_mut_ptr().cast::<bindings::fid>();
        let sb = core::ptr::null_mut();
        // SAFETY: The decoder returns before it uses `sb`: `fh_len` 1 is too short (NULL), and
        // type 0x77 is none it knows.
        let (short, unknown) = unsafe {
            (
                bindings::generic_fh_to_dentry(sb, fid, 1, 1, Some(Ops::<Fs>::get_inode)),
                bindings::generic_fh_to_dentry(sb, fid, 2, 0x77, Some(Ops::<Fs>::get_inode)),
            )
        };
        assert!(short.is_null());
        assert_eq!(unknown, ESTALE.to_ptr());
        // Generations are random: eight in a row are all equal with probability 2^-224.
        let first = new_generation();
        assert!((0..7).any(|_| new_generation() != first));
    }
}
