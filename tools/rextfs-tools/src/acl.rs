// SPDX-License-Identifier: GPL-2.0

//! POSIX ACLs as stored in the attributes of index [`XATTR_INDEX_ACL_ACCESS`] and
//! [`XATTR_INDEX_ACL_DEFAULT`]: the Linux VFS's extended-attribute encoding of an ACL,
//! little endian, a `u32` version ([`ACL_EA_VERSION`]) then 8-byte entries `u16 tag,
//! u16 perm, u32 id`. The rules are those of the kernel's `posix_acl_from_xattr` and
//! `posix_acl_valid`, which fsck applies to what it keeps and the image operations to
//! what they store; the text form is `getfacl`'s short one, ids numeric.

use rextfs_format::*;

/// Version in the header of an ACL's value (`POSIX_ACL_XATTR_VERSION`).
pub const ACL_EA_VERSION: u32 = 2;
/// Size of the header of an ACL's value.
pub const ACL_EA_HEADER: usize = 4;
/// Size of one entry of an ACL's value.
pub const ACL_EA_ENTRY: usize = 8;

/// Tag of the owner's entry (`user::`).
pub const ACL_USER_OBJ: u16 = 0x01;
/// Tag of a named user's entry (`user:id:`).
pub const ACL_USER: u16 = 0x02;
/// Tag of the owning group's entry (`group::`).
pub const ACL_GROUP_OBJ: u16 = 0x04;
/// Tag of a named group's entry (`group:id:`).
pub const ACL_GROUP: u16 = 0x08;
/// Tag of the mask entry (`mask::`).
pub const ACL_MASK: u16 = 0x10;
/// Tag of the entry of everyone else (`other::`).
pub const ACL_OTHER: u16 = 0x20;
/// The id of the entries without one (every tag but [`ACL_USER`] and [`ACL_GROUP`]), as
/// the kernel writes it.
pub const ACL_UNDEFINED_ID: u32 = u32::MAX;
/// The permission bits an entry may have: read 4, write 2, execute 1.
pub const ACL_PERM_MASK: u16 = 0o7;

/// One entry of an ACL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AclEntry {
    /// `ACL_USER_OBJ` ... `ACL_OTHER`.
    pub tag: u16,
    /// Permission bits (`rwx` as 4, 2, 1).
    pub perm: u16,
    /// User or group id of an [`ACL_USER`] or [`ACL_GROUP`] entry; meaningless (the kernel
    /// writes [`ACL_UNDEFINED_ID`]) for the others.
    pub id: u32,
}

impl AclEntry {
    /// The entry in `getfacl`'s short text form: `user::rw-`, `group:100:r-x`, ...; an
    /// unknown tag as `tag 0x40:rwx`.
    pub fn text(&self) -> String {
        let perm: String = [(4, 'r'), (2, 'w'), (1, 'x')]
            .iter()
            .map(|&(bit, c)| if self.perm & bit != 0 { c } else { '-' })
            .collect();
        // Bits beyond rwx, which no valid entry has.
        let extra = self.perm & !ACL_PERM_MASK;
        let perm = if extra != 0 {
            format!("{perm}+{extra:#x}")
        } else {
            perm
        };
        match self.tag {
            ACL_USER_OBJ => format!("user::{perm}"),
            ACL_USER => format!("user:{}:{perm}", self.id),
            ACL_GROUP_OBJ => format!("group::{perm}"),
            ACL_GROUP => format!("group:{}:{perm}", self.id),
            ACL_MASK => format!("mask::{perm}"),
            ACL_OTHER => format!("other::{perm}"),
            t => format!("tag {t:#x}:{perm}"),
        }
    }
}

/// The entries of an ACL as text, comma-separated: `user::rw-,group::r--,other::r--`.
pub fn acl_text(entries: &[AclEntry]) -> String {
    entries
        .iter()
        .map(AclEntry::text)
        .collect::<Vec<_>>()
        .join(",")
}

/// The value that stores `entries` (no check of them).
pub fn acl_encode(entries: &[AclEntry]) -> Vec<u8> {
    let mut v = Vec::with_capacity(ACL_EA_HEADER + ACL_EA_ENTRY * entries.len());
    v.extend_from_slice(&ACL_EA_VERSION.to_le_bytes());
    for e in entries {
        v.extend_from_slice(&e.tag.to_le_bytes());
        v.extend_from_slice(&e.perm.to_le_bytes());
        v.extend_from_slice(&e.id.to_le_bytes());
    }
    v
}

/// Where each tag may be, in the order `posix_acl_valid` wants them.
fn tag_rank(tag: u16) -> Option<u8> {
    match tag {
        ACL_USER_OBJ => Some(0),
        ACL_USER => Some(1),
        ACL_GROUP_OBJ => Some(2),
        ACL_GROUP => Some(3),
        ACL_MASK => Some(4),
        ACL_OTHER => Some(5),
        _ => None,
    }
}

/// Decodes and checks an ACL's value as the kernel would: `4 + 8 * n` bytes with `n >= 1`,
/// version [`ACL_EA_VERSION`], known tags, no permission bits beyond `rwx`, a defined id
/// in the [`ACL_USER`] and [`ACL_GROUP`] entries, exactly one `user::`, `group::` and
/// `other::` entry, at most one `mask::` entry and one whenever a named user or group is
/// there, entries in tag order (named users and groups in any order of ids, as the kernel
/// accepts them). Returns
/// the entries, or what is wrong, as a phrase (`has version 3, not 2`).
pub fn acl_parse(value: &[u8]) -> std::result::Result<Vec<AclEntry>, String> {
    let len = value.len();
    if len < ACL_EA_HEADER || (len - ACL_EA_HEADER) % ACL_EA_ENTRY != 0 {
        return Err(format!(
            "has {len} bytes, not {ACL_EA_HEADER} plus {ACL_EA_ENTRY} per entry"
        ));
    }
    let version = u32::from_le_bytes(value[..4].try_into().unwrap_or_default());
    if version != ACL_EA_VERSION {
        return Err(format!("has version {version}, not {ACL_EA_VERSION}"));
    }
    let entries: Vec<AclEntry> = value[ACL_EA_HEADER..]
        .chunks_exact(ACL_EA_ENTRY)
        .map(|c| AclEntry {
            tag: u16::from_le_bytes([c[0], c[1]]),
            perm: u16::from_le_bytes([c[2], c[3]]),
            id: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    if entries.is_empty() {
        return Err("has no entries".into());
    }
    for (i, e) in entries.iter().enumerate() {
        if tag_rank(e.tag).is_none() {
            return Err(format!("has entry {i} with an unknown tag {:#x}", e.tag));
        }
        if e.perm & !ACL_PERM_MASK != 0 {
            return Err(format!(
                "has entry {i} ({}) with permission bits beyond rwx",
                e.text()
            ));
        }
        if matches!(e.tag, ACL_USER | ACL_GROUP) && e.id == ACL_UNDEFINED_ID {
            return Err(format!(
                "has entry {i} ({}) naming the undefined id",
                e.text()
            ));
        }
    }
    let count = |tag: u16| entries.iter().filter(|e| e.tag == tag).count();
    for (tag, name) in [
        (ACL_USER_OBJ, "user::"),
        (ACL_GROUP_OBJ, "group::"),
        (ACL_OTHER, "other::"),
    ] {
        let n = count(tag);
        if n != 1 {
            return Err(format!("has {n} {name} entries, not one"));
        }
    }
    let masks = count(ACL_MASK);
    if masks > 1 {
        return Err(format!("has {masks} mask:: entries, at most one"));
    }
    if masks == 0 && count(ACL_USER) + count(ACL_GROUP) > 0 {
        return Err("has named user or group entries but no mask:: entry".into());
    }
    for (i, w) in entries.windows(2).enumerate() {
        let (a, b) = (w[0], w[1]);
        let out_of_order = match tag_rank(a.tag).cmp(&tag_rank(b.tag)) {
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Greater => true,
            // Only named users and groups may repeat (the counts above); the kernel's
            // `posix_acl_valid` orders their ids neither way (setfacl sorts them, a raw
            // setxattr need not), so neither does this.
            std::cmp::Ordering::Equal => false,
        };
        if out_of_order {
            return Err(format!(
                "has entry {} ({}) out of order after {}",
                i + 1,
                b.text(),
                a.text()
            ));
        }
    }
    Ok(entries)
}

/// Why attribute `index` may not be on an inode of file type `ft` (`S_IF*`), for the two
/// ACL indices: symlinks have no ACLs (the kernel has no ACL operations for them), and a
/// default ACL is only on a directory (the VFS refuses it elsewhere). `None` when it may,
/// and for every other index.
pub fn acl_type_fault(index: u8, ft: u16) -> Option<&'static str> {
    match index {
        XATTR_INDEX_ACL_ACCESS | XATTR_INDEX_ACL_DEFAULT if ft == S_IFLNK => {
            Some("symlinks have no ACLs")
        }
        XATTR_INDEX_ACL_DEFAULT if ft != S_IFDIR => Some("a default ACL is only on a directory"),
        _ => None,
    }
}

/// Checks the value of an ACL to be kept in an image of `block_size`-byte blocks: at most
/// [`xattr_inline_max`] bytes (the kernel keeps ACLs inline only and refuses longer ones),
/// and valid ([`acl_parse`]). Returns what is wrong, as a phrase.
pub fn acl_value_fault(value: &[u8], block_size: usize) -> Option<String> {
    let max = xattr_inline_max(block_size);
    if value.len() > max {
        return Some(format!(
            "has {} bytes, more than an ACL may keep inline ({max})",
            value.len()
        ));
    }
    acl_parse(value)
        .err()
        .map(|w| format!("is not a valid ACL ({w})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(tag: u16, perm: u16, id: u32) -> AclEntry {
        AclEntry { tag, perm, id }
    }

    const U: u32 = ACL_UNDEFINED_ID;

    #[test]
    fn valid_acls_round_trip() {
        let minimal = [
            e(ACL_USER_OBJ, 6, U),
            e(ACL_GROUP_OBJ, 4, U),
            e(ACL_OTHER, 4, U),
        ];
        let v = acl_encode(&minimal);
        assert_eq!(v.len(), 28);
        assert_eq!(acl_parse(&v).unwrap(), minimal);
        assert_eq!(acl_text(&minimal), "user::rw-,group::r--,other::r--");
        let full = [
            e(ACL_USER_OBJ, 7, U),
            e(ACL_USER, 6, 0),
            e(ACL_USER, 4, 1000),
            e(ACL_GROUP_OBJ, 5, U),
            e(ACL_GROUP, 1, 100),
            e(ACL_GROUP, 0, 4000),
            e(ACL_MASK, 7, U),
            e(ACL_OTHER, 0, U),
        ];
        assert_eq!(acl_parse(&acl_encode(&full)).unwrap(), full);
        assert_eq!(
            acl_text(&full),
            "user::rwx,user:0:rw-,user:1000:r--,group::r-x,group:100:--x,group:4000:---,\
             mask::rwx,other::---"
        );
        // A mask without named entries is fine; the id of an unnamed entry is not read.
        let m = [
            e(ACL_USER_OBJ, 6, 0),
            e(ACL_GROUP_OBJ, 4, 5),
            e(ACL_MASK, 4, U),
            e(ACL_OTHER, 0, U),
        ];
        assert!(acl_parse(&acl_encode(&m)).is_ok());
        // Named ids in any order, even twice: the kernel's `posix_acl_valid` accepts them (a
        // raw setxattr may store them so), so fsck must not drop them.
        let unsorted = [
            e(ACL_USER_OBJ, 6, U),
            e(ACL_USER, 6, 1001),
            e(ACL_USER, 6, 1000),
            e(ACL_USER, 4, 1000),
            e(ACL_GROUP_OBJ, 4, U),
            e(ACL_MASK, 6, U),
            e(ACL_OTHER, 4, U),
        ];
        assert_eq!(acl_parse(&acl_encode(&unsorted)).unwrap(), unsorted);
    }

    #[test]
    fn invalid_acls_are_refused() {
        let ok = |entries: &[AclEntry]| acl_parse(&acl_encode(entries));
        let base = [
            e(ACL_USER_OBJ, 6, U),
            e(ACL_GROUP_OBJ, 4, U),
            e(ACL_OTHER, 4, U),
        ];
        let mut v = acl_encode(&base);
        v[0] = 1;
        assert_eq!(acl_parse(&v).unwrap_err(), "has version 1, not 2");
        assert!(acl_parse(&v[..27]).unwrap_err().contains("has 27 bytes"));
        assert!(acl_parse(&[]).is_err());
        assert_eq!(acl_parse(&v[..4]).unwrap_err(), "has version 1, not 2");
        assert_eq!(acl_parse(&acl_encode(&[])).unwrap_err(), "has no entries");
        let cases: [(&[AclEntry], &str); 8] = [
            (
                &[
                    e(ACL_USER_OBJ, 6, U),
                    e(ACL_USER_OBJ, 6, U),
                    e(ACL_GROUP_OBJ, 4, U),
                    e(ACL_OTHER, 4, U),
                ],
                "has 2 user:: entries, not one",
            ),
            (
                &[e(ACL_USER_OBJ, 6, U), e(ACL_OTHER, 4, U)],
                "has 0 group:: entries, not one",
            ),
            (
                &[
                    e(ACL_USER_OBJ, 6, U),
                    e(ACL_USER, 6, 1000),
                    e(ACL_GROUP_OBJ, 4, U),
                    e(ACL_OTHER, 4, U),
                ],
                "has named user or group entries but no mask:: entry",
            ),
            (
                &[
                    e(ACL_GROUP_OBJ, 4, U),
                    e(ACL_USER_OBJ, 6, U),
                    e(ACL_OTHER, 4, U),
                ],
                "has entry 1 (user::rw-) out of order after group::r--",
            ),
            (
                &[
                    e(ACL_USER_OBJ, 6, U),
                    e(ACL_GROUP_OBJ, 4, U),
                    e(ACL_MASK, 6, U),
                    e(ACL_MASK, 6, U),
                    e(ACL_OTHER, 4, U),
                ],
                "has 2 mask:: entries, at most one",
            ),
            (
                &[
                    e(ACL_USER_OBJ, 6, U),
                    e(0x40, 6, U),
                    e(ACL_GROUP_OBJ, 4, U),
                    e(ACL_OTHER, 4, U),
                ],
                "has entry 1 with an unknown tag 0x40",
            ),
            (
                &[
                    e(ACL_USER_OBJ, 0o10, U),
                    e(ACL_GROUP_OBJ, 4, U),
                    e(ACL_OTHER, 4, U),
                ],
                "has entry 0 (user::---+0x8) with permission bits beyond rwx",
            ),
            (
                &[
                    e(ACL_USER_OBJ, 6, U),
                    e(ACL_USER, 6, U),
                    e(ACL_GROUP_OBJ, 4, U),
                    e(ACL_MASK, 6, U),
                    e(ACL_OTHER, 4, U),
                ],
                "has entry 1 (user:4294967295:rw-) naming the undefined id",
            ),
        ];
        for (entries, want) in cases {
            assert_eq!(ok(entries).unwrap_err(), want);
        }
    }

    #[test]
    fn where_acls_may_be_and_how_long() {
        assert_eq!(acl_type_fault(XATTR_INDEX_ACL_ACCESS, S_IFREG), None);
        assert_eq!(acl_type_fault(XATTR_INDEX_ACL_DEFAULT, S_IFDIR), None);
        assert!(acl_type_fault(XATTR_INDEX_ACL_DEFAULT, S_IFREG).is_some());
        assert!(acl_type_fault(XATTR_INDEX_ACL_ACCESS, S_IFLNK).is_some());
        assert!(acl_type_fault(XATTR_INDEX_ACL_DEFAULT, S_IFLNK).is_some());
        assert_eq!(acl_type_fault(XATTR_INDEX_USER, S_IFLNK), None);
        // 30 entries fit inline with 1 KiB blocks, 31 do not.
        let entry = |i: u32| e(ACL_USER, 4, i);
        let mut many = vec![e(ACL_USER_OBJ, 6, U)];
        many.extend((0..26).map(entry));
        many.extend([
            e(ACL_GROUP_OBJ, 4, U),
            e(ACL_MASK, 4, U),
            e(ACL_OTHER, 0, U),
        ]);
        assert_eq!(acl_value_fault(&acl_encode(&many), 1024), None);
        many.insert(1, e(ACL_USER, 4, 999_999));
        many[1..28].sort_by_key(|e| e.id);
        let v = acl_encode(&many);
        assert!(acl_parse(&v).is_ok());
        assert_eq!(
            acl_value_fault(&v, 1024).unwrap(),
            "has 252 bytes, more than an ACL may keep inline (246)"
        );
        assert_eq!(acl_value_fault(&v, 4096), None);
    }
}
