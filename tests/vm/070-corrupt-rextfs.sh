# SPDX-License-Identifier: GPL-2.0
# A sample of scripts/corrupt-test: corrupted rextfs images (a checksum and a
# semantic mutation of every kind of structure, a few random ones) must be
# refused at mount or give errors when walked and written, never an oops,
# BUG, WARN or hang. The whole set runs with scripts/corrupt-test.
. "$REPO/tests/vm/lib.sh"
sample='^(sb-magic|sb-crc|sb-total-blocks-big|sb-itable-start|inode-root-(crc|ext-phys-end)'
sample+='|inode-file-(ext-len0|to-dir)|inode-frag-root-nr|inode-wrong-slot|extnode-(crc|order)'
sample+='|rootdir-reclen0|dirblk-(reclen-past|ino-range)|index-crc|bbm-clear-used|random-70-[01])$'
"$REPO/tests/corrupt/corrupt-run.sh" --block-sizes 4096 --random 2 --seed 70 --only "$sample" ||
	fail "corrupted images"
