#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Checks scripts/check-dmesg itself: every kind of kernel report in the sample
# below (as the kernel prints it) must fail the check on its own, and the
# ordinary messages of a passing run (file system errors that the corruption
# tests provoke on purpose, mount messages) must not. One "ok"/"not ok" line
# per sample line.
here=$(cd "$(dirname "$0")" && pwd)
check=$here/../../scripts/check-dmesg
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
while IFS= read -r line; do
	[ -n "$line" ] || continue
	printf '[    1.000000] rextfs: mounted\n[    2.000000] %s\n' "$line" >"$tmp/log"
	if "$check" "$tmp/log" 2>/dev/null; then
		echo "not ok check-dmesg misses: $line"
	else
		echo "ok check-dmesg catches: $line"
	fi
done <<'REPORTS'
------------[ cut here ]------------
WARNING: CPU: 1 PID: 77 at fs/inode.c:417 iput+0x2b/0x40
kernel BUG at mm/filemap.c:1537!
BUG: kernel NULL pointer dereference, address: 0000000000000008
Oops: general protection fault, probably for non-canonical address 0xdead000000000100: 0000 [#1] SMP
Oops: invalid opcode: 0000 [#1] SMP
BUG: KASAN: slab-use-after-free in rextfs_evict_inode+0x1c/0x90
BUG: KFENCE: out-of-bounds read in memcpy+0x2/0x10
UBSAN: shift-out-of-bounds in fs/rextfs/extent.rs:120:9
BUG kmalloc-64 (Not tainted): Redzone overwritten
BUG rextfs_inode (Tainted: G        W ): Poison overwritten
unreferenced object 0xffff888004c3e000 (size 64):
list_add corruption. prev->next should be next (ffff888003a6e0a8), but was 0000000000000000.
refcount_t: underflow; use-after-free.
WARNING: possible circular locking dependency detected
WARNING: possible recursive locking detected
WARNING: inconsistent lock state
WARNING: suspicious RCU usage
INFO: trying to register non-static key.
turning off the locking correctness validator.
BUG: sleeping function called from invalid context at kernel/locking/mutex.c:580
BUG: scheduling while atomic: kworker/0:1/12/0x00000002
WARNING: bad unlock balance detected!
INFO: task rextfs-verify:311 blocked for more than 120 seconds.
watchdog: BUG: soft lockup - CPU#0 stuck for 26s! [fsstress:300]
rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:
BUG: workqueue lockup - pool cpus=0 node=0 flags=0x0 nice=0 stuck for 40s!
Call Trace:
Kernel panic - not syncing: Fatal exception
rust_panic: panicked at fs/rextfs/dir.rs:10:5:
Out of memory: Killed process 215 (fio) total-vm:1000kB
REPORTS
while IFS= read -r line; do
	printf '[    1.000000] %s\n' "$line" >"$tmp/log"
	if "$check" "$tmp/log" 2>/dev/null; then
		echo "ok check-dmesg accepts: $line"
	else
		echo "not ok check-dmesg refuses an ordinary message: $line"
	fi
done <<'ORDINARY'
rextfs (vdb): corrupted metadata: inode 12: bad checksum
EXT4-fs (dm-0): recovery complete
XFS (dm-0): Ending clean mount
rextfs (vda): remounting read-only after an error
ORDINARY
