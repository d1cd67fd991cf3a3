# SPDX-License-Identifier: GPL-2.0
# A sample of scripts/corrupt-test: corrupted rextfs images (mutations of the
# super block, journal, root inode and directory, file inodes, extent nodes,
# directory blocks, hash index, an xattr block and a bitmap, and a random one
# a base; value blocks, ACLs and the other mutations of each kind only in
# scripts/corrupt-test) must be
# refused at mount or give errors on the damaged objects when walked and
# written, never read back garbage, never change or fail an undamaged file
# (read again after the writes, from a new read-only mount), never call a
# failed mount that is not EUCLEAN/EINVAL or explained by rextfs a refusal,
# never leave fsck with more than it can explain, never oops, BUG, WARN or
# hang; both base images (library- and kernel-made) must pass the control
# first. The whole set runs with scripts/corrupt-test.
#
# bbm-clear-used (a bitmap bit of a block in use cleared, counters left as
# they were) is not in the sample: the kernel allocates that block to the
# write probe and another file's data changes under it (Documentation/rextfs/
# testing.rst, "Corrupted images"); scripts/corrupt-test reports it until the
# allocator cross-checks the bitmaps. bbm-crc keeps a bitmap in the sample.
#
# The sample is a list of exact names: corrupt-run.sh fails on a name that is
# not generated for a base, so a renamed mutation fails this test instead of
# silently shrinking the sample.
# Expects rextfs errors: the kernel reports the corruption it finds.
. "$REPO/tests/vm/lib.sh"
# The kernel-made base (populated through the kernel) takes the mutations of
# what the kernel lays out itself: file inodes, extent trees, directory blocks
# below the root, the hash index, an xattr block, a bitmap. The library's base
# takes those of what mkfs lays out (the super block, the journal, the root
# inode and directory), two inode mutations (a file made a directory, an inode
# in another's slot) and a directory entry naming an inode out of range. Each
# named mutation runs on one base, and each base takes a random one, to keep
# make test within its 20 minutes; scripts/corrupt-test runs every mutation on
# both bases.
sample=(
	sb-magic sb-crc sb-total-blocks-big sb-itable-start journal-crc
	inode-root-crc inode-root-ext-phys-end inode-file-to-dir inode-wrong-slot
	rootdir-reclen0 dirblk-ino-range
	random-70-0
)
ksample=(
	inode-file-ext-len0 inode-frag-root-nr extnode-crc extnode-order
	dirblk-reclen-past index-crc xattr-crc bbm-crc random-70-0
)
"$REPO/tests/corrupt/corrupt-run.sh" --block-sizes 4096 --random 2 --seed 70 --names "${sample[*]}" \
	--knames "${ksample[*]}" || fail "corrupted images"
