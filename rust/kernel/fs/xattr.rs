// SPDX-License-Identifier: GPL-2.0

//! Extended attributes: the `struct xattr_handler` table of a file system (`sb->s_xattr`)
//! and `->listxattr`.
//!
//! A file system that implements [`FileSystem::getxattr`], [`FileSystem::setxattr`] and
//! [`FileSystem::listxattr`] gets one handler per [`Namespace`] in `s_xattr` (so the VFS marks
//! every inode `IOP_XATTR`) and `->listxattr` in every inode operations table built for it.
//! The VFS checks permissions before the hooks run (`xattr_permission`: `trusted.` needs
//! `CAP_SYS_ADMIN`, `user.` only exists on regular files and directories, LSM hooks for
//! `security.`); the hooks store and find the values.
//!
//! C header: [`include/linux/xattr.h`](srctree/include/linux/xattr.h).

use super::{FileSystem, INode};
use crate::ffi::{c_char, c_int, c_void};
use crate::{
    bindings,
    error::{from_result, to_result},
    prelude::*,
    str::CStrExt,
};
use core::marker::PhantomData;

/// The largest value the VFS passes or accepts (`XATTR_SIZE_MAX`).
pub const SIZE_MAX: usize = bindings::XATTR_SIZE_MAX as usize;

/// The longest full name, prefix included (`XATTR_NAME_MAX`).
pub const NAME_MAX: usize = bindings::XATTR_NAME_MAX as usize;

/// An extended attribute namespace a file system stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Namespace {
    /// `user.`: regular files and directories only, permission by file mode.
    User = 1,
    /// `trusted.`: `CAP_SYS_ADMIN` only (overlayfs keeps its metadata here).
    Trusted = 2,
    /// `security.`: labels of the security modules.
    Security = 3,
}

impl Namespace {
    /// Every namespace, in the order of the handler table.
    pub const ALL: [Namespace; 3] = [Namespace::User, Namespace::Trusted, Namespace::Security];

    /// The prefix of the names in this namespace, e.g. `user.`.
    pub const fn prefix(self) -> &'static CStr {
        match self {
            Namespace::User => c"user.",
            Namespace::Trusted => c"trusted.",
            Namespace::Security => c"security.",
        }
    }

    fn from_flags(flags: c_int) -> Option<Self> {
        Self::ALL.into_iter().find(|ns| *ns as c_int == flags)
    }
}

/// How [`FileSystem::setxattr`] treats an existing attribute (`XATTR_CREATE`,
/// `XATTR_REPLACE`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetFlags(u32);

impl SetFlags {
    /// Fail with `EEXIST` if the attribute exists (`XATTR_CREATE`).
    pub fn create(self) -> bool {
        self.0 & bindings::XATTR_CREATE != 0
    }

    /// Fail with `ENODATA` if the attribute does not exist (`XATTR_REPLACE`). Both flags may
    /// be set, and then the call always fails.
    pub fn replace(self) -> bool {
        self.0 & bindings::XATTR_REPLACE != 0
    }
}

/// The caller's buffer for the value read by [`FileSystem::getxattr`].
///
/// The file system announces the value's length with [`Value::set_len`], which returns the
/// bytes to fill, `None` when the caller only asks for the length, or `ERANGE` when the
/// buffer is too small. The length given back to the VFS is the announced one, never more
/// than the buffer holds.
pub struct Value<'a> {
    buf: *mut u8,
    size: usize,
    len: usize,
    _p: PhantomData<&'a mut [u8]>,
}

/// The buffer pointer of a VFS call that passes `size` bytes at `buf`: NULL when `size` is 0
/// (the caller only asks for the length; `buf` may then be anything).
fn sized_or_null(buf: *mut u8, size: usize) -> *mut u8 {
    if size == 0 {
        core::ptr::null_mut()
    } else {
        buf
    }
}

impl<'a> Value<'a> {
    /// The caller's buffer of `size` bytes at `buf`.
    ///
    /// # Safety
    ///
    /// When `size` is not 0, `buf` is valid for writes of `size` bytes, and nothing else
    /// accesses them for `'a`.
    unsafe fn new(buf: *mut u8, size: usize) -> Self {
        // INVARIANT: `buf` is NULL or valid for `size` bytes for `'a`, by the safety
        // requirements.
        Value {
            buf: sized_or_null(buf, size),
            size,
            len: 0,
            _p: PhantomData,
        }
    }

    /// Announces a value of `len` bytes and returns the buffer to copy it into (exactly `len`
    /// bytes, zeroed), or `None` when only the length was asked for. `ERANGE` when the buffer
    /// is too small, `E2BIG` past [`SIZE_MAX`].
    pub fn set_len(&mut self, len: usize) -> Result<Option<&mut [u8]>> {
        if len > SIZE_MAX {
            return Err(E2BIG);
        }
        if self.buf.is_null() {
            self.len = len;
            return Ok(None);
        }
        if len > self.size {
            return Err(ERANGE);
        }
        self.len = len;
        // SAFETY: By the type invariant `buf` is valid for writes of `size >= len` bytes and
        // exclusively ours for `'a`, which the returned borrow of `self` cannot outlive. The
        // bytes are zeroed first, so the slice never covers uninitialised memory.
        unsafe {
            core::ptr::write_bytes(self.buf, 0, len);
            Ok(Some(core::slice::from_raw_parts_mut(self.buf, len)))
        }
    }
}

/// The caller's buffer for the names listed by [`FileSystem::listxattr`]: each name is added
/// with its namespace prefix and a NUL, as `listxattr(2)` returns them. When the caller only
/// asks for the size, nothing is copied and the size is counted.
pub struct List<'a> {
    buf: *mut u8,
    size: usize,
    used: usize,
    trusted: Option<bool>,
    /// The first error of [`List::add`]: the list is incomplete, and that is what the VFS
    /// gets, whatever the file system returns.
    failed: Option<Error>,
    _p: PhantomData<&'a mut [u8]>,
}

impl<'a> List<'a> {
    /// The caller's buffer of `size` bytes at `buf`.
    ///
    /// # Safety
    ///
    /// When `size` is not 0, `buf` is valid for writes of `size` bytes, and nothing else
    /// accesses them for `'a`.
    unsafe fn new(buf: *mut u8, size: usize) -> Self {
        // INVARIANT: `buf` is NULL or valid for `size` bytes for `'a`, by the safety
        // requirements.
        List {
            buf: sized_or_null(buf, size),
            size,
            used: 0,
            trusted: None,
            failed: None,
            _p: PhantomData,
        }
    }

    /// Adds attribute `name` of namespace `ns`. Names of `trusted.` are only listed for
    /// callers with `CAP_SYS_ADMIN` (as ext4 and XFS do). `ERANGE` when the buffer is too
    /// small, `EINVAL` for a name that contains NUL or is longer than the VFS allows. After
    /// an error every later call fails the same way, and the list call fails with it even if
    /// the file system ignored it.
    pub fn add(&mut self, ns: Namespace, name: &[u8]) -> Result {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let r = self.add_one(ns, name);
        if let Err(e) = r {
            self.failed = Some(e);
        }
        r
    }

    fn add_one(&mut self, ns: Namespace, name: &[u8]) -> Result {
        if ns == Namespace::Trusted
            && !*self
                .trusted
                .get_or_insert_with(|| super::file_ops::capable(super::file_ops::cap::SYS_ADMIN))
        {
            return Ok(());
        }
        let prefix = ns.prefix().to_bytes();
        if name.is_empty() || name.contains(&0) || prefix.len() + name.len() > NAME_MAX {
            return Err(EINVAL);
        }
        self.push(prefix, name)
    }

    /// Adds the name of the inode's ACL of kind `kind` (`system.posix_acl_access` or
    /// `system.posix_acl_default`), for a file system with ACLs that has it stored. Errors as
    /// [`List::add`].
    pub fn add_acl(&mut self, kind: super::acl::Kind) -> Result {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let r = self.push(super::acl::name(kind).to_bytes(), b"");
        if let Err(e) = r {
            self.failed = Some(e);
        }
        r
    }

    /// Appends `prefix`, `name` and a NUL (counted only, without a buffer).
    fn push(&mut self, prefix: &[u8], name: &[u8]) -> Result {
        let len = prefix.len() + name.len() + 1;
        let end = self.used.checked_add(len).ok_or(E2BIG)?;
        if !self.buf.is_null() {
            if end > self.size {
                return Err(ERANGE);
            }
            // SAFETY: By the type invariant `buf` is valid for writes of `size` bytes and
            // exclusively ours; `used + len <= size`.
            let dst = unsafe { core::slice::from_raw_parts_mut(self.buf.add(self.used), len) };
            dst[..prefix.len()].copy_from_slice(prefix);
            dst[prefix.len()..len - 1].copy_from_slice(name);
            dst[len - 1] = 0;
        }
        self.used = end;
        Ok(())
    }
}

/// The handler table of file system `T`: one `struct xattr_handler` per [`Namespace`], and
/// the NULL-terminated array `s_xattr` points to.
pub(crate) struct Handlers<T: FileSystem>(PhantomData<T>);

impl<T: FileSystem> Handlers<T> {
    const fn handler(ns: Namespace) -> bindings::xattr_handler {
        bindings::xattr_handler {
            name: core::ptr::null(),
            prefix: crate::str::as_char_ptr_in_const_context(ns.prefix()),
            flags: ns as c_int,
            list: None,
            get: Some(Self::get),
            set: if T::HAS_SETXATTR {
                Some(Self::set)
            } else {
                None
            },
        }
    }

    const USER: bindings::xattr_handler = Self::handler(Namespace::User);
    const TRUSTED: bindings::xattr_handler = Self::handler(Namespace::Trusted);
    const SECURITY: bindings::xattr_handler = Self::handler(Namespace::Security);

    const TABLE: [*const bindings::xattr_handler; 4] = [
        &Self::USER,
        &Self::TRUSTED,
        &Self::SECURITY,
        core::ptr::null(),
    ];

    /// Fails the build of a file system whose hooks do not come together: listing needs
    /// reading and the other way round, and setting needs both (the handler table is only
    /// installed with [`FileSystem::getxattr`]).
    pub(crate) const HOOKS_AGREE: () = assert!(
        T::HAS_GETXATTR == T::HAS_LISTXATTR && (T::HAS_GETXATTR || !T::HAS_SETXATTR),
        "getxattr and listxattr come together, and setxattr needs them"
    );

    /// The NULL-terminated array for `sb->s_xattr`.
    pub(crate) const fn table() -> &'static [*const bindings::xattr_handler; 4] {
        &Self::TABLE
    }

    /// The namespace, inode and name a handler hook is called with.
    ///
    /// # Safety
    ///
    /// `handler` is one of this table's, `inode` a live inode of a super block of `T` that
    /// the caller holds a reference to for `'a`, `name` a NUL-terminated string valid for
    /// `'a`.
    unsafe fn args<'a>(
        handler: *const bindings::xattr_handler,
        inode: *mut bindings::inode,
        name: *const c_char,
    ) -> Result<(Namespace, &'a INode<T>, &'a CStr)> {
        // SAFETY: The handler is one of this table's, hence valid.
        let ns = Namespace::from_flags(unsafe { (*handler).flags }).ok_or(EINVAL)?;
        // SAFETY: The inode is live and of `T` for `'a`.
        let inode = unsafe { INode::<T>::from_raw(inode) };
        // SAFETY: The name is NUL-terminated and valid for `'a`.
        let name = unsafe { CStr::from_char_ptr(name) };
        Ok((ns, inode, name))
    }

    /// # Safety
    ///
    /// Called by the VFS (`__vfs_getxattr`) with a handler of this table, a live inode of a
    /// super block of `T` that the caller holds a reference to, the name after the prefix
    /// (NUL-terminated) and a buffer of `size` bytes (or NULL).
    unsafe extern "C" fn get(
        handler: *const bindings::xattr_handler,
        _dentry: *mut bindings::dentry,
        inode: *mut bindings::inode,
        name: *const c_char,
        buffer: *mut c_void,
        size: usize,
    ) -> c_int {
        from_result(|| {
            // SAFETY: As documented above.
            let (ns, inode, name) = unsafe { Self::args(handler, inode, name) }?;
            // SAFETY: The VFS passes a buffer of `size` bytes (or none if `size` is 0) that is
            // the caller's alone for the call, which `value` does not outlive.
            let mut value = unsafe { Value::new(buffer.cast(), size) };
            T::getxattr(inode, ns, name, &mut value)?;
            Ok(value.len as c_int)
        })
    }

    /// # Safety
    ///
    /// Called by the VFS (`__vfs_setxattr`, `__vfs_removexattr`) with a handler of this table,
    /// a live inode of a super block of `T` that the caller holds a reference to, the name
    /// after the prefix (NUL-terminated) and the value (`size` bytes), or NULL to remove.
    unsafe extern "C" fn set(
        handler: *const bindings::xattr_handler,
        _idmap: *mut bindings::mnt_idmap,
        _dentry: *mut bindings::dentry,
        inode: *mut bindings::inode,
        name: *const c_char,
        buffer: *const c_void,
        size: usize,
        flags: c_int,
    ) -> c_int {
        from_result(|| {
            // SAFETY: As documented above.
            let (ns, inode, name) = unsafe { Self::args(handler, inode, name) }?;
            if size > SIZE_MAX {
                return Err(E2BIG);
            }
            let value = if buffer.is_null() {
                None
            } else if size == 0 {
                Some(&[][..])
            } else {
                // SAFETY: The VFS passes `size` readable bytes that stay unchanged for the call.
                Some(unsafe { core::slice::from_raw_parts(buffer.cast::<u8>(), size) })
            };
            T::setxattr(inode, ns, name, value, SetFlags(flags as u32))?;
            Ok(0)
        })
    }
}

/// `->listxattr` of every inode operations table of a file system with extended attributes.
///
/// # Safety
///
/// Called by the VFS (`vfs_listxattr`) with a positive dentry of a super block of `T` and a
/// buffer of `size` bytes (or NULL when `size` is 0).
pub(crate) unsafe extern "C" fn listxattr<T: FileSystem>(
    dentry: *mut bindings::dentry,
    buffer: *mut c_char,
    size: usize,
) -> isize {
    // SAFETY: The dentry is positive and of `T`.
    let inode = unsafe { INode::<T>::from_raw((*dentry).d_inode) };
    // SAFETY: The VFS passes a buffer of `size` bytes (or none if `size` is 0) that is the
    // caller's alone for the call, which `list` does not outlive.
    let mut list = unsafe { List::new(buffer.cast(), size) };
    match (T::listxattr(inode, &mut list), list.failed) {
        (_, Some(e)) | (Err(e), None) => e.to_errno() as isize,
        (Ok(()), None) => list.used as isize,
    }
}

/// One attribute a security module gives a new inode: its name in the `security.`
/// namespace (without the prefix) and its value.
pub struct SecurityXattr {
    name: KVec<u8>,
    value: KVVec<u8>,
}

impl SecurityXattr {
    /// The name, without the `security.` prefix (e.g. `SMACK64`, `selinux`).
    pub fn name(&self) -> &[u8] {
        &self.name
    }

    /// The value.
    pub fn value(&self) -> &[u8] {
        &self.value
    }
}

/// The attributes the security modules give a new inode at its creation
/// ([`NewINode::init_security`]), copied out of the modules' array, to be stored by the file
/// system in the creating transaction.
#[derive(Default)]
pub struct SecurityXattrs(KVec<SecurityXattr>);

impl SecurityXattrs {
    /// The attributes, in the order the modules gave them.
    pub fn iter(&self) -> impl Iterator<Item = &SecurityXattr> {
        self.0.iter()
    }

    /// Whether there are none (no security module, or none that labels inodes).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds an attribute; `EINVAL` if the name is empty, holds a NUL byte, is too long with
    /// its prefix or was given already, `E2BIG` if the value is longer than [`SIZE_MAX`].
    fn push(&mut self, name: &[u8], value: &[u8]) -> Result {
        if name.is_empty()
            || name.contains(&0)
            || name.len() + Namespace::Security.prefix().to_bytes().len() > NAME_MAX
        {
            return Err(EINVAL);
        }
        if value.len() > SIZE_MAX {
            return Err(E2BIG);
        }
        // Two values for one name would make an attribute table the file system refuses.
        if self.0.iter().any(|x| x.name() == name) {
            return Err(EINVAL);
        }
        let mut n = KVec::with_capacity(name.len(), GFP_KERNEL)?;
        n.extend_from_slice(name, GFP_KERNEL)?;
        let mut v = KVVec::with_capacity(value.len(), GFP_KERNEL)?;
        v.extend_from_slice(value, GFP_KERNEL)?;
        self.0
            .push(SecurityXattr { name: n, value: v }, GFP_KERNEL)?;
        Ok(())
    }

    /// The `initxattrs` callback of `security_inode_init_security`: copies the NULL-name
    /// terminated array of attributes into the [`SecurityXattrs`] at `fs_data`.
    ///
    /// # Safety
    ///
    /// `fs_data` must point to a [`SecurityXattrs`] that nothing else uses during the call;
    /// `array` to an array of `struct xattr` ended by an entry whose name is NULL, each name
    /// NUL-terminated and each value valid for reads of `value_len` bytes.
    unsafe extern "C" fn initxattrs(
        _inode: *mut bindings::inode,
        array: *const bindings::xattr,
        fs_data: *mut c_void,
    ) -> c_int {
        from_result(|| {
            // SAFETY: By the safety requirements, `fs_data` is our exclusive `SecurityXattrs`.
            let out = unsafe { &mut *fs_data.cast::<SecurityXattrs>() };
            let mut x = array;
            loop {
                // SAFETY: `x` is within the array, which ends with a NULL name: the loop stops
                // there, before going past it.
                let e = unsafe { &*x };
                if e.name.is_null() {
                    return Ok(0);
                }
                // SAFETY: Non-NULL names are NUL-terminated strings (safety requirements).
                let name = unsafe { CStr::from_char_ptr(e.name) };
                let value = if e.value_len == 0 || e.value.is_null() {
                    &[][..]
                } else {
                    // SAFETY: The value is valid for reads of `value_len` bytes during the
                    // call (safety requirements), and is only read while copied.
                    unsafe { core::slice::from_raw_parts(e.value.cast::<u8>(), e.value_len) }
                };
                out.push(name.to_bytes(), value)?;
                // SAFETY: This entry's name was not NULL, so the array goes on.
                x = unsafe { x.add(1) };
            }
        })
    }
}

impl<T: FileSystem> super::inode::NewINode<T> {
    /// Asks the security modules for the attributes of this new inode
    /// (`security_inode_init_security`), created in `dir` under the name of `dentry`
    /// (`None` for an unnamed inode, `O_TMPFILE`). Only for an inode being created
    /// ([`SuperBlock::new_inode`](super::SuperBlock::new_inode)): one that
    /// [`SuperBlock::iget`](super::SuperBlock::iget) is reading has its label on disk, and
    /// the modules would take a new one for it, so that is `EINVAL`. Call it after
    /// [`NewINode::init_owner`](super::inode::NewINode::init_owner), which sets the mode the
    /// modules look at, and store the result with the inode, in its creating transaction, as
    /// `security.` attributes. Without a security module that labels inodes the result is
    /// empty.
    ///
    /// May sleep and allocate: inside a transaction, call it within the file system's
    /// `GFP_NOFS` scope ([`NofsScope`](super::memalloc::NofsScope)), as the copies here use
    /// `GFP_KERNEL`. The modules also record the label in their in-memory state of the
    /// inode; a second call asks them again, which C never does but which only repeats their
    /// work. Fails with the modules' errors, or `ENOMEM`/`EINVAL`/`E2BIG` from copying the
    /// attributes.
    pub fn init_security(
        &mut self,
        dir: &INode<T>,
        dentry: Option<&super::dentry::DEntry<T>>,
    ) -> Result<SecurityXattrs> {
        crate::task::might_sleep();
        // SAFETY: The inode is valid.
        let state = unsafe { bindings::inode_state_read_once(self.as_raw()) };
        // `I_CREATING`: from `new_inode` (`insert_inode_locked`), not an existing inode that
        // `iget` is reading, whose label is on disk.
        if state & bindings::I_CREATING == 0 {
            return Err(EINVAL);
        }
        let mut out = SecurityXattrs::default();
        let qstr = match dentry {
            // SAFETY: The dentry is valid and its name is stable (`DEntry`'s invariant: the
            // parent is locked); `d_name.name` is NUL-terminated, as the modules expect.
            Some(d) => unsafe { &raw const (*d.as_raw()).__bindgen_anon_1.d_name },
            None => core::ptr::null(),
        };
        // SAFETY: The inode is new (`I_NEW`) and exclusively ours, `dir` a live inode, `qstr`
        // NULL or the dentry's stable name; the callback gets `out`, which nothing else uses
        // during the call, and an array as its safety requirements describe (the
        // `initxattrs` contract of `security_inode_init_security`).
        to_result(unsafe {
            bindings::security_inode_init_security(
                self.as_raw(),
                dir.as_raw(),
                qstr,
                Some(SecurityXattrs::initxattrs),
                (&raw mut out).cast(),
            )
        })?;
        Ok(out)
    }
}

#[kunit_tests(rust_fs_xattr)]
mod tests {
    use super::*;
    use crate::fs::{inode, New, Ready, SuperBlock};
    use crate::sync::aref::ARef;

    /// A file system with extended attributes (never mounted: only its tables are used).
    struct Fs;
    #[vtable]
    impl FileSystem for Fs {
        const NAME: &'static CStr = c"rust_xattr_test";
        type Data = ();
        type INodeData = ();
        fn fill_super(_sb: &mut SuperBlock<Self, New>) -> Result<()> {
            Err(EINVAL)
        }
        fn init_root(_sb: &SuperBlock<Self, Ready>) -> Result<ARef<INode<Self>>> {
            Err(EINVAL)
        }
        fn getxattr(_i: &INode<Self>, _ns: Namespace, _n: &CStr, _v: &mut Value<'_>) -> Result {
            Err(ENODATA)
        }
        fn listxattr(_i: &INode<Self>, _l: &mut List<'_>) -> Result {
            Ok(())
        }
    }

    /// A file system without them.
    struct Plain;
    #[vtable]
    impl FileSystem for Plain {
        const NAME: &'static CStr = c"rust_xattr_plain";
        type Data = ();
        type INodeData = ();
        fn fill_super(_sb: &mut SuperBlock<Self, New>) -> Result<()> {
            Err(EINVAL)
        }
        fn init_root(_sb: &SuperBlock<Self, Ready>) -> Result<ARef<INode<Self>>> {
            Err(EINVAL)
        }
    }

    fn value(buf: &mut [u8]) -> Value<'_> {
        // SAFETY: `buf` is borrowed mutably for the returned value's lifetime.
        unsafe { Value::new(buf.as_mut_ptr(), buf.len()) }
    }

    fn list(buf: &mut [u8]) -> List<'_> {
        // SAFETY: `buf` is borrowed mutably for the returned list's lifetime.
        let mut l = unsafe { List::new(buf.as_mut_ptr(), buf.len()) };
        // The test runs as root at boot; the unprivileged case is a VM test.
        l.trusted = Some(false);
        l
    }

    #[test]
    fn value_length_and_buffer() {
        // Only the length asked for: nothing to fill, the length is what the VFS gets.
        let mut v = value(&mut []);
        assert!(matches!(v.set_len(300), Ok(None)));
        assert_eq!(v.len, 300);
        // A buffer too small: ERANGE, and no length given back.
        let mut small = [7u8; 4];
        let mut v = value(&mut small);
        assert_eq!(v.set_len(5).err(), Some(ERANGE));
        assert_eq!(v.len, 0);
        // A buffer large enough: exactly the announced bytes, zeroed, to fill.
        let mut big = [7u8; 8];
        let mut v = value(&mut big);
        let b = v.set_len(3).unwrap().unwrap();
        assert_eq!(b, &[0, 0, 0]);
        b.copy_from_slice(b"abc");
        assert_eq!(v.len, 3);
        assert_eq!(&big, b"abc\x07\x07\x07\x07\x07");
        let mut v = value(&mut []);
        assert_eq!(v.set_len(SIZE_MAX + 1).err(), Some(E2BIG));
    }

    #[test]
    fn list_names_sizes_and_trusted() {
        let mut buf = [0u8; 32];
        let mut l = list(&mut buf);
        l.add(Namespace::User, b"a").unwrap();
        l.add(Namespace::Trusted, b"hidden").unwrap();
        l.add(Namespace::Security, b"x").unwrap();
        let used = l.used;
        assert_eq!(&buf[..used], b"user.a\0security.x\0");
        // Counting only, then a buffer one byte short.
        let mut l = list(&mut []);
        l.add(Namespace::User, b"abc").unwrap();
        assert_eq!(l.used, 9);
        let mut short = [0u8; 8];
        let mut l = list(&mut short);
        assert_eq!(l.add(Namespace::User, b"abc"), Err(ERANGE));
        // ACL names are whole names.
        let mut buf = [0u8; 64];
        let mut l = list(&mut buf);
        l.add_acl(crate::fs::acl::Kind::Access).unwrap();
        l.add_acl(crate::fs::acl::Kind::Default).unwrap();
        let used = l.used;
        assert_eq!(
            &buf[..used],
            b"system.posix_acl_access\0system.posix_acl_default\0"
        );
        let mut short = [0u8; 8];
        let mut l = list(&mut short);
        assert_eq!(l.add(Namespace::User, b"abc"), Err(ERANGE));
        // The overflow is sticky: a name that would fit after it is refused too.
        assert_eq!(l.add(Namespace::User, b"a"), Err(ERANGE));
        assert_eq!(l.failed, Some(ERANGE));
        // Names the VFS could never pass are refused, not listed.
        let mut l = list(&mut []);
        assert_eq!(l.add(Namespace::User, b""), Err(EINVAL));
        assert_eq!(l.add(Namespace::User, b"a\0b"), Err(EINVAL));
        assert_eq!(l.add(Namespace::User, &[b'n'; NAME_MAX]), Err(EINVAL));
        assert_eq!(l.used, 0);
    }

    #[test]
    fn tables_follow_the_hooks() {
        let t = Handlers::<Fs>::table();
        assert!(t[3].is_null());
        for (i, ns) in Namespace::ALL.into_iter().enumerate() {
            // SAFETY: The table's pointers are to its static handlers.
            let h = unsafe { &*t[i] };
            assert_eq!(Namespace::from_flags(h.flags), Some(ns));
            // SAFETY: The prefix is a static C string.
            let prefix = unsafe { CStr::from_char_ptr(h.prefix) };
            assert_eq!(prefix.to_bytes(), ns.prefix().to_bytes());
            assert!(h.get.is_some());
            // No `setxattr`: the VFS answers EOPNOTSUPP itself.
            assert!(h.set.is_none());
        }
        // `->listxattr` in every inode table of a file system with attributes, the empty
        // one included, and in none of another file system.
        // SAFETY: The tables are static.
        let with = unsafe { &*inode::Ops::<Fs>::empty().as_raw() };
        assert!(with.listxattr.is_some());
        // SAFETY: As above.
        let without = unsafe { &*inode::Ops::<Plain>::empty().as_raw() };
        assert!(without.listxattr.is_none());
    }

    #[test]
    fn security_xattrs_copied_from_the_modules_array() {
        let mut out = SecurityXattrs::default();
        let mut v1 = *b"label";
        let arr = [
            bindings::xattr {
                name: c"SMACK64".as_char_ptr(),
                value: v1.as_mut_ptr().cast(),
                value_len: v1.len(),
            },
            bindings::xattr {
                name: c"SMACK64TRANSMUTE".as_char_ptr(),
                value: core::ptr::null_mut(),
                value_len: 0,
            },
            bindings::xattr {
                name: core::ptr::null(),
                value: core::ptr::null_mut(),
                value_len: 0,
            },
        ];
        // SAFETY: `out` is ours alone; the array ends with a NULL name, its names are
        // NUL-terminated and its values valid for their lengths.
        let r = unsafe {
            SecurityXattrs::initxattrs(core::ptr::null_mut(), arr.as_ptr(), (&raw mut out).cast())
        };
        assert_eq!(r, 0);
        let got: KVec<(&[u8], &[u8])> = {
            let mut g = KVec::new();
            for x in out.iter() {
                g.push((x.name(), x.value()), GFP_KERNEL).unwrap();
            }
            g
        };
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], (&b"SMACK64"[..], &b"label"[..]));
        assert_eq!(got[1], (&b"SMACK64TRANSMUTE"[..], &b""[..]));
        assert!(!out.is_empty());
        // An empty array: nothing.
        let mut none = SecurityXattrs::default();
        // SAFETY: As above; the array is only its terminator.
        let r = unsafe {
            SecurityXattrs::initxattrs(
                core::ptr::null_mut(),
                arr[2..].as_ptr(),
                (&raw mut none).cast(),
            )
        };
        assert_eq!(r, 0);
        assert!(none.is_empty());
    }

    #[test]
    fn security_xattr_names_and_sizes_checked() {
        let mut out = SecurityXattrs::default();
        assert_eq!(out.push(b"", b"x").err(), Some(EINVAL));
        assert_eq!(out.push(b"a\0b", b"x").err(), Some(EINVAL));
        let long = [b'n'; NAME_MAX];
        assert_eq!(out.push(&long, b"x").err(), Some(EINVAL));
        // The longest name that fits with `security.`.
        let fits = &long[..NAME_MAX - Namespace::Security.prefix().to_bytes().len()];
        assert!(out.push(fits, b"x").is_ok());
        // A name given twice.
        assert_eq!(out.push(fits, b"y").err(), Some(EINVAL));
        let mut big = KVVec::new();
        big.resize(SIZE_MAX + 1, 0u8, GFP_KERNEL).unwrap();
        assert_eq!(out.push(b"big", &big).err(), Some(E2BIG));
        assert!(out.push(b"max", &big[..SIZE_MAX]).is_ok());
        assert_eq!(out.iter().count(), 2);
    }
}
