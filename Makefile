# SPDX-License-Identifier: GPL-2.0
#
# rextfs: the user's entry point. The kernel tree, the toolchain pieces and the
# build output live in $(REXTFS_CACHE) (default ~/.cache/rextfs), outside the
# clone. FLAVOUR=debug selects the KASAN/lockdep/DEBUG_VM kernel.
#
#   make run      install what is missing, build (the kernel and rextfs.ko,
#                 no other module), boot the VM and show rextfs
#   make test     the whole test suite; ends with "N passed, N failed"
#   make kunit    only the KUnit suites, in the VM
#   make kernel   build (or incrementally rebuild) the kernel, rextfs.ko and the
#                 other modules
#   make module   rebuild only fs/rextfs/rextfs.ko
#   make tools    build mkfs.rextfs, fsck.rextfs, rextfs-dump (target/release)
#   make install-tools   install them and their manual pages
#                 (PREFIX=/usr/local, DESTDIR= for staging)
#   make vm CMD='...'   run a command in the VM (rextfs.ko loaded, 2 scratch disks)
#   make clippy   rebuild the Rust parts with CLIPPY=1
#   make rust-analyzer   write rust-project.json (kernel with fs/, iomap, rextfs)
#   make patches  the overlay as a patch series against Linux 7.3 in patches/
#   make patches-check   git am it onto Debian's 7.3 source, checkpatch --strict
#                 every patch, build every step (after make kernel)
#   make deps     only install and fetch the dependencies

.PHONY: all deps kernel module tools install-tools run test kunit vm clippy fmt rust-analyzer \
	patches patches-check

all: kernel tools

deps:
	scripts/deps

kernel:
	scripts/build kernel

module:
	scripts/build module

tools:
	@if [ -f Cargo.toml ]; then cargo build --release; fi

PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man

install-tools: tools
	install -d "$(DESTDIR)$(SBINDIR)" "$(DESTDIR)$(MANDIR)/man8"
	install -m 755 target/release/mkfs-rextfs "$(DESTDIR)$(SBINDIR)/mkfs.rextfs"
	install -m 755 target/release/fsck-rextfs "$(DESTDIR)$(SBINDIR)/fsck.rextfs"
	install -m 755 target/release/rextfs-dump "$(DESTDIR)$(SBINDIR)/rextfs-dump"
	install -m 644 Documentation/man/mkfs.rextfs.8 Documentation/man/fsck.rextfs.8 \
		Documentation/man/rextfs-dump.8 "$(DESTDIR)$(MANDIR)/man8/"

run:
	scripts/build run
	$(MAKE) tools
	scripts/demo

test:
	scripts/test

kunit:
	scripts/test --kunit-only

vm: kernel tools
	scripts/vm --disks 2 --load-module ext4 --load-module xfs --load-module dm-flakey \
		--load-module dm-log-writes -- bash -c '$(CMD)'

clippy:
	scripts/build clippy

rust-analyzer:
	scripts/rust-analyzer

patches:
	scripts/series export

patches-check: patches
	scripts/series check

fmt:
	rustfmt --edition 2021 --check $$(git ls-files '*.rs')

# Test and benchmark suites (Documentation/rextfs/testing.rst).
#   make bench                      fio on rextfs, ext4, xfs and raw; table + PNG
#                                   BENCH_REPS=N runs of each job (default 3): median, min-max;
#                                   then the scale jobs, once: BENCH_SCALE_FILES files (1000000,
#                                   0 skips) in BENCH_SCALE_DIRS directories (1000), and aging on
#                                   a BENCH_AGING_GB GiB file system (4, 0 skips);
#                                   BENCH_SCALE=only runs only these, BENCH_SCALE=0 none of them
#   make xfstests XFSTESTS_SRC=...  xfstests (default -g quick; XFSTESTS_ARGS='-g auto'):
#                                   a copy of the source checkout, with the patches of
#                                   tests/xfstests/patches, built in ~/.cache/rextfs;
#                                   XFSTESTS_DIR=... instead takes a built checkout
#                                   XFSTESTS_SHARD=K/N: the K-th of N slices of the group
#   make soak VERIFY_OPS=200000     the random-operation verifier, long
.PHONY: bench xfstests soak
VERIFY_OPS ?= 20000
SOAK_TIMEOUT ?= 86400

BENCH_REPS ?= 3
BENCH_SCALE ?= 1
BENCH_SCALE_FILES ?= 1000000
BENCH_SCALE_DIRS ?= 1000
BENCH_AGING_GB ?= 4

bench: tools
	BENCH_REPS="$(BENCH_REPS)" BENCH_SCALE="$(BENCH_SCALE)" BENCH_SCALE_FILES="$(BENCH_SCALE_FILES)" \
		BENCH_SCALE_DIRS="$(BENCH_SCALE_DIRS)" BENCH_AGING_GB="$(BENCH_AGING_GB)" scripts/bench

xfstests: kernel tools
	XFSTESTS_SRC="$(XFSTESTS_SRC)" XFSTESTS_DIR="$(XFSTESTS_DIR)" scripts/xfstests $(XFSTESTS_ARGS)

soak: kernel tools
	scripts/vm --disks 2 --timeout $(SOAK_TIMEOUT) --load-module ext4 -- \
		env VERIFY_OPS=$(VERIFY_OPS) tests/verify/soak.sh
