// SPDX-License-Identifier: GPL-2.0

//! POSIX ACLs (`system.posix_acl_access`, `system.posix_acl_default`).
//!
//! A file system that implements [`FileSystem::get_acl`] and [`FileSystem::set_acl`] stores
//! each ACL as a byte string: the VFS's extended-attribute encoding of it, with user and group
//! ids of the initial user namespace (`posix_acl_to_xattr`, as btrfs stores them). The
//! abstraction does the rest: `SB_POSIXACL` on its super blocks, `->get_inode_acl` and
//! `->set_acl` in its inode tables (not in symlinks'), the mode update of an access ACL
//! (`posix_acl_update_mode`), the ACL cache, and the access ACL's update on `chmod`
//! (`posix_acl_chmod` after `setattr`). The file system calls [`CreateAcls::new`] for every
//! inode it creates: with `SB_POSIXACL` the VFS leaves the umask to it.
//!
//! C header: [`include/linux/posix_acl.h`](srctree/include/linux/posix_acl.h)

use super::{inode::Locked, FileSystem, INode, NewINode};
use crate::{
    bindings,
    error::{from_result, to_result},
    ffi::c_int,
    prelude::*,
};
use core::ptr::NonNull;

/// Which ACL of an inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The access ACL (`system.posix_acl_access`, `ACL_TYPE_ACCESS`).
    Access,
    /// The default ACL of a directory (`system.posix_acl_default`, `ACL_TYPE_DEFAULT`),
    /// inherited by what is created in it.
    Default,
}

impl Kind {
    /// The kind of the VFS's `type` argument.
    fn from_type(t: c_int) -> Option<Kind> {
        match t as u32 {
            bindings::ACL_TYPE_ACCESS => Some(Kind::Access),
            bindings::ACL_TYPE_DEFAULT => Some(Kind::Default),
            _ => None,
        }
    }
}

/// One reference to a `struct posix_acl`, released on drop: an ACL decoded from its stored
/// value ([`Acl::from_value`]), which [`FileSystem::get_acl`] hands to the VFS.
///
/// # Invariants
///
/// The pointer is a live ACL on which this value owns one reference.
pub struct Acl(NonNull<bindings::posix_acl>);

impl Acl {
    /// Takes over the reference `p` (NULL: no ACL).
    ///
    /// # Safety
    ///
    /// `p` is NULL or a live ACL whose reference the caller gives away.
    unsafe fn from_raw(p: *mut bindings::posix_acl) -> Option<Acl> {
        // INVARIANT: By the safety requirements.
        NonNull::new(p).map(Acl)
    }

    /// Decodes a stored ACL (`posix_acl_from_xattr`, ids of the initial namespace) and checks
    /// it as the VFS checks an ACL being set (`posix_acl_valid`): `None` for an empty one,
    /// `EUCLEAN` (corruption, for the file system to report) for anything else the VFS would
    /// not have stored, `ENOMEM`.
    pub fn from_value(v: &[u8]) -> Result<Option<Acl>> {
        // SAFETY: `v` is readable for its length; `init_user_ns` is a static the kernel never
        // frees.
        let p = unsafe {
            bindings::posix_acl_from_xattr(
                &raw mut bindings::init_user_ns,
                v.as_ptr().cast(),
                v.len(),
            )
        };
        let p = crate::error::from_err_ptr(p).map_err(|e| if e == ENOMEM { e } else { EUCLEAN })?;
        // SAFETY: `posix_acl_from_xattr` returned NULL or a new reference.
        let Some(acl) = (unsafe { Acl::from_raw(p) }) else {
            return Ok(None);
        };
        // SAFETY: The ACL is live; `init_user_ns` is static.
        if unsafe { bindings::posix_acl_valid(&raw mut bindings::init_user_ns, acl.0.as_ptr()) }
            != 0
        {
            return Err(EUCLEAN);
        }
        Ok(Some(acl))
    }

    /// Gives the reference away (to a C caller that takes it over).
    fn into_raw(self) -> *mut bindings::posix_acl {
        let p = self.0.as_ptr();
        core::mem::forget(self);
        p
    }

    /// The VFS's extended-attribute encoding of the ACL (ids of the initial namespace).
    fn to_value(&self) -> Result<KVec<u8>> {
        // SAFETY: By the type invariants the ACL is live.
        unsafe { encode(self.0) }
    }
}

/// The VFS's extended-attribute encoding of ACL `acl` (ids of the initial namespace).
///
/// # Safety
///
/// `acl` is a live ACL for the call.
unsafe fn encode(acl: NonNull<bindings::posix_acl>) -> Result<KVec<u8>> {
    let mut size = 0usize;
    // SAFETY: The ACL is live; `init_user_ns` is a static the kernel never frees.
    let buf = unsafe {
        bindings::posix_acl_to_xattr(
            &raw mut bindings::init_user_ns,
            acl.as_ptr(),
            &mut size,
            bindings::GFP_KERNEL,
        )
    };
    if buf.is_null() {
        return Err(ENOMEM);
    }
    let mut v = KVec::new();
    // SAFETY: `posix_acl_to_xattr` returned a buffer of `size` bytes, freed right after.
    let r = v.extend_from_slice(
        unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), size) },
        GFP_KERNEL,
    );
    // SAFETY: The buffer came from `kmalloc` and nothing refers to it any more.
    unsafe { bindings::kfree(buf) };
    r?;
    Ok(v)
}

impl Drop for Acl {
    fn drop(&mut self) {
        // SAFETY: By the type invariants we own a reference.
        unsafe { bindings::posix_acl_release(self.0.as_ptr()) };
    }
}

/// The ACLs and mode of an inode about to be created in a directory (`posix_acl_create`).
pub struct CreateAcls {
    default: Option<KVec<u8>>,
    access: Option<KVec<u8>>,
    acls: [Option<Acl>; 2],
}

impl CreateAcls {
    /// Computes the ACLs a new inode of `mode` created in `dir` gets, and its mode: the
    /// umask applies when `dir` has no default ACL; with one, the new inode inherits it
    /// (directories as their default ACL too) and its mode is masked by it. Call it for every
    /// inode created in `dir` (regular files, directories, special files, `O_TMPFILE`) before
    /// the inode is initialised with `mode`, and store the values it returns with the inode.
    /// Without `SB_POSIXACL` (a file system without ACLs) it changes nothing.
    ///
    /// Context: process context, may sleep (reads `dir`'s default ACL); no transaction of
    /// the file system open, as in [`FileSystem::get_acl`].
    pub fn new<T: FileSystem>(dir: &INode<T>, mode: &mut u16) -> Result<CreateAcls> {
        let mut m: bindings::umode_t = *mode;
        let mut default = core::ptr::null_mut();
        let mut access = core::ptr::null_mut();
        // SAFETY: `dir` is a live inode; on success the two pointers are NULL or references
        // given to us.
        to_result(unsafe {
            bindings::posix_acl_create(dir.as_raw(), &mut m, &mut default, &mut access)
        })?;
        // SAFETY: As above.
        let (default, access) = unsafe { (Acl::from_raw(default), Acl::from_raw(access)) };
        let out = CreateAcls {
            default: default.as_ref().map(Acl::to_value).transpose()?,
            access: access.as_ref().map(Acl::to_value).transpose()?,
            acls: [access, default],
        };
        *mode = m;
        Ok(out)
    }

    /// The value of the new inode's default ACL (directories only), if it gets one.
    pub fn default_value(&self) -> Option<&[u8]> {
        self.default.as_deref()
    }

    /// The value of the new inode's access ACL, if it gets one (its mode is not enough to
    /// express the inherited ACL).
    pub fn access_value(&self) -> Option<&[u8]> {
        self.access.as_deref()
    }

    /// Puts the new inode's ACLs (or that it has none) in the VFS's ACL cache, so that its
    /// first permission check does not read them back. Only for the inode being created with
    /// these ACLs, still new and locked (`I_NEW`), so that nobody can have set an ACL on it
    /// that the cache would then hide.
    pub fn cache<T: FileSystem>(&self, inode: &mut NewINode<T>) {
        for (t, acl) in [bindings::ACL_TYPE_ACCESS, bindings::ACL_TYPE_DEFAULT]
            .into_iter()
            .zip(self.acls.iter())
        {
            let p = acl.as_ref().map_or(core::ptr::null_mut(), |a| a.0.as_ptr());
            // SAFETY: The inode is live; `set_cached_acl` takes its own reference to a
            // non-NULL `p` (a live ACL of ours), and NULL caches "no ACL".
            unsafe { bindings::set_cached_acl(inode.as_raw(), t as c_int, p) };
        }
    }
}

impl<T: FileSystem> NewINode<T> {
    /// Caches that the inode has no ACLs (`cache_no_acl`), e.g. when it is read from disk
    /// without extended attributes: permission checks then need not ask the file system.
    /// Only while the inode is new and locked (`I_NEW`, before [`NewINode::init`]), as
    /// ext4 does: once it is visible, an ACL set meanwhile would be hidden by the cache.
    pub fn cache_no_acl(&mut self) {
        for t in [bindings::ACL_TYPE_ACCESS, bindings::ACL_TYPE_DEFAULT] {
            // SAFETY: The inode is live; NULL caches "no ACL".
            unsafe { bindings::set_cached_acl(self.as_raw(), t as c_int, core::ptr::null_mut()) };
        }
    }
}

/// `->get_inode_acl` of the inode tables of a file system with ACLs.
///
/// # Safety
///
/// Called by the VFS with a live inode of `T` it holds a reference to.
pub(crate) unsafe extern "C" fn get_inode_acl<T: FileSystem>(
    inode: *mut bindings::inode,
    type_: c_int,
    rcu: bool,
) -> *mut bindings::posix_acl {
    if rcu {
        // Reading may sleep: the VFS retries without RCU.
        return ECHILD.to_ptr();
    }
    let Some(kind) = Kind::from_type(type_) else {
        return EINVAL.to_ptr();
    };
    // SAFETY: By the safety requirements.
    let inode = unsafe { INode::<T>::from_raw(inode) };
    // The VFS takes over the reference returned (or the error).
    match T::get_acl(inode, kind) {
        Err(e) => e.to_ptr(),
        Ok(None) => core::ptr::null_mut(),
        Ok(Some(acl)) => acl.into_raw(),
    }
}

/// `->set_acl` of the inode tables of a file system with ACLs.
///
/// # Safety
///
/// Called through `set_posix_acl` with a positive dentry of `T`, the caller's idmap, a valid
/// ACL (or NULL to remove) and a type. `vfs_set_acl`, `posix_acl_chmod` (from `setattr`) and
/// nfsd hold the inode lock; ksmbd does not, which the function checks.
pub(crate) unsafe extern "C" fn set_acl<T: FileSystem>(
    idmap: *mut bindings::mnt_idmap,
    dentry: *mut bindings::dentry,
    acl: *mut bindings::posix_acl,
    type_: c_int,
) -> c_int {
    from_result(|| {
        let kind = Kind::from_type(type_).ok_or(EINVAL)?;
        // SAFETY: The dentry is positive.
        let inode_ptr = unsafe { (*dentry).d_inode };
        // A caller without the inode lock (ksmbd's `set_posix_acl` calls) is refused: the
        // file system's `set_acl` changes the inode as its lock holder. The check reads the
        // lock's writer bit and owner (see the C helper; on PREEMPT_RT the owner only with
        // lockdep).
        // SAFETY: The inode is live: the dentry holds a reference to it.
        if !unsafe { bindings::inode_lock_held_by_current(inode_ptr) } {
            return Err(EINVAL);
        }
        // SAFETY: The current task holds the inode lock exclusively (checked above) for the
        // call, and a reference through the dentry.
        let inode = unsafe { Locked::held(INode::<T>::from_raw(inode_ptr)) };
        let mut acl = acl;
        let mut mode: bindings::umode_t = inode.mode();
        if kind == Kind::Access && !acl.is_null() {
            // The mode takes what the ACL's base entries say; an ACL the mode expresses
            // fully is not stored (`acl` becomes NULL). Set-group-ID goes as in `chmod`.
            // SAFETY: The arguments are valid; `acl` stays the caller's reference.
            to_result(unsafe {
                bindings::posix_acl_update_mode(idmap, inode_ptr, &mut mode, &mut acl)
            })?;
        }
        let value = match NonNull::new(acl) {
            None => None,
            // SAFETY: `p` is the caller's live ACL (or the same pointer) for the call.
            Some(p) => Some(unsafe { encode(p) }?),
        };
        T::set_acl(&inode, kind, value.as_deref(), mode)?;
        // SAFETY: The inode is live; `set_cached_acl` takes its own reference to `acl`.
        unsafe { bindings::set_cached_acl(inode_ptr, type_, acl) };
        Ok(0)
    })
}

/// Brings the access ACL in line with a new mode after `setattr` changed it
/// (`posix_acl_chmod`).
///
/// # Safety
///
/// `dentry` is positive, of `T`, and its inode locked by the caller; `idmap` is the caller's.
pub(crate) unsafe fn chmod(
    idmap: *mut bindings::mnt_idmap,
    dentry: *mut bindings::dentry,
    mode: u16,
) -> Result {
    // SAFETY: By the safety requirements.
    to_result(unsafe { bindings::posix_acl_chmod(idmap, dentry, mode) })
}

/// The name `listxattr` gives an ACL of kind `kind`.
pub(crate) fn name(kind: Kind) -> &'static CStr {
    match kind {
        Kind::Access => c"system.posix_acl_access",
        Kind::Default => c"system.posix_acl_default",
    }
}

#[kunit_tests(rust_fs_acl)]
mod tests {
    use super::*;
    use crate::fs::{inode, xattr, New, Ready, SuperBlock};
    use crate::sync::aref::ARef;

    /// A file system with ACLs (never mounted: only its tables are used).
    struct Fs;
    #[vtable]
    impl FileSystem for Fs {
        const NAME: &'static CStr = c"rust_acl_test";
        type Data = ();
        type INodeData = ();
        fn fill_super(_sb: &mut SuperBlock<Self, New>) -> Result<()> {
            Err(EINVAL)
        }
        fn init_root(_sb: &SuperBlock<Self, Ready>) -> Result<ARef<INode<Self>>> {
            Err(EINVAL)
        }
        fn getxattr(
            _i: &INode<Self>,
            _ns: xattr::Namespace,
            _n: &CStr,
            _v: &mut xattr::Value<'_>,
        ) -> Result {
            Err(ENODATA)
        }
        fn listxattr(_i: &INode<Self>, _l: &mut xattr::List<'_>) -> Result {
            Ok(())
        }
        fn get_acl(_i: &INode<Self>, _k: Kind) -> Result<Option<Acl>> {
            Ok(None)
        }
        fn set_acl(_i: &Locked<'_, Self>, _k: Kind, _v: Option<&[u8]>, _m: u16) -> Result {
            Err(EPERM)
        }
    }

    /// The VFS encoding of an ACL: version 2, then (tag, perm, id) entries.
    fn value(entries: &[(u16, u16, u32)]) -> KVec<u8> {
        let mut v = KVec::new();
        v.extend_from_slice(&2u32.to_le_bytes(), GFP_KERNEL)
            .unwrap();
        for (tag, perm, id) in entries {
            v.extend_from_slice(&tag.to_le_bytes(), GFP_KERNEL).unwrap();
            v.extend_from_slice(&perm.to_le_bytes(), GFP_KERNEL)
                .unwrap();
            v.extend_from_slice(&id.to_le_bytes(), GFP_KERNEL).unwrap();
        }
        v
    }

    #[test]
    fn kinds_follow_the_types() {
        assert_eq!(Kind::from_type(0x8000), Some(Kind::Access));
        assert_eq!(Kind::from_type(0x4000), Some(Kind::Default));
        assert_eq!(Kind::from_type(0), None);
        assert_eq!(name(Kind::Access).to_bytes(), b"system.posix_acl_access");
        assert_eq!(name(Kind::Default).to_bytes(), b"system.posix_acl_default");
    }

    fn copy(v: &[u8]) -> KVec<u8> {
        let mut c = KVec::new();
        c.extend_from_slice(v, GFP_KERNEL).unwrap();
        c
    }

    #[test]
    fn values_round_trip() {
        const UNDEF: u32 = u32::MAX;
        // user::rw-, user:1000:r--, group::r--, mask::r--, other::---
        let v = value(&[
            (0x01, 6, UNDEF),
            (0x02, 4, 1000),
            (0x04, 4, UNDEF),
            (0x10, 4, UNDEF),
            (0x20, 0, UNDEF),
        ]);
        let acl = Acl::from_value(&v).unwrap().unwrap();
        // SAFETY: The ACL is live.
        let count = unsafe { (*acl.0.as_ptr()).__bindgen_anon_1.__bindgen_anon_1.a_count };
        assert_eq!(count, 5);
        assert_eq!(&acl.to_value().unwrap()[..], &v[..]);
        // A header alone: no ACL.
        assert!(Acl::from_value(&v[..4]).unwrap().is_none());
        // Stored values the VFS would never have written are corruption: another version,
        // a length between entries, an unknown tag, two owner entries, a named user without
        // a mask.
        let mut bad = copy(&v);
        bad[0] = 3;
        assert_eq!(Acl::from_value(&bad).err(), Some(EUCLEAN));
        assert_eq!(Acl::from_value(&v[..9]).err(), Some(EUCLEAN));
        let mut bad = copy(&v);
        bad[4] = 0x40;
        assert_eq!(Acl::from_value(&bad).err(), Some(EUCLEAN));
        let two_owners = value(&[
            (0x01, 6, UNDEF),
            (0x01, 6, UNDEF),
            (0x04, 4, UNDEF),
            (0x20, 0, UNDEF),
        ]);
        assert_eq!(Acl::from_value(&two_owners).err(), Some(EUCLEAN));
        let no_mask = value(&[
            (0x01, 6, UNDEF),
            (0x02, 4, 1000),
            (0x04, 4, UNDEF),
            (0x20, 0, UNDEF),
        ]);
        assert_eq!(Acl::from_value(&no_mask).err(), Some(EUCLEAN));
    }

    #[test]
    fn tables_have_acls_but_not_symlinks() {
        // SAFETY: The table is static.
        let t = unsafe { &*inode::Ops::<Fs>::empty().as_raw() };
        assert!(t.get_inode_acl.is_some() && t.set_acl.is_some());
        // A table without a `setattr` of its own (special files) gets the glue's, which
        // calls `posix_acl_chmod` on a mode change.
        assert!(t.setattr.is_some());
        let s = &inode::Table::<SymlinkOps>::TABLE;
        assert!(s.get_inode_acl.is_none() && s.set_acl.is_none());
    }

    #[test]
    fn set_acl_refuses_a_caller_without_the_inode_lock() {
        // An inode whose lock nobody holds (an all-zero `i_rwsem` is unlocked): refused
        // before the inode or the ACL is used.
        let mut inode = core::mem::MaybeUninit::<bindings::inode>::zeroed();
        let mut dentry = core::mem::MaybeUninit::<bindings::dentry>::zeroed();
        // SAFETY: Both are zeroed C structs owned by the test; only `d_inode` is set.
        unsafe { (*dentry.as_mut_ptr()).d_inode = inode.as_mut_ptr() };
        let idmap = inode::Idmap::nop().as_raw();
        // SAFETY: The glue reads `d_inode` and the lock word of the inode, then returns.
        let r = unsafe {
            set_acl::<Fs>(
                idmap,
                dentry.as_mut_ptr(),
                core::ptr::null_mut(),
                bindings::ACL_TYPE_ACCESS as c_int,
            )
        };
        assert_eq!(r, EINVAL.to_errno());
    }

    /// The operations of a fast symlink of `Fs`.
    struct SymlinkOps;
    #[vtable]
    impl inode::Operations for SymlinkOps {
        type FileSystem = Fs;
        const SYMLINK: inode::Symlink = inode::Symlink::Fast;
    }
}
