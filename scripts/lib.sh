# SPDX-License-Identifier: GPL-2.0
#
# Common settings for the rextfs scripts. Sourced, not run.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${REXTFS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rextfs}
# A user may bring their own Linux 7.3 tree; it gets the overlay applied in place.
if [ -n "${LINUX_SRC:-}" ]; then
	LINUX_SRC_OVERRIDE=1
else
	LINUX_SRC="$CACHE/linux-7.3"
fi
RUST_LIB_SRC=${RUST_LIB_SRC:-$CACHE/rust-src/usr/src/rustc-$(rustc --version | awk '{print $2}')/library}
FLAVOUR=${FLAVOUR:-default}
BUILD_DIR=${BUILD_DIR:-$CACHE/build-$FLAVOUR}
export PATH="$CACHE/cargo/bin:$PATH"
export LIBCLANG_PATH=${LIBCLANG_PATH:-/usr/lib/llvm-19/lib}

log() { printf '[rextfs] %s\n' "$*" >&2; }
sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
# make in the kernel tree SRC with its output in OUT, with the project's
# toolchain (LLVM 19, the rust-src and bindgen of the cache).
kbuild() { # kbuild SRC OUT MAKE-ARGS...
	local src=$1 out=$2
	shift 2
	make -C "$src" O="$out" LLVM=-19 RUST_LIB_SRC="$RUST_LIB_SRC" \
		BINDGEN="$CACHE/cargo/bin/bindgen" -j"${JOBS:-$(nproc)}" "$@"
}
die() { printf '[rextfs] error: %s\n' "$*" >&2; exit 1; }
