// SPDX-License-Identifier: GPL-2.0

//! Metadata corruption of rextfs images, for the kernel's mount and read
//! paths (scripts/corrupt-test). A populated base image is built with the
//! rextfs-tools library (or taken from the kernel); its metadata is located
//! through the same library; targeted mutations hit known fields of every
//! structure (superblock, bitmaps, inodes, extent nodes, directory blocks,
//! the directory hash index, xattr blocks, xattr value blocks and ACLs),
//! most of them with the checksums recomputed so that the kernel's semantic
//! checks, not only its checksum checks, are exercised; random mutations
//! flip bytes anywhere in the metadata.

use crate::rng::Rng;
use rextfs_tools::acl::{
    acl_encode, AclEntry, ACL_GROUP, ACL_GROUP_OBJ, ACL_MASK, ACL_OTHER, ACL_UNDEFINED_ID,
    ACL_USER, ACL_USER_OBJ,
};
use rextfs_tools::format::*;
use rextfs_tools::fsck::{fsck, FsckOptions};
use rextfs_tools::mkfs::{mkfs, MkfsOptions};
use rextfs_tools::{Fs, MemDev};

type Res<T> = std::result::Result<T, String>;

/// What the kernel must do with a mutated image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// The mount must fail, or walking the tree must report errors.
    MustFail,
    /// Anything but a kernel oops/BUG/WARN or a hang is acceptable (the
    /// damage may be in a field a read-only walk never needs).
    MayPass,
}

impl Expect {
    /// Manifest name.
    pub fn name(self) -> &'static str {
        match self {
            Expect::MustFail => "must-fail",
            Expect::MayPass => "may-pass",
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Seal {
    Sb,
    Meta(u64),
    Inode(u64),
    /// The journal super block in block `.0`.
    Jsb(u64),
}

#[derive(Clone, Debug)]
enum Edit {
    Put(u64, Vec<u8>),
    Xor(u64, u8),
    Copy { from: u64, to: u64, len: u64 },
}

/// One mutation of a base image.
#[derive(Clone, Debug)]
pub struct Mutation {
    /// Unique name.
    pub name: String,
    /// What the kernel must do.
    pub expect: Expect,
    /// Human description.
    pub what: String,
    edits: Vec<Edit>,
    seals: Vec<Seal>,
}

impl Mutation {
    /// The byte ranges `[start, end)` the edits change (checksums aside).
    pub fn ranges(&self) -> Vec<(u64, u64)> {
        self.edits
            .iter()
            .map(|e| match e {
                Edit::Put(off, data) => (*off, off + data.len() as u64),
                Edit::Xor(off, _) => (*off, off + 1),
                Edit::Copy { to, len, .. } => (*to, to + len),
            })
            .collect()
    }

    /// An offset inside each structure whose checksum is recomputed.
    pub fn seal_offsets(&self, info: &Info) -> Vec<u64> {
        self.seals
            .iter()
            .map(|s| match *s {
                Seal::Sb => 0,
                Seal::Meta(b) | Seal::Jsb(b) => b * info.bs,
                Seal::Inode(ino) => inode_off(info, ino),
            })
            .collect()
    }

    /// A random mutation with its checksums recomputed: its damage may be
    /// an undetectable plausible value (see `corrupt_check`).
    pub fn random_sealed(&self) -> bool {
        self.name.starts_with("random-") && !self.seals.is_empty()
    }
}

/// Where the metadata of an image lies.
#[derive(Debug, Default)]
pub struct Info {
    /// Block size.
    pub bs: u64,
    /// Superblock.
    pub sb: Option<Superblock>,
    /// Inodes reachable from the root: (ino, inode, path).
    pub inodes: Vec<(u64, Inode, String)>,
    /// Extent-tree node blocks by owner.
    pub ext_nodes: Vec<(u64, u64)>,
    /// Directory blocks by owner.
    pub dir_blocks: Vec<(u64, u64)>,
    /// Directory index node blocks by owner.
    pub index_nodes: Vec<(u64, u64)>,
    /// Xattr blocks, each chain in its order.
    pub xattr_blocks: Vec<XattrBlock>,
    /// Xattr value blocks, each chain in its order.
    pub xvalue_blocks: Vec<XvalueBlock>,
}

impl Info {
    /// The inode reached by `path` ("/a", directories "/d/").
    pub fn ino_of(&self, path: &str) -> Option<u64> {
        self.inodes.iter().find(|i| i.2 == path).map(|i| i.0)
    }

    /// The owner of metadata block `blk` of a file (extent node, directory block,
    /// index node, xattr or value block), if it is one.
    pub fn owner_of(&self, blk: u64) -> Option<u64> {
        let owner = |v: &[(u64, u64)]| v.iter().find(|x| x.1 == blk).map(|x| x.0);
        owner(&self.ext_nodes)
            .or_else(|| owner(&self.dir_blocks))
            .or_else(|| owner(&self.index_nodes))
            .or_else(|| {
                self.xattr_blocks
                    .iter()
                    .find(|x| x.block == blk)
                    .map(|x| x.owner)
            })
            .or_else(|| {
                self.xvalue_blocks
                    .iter()
                    .find(|x| x.block == blk)
                    .map(|x| x.owner)
            })
    }
}

/// An xattr block, as `analyze` found it.
#[derive(Clone, Debug)]
pub struct XattrBlock {
    /// The inode whose chain holds it.
    pub owner: u64,
    /// Its block number.
    pub block: u64,
    /// The next block of the chain (0: the last).
    pub next: u64,
    /// Bytes of entries.
    pub used: u32,
    /// Its entries.
    pub entries: Vec<XattrEnt>,
}

/// One entry of an xattr block.
#[derive(Clone, Debug)]
pub struct XattrEnt {
    /// Offset of the entry in its block.
    pub off: u64,
    /// Namespace index.
    pub index: u8,
    /// Length of the name.
    pub name_len: u8,
    /// Length of the value.
    pub value_len: u32,
    /// The first value block of an external value.
    pub external: Option<u64>,
}

impl XattrEnt {
    /// Offset in the block of the inline value, or of the first value block's number.
    pub fn value_off(&self) -> u64 {
        self.off + XATTR_ENTRY_FIXED as u64 + self.name_len as u64
    }
}

/// An xattr value block, as `analyze` found it.
#[derive(Clone, Debug)]
pub struct XvalueBlock {
    /// The inode whose attribute it holds (part of) the value of.
    pub owner: u64,
    /// Its block number.
    pub block: u64,
    /// The next block of the value (0: the last).
    pub next: u64,
    /// Bytes of the value in this block.
    pub len: u32,
}

fn fixed_opts(log2: u32) -> MkfsOptions {
    MkfsOptions {
        block_log2: log2,
        uuid: Some([0x5a; 16]),
        hash_key: Some(*b"corrupt-base key"),
        time: Some(1_750_000_000),
        label: b"corrupt-base".to_vec(),
        inodes: Some(1024),
        ..Default::default()
    }
}

fn e<T>(r: rextfs_tools::Result<T>) -> Res<T> {
    r.map_err(|e| e.to_string())
}

/// The inline attributes of the base's `/xattrs`.
pub const BASE_INLINE_XATTRS: [(u8, &[u8], &[u8]); 4] = [
    (XATTR_INDEX_USER, b"color", b"blue"),
    (XATTR_INDEX_USER, b"empty", b""),
    (XATTR_INDEX_TRUSTED, b"rextfs", b"a trusted value"),
    (XATTR_INDEX_SECURITY, b"rextfs", b"label"),
];
/// Length of the value of `user.big` of the base's `/bigxattr`.
pub const BASE_BIG_XATTR_LEN: usize = 10240;
/// Attributes `user.chain-N` of the base's `/manyxattrs`.
pub const BASE_CHAIN_XATTRS: usize = 6;

/// The access and default ACLs of the base's `/acl-dir/` (mode 0750):
/// `user::rwx,user:1000:r-x,group::r-x,mask::r-x,other::---` and
/// `user::rwx,group::r-x,group:100:rwx,mask::rwx,other::r-x`.
pub fn base_acls() -> (Vec<AclEntry>, Vec<AclEntry>) {
    let e = |tag, perm, id| AclEntry { tag, perm, id };
    let u = ACL_UNDEFINED_ID;
    (
        vec![
            e(ACL_USER_OBJ, 7, u),
            e(ACL_USER, 5, 1000),
            e(ACL_GROUP_OBJ, 5, u),
            e(ACL_MASK, 5, u),
            e(ACL_OTHER, 0, u),
        ],
        vec![
            e(ACL_USER_OBJ, 7, u),
            e(ACL_GROUP_OBJ, 5, u),
            e(ACL_GROUP, 7, 100),
            e(ACL_MASK, 7, u),
            e(ACL_OTHER, 5, u),
        ],
    )
}

/// Builds a populated image of `size` bytes with `1 << log2`-byte blocks:
/// nested directories, a directory big enough for a hash index, files with
/// one and many extents (block extent nodes), a sparse file with unwritten
/// blocks, fast and slow symlinks, a hard link and special files; then
/// extended attributes: inline ones of three namespaces, a 10 KiB value in
/// value blocks, a chain of two xattr blocks, and a directory with an access
/// and a default ACL (tests/corrupt/corrupt-run.sh makes the same tree
/// through the kernel).
pub fn build_base(log2: u32, size: usize) -> Res<Vec<u8>> {
    let dev = MemDev::new(size);
    e(mkfs(Box::new(dev.clone()), &fixed_opts(log2)))?;
    let mut fs = e(Fs::open(Box::new(dev.clone())))?;
    fs.now = 1_750_000_100;
    let bs = fs.bs() as u64;
    let mut rng = Rng::new(log2 as u64);
    let mut data = |len: usize| {
        let mut v = vec![0u8; len];
        crate::rng::fill_pattern(rng.next_u64(), &mut v);
        v
    };
    let r = ROOT_INO;
    let dir = e(fs.mkdir(r, b"dir", 0o755))?;
    let sub = e(fs.mkdir(dir, b"sub", 0o750))?;
    let deep = e(fs.mkdir(sub, b"deep", 0o700))?;
    let f = e(fs.create(deep, b"leaf.txt", 0o644))?;
    e(fs.write(f, 0, b"hello from the bottom of the tree\n"))?;
    let small = e(fs.create(r, b"small", 0o644))?;
    e(fs.write(small, 0, &data(100)))?;
    let multi = e(fs.create(r, b"multi", 0o644))?;
    e(fs.write(multi, 0, &data(5 * bs as usize + 123)))?;
    // Every other block: one extent each, more than the inline root holds.
    let frag = e(fs.create(dir, b"fragmented", 0o600))?;
    for i in 0..24u64 {
        e(fs.write(frag, i * 2 * bs, &data(bs as usize)))?;
    }
    let sparse = e(fs.create(r, b"sparse", 0o644))?;
    e(fs.write(sparse, 40 * bs, &data(300)))?;
    e(fs.fallocate(sparse, 4, 3))?;
    e(fs.write(sparse, 2, b"x"))?;
    let big = e(fs.mkdir(r, b"big", 0o755))?;
    let n = (bs / 24) as usize; // enough names for two blocks and an index
    for i in 0..n {
        let name = format!("name-{i:04}-{}", "y".repeat(i % 13));
        let c = e(fs.create(big, name.as_bytes(), 0o644))?;
        if i % 9 == 0 {
            e(fs.write(c, 0, &data(17 + i)))?;
        }
    }
    e(fs.symlink(r, b"fast-link", b"dir/sub/deep/leaf.txt"))?;
    let long = format!("{}/target", "long-component".repeat(20));
    e(fs.symlink(dir, b"slow-link", long.as_bytes()))?;
    e(fs.link(sub, b"hard-link", multi))?;
    e(fs.mknod(r, b"null-dev", S_IFCHR | 0o666, (1 << 8) | 3))?;
    e(fs.mknod(r, b"fifo", S_IFIFO | 0o644, 0))?;
    // Extended attributes, made last so that the objects above keep their
    // inodes and blocks.
    let xa = e(fs.create(r, b"xattrs", 0o644))?;
    e(fs.write(xa, 0, b"a file with attributes\n"))?;
    for (index, name, value) in BASE_INLINE_XATTRS {
        e(fs.xattr_set(xa, index, name, value))?;
    }
    let bigx = e(fs.create(r, b"bigxattr", 0o644))?;
    e(fs.write(bigx, 0, &data(50)))?;
    e(fs.xattr_set(bigx, XATTR_INDEX_USER, b"big", &data(BASE_BIG_XATTR_LEN)))?;
    // Values of the largest inline size: three fill a block, six take two.
    let chain = e(fs.create(r, b"manyxattrs", 0o644))?;
    for i in 0..BASE_CHAIN_XATTRS {
        let name = format!("chain-{i}");
        let v = data(xattr_inline_max(bs as usize));
        e(fs.xattr_set(chain, XATTR_INDEX_USER, name.as_bytes(), &v))?;
    }
    let acld = e(fs.mkdir(r, b"acl-dir", 0o750))?;
    let (access, default) = base_acls();
    e(fs.xattr_set(acld, XATTR_INDEX_ACL_ACCESS, b"", &acl_encode(&access)))?;
    e(fs.xattr_set(acld, XATTR_INDEX_ACL_DEFAULT, b"", &acl_encode(&default)))?;
    e(fs.flush())?;
    drop(fs);
    let bytes = dev.to_bytes();
    let r = fsck(
        Box::new(MemDev::from_bytes(&bytes)),
        &FsckOptions {
            repair: false,
            verbose: false,
            ..Default::default()
        },
    );
    if r.exit_code != 0 {
        return Err(format!(
            "the base image is not clean:\n{}",
            r.lines.join("\n")
        ));
    }
    Ok(bytes)
}

/// Locates the metadata of an image by walking it from the root.
pub fn analyze(bytes: &[u8]) -> Res<Info> {
    let mut fs = e(Fs::open(Box::new(MemDev::from_bytes(bytes))))?;
    let mut info = Info {
        bs: fs.bs() as u64,
        sb: Some(fs.sb),
        ..Info::default()
    };
    let mut todo = vec![(ROOT_INO, String::from("/"))];
    let mut seen = std::collections::BTreeSet::new();
    while let Some((ino, path)) = todo.pop() {
        if !seen.insert(ino) {
            continue;
        }
        let inode = e(fs.read_inode(ino))?;
        for b in e(fs.extent_nodes(ino, &inode))? {
            info.ext_nodes.push((ino, b));
        }
        if inode.xattr != 0 {
            analyze_xattrs(bytes, &mut fs, &mut info, ino, &inode)?;
        }
        if inode.is_dir() {
            for x in e(fs.extents(ino, &inode))? {
                for b in x.physical..x.physical + x.len as u64 {
                    info.dir_blocks.push((ino, b));
                }
            }
            if inode.dir_index_root != 0 {
                info.index_nodes.push((ino, inode.dir_index_root));
            }
            for ent in e(fs.read_dir(ino))? {
                let name = String::from_utf8_lossy(&ent.name).into_owned();
                todo.push((
                    ent.ino,
                    format!(
                        "{}{name}{}",
                        path,
                        if ent.file_type == FT_DIR { "/" } else { "" }
                    ),
                ));
            }
        }
        info.inodes.push((ino, inode, path));
    }
    info.inodes.sort_by_key(|i| i.0);
    Ok(info)
}

/// Records the xattr blocks and value blocks of `ino`.
fn analyze_xattrs(bytes: &[u8], fs: &mut Fs, info: &mut Info, ino: u64, inode: &Inode) -> Res<()> {
    let bs = info.bs as usize;
    let block = |b: u64| &bytes[b as usize * bs..(b as usize + 1) * bs];
    let chain = e(fs.xattr_chain(ino, inode))?;
    for &b in &chain.blocks {
        let buf = block(b);
        let entries = XattrIter::new(buf)
            .map(|x| XattrEnt {
                off: x.off as u64,
                index: x.index,
                name_len: x.name.len() as u8,
                value_len: x.value.len() as u32,
                external: match x.value {
                    XattrValue::External { block, .. } => Some(block),
                    XattrValue::Inline(_) => None,
                },
            })
            .collect();
        info.xattr_blocks.push(XattrBlock {
            owner: ino,
            block: b,
            next: xattr_block_next(buf),
            used: u32::from_le_bytes(buf[0x20..0x24].try_into().unwrap()),
            entries,
        });
    }
    for a in &chain.attrs {
        for &b in &a.value_blocks {
            let buf = block(b);
            info.xvalue_blocks.push(XvalueBlock {
                owner: ino,
                block: b,
                next: u64::from_le_bytes(buf[0x18..0x20].try_into().unwrap()),
                len: u32::from_le_bytes(buf[0x20..0x24].try_into().unwrap()),
            });
        }
    }
    Ok(())
}

fn put_u16(v: u16) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}
fn put_u32(v: u32) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}
fn put_u64(v: u64) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

/// Applies `m` to a copy of `base`.
pub fn apply(base: &[u8], info: &Info, m: &Mutation) -> Vec<u8> {
    let mut img = base.to_vec();
    for ed in &m.edits {
        match ed {
            Edit::Put(off, data) => {
                let o = *off as usize;
                img[o..o + data.len()].copy_from_slice(data);
            }
            Edit::Xor(off, mask) => img[*off as usize] ^= mask,
            Edit::Copy { from, to, len } => {
                let src = img[*from as usize..(*from + *len) as usize].to_vec();
                img[*to as usize..(*to + *len) as usize].copy_from_slice(&src);
            }
        }
    }
    for s in &m.seals {
        match *s {
            Seal::Sb => {
                let crc = crc32c_with_hole(0, &img[..SB_SIZE], SB_CRC_OFFSET);
                img[SB_CRC_OFFSET..SB_CRC_OFFSET + 4].copy_from_slice(&crc.to_le_bytes());
            }
            Seal::Meta(b) => {
                let o = (b * info.bs) as usize;
                let _ = meta_seal(&mut img[o..o + info.bs as usize]);
            }
            Seal::Jsb(b) => {
                let o = (b * info.bs) as usize;
                let j = &mut img[o..o + JSB_SIZE];
                let crc = crc32c_with_hole(0, j, JOURNAL_CRC_OFFSET);
                j[JOURNAL_CRC_OFFSET..JOURNAL_CRC_OFFSET + 4].copy_from_slice(&crc.to_le_bytes());
            }
            Seal::Inode(ino) => {
                let off = inode_off(info, ino) as usize;
                let slot = &mut img[off..off + INODE_SIZE];
                slot[INODE_CRC_OFFSET..INODE_CRC_OFFSET + 4].fill(0);
                let crc = inode_checksum(ino, slot);
                slot[INODE_CRC_OFFSET..INODE_CRC_OFFSET + 4].copy_from_slice(&crc.to_le_bytes());
            }
        }
    }
    img
}

fn inode_off(info: &Info, ino: u64) -> u64 {
    let sb = info.sb.as_ref().unwrap();
    let (blk, off) = sb.inode_location(ino).unwrap();
    blk * info.bs + off as u64
}

struct Builder<'a> {
    info: &'a Info,
    out: Vec<Mutation>,
}

impl Builder<'_> {
    fn add(&mut self, name: &str, expect: Expect, what: &str, edits: Vec<Edit>, seals: Vec<Seal>) {
        self.out.push(Mutation {
            name: name.into(),
            expect,
            what: what.into(),
            edits,
            seals,
        });
    }

    fn sb(&mut self, name: &str, expect: Expect, what: &str, off: u64, val: Vec<u8>) {
        self.add(
            &format!("sb-{name}"),
            expect,
            what,
            vec![Edit::Put(off, val)],
            vec![Seal::Sb],
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn inode(
        &mut self,
        tag: &str,
        ino: u64,
        name: &str,
        expect: Expect,
        what: &str,
        off: u64,
        val: Vec<u8>,
    ) {
        let base = inode_off(self.info, ino);
        self.add(
            &format!("inode-{tag}-{name}"),
            expect,
            &format!("inode {ino} ({tag}): {what}"),
            vec![Edit::Put(base + off, val)],
            vec![Seal::Inode(ino)],
        );
    }

    fn meta(&mut self, name: &str, expect: Expect, what: &str, blk: u64, off: u64, val: Vec<u8>) {
        let base = blk * self.info.bs;
        self.add(
            name,
            expect,
            what,
            vec![Edit::Put(base + off, val)],
            vec![Seal::Meta(blk)],
        );
    }
}

/// The targeted mutations of an analysed image.
pub fn targeted(info: &Info) -> Vec<Mutation> {
    use Expect::*;
    let sb = info.sb.unwrap();
    let l = sb.layout;
    let bs = info.bs;
    let mut b = Builder {
        info,
        out: Vec::new(),
    };
    // Journal super block: the kernel refuses the mount, fsck reports (and rewrites) it.
    let jb = l.journal_start * bs;
    b.add(
        "journal-magic",
        MustFail,
        "journal super block magic",
        vec![Edit::Xor(jb, 0xff)],
        vec![],
    );
    b.add(
        "journal-crc",
        MustFail,
        "journal super block checksum",
        vec![Edit::Xor(jb + 4, 0x01)],
        vec![],
    );
    b.add(
        "journal-tail-range",
        MustFail,
        "journal tail past the end of the journal",
        vec![Edit::Put(
            jb + 0x20,
            l.journal_blocks.to_le_bytes().to_vec(),
        )],
        vec![Seal::Jsb(l.journal_start)],
    );
    b.add(
        "journal-size",
        MustFail,
        "journal size not the one of the layout",
        vec![Edit::Put(
            jb + 0x10,
            (l.journal_blocks + 1).to_le_bytes().to_vec(),
        )],
        vec![Seal::Jsb(l.journal_start)],
    );
    b.add(
        "journal-uuid",
        MustFail,
        "journal of another file system (UUID)",
        vec![Edit::Xor(jb + 0x28, 0x5a)],
        vec![Seal::Jsb(l.journal_start)],
    );
    // Superblock.
    b.add(
        "sb-magic",
        MustFail,
        "superblock magic",
        vec![Edit::Xor(0, 0xff)],
        vec![],
    );
    b.add(
        "sb-crc",
        MustFail,
        "superblock checksum",
        vec![Edit::Xor(4, 0x01)],
        vec![],
    );
    b.add(
        "sb-bitflip-unsealed",
        MustFail,
        "one bit of total_blocks, checksum not updated",
        vec![Edit::Xor(0x20, 0x10)],
        vec![],
    );
    b.sb(
        "version",
        MustFail,
        "format version 1 (before the journal)",
        0x08,
        put_u32(1),
    );
    b.sb("block-log2-9", MustFail, "block size 512", 0x0C, put_u32(9));
    b.sb(
        "block-log2-17",
        MustFail,
        "block size 128 KiB",
        0x0C,
        put_u32(17),
    );
    b.sb(
        "block-log2-other",
        MustFail,
        "block size doubled",
        0x0C,
        put_u32(sb.block_log2 + 1),
    );
    b.sb(
        "incompat",
        MustFail,
        "unknown incompatible feature",
        0x14,
        put_u32(1 << 7),
    );
    b.sb(
        "ro-compat",
        MayPass,
        "unknown read-only compatible feature (read-write mount refused)",
        0x18,
        put_u32(1),
    );
    b.sb(
        "state",
        MustFail,
        "unknown state bit",
        0x1C,
        put_u32(0x80 | sb.state),
    );
    b.sb(
        "total-blocks-big",
        MustFail,
        "total_blocks beyond the device",
        0x20,
        put_u64(sb.total_blocks * 4),
    );
    b.sb(
        "total-blocks-huge",
        MustFail,
        "total_blocks 2^63",
        0x20,
        put_u64(1 << 63),
    );
    b.sb(
        "total-blocks-zero",
        MustFail,
        "total_blocks 0",
        0x20,
        put_u64(0),
    );
    b.sb(
        "free-blocks",
        MustFail,
        "free_blocks above the data blocks",
        0x28,
        put_u64(sb.total_blocks),
    );
    b.sb(
        "total-inodes",
        MustFail,
        "total_inodes not matching the layout",
        0x30,
        put_u64(sb.total_inodes * 3),
    );
    b.sb(
        "total-inodes-zero",
        MustFail,
        "total_inodes 0",
        0x30,
        put_u64(0),
    );
    b.sb(
        "free-inodes",
        MustFail,
        "free_inodes above total",
        0x38,
        put_u64(sb.total_inodes + 1),
    );
    b.sb(
        "bbm-start",
        MustFail,
        "block bitmap start moved",
        0x40,
        put_u64(l.block_bitmap_start + 1),
    );
    b.sb(
        "ibm-start",
        MustFail,
        "inode bitmap start moved",
        0x50,
        put_u64(l.inode_bitmap_start + 1),
    );
    b.sb(
        "itable-start",
        MustFail,
        "inode table start moved",
        0x60,
        put_u64(l.inode_table_start + 1),
    );
    b.sb(
        "itable-blocks",
        MustFail,
        "inode table shorter",
        0x68,
        put_u64(l.inode_table_blocks - 1),
    );
    b.sb(
        "data-start",
        MustFail,
        "data start inside the inode table",
        0x70,
        put_u64(l.data_start - 1),
    );
    b.sb("root-ino", MustFail, "root inode 2", 0x78, put_u64(2));
    b.sb(
        "orphan-range",
        MustFail,
        "orphan head past the inode table",
        0x80,
        put_u64(sb.total_inodes + 9),
    );
    b.sb("first-ino", MustFail, "first inode 9", 0x88, put_u64(9));
    b.sb("inode-size", MustFail, "inode size 128", 0xC4, put_u32(128));
    b.sb(
        "label",
        MayPass,
        "label without a NUL",
        0xA0,
        vec![b'X'; 32],
    );
    b.sb(
        "reserved",
        MayPass,
        "reserved bytes set",
        0x200,
        vec![0xee; 16],
    );
    if let Some((ino, _, _)) = info.inodes.iter().find(|i| i.1.is_reg() && i.1.nlink > 0) {
        b.sb(
            "orphan-live",
            MayPass,
            "orphan head names a live, linked file",
            0x80,
            put_u64(*ino),
        );
    }
    // Bitmaps: only allocation uses them; a read-only walk may not notice.
    let bb = l.block_bitmap_start;
    let ib = l.inode_bitmap_start;
    b.add(
        "bbm-magic",
        MayPass,
        "block bitmap magic",
        vec![Edit::Xor(bb * bs, 0xff)],
        vec![],
    );
    b.add(
        "bbm-crc",
        MayPass,
        "block bitmap checksum",
        vec![Edit::Xor(bb * bs + 4, 1)],
        vec![],
    );
    let used = BITMAP_HDR_SIZE as u64 + l.data_start / 8 + 1;
    b.meta(
        "bbm-clear-used",
        MayPass,
        "block bitmap: used data blocks marked free",
        bb,
        used,
        vec![0],
    );
    b.meta(
        "bbm-blockno",
        MayPass,
        "block bitmap: wrong block number",
        bb,
        8,
        put_u64(bb + 7),
    );
    b.add(
        "ibm-magic",
        MayPass,
        "inode bitmap magic",
        vec![Edit::Xor(ib * bs, 0xff)],
        vec![],
    );
    b.meta(
        "ibm-clear-root",
        MayPass,
        "inode bitmap: root and reserved inodes free",
        ib,
        BITMAP_HDR_SIZE as u64,
        vec![0],
    );
    b.meta(
        "ibm-set-all",
        MayPass,
        "inode bitmap: free inodes 801..960 marked in use",
        ib,
        BITMAP_HDR_SIZE as u64 + 100,
        vec![0xff; 20],
    );
    // Inodes: the root, a directory, files, symlinks, a device.
    let pick = |f: &dyn Fn(&Inode, &str) -> bool| {
        info.inodes.iter().find(|(_, i, p)| f(i, p)).map(|x| x.0)
    };
    let mut picks: Vec<(&str, u64)> = vec![("root", ROOT_INO)];
    if let Some(x) = pick(&|i, p| i.is_dir() && p == "/dir/") {
        picks.push(("dir", x));
    }
    if let Some(x) = pick(&|i, p| i.is_dir() && i.dir_index_root != 0 && p != "/") {
        picks.push(("bigdir", x));
    }
    if let Some(x) = pick(&|i, p| i.is_reg() && p.ends_with("fragmented")) {
        picks.push(("frag", x));
    }
    if let Some(x) = pick(&|i, p| i.is_reg() && p.ends_with("/multi")) {
        picks.push(("file", x));
    }
    if let Some(x) = pick(&|i, _| i.is_symlink() && i.has_inline_data()) {
        picks.push(("fastlink", x));
    }
    if let Some(x) = pick(&|i, _| i.is_symlink() && !i.has_inline_data()) {
        picks.push(("slowlink", x));
    }
    if let Some(x) = pick(&|i, _| i.file_type() == S_IFCHR) {
        picks.push(("chr", x));
    }
    for &(tag, ino) in &picks {
        let inode = &info.inodes.iter().find(|i| i.0 == ino).unwrap().1;
        let base = inode_off(info, ino);
        b.add(
            &format!("inode-{tag}-magic"),
            MustFail,
            &format!("inode {ino} ({tag}) magic"),
            vec![Edit::Xor(base, 0xff)],
            vec![],
        );
        b.add(
            &format!("inode-{tag}-crc"),
            MustFail,
            &format!("inode {ino} ({tag}) checksum"),
            vec![Edit::Xor(base + 4, 1)],
            vec![],
        );
        b.add(
            &format!("inode-{tag}-zeroed"),
            MustFail,
            &format!("inode {ino} ({tag}) slot zeroed (free) but referenced"),
            vec![Edit::Put(base, vec![0; INODE_SIZE])],
            vec![],
        );
        b.inode(
            tag,
            ino,
            "mode-type",
            MustFail,
            "invalid file type 0o170000",
            0x02,
            put_u16(0o170000 | (inode.mode & 0o7777)),
        );
        b.inode(
            tag,
            ino,
            "flags",
            MustFail,
            "unknown flag",
            0x14,
            put_u32(inode.flags | 0x0100_0000),
        );
        b.inode(
            tag,
            ino,
            "xattr-outside",
            MustFail,
            "extended attribute block past the end of the device",
            0x78,
            put_u64(1 << 47),
        );
        b.inode(
            tag,
            ino,
            "nsec",
            MustFail,
            "mtime nanoseconds >= 10^9",
            0x6C,
            put_u32(1_000_000_000),
        );
        if tag != "root" {
            b.inode(
                tag,
                ino,
                "nlink0",
                MustFail,
                "nlink 0 but referenced",
                0x10,
                put_u32(0),
            );
        }
        if inode.is_dir() {
            b.inode(
                tag,
                ino,
                "parent0",
                MustFail,
                "directory parent 0",
                0x28,
                put_u64(0),
            );
            b.inode(
                tag,
                ino,
                "size-odd",
                MustFail,
                "directory size not a block multiple",
                0x18,
                put_u64(inode.size + 1),
            );
            b.inode(
                tag,
                ino,
                "to-reg",
                MustFail,
                "directory turned into a regular file",
                0x02,
                put_u16(S_IFREG | 0o644),
            );
        } else {
            b.inode(
                tag,
                ino,
                "parent",
                MustFail,
                "non-directory with a parent",
                0x28,
                put_u64(ROOT_INO),
            );
            b.inode(
                tag,
                ino,
                "index-root",
                MustFail,
                "non-directory with a hash index",
                0x38,
                put_u64(sb.layout.data_start),
            );
        }
        if inode.is_reg() {
            b.inode(
                tag,
                ino,
                "to-dir",
                MustFail,
                "regular file turned into a directory",
                0x02,
                put_u16(S_IFDIR | 0o755),
            );
            b.inode(
                tag,
                ino,
                "size-huge",
                MustFail,
                "size past the largest mapping",
                0x18,
                put_u64(u64::MAX - 7),
            );
            b.inode(
                tag,
                ino,
                "rdev",
                MustFail,
                "regular file with a device number",
                0x44,
                put_u32(0x0801),
            );
        }
        if inode.has_inline_data() {
            b.inode(
                tag,
                ino,
                "inline-size0",
                MustFail,
                "fast symlink of size 0",
                0x18,
                put_u64(0),
            );
            b.inode(
                tag,
                ino,
                "inline-size-big",
                MustFail,
                "fast symlink longer than the area",
                0x18,
                put_u64(200),
            );
            b.inode(
                tag,
                ino,
                "inline-flag-off",
                MustFail,
                "fast symlink without INLINE_DATA",
                0x14,
                put_u32(inode.flags & !INODE_FLAG_INLINE_DATA),
            );
            continue;
        }
        // The inline extent root: header and first records.
        let area = 0x80u64;
        b.inode(
            tag,
            ino,
            "root-magic",
            MustFail,
            "extent root magic",
            area,
            put_u16(0x4242),
        );
        b.inode(
            tag,
            ino,
            "root-kind",
            MustFail,
            "extent root of the index kind",
            area + 2,
            vec![2],
        );
        b.inode(
            tag,
            ino,
            "root-level",
            MustFail,
            "extent root level 5",
            area + 3,
            vec![5],
        );
        b.inode(
            tag,
            ino,
            "root-nr",
            MustFail,
            "extent root with more records than room",
            area + 4,
            put_u16(60),
        );
        b.inode(
            tag,
            ino,
            "root-max",
            MustFail,
            "extent root capacity 2",
            area + 6,
            put_u16(2),
        );
        let nr = u16::from_le_bytes([inode.area[4], inode.area[5]]);
        let level = inode.area[3];
        if nr > 0 && level == 0 {
            let rec = area + 8;
            b.inode(
                tag,
                ino,
                "ext-phys0",
                MustFail,
                "extent at physical block 0",
                rec + 8,
                put_u64(0),
            );
            b.inode(
                tag,
                ino,
                "ext-phys-meta",
                MustFail,
                "extent in the inode table",
                rec + 8,
                put_u64(l.inode_table_start),
            );
            b.inode(
                tag,
                ino,
                "ext-phys-end",
                MustFail,
                "extent past the device",
                rec + 8,
                put_u64(sb.total_blocks - 1),
            );
            b.inode(
                tag,
                ino,
                "ext-len0",
                MustFail,
                "extent of length 0",
                rec + 16,
                put_u32(0),
            );
            b.inode(
                tag,
                ino,
                "ext-len-huge",
                MustFail,
                "extent of 2^32-1 blocks",
                rec + 16,
                put_u32(u32::MAX),
            );
            b.inode(
                tag,
                ino,
                "ext-logical-huge",
                MustFail,
                "extent past 2^63 bytes",
                rec,
                put_u64(u64::MAX - 2),
            );
            b.inode(
                tag,
                ino,
                "ext-flags",
                MustFail,
                "unknown extent flag",
                rec + 20,
                put_u32(0x10),
            );
            if nr > 1 {
                b.inode(
                    tag,
                    ino,
                    "ext-order",
                    MustFail,
                    "extents out of order",
                    rec + 24,
                    put_u64(0),
                );
            }
        } else if level > 0 {
            let rec = area + 8;
            b.inode(
                tag,
                ino,
                "child-meta",
                MustFail,
                "root child pointer into the superblock",
                rec + 8,
                put_u64(0),
            );
            b.inode(
                tag,
                ino,
                "child-self",
                MustFail,
                "root child pointer to a data block of another file",
                rec + 8,
                put_u64(l.data_start + 1),
            );
        }
    }
    // An inode copied into another slot: the seeded checksum must catch it.
    if picks.len() > 2 {
        let (from, to) = (inode_off(info, picks[1].1), inode_off(info, picks[2].1));
        b.add(
            "inode-wrong-slot",
            MustFail,
            "an inode copied into another inode's slot",
            vec![Edit::Copy {
                from,
                to,
                len: INODE_SIZE as u64,
            }],
            vec![],
        );
    }
    // Extent-tree block nodes.
    if let Some(&(owner, blk)) = info.ext_nodes.first() {
        let o = blk * bs;
        b.add(
            "extnode-magic",
            MustFail,
            "extent node magic",
            vec![Edit::Xor(o, 0xff)],
            vec![],
        );
        b.add(
            "extnode-crc",
            MustFail,
            "extent node checksum",
            vec![Edit::Xor(o + 4, 1)],
            vec![],
        );
        b.add(
            "extnode-bitflip",
            MustFail,
            "extent node record bit flip, checksum not updated",
            vec![Edit::Xor(o + 40, 4)],
            vec![],
        );
        b.meta(
            "extnode-blockno",
            MustFail,
            "extent node: wrong block number",
            blk,
            8,
            put_u64(blk + 1),
        );
        b.meta(
            "extnode-owner",
            MustFail,
            "extent node: wrong owner",
            blk,
            16,
            put_u64(owner + 1),
        );
        b.meta(
            "extnode-kind",
            MustFail,
            "extent node of the index kind",
            blk,
            0x18,
            vec![2],
        );
        b.meta(
            "extnode-level",
            MustFail,
            "extent node level 3",
            blk,
            0x19,
            vec![3],
        );
        b.meta(
            "extnode-nr",
            MustFail,
            "extent node: nr above max",
            blk,
            0x1A,
            put_u16(0xffff),
        );
        b.meta(
            "extnode-nr0",
            MustFail,
            "non-root extent node empty",
            blk,
            0x1A,
            put_u16(0),
        );
        b.meta(
            "extnode-max",
            MustFail,
            "extent node capacity 2",
            blk,
            0x1C,
            put_u16(2),
        );
        b.meta(
            "extnode-reserved",
            MustFail,
            "extent node reserved field",
            blk,
            0x1E,
            put_u16(1),
        );
        b.meta(
            "extnode-order",
            MustFail,
            "extent node records out of order",
            blk,
            32 + 24,
            put_u64(0),
        );
        b.meta(
            "extnode-phys",
            MustFail,
            "extent node: extent in the bitmaps",
            blk,
            32 + 8,
            put_u64(1),
        );
        b.meta(
            "extnode-overlap",
            MustFail,
            "extent node: first extent grown over the next",
            blk,
            32 + 16,
            put_u32(5),
        );
    }
    // Directory blocks (of the root and of the big directory).
    let mut dirs: Vec<(&str, u64, u64)> = Vec::new();
    if let Some(&(o, blk)) = info.dir_blocks.iter().find(|d| d.0 == ROOT_INO) {
        dirs.push(("rootdir", o, blk));
    }
    if let Some(&(o, blk)) = info.dir_blocks.iter().rev().find(|d| d.0 != ROOT_INO) {
        dirs.push(("dirblk", o, blk));
    }
    for (tag, owner, blk) in dirs {
        let o = blk * bs;
        let ent = DIR_HDR_SIZE as u64; // first entry
        b.add(
            &format!("{tag}-magic"),
            MustFail,
            "directory block magic",
            vec![Edit::Xor(o, 0xff)],
            vec![],
        );
        b.add(
            &format!("{tag}-crc"),
            MustFail,
            "directory block checksum",
            vec![Edit::Xor(o + 4, 1)],
            vec![],
        );
        b.add(
            &format!("{tag}-bitflip"),
            MustFail,
            "directory name bit flip, checksum not updated",
            vec![Edit::Xor(o + ent + 13, 1)],
            vec![],
        );
        b.meta(
            &format!("{tag}-blockno"),
            MustFail,
            "directory block: wrong block number",
            blk,
            8,
            put_u64(blk + 1),
        );
        b.meta(
            &format!("{tag}-owner"),
            MustFail,
            "directory block: wrong owner",
            blk,
            16,
            put_u64(owner + 1),
        );
        b.meta(
            &format!("{tag}-reclen0"),
            MustFail,
            "first entry rec_len 0",
            blk,
            ent + 8,
            put_u16(0),
        );
        b.meta(
            &format!("{tag}-reclen-odd"),
            MustFail,
            "first entry rec_len not a multiple of 8",
            blk,
            ent + 8,
            put_u16(21),
        );
        b.meta(
            &format!("{tag}-reclen-past"),
            MustFail,
            "first entry rec_len past the block end",
            blk,
            ent + 8,
            put_u16(bs as u16 & 0xfff8),
        );
        b.meta(
            &format!("{tag}-namelen0"),
            MustFail,
            "first entry name_len 0",
            blk,
            ent + 10,
            vec![0],
        );
        b.meta(
            &format!("{tag}-namelen-big"),
            MustFail,
            "first entry name_len past its record",
            blk,
            ent + 10,
            vec![255],
        );
        b.meta(
            &format!("{tag}-ino-range"),
            MustFail,
            "entry inode past the table",
            blk,
            ent,
            put_u64(sb.total_inodes + 100),
        );
        b.meta(
            &format!("{tag}-ino-reserved"),
            MustFail,
            "entry names reserved inode 3",
            blk,
            ent,
            put_u64(3),
        );
        b.meta(
            &format!("{tag}-ino-root"),
            MustFail,
            "entry names the root",
            blk,
            ent,
            put_u64(ROOT_INO),
        );
        b.meta(
            &format!("{tag}-ino-free"),
            MustFail,
            "entry names a free inode",
            blk,
            ent,
            put_u64(sb.total_inodes - 1),
        );
        b.meta(
            &format!("{tag}-ftype"),
            MayPass,
            "entry file type mismatch",
            blk,
            ent + 11,
            vec![FT_SOCK],
        );
        b.meta(
            &format!("{tag}-ftype-bad"),
            MustFail,
            "entry file type 3 (undefined)",
            blk,
            ent + 11,
            vec![3],
        );
        b.meta(
            &format!("{tag}-slash"),
            MustFail,
            "entry name containing '/'",
            blk,
            ent + 12,
            vec![b'/'],
        );
        b.meta(
            &format!("{tag}-nul"),
            MustFail,
            "entry name containing NUL",
            blk,
            ent + 12,
            vec![0],
        );
        b.meta(
            &format!("{tag}-dot"),
            MustFail,
            "entry named '.'",
            blk,
            ent + 10,
            vec![1, 0, b'.'],
        );
    }
    // Directory hash index root.
    if let Some(&(owner, blk)) = info.index_nodes.first() {
        let o = blk * bs;
        b.add(
            "index-magic",
            MustFail,
            "hash index magic",
            vec![Edit::Xor(o, 0xff)],
            vec![],
        );
        b.add(
            "index-crc",
            MustFail,
            "hash index checksum",
            vec![Edit::Xor(o + 4, 1)],
            vec![],
        );
        b.meta(
            "index-owner",
            MustFail,
            "hash index: wrong owner",
            blk,
            16,
            put_u64(owner + 1),
        );
        b.meta(
            "index-kind",
            MustFail,
            "hash index node of the extent kind",
            blk,
            0x18,
            vec![1],
        );
        b.meta(
            "index-nr",
            MustFail,
            "hash index: nr above max",
            blk,
            0x1A,
            put_u16(0xffff),
        );
        b.meta(
            "index-key",
            MayPass,
            "hash index: first key changed",
            blk,
            32,
            put_u64(0x7fff_ffff_0000_0003),
        );
    }
    xattr_targeted(&mut b);
    b.out
}

/// The targeted mutations of extended attributes: the inode's pointer to its
/// chain, the header and first entry of an xattr block that has a next one
/// (the first of `/manyxattrs`), the external value of `/bigxattr` and its
/// value blocks, and the ACLs of `/acl-dir/`. The kernel checks every block
/// of the chain on listxattr (and on getxattr up to the name's block), a
/// value chain on the getxattr of its name, an ACL when it decodes it (a
/// version other than 2 gives EOPNOTSUPP, an unknown tag EUCLEAN); the walk
/// makes all of these reads for every object. Only a `blocks` count one
/// short is left to fsck (may-pass).
///
/// Not generated: damage that only fsck's cross-checks can see, because the
/// kernel would read another plausible set of attributes without an error,
/// which the walk's rule 2 forbids: a chain cut short (`next` or the inode's
/// `xattr` set to 0), a renamed entry or a name given twice (the kernel does
/// not search for duplicates), an ACL entry's permissions or order changed.
fn xattr_targeted(b: &mut Builder) {
    use Expect::*;
    let info = b.info;
    let sb = info.sb.unwrap();
    let l = sb.layout;
    let bs = info.bs;
    let blocks_of = |ino: u64| -> Vec<&XattrBlock> {
        info.xattr_blocks
            .iter()
            .filter(|x| x.owner == ino)
            .collect()
    };
    let xi = info.ino_of("/xattrs").map(blocks_of).unwrap_or_default();
    let chain_ino = info.ino_of("/manyxattrs");
    let chain = chain_ino.map(blocks_of).unwrap_or_default();
    // The inode's xattr field.
    if let (Some(ino), Some(other)) = (chain_ino, xi.first()) {
        let inode = &info.inodes.iter().find(|i| i.0 == ino).unwrap().1;
        b.inode(
            "xchain",
            ino,
            "xattr-meta",
            MustFail,
            "extended attribute block in the inode table",
            0x78,
            put_u64(l.inode_table_start),
        );
        b.inode(
            "xchain",
            ino,
            "xattr-other",
            MustFail,
            "first xattr block of another inode's chain",
            0x78,
            put_u64(other.block),
        );
        if let Some(&(_, data)) = info.dir_blocks.iter().find(|d| d.0 == ROOT_INO) {
            b.inode(
                "xchain",
                ino,
                "xattr-data",
                MustFail,
                "first xattr block is a directory block",
                0x78,
                put_u64(data),
            );
        }
        b.inode(
            "xchain",
            ino,
            "blocks",
            MayPass,
            "blocks not counting an xattr block",
            0x20,
            put_u64(inode.blocks - 1),
        );
    }
    // Xattr block header and first entry: the first block of a chain of two or more.
    if let (Some(x), Some(other)) = (chain.iter().find(|x| x.next != 0), xi.first()) {
        let (blk, o) = (x.block, x.block * bs);
        let end = XATTR_HDR_SIZE as u64 + x.used as u64;
        let ent = &x.entries[0];
        b.add(
            "xattr-magic",
            MustFail,
            "xattr block magic",
            vec![Edit::Xor(o, 0xff)],
            vec![],
        );
        b.add(
            "xattr-crc",
            MustFail,
            "xattr block checksum",
            vec![Edit::Xor(o + 4, 1)],
            vec![],
        );
        b.add(
            "xattr-bitflip",
            MustFail,
            "xattr name bit flip, checksum not updated",
            vec![Edit::Xor(o + ent.off + XATTR_ENTRY_FIXED as u64, 1)],
            vec![],
        );
        let hdr: [(&str, &str, u64, Vec<u8>); 11] = [
            ("blockno", "wrong block number", 8, put_u64(blk + 1)),
            ("owner", "wrong owner", 16, put_u64(x.owner + 1)),
            (
                "next-outside",
                "next block past the end of the device",
                0x18,
                put_u64(1 << 47),
            ),
            (
                "next-meta",
                "next block in the block bitmap",
                0x18,
                put_u64(l.block_bitmap_start),
            ),
            (
                "next-self",
                "next block is itself (a loop)",
                0x18,
                put_u64(blk),
            ),
            (
                "next-other",
                "next block is another inode's xattr block",
                0x18,
                put_u64(other.block),
            ),
            (
                "used-big",
                "entries past the end of the block",
                0x20,
                put_u32(bs as u32 - XATTR_HDR_SIZE as u32 + 8),
            ),
            (
                "used-short",
                "used one byte short of the last entry",
                0x20,
                put_u32(x.used - 1),
            ),
            ("used0", "used 0 with entries", 0x20, put_u32(0)),
            (
                "count",
                "count one above the entries",
                0x24,
                put_u32(x.entries.len() as u32 + 1),
            ),
            ("tail", "non-zero byte after the entries", end, vec![0x5a]),
        ];
        for (name, what, off, val) in hdr {
            b.meta(
                &format!("xattr-{name}"),
                MustFail,
                &format!("xattr block: {what}"),
                blk,
                off,
                val,
            );
        }
        let e = ent.off;
        let ents: [(&str, &str, u64, Vec<u8>); 9] = [
            ("index0", "namespace index 0", e, vec![0]),
            ("index-bad", "namespace index 9 (undefined)", e, vec![9]),
            (
                "index-acl",
                "ACL namespace index with a name",
                e,
                vec![XATTR_INDEX_ACL_ACCESS],
            ),
            (
                "namelen0",
                "user attribute with an empty name",
                e + 1,
                vec![0],
            ),
            (
                "namelen-big",
                "name_len 255 (past the entries, over XATTR_NAME_MAX)",
                e + 1,
                vec![255],
            ),
            ("flags", "unknown entry flag", e + 2, put_u16(0x100)),
            (
                "valuelen-past",
                "inline value past the entries",
                e + 4,
                put_u32(ent.value_len + x.used),
            ),
            (
                "valuelen-max",
                "value_len above 64 KiB",
                e + 4,
                put_u32(XATTR_VALUE_MAX as u32 + 1),
            ),
            (
                "name-nul",
                "NUL in the name",
                e + XATTR_ENTRY_FIXED as u64,
                vec![0],
            ),
        ];
        for (name, what, off, val) in ents {
            b.meta(
                &format!("xattr-ent-{name}"),
                MustFail,
                &format!("xattr block, first entry: {what}"),
                blk,
                off,
                val,
            );
        }
    }
    // The external value of /bigxattr: the entry's pointer and length, its value blocks.
    let big = info.ino_of("/bigxattr");
    let bigx = big.map(blocks_of).unwrap_or_default();
    let ext = bigx.iter().find_map(|x| {
        x.entries
            .iter()
            .find(|e| e.external.is_some())
            .map(|e| (x, e))
    });
    if let (Some((x, ent)), Some(other)) = (ext, chain.first()) {
        let (blk, p) = (x.block, ent.value_off());
        let ents: [(&str, &str, u64, Vec<u8>); 8] = [
            (
                "outside",
                "first value block past the end of the device",
                p,
                put_u64(1 << 47),
            ),
            (
                "meta",
                "first value block in the inode table",
                p,
                put_u64(l.inode_table_start),
            ),
            ("zero", "first value block 0", p, put_u64(0)),
            (
                "xblock",
                "first value block is another inode's xattr block",
                p,
                put_u64(other.block),
            ),
            (
                "len-short",
                "value_len one byte short of its blocks",
                ent.off + 4,
                put_u32(ent.value_len - 1),
            ),
            (
                "len-long",
                "value_len one byte past its blocks",
                ent.off + 4,
                put_u32(ent.value_len + 1),
            ),
            (
                "len0",
                "external value of length 0",
                ent.off + 4,
                put_u32(0),
            ),
            (
                "inline",
                "external value marked inline",
                ent.off + 2,
                put_u16(0),
            ),
        ];
        for (name, what, off, val) in ents {
            b.meta(
                &format!("xattr-ext-{name}"),
                MustFail,
                &format!("xattr entry of a value in value blocks: {what}"),
                blk,
                off,
                val,
            );
        }
    }
    let vblocks: Vec<&XvalueBlock> = info
        .xvalue_blocks
        .iter()
        .filter(|v| Some(v.owner) == big)
        .collect();
    if let (Some(v), Some(last)) = (vblocks.first(), vblocks.last()) {
        let (blk, o) = (v.block, v.block * bs);
        let cap = xvalue_capacity(bs as usize) as u32;
        b.add(
            "xvalue-magic",
            MustFail,
            "value block magic",
            vec![Edit::Xor(o, 0xff)],
            vec![],
        );
        b.add(
            "xvalue-crc",
            MustFail,
            "value block checksum",
            vec![Edit::Xor(o + 4, 1)],
            vec![],
        );
        b.add(
            "xvalue-bitflip",
            MustFail,
            "value byte bit flip, checksum not updated",
            vec![Edit::Xor(o + XATTR_HDR_SIZE as u64 + 10, 4)],
            vec![],
        );
        let hdr: [(&str, &str, u64, u64, Vec<u8>); 11] = [
            ("blockno", "wrong block number", blk, 8, put_u64(blk + 1)),
            ("owner", "wrong owner", blk, 16, put_u64(v.owner + 1)),
            (
                "next-self",
                "next block is itself (a loop)",
                blk,
                0x18,
                put_u64(blk),
            ),
            (
                "next-zero",
                "chain ends before the value does",
                blk,
                0x18,
                put_u64(0),
            ),
            (
                "next-outside",
                "next block past the end of the device",
                blk,
                0x18,
                put_u64(1 << 47),
            ),
            ("len0", "length 0", blk, 0x20, put_u32(0)),
            (
                "len-big",
                "length past the end of the block",
                blk,
                0x20,
                put_u32(cap + 1),
            ),
            (
                "len-short",
                "a block before the last one not full",
                blk,
                0x20,
                put_u32(cap - 1),
            ),
            ("reserved", "reserved field set", blk, 0x24, put_u32(1)),
            (
                "last-tail",
                "last block: non-zero byte after the value",
                last.block,
                XATTR_HDR_SIZE as u64 + last.len as u64,
                vec![0x5a],
            ),
            (
                "last-next-first",
                "last block: next is the first one (a loop)",
                last.block,
                0x18,
                put_u64(blk),
            ),
        ];
        for (name, what, at, off, val) in hdr {
            b.meta(
                &format!("xvalue-{name}"),
                MustFail,
                &format!("value block: {what}"),
                at,
                off,
                val,
            );
        }
    }
    // The ACLs of /acl-dir/: version 2, then 8-byte entries (tag, perm, id).
    let acl = info.ino_of("/acl-dir/").map(blocks_of).unwrap_or_default();
    for x in acl {
        for ent in &x.entries {
            let (tag, kind) = match ent.index {
                XATTR_INDEX_ACL_ACCESS => ("acl", "access"),
                XATTR_INDEX_ACL_DEFAULT => ("acl-default", "default"),
                _ => continue,
            };
            let v = ent.value_off();
            b.meta(
                &format!("{tag}-version"),
                MustFail,
                &format!("{kind} ACL of version 3"),
                x.block,
                v,
                put_u32(3),
            );
            b.meta(
                &format!("{tag}-tag"),
                MustFail,
                &format!("{kind} ACL: second entry of an unknown tag"),
                x.block,
                v + 4 + 8,
                put_u16(0x40),
            );
        }
    }
}

/// `n` random mutations: 1 to 8 random bytes of metadata flipped, the
/// checksums of the touched structures recomputed in every other one.
pub fn random(info: &Info, seed: u64, n: usize) -> Vec<Mutation> {
    let sb = info.sb.unwrap();
    let l = sb.layout;
    let bs = info.bs;
    let mut blocks: Vec<(u64, &str)> = vec![
        (l.block_bitmap_start, "bitmap"),
        (l.inode_bitmap_start, "bitmap"),
    ];
    for &(ino, _, _) in &info.inodes {
        let (blk, _) = sb.inode_location(ino).unwrap();
        if !blocks.contains(&(blk, "inode")) {
            blocks.push((blk, "inode"));
        }
    }
    blocks.extend(info.ext_nodes.iter().map(|x| (x.1, "meta")));
    blocks.extend(info.dir_blocks.iter().map(|x| (x.1, "meta")));
    blocks.extend(info.index_nodes.iter().map(|x| (x.1, "meta")));
    blocks.extend(info.xattr_blocks.iter().map(|x| (x.block, "meta")));
    blocks.extend(info.xvalue_blocks.iter().map(|x| (x.block, "meta")));
    let mut out = Vec::new();
    for k in 0..n {
        let mut r = Rng::new(seed ^ (k as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let seal = k % 2 == 0;
        let flips = r.range(1, 8);
        let mut edits = Vec::new();
        let mut seals = Vec::new();
        let mut where_ = Vec::new();
        for _ in 0..flips {
            // One flip in six hits the superblock.
            let (off, s) = if r.chance(1, 6) {
                let o = r.below(0x100);
                (o, Seal::Sb)
            } else {
                let (blk, kind) = blocks[r.below(blocks.len() as u64) as usize];
                let o = r.below(bs);
                let s = if kind == "inode" {
                    let slot = o / INODE_SIZE as u64;
                    let ino = (blk - l.inode_table_start) * (bs / INODE_SIZE as u64) + slot + 1;
                    Seal::Inode(ino)
                } else {
                    Seal::Meta(blk)
                };
                (blk * bs + o, s)
            };
            let mask = 1u8 << r.below(8)
                | if r.chance(1, 4) {
                    r.next_u64() as u8
                } else {
                    0
                };
            edits.push(Edit::Xor(off, mask.max(1)));
            where_.push(format!("{off:#x}"));
            if seal {
                seals.push(s);
            }
        }
        // Inode seals need an in-use slot: drop seals of free ones.
        seals.retain(|s| match s {
            Seal::Inode(ino) => info.inodes.iter().any(|i| i.0 == *ino),
            _ => true,
        });
        out.push(Mutation {
            name: format!("random-{seed}-{k}"),
            expect: Expect::MayPass,
            what: format!(
                "{flips} random byte flip(s) at {}{}",
                where_.join(","),
                if seal { ", checksums recomputed" } else { "" }
            ),
            edits,
            seals,
        });
    }
    out
}

/// Looks mutations up by name without running fsck on them.
pub fn find(
    base: &[u8],
    seed: u64,
    nrandom: usize,
    names: &[String],
) -> Res<(Info, Vec<Mutation>)> {
    let info = analyze(base)?;
    let all: Vec<Mutation> = targeted(&info)
        .into_iter()
        .chain(random(&info, seed, nrandom))
        .collect();
    let mut out = Vec::new();
    for n in names {
        out.push(
            all.iter()
                .find(|m| &m.name == n)
                .cloned()
                .ok_or(format!("no mutation named {n}"))?,
        );
    }
    Ok((info, out))
}

/// What fsck -n says of an image: (exit code, first problem line).
pub fn fsck_verdict(img: &[u8]) -> (i32, String) {
    let r = fsck(
        Box::new(MemDev::from_bytes(img)),
        &FsckOptions {
            repair: false,
            verbose: false,
            ..Default::default()
        },
    );
    let first = r
        .lines
        .iter()
        .find(|l| !l.trim().is_empty())
        .cloned()
        .unwrap_or_default();
    (r.exit_code, first)
}

/// Whether `fsck -y` brings an image to a state `fsck -n` finds clean.
pub fn fsck_repairs(img: &[u8]) -> bool {
    let dev = MemDev::from_bytes(img);
    let opts = |repair| FsckOptions {
        repair,
        verbose: false,
        ..Default::default()
    };
    fsck(Box::new(dev.clone()), &opts(true));
    fsck(Box::new(MemDev::from_bytes(&dev.to_bytes())), &opts(false)).exit_code == 0
}

/// All mutations of an image, with the `fsck -n` exit code of each mutated
/// image. The expectations are the ones `targeted` gives; `must_fail_list`
/// replaces them by the repository's fixed list.
pub fn all(base: &[u8], seed: u64, nrandom: usize) -> Res<(Info, Vec<(Mutation, i32)>)> {
    let info = analyze(base)?;
    let mut out = Vec::new();
    for m in targeted(&info)
        .into_iter()
        .chain(random(&info, seed, nrandom))
    {
        let (code, _) = fsck_verdict(&apply(base, &info, &m));
        out.push((m, code));
    }
    Ok((info, out))
}

/// The names of a must-fail list (tests/corrupt/must-fail): one per line,
/// '#' starts a comment.
pub fn parse_must_fail(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// Sets every expectation from the fixed list: must-fail exactly for the
/// names listed. A listed name that is not a mutation of this image (a
/// renamed or lost mutation) is an error: the list must never shrink
/// silently.
pub fn apply_must_fail(muts: &mut [(Mutation, i32)], list: &[String]) -> Res<()> {
    let missing: Vec<&String> = list
        .iter()
        .filter(|n| !muts.iter().any(|m| &m.0.name == *n))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "must-fail mutations not generated for this image: {}",
            missing
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }
    for (m, _) in muts.iter_mut() {
        m.expect = if list.contains(&m.name) {
            Expect::MustFail
        } else {
            Expect::MayPass
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_images_are_clean_and_analysed() {
        for log2 in [10, 12] {
            let base = build_base(log2, 8 << 20).unwrap();
            let info = analyze(&base).unwrap();
            assert!(info.inodes.len() > 20, "{}", info.inodes.len());
            assert!(!info.ext_nodes.is_empty(), "no block extent node");
            assert!(!info.index_nodes.is_empty(), "no hash index");
            assert!(info.dir_blocks.len() > 3);
            assert!(info.xattr_blocks.len() >= 5, "{:?}", info.xattr_blocks);
            assert!(!info.xvalue_blocks.is_empty(), "no value block");
        }
    }

    #[test]
    fn mutations_change_the_image_and_most_are_detected() {
        let base = build_base(12, 8 << 20).unwrap();
        let (info, all) = all(&base, 1, 20).unwrap();
        let names: std::collections::BTreeSet<_> = all.iter().map(|m| m.0.name.clone()).collect();
        assert_eq!(names.len(), all.len(), "duplicate names");
        let mut must = 0;
        for (m, code) in &all {
            let img = apply(&base, &info, m);
            assert!(img != base, "{} changes nothing", m.name);
            if m.expect == Expect::MustFail {
                assert_ne!(*code, 0, "{}", m.name);
                must += 1;
            }
        }
        assert!(must > 80, "only {must} must-fail mutations");
        // Checksum-only damage is always detected by fsck.
        for n in [
            "sb-crc",
            "inode-root-crc",
            "extnode-crc",
            "rootdir-crc",
            "index-crc",
        ] {
            let (m, code) = all.iter().find(|m| m.0.name == n).unwrap();
            assert_eq!(m.expect, Expect::MustFail, "{n}");
            assert_eq!(*code, 4, "{n}");
        }
    }

    /// The repository's fixed list is exactly the set of targeted must-fail
    /// mutations, for both block sizes; fsck -n flags every one of them.
    #[test]
    fn the_must_fail_list_is_the_targeted_must_fail_set_and_fsck_flags_it() {
        let list = parse_must_fail(include_str!("../../../tests/corrupt/must-fail"));
        let set: std::collections::BTreeSet<&String> = list.iter().collect();
        assert_eq!(set.len(), list.len(), "duplicate names in the list");
        for log2 in [10, 12] {
            let base = build_base(log2, 8 << 20).unwrap();
            let (_, mut all) = all(&base, 1, 4).unwrap();
            let coded: Vec<&String> = all
                .iter()
                .filter(|m| m.0.expect == Expect::MustFail)
                .map(|m| &m.0.name)
                .collect();
            let extra: Vec<&&String> = coded.iter().filter(|n| !set.contains(**n)).collect();
            assert!(
                extra.is_empty(),
                "must-fail in corrupt.rs, not in the list: {extra:?}"
            );
            // And the other way round: a listed name corrupt.rs does not
            // mark must-fail (a downgrade in the code, or a stale list).
            let unmarked: Vec<&String> = list.iter().filter(|n| !coded.contains(n)).collect();
            assert!(
                unmarked.is_empty(),
                "in the list, not must-fail in corrupt.rs ({log2}): {unmarked:?}"
            );
            apply_must_fail(&mut all, &list).unwrap();
            let missed: Vec<&String> = all
                .iter()
                .filter(|m| m.0.expect == Expect::MustFail && m.1 == 0)
                .map(|m| &m.0.name)
                .collect();
            assert!(missed.is_empty(), "fsck -n accepts {missed:?} ({log2})");
            // A name the image does not have fails.
            let mut bad = list.clone();
            bad.push("inode-file-no-such-mutation".into());
            let e = apply_must_fail(&mut all, &bad).unwrap_err();
            assert!(e.contains("inode-file-no-such-mutation"), "{e}");
        }
        assert_eq!(
            parse_must_fail("# comment\n a # b\n\nc\n"),
            vec!["a".to_string(), "c".to_string()]
        );
    }

    /// The attributes of the base image's objects, read by the library: full
    /// name and value of each.
    fn attrs_of(img: &[u8], ino: u64) -> rextfs_tools::Result<Vec<(String, Vec<u8>)>> {
        let mut fs = Fs::open(Box::new(MemDev::from_bytes(img)))?;
        let inode = fs.read_inode(ino)?;
        Ok(fs
            .xattr_chain(ino, &inode)?
            .attrs
            .iter()
            .map(|a| (a.full_name(), a.value.clone()))
            .collect())
    }

    #[test]
    fn the_base_has_attributes_in_every_form() {
        for log2 in [10, 12] {
            let bs = 1usize << log2;
            let base = build_base(log2, 8 << 20).unwrap();
            let info = analyze(&base).unwrap();
            let ino = |p: &str| info.ino_of(p).unwrap();
            let nblocks = |o: u64| info.xattr_blocks.iter().filter(|x| x.owner == o).count();
            assert_eq!(nblocks(ino("/xattrs")), 1);
            assert_eq!(nblocks(ino("/bigxattr")), 1);
            assert_eq!(nblocks(ino("/manyxattrs")), 2, "a chain of two blocks");
            assert_eq!(nblocks(ino("/acl-dir/")), 1);
            assert_eq!(
                info.xvalue_blocks.len(),
                BASE_BIG_XATTR_LEN.div_ceil(xvalue_capacity(bs))
            );
            assert!(info
                .xvalue_blocks
                .iter()
                .all(|v| v.owner == ino("/bigxattr")));
            let a = attrs_of(&base, ino("/xattrs")).unwrap();
            let names: Vec<&str> = a.iter().map(|x| x.0.as_str()).collect();
            assert_eq!(
                names,
                [
                    "user.color",
                    "user.empty",
                    "trusted.rextfs",
                    "security.rextfs"
                ]
            );
            let a = attrs_of(&base, ino("/bigxattr")).unwrap();
            assert_eq!(a[0].1.len(), BASE_BIG_XATTR_LEN);
            let a = attrs_of(&base, ino("/manyxattrs")).unwrap();
            assert_eq!(a.len(), BASE_CHAIN_XATTRS);
            assert!(a.iter().all(|x| x.1.len() == xattr_inline_max(bs)));
            let (access, default) = base_acls();
            assert_eq!(
                attrs_of(&base, ino("/acl-dir/")).unwrap(),
                [
                    ("system.posix_acl_access".into(), acl_encode(&access)),
                    ("system.posix_acl_default".into(), acl_encode(&default)),
                ]
            );
            let mode = info
                .inodes
                .iter()
                .find(|i| i.2 == "/acl-dir/")
                .unwrap()
                .1
                .mode;
            assert_eq!(mode & 0o7777, 0o750, "the mode's group bits are the mask");
        }
    }

    /// Each mutation of the attributes changes its own object's blocks (or
    /// inode) only, and a must-fail one makes the library's reading of that
    /// object's attributes fail (an ACL: its value no longer parses), while
    /// the other objects' attributes read back as in the base.
    #[test]
    fn xattr_mutations_damage_their_object_and_only_it() {
        use crate::corrupt_check::Blast;
        use rextfs_tools::acl::acl_parse;
        for log2 in [10, 12] {
            let base = build_base(log2, 8 << 20).unwrap();
            let info = analyze(&base).unwrap();
            let ino = |p: &str| info.ino_of(p).unwrap();
            let objects = [
                ino("/xattrs"),
                ino("/bigxattr"),
                ino("/manyxattrs"),
                ino("/acl-dir/"),
            ];
            let before: Vec<_> = objects
                .iter()
                .map(|&o| attrs_of(&base, o).unwrap())
                .collect();
            let muts: Vec<Mutation> = targeted(&info)
                .into_iter()
                .filter(|m| {
                    ["xattr-", "xvalue-", "acl-", "inode-xchain-"]
                        .iter()
                        .any(|p| m.name.starts_with(p))
                })
                .collect();
            assert_eq!(muts.len(), 53, "{log2}");
            for n in [
                "xattr-next-self",
                "xattr-ent-flags",
                "xattr-ext-outside",
                "xvalue-next-self",
                "xvalue-len0",
                "acl-version",
                "acl-default-version",
            ] {
                assert!(muts.iter().any(|m| m.name == n), "{n} ({log2})");
            }
            for m in &muts {
                let owner = if m.name.starts_with("acl-") {
                    ino("/acl-dir/")
                } else if m.name.starts_with("xattr-ext-") || m.name.starts_with("xvalue-") {
                    ino("/bigxattr")
                } else {
                    ino("/manyxattrs")
                };
                let blast = Blast::of(&info, m);
                assert!(!blast.global, "{}", m.name);
                assert_eq!(
                    blast.inodes.iter().copied().collect::<Vec<_>>(),
                    [owner],
                    "{}",
                    m.name
                );
                let img = apply(&base, &info, m);
                assert!(img != base, "{} changes nothing", m.name);
                for (k, &o) in objects.iter().enumerate() {
                    let got = attrs_of(&img, o);
                    if o != owner {
                        assert_eq!(got.unwrap(), before[k], "{}: another object", m.name);
                    } else if m.expect == Expect::MayPass {
                        assert_eq!(got.unwrap(), before[k], "{}", m.name);
                    } else if m.name.starts_with("acl-") {
                        let got = got.unwrap();
                        assert_eq!(got.len(), 2, "{}", m.name);
                        assert!(got.iter().any(|(_, v)| acl_parse(v).is_err()), "{}", m.name);
                    } else {
                        assert!(got.is_err(), "{}: the library reads {got:?}", m.name);
                    }
                }
            }
        }
    }

    #[test]
    fn random_mutations_are_reproducible() {
        let base = build_base(10, 2 << 20).unwrap();
        let info = analyze(&base).unwrap();
        let a = random(&info, 5, 10);
        let b = random(&info, 5, 10);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(apply(&base, &info, x), apply(&base, &info, y));
        }
    }
}
